"""fastnet.Loop: what the per-request savings of the transports must not change.

A write made inside data_received is held until the callback returns (so a close() right
after it sends the response and the FIN in one segment); these tests check that one segment
on the wire, and that everything a protocol can observe — the order of the bytes, the write
buffer size, is_closing(), what abort() delivers — is what the stock loop gives.  Two stacks
joined by the in-memory link run both ends in one loop (as tests/test_loop_basic.py).
"""

from __future__ import annotations

import asyncio

import pytest

import fastnet

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
