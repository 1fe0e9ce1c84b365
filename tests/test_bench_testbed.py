"""The benchmark's veth test bed (bench/testbed.py) puts each host's receive work on the core
it says, for a kernel server (uvloop) and for fastnet on af_xdp and on af_packet.

Counted, not timed: the kernel's own tracepoints (perf stat, per CPU) say on which CPU every
frame of each veth end entered the kernel's receive (net:netif_receive_skb) and where the
stack end's XDP program redirected frames into fastnet's UMEM (xdp:xdp_redirect) while a short
wrk load ran.  two-host: the server's receive on the server core and the load generator's on
its own core, every frame.  shared-veth (veth's default, kept for comparison): each receive
runs on the sending core, so the load generator's receive of the server's responses lands on
the server core.
"""
import os
import sys

import pytest
from helpers.stackbuild import make_stack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import http_servers as hs  # noqa: E402

PREFIX = "198.19.37.0/24"
SERVER_CPU, CLIENT_CPU = 0, 1

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: creates network namespaces")


def _where(net, server):
    argv = ["ip", "netns", "exec", net.tn.peer_ns, "taskset", "-c", str(CLIENT_CPU), "wrk",
            "-t1", "-c8", "-d1s", "--timeout", "5s", f"http://{server.target}/"]
    return net.testbed.trace_rx(argv)


def _on(counts, cpu):
    """Frames counted on cpu, and in all."""
    return counts.get(cpu, 0), sum(counts.values())


@pytest.mark.parametrize("mode", ["two-host", "shared-veth"])
def test_receive_work_lands_where_the_testbed_says(mode, tmp_path):
    make_stack("the stack and its XDP program (scripts/install-deps.sh)")
    net = hs.BenchNet(name=f"bh{os.getpid() % 100000}t", testbed=mode,
                      server_cpu=SERVER_CPU, client_cpu=CLIENT_CPU, prefix=PREFIX)
    try:
        seen = {}
        for kind, backend in (("uvloop", None), ("fastnet", "af_xdp"),
                              ("fastnet", "af_packet")):
            srv = hs.Server(kind, net, str(tmp_path / f"{kind}-{backend}"), cpu=SERVER_CPU,
                            backend=backend, fastnet_args=["--tcp-nodelay", "true"])
            srv.start()
            try:
                seen[(kind, backend)] = (_where(net, srv), srv.testbed_state)
            finally:
                srv.stop()
    finally:
        net.destroy()
    assert not net.tn.exists()

    for kind, (counts, state) in seen.items():
        assert state["mode"] == mode, state
        served, peer_all = _on(counts["peer"], SERVER_CPU)
        assert peer_all > 100, (kind, counts)          # the responses reached the client
        if kind == ("fastnet", "af_xdp"):
            own_on_server, own_all = _on(counts["xdp"], SERVER_CPU)
            assert own_all > 100, counts               # requests went through XDP
        else:
            own_on_server, own_all = _on(counts["stack"], SERVER_CPU)
            assert "xdp" not in counts and own_all > 100, counts
        if mode == "two-host":
            # Every frame: RPS and a pinned NAPI kthread leave the kernel no choice.
            assert own_on_server == own_all, (kind, counts)
            assert served == 0, (kind, counts)
            assert _on(counts["stack"], SERVER_CPU)[0] == _on(counts["stack"], SERVER_CPU)[1]
            if kind == ("fastnet", "af_xdp"):
                napi = state[net.tn.stack_if]["napi_threads"]
                assert napi and set(napi.values()) == {SERVER_CPU}, state
        else:
            # The receive runs in the sender's system call: the server's responses are
            # received on the server core, the requests on the load generator's.
            assert served > 0.9 * peer_all, (kind, counts)
            assert own_on_server < 0.1 * own_all, (kind, counts)
