"""Loop parity (issue 5), in the uvloop manner: every test is written once in LoopParity and
runs on four targets with identical assertions (tests/helpers/loopparity.py):

  TestStock             (a) the stock asyncio loop over kernel sockets (127.0.0.1)
  TestFastnetPair       (b) fastnet, two stacks over the memory link in one loop
  TestFastnetServes     (c) a fastnet server in a testnet namespace, kernel clients from the
                            peer namespace handed over with sock=
  TestFastnetConnects   (c) fastnet clients of a kernel server in the peer namespace
                            (create_server(sock=))

Covered: echo (Protocol and streams), large transfers with backpressure (pause_writing /
resume_writing against the water marks, SHA-256 of the stream), half-close, reset by the
peer, abort, a peer gone silent (keepalive, and TCP_USER_TIMEOUT with data in flight:
TimeoutError/ETIMEDOUT), pause_reading/resume_reading, BufferedProtocol, the StreamReader
API and drain, TLS (ssl= and start_tls), Server semantics (3.13's
close_clients/abort_clients only there), 1,000 concurrent connections, get_extra_info,
loop.sendfile, local_addr, reuse_port, the keyword arguments frameworks pass, the loop's
own services, and bad use (what the stock loop warns, logs or raises, the fastnet loop must
too, word for word where asyncio words it; the stock text differs between 3.11, 3.12 and
3.13 and is expected per version).  After each test the target checks that nothing reached
the loop's exception handler and, on fastnet, that loop.fastnet_handles() is back to its
baseline (the leak check).

Run: sudo PYTHONPATH=$PWD python3 -m pytest -q tests/test_loop_parity.py (root: the (c)
targets build a testnet, namespaces lpa-stack / lpa-peer, 198.19.33.128/26).
"""
import asyncio
import errno
import hashlib
import logging
import os
import socket
import ssl
import struct
import sys

import pytest

from helpers.loopparity import (TLS_HOSTNAME, FastnetPairTarget, FastnetServesKernel,
                                KernelServesFastnet, StockTarget, async_test,
                                client_ssl_context, payload, server_ssl_context, sha)
from helpers.loopparity import lp_testnet  # noqa: F401  (the module's testnet fixture)
from helpers.netns_ctx import in_netns

MiB = 1 << 20
LINGER_RST = struct.pack("ii", 1, 0)
BOTH_SIDES = pytest.mark.parametrize("side", ["client", "server"])


class Peer(asyncio.Protocol):
    """A protocol that records what happens to it.  Options: echo (with flow control: reading
    pauses while writing is paused), keep_open (eof_received's answer), pause_first (seconds
    to keep reading paused from connection_made; None = not paused), store (keep the bytes
    as well as their hash), and hooks on_made(peer), on_data(peer, data), on_eof(peer)."""

    def __init__(self, loop, *, echo=False, keep_open=False, pause_first=None, store=True,
                 on_made=None, on_data=None, on_eof=None):
        self.loop = loop
        self.echo, self.keep_open, self.pause_first, self.store = (echo, keep_open,
                                                                  pause_first, store)
        self.on_made, self.on_data, self.on_eof = on_made, on_data, on_eof
        self.transport = None
        self.data = bytearray()
        self.types = set()
        self.hasher = hashlib.sha256()
        self.nbytes = 0
        self.events = []
        self.flow = []          # (event, write buffer size) at each pause/resume_writing
        self.made = loop.create_future()
        self.eof = loop.create_future()
        self.lost = loop.create_future()
        self._want = []

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")
        if self.pause_first is not None:
            transport.pause_reading()
            if self.pause_first:
                self.loop.call_later(self.pause_first, transport.resume_reading)
        self.made.set_result(transport)
        if self.on_made:
            self.on_made(self)

    def data_received(self, data):
        self.types.add(type(data))
        if self.store:
            self.data += data
        self.hasher.update(data)
        self.nbytes += len(data)
        if self.echo:
            self.transport.write(data)
        if self.on_data:
            self.on_data(self, data)
        self._wake()

    def eof_received(self):
        self.events.append("eof")
        self.eof.set_result(None)
        if self.on_eof:
            self.on_eof(self)
        return self.keep_open

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)
        self._wake()

    def pause_writing(self):
        self.events.append("pause")
        self.flow.append(("pause", self.transport.get_write_buffer_size()))
        if self.echo:
            self.transport.pause_reading()

    def resume_writing(self):
        self.events.append("resume")
        self.flow.append(("resume", self.transport.get_write_buffer_size()))
        if self.echo:
            self.transport.resume_reading()

    def _wake(self):
        for n, fut in list(self._want):
            if not fut.done() and (self.nbytes >= n or self.lost.done()):
                fut.set_result(None)
        self._want = [(n, f) for n, f in self._want if not f.done()]

    async def received(self, n):
        """Wait until n bytes in total have arrived (or the connection is gone)."""
        if self.nbytes < n and not self.lost.done():
            fut = self.loop.create_future()
            self._want.append((n, fut))
            await fut
        assert self.nbytes >= n, f"connection lost after {self.nbytes} of {n} bytes"


class Source(Peer):
    """Sends `data` as fast as flow control allows (chunks while not paused), then write_eof."""

    def __init__(self, loop, data, *, high, low, chunk=64 * 1024, **kw):
        super().__init__(loop, **kw)
        self.payload, self.high, self.low, self.chunk = data, high, low, chunk
        self.pos = 0
        self.paused = False
        self.limits = None

    def connection_made(self, transport):
        transport.set_write_buffer_limits(high=self.high, low=self.low)
        self.limits = transport.get_write_buffer_limits()
        super().connection_made(transport)
        self._pump()

    def _pump(self):
        tr = self.transport
        while not self.paused and self.pos < len(self.payload) and not tr.is_closing():
            tr.write(self.payload[self.pos:self.pos + self.chunk])
            self.pos += self.chunk
        if self.pos >= len(self.payload) and not self.paused and "eof_sent" not in self.events:
            self.events.append("eof_sent")
            if tr.can_write_eof():
                tr.write_eof()
            else:
                tr.close()       # TLS has no half-close: close_notify, after the data

    def pause_writing(self):
        self.paused = True
        super().pause_writing()

    def resume_writing(self):
        self.paused = False
        super().resume_writing()
        self._pump()


class Side:
    """A protocol factory that keeps the protocols it made."""

    def __init__(self, loop, cls=Peer, **kw):
        self.loop, self.cls, self.kw = loop, cls, kw
        self.protos = []

    def __call__(self):
        p = self.cls(self.loop, **self.kw)
        self.protos.append(p)
        return p

    async def first(self):
        while not self.protos:
            await asyncio.sleep(0.005)
        await self.protos[0].made
        return self.protos[0]


class WarningLog(logging.Handler):
    """Collects asyncio's log records while installed."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def messages(self, level=logging.WARNING):
        return [r.getMessage() for r in self.records if r.levelno >= level]

    def __enter__(self):
        logging.getLogger("asyncio").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("asyncio").removeHandler(self)


async def close_writer(w):
    w.close()
    await w.wait_closed()


async def closed(*protos):
    """Wait for every protocol's connection_lost; returns the exceptions."""
    return [await p.lost for p in protos]


def bind_error(sa, err):
    """The message of the OSError asyncio's create_server raises when bind() fails with
    errno err, as this Python's stock loop words it over a kernel socket."""
    if sys.version_info >= (3, 13):
        why = str(OSError(err, os.strerror(err))).lower()
    else:
        why = os.strerror(err).lower()
    return f"error while attempting to bind on address {sa!r}: {why}"


def flow_ok(flow, high, low):
    """pause/resume alternate, start with pause, end resumed; pause only above the high mark,
    resume only at or below the low mark."""
    kinds = [k for k, _ in flow]
    assert kinds and kinds[0] == "pause" and kinds[-1] == "resume", kinds
    assert all(a != b for a, b in zip(kinds, kinds[1:])), kinds
    for kind, size in flow:
        assert (size > high) if kind == "pause" else (size <= low), (kind, size, high, low)


class LoopParity:
    """The suite.  Targets provide self.loop, create_server/start_server, server_addr,
    connect/open_connection, refused_addr, bind_host, client_host, client_bind_host,
    foreign_host, fastnet_sides."""

    async def _pair(self, server_kw=None, client_kw=None, **both):
        """One server, one connection: (server, server Side, client transport, client)."""
        srv_side = Side(self.loop, **{**both, **(server_kw or {})})
        server = await self.create_server(srv_side)
        tr, cli = await self.connect(lambda: Peer(self.loop, **{**both, **(client_kw or {})}),
                                     self.server_addr(server))
        return server, srv_side, tr, cli

    async def _close_server(self, server):
        server.close()
        await server.wait_closed()

    async def _stream_server(self, body, **kw):
        """start_server whose callback runs body(r, w); the returned future gets body's
        result or exception (so a failing assertion in the server fails the test)."""
        outcome = self.loop.create_future()

        async def handler(r, w):
            try:
                outcome.set_result(await body(r, w))
            except BaseException as e:
                outcome.set_exception(e)

        return await self.start_server(handler, **kw), outcome

    async def _end(self, server, transport, *protos):
        """Close the transport, expect every protocol to see a clean end, close the server."""
        transport.close()
        assert await closed(*protos) == [None] * len(protos)
        await self._close_server(server)

    # ---------------------------------------------------------------------- echo
    @async_test()
    async def test_echo_protocol(self):
        server, srv_side, tr, cli = await self._pair(server_kw={"echo": True})
        srv = await srv_side.first()
        expect = b""
        for m in (b"a", b"hello", payload(65536), payload(1000, 2), b"end"):
            tr.write(m)
            expect += m
            await cli.received(len(expect))
        assert bytes(cli.data) == expect and bytes(srv.data) == expect
        assert cli.types == {bytes} and srv.types == {bytes}
        tr.close()
        assert await closed(cli, srv) == [None, None]
        assert cli.events == ["made", "lost"]
        assert srv.events == ["made", "eof", "lost"]
        await self._close_server(server)

    @async_test()
    async def test_server_speaks_first_and_closes_with_data_queued(self):
        banner = payload(2 * MiB, 3)

        def speak(p):
            p.transport.write(banner)
            p.transport.close()            # must flush the queued banner before the FIN
            assert p.transport.is_closing()

        server, srv_side, tr, cli = await self._pair(server_kw={"on_made": speak})
        srv = await srv_side.first()
        assert await closed(cli, srv) == [None, None]
        assert sha(bytes(cli.data)) == sha(banner)
        assert cli.events == ["made", "eof", "lost"]
        assert [e for e in srv.events if e not in ("pause", "resume")] == ["made", "lost"]
        await self._close_server(server)

    @async_test()
    async def test_echo_streams(self):
        async def echo_lines(r, w):
            while line := await r.readline():
                w.write(line)
                await w.drain()
            await close_writer(w)

        server, handled = await self._stream_server(echo_lines)
        r, w = await self.open_connection(self.server_addr(server))
        lines = [b"%d %s\n" % (i, b"x" * i) for i in range(300)]
        w.writelines(lines)
        await w.drain()
        for line in lines:
            assert await r.readline() == line
        w.write_eof()
        assert await r.read() == b""
        assert r.at_eof()
        await close_writer(w)
        await handled
        await self._close_server(server)

    # ---------------------------------------------------------------------- streams API
    CRAFTED = [b"li", b"ne1\nline2\r", b"\n" + b"X" * 500, b"X" * 500 + b"--EN", b"D--tail"]

    @staticmethod
    async def _write_crafted(w):
        for piece in LoopParity.CRAFTED:
            w.write(piece)
            await w.drain()
            await asyncio.sleep(0.005)     # separate segments: the reader must reassemble
        w.write_eof()

    @staticmethod
    async def _read_crafted(r):
        assert await r.readline() == b"line1\n"
        assert await r.readuntil(b"\r\n") == b"line2\r\n"
        assert await r.readexactly(1000) == b"X" * 1000
        assert await r.readuntil(b"--END--") == b"--END--"
        with pytest.raises(asyncio.IncompleteReadError) as ei:
            await r.readexactly(10)
        assert ei.value.partial == b"tail" and ei.value.expected == 10
        assert r.at_eof()
        assert await r.read() == b""

    @async_test()
    async def test_stream_reader_api_both_directions(self):
        async def read_then_write(r, w):
            await self._read_crafted(r)
            await self._write_crafted(w)
            await close_writer(w)

        server, handled = await self._stream_server(read_then_write)
        r, w = await self.open_connection(self.server_addr(server))
        await self._write_crafted(w)
        await self._read_crafted(r)
        await handled
        await close_writer(w)
        await self._close_server(server)

    @async_test()
    async def test_stream_limits(self):
        go = asyncio.Event()

        async def send_long_lines(r, w):
            w.write(b"Z" * 300 + b"|" + b"ok\n")
            await go.wait()
            w.write(b"Y" * 200 + b"\n")
            await w.drain()
            await r.read()
            await close_writer(w)

        server, handled = await self._stream_server(send_long_lines)
        r, w = await self.open_connection(self.server_addr(server), limit=64)
        with pytest.raises(asyncio.LimitOverrunError) as ei:
            await r.readuntil(b"|")
        assert ei.value.consumed > 64
        assert await r.readexactly(301) == b"Z" * 300 + b"|"     # nothing was consumed
        assert await r.readline() == b"ok\n"
        go.set()
        with pytest.raises(ValueError):
            await r.readline()
        await close_writer(w)
        await handled
        await self._close_server(server)

    @pytest.mark.parametrize("sender", ["client", "server"])
    @async_test()
    async def test_stream_drain_backpressure(self, sender):
        data = payload(8 * MiB, 7)
        chunk = 256 * 1024

        async def send(w):
            w.transport.set_write_buffer_limits(high=65536)
            most = 0
            for i in range(0, len(data), chunk):
                w.write(data[i:i + chunk])
                most = max(most, w.transport.get_write_buffer_size())
                await w.drain()
            w.write_eof()
            return most

        async def sink(r):
            await asyncio.sleep(0.3)         # the sender's buffers fill meanwhile
            h, n = hashlib.sha256(), 0
            while block := await r.read(65536):
                h.update(block)
                n += len(block)
            return n, h.hexdigest()

        async def server_side(r, w):
            if sender == "server":
                most = await send(w)
            else:
                most = await sink(r)
            await close_writer(w)
            return most

        server, result = await self._stream_server(server_side)
        r, w = await self.open_connection(self.server_addr(server))
        if sender == "client":
            most = await send(w)
            assert await result == (len(data), sha(data))
        else:
            assert await sink(r) == (len(data), sha(data))
            most = await result
        assert most > 65536          # drain() had to wait: the writer really was held back
        await close_writer(w)
        await self._close_server(server)

    # ---------------------------------------------------------------------- bulk + flow control
    @pytest.mark.parametrize("sender", ["client", "server"])
    @async_test(timeout=45)
    async def test_large_transfer_backpressure(self, sender):
        data = payload(16 * MiB, 11)
        high, low = 256 * 1024, 64 * 1024
        src_kw = {"cls": Source, "data": data, "high": high, "low": low, "store": False}
        sink_kw = {"pause_first": 0.3, "store": False}
        srv_side = Side(self.loop, **(src_kw if sender == "server" else sink_kw))
        server = await self.create_server(srv_side)
        if sender == "client":
            tr, cli = await self.connect(
                lambda: Source(self.loop, data, high=high, low=low, store=False),
                self.server_addr(server))
        else:
            tr, cli = await self.connect(lambda: Peer(self.loop, **sink_kw),
                                         self.server_addr(server))
        srv = await srv_side.first()
        src, snk = (cli, srv) if sender == "client" else (srv, cli)
        assert await closed(src, snk) == [None, None]
        assert src.limits == (low, high)
        assert snk.nbytes == len(data) and snk.hasher.hexdigest() == sha(data)
        flow_ok(src.flow, high, low)
        assert snk.events == ["made", "eof", "lost"]
        assert [e for e in src.events if e not in ("pause", "resume")] == \
            ["made", "eof_sent", "eof", "lost"]
        await self._close_server(server)

    @async_test(timeout=15)
    async def test_echo_under_backpressure(self):
        data = payload(8 * MiB, 13)
        server, srv_side, tr, cli = await self._pair(server_kw={"echo": True},
                                                     client_kw={"store": False,
                                                                "pause_first": 0.3})
        srv = await srv_side.first()
        tr.write(data)                   # all at once: the client's buffer holds the rest
        assert tr.get_write_buffer_size() > 0
        await cli.received(len(data))
        assert cli.hasher.hexdigest() == sha(data)
        # The client did not read for 0.3 s: the echo filled up, paused the server's reading,
        # and that held back the client's own writing.
        assert srv.events.count("pause") == srv.events.count("resume") >= 1
        assert cli.events.count("pause") == cli.events.count("resume") >= 1
        await self._end(server, tr, cli, srv)

    # ---------------------------------------------------------------------- half-close
    @BOTH_SIDES
    @async_test()
    async def test_half_close(self, side):
        def ask(p):
            assert p.transport.can_write_eof()
            p.transport.write(b"request")
            p.transport.write_eof()
            assert not p.transport.is_closing()

        def answer(p):
            p.transport.write(b"response:" + bytes(p.data))
            p.transport.close()

        first = {"on_made": ask}
        second = {"keep_open": True, "on_eof": answer}
        server, srv_side, tr, cli = await self._pair(
            server_kw=first if side == "server" else second,
            client_kw=first if side == "client" else second)
        srv = await srv_side.first()
        asker, answerer = (cli, srv) if side == "client" else (srv, cli)
        assert await closed(asker, answerer) == [None, None]
        assert bytes(answerer.data) == b"request"
        assert bytes(asker.data) == b"response:request"
        assert answerer.events == ["made", "eof", "lost"]
        assert asker.events == ["made", "eof", "lost"]
        await self._close_server(server)

    # ---------------------------------------------------------------------- reset / abort
    @staticmethod
    def _reset(transport):
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                      LINGER_RST)
        transport.abort()

    @BOTH_SIDES
    @async_test()
    async def test_reset_by_peer_protocol(self, side):
        def reset_on_ping(p, data):
            if bytes(p.data) == b"ping":
                self._reset(p.transport)

        def ping(p):
            p.transport.write(b"ping")

        aborter, victim = {"on_data": reset_on_ping}, {"on_made": ping}
        server, srv_side, tr, cli = await self._pair(
            server_kw=aborter if side == "server" else victim,
            client_kw=aborter if side == "client" else victim)
        srv = await srv_side.first()
        a, v = (cli, srv) if side == "client" else (srv, cli)
        assert await a.lost is None
        exc = await v.lost
        assert isinstance(exc, ConnectionResetError), repr(exc)
        assert exc.errno == errno.ECONNRESET
        assert v.events == ["made", "lost"]
        assert v.transport.is_closing()
        await self._close_server(server)

    @BOTH_SIDES
    @async_test()
    async def test_reset_by_peer_streams(self, side):
        async def aborts(r, w):
            assert await r.readexactly(4) == b"ping"
            self._reset(w.transport)

        async def victim(r, w):
            w.write(b"ping")
            with pytest.raises(ConnectionResetError):
                await r.read(100)
            with pytest.raises(ConnectionResetError):
                await w.wait_closed()
            w.close()

        server, outcome = await self._stream_server(aborts if side == "server" else victim)
        r, w = await self.open_connection(self.server_addr(server))
        await (aborts if side == "client" else victim)(r, w)
        await outcome
        await self._close_server(server)

    @BOTH_SIDES
    @async_test()
    async def test_abort_discards_buffered_data(self, side):
        data = payload(8 * MiB, 17)
        server, srv_side, tr, cli = await self._pair(
            server_kw={"pause_first": 0 if side == "client" else None, "store": False},
            client_kw={"pause_first": 0 if side == "server" else None, "store": False})
        srv = await srv_side.first()
        a, v = (cli, srv) if side == "client" else (srv, cli)
        a.transport.write(data)
        await asyncio.sleep(0.05)
        assert a.transport.get_write_buffer_size() > 0
        a.transport.abort()
        assert a.transport.is_closing()
        assert a.transport.get_write_buffer_size() == 0
        assert not a.lost.done()             # connection_lost comes from the loop, not abort()
        a.transport.abort()
        a.transport.close()
        a.transport.write(b"ignored")
        assert await a.lost is None
        assert [e for e in a.events if e not in ("pause", "resume")] == ["made", "lost"]
        v.transport.resume_reading()
        assert await v.lost is None
        assert v.events == ["made", "eof", "lost"]
        assert v.nbytes < len(data)
        await self._close_server(server)

    @BOTH_SIDES
    @async_test()
    async def test_close_with_unread_data_resets_peer(self, side):
        # Closing a socket whose received data was never read resets the connection
        # (RFC 9293 §3.10.4 / RFC 2525 §2.17, what Linux does): the peer, idle in reading,
        # sees ConnectionResetError.
        def send(p):
            p.transport.write(b"never read")

        server, srv_side, tr, cli = await self._pair(
            server_kw={"pause_first": 0} if side == "server" else {"on_made": send},
            client_kw={"pause_first": 0} if side == "client" else {"on_made": send})
        srv = await srv_side.first()
        closer, peer = (cli, srv) if side == "client" else (srv, cli)
        await asyncio.sleep(0.1)             # the data is in the closer's receive buffer
        assert closer.nbytes == 0
        closer.transport.close()
        assert await closer.lost is None
        exc = await peer.lost
        assert isinstance(exc, ConnectionResetError), repr(exc)
        assert peer.events == ["made", "lost"]
        await self._close_server(server)

    # ---------------------------------------------------------------------- timeout
    # A peer that goes silent (the link cut both ways, self.cut) with keepalive on: after
    # KEEPIDLE s without a segment and KEEPCNT unanswered probes KEEPINTVL s apart the
    # connection is dropped, and the transport's connection_lost gets the error the kernel
    # gives recv(): TimeoutError, errno ETIMEDOUT (RFC 1122 §4.2.3.6; Linux tcp_keepalive_timer).
    KEEPIDLE, KEEPINTVL, KEEPCNT = 1, 1, 2
    # Before cutting, long enough for the last ACK to get through (a delayed ACK is at most
    # 200 ms on Linux, 40 ms on fastnet by default): with data left unacknowledged, the
    # retransmission timer, not keepalive, would decide (and take minutes).
    QUIET_S = 0.5

    @classmethod
    def _keepalive(cls, transport):
        s = transport.get_extra_info("socket")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, cls.KEEPIDLE)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, cls.KEEPINTVL)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, cls.KEEPCNT)
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == cls.KEEPCNT

    def _keepalive_drops(self):
        return sum(s.stats()["tcp_keepalive_drops"] for s in self.loop.stacks) \
            if self.fastnet else 0

    @staticmethod
    def _is_timeout(exc):
        assert isinstance(exc, TimeoutError), repr(exc)
        assert exc.errno == errno.ETIMEDOUT, repr(exc)
        assert exc.strerror == os.strerror(errno.ETIMEDOUT)

    @async_test(blackhole=True)
    async def test_keepalive_timeout_protocol(self):
        server, srv_side, tr, cli = await self._pair(server_kw={"echo": True})
        srv = await srv_side.first()
        drops = self._keepalive_drops()
        for p in (cli, srv):
            self._keepalive(p.transport)
        tr.write(b"ping")
        await cli.received(4)
        await asyncio.sleep(self.QUIET_S)
        self.cut(self.server_addr(server)[1])
        t0 = self.loop.time()
        for exc in await closed(cli, srv):
            self._is_timeout(exc)
        assert self.loop.time() - t0 >= self.KEEPIDLE    # not before the first probe
        assert cli.events == ["made", "lost"] and srv.events == ["made", "lost"]
        assert tr.is_closing() and srv.transport.is_closing()
        assert self._keepalive_drops() - drops == len(self.fastnet_sides)
        await self._close_server(server)

    @BOTH_SIDES
    @async_test(blackhole=True)
    async def test_user_timeout_with_data_in_flight(self, side):
        # Data written after the cut stays unacknowledged: keepalive does not probe while
        # there is something to send, and the retransmissions alone would go on for
        # minutes (Linux tcp_retries2 15, fastnet tcp_max_rexmits 15); TCP_USER_TIMEOUT
        # (RFC 5482) ends them.  The other end, with nothing to send, dies of keepalive.
        server, srv_side, tr, cli = await self._pair(server_kw={"echo": True})
        srv = await srv_side.first()
        sender, other = (cli, srv) if side == "client" else (srv, cli)
        drops = self._keepalive_drops()
        self._keepalive(other.transport)
        s = sender.transport.get_extra_info("socket")
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 1500)
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 1500
        tr.write(b"ping")
        await cli.received(4)
        await asyncio.sleep(self.QUIET_S)
        self.cut(self.server_addr(server)[1])
        # A fastnet stack's clock is read once per loop iteration, and cut() blocked in nft
        # for a while: one iteration first, so the data is stamped with the time it is sent.
        await asyncio.sleep(0)
        t0 = self.loop.time()
        sender.transport.write(payload(100000, 43))
        self._is_timeout(await sender.lost)
        assert self.loop.time() - t0 >= 1.5
        self._is_timeout(await other.lost)
        assert sender.transport.get_write_buffer_size() == 0
        assert [e for e in sender.events if e not in ("pause", "resume")] == ["made", "lost"]
        assert other.events == ["made", "lost"]
        fastnet_other = ("server" if side == "client" else "client") in self.fastnet_sides
        assert self._keepalive_drops() - drops == int(fastnet_other)
        await self._close_server(server)

    @async_test(blackhole=True)
    async def test_keepalive_timeout_streams(self):
        cut = asyncio.Event()

        async def times_out(r, w):
            # Every stream call after the loss raises the transport's exception.
            await cut.wait()
            with pytest.raises(TimeoutError) as ei:
                await r.read(100)
            self._is_timeout(ei.value)
            assert r.exception() is ei.value
            with pytest.raises(TimeoutError):
                await r.readexactly(1)
            w.write(b"late")                 # after connection_lost: dropped, never raises
            with pytest.raises(TimeoutError):
                await w.drain()
            with pytest.raises(TimeoutError):
                await w.wait_closed()
            assert w.is_closing()
            w.close()

        async def serve(r, w):
            self._keepalive(w.transport)
            assert await r.readexactly(4) == b"ping"
            w.write(b"pong")
            await w.drain()
            await times_out(r, w)

        server, outcome = await self._stream_server(serve)
        r, w = await self.open_connection(self.server_addr(server))
        self._keepalive(w.transport)
        w.write(b"ping")
        assert await r.readexactly(4) == b"pong"
        await asyncio.sleep(self.QUIET_S)
        self.cut(self.server_addr(server)[1])
        cut.set()
        await times_out(r, w)
        await outcome
        await self._close_server(server)

    # ---------------------------------------------------------------------- pause_reading
    @BOTH_SIDES
    @async_test()
    async def test_pause_resume_reading_idempotent(self, side):
        def send(p):
            p.transport.write(b"x" * 1000)

        server, srv_side, tr, cli = await self._pair(
            server_kw={"pause_first": 0} if side == "server" else {"on_made": send},
            client_kw={"pause_first": 0} if side == "client" else {"on_made": send})
        srv = await srv_side.first()
        p, other = (cli, srv) if side == "client" else (srv, cli)
        t = p.transport
        assert not t.is_reading()
        t.pause_reading()                    # again: no error, still paused
        assert not t.is_reading()
        await asyncio.sleep(0.2)
        assert p.nbytes == 0 and p.events == ["made"]
        t.resume_reading()
        assert t.is_reading()
        t.resume_reading()
        assert t.is_reading()
        await p.received(1000)
        assert bytes(p.data) == b"x" * 1000
        t.pause_reading()
        t.pause_reading()
        other.transport.write(b"y" * 10)
        await asyncio.sleep(0.1)
        assert p.nbytes == 1000
        t.resume_reading()
        await p.received(1010)
        t.close()
        assert not t.is_reading()
        t.pause_reading()                    # on a closing transport: no-ops
        t.resume_reading()
        assert not t.is_reading()
        assert await closed(p, other) == [None, None]
        await self._close_server(server)

    # ---------------------------------------------------------------------- BufferedProtocol
    @pytest.mark.parametrize("receiver", ["client", "server"])
    @async_test()
    async def test_buffered_protocol(self, receiver):
        data = payload(4 * MiB, 19)
        sizes = (1, 7, 4096, 65536)

        class Sink(asyncio.BufferedProtocol):
            def __init__(s):
                s.gets = s.updates = 0
                s.hints = set()
                s.armed = False
                s.hasher = hashlib.sha256()
                s.nbytes = 0
                s.events = []
                s.made = self.loop.create_future()
                s.lost = self.loop.create_future()

            def connection_made(s, transport):
                s.transport = transport
                s.events.append("made")
                s.made.set_result(None)

            def get_buffer(s, sizehint):
                s.hints.add(type(sizehint))
                s.buf = bytearray(sizes[s.gets % len(sizes)])
                s.gets += 1
                s.armed = True
                return s.buf

            def buffer_updated(s, nbytes):
                assert s.armed and 0 < nbytes <= len(s.buf), (s.armed, nbytes, len(s.buf))
                s.armed = False
                s.updates += 1
                s.hasher.update(s.buf[:nbytes])
                s.nbytes += nbytes

            def eof_received(s):
                s.events.append("eof")

            def connection_lost(s, exc):
                s.events.append("lost")
                s.lost.set_result(exc)

        src_kw = {"cls": Source, "data": data, "high": 65536, "low": 16384, "store": False}
        if receiver == "server":
            srv_side = Side(self.loop, cls=lambda loop: Sink())
        else:
            srv_side = Side(self.loop, **src_kw)
        server = await self.create_server(srv_side)
        if receiver == "server":
            tr, cli = await self.connect(
                lambda: Source(self.loop, data, high=65536, low=16384, store=False),
                self.server_addr(server))
        else:
            tr, cli = await self.connect(Sink, self.server_addr(server))
        srv = await srv_side.first()
        sink, src = (srv, cli) if receiver == "server" else (cli, srv)
        assert await closed(sink, src) == [None, None]
        assert sink.nbytes == len(data) and sink.hasher.hexdigest() == sha(data)
        assert sink.updates >= len(data) // sum(sizes) and sink.gets >= sink.updates
        assert sink.hints == {int}
        assert sink.events == ["made", "eof", "lost"]
        await self._close_server(server)

    # ---------------------------------------------------------------------- TLS
    @async_test()
    async def test_tls_echo_protocol(self):
        ctx = client_ssl_context()
        srv_side = Side(self.loop, echo=True)
        server = await self.create_server(srv_side, ssl=server_ssl_context())
        tr, cli = await self.connect(lambda: Peer(self.loop, store=False),
                                     self.server_addr(server), ssl=ctx,
                                     server_hostname=TLS_HOSTNAME)
        srv = await srv_side.first()
        data = payload(2 * MiB, 23)
        tr.write(data)
        await cli.received(len(data))
        assert cli.hasher.hexdigest() == sha(data)
        assert isinstance(tr.get_extra_info("ssl_object"), ssl.SSLObject)
        assert tr.get_extra_info("sslcontext") is ctx
        assert dict(x[0] for x in tr.get_extra_info("peercert")["subject"]) == \
            {"commonName": TLS_HOSTNAME}
        assert tr.get_extra_info("cipher")[1].startswith("TLSv1.")
        assert tr.get_extra_info("peername") == srv.transport.get_extra_info("sockname")
        assert srv.transport.get_extra_info("peername") == tr.get_extra_info("sockname")
        assert not tr.can_write_eof()
        await self._end(server, tr, cli, srv)

    @async_test(timeout=45)
    async def test_tls_large_transfer_backpressure(self):
        data = payload(8 * MiB, 41)
        high, low = 128 * 1024, 32 * 1024
        srv_side = Side(self.loop, pause_first=0.3, store=False)
        server = await self.create_server(srv_side, ssl=server_ssl_context())
        tr, src = await self.connect(
            lambda: Source(self.loop, data, high=high, low=low, store=False),
            self.server_addr(server), ssl=client_ssl_context(), server_hostname=TLS_HOSTNAME)
        snk = await srv_side.first()
        assert await closed(src, snk) == [None, None]
        assert snk.nbytes == len(data) and snk.hasher.hexdigest() == sha(data)
        flow_ok(src.flow, high, low)
        assert snk.events == ["made", "eof", "lost"]
        await self._close_server(server)

    @async_test()
    async def test_tls_streams(self):
        async def upper_lines(r, w):
            while line := await r.readline():
                w.write(line.upper())
                await w.drain()
            await close_writer(w)

        server, handled = await self._stream_server(upper_lines, ssl=server_ssl_context())
        r, w = await self.open_connection(self.server_addr(server), ssl=client_ssl_context(),
                                          server_hostname=TLS_HOSTNAME)
        for i in range(50):
            w.write(b"line %d %s\n" % (i, b"t" * (i * 100)))
            assert await r.readline() == b"LINE %d %s\n" % (i, b"T" * (i * 100))
        await close_writer(w)
        await handled
        await self._close_server(server)

    @async_test()
    async def test_tls_untrusted_certificate_fails(self):
        srv_side = Side(self.loop)
        server = await self.create_server(srv_side, ssl=server_ssl_context())
        with pytest.raises(ssl.SSLCertVerificationError):
            await self.connect(lambda: Peer(self.loop), self.server_addr(server),
                               ssl=client_ssl_context(trust=False),
                               server_hostname=TLS_HOSTNAME)
        await asyncio.sleep(0.2)
        assert all(p.events == [] for p in srv_side.protos)    # never connected
        await self._close_server(server)

    @async_test()
    async def test_start_tls_protocol(self):
        upgraded = self.loop.create_future()

        def on_data(p, data):
            if upgraded.done():
                p.transport.write(data)
            elif bytes(p.data) == b"STARTTLS\n":
                p.transport.write(b"OK\n")
                self.loop.create_task(upgrade(p))

        async def upgrade(p):
            try:
                p.transport = await self.loop.start_tls(p.transport, p, server_ssl_context(),
                                                        server_side=True)
                upgraded.set_result(p.transport)
            except BaseException as e:
                upgraded.set_exception(e)

        server, srv_side, tr, cli = await self._pair(server_kw={"on_data": on_data})
        srv = await srv_side.first()
        tr.write(b"STARTTLS\n")
        await cli.received(3)
        assert bytes(cli.data) == b"OK\n"
        tls = await self.loop.start_tls(tr, cli, client_ssl_context(),
                                        server_hostname=TLS_HOSTNAME)
        cli.transport = tls
        srv_tls = await upgraded
        assert isinstance(tls.get_extra_info("ssl_object"), ssl.SSLObject)
        assert isinstance(srv_tls.get_extra_info("ssl_object"), ssl.SSLObject)
        secret = payload(256 * 1024, 29)
        tls.write(secret)
        await cli.received(3 + len(secret))
        assert bytes(cli.data) == b"OK\n" + secret
        tls.close()
        assert await closed(cli, srv) == [None, None]
        await self._close_server(server)

    @async_test()
    async def test_start_tls_streams(self):
        async def upgrade(r, w):
            assert await r.readline() == b"STARTTLS\n"
            w.write(b"OK\n")
            await w.drain()
            await w.start_tls(server_ssl_context())
            line = await r.readline()
            w.write(b"secure " + line)
            await w.drain()
            await close_writer(w)
            return w.get_extra_info("ssl_object") is not None

        server, handled = await self._stream_server(upgrade)
        r, w = await self.open_connection(self.server_addr(server))
        w.write(b"STARTTLS\n")
        assert await r.readline() == b"OK\n"
        await w.start_tls(client_ssl_context(), server_hostname=TLS_HOSTNAME)
        assert isinstance(w.get_extra_info("ssl_object"), ssl.SSLObject)
        w.write(b"hello\n")
        assert await r.readline() == b"secure hello\n"
        assert await r.read() == b""
        assert await handled is True
        await close_writer(w)
        await self._close_server(server)

    # ---------------------------------------------------------------------- Server objects
    async def _roundtrip(self, server):
        tr, cli = await self.connect(lambda: Peer(self.loop), self.server_addr(server))
        tr.write(b"ping")
        await cli.received(4)
        return tr, cli

    async def _refused(self, addr):
        with pytest.raises(ConnectionRefusedError) as ei:
            await self.connect(lambda: Peer(self.loop), addr)
        assert ei.value.errno == errno.ECONNREFUSED

    @async_test()
    async def test_server_start_serving_later(self):
        srv_side = Side(self.loop, echo=True)
        server = await self.create_server(srv_side, start_serving=False)
        assert server.get_loop() is self.loop
        assert not server.is_serving()
        assert len(server.sockets) == 1
        addr = self.server_addr(server)
        assert addr[1] != 0
        await self._refused(addr)            # bound, not yet listening
        await server.start_serving()
        assert server.is_serving()
        await server.start_serving()         # again: no-op
        tr, cli = await self._roundtrip(server)
        assert bytes(cli.data) == b"ping"
        await self._end(server, tr, cli, *srv_side.protos)
        assert not server.is_serving()

    @async_test()
    async def test_server_close_keeps_connections(self):
        srv_side = Side(self.loop, echo=True)
        server = await self.create_server(srv_side)
        addr = self.server_addr(server)
        tr, cli = await self._roundtrip(server)
        waiter = self.loop.create_task(server.wait_closed())
        await asyncio.sleep(0)               # waiting before close(): same on 3.11 and later
        server.close()
        assert not server.is_serving()
        assert len(server.sockets) == 0
        server.close()                       # again: no-op
        await self._refused(addr)
        tr.write(b"still")                   # the accepted connection is not closed
        await cli.received(9)
        assert bytes(cli.data) == b"pingstill"
        await asyncio.sleep(0.1)
        assert not waiter.done()             # waits for the last connection
        tr.close()
        await closed(cli, *srv_side.protos)
        await asyncio.wait_for(waiter, 5)
        await server.wait_closed()           # everything is gone: returns at once

    @async_test()
    async def test_serve_forever_cancelled(self):
        srv_side = Side(self.loop, echo=True)
        server = await self.create_server(srv_side, start_serving=False)
        addr = self.server_addr(server)
        task = self.loop.create_task(server.serve_forever())
        await asyncio.sleep(0.01)
        assert server.is_serving()
        with pytest.raises(RuntimeError, match="is already being awaited on serve_forever"):
            await server.serve_forever()
        tr, cli = await self._roundtrip(server)
        tr.close()
        await closed(cli, *srv_side.protos)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()
        assert len(server.sockets) == 0
        await self._refused(addr)
        await server.wait_closed()

    @async_test()
    async def test_server_async_with(self):
        srv_side = Side(self.loop, echo=True)
        server = await self.create_server(srv_side)
        addr = self.server_addr(server)
        async with server as s:
            assert s is server and server.is_serving()
            tr, cli = await self._roundtrip(server)
            tr.close()
            await closed(cli, *srv_side.protos)
        assert not server.is_serving()
        await self._refused(addr)

    @pytest.mark.skipif(sys.version_info < (3, 13),
                        reason="Server.close_clients/abort_clients are new in Python 3.13 "
                               "(tests/test_pyversions.py runs this test on 3.13)")
    @async_test()
    async def test_server_close_clients_and_abort_clients(self):
        srv_side = Side(self.loop, echo=True)
        server = await self.create_server(srv_side)
        c1 = await self._roundtrip(server)
        c2 = await self._roundtrip(server)
        server.close()
        server.close_clients()
        assert await closed(c1[1], c2[1]) == [None, None]
        assert await closed(*srv_side.protos) == [None, None]
        await server.wait_closed()
        server2 = await self.create_server(Side(self.loop, pause_first=0, store=False))
        tr, cli = await self.connect(lambda: Peer(self.loop, store=False),
                                     self.server_addr(server2))
        tr.write(payload(4 * MiB, 31))
        await asyncio.sleep(0.05)
        server2.close()
        server2.abort_clients()
        assert await cli.lost is None or isinstance(cli.lost.result(), ConnectionResetError)
        tr.close()
        await server2.wait_closed()

    # ---------------------------------------------------------------------- many connections
    @async_test(timeout=60)
    async def test_many_concurrent_connections(self):
        n = 1000
        srv_side = Side(self.loop, echo=True)
        server = await self.create_server(srv_side)
        addr = self.server_addr(server)
        gate = asyncio.Semaphore(200)        # bounded SYN bursts; all stay open at once

        async def one(i):
            async with gate:
                tr, cli = await self.connect(lambda: Peer(self.loop), addr)
            msg = b"conn %06d " % i * 4
            tr.write(msg)
            await cli.received(len(msg))
            assert bytes(cli.data) == msg
            return tr, cli

        conns = await asyncio.gather(*(one(i) for i in range(n)))
        assert len(srv_side.protos) == n
        assert all(p.events == ["made"] for p in srv_side.protos)   # all open together
        assert len({tr.get_extra_info("sockname") for tr, _ in conns}) == n
        for tr, _ in conns:
            tr.close()
        assert await closed(*(c for _, c in conns)) == [None] * n
        assert await closed(*srv_side.protos) == [None] * n
        await self._close_server(server)

    # ---------------------------------------------------------------------- get_extra_info
    @async_test()
    async def test_get_extra_info(self):
        server, srv_side, tr, cli = await self._pair()
        srv = await srv_side.first()
        st = srv.transport
        addr = self.server_addr(server)
        assert tr.get_extra_info("peername") == addr
        assert st.get_extra_info("sockname") == addr
        assert tr.get_extra_info("sockname") == st.get_extra_info("peername")
        assert tr.get_extra_info("sockname")[0] == self.client_bind_host    # the routing rule
        for t in (tr, st):
            s = t.get_extra_info("socket")
            assert s.family == socket.AF_INET
            assert s.getsockname() == t.get_extra_info("sockname")
            assert s.getpeername() == t.get_extra_info("peername")
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0   # asyncio sets it
            s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
            assert t.get_extra_info("no such key") is None
            assert t.get_extra_info("no such key", 42) == 42
            assert t.get_extra_info("peercert") is None and t.get_extra_info("sslcontext") is None
            assert t.get_protocol() in (cli, srv)
            assert not t.is_closing()
        await self._end(server, tr, cli, srv)

    # ---------------------------------------------------------------------- sendfile
    @pytest.mark.parametrize("sender", ["client", "server"])
    @async_test()
    async def test_sendfile(self, sender, tmp_path):
        # Frameworks serve files with loop.sendfile (os.sendfile on a kernel socket, the
        # read-and-write fallback on other transports): both must give the same bytes.
        data = payload(3 * MiB + 123, 37)
        path = tmp_path / "blob"
        path.write_bytes(data)
        server, srv_side, tr, cli = await self._pair(
            client_kw={"store": False} if sender == "server" else {},
            server_kw={"store": False} if sender == "client" else {})
        srv = await srv_side.first()
        src, dst = (cli, srv) if sender == "client" else (srv, cli)
        with open(path, "rb") as f:
            sent = await self.loop.sendfile(src.transport, f, offset=100, count=2 * MiB)
            assert sent == 2 * MiB and f.tell() == 100 + 2 * MiB
        await dst.received(2 * MiB)
        src.transport.write(b"!")            # the transport is usable again afterwards
        await dst.received(2 * MiB + 1)
        assert dst.hasher.hexdigest() == sha(data[100:100 + 2 * MiB] + b"!")
        await self._end(server, tr, cli, srv)

    # ---------------------------------------------------------------------- loop services
    @async_test()
    async def test_loop_services_keep_working(self):
        # The fastnet loop is asyncio's own loop plus stacks: timers, call_soon order,
        # executors, name resolution and kernel sockets behave as on the stock loop.
        order = []
        t0 = self.loop.time()
        self.loop.call_later(0.05, order.append, "later")
        self.loop.call_soon(order.append, "soon1")
        self.loop.call_soon(order.append, "soon2")
        for _ in range(5):
            assert await self.loop.run_in_executor(None, sum, (1, 2, 3)) == 6
        infos = await self.loop.getaddrinfo("localhost", "http", family=socket.AF_INET,
                                            type=socket.SOCK_STREAM)
        assert infos and all(i[4] == ("127.0.0.1", 80) for i in infos)
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            b.setblocking(False)
            await self.loop.sock_sendall(a, b"over a kernel socketpair")
            assert await self.loop.sock_recv(b, 100) == b"over a kernel socketpair"
        await asyncio.sleep(0.06)
        assert order == ["soon1", "soon2", "later"]
        assert self.loop.time() - t0 >= 0.05

    @async_test()
    async def test_stock_keyword_arguments_accepted(self):
        # What frameworks pass (aiohttp's connector: happy_eyeballs_delay, interleave; TLS
        # timeouts; reuse_address on servers) must be taken as the stock loop takes it.
        server_kw = {"reuse_address": True, "ssl": server_ssl_context(),
                     "ssl_handshake_timeout": 10, "ssl_shutdown_timeout": 5}
        client_kw = {"happy_eyeballs_delay": 0.25, "interleave": 1,
                     "ssl": client_ssl_context(), "server_hostname": TLS_HOSTNAME,
                     "ssl_handshake_timeout": 10, "ssl_shutdown_timeout": 5}
        if sys.version_info >= (3, 12):
            client_kw["all_errors"] = True
        if sys.version_info >= (3, 13):
            server_kw["keep_alive"] = True
        srv_side = Side(self.loop, echo=True)
        server = await self.create_server(srv_side, **server_kw)
        if self.clients_by_address:
            tr, cli = await self.loop.create_connection(lambda: Peer(self.loop),
                                                        *self.server_addr(server), **client_kw)
        else:   # clients come with sock=, where the addressing keywords do not apply
            for k in ("happy_eyeballs_delay", "interleave", "all_errors"):
                client_kw.pop(k, None)
            tr, cli = await self.connect(lambda: Peer(self.loop), self.server_addr(server),
                                         **client_kw)
        srv = await srv_side.first()
        tr.write(b"kw")
        await cli.received(2)
        if sys.version_info >= (3, 13) and self.servers_by_address:   # not applied to sock=
            s = srv.transport.get_extra_info("socket")
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
        await self._end(server, tr, cli, srv)

    @async_test()
    async def test_connect_with_local_addr(self):
        srv_side = Side(self.loop)
        server = await self.create_server(srv_side)
        tr, cli = await self.connect(lambda: Peer(self.loop), self.server_addr(server),
                                     local_addr=(self.client_bind_host, 0))
        srv = await srv_side.first()
        host, port = tr.get_extra_info("sockname")
        assert host == self.client_bind_host and port != 0
        assert srv.transport.get_extra_info("peername") == (host, port)
        await self._end(server, tr, cli, srv)

    # ---------------------------------------------------------------------- bad use
    @BOTH_SIDES
    @async_test()
    async def test_write_to_closed_transport_logs_like_stock(self, side):
        server, srv_side, tr, cli = await self._pair()
        srv = await srv_side.first()
        t = tr if side == "client" else srv.transport
        with WarningLog() as log:
            t.close()
            for _ in range(10):
                t.write(b"late")             # never raises: the 5th and later writes log
            assert log.messages() == ["socket.send() raised exception."] * 6
            await closed(cli, srv)
            t.write(b"later")
            assert log.messages() == ["socket.send() raised exception."] * 7
        await self._close_server(server)

    @BOTH_SIDES
    @async_test()
    async def test_protocol_callback_raises(self, side):
        # A data_received that raises: the stock loop reports it to the exception handler
        # once, closes the transport and hands the exception to connection_lost.
        boom = ValueError("boom")

        def explode(p, data):
            raise boom

        def send(p):
            p.transport.write(b"trigger")

        server, srv_side, tr, cli = await self._pair(
            server_kw={"on_data": explode} if side == "server" else {"on_made": send},
            client_kw={"on_data": explode} if side == "client" else {"on_made": send})
        srv = await srv_side.first()
        bad, peer = (cli, srv) if side == "client" else (srv, cli)
        assert await bad.lost is boom
        assert await peer.lost is None
        assert peer.events == ["made", "eof", "lost"]
        assert len(self.unexpected) == 1
        ctx = self.unexpected.pop()
        assert ctx["message"] == "Fatal error: protocol.data_received() call failed."
        assert ctx["exception"] is boom
        assert ctx["protocol"] is bad and ctx["transport"] is bad.transport
        await self._close_server(server)

    @async_test()
    async def test_write_after_write_eof_raises(self):
        server, srv_side, tr, cli = await self._pair()
        srv = await srv_side.first()
        tr.write_eof()
        tr.write_eof()                       # again: no-op
        with pytest.raises(RuntimeError, match=r"^Cannot call write\(\) after write_eof\(\)$"):
            tr.write(b"x")
        # Python 3.12 gave writelines() its own check (and message).
        name = "writelines" if sys.version_info >= (3, 12) else "write"
        with pytest.raises(RuntimeError, match=rf"^Cannot call {name}\(\) after write_eof\(\)$"):
            tr.writelines([b"x", b"y"])
        await srv.eof
        srv.transport.close()
        assert await closed(cli, srv) == [None, None]
        await self._close_server(server)

    @async_test()
    async def test_write_argument_types(self):
        server, srv_side, tr, cli = await self._pair()
        srv = await srv_side.first()
        for bad, name in (("text", "str"), (123, "int"), (None, "NoneType"), ([b"x"], "list")):
            with pytest.raises(TypeError) as ei:
                tr.write(bad)
            assert str(ei.value) == f"data argument must be a bytes-like object, not {name!r}"
        tr.write(b"")                        # empty writes are allowed and send nothing
        tr.write(bytearray(b"ab"))
        tr.write(memoryview(b"xcdx")[1:3])
        tr.writelines([b"e", bytearray(b"f"), memoryview(b"g")])
        await srv.received(7)
        assert bytes(srv.data) == b"abcdefg"
        await self._end(server, tr, cli, srv)

    @async_test()
    async def test_write_buffer_limits(self):
        server, srv_side, tr, cli = await self._pair()
        srv = await srv_side.first()
        assert tr.get_write_buffer_limits() == (16384, 65536)
        assert tr.get_write_buffer_size() == 0
        tr.set_write_buffer_limits(high=1000)
        assert tr.get_write_buffer_limits() == (250, 1000)
        tr.set_write_buffer_limits(low=10)
        assert tr.get_write_buffer_limits() == (10, 40)
        tr.set_write_buffer_limits(high=0)
        assert tr.get_write_buffer_limits() == (0, 0)
        with pytest.raises(ValueError, match=r"^high \(10\) must be >= low \(20\) must be >= 0$"):
            tr.set_write_buffer_limits(high=10, low=20)
        with pytest.raises(ValueError):
            tr.set_write_buffer_limits(high=10, low=-1)
        assert tr.get_write_buffer_limits() == (0, 0)
        await self._end(server, tr, cli, srv)

    @async_test()
    async def test_create_server_address_in_use(self):
        first = await self.loop.create_server(asyncio.Protocol, self.bind_host, 0)
        port = first.sockets[0].getsockname()[1]
        with pytest.raises(OSError) as ei:
            await self.loop.create_server(asyncio.Protocol, self.bind_host, port)
        assert ei.value.errno == errno.EADDRINUSE
        assert ei.value.strerror == bind_error((self.bind_host, port), errno.EADDRINUSE)
        await self._close_server(first)

    @async_test()
    async def test_create_server_wildcard(self):
        if not self.servers_by_address:
            pytest.skip("this target's servers are kernel sockets given with sock=")
        srv_side = Side(self.loop, echo=True)
        server = await self.loop.create_server(srv_side, "0.0.0.0", 0)
        assert len(server.sockets) == 1
        host, port = server.sockets[0].getsockname()[:2]
        assert host == "0.0.0.0" and port != 0
        tr, cli = await self.connect(lambda: Peer(self.loop), (self.bind_host, port))
        srv = await srv_side.first()
        assert srv.transport.get_extra_info("sockname") == (self.bind_host, port)
        await self._end(server, tr, cli, srv)

    @async_test()
    async def test_create_server_reuse_port(self):
        # SO_REUSEPORT: a second server on the same port, as pre-forking servers make them.
        f = Side(self.loop, echo=True)
        first = await self.loop.create_server(f, self.bind_host, 0, reuse_port=True)
        port = first.sockets[0].getsockname()[1]
        second = await self.loop.create_server(f, self.bind_host, port, reuse_port=True)
        assert second.sockets[0].getsockname()[:2] == (self.bind_host, port)
        assert first.is_serving() and second.is_serving()
        await self._close_server(first)
        await self._close_server(second)

    @async_test()
    async def test_create_server_address_not_ours(self):
        sa = (self.foreign_host, 0)
        with pytest.raises(OSError) as ei:
            await self.loop.create_server(asyncio.Protocol, *sa)
        if sys.version_info >= (3, 13):
            # 3.13 skips an address it cannot assign (bpo-30945), then finds none left.
            assert ei.value.errno is None
            assert str(ei.value) == f"could not bind on any address out of {[sa]!r}"
        else:
            assert ei.value.errno == errno.EADDRNOTAVAIL
            assert ei.value.strerror == bind_error(sa, errno.EADDRNOTAVAIL)

    @async_test()
    async def test_connection_refused(self):
        await self._refused(self.refused_addr())

    @async_test()
    async def test_create_server_bad_arguments(self):
        h, f = self.bind_host, asyncio.Protocol
        with pytest.raises(OverflowError):
            await self.loop.create_server(f, h, 70000)
        with pytest.raises(socket.gaierror) as ei:
            await self.loop.create_server(f, h, "no-such-service")
        assert ei.value.errno == socket.EAI_SERVICE
        with pytest.raises(TypeError):
            await self.loop.create_server(f, h, 0, backlog="many")
        with pytest.raises(ValueError, match="^ssl_handshake_timeout is only meaningful with ssl$"):
            await self.loop.create_server(f, h, 0, ssl_handshake_timeout=1)
        with socket.socket() as s:
            with pytest.raises(ValueError,
                               match="^host/port and sock can not be specified at the same time$"):
                await self.loop.create_server(f, h, 0, sock=s)

    @async_test()
    async def test_create_connection_bad_arguments(self):
        h, f = self.client_host, asyncio.Protocol
        with pytest.raises(ValueError,
                           match="^host and port was not specified and no sock specified$"):
            await self.loop.create_connection(f)
        with pytest.raises(ValueError, match="^server_hostname is only meaningful with ssl$"):
            await self.loop.create_connection(f, h, 9, server_hostname="x")
        with pytest.raises(ValueError, match="^ssl_handshake_timeout is only meaningful with ssl$"):
            await self.loop.create_connection(f, h, 9, ssl_handshake_timeout=1)
        with pytest.raises(OverflowError):
            await self.loop.create_connection(f, h, 70000)
        with pytest.raises(socket.gaierror) as ei:
            await self.loop.create_connection(f, h, "no-such-service")
        assert ei.value.errno == socket.EAI_SERVICE
        with socket.socket() as s:
            with pytest.raises(ValueError,
                               match="^host/port and sock can not be specified at the same time$"):
                await self.loop.create_connection(f, h, 9, sock=s)


def test_in_netns_enters_and_always_returns(lp_testnet):  # noqa: F811
    def here():
        return os.stat("/proc/thread-self/ns/net").st_ino

    home = here()
    with in_netns(lp_testnet.peer_ns):
        inside = here()
        with socket.socket() as s:
            s.bind((lp_testnet.peer_ip, 0))      # the peer's address exists only in there
    assert inside != home and here() == home
    with pytest.raises(ZeroDivisionError):
        with in_netns(lp_testnet.peer_ns):
            1 / 0
    assert here() == home
    with pytest.raises(OSError) as ei:
        with in_netns("lp-no-such-namespace"):
            pass
    assert ei.value.errno == errno.ENOENT and here() == home


class TestStock(LoopParity, StockTarget):
    pass


class TestFastnetPair(LoopParity, FastnetPairTarget):
    pass


class TestFastnetServes(LoopParity, FastnetServesKernel):
    pass


class TestFastnetConnects(LoopParity, KernelServesFastnet):
    pass

