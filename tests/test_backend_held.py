"""Leak accounting with a real backend: the buffers a backend keeps are not the application's.

A backend holds pool buffers while it is open (AF_XDP's fill ring and tx completions, a
fault wrapper's delay queue), reported as the stats gauge backend.held.  The loop's
fastnet_handles()["pool_in_use"] is pool.in_use minus backend.held, so after pings and one
echoed TCP connection from the kernel peer, with everything closed, it is exactly 0 on every
backend — while the pool itself still has buffers out on af_xdp (its ring).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

import fastnet
from fastnet import testnet
from test_loop_basic import _netns

PORT = 8000
NETS = {"af_xdp": "198.19.45.0/28", "af_packet": "198.19.45.16/28", "tap": "198.19.45.32/28"}
CLOSED = {"sockets": 0, "transports": 0, "servers": 0, "pool_in_use": 0}
CLIENT = """
import os, socket, sys
data = os.urandom(int(sys.argv[3]))
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = bytearray()
while chunk := s.recv(65536):
    got += chunk
s.close()
print("ok" if got == data else f"echo differs: {len(got)} of {len(data)} bytes")
"""


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


@pytest.fixture(params=sorted(NETS))
def net(request):
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    backend = request.param
    kind = "tap" if backend == "tap" else "veth"
    with testnet.create(name=f"hd{backend[:2]}", kind=kind, prefix=NETS[backend]) as tn:
        yield backend, tn


async def _in_peer(tn, *argv):
    """Run argv in the peer namespace while the loop keeps serving; (rc, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", tn.peer_ns, *argv, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, out, err


def test_pool_in_use_is_zero_when_all_is_closed(net):
    backend, tn = net
    with _netns(tn.stack_ns):
        lp = fastnet.new_event_loop(backend=backend, iface=tn.stack_if, ip=tn.stack_cidr)
    try:
        (st,) = lp.stacks
        assert st.backend_name == backend
        # The gratuitous ARP queued at start is the stack's until the first poll sends it.
        lp.run_until_complete(asyncio.sleep(0.05))
        assert lp.fastnet_handles() == CLOSED

        async def main():
            rc, out, err = await _in_peer(tn, "ping", "-c", "3", "-i", "0.2", "-W", "2",
                                          tn.stack_ip)
            assert rc == 0 and b"3 received" in out, (out, err)
            server = await lp.create_server(Echo, tn.stack_ip, PORT)
            # One connection from the kernel's TCP: send, half-close, read the echo up to our
            # FIN.
            assert await _in_peer(tn, sys.executable, "-c", CLIENT, tn.stack_ip, str(PORT),
                                  str(256 * 1024)) == (0, b"ok\n", b"")
            server.close()
            await server.wait_closed()
            # The peer's FIN and our FIN's ACK cross the link; then nothing is left open.
            for _ in range(100):
                if lp.fastnet_handles() == CLOSED:
                    break
                await asyncio.sleep(0.02)

        lp.run_until_complete(main())
        assert lp.fastnet_handles() == CLOSED
        s = st.stats()
        assert s["backend.rx_packets"] > 0 and s["backend.tx_packets"] > 0
        # What the pool has out is exactly the backend's own.
        assert s["pool.in_use"] == s["backend.held"]
        if backend == "af_xdp":
            assert s["backend.held"] > 0   # the fill ring: the case the definition is for
        else:
            assert s["backend.held"] == 0  # copying backends keep no buffer between calls
    finally:
        lp.close()


def test_af_xdp_stack_closed_from_another_namespace_detaches_its_program(capfd):
    """A stack opened inside the test namespace (setns, as here and `fastnet up --netns`)
    and closed after the thread left it detaches its XDP program all the same: the detach
    names the device by ifindex over netlink, so it must run in the namespace of the open.
    It used to address the host's ifindex, fail ("Active program does not match expected")
    and leave the program attached, so that the next open got EBUSY."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    import subprocess

    def has_xdp(tn):
        out = subprocess.run(["ip", "-n", tn.stack_ns, "-j", "link", "show", tn.stack_if],
                             capture_output=True, text=True, check=True).stdout
        return "xdp" in json.loads(out)[0]

    with testnet.create(name="hdns", kind="veth", prefix="198.19.45.48/28") as tn:
        for _ in range(2):                    # the second open finds the device free
            with _netns(tn.stack_ns):
                lp = fastnet.new_event_loop(backend="af_xdp", iface=tn.stack_if,
                                            ip=tn.stack_cidr)
            try:
                lp.run_until_complete(asyncio.sleep(0.05))
                assert has_xdp(tn)
            finally:
                lp.close()                    # in the test's own namespace
            assert not has_xdp(tn)
            # The thread is back where it was: its namespace is not the test namespace's.
            with open(f"/run/netns/{tn.stack_ns}", "rb") as f:
                assert os.fstat(f.fileno()).st_ino != os.stat("/proc/thread-self/ns/net").st_ino
    err = capfd.readouterr().err
    assert "detaching" not in err and "namespace" not in err, err
