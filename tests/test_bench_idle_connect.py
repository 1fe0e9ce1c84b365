"""Opening the benchmark's idle connections to the asyncio app on fastnet (af_xdp on the
two-host veth test bed, bench/testbed.py): all 50,000 are held, fastnet itself drops and
refuses nothing (its own counters, from the app's stats file at the moment every connection
is held), and the test bed loses at most one frame in 50.

Why it matters: bench/http_bench.py's idle cell (100,000 keep-alive connections, 256
handshakes in flight) once saw up to 26k client SYN timeouts against the asyncio app and took
24-33 s to open, against 16 s for the native server.  fastnet's own counters showed no loss:
the frames were dropped before they reached it, in veth's 256-frame ring, because the test
bed ran veth's NAPI kthread (which feeds the XDP program) as an ordinary task on the server
core that the app kept busy.  settle() now runs it under SCHED_FIFO, as a NIC's softirq
receive would run; the test asserts that policy directly.

The test bed's own loss is counted, not timed: the peer's nstat TcpExtTCPSynRetrans and its
veth end's tx_dropped between the start and the moment every connection is held (before the
client resets them, whose burst of RSTs is not part of the question).  It depends on how the
machine schedules its vCPUs, so its bound only catches the gross failure above.  Measured at
50,000: on the 2-vCPU development VM (2026-12-02) 0 with SCHED_FIFO in every run and 1-95
drops with the kthread an ordinary task (it no longer separates the two there: the app now
leaves the core often enough); on a CI VM once 176 SYN retransmissions and 397 drops with
SCHED_FIFO, which failed the earlier bound of one in 400.  Hence one in 50 (1,000).
198.19.63.0/24, namespace prefix sr.
"""
import json
import os
import re
import subprocess
import sys
import time

import pytest
from helpers.stackbuild import make_stack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import http_servers as hs  # noqa: E402

PREFIX = "198.19.63.0/24"
SERVER_CPU, CLIENT_CPU = 0, 1
COUNT = 50_000
BOUND = COUNT // 50      # SYN retransmissions, and veth drops, tolerated
# fastnet's counters that must not move while the connections open: every way it drops a
# frame or refuses a connection on the way from the ring to accept().
OWN_LOSS = ("backend.rx_nobuf", "backend.rx_errors", "backend.tx_drops", "pool.alloc_failures",
            "drop_nobuf", "tcp_nobuf", "tcp_rx_dropped", "tcp_syncache_overflow",
            "tcp_listen_overflow", "tcp_tcb_exhausted", "sock_table_full",
            "sock_accept_table_full", "tcp_conn_refused")
CONCURRENCY = 256        # the bench's default (bench/http_clients.py idle)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: creates network namespaces")


def _syn_retrans(net):
    out = net.peer(["nstat", "-az", "TcpExtTCPSynRetrans"]).stdout
    m = re.search(r"^TcpExtTCPSynRetrans\s+(\d+)", out, re.MULTILINE)
    assert m, out
    return int(m.group(1))


def _tx_dropped(net):
    out = net.peer(["ip", "-j", "-s", "link", "show", net.tn.peer_if]).stdout
    return json.loads(out)[0]["stats64"]["tx"]["dropped"]


def _stats_after(path, t):
    """The app's stats file once it was written after time t (the app writes it every
    0.2 s here)."""
    end = time.monotonic() + 10
    while True:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = None
        if data is not None and data["time"] > t:
            return data["stats"]
        assert time.monotonic() < end, f"no stats file written after {t}: {data}"
        time.sleep(0.05)


def test_idle_connections_open_without_loss(tmp_path):
    make_stack("the stack and its XDP program (scripts/install-deps.sh)")
    net = hs.BenchNet(name=f"sr{os.getpid() % 10000}", server_cpu=SERVER_CPU,
                      client_cpu=CLIENT_CPU, prefix=PREFIX)
    client = None
    try:
        srv = hs.Server("fastnet", net, str(tmp_path), cpu=SERVER_CPU, backend="af_xdp",
                        max_conns=2 * COUNT, idle_timeout=120,
                        fastnet_args=("--stats-interval", "0.2"))
        srv.start()
        try:
            napi = srv.testbed_state[net.tn.stack_if]["napi_policy"]
            assert napi and set(napi.values()) == {"fifo/50"}, srv.testbed_state
            syn0, drop0 = _syn_retrans(net), _tx_dropped(net)
            client = subprocess.Popen(
                ["ip", "netns", "exec", net.tn.peer_ns, "taskset", "-c", str(CLIENT_CPU),
                 sys.executable, hs.CLIENTS, "idle", "--target", srv.target, "--sources",
                 ",".join(net.sources), "--count", str(COUNT), "--concurrency",
                 str(CONCURRENCY), "--timeout", "90", "--hold-max", "30",
                 "--max-failures", str(COUNT)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            first = json.loads(client.stdout.readline())
            syn, dropped = _syn_retrans(net) - syn0, _tx_dropped(net) - drop0
            own = _stats_after(tmp_path / "fastnet" / "stats.json", time.time())
            client.stdin.close()
            assert client.wait(timeout=60) == 0
        finally:
            if client is not None and client.poll() is None:
                client.kill()
                client.wait()
            srv.stop()
    finally:
        net.destroy()
    assert not net.tn.exists()
    assert first["held"] == COUNT and not first["failed"], first
    assert own["tcp_conn_passive"] >= COUNT, own
    assert {k: own[k] for k in OWN_LOSS} == dict.fromkeys(OWN_LOSS, 0), own
    assert syn <= BOUND and dropped <= BOUND, (
        f"{syn} SYN retransmissions, {dropped} frames dropped by the peer's veth end "
        f"while {COUNT} connections opened: {first}")
