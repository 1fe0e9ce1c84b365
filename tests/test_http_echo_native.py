"""The native HTTP echo server (apps/http_echo/native: C on fastnet's socket API, llhttp)
against real clients — curl, wrk and raw kernel sockets — from the peer namespace of a test
network (fastnet.testnet veth, 198.19.41.0/24, namespaces nv*), on af_packet and af_xdp.

One server per backend is started the way the app starts it (`python -m
apps.http_echo.native`, which execs the C program) with small limits so the 413/431 cases
stay small: --max-body 65536, --max-header 4096, --idle-timeout 2.  Covered: GET echoes the
head as received, POST/PUT echo the body (Content-Length and chunked), HEAD, keep-alive,
pipelining (answered in order), Connection: close, HTTP/1.0, Expect: 100-continue, 400,
405, 413 (declared and chunked), 431, the idle timeout, ~0 CPU when idle, a wrk smoke run
with zero errors, and SIGTERM → exit 0 with the XDP program detached.  Everything is torn
down when a test fails; only processes started here are stopped, by their PID.
"""
import os
import random
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from fastnet import netns, testnet
from helpers.nsproc import NsProc

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "198.19.41.0/24"
PORT = 8080
MAX_BODY = 65536
MAX_HEADER = 4096
IDLE = 2.0

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: creates network namespaces")


@pytest.fixture(scope="module")
def built():
    """The server and the XDP program, built before any timing-sensitive start."""
    from apps.http_echo import native

    try:
        native.build()
    except native.BuildError as e:
        pytest.fail(str(e))
    r = subprocess.run(["make", "-s", "-C", str(ROOT / "stack"), "bpf"], capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail(f"cannot build the XDP program: {r.stdout}{r.stderr}")
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


@pytest.fixture(scope="module", params=["af_packet", "af_xdp"])
def server(request, built, tmp_path_factory):
    backend = request.param
    tmp = tmp_path_factory.mktemp(f"native-{backend}")
    name = f"nv{os.getpid() % 1000}{backend[3]}"
    with testnet.create(name=name, kind="veth", prefix=PREFIX) as tn:
        argv = ["env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "apps.http_echo.native",
                "--port", str(PORT), "--backend", backend, "--iface", tn.stack_if,
                "--ip", tn.stack_cidr, "--max-body", str(MAX_BODY),
                "--max-header", str(MAX_HEADER), "--idle-timeout", str(IDLE)]
        proc = NsProc(tn.stack_ns, argv, tmp, "server", cwd=str(ROOT))
        try:
            proc.wait_for(f"http_echo: listening on {tn.stack_ip}:{PORT} (loop=native)", 60)
            if backend == "af_xdp":
                assert link_has_xdp(tn)
            yield Server(tn, proc)
            # SIGTERM: a clean exit (status 0 means no packet buffer leaked) and no XDP left.
            rc = proc.stop()
            assert rc == 0, proc.err_text()
            assert not link_has_xdp(tn)
        finally:
            proc.stop()
            proc.close()


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


def test_get_echoes_the_request_head(server):
    req = (b"GET /echo/me?q=1 HTTP/1.1\r\nHost: native\r\nX-Odd-Case:  spaced value \r\n"
           b"Accept: */*\r\n\r\n")
    with peer_conn(server) as s:
        s.sendall(req)
        status, headers, body = Reader(s).response()
    assert status == 200
    assert headers["content-type"] == "text/plain"
    assert body == req


def test_get_with_curl(server):
    out = server.curl("-i", "-H", "X-Probe: curl-native", f"{server.url}/path?a=b")
    head, body = out.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body.startswith(b"GET /path?a=b HTTP/1.1\r\n")
    assert b"\r\nX-Probe: curl-native\r\n" in body
    assert body.endswith(b"\r\n\r\n")


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
    assert hh["content-length"] == str(len(head)) and gh["content-length"] == str(len(gbody))
    assert hh["content-type"] == gh["content-type"]
    assert body2 == get


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
    assert [b for i, b in enumerate(bodies) if i != 10] == [q for i, q in enumerate(reqs)
                                                             if i != 10]


def test_connection_close_is_honoured(server):
    with peer_conn(server) as s:
        s.sendall(b"GET /bye HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n"
                  b"GET /never HTTP/1.1\r\nHost: n\r\n\r\n")
        r = Reader(s)
        status, headers, body = r.response()
        assert status == 200 and headers["connection"] == "close"
        assert body.startswith(b"GET /bye ")
        assert r.closed() and r.buf == b""


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


@pytest.mark.parametrize("request_bytes", [
    b"NOT A REQUEST\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
], ids=["garbage", "no-colon", "cl-and-te", "bad-chunk"])
def test_malformed_gets_400_and_close(server, request_bytes):
    with peer_conn(server) as s:
        s.sendall(request_bytes)
        r = Reader(s)
        status, headers, _ = r.response()
        assert status == 400 and headers["connection"] == "close"
        assert r.closed()


def test_unknown_method_gets_405(server):
    with peer_conn(server) as s:
        s.sendall(b"DELETE /x HTTP/1.1\r\nHost: n\r\n\r\nGET /after HTTP/1.1\r\n\r\n")
        r = Reader(s)
        status, headers, _ = r.response()
        assert status == 405 and "GET" in headers["allow"]
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
        status, headers, _ = Reader(s).response()
        assert status == 413


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

    def cpu_ticks():
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])          # utime + stime

    with peer_conn(server):
        time.sleep(0.3)
        t0 = cpu_ticks()
        time.sleep(1.0)
        used = (cpu_ticks() - t0) / os.sysconf("SC_CLK_TCK")
    assert used < 0.2, f"{used:.2f} s of CPU in 1 s idle"


def test_wrk_smoke_has_no_errors(server):
    r = server.tn.run_peer(["wrk", "-t1", "-c64", "-d3", f"{server.url}/"], check=False,
                           timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Socket errors" not in r.stdout, r.stdout
    assert "Non-2xx" not in r.stdout, r.stdout
    m = re.search(r"(\d+) requests in", r.stdout)
    assert m and int(m.group(1)) > 0, r.stdout
    # and the server is still there and well afterwards
    assert server.curl("-o", "/dev/null", "-w", "%{http_code}", server.url) == b"200"
