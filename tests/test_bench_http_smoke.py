"""The HTTP benchmark harness (bench/http_bench.py) runs end to end, writes its table, JSON and
plots, and leaves nothing behind, also when interrupted.

Functional only: a --quick run (1 s cells, 2,000 idle connections) whose figures are checked
for sanity (positive rates, fractions within [0, 1], percentiles in order, every idle
connection held), never for speed (DESIGN.md §5).  The kernel servers (uvloop, stock asyncio,
nginx) must run: scripts/install-deps.sh installs all of them.  A fastnet kind either gives
sane figures or is reported as "not available (reason)" with its reason: the harness never
shows a number for a server that did not run.
"""
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers.stackbuild import make_stack  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "bench", "http_bench.py")
KERNEL = ("uvloop", "asyncio", "nginx")
ALL = ("fastnet", "fastnet-nomod", "fastnet-napi", "fastnet-native", "uvloop", "asyncio",
       "nginx")
SCENARIOS = ("get", "pipeline", "close", "post", "latency", "idle")

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: creates network namespaces")


def _netns():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def _gone(pid):
    """No such process, or only its zombie waiting for init."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _build():
    make_stack("the stack (scripts/install-deps.sh)")


def _check_cell(kind, scen, row, doc):
    assert row.get("rounds") == 1, (kind, scen, row)
    if scen == "idle":
        assert row["held"] == doc["config"]["idle_conns"], row
        assert row["rss_before"] > 0 and row["rss_after"] > 0, row
        assert math.isfinite(row["bytes_per_conn"]), row
        assert 0.0 <= row["server_busy_while_held"] <= 1.0, row
        return
    assert row["rps"] > 0, (kind, scen, row)
    # --quick's fixed-rate cell (1,000 req/s for 1 s) can keep an efficient server's core
    # busy for less than one /proc/stat tick (10 ms) on the two-host test bed, where the
    # core no longer runs the client's receive: busy 0 then, and no per-core figure (the
    # aggregated row leaves out figures no round had).
    no_ticks = scen == "latency" and row["server_busy"] == 0.0
    if no_ticks:
        assert row.get("rps_per_core_s") is None, (kind, scen, row)
        cells = [c for c in doc["cells"] if c["server"] == kind and c["scenario"] == scen]
        assert cells and all(c["rps_per_core_s"] is None for c in cells), cells
    else:
        assert 0.0 < row["server_busy"] <= 1.0, (kind, scen, row)
        assert row["rps_per_core_s"] >= row["rps"] * 0.999, (kind, scen, row)
    assert 0.0 <= row["server_proc_busy"] <= 1.05, (kind, scen, row)
    # Where the time went, per CPU (the test bed's record).
    assert set(row["cpus"]) >= {"cpu0", "cpu1"}, row
    for cpu in row["cpus"].values():
        parts = [cpu[k] for k in ("user", "system", "irq", "softirq", "idle", "steal")]
        assert all(0.0 <= x <= 1.0 for x in parts) and sum(parts) == pytest.approx(1, abs=0.01)
        assert 0.0 <= cpu["napi"] <= 1.05 and cpu["net_rx_per_s"] >= 0, row
    assert row["cpu_us_per_req"] > 0, (kind, scen, row)
    if scen == "post":
        assert row["goodput_MBps"] > 0, row
    if scen != "pipeline":
        assert 0 < row["lat_p50_us"] <= row["lat_p99_us"] <= row["lat_p999_us"], row
    if scen == "latency":
        # The open-loop client answered everything it scheduled at the asked-for rate.
        assert row["rps"] == pytest.approx(doc["config"]["latency_rate"], rel=0.2), row


def test_http_bench_quick(tmp_path):
    _build()
    p = subprocess.run([sys.executable, SCRIPT, "--quick", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    # A progress line per cell while it ran.
    progress = [ln for ln in p.stderr.splitlines() if ln.startswith("[")]
    assert len(progress) == len(ALL) * (len(SCENARIOS) - 1) + len(ALL), p.stderr[-3000:]
    assert all("elapsed" in ln and "remaining" in ln for ln in progress)

    md = (tmp_path / "http_bench.md").read_text()
    assert md.strip() in p.stdout
    doc = json.loads((tmp_path / "http_bench.json").read_text())
    assert doc["machine"]["cores"] >= 2 and doc["machine"]["kernel"] and doc["machine"]["cpu"]
    for k in ("python", "uvloop", "nginx", "fastnet_git"):
        assert doc["versions"][k], k
    assert not doc.get("interrupted")
    # The default test bed models two machines: each veth end's receive steered to its
    # host's core, and fastnet's XDP NAPI thread pinned to the server core.
    tb = doc["testbed"]
    assert tb["mode"] == doc["config"]["testbed"] == "two-host"
    stack_if, peer_if = doc["network"]["name"] + "0", doc["network"]["name"] + "1"
    assert int(tb["network"][stack_if]["rps_cpus"], 16) == 1 << doc["config"]["server_cpu"]
    assert int(tb["network"][peer_if]["rps_cpus"], 16) == 1 << doc["config"]["client_cpu"]
    fastnet = tb["per_server"].get("fastnet")
    if fastnet:
        assert set(fastnet[stack_if]["napi_threads"].values()) == {
            doc["config"]["server_cpu"]}, tb
    assert "test bed **two-host**" in md
    for name in ("throughput", "latency", "idle"):
        png = tmp_path / f"http_bench_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    table = doc["table"]
    assert set(table) == set(SCENARIOS)
    for scen in SCENARIOS:
        for kind in ALL:
            row = table[scen][kind]
            if kind in KERNEL:
                assert "unavailable" not in row, (kind, scen, row)
            if "unavailable" in row:
                assert row["unavailable"].strip(), (kind, scen)
                assert "not available (" in md
                assert "rps" not in row and "held" not in row, row
                continue
            _check_cell(kind, scen, row, doc)
        assert table[scen]["uvloop"].get("rps_per_core_s_x_uvloop", 1.0) == pytest.approx(1.0)
    # Nothing left behind: its namespaces are gone, and with them every process in them.
    name = doc["network"]["name"]
    assert name.startswith("bh")
    assert not [n for n in _netns() if n.startswith(name + "-")]


def test_http_bench_interrupted_cleans_up(tmp_path):
    """SIGINT in the middle of a cell: servers, clients and namespaces are all gone, the
    partial result is written and the exit status says it was interrupted."""
    before = set(_netns())
    p = subprocess.Popen([sys.executable, SCRIPT, "--quick", "--servers", "nginx,uvloop",
                          "--scenarios", "get,post", "--duration", "5", "--out",
                          str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        # Wait until the first cell has finished and the second is running.
        end = time.monotonic() + 120
        line = ""
        while time.monotonic() < end and not line.startswith("[  1/"):
            line = p.stderr.readline()
            assert line or p.poll() is None, "harness ended early"
        assert line.startswith("[  1/"), "no progress line"
        time.sleep(1.0)
        # Other suites may create namespaces meanwhile: only the bh ones are the harness's.
        mine = [n for n in _netns() if n not in before and n.startswith("bh")]
        assert mine, "the harness has no namespace"
        held = [int(x) for n in mine for x in subprocess.run(
            ["ip", "netns", "pids", n], capture_output=True, text=True).stdout.split()]
        assert held, "no server or client running in the harness's namespaces"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err[-3000:]
    assert "interrupted" in err
    assert not set(_netns()) & set(mine)
    for pid in held:
        assert _gone(pid), f"process {pid} outlived the harness"
    doc = json.loads((tmp_path / "http_bench.json").read_text())
    assert doc["interrupted"] is True
