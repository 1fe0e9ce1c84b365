"""The native HTTP echo server (apps/http_echo/native: C on fastnet's socket API, llhttp)
against real clients — curl, wrk and raw kernel sockets — from the peer namespace of a test
network (fastnet.testnet veth, 198.19.41.0/24, namespaces nv*), on af_packet and af_xdp.

One server per backend is started the way the app starts it (`python -m
apps.http_echo.native`, which execs the C program) with small limits so the 413/431 cases
stay small: --max-body 65536, --max-header 4096, --idle-timeout 2.  Covered: GET echoes the
head as received, POST/PUT echo the body (Content-Length and chunked), HEAD, keep-alive,
pipelining (answered in order), Connection: close (the answer carries the FIN), HTTP/1.0,
Expect: 100-continue, 400, 405, 413 (declared and chunked), 431, the idle timeout, ~0 CPU
when idle, a wrk smoke run with zero errors, mangled requests, and SIGTERM → exit 0 with the
XDP program detached.
The af_packet set runs a second time on the ASan/UBSan build (FASTNET_NATIVE_SAN=1).
Everything is torn down when a test fails; only processes started here are stopped, by
their PID.
"""
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from fastnet import netns, testnet
from helpers.nsproc import NsProc
from helpers.stackbuild import make_stack  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "198.19.41.0/24"
PORT = 8080
MAX_BODY = 65536
MAX_HEADER = 4096
IDLE = 2.0

@pytest.fixture(scope="module")
def built():
    """The server and the XDP program, built before any timing-sensitive start."""
    from apps.http_echo import native

    try:
        native.build(san=False)
        native.build(san=True)
    except native.BuildError as e:
        pytest.fail(str(e))
    make_stack("the XDP program", "bpf")
    for tool in ("curl", "wrk"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            pytest.fail(f"{tool} is not installed: scripts/install-deps.sh installs it")


def link_has_xdp(tn):
    r = subprocess.run(["ip", "-n", tn.stack_ns, "link", "show", "dev", tn.stack_if],
                       capture_output=True, text=True, timeout=10)
    return "xdp" in r.stdout


class Server:
    def __init__(self, tn, proc):
        self.tn = tn
        self.proc = proc

    @property
    def url(self):
        return f"http://{self.tn.stack_ip}:{PORT}"

    def curl(self, *args):
        """curl's output as bytes (no newline translation: the CRLFs matter here)."""
        r = subprocess.run(netns.exec_argv(self.tn.peer_ns,
                                           ["curl", "-sS", "--max-time", "20", *args]),
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout


# (backend, ASan/UBSan build): the sanitized server must pass the same tests and exit 0.
SERVERS = [("af_packet", False), ("af_xdp", False), ("af_packet", True)]


@contextmanager
def running_server(name, backend, tmp, san=False, extra=()):
    """A test network and the server in it (`python -m apps.http_echo.native`, as the app
    starts it), ready; on leaving, SIGTERM must give exit 0 with no sanitizer report and no
    XDP program left on the link."""
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces")
    with testnet.create(name=name, kind="veth", prefix=PREFIX) as tn:
        argv = ["env", f"PYTHONPATH={ROOT}", f"FASTNET_NATIVE_SAN={int(san)}",
                sys.executable, "-m", "apps.http_echo.native",
                "--port", str(PORT), "--backend", backend, "--iface", tn.stack_if,
                "--ip", tn.stack_cidr, "--max-body", str(MAX_BODY),
                "--max-header", str(MAX_HEADER), "--idle-timeout", str(IDLE), *extra]
        proc = NsProc(tn.stack_ns, argv, tmp, "server", cwd=str(ROOT))
        try:
            proc.wait_for(f"http_echo: listening on {tn.stack_ip}:{PORT} (loop=native)", 60)
            if backend == "af_xdp":
                assert link_has_xdp(tn)
            yield Server(tn, proc)
            rc = proc.stop()
            assert rc == 0, proc.err_text()
            assert "Sanitizer" not in proc.err_text(), proc.err_text()
            assert not link_has_xdp(tn)
        finally:
            proc.stop()
            proc.close()


@pytest.fixture(scope="module", params=range(len(SERVERS)),
                ids=[f"{b}{'-asan' if san else ''}" for b, san in SERVERS])
def server(request, built, tmp_path_factory):
    backend, san = SERVERS[request.param]
    tmp = tmp_path_factory.mktemp(f"native-{backend}")
    with running_server(f"nv{os.getpid() % 1000}x{request.param}", backend, tmp, san) as srv:
        yield srv


def cpu_seconds(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")     # utime + stime


@contextmanager
def peer_conn(srv, timeout=10.0):
    """A kernel TCP socket in the peer namespace, connected to the server."""
    with open("/proc/self/ns/net") as home:
        with open(netns.path(srv.tn.peer_ns)) as peer:
            netns._setns(peer.fileno(), netns.CLONE_NEWNET)
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                netns._setns(home.fileno(), netns.CLONE_NEWNET)
    try:
        s.settimeout(timeout)
        s.connect((srv.tn.stack_ip, PORT))
        yield s
    finally:
        s.close()


class Reader:
    """Reads HTTP/1.1 responses (Content-Length framed, as the server always sends)."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def _fill(self):
        data = self.s.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def response(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        n = 0 if head_only or status == 100 else int(headers["content-length"])
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed(self):
        """True once the server's FIN arrives with nothing else before it."""
        try:
            data = self.s.recv(65536)
        except ConnectionResetError:
            return True
        self.buf += data
        return data == b""


def echoed_head(req):
    """What GET/HEAD echo for a well-formed request: its head up to the blank line ending it."""
    return req.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"


def httptools_head(req):
    """The head as the asyncio app rebuilds it from httptools (the same llhttp): the request
    line, "name: value" per header as the parser gives them, the blank line."""
    import httptools

    class Sink:
        def __init__(self):
            self.url, self.headers = b"", []

        def on_url(self, url):
            self.url += url

        def on_header(self, name, value):
            self.headers.append((name, value))

    sink = Sink()
    p = httptools.HttpRequestParser(sink)
    p.feed_data(req)
    return (p.get_method() + b" " + sink.url + b" HTTP/" + p.get_http_version().encode()
            + b"\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in sink.headers) + b"\r\n")


def test_get_echoes_the_request_head(server):
    req = b"GET /echo/me?q=1 HTTP/1.1\r\nHost: native\r\nAccept: */*\r\n\r\n"
    with peer_conn(server) as s:
        s.sendall(req)
        status, headers, body = Reader(s).response()
    assert status == 200
    assert headers["content-type"] == "text/plain" and "date" in headers
    assert body == echoed_head(req)


def test_get_echo_is_the_head_as_parsed(server):
    """Odd spacing and a header split over several reads: the echo is what llhttp parsed,
    exactly as the asyncio app (httptools) rebuilds it."""
    req = (b"GET /sp%20ace HTTP/1.1\r\nHost:native\r\nX-Odd-Case:   spaced  value  \r\n"
           b"x-empty:\r\nX-Split: " + b"s" * 300 + b"\r\n\r\n")
    with peer_conn(server) as s:
        for i in range(0, len(req), 50):
            s.sendall(req[i:i + 50])
            time.sleep(0.01)
        assert Reader(s).response()[::2] == (200, httptools_head(req))


def test_get_with_curl(server):
    out = server.curl("-i", "-H", "X-Probe: curl-native", f"{server.url}/path?a=b")
    head, body = out.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body.startswith(b"GET /path?a=b HTTP/1.1\r\n")
    assert b"\r\nX-Probe: curl-native\r\n" in body
    assert body.endswith(b"\r\n\r\n") and body.count(b"\r\n\r\n") == 1


def test_post_and_put_echo_the_body(server, tmp_path):
    data = random.Random(7).randbytes(MAX_BODY - 1)
    f = tmp_path / "body.bin"
    f.write_bytes(data)
    for method in (["--data-binary", f"@{f}"], ["-T", str(f)]):
        assert server.curl(*method, "-H", "Content-Type: application/octet-stream",
                           f"{server.url}/up") == data


def test_chunked_body_is_echoed(server):
    chunks = [b"first,", b"x" * 5000, b"", b"last"]
    wire = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"
    with peer_conn(server) as s:
        s.sendall(b"POST /c HTTP/1.1\r\nHost: n\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(wire), 777):     # the chunks arrive in pieces
            s.sendall(wire[i:i + 777])
        status, _, body = Reader(s).response()
    assert status == 200
    assert body == b"".join(chunks)


def test_head_has_the_get_headers_and_no_body(server):
    get = b"GET /h HTTP/1.1\r\nHost: n\r\n\r\n"
    head = b"HEAD /h HTTP/1.1\r\nHost: n\r\n\r\n"
    with peer_conn(server) as s:
        r = Reader(s)
        s.sendall(get)
        _, gh, gbody = r.response()
        # HEAD then GET on the same connection: a body after the HEAD would corrupt the GET.
        s.sendall(head + get)
        status, hh, _ = r.response(head_only=True)
        status2, _, body2 = r.response()
    assert status == 200 and status2 == 200
    assert hh["content-length"] == str(len(echoed_head(head)))
    assert gh["content-length"] == str(len(gbody))
    assert hh["content-type"] == gh["content-type"]
    assert body2 == echoed_head(get)


def test_keep_alive_reuses_one_connection(server):
    out = server.curl("-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n",
                      f"{server.url}/a", f"{server.url}/b")
    assert out.split(b"\n")[:2] == [b"200 1", b"200 0"]


def test_pipelined_requests_are_answered_in_order(server):
    reqs = [b"GET /p%d HTTP/1.1\r\nHost: n\r\n\r\n" % i for i in range(40)]
    reqs[10] = b"POST /p10 HTTP/1.1\r\nHost: n\r\nContent-Length: 5\r\n\r\nhello"
    with peer_conn(server) as s:
        s.sendall(b"".join(reqs))
        r = Reader(s)
        bodies = [r.response()[2] for _ in reqs]
    assert bodies[10] == b"hello"
    assert [b for i, b in enumerate(bodies) if i != 10] == [echoed_head(q) for i, q in
                                                             enumerate(reqs) if i != 10]


def test_half_close_after_a_long_pipeline_gets_every_answer(server):
    """More pipelined answers than the server buffers (it stops reading at 1 MiB of output)
    and then the client's FIN: every request before the FIN is still answered, then EOF."""
    req = b"GET /hc HTTP/1.1\r\nHost: n\r\nX-Pad: " + b"p" * 3000 + b"\r\n\r\n"
    n = 600
    with peer_conn(server, timeout=30) as s:
        def send():
            s.sendall(req * n)
            s.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        r = Reader(s)
        try:
            got = [r.response()[2] for _ in range(n)]
            assert r.closed() and r.buf == b""
        finally:
            sender.join(timeout=30)
    assert got == [echoed_head(req)] * n


def test_connection_close_is_honoured(server):
    with peer_conn(server) as s:
        s.sendall(b"GET /bye HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n"
                  b"GET /never HTTP/1.1\r\nHost: n\r\n\r\n")
        r = Reader(s)
        status, headers, body = r.response()
        assert status == 200 and headers["connection"] == "close"
        assert body.startswith(b"GET /bye ")
        assert r.closed() and r.buf == b""


def peer_rx_packets(srv):
    """Frames the peer end of the link has received (the server's, and nothing else there)."""
    r = subprocess.run(netns.exec_argv(srv.tn.peer_ns, [
        "cat", f"/sys/class/net/{srv.tn.peer_if}/statistics/rx_packets"]),
        capture_output=True, text=True, timeout=10, check=True)
    return int(r.stdout)


def test_connection_close_answer_carries_the_fin(server):
    """The answer to `Connection: close` and the server's FIN leave in one segment, so a
    short connection costs the server three: SYN-ACK, answer + FIN, the ACK of the
    client's FIN."""
    def one():
        with peer_conn(server) as s:
            s.sendall(b"GET /one HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n")
            r = Reader(s)
            assert r.response()[0] == 200
            assert r.closed() and r.buf == b""
        time.sleep(0.3)                 # the ACK of our FIN

    one()                               # neighbours resolved both ways
    before = peer_rx_packets(server)
    one()
    assert peer_rx_packets(server) - before == 3


def test_http10_closes_unless_keep_alive(server):
    with peer_conn(server) as s:
        s.sendall(b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = Reader(s)
        status, headers, _ = r.response()
        assert status == 200 and headers["connection"] == "keep-alive"
        s.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        assert r.response()[0] == 200
        assert r.closed()


def test_expect_100_continue(server):
    with peer_conn(server) as s:
        s.sendall(b"PUT /e HTTP/1.1\r\nHost: n\r\nContent-Length: 3\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        r = Reader(s)
        assert r.response()[0] == 100
        s.sendall(b"abc")
        assert r.response()[::2] == (200, b"abc")


def test_upgrade_is_answered_as_plain_http_then_closed(server):
    """Answered with 200, not 101 (RFC 9110 §7.8); what follows would be another protocol,
    so the connection ends."""
    up = b"GET /ws HTTP/1.1\r\nHost: n\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    nxt = b"GET /next HTTP/1.1\r\nHost: n\r\n\r\n"
    with peer_conn(server) as s:
        s.sendall(up + nxt)
        r = Reader(s)
        status, headers, body = r.response()
        assert (status, body) == (200, echoed_head(up)) and headers["connection"] == "close"
        assert r.closed() and r.buf == b""


@pytest.mark.parametrize("request_bytes", [
    b"NOT A REQUEST\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: n\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET / HTTP/1.1\r\nHost: n\r\nContent-Length: 12x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: n\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"GET /\x01 HTTP/1.1\r\n\r\n",
], ids=["garbage", "no-colon", "cl-and-te", "bad-chunk", "bad-length", "two-lengths",
        "target"])
def test_malformed_gets_400_and_close(server, request_bytes):
    with peer_conn(server) as s:
        s.sendall(request_bytes)
        r = Reader(s)
        status, headers, _ = r.response()
        assert status == 400 and headers["connection"] == "close"
        assert r.closed()


def test_unknown_method_gets_405(server):
    with peer_conn(server) as s:
        s.sendall(b"DELETE /x HTTP/1.1\r\nHost: n\r\n\r\nGET /after HTTP/1.1\r\nHost: n\r\n\r\n")
        r = Reader(s)
        status, headers, _ = r.response()
        assert status == 405 and headers["allow"] == "GET, HEAD, POST, PUT"
        assert r.response()[0] == 200       # the connection stays usable


def test_body_over_the_limit_gets_413(server):
    with peer_conn(server) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: n\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        r = Reader(s)
        status, headers, _ = r.response()    # before any body byte was sent
        assert status == 413 and headers["connection"] == "close"
        assert r.closed()
    with peer_conn(server) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: n\r\nTransfer-Encoding: chunked\r\n\r\n")
        big = b"y" * 4096
        try:
            for _ in range(MAX_BODY // len(big) + 2):
                s.sendall(b"%x\r\n%s\r\n" % (len(big), big))
        except (BrokenPipeError, ConnectionResetError):
            pass                              # the server stopped reading after its 413
        r = Reader(s)
        assert r.response()[0] == 413
        # lingering close: what the client still sends is dropped, and 2 s after the 413
        # the server closes even though the client never sent its FIN
        t0 = time.monotonic()
        try:
            while not r.closed():
                pass
        except socket.timeout:
            pytest.fail("the server did not close after its 413")
        assert time.monotonic() - t0 < 5


def test_body_at_the_limit_is_accepted(server):
    data = b"z" * MAX_BODY
    with peer_conn(server) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: n\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
        assert Reader(s).response()[::2] == (200, data)


def test_huge_header_gets_431(server):
    with peer_conn(server) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: n\r\nX-Big: " + b"b" * MAX_HEADER + b"\r\n\r\n")
        r = Reader(s)
        status, headers, _ = r.response()
        assert status == 431 and headers["connection"] == "close"
    # an unfinished head is refused as soon as it is over the limit
    with peer_conn(server) as s:
        s.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"b" * (MAX_HEADER + 100))
        assert Reader(s).response()[0] == 431


def read_to_eof(sock):
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_mangled_requests_never_break_it(server):
    """Seeded mutations of valid requests (bytes changed, inserted, cut off), some clients
    half-closing and reading, some vanishing mid-request: every answer starts with a status
    line, the server closes each half-closed connection, and it keeps serving."""
    rng = random.Random(11)
    valid = [b"GET /v HTTP/1.1\r\nHost: n\r\n\r\n",
             b"POST /v HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd",
             b"PUT /v HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
             b"HEAD /v HTTP/1.0\r\n\r\n"]
    for i in range(60):
        msg = bytearray(b"".join(rng.choice(valid) for _ in range(3)))
        for _ in range(rng.randint(1, 6)):
            pos, op = rng.randrange(len(msg)), rng.random()
            if op < 0.4:
                msg[pos] = rng.randrange(256)
            elif op < 0.8:
                msg[pos:pos] = rng.randbytes(rng.randint(1, 8))
            else:
                del msg[max(pos, 1):]
        with peer_conn(server, timeout=IDLE + 5) as s:
            s.sendall(bytes(msg))
            if i % 3 == 0:
                continue                          # gone without reading (reset)
            s.shutdown(socket.SHUT_WR)
            data = read_to_eof(s)
        assert data == b"" or data.startswith(b"HTTP/1.1 "), (bytes(msg), data[:200])
    assert server.curl("-o", "/dev/null", "-w", "%{http_code}", server.url) == b"200"


def test_idle_connection_is_closed(server):
    with peer_conn(server, timeout=IDLE + 10) as s:
        s.sendall(b"GET /i HTTP/1.1\r\nHost: n\r\n\r\n")
        r = Reader(s)
        assert r.response()[0] == 200
        t0 = time.monotonic()
        assert r.closed()
        waited = time.monotonic() - t0
    assert IDLE - 0.5 <= waited <= IDLE + 5


def test_idle_server_sleeps(server):
    """With open idle connections and nothing to do, the loop sleeps in poll(2)."""
    pid = server.proc.proc.pid
    with peer_conn(server):
        time.sleep(0.3)
        t0 = cpu_seconds(pid)
        time.sleep(1.0)
        used = cpu_seconds(pid) - t0
    assert used < 0.2, f"{used:.2f} s of CPU in 1 s idle"


def test_wrk_smoke_has_no_errors(server):
    # --timeout: on a machine shared by many jobs a scheduling stall is not a server error
    r = server.tn.run_peer(["wrk", "-t1", "-c64", "-d3", "--timeout", "10s", f"{server.url}/"],
                           check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Socket errors" not in r.stdout, r.stdout
    assert "Non-2xx" not in r.stdout, r.stdout
    m = re.search(r"(\d+) requests in", r.stdout)
    assert m and int(m.group(1)) > 0, r.stdout
    # and the server is still there and well afterwards
    assert server.curl("-o", "/dev/null", "-w", "%{http_code}", server.url) == b"200"


# --- serve(): the translation of the app's arguments (no network needed) ------------------


def test_flags_become_the_programs_options(tmp_path):
    from apps.http_echo.native import command

    (tmp_path / "x.o").write_bytes(b"")     # config checks that the XDP object exists
    argv = command("198.19.41.1", 8080, {"max_body": 10, "idle_timeout": 1.5},
                   {"iface": "nv0", "backend": "af_xdp", "ip": "198.19.41.1/24",
                    "gateway": "198.19.41.254", "tcp_sndbuf": 262144,
                    "tcp_congestion": "newreno", "buffers_hugepages": False,
                    "fault_seed": 7, "fault_tx_drop": 0.25, "pcap": str(tmp_path / "c.pcap"),
                    "xdp_obj": str(tmp_path / "x.o"), "log_level": "debug"})
    opts = list(zip(argv[1::2], argv[2::2]))
    for pair in [("--backend", "af_xdp"), ("--iface", "nv0"), ("--ip", "198.19.41.1/24"),
                 ("--port", "8080"), ("--host", "198.19.41.1"), ("--max-body", "10"),
                 ("--max-header", str(16 << 10)), ("--idle-timeout", "1.5"),
                 ("--gateway", "198.19.41.254"), ("--knob", "tcp_sndbuf=262144"),
                 ("--knob", "tcp_cc=0"), ("--knob", "hugepages=0"), ("--fault-seed", "7"),
                 ("--fault", "tx:drop_ppm=250000"), ("--pcap", str(tmp_path / "c.pcap")),
                 ("--xdp-obj", str(tmp_path / "x.o")), ("--log-level", "debug")]:
        assert pair in opts, (pair, argv)
    # dotted keys (what fastnet.cli._overrides gives) mean the same
    assert command(None, 80, {}, {"port.iface": "nv0", "port.ip": "198.19.41.1/24"})[1:7] == [
        "--backend", "af_packet", "--iface", "nv0", "--ip", "198.19.41.1/24"]


def test_bad_options_exit_2_with_one_line(capfd):
    from apps.http_echo.native import serve

    for opts in ({"iface": "nv0", "ip": "198.19.41.1/24", "tcp_sack": "maybe"},
                 {"iface": "nv0", "ip": "300.1.1.1/24"},
                 {"ip": "198.19.41.1/24"}):
        assert serve(None, 8080, {}, opts) == 2
        err = capfd.readouterr().err
        assert err.startswith("http_echo: config error: ") and err.count("\n") == 1, err
    assert serve(None, 0, {}, {"iface": "nv0", "ip": "198.19.41.1/24"}) == 2
    assert serve(None, 80, {"max_bodies": 1}, {"iface": "nv0", "ip": "198.19.41.1/24"}) == 2


def test_program_rejects_bad_arguments(built):
    from apps.http_echo import native

    exe = native.build()
    base = [exe, "--backend", "af_packet", "--iface", "nv0", "--ip", "198.19.41.1/24"]
    for extra in (["--port", "0"], ["--port", "80", "--knob", "no_such_knob=1"],
                  ["--port", "80", "--knob", "mtu=-1"], ["--port", "80", "--fault", "up:x=1"],
                  ["--port", "80", "--idle-timeout", "0"], ["--port", "80", "stray"],
                  ["--port", "80", "--log-level", "loud"]):
        r = subprocess.run(base + extra, capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (extra, r.stderr)
        assert r.stderr.startswith("http_echo: "), r.stderr


def test_full_descriptor_table_neither_spins_nor_loses_connections(built, tmp_path):
    """More clients than descriptors (--tcp-max-sockets 8: the listener, the epoll set and
    six connections): the extra ones wait in the stack, the server sleeps meanwhile instead
    of spinning on a listener it cannot accept from, and serves them once others close."""
    with running_server(f"nv{os.getpid() % 1000}t", "af_packet", tmp_path,
                        extra=["--tcp-max-sockets", "8"]) as srv:
        with ExitStack() as stack:
            first = [stack.enter_context(peer_conn(srv)) for _ in range(6)]
            for s in first:
                s.sendall(b"GET /first HTTP/1.1\r\nHost: n\r\n\r\n")
                assert Reader(s).response()[0] == 200
            waiting = [stack.enter_context(peer_conn(srv)) for _ in range(3)]
            for s in waiting:
                s.sendall(b"GET /later HTTP/1.1\r\nHost: n\r\n\r\n")
            time.sleep(0.3)
            t0 = cpu_seconds(srv.proc.proc.pid)
            time.sleep(1.0)
            assert cpu_seconds(srv.proc.proc.pid) - t0 < 0.2
            for s in first[:3]:
                s.close()
            for s in waiting:
                assert Reader(s).response()[::2] == (
                    200, b"GET /later HTTP/1.1\r\nHost: n\r\n\r\n")
