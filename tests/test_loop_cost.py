"""fastnet.Loop: what the per-request savings of the transports must not change.

A write made inside data_received is held until the callback returns (so a close() right
after it sends the response and the FIN in one segment); these tests check that one segment
on the wire, and that everything a protocol can observe — the order of the bytes, the write
buffer size, is_closing(), what abort() delivers — is what the stock loop gives.  Two stacks
joined by the in-memory link run both ends in one loop (as tests/test_loop_basic.py).

The other savings: connection_made / connection_lost go into asyncio's ready queue without
call_soon (same order, a context copy each, the same exception report); a read is one recv
into a scratch buffer (bytes of any size still arrive whole and in order); select() sleeps
again when only stack traffic woke it (asyncio's timers and other threads' callbacks must
not wait for that traffic to stop: checked with a kernel peer over veth, af_packet).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import os
import socket
import threading
import time

import pytest

import fastnet
from fastnet import testnet
from helpers.netns_ctx import in_netns

A_IP, B_IP = "198.19.32.1", "198.19.32.2"
PORT = 8010


@pytest.fixture
def pair():
    a, b = fastnet.Stack.memory_pair({"ip": A_IP}, {"ip": B_IP})
    lp = fastnet.new_event_loop(stacks=(a, b))
    try:
        yield lp, a
        lp.run_until_complete(asyncio.sleep(0.05))
        assert lp.fastnet_handles()["sockets"] == 0
    finally:
        lp.close()
        assert a.close() == 0 and b.close() == 0


class Answer(asyncio.Protocol):
    """Runs `act(transport, seen)` from data_received; `seen` collects what it observes."""

    def __init__(self, act):
        self.act = act
        self.seen = []

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.act(self.transport, self.seen)


async def serve(lp, act):
    proto = Answer(act)
    server = await lp.create_server(lambda: proto, A_IP, PORT)
    reader, writer = await asyncio.open_connection(A_IP, PORT)
    return server, proto, reader, writer


async def finish(server, writer):
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()


def exchange(lp, act, then=b""):
    """Send one request, read the answer to EOF, send `then`; (answer, what act saw)."""
    async def main():
        server, proto, reader, writer = await serve(lp, act)
        writer.write(b"go")
        data = await reader.read()
        if then:
            writer.write(then)      # the server may still be reading (half-close)
            await asyncio.sleep(0.05)
        await finish(server, writer)
        return data, proto.seen

    return lp.run_until_complete(main())


def test_write_then_close_adds_no_segment(pair):
    lp, a = pair

    async def segments(close):
        def act(t, seen):
            t.write(b"response")
            if close:
                t.close()

        server, _, reader, writer = await serve(lp, act)
        await asyncio.sleep(0.05)       # handshake done, its segments counted
        before = a.stats()["tcp_tx"]
        writer.write(b"request")
        assert await reader.read(100) == b"response"
        if close:
            assert await reader.read() == b""       # the FIN came
        await asyncio.sleep(0.05)
        sent = a.stats()["tcp_tx"] - before
        await finish(server, writer)
        return sent

    # The FIN rides on the response's segment: closing costs the server no segment of its
    # own (the count also holds whatever ACK the request got on its own).
    assert lp.run_until_complete(segments(True)) == lp.run_until_complete(segments(False))


def test_held_writes_keep_order_and_buffer_size(pair):
    lp, _ = pair

    def act(t, seen):
        t.write(b"a")
        seen.append(t.get_write_buffer_size())
        t.write(bytearray(b"b"))
        t.write(memoryview(b"cd")[1:])
        t.write(b"e")
        t.writelines([b"f", b"g"])
        seen.append(t.is_closing())
        t.close()
        seen.append(t.is_closing())

    data, seen = exchange(lp, act)
    assert data == b"abdefg"
    assert seen == [0, False, True]


def test_held_write_then_abort_is_delivered(pair):
    lp, _ = pair

    def act(t, seen):
        t.write(b"last words")
        t.abort()
        seen.append(t.is_closing())

    # As on the stock loop: the write was the socket's before the close, so it arrives.
    assert exchange(lp, act) == (b"last words", [True])


def test_write_then_write_eof_then_close(pair):
    lp, _ = pair

    def act(t, seen):
        if seen:
            return
        t.write(b"half")
        t.write_eof()
        seen.append(t.is_closing())

    # EOF after the data; the half-closed connection still takes the client's bytes.
    assert exchange(lp, act, then=b"more") == (b"half", [False])


def test_connection_callbacks_keep_call_soon_order(pair):
    lp, _ = pair
    order = []

    class P(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            if data == b"close-first":
                self.transport.close()
                lp.call_soon(order.append, "soon")
            else:
                lp.call_soon(order.append, "soon")
                self.transport.close()

        def connection_lost(self, exc):
            order.append("lost")

    async def main():
        server = await lp.create_server(P, A_IP, PORT)
        for msg in (b"close-first", b"soon-first"):
            reader, writer = await asyncio.open_connection(A_IP, PORT)
            writer.write(msg)
            assert await reader.read() == b""
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.02)
        await finish(server, writer)

    lp.run_until_complete(main())
    # connection_lost is a ready callback like any call_soon one: first queued, first run.
    assert order == ["lost", "soon", "soon", "lost"]


def test_connection_made_runs_in_its_own_context_copy(pair):
    lp, _ = pair
    var = contextvars.ContextVar("var", default="unset")
    seen = []

    class P(asyncio.Protocol):
        def connection_made(self, transport):
            seen.append(var.get())
            var.set("set by a connection")
            transport.close()

    async def main():
        server = await lp.create_server(P, A_IP, PORT)
        for _ in range(3):
            reader, writer = await asyncio.open_connection(A_IP, PORT)
            assert await reader.read() == b""
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()

    lp.run_until_complete(main())
    # As with call_soon: what one connection_made sets is not the next one's.
    assert seen == ["unset"] * 3


def test_connection_made_exception_is_reported_as_a_callback_error(pair):
    lp, _ = pair
    errors = []
    lp.set_exception_handler(lambda loop, ctx: errors.append(ctx))
    made = []

    class P(asyncio.Protocol):
        def connection_made(self, transport):
            made.append(transport)
            if len(made) == 1:
                raise ValueError("boom")
            transport.write(b"ok")
            transport.close()

    async def main():
        server = await lp.create_server(P, A_IP, PORT)
        _, w1 = await asyncio.open_connection(A_IP, PORT)
        await asyncio.sleep(0.05)
        reader, w2 = await asyncio.open_connection(A_IP, PORT)
        assert await reader.read() == b"ok"     # the loop went on serving
        made[0].close()
        for w in (w1, w2):
            w.close()
            await w.wait_closed()
        server.close()
        await server.wait_closed()

    lp.run_until_complete(main())
    assert len(errors) == 1
    ctx = errors[0]
    assert ctx["message"].startswith("Exception in callback ")
    assert isinstance(ctx["exception"], ValueError) and str(ctx["exception"]) == "boom"
    assert isinstance(ctx["handle"], asyncio.Handle)


class KeepsTransport(asyncio.Protocol):
    """Keeps its transport after connection_lost, as many protocols do."""

    def __init__(self, done=None, request=None):
        self.done = done
        self.request = request
        self.transport = None
        self.got = b""

    def connection_made(self, transport):
        self.transport = transport
        if self.request is not None:
            transport.write(self.request)

    def data_received(self, data):
        self.got += data
        if self.request is None:        # the server: echo, then close
            self.transport.write(data)
            self.transport.close()

    def connection_lost(self, exc):
        if self.done is not None:
            self.done.set_result(self.got)


def test_short_connections_leave_nothing_for_the_cyclic_gc(pair):
    """Everything a closed connection used is freed by reference counting, as with the
    stock loop (whose transport drops its protocol, server and loop in connection_lost):
    after N short connections the cyclic GC finds no garbage holding a fastnet object or
    a protocol, also when the protocols keep their transports."""
    lp, _ = pair

    async def main():
        server = await lp.create_server(KeepsTransport, A_IP, PORT)
        for i in range(40):
            done = lp.create_future()
            await lp.create_connection(lambda: KeepsTransport(done, b"ping %d" % i),
                                       A_IP, PORT)
            assert await done == b"ping %d" % i
        server.close()
        await server.wait_closed()

    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        lp.run_until_complete(main())
        lp.run_until_complete(asyncio.sleep(0.05))
        gc.collect()
        left = [type(o) for o in gc.garbage
                if type(o).__module__.startswith("fastnet") or isinstance(o, KeepsTransport)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []


def test_set_debug_after_creation_reaches_the_transports(pair):
    """loop.set_debug(True) on a running fastnet loop: connection_made and connection_lost
    then go through loop.call_soon as asyncio Handles, so debug mode's slow-callback report
    names them (the engine keeps the debug flag; Loop.set_debug passes it on)."""
    lp, _ = pair
    logged = []

    class Catch(logging.Handler):
        def emit(self, record):
            logged.append(record.getMessage())

    class Slow(asyncio.Protocol):
        def connection_made(self, transport):
            time.sleep(0.02)
            transport.close()

    async def main():
        server = await lp.create_server(Slow, A_IP, PORT)
        lp.set_debug(True)
        lp.slow_callback_duration = 0.01
        reader, writer = await asyncio.open_connection(A_IP, PORT)
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        lp.set_debug(False)
        server.close()
        await server.wait_closed()

    handler = Catch()
    asyncio.log.logger.addHandler(handler)
    try:
        lp.run_until_complete(main())
    finally:
        asyncio.log.logger.removeHandler(handler)
        lp.set_debug(False)
    assert any(m.startswith("Executing <Handle") and "_start" in m for m in logged), logged


def test_reads_of_any_size_arrive_whole(pair):
    lp, _ = pair
    got = bytearray()
    sizes = (1, 16383, 16384, 16385, 100000)
    payload = b"".join(os.urandom(n) for n in sizes)

    class P(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            assert type(data) is bytes
            got.extend(data)
            if len(got) == len(payload):
                self.transport.close()

    async def main():
        server = await lp.create_server(P, A_IP, PORT)
        reader, writer = await asyncio.open_connection(A_IP, PORT)
        at = 0
        for n in sizes:     # one write each, so that reads come in about these sizes
            writer.write(payload[at:at + n])
            at += n
            await writer.drain()
            await asyncio.sleep(0.02)
        assert await asyncio.wait_for(reader.read(), 10) == b""
        await finish(server, writer)

    lp.run_until_complete(main())
    assert bytes(got) == payload


@pytest.fixture
def veth():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    with testnet.create(name="lfcost", kind="veth", prefix="198.19.47.192/26") as tn:
        yield tn


def test_stack_traffic_does_not_hold_back_timers_or_threads(veth):
    """A kernel peer (a thread in the peer namespace) pings every 2 ms: the loop wakes for
    the stack only and sleeps again inside select(); timers and call_soon_threadsafe must
    still run on time."""
    with in_netns(veth.stack_ns):
        lp = fastnet.new_event_loop(backend="af_packet", iface=veth.stack_if,
                                    ip=veth.stack_cidr)
    stop = threading.Event()
    pongs = []

    def pinger():
        with in_netns(veth.peer_ns):
            s = socket.create_connection((veth.stack_ip, PORT), timeout=5)
        with s:
            while not stop.is_set():
                s.sendall(b"p")
                if s.recv(1) != b"p":
                    return
                pongs.append(1)
                time.sleep(0.002)

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data)

    async def main():
        server = await lp.create_server(Echo, veth.stack_ip, PORT)
        th = threading.Thread(target=pinger)
        th.start()
        try:
            while len(pongs) < 20:
                await asyncio.sleep(0.01)
            late = []
            for _ in range(5):
                fut = lp.create_future()
                t0 = time.monotonic()
                lp.call_later(0.1, fut.set_result, None)
                await fut
                late.append(time.monotonic() - t0 - 0.1)
                fut = lp.create_future()
                t0 = time.monotonic()
                threading.Timer(0.05, lp.call_soon_threadsafe, (fut.set_result, None)).start()
                await fut
                late.append(time.monotonic() - t0 - 0.05)
            n = len(pongs)
            await asyncio.sleep(0.2)
            assert len(pongs) > n       # the traffic went on all along
        finally:
            stop.set()
            await lp.run_in_executor(None, th.join)
            server.close()
            await server.wait_closed()
        return late

    try:
        late = lp.run_until_complete(main())
    finally:
        lp.close()
    # Never held back by the pings (a timer left to wait for quiet would never fire); the
    # bound is loose for a loaded test machine.
    assert max(late) < 0.5, late


def test_timer_scheduled_by_a_stack_callback_runs_on_time(veth):
    """data_received schedules call_later(0.05) while the loop had no timer at all: select()
    must not sleep on with the old (infinite) timeout once the stack traffic is handled."""
    with in_netns(veth.stack_ns):
        lp = fastnet.new_event_loop(backend="af_packet", iface=veth.stack_if,
                                    ip=veth.stack_cidr)
    got = threading.Event()

    def client():
        with in_netns(veth.peer_ns):
            s = socket.create_connection((veth.stack_ip, PORT), timeout=5)
        with s:
            s.sendall(b"x")
            got.wait(5)

    class P(asyncio.Protocol):
        def __init__(self, fut):
            self.fut = fut

        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(b"y")
            self.fut.t0 = time.monotonic()
            lp.call_later(0.05, self.fut.set_result, None)

    async def main():
        fut = lp.create_future()
        server = await lp.create_server(lambda: P(fut), veth.stack_ip, PORT)
        th = threading.Thread(target=client)
        th.start()
        try:
            await asyncio.wait_for(fut, 10)
            return time.monotonic() - fut.t0
        finally:
            got.set()
            await lp.run_in_executor(None, th.join)
            server.close()
            await server.wait_closed()

    try:
        waited = lp.run_until_complete(main())
    finally:
        lp.close()
    assert waited < 0.5, waited
