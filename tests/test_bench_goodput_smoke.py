"""The bulk-goodput benchmark (bench/tcp_goodput.py) still runs end to end and writes its files.

One round of a few MiB per backend into a temporary directory; the numbers are checked for
sanity only (positive rates, fractions within [0, 1], every fastnet round's bytes through
TCP), never for speed: goodput is bench/tcp_goodput.py's business (DESIGN.md §5).
"""
import json
import os
import subprocess
import sys

import pytest
from helpers.stackbuild import make_stack  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "bench", "tcp_goodput.py")
BYTES = 4 << 20

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: creates network namespaces")


def test_goodput_smoke(tmp_path):
    make_stack("the tool (libssl-dev, libxdp?)")
    before = set(_netns())
    # Its own prefix, so that it can run beside tests/test_tcp_real_peer.py.
    p = subprocess.run([sys.executable, SCRIPT, "--bytes", str(BYTES), "--rounds", "1",
                        "--timeout", "30", "--prefix", "198.18.45.0/24", "--no-build",
                        "--out-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    md = (tmp_path / "tcp_goodput.md").read_text()
    doc = json.loads((tmp_path / "tcp_goodput.json").read_text())
    assert doc["params"]["bytes"] == BYTES and doc["machine"]["kernel"]
    assert set(doc["backends"]) == {"af_xdp", "af_packet", "tap"}
    for be, res in doc["backends"].items():
        assert f"| {be} | fastnet |" in md
        for contender, rows in res["rounds"].items():
            assert len(rows) == 1, (be, contender)
            row = rows[0]
            assert row["seconds"] > 0 and row["mib_s"] > 0, row
            assert 0 <= row["sink_busy"] <= 1 and 0 <= row["client_busy"] <= 1, row
            if contender == "fastnet":
                assert row["stack"]["tcp_rx_bytes"] == BYTES, row["stack"]
                assert row["loop"]["iterations"] > 0, row["loop"]
            else:
                assert row["offloads"], row
        s = res["summary"]
        assert s["ratio_vs_kernel-same"]["mib_s"] > 0
        assert s["ratio_vs_kernel-default"]["mib_s"] > 0
    # Nothing left behind.
    assert not [n for n in set(_netns()) - before if n.startswith("gp")]


def _netns():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]
