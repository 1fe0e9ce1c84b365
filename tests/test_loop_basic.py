"""fastnet.Loop basics: the asyncio loop over userspace stacks.

Two stacks joined by the in-memory link run both ends of each connection in one loop
(Stack.memory_pair); one test serves the Linux kernel's TCP over veth in a test namespace.
Every test ends with the loop's handles back at their baseline (no stack socket, transport,
server or packet buffer left behind).  The large loop parity suite (the same assertions on
the stock loop) lives elsewhere; these are the fast checks of each mechanism.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import sys
import time

import pytest

import fastnet
from fastnet import netns, testnet

A_IP, B_IP = "198.19.32.1", "198.19.32.2"
PORT = 8000


@pytest.fixture
def loop():
    a, b = fastnet.Stack.memory_pair({"ip": A_IP}, {"ip": B_IP})
    lp = fastnet.new_event_loop(stacks=(a, b))
    base = lp.fastnet_handles()
    try:
        yield lp
        # Let closes scheduled with call_soon run, and FINs / ACKs cross the link.
        lp.run_until_complete(asyncio.sleep(0.05))
        # No buffer is left with the stacks or the application (frames on the memory link
        # are backend.held; base counted the gratuitous ARPs still unsent at creation).
        assert lp.fastnet_handles() == {**base, "pool_in_use": 0}
        assert lp.fastnet_handles()["sockets"] == 0
    finally:
        lp.close()
        assert a.close() == 0 and b.close() == 0


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


def test_protocol_and_streams_echo(loop):
    async def main():
        server = await loop.create_server(Echo, A_IP, PORT)
        assert server.sockets[0].getsockname() == (A_IP, PORT)
        reader, writer = await asyncio.open_connection(A_IP, PORT)
        assert writer.get_extra_info("peername") == (A_IP, PORT)
        assert writer.get_extra_info("sockname")[0] == B_IP
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        for i in range(20):
            writer.write(b"line %d\n" % i)
        await writer.drain()
        for i in range(20):
            assert await reader.readline() == b"line %d\n" % i
        writer.write(b"abc" * 1000)
        assert await reader.readexactly(3000) == b"abc" * 1000
        assert loop.fastnet_handles()["transports"] == 2
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_large_transfer_pause_writing(loop):
    payload = os.urandom(4 << 20)
    events = []
    done = loop.create_future()

    class Sender(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            for i in range(0, len(payload), 1 << 16):
                transport.write(payload[i:i + (1 << 16)])
            assert transport.get_write_buffer_size() > 0
            transport.close()

        def pause_writing(self):
            events.append("pause")

        def resume_writing(self):
            events.append("resume")

    class Receiver(asyncio.Protocol):
        def __init__(self):
            self.h = hashlib.sha256()
            self.n = 0

        def connection_made(self, transport):
            self.transport = transport
            transport.pause_reading()
            transport.pause_reading()       # idempotent
            assert not transport.is_reading()
            loop.call_later(0.2, self.resume)

        def resume(self):
            self.transport.resume_reading()
            self.transport.resume_reading()
            assert self.transport.is_reading()

        def data_received(self, data):
            self.h.update(data)
            self.n += len(data)

        def connection_lost(self, exc):
            done.set_result((self.n, self.h.hexdigest(), exc))

    async def main():
        server = await loop.create_server(Sender, A_IP, PORT)
        await loop.create_connection(Receiver, A_IP, PORT)
        n, digest, exc = await asyncio.wait_for(done, 30)
        assert (n, digest, exc) == (len(payload), hashlib.sha256(payload).hexdigest(), None)
        assert events == ["pause", "resume"]
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_write_buffer_limits(loop):
    async def main():
        server = await loop.create_server(Echo, A_IP, PORT)
        tr, _ = await loop.create_connection(asyncio.Protocol, A_IP, PORT)
        assert tr.get_write_buffer_limits() == (16384, 65536)
        tr.set_write_buffer_limits(high=1000)
        assert tr.get_write_buffer_limits() == (250, 1000)
        with pytest.raises(ValueError):
            tr.set_write_buffer_limits(high=1, low=2)
        with pytest.raises(TypeError, match="bytes-like"):
            tr.write("text")
        assert tr.can_write_eof()
        tr.close()
        assert tr.is_closing()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_buffered_protocol(loop):
    payload = os.urandom(1 << 20)
    done = loop.create_future()

    class Sink(asyncio.BufferedProtocol):
        def __init__(self):
            self.buf = bytearray(8192)
            self.got = bytearray()
            self.calls = 0

        def get_buffer(self, sizehint):
            assert sizehint == -1
            return self.buf

        def buffer_updated(self, nbytes):
            self.calls += 1
            self.got += self.buf[:nbytes]

        def eof_received(self):
            done.set_result(bytes(self.got))

    async def main():
        server = await loop.create_server(Sink, A_IP, PORT)
        tr, _ = await loop.create_connection(asyncio.Protocol, A_IP, PORT)
        tr.write(payload)
        tr.write_eof()
        assert await asyncio.wait_for(done, 30) == payload
        tr.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_half_close(loop):
    class Upper(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.data = b""

        def data_received(self, data):
            self.data += data

        def eof_received(self):
            self.transport.write(self.data.upper())
            self.transport.close()
            return True         # keep the transport open for the reply

    async def main():
        server = await loop.create_server(Upper, A_IP, PORT)
        reader, writer = await asyncio.open_connection(A_IP, PORT)
        writer.write(b"half closed")
        writer.write_eof()
        with pytest.raises(RuntimeError, match="after write_eof"):
            writer.write(b"more")
        assert await reader.read() == b"HALF CLOSED"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_abort_with_unread_data_resets_peer(loop):
    lost = loop.create_future()

    class Aborter(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            transport.pause_reading()
            loop.call_later(0.1, self.abort)

        def abort(self):
            self.transport.write(b"x" * 100000)
            self.transport.abort()      # the client's bytes are unread: a RST, as Linux
            assert self.transport.get_write_buffer_size() == 0

        def connection_lost(self, exc):
            lost.set_result(exc)

    async def main():
        server = await loop.create_server(Aborter, A_IP, PORT)
        reader, writer = await asyncio.open_connection(A_IP, PORT)
        writer.write(b"never read")
        assert await asyncio.wait_for(lost, 5) is None
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(), 5)
        writer.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_write_after_close_logs_like_asyncio(loop, caplog):
    async def main():
        server = await loop.create_server(Echo, A_IP, PORT)
        tr, proto = await loop.create_connection(asyncio.Protocol, A_IP, PORT)
        tr.close()
        await asyncio.sleep(0)
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            for _ in range(7):
                tr.write(b"late")
        assert [r.getMessage() for r in caplog.records] == ["socket.send() raised exception."] * 3
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_server_close_and_wait_closed(loop):
    async def main():
        server = await loop.create_server(Echo, A_IP, PORT)
        assert server.is_serving()
        reader, writer = await asyncio.open_connection(A_IP, PORT)
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        server.close()
        assert not server.is_serving() and server.sockets == ()
        # (3.12.1+ waits here for the accepted connection; 3.11's wait_closed returns at
        # once after close(), as the stock loop's does.)
        closed = asyncio.ensure_future(server.wait_closed())
        with pytest.raises(ConnectionRefusedError, match=r"Connect call failed \('198.19.32.1', 8000\)"):
            await asyncio.open_connection(A_IP, PORT)
        server.close_clients()
        await asyncio.wait_for(closed, 5)
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()

    loop.run_until_complete(main())


def test_serve_forever_and_errors(loop):
    async def main():
        server = await asyncio.start_server(lambda r, w: w.close(), A_IP, PORT,
                                            start_serving=False)
        assert not server.is_serving()
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        assert server.is_serving()
        with pytest.raises(OSError, match="address already in use"):
            await loop.create_server(Echo, A_IP, PORT, reuse_address=False)
        with pytest.raises(ValueError, match="only meaningful with ssl"):
            await loop.create_server(Echo, A_IP, PORT + 1, ssl_handshake_timeout=1)
        with pytest.raises(TypeError):
            await loop.create_server(Echo, A_IP, PORT + 1, ssl=True)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()

    loop.run_until_complete(main())


def test_kernel_routes_unchanged(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert isinstance(writer.transport, asyncio.Transport)     # the stock transport
        writer.write(b"kernel")
        assert await reader.readexactly(6) == b"kernel"
        assert loop.fastnet_handles()["transports"] == 0
        # local_addr on the kernel's loopback: the kernel, whatever the stacks are.
        tr, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port,
                                             local_addr=("127.0.0.1", 0))
        assert loop.fastnet_handles()["transports"] == 0
        tr.close()
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        # local_addr equal to a stack's address: that stack.
        server = await loop.create_server(Echo, A_IP, PORT)
        tr, _ = await loop.create_connection(asyncio.Protocol, A_IP, PORT,
                                             local_addr=(B_IP, 0))
        assert tr.get_extra_info("sockname")[0] == B_IP
        assert loop.fastnet_handles()["transports"] == 2
        tr.close()
        server.close()
        await server.wait_closed()
        # Nobody's address: the kernel's EADDRNOTAVAIL (3.13 wraps it in "could not bind
        # on any address", as its stock loop does).
        with pytest.raises(OSError, match="198.19.32.99") as ei:
            await loop.create_server(Echo, "198.19.32.99", PORT)
        assert ei.value.errno in (99, None)

    loop.run_until_complete(main())


@contextlib.contextmanager
def _netns(name):
    """Enter a network namespace for this thread, and come back when the block ends."""
    back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open(netns.path(name), os.O_RDONLY)
    try:
        netns._setns(there, netns.CLONE_NEWNET)
        try:
            yield
        finally:
            netns._setns(back, netns.CLONE_NEWNET)
    finally:
        os.close(there)
        os.close(back)


@pytest.fixture
def veth():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    with testnet.create(name="lab", kind="veth", prefix="198.19.32.128/25") as tn:
        yield tn


async def _http_ok(reader, writer):
    line = await reader.readline()
    while await reader.readline() not in (b"\r\n", b""):
        pass
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                 % (len(line), line))
    await writer.drain()
    writer.close()


async def _kernel_streams(lp, veth):
    """Streams of a kernel socket of the peer namespace connected to the stack's PORT."""
    with _netns(veth.peer_ns):
        ksock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ksock.setblocking(False)
    await lp.sock_connect(ksock, (veth.stack_ip, PORT))
    return await asyncio.open_connection(sock=ksock)


def test_kernel_peer_over_veth_and_idle_cpu(veth):
    with _netns(veth.stack_ns):
        lp = fastnet.new_event_loop(backend="af_packet", iface=veth.stack_if,
                                    ip=veth.stack_cidr)
    try:
        base = lp.fastnet_handles()
        payload = os.urandom(1 << 20)

        async def main():
            server = await lp.create_server(Echo, veth.stack_ip, PORT)
            reader, writer = await _kernel_streams(lp, veth)
            writer.write(payload)
            assert await asyncio.wait_for(reader.readexactly(len(payload)), 30) == payload
            # curl in the peer namespace, started by the loop itself (subprocesses work).
            http = await asyncio.start_server(_http_ok, veth.stack_ip, PORT + 1)
            curl = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", veth.peer_ns, "curl", "-sS", "-m", "10",
                f"http://{veth.stack_ip}:{PORT + 1}/hello", stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(curl.communicate(), 30)
            assert (curl.returncode, out, err) == (0, b"GET /hello HTTP/1.1\r\n", b"")
            http.close()
            await http.wait_closed()
            # An idle serving loop sleeps in epoll: almost no CPU over a second.
            cpu = time.process_time()
            await asyncio.sleep(1.0)
            assert time.process_time() - cpu < 0.2
            writer.close()
            await writer.wait_closed()
            server.close()
            await server.wait_closed()
            await asyncio.sleep(0.05)

        lp.run_until_complete(main())
        assert lp.fastnet_handles()["transports"] == base["transports"] == 0
        assert lp.fastnet_handles()["sockets"] == 0
    finally:
        lp.close()


def test_loop_writes_the_stats_file_that_fastnet_stat_reads(veth, tmp_path):
    """stats_file= (the --stats-file flag of programs built on the loop, e.g. the HTTP echo
    app) makes the loop write the stack's counters every stats_interval and once more at
    close, marked stopped; without it the loop writes nothing, not even the default path."""
    import json
    import subprocess
    from fastnet import config as fconfig
    path = tmp_path / "stats.json"
    with _netns(veth.stack_ns):
        with pytest.raises(fconfig.ConfigError, match="interval"):
            fastnet.new_event_loop(backend="af_packet", iface=veth.stack_if,
                                   ip=veth.stack_cidr, stats_file=str(path),
                                   stats_interval=0)
        assert not path.exists()
        lp = fastnet.new_event_loop(backend="af_packet", iface=veth.stack_if,
                                    ip=veth.stack_cidr, stats_file=str(path),
                                    stats_interval=0.1)
    try:
        first = json.loads(path.read_text())
        assert first["running"] and first["iface"] == veth.stack_if, first
        assert first["ip"] == veth.stack_cidr and first["stats"]["tcp_conn_passive"] == 0

        async def main():
            server = await lp.create_server(Echo, veth.stack_ip, PORT)
            reader, writer = await _kernel_streams(lp, veth)
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"
            await asyncio.sleep(0.35)           # at least two writes meanwhile
            now = json.loads(path.read_text())
            writer.close()
            await writer.wait_closed()
            server.close()
            await server.wait_closed()
            return now

        during = lp.run_until_complete(main())
        assert during["running"] and during["time"] > first["time"], during
        assert during["stats"]["tcp_conn_passive"] == 1, during["stats"]
        r = subprocess.run([sys.executable, "-m", "fastnet", "stat", "--stats-file",
                            str(path), "--json"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["tcp_conn_passive"] == 1, r.stdout
    finally:
        lp.close()
    last = json.loads(path.read_text())
    assert not last["running"] and last["stats"]["tcp_conn_passive"] == 1, last
    # A loop not asked for a stats file writes none.
    with _netns(veth.stack_ns):
        quiet = fastnet.new_event_loop(backend="af_packet", iface=veth.stack_if,
                                       ip=veth.stack_cidr)
    quiet.run_until_complete(asyncio.sleep(0.2))
    quiet.close()
    assert not os.path.exists(fconfig.default_stats_file(veth.stack_if))


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """(server context, client context) for a self-signed certificate of A_IP."""
    import ssl
    import subprocess
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=fastnet-test", "-addext", f"subjectAltName=IP:{A_IP}",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(d / "cert.pem", d / "key.pem")
    client = ssl.create_default_context(cafile=str(d / "cert.pem"))
    return server, client


def test_tls_server_and_client(loop, tls):
    server_ctx, client_ctx = tls

    async def main():
        server = await asyncio.start_server(_echo_lines, A_IP, PORT, ssl=server_ctx)
        reader, writer = await asyncio.open_connection(A_IP, PORT, ssl=client_ctx)
        assert writer.get_extra_info("peercert")["subject"] == ((("commonName", "fastnet-test"),),)
        writer.write(b"secret\n")
        assert await reader.readline() == b"secret\n"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


async def _echo_lines(reader, writer):
    while line := await reader.readline():
        writer.write(line)
    writer.close()


def test_start_tls_upgrades_a_plain_connection(loop, tls):
    server_ctx, client_ctx = tls

    async def upgrade_on_request(reader, writer):
        assert await reader.readline() == b"STARTTLS\n"
        writer.write(b"GO\n")
        await writer.drain()
        await writer.start_tls(server_ctx)
        writer.write((await reader.readline()).upper())
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(upgrade_on_request, A_IP, PORT)
        reader, writer = await asyncio.open_connection(A_IP, PORT)
        writer.write(b"STARTTLS\n")
        assert await reader.readline() == b"GO\n"
        await writer.start_tls(client_ctx)
        assert writer.get_extra_info("cipher") is not None
        writer.write(b"over tls\n")
        assert await reader.readline() == b"OVER TLS\n"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_run_runner_and_arguments():
    a, b = fastnet.Stack.memory_pair({"ip": A_IP}, {"ip": B_IP})
    try:
        async def main():
            loop = asyncio.get_running_loop()
            assert isinstance(loop, fastnet.Loop) and loop.stacks == (a, b)
            server = await loop.create_server(Echo, port=PORT)      # wildcard: the first stack
            assert server.sockets[0].getsockname() == ("0.0.0.0", PORT)
            reader, writer = await asyncio.open_connection(A_IP, PORT)
            writer.write(b"run")
            data = await reader.readexactly(3)
            writer.close()
            server.close()
            return data

        assert fastnet.run(main(), stacks=(a, b)) == b"run"
        with asyncio.Runner(loop_factory=lambda: fastnet.new_event_loop(stack=a)) as runner:
            assert runner.run(asyncio.sleep(0, "ok")) == "ok"
        with pytest.raises(TypeError, match="needs stack options"):
            fastnet.Loop()
        with pytest.raises(TypeError, match="not both"):
            fastnet.Loop(stack=a, stacks=(a, b))
        with pytest.raises(TypeError, match="fastnet.Stack"):
            fastnet.Loop(stacks=("a",))
    finally:
        assert a.close() == 0 and b.close() == 0


def test_loop_close_with_live_transports():
    a, b = fastnet.Stack.memory_pair({"ip": A_IP}, {"ip": B_IP})
    lp = fastnet.new_event_loop(stacks=(a, b))
    try:
        async def main():
            await lp.create_server(Echo, A_IP, PORT)
            return await lp.create_connection(asyncio.Protocol, A_IP, PORT)

        tr, _ = lp.run_until_complete(main())
        lp.close()          # closes the transports' and the listener's stack sockets
        assert a.socket_count == 0 and b.socket_count == 0
        tr.write(b"after close")    # a lost connection now: dropped, no crash
        tr.pause_reading()
        lp.close()
    finally:
        assert a.close() == 0 and b.close() == 0
    tr.write(b"after the stacks closed")
    tr.write_eof()
    assert tr.get_extra_info("socket").fileno() == -1     # kept, closed (as the stock loop)
