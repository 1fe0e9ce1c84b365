"""A burst of short connections, then bulk uploads, against the native HTTP echo server on
af_xdp (fastnet.testnet veth, 198.19.46.0/24, namespaces pc*): http_bench's `close` cell
followed by its `post` cell.  Every short connection keeps one request, so in the 100 ms
epoch of the burst the pool-backed receive window (stack/tcp/tcp_pool.c) is shared among
hundreds of receivers and the POST connections that start right after are offered next to
nothing.  That count used to move on only when data was kept, and none is kept by
connections held at a zero window: the eight 1 MiB POSTs got no answer at all, the peer's
window probes answered with 0 for good.  Now the count follows the clock and the windows
reopen within two epochs.  af_xdp because its fill ring holds part of the pool (less
headroom) and its server is fast enough to fit the burst into few epochs.  Three rounds
(about 12 s) make the old failure, which needed the POSTs to start within the burst's last
epochs, all but certain.  Only processes started here are stopped, by their PID.
"""
import json
import os
import sys
from pathlib import Path

import pytest

from fastnet import testnet
from helpers.nsproc import NsProc
from helpers.stackbuild import make_stack  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "198.19.46.0/24"
PORT = 8080
WRK = ROOT / "bench" / "wrk"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from apps.http_echo import native

    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces")
    try:
        native.build(san=False)
    except native.BuildError as e:
        pytest.fail(str(e))
    make_stack("the XDP program", "bpf")
    tmp = tmp_path_factory.mktemp("pc-burst")
    with testnet.create(name=f"pc{os.getpid() % 10000}", kind="veth", prefix=PREFIX) as tn:
        tn.run_peer(["sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535"])
        argv = ["env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "apps.http_echo.native",
                "--port", str(PORT), "--backend", "af_xdp", "--iface", tn.stack_if,
                "--ip", tn.stack_cidr, "--tcp-nodelay", "true",
                "--tcp-max-conns", "262144", "--tcp-max-sockets", "262144"]
        proc = NsProc(tn.stack_ns, argv, tmp, "server", cwd=str(ROOT))
        try:
            proc.wait_for(f"http_echo: listening on {tn.stack_ip}:{PORT} (loop=native)", 60)
            yield tn
            assert proc.stop() == 0, proc.err_text()
        finally:
            proc.stop()
            proc.close()


def wrk(tn, *args, env=None):
    """wrk in the peer namespace through bench/wrk/report.lua: its BH_WRK summary."""
    r = tn.run_peer(["env", *(f"{k}={v}" for k, v in (env or {}).items()),
                     "wrk", "-t1", "--timeout", "5s", *args], check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("BH_WRK ")]
    assert line, r.stdout
    return json.loads(line[-1][len("BH_WRK "):])


def test_uploads_right_after_a_burst_of_short_connections_are_answered(server):
    url = f"http://{server.stack_ip}:{PORT}/"
    for rnd in range(3):
        burst = wrk(server, "-c64", "-d1", "-s", str(WRK / "get.lua"),
                    "-H", "Connection: close", url)
        assert burst["requests"] > 0, burst
        post = wrk(server, "-c8", "-d2", "-s", str(WRK / "post.lua"), url + "post",
                   env={"BH_POST_BYTES": 1 << 20})
        assert post["requests"] > 0, f"round {rnd}: no POST answered after the burst: {post}"
        assert post["bytes"] >= post["requests"] * (1 << 20), post
