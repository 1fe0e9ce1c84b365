"""fastnet._core.Socket and Epoll over two stacks on the in-memory link.

The Python face of the C socket API (stack/include/fastnet/fn_socket.h): the calls behave
like socket.socket / select.epoll on Linux, errors are the OSError subclasses Python raises
for the same errno (ConnectionRefusedError, ConnectionResetError, BrokenPipeError,
BlockingIOError, TimeoutError, ...), bad argument types raise TypeError/ValueError, and after
close every descriptor and packet buffer is back.  Non-blocking sockets, with the test
driving both stacks (one thread runs both, so a blocking call must not wait for the other).
Skips when the extension is not built.
"""
import contextlib
import errno
import select
import signal
import socket
import struct
import time

import pytest

core = pytest.importorskip("fastnet._core")

A, B = "198.18.5.1", "198.18.5.2"


@pytest.fixture
def pair():
    a, b = core.Stack.memory_pair({"ip": A, "prefix_len": 24, "n_bufs": 512},
                                  {"ip": B, "prefix_len": 24, "n_bufs": 512})
    yield a, b
    assert a.socket_count == 0 and b.socket_count == 0
    assert a.close() == 0
    assert b.close() == 0


def drive(a, b, rounds=30):
    for _ in range(rounds):
        a.poll()
        b.poll()


def connected(a, b, port=8080):
    lst = b.socket(nonblocking=True)
    lst.bind(("", port))
    lst.listen()
    cli = a.socket(nonblocking=True)
    assert cli.connect_ex((B, port)) == errno.EINPROGRESS
    drive(a, b)
    srv, peer = lst.accept()
    assert peer == cli.getsockname()
    return lst, cli, srv


def test_connect_accept_and_echo(pair):
    a, b = pair
    lst, cli, srv = connected(a, b)
    assert cli.getpeername() == (B, 8080)
    assert cli.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    cli.sendall(b"ping" * 1000)
    drive(a, b)
    got = b""
    while len(got) < 4000:
        got += srv.recv(65536)
    assert got == b"ping" * 1000
    buf = bytearray(16)
    srv.send(b"pong")
    drive(a, b)
    assert cli.recv_into(buf) == 4 and bytes(buf[:4]) == b"pong"
    with pytest.raises(BlockingIOError):
        cli.recv(10)
    for s in (cli, srv, lst):
        s.close()


def test_connect_to_closed_port_is_refused(pair):
    a, b = pair
    with a.socket(nonblocking=True) as c:
        assert c.connect_ex((B, 9)) == errno.EINPROGRESS
        drive(a, b)
        assert c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED
    with a.socket(nonblocking=True) as c:
        c.connect_ex((B, 9))
        drive(a, b)
        with pytest.raises(ConnectionRefusedError):
            c.connect((B, 9))


def test_bind_twice_is_address_in_use(pair):
    a, _ = pair
    with a.socket() as x, a.socket() as y:
        x.bind(("", 7000))
        with pytest.raises(OSError) as e:
            y.bind(("", 7000))
        assert e.value.errno == errno.EADDRINUSE


def test_send_after_peer_reset_then_broken_pipe(pair):
    a, b = pair
    lst, cli, srv = connected(a, b)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    srv.close()
    drive(a, b)
    with pytest.raises(ConnectionResetError):
        cli.send(b"x")
    with pytest.raises(BrokenPipeError):
        cli.send(b"x")
    assert cli.recv(10) == b""
    cli.close()
    lst.close()


def test_epoll_rdhup_and_edge_triggered(pair):
    a, b = pair
    lst, cli, srv = connected(a, b)
    ep = a.epoll()
    ep.register(cli, select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET)
    assert ep.poll(0) == []
    srv.send(b"a")
    drive(a, b)
    assert ep.poll(0) == [(cli.fd, select.EPOLLIN)]
    assert ep.poll(0) == []
    srv.shutdown(socket.SHUT_WR)
    drive(a, b)
    assert ep.poll(0) == [(cli.fd, select.EPOLLIN | select.EPOLLRDHUP)]
    with pytest.raises(FileExistsError):
        ep.register(cli, select.EPOLLIN)
    ep.unregister(cli)
    with pytest.raises(FileNotFoundError):
        ep.unregister(cli)
    ep.close()
    for s in (cli, srv, lst):
        s.close()


def test_timeout_and_blocking_modes(pair):
    a, b = pair
    lst, cli, srv = connected(a, b)
    cli.settimeout(0.05)
    assert cli.gettimeout() == 0.05 and cli.getblocking()
    with pytest.raises(TimeoutError):
        cli.recv(10)
    cli.setblocking(False)
    assert cli.gettimeout() == 0.0 and not cli.getblocking()
    with pytest.raises(ValueError):
        cli.settimeout(-1)
    for s in (cli, srv, lst):
        s.close()


def test_misuse_raises_the_right_exceptions(pair):
    a, _ = pair
    s = a.socket()
    with pytest.raises(TypeError):
        s.bind("198.18.5.1:80")
    with pytest.raises(TypeError):
        s.bind((A, "80"))
    with pytest.raises(OverflowError):
        s.bind((A, 70000))
    with pytest.raises(socket.gaierror):
        s.bind(("not an address", 80))
    with pytest.raises(ValueError):
        s.recv(-1)
    with pytest.raises(TypeError):
        s.send("text, not bytes")
    with pytest.raises(OSError) as e:
        s.recv(10)
    assert e.value.errno == errno.ENOTCONN
    with pytest.raises(BrokenPipeError):
        s.send(b"x")
    with pytest.raises(OSError) as e:
        s.getsockopt(99, 1)
    assert e.value.errno == errno.ENOPROTOOPT
    s.close()
    s.close()
    with pytest.raises(OSError) as e:
        s.send(b"x")
    assert e.value.errno == errno.EBADF
    with a.epoll() as ep, pytest.raises(ValueError):
        ep.poll(0, maxevents=0)


def test_calls_from_another_thread_fail_with_eperm(pair):
    import threading
    a, _ = pair
    s = a.socket()
    seen = []

    def other():
        for call in (lambda: s.bind(("", 1)), a.socket, a.epoll):
            try:
                call()
            except PermissionError as e:
                seen.append(e.errno)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == [errno.EPERM] * 3
    s.close()


def test_tcp_congestion_by_name_as_the_kernel(pair):
    """TCP_CONGESTION through Python: bytes in, NUL-padded name out, and the kernel's errno
    for an unknown name (asked of a real kernel socket, which sends nothing)."""
    a, b = pair
    lst, cli, srv = connected(a, b)
    with socket.socket() as k, pytest.raises(OSError) as kerr:
        k.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"nosuch")
    with pytest.raises(OSError) as ferr:
        cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"nosuch")
    assert ferr.value.errno == kerr.value.errno == errno.ENOENT
    cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"newreno")
    assert cli.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16) == b"newreno" + b"\0" * 9
    cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
    assert cli.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 64) == b"cubic" + b"\0" * 11
    for s in (cli, srv, lst):
        s.close()


class Interrupted(Exception):
    pass


@contextlib.contextmanager
def alarm(handler, seconds, interval=0.0):
    """SIGALRM to handler after `seconds` (then every `interval`); the old handler back
    afterwards."""
    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds, interval)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_blocking_connect_ends_with_the_exception_of_a_signal_handler(pair):
    """PEP 475: a blocking connect that waits (here for ARP of a host that is not there)
    runs the handlers between its waits; one that raises ends the call."""
    a, b = pair
    a.poll_while_blocked(b)

    def handler(signum, frame):
        raise Interrupted

    with a.socket() as c, alarm(handler, 0.3):
        t0 = time.monotonic()
        with pytest.raises(Interrupted):
            c.connect(("198.18.5.99", 80))
        assert 0.25 < time.monotonic() - t0 < 2.0


def test_blocking_connect_goes_on_after_a_handler_returns_until_its_timeout(pair):
    a, b = pair
    a.poll_while_blocked(b)
    seen = []
    with a.socket() as c, alarm(lambda signum, frame: seen.append(signum), 0.2):
        c.settimeout(1.0)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            c.connect(("198.18.5.99", 80))
        assert 0.9 < time.monotonic() - t0 < 3.0
        assert seen == [signal.SIGALRM]


def test_makefile_reads_and_writes_as_socket_makefile(pair):
    a, b = pair
    a.poll_while_blocked(b)
    b.poll_while_blocked(a)
    lst, cli, srv = connected(a, b)
    cli.setblocking(True)
    wf = cli.makefile("wb")
    wf.write(b"line one\nline two\n")
    wf.flush()
    rf = srv.makefile("rb")
    assert rf.readline() == b"line one\n"
    assert rf.read(9) == b"line two\n"
    tf = srv.makefile("r", encoding="utf-8", newline="")
    cli.sendall("ünïcode\r\n".encode())
    assert tf.readline() == "ünïcode\r\n"
    # The descriptor stays open while a file made from it is (socket.socket's rule).
    srv.close()
    assert srv.fileno() >= 0
    rf.close()
    assert srv.fileno() >= 0
    tf.close()
    assert srv.fileno() == -1
    wf.close()
    cli.close()
    lst.close()
    with pytest.raises(ValueError):
        cli.makefile("rx")


def test_dup_is_not_supported(pair):
    a, _ = pair
    s = a.socket()
    with pytest.raises(OSError) as e:
        s.dup()
    assert e.value.errno == errno.EOPNOTSUPP
    s.close()
    with pytest.raises(OSError) as e:
        s.dup()
    assert e.value.errno == errno.EBADF


def test_sendall_timeout_bounds_the_whole_call(pair):
    """CPython ≥ 3.5: the timeout is the most sendall may take in all, not per wait.  The
    peer reads a little every 50 ms (from a signal handler: one thread runs both stacks),
    so each wait for room ends in time; the call as a whole still times out."""
    a, b = pair
    a.poll_while_blocked(b)
    lst, cli, srv = connected(a, b)
    cli.settimeout(0.5)
    got = []

    def reader(signum, frame):
        try:
            got.append(len(srv.recv(4000)))
        except BlockingIOError:
            pass

    srv.setblocking(False)
    with alarm(reader, 0.05, 0.05):
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            cli.sendall(b"x" * (8 << 20))
        took = time.monotonic() - t0
    assert 0.45 < took < 1.5
    assert sum(got) > 0                 # the reader did make room during the call
    assert cli.gettimeout() == 0.5
    for s in (cli, srv, lst):
        s.close()
