"""Opening the benchmark's idle connections to the asyncio app on fastnet (af_xdp on the
two-host veth test bed, bench/testbed.py) loses (almost) no frame: at most one SYN in 400
is retransmitted, at most one frame in 400 connections is dropped by the peer's veth end on
its way to the stack end.

Why it matters: bench/http_bench.py's idle cell (100,000 keep-alive connections, 256
handshakes in flight) saw up to 26k client SYN timeouts against the asyncio app and took
24-33 s to open, against 16 s for the native server.  fastnet's own counters showed no loss
(no rx_nobuf, rx_errors, syncache or listen overflow, pool failure): the frames were dropped
before they reached it, in veth's 256-frame ring, because the test bed ran veth's NAPI
kthread (which feeds the XDP program) as an ordinary task on the server core that the app
kept busy.  settle() now runs it under SCHED_FIFO, as a NIC's softirq receive would run.

Counted, not timed: the peer's nstat TcpExtTCPSynRetrans and its veth end's tx_dropped between
the start and the moment every connection is held (before the client resets them, whose burst
of RSTs is not part of the question).  Measured on the 2-vCPU VM, shared with other work:
with the old settle() 50,000 connections lost 391-1043 frames there (233-561 SYN retransmissions;
30,000: 168 and 143), with SCHED_FIFO none in most runs and a few in some (4 of 30,000;
at 100,000 up to 144, left unexplained: presumably the VM's vCPU scheduling), hence the
bound instead of zero.  The bound (125 at 50,000) sits between the worst rate seen with
SCHED_FIFO (1.4 in 1,000, about 72 here) and the best without it (233), so that a noisy CI
machine does not fail it by chance while the old settle() still does.
198.19.63.0/24, namespace prefix sr.
"""
import json
import os
import re
import subprocess
import sys

import pytest
from helpers.stackbuild import make_stack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import http_servers as hs  # noqa: E402

PREFIX = "198.19.63.0/24"
SERVER_CPU, CLIENT_CPU = 0, 1
COUNT = 50_000
BOUND = COUNT // 400     # SYN retransmissions, and veth drops, tolerated
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


def test_idle_connections_open_without_loss(tmp_path):
    make_stack("the stack and its XDP program (scripts/install-deps.sh)")
    net = hs.BenchNet(name=f"sr{os.getpid() % 10000}", server_cpu=SERVER_CPU,
                      client_cpu=CLIENT_CPU, prefix=PREFIX)
    client = None
    try:
        srv = hs.Server("fastnet", net, str(tmp_path), cpu=SERVER_CPU, backend="af_xdp",
                        max_conns=2 * COUNT, idle_timeout=120)
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
    assert syn <= BOUND and dropped <= BOUND, (
        f"{syn} SYN retransmissions, {dropped} frames dropped by the peer's veth end "
        f"while {COUNT} connections opened: {first}")
