"""Zero-copy receive and send from Python: Socket.recv_borrow() lends the stack's receive
buffers as read-only memoryviews until released (a with-block), Socket.send_buffer() lends a
pool buffer to fill and queue without a copy.  The data is checked byte for byte, the
receive window is held shut by what is borrowed, misuse raises (BufferError while a view is
alive, ValueError after release, OSError with the C layer's errno), and the pools end with
no buffer in use.  Two stacks over the in-memory link, driven by the test.
"""
import errno
import gc
import hashlib
import socket
import time

import pytest

from test_socket_py import drive, pair  # noqa: F401  (pair: the fixture)
from test_socket_py import connected as _connected

core = pytest.importorskip("fastnet._core")


@pytest.fixture
def conn(pair):  # noqa: F811
    """(a, b, lst, cli, srv): a connection a → b with both ends non-blocking (the test
    drives both stacks); every socket closed afterwards."""
    a, b = pair
    lst, cli, srv = _connected(a, b)
    srv.setblocking(False)
    yield a, b, lst, cli, srv
    for sock in (cli, srv, lst):
        sock.close()


def recv_soon(a, b, s, n=65536, seconds=2.0):
    """recv on non-blocking s, driving both stacks until data comes (a short tail may wait
    for the peer's delayed ACK: Nagle)."""
    end = time.monotonic() + seconds
    while True:
        drive(a, b, 2)
        try:
            return s.recv(n)
        except BlockingIOError:
            if time.monotonic() > end:
                raise


def borrow_soon(a, b, s, seconds=2.0):
    end = time.monotonic() + seconds
    while True:
        drive(a, b, 2)
        try:
            return s.recv_borrow()
        except BlockingIOError:
            if time.monotonic() > end:
                raise


def pattern(n, off=0):
    return bytes((off + i) * 131 + 7 & 0xFF for i in range(n))


def test_recv_borrow_lends_the_bytes_received(conn):
    a, b, lst, cli, srv = conn
    data = pattern(3000)
    cli.sendall(data)
    drive(a, b)
    with srv.recv_borrow() as got:
        assert got.nbytes == 3000 and len(got) >= 2
        assert all(isinstance(v, memoryview) and v.readonly for v in got)
        assert b"".join(got.views) == data == got.tobytes()
        # Read: nothing more to recv while it is borrowed.
        with pytest.raises(BlockingIOError):
            srv.recv(10)
        with pytest.raises(TypeError):
            got.views[0][0] = 1       # read-only
    assert got.released
    with pytest.raises(ValueError):
        got.views
    # What follows is received normally.
    cli.sendall(b"next")
    assert recv_soon(a, b, srv) == b"next"


def test_a_live_view_keeps_the_data_borrowed(conn):
    a, b, lst, cli, srv = conn
    cli.sendall(b"hello world")
    got = borrow_soon(a, b, srv)
    part = got.views[0][6:]           # a view derived from ours
    with pytest.raises(BufferError):
        got.release()
    assert not got.released
    with pytest.raises(BufferError):
        srv.close()                   # as mmap.close() with exports
    with pytest.raises(BufferError):
        b.close()
    assert bytes(part) == b"world"
    part.release()
    got.release()
    assert got.released


def test_borrowed_data_holds_the_window_until_released(conn):
    a, b, lst, cli, srv = conn
    data = pattern(400_000)
    digest = hashlib.sha256()
    held, total, sent = [], 0, 0
    def step(maxsegs):
        """A sends what fits of the rest, both stacks run, B borrows what came (or None)."""
        nonlocal sent
        if sent < len(data):
            try:
                sent += cli.send(memoryview(data)[sent:])
            except BlockingIOError:
                pass
        drive(a, b, 2)
        try:
            return srv.recv_borrow(maxsegs)
        except BlockingIOError:
            return None

    # Keep everything borrowed: the sender stops at the receive buffer.
    for _ in range(200):
        got = step(64)
        if got is not None:
            held.append(got)
            total += got.nbytes
    rcvbuf = core.config_defaults()["tcp_rcvbuf"]
    assert 0 < total <= rcvbuf < sent
    for got in held:
        digest.update(got.tobytes())
        got.release()
    # Released, the rest flows; borrow and release as it comes.
    for _ in range(5000):
        if total == len(data):
            break
        got = step(8)
        if got is not None:
            with got:
                for v in got:
                    digest.update(v)
                total += got.nbytes
    assert total == len(data)
    assert digest.digest() == hashlib.sha256(data).digest()


def test_out_of_order_release_waits_for_the_older(conn):
    a, b, lst, cli, srv = conn
    cli.sendall(b"one")
    first = borrow_soon(a, b, srv)
    cli.sendall(b"two")
    second = borrow_soon(a, b, srv)
    assert first.tobytes() == b"one" and second.tobytes() == b"two"
    second.release()
    first.release()


def test_recv_borrow_eof_errors_and_close_with_borrowed(conn):
    a, b, lst, cli, srv = conn
    with pytest.raises(ValueError):
        srv.recv_borrow(0)
    with pytest.raises(ValueError):
        srv.recv_borrow(65)
    with pytest.raises(OSError) as e:
        srv.recv_borrow(flags=socket.MSG_PEEK)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        lst.recv_borrow()
    assert e.value.errno == errno.ENOTCONN
    cli.sendall(b"bye")
    cli.shutdown(socket.SHUT_WR)
    got = borrow_soon(a, b, srv)
    assert got.tobytes() == b"bye"
    eof = srv.recv_borrow()
    assert len(eof) == 0 and eof.nbytes == 0
    # Closing with data still borrowed gives it back (the pools end at zero: the fixture).
    srv.close()
    assert got.released
    with pytest.raises(OSError) as e:
        srv.recv_borrow()
    assert e.value.errno == errno.EBADF


def test_recv_borrow_after_a_reset(conn):
    a, b, lst, cli, srv = conn
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    cli.close()
    drive(a, b)
    with pytest.raises(ConnectionResetError):
        srv.recv_borrow()
    assert len(srv.recv_borrow()) == 0


def test_send_buffer_queues_the_bytes_written(conn):
    a, b, lst, cli, srv = conn
    expect = b""
    for i in range(5):
        with cli.send_buffer() as buf:
            assert buf.capacity == 2048 - 256
            chunk = pattern(buf.capacity if i < 4 else 777, len(expect))
            buf.view[:len(chunk)] = chunk
            assert buf.send(len(chunk)) == len(chunk)
            assert buf.sent
            expect += chunk
        drive(a, b, 5)
    got = b""
    while len(got) < len(expect):
        got += recv_soon(a, b, srv)
    assert got == expect


def test_send_buffer_misuse(conn):
    a, b, lst, cli, srv = conn
    buf = cli.send_buffer()
    with pytest.raises(ValueError):
        buf.send(buf.capacity + 1)
    with pytest.raises(ValueError):
        buf.send(-1)
    extra = memoryview(buf)
    with pytest.raises(BufferError):
        buf.send(1)                   # a view of it is still alive
    extra.release()
    buf.free()
    buf.free()                        # idempotent
    with pytest.raises(ValueError):
        buf.send(1)
    with pytest.raises(ValueError):
        memoryview(buf)
    with pytest.raises(BrokenPipeError):
        lst.send_buffer()
    # The pool share runs out: ENOBUFS, and close gives back what was taken.
    taken = []
    with pytest.raises(OSError) as e:
        for _ in range(1000):
            taken.append(cli.send_buffer())
    assert e.value.errno == errno.ENOBUFS and len(taken) > 4
    cli.shutdown(socket.SHUT_WR)
    with pytest.raises(BrokenPipeError):
        taken[0].send(10)
    assert not taken[0].sent          # still the caller's after a failed send
    cli.close()
    assert all(t.sent for t in taken)  # given back by close


def test_a_dropped_socket_with_borrowed_data_is_closed_by_the_collector(pair):  # noqa: F811
    """A Socket and its Borrowed refer to each other: once nothing else holds them the
    cycle collector frees both, and the socket is closed with its buffers given back (the
    fixture checks both pools end at zero)."""
    a, b = pair
    lst, cli, srv = _connected(a, b)
    srv.setblocking(False)
    cli.sendall(b"hello")
    got = borrow_soon(a, b, srv)
    view = got.views[0]
    count = b.socket_count
    del got, srv
    gc.collect()
    assert bytes(view) == b"hello"      # the view keeps the socket and the data alive
    assert b.socket_count == count
    del view
    gc.collect()
    assert b.socket_count == count - 1
    cli.close()
    lst.close()
    drive(a, b)
