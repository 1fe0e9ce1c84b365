"""Unmodified third-party asyncio HTTP frameworks (aiohttp.web, uvicorn) and a plain
asyncio.start_server server (h11 for HTTP/1.1, wsproto for WebSocket) serve requests on
fastnet's loop exactly as on uvloop and the stock asyncio loop.

Each case starts tests/helpers/framework_server.py under `ip netns exec` in the stack
namespace of a test network; the framework makes its own listener (aiohttp's web.TCPSite,
uvicorn's Server.serve(), both ending in loop.create_server(host, port); the streams server's
asyncio.start_server).  Clients run in the peer namespace: curl (GET with a JSON body, a
1 MiB POST echoed back and SHA-256 checked, several URLs over one keep-alive connection, a
chunked streaming response) and aiohttp's own WebSocket client (text and binary echo; uvicorn
serves it with its wsproto implementation).  The same assertions on every loop:
  fastnet-af_packet / fastnet-af_xdp  the server's fastnet loop opens a stack on the stack
      namespace's veth ({name}0, no kernel address there) and serves the stack's address;
  uvloop / asyncio                    kernel TCP: the stack namespace's veth gets the same
      .1 address as a kernel address and the server binds it.
The last test of each case stops the server (SIGTERM, exit 0) and checks who served:
on fastnet the loop class is fastnet's, the kernel shows no listener on the port, and the
stack's counters account for the accepted connections and the received bytes; on the
kernel loops the listener is the kernel's.  Networks: 198.19.50.0/24, namespaces fw*.
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastnet import testnet
from helpers.nsproc import NsProc

ROOT = Path(__file__).resolve().parents[1]
PORT = 8080
TIMEOUT = 30.0
STREAM_CHUNKS = 8  # as framework_server.py
NETS = {"af_packet": ("fwpk", "198.19.50.0/26"), "af_xdp": ("fwxd", "198.19.50.64/26"),
        "kernel": ("fwk", "198.19.50.128/26")}
CASES = [("aiohttp", "fastnet", "af_packet"), ("aiohttp", "fastnet", "af_xdp"),
         ("aiohttp", "uvloop", "kernel"), ("aiohttp", "asyncio", "kernel"),
         ("uvicorn", "fastnet", "af_packet"), ("uvicorn", "uvloop", "kernel"),
         ("uvicorn", "asyncio", "kernel"), ("streams", "fastnet", "af_packet"),
         ("streams", "uvloop", "kernel"), ("streams", "asyncio", "kernel")]
READY = "framework_server: listening on"

WS_CLIENT = """
import asyncio, os, sys, aiohttp
async def main(url):
    blob = os.urandom(65536)
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url) as ws:
            for i in range(5):
                await ws.send_str(f"hello {i}")
                assert (await ws.receive_str(timeout=10)) == f"hello {i}"
            await ws.send_bytes(blob)
            assert (await ws.receive_bytes(timeout=10)) == blob
    print("ws ok")
asyncio.run(main(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def nets():
    """The three test networks, made on first use and removed at the end of the module."""
    made = {}
    try:
        yield lambda kind: made[kind] if kind in made else made.setdefault(
            kind, _make_net(kind))
    finally:
        for net in made.values():
            net.destroy()


def _make_net(kind):
    name, prefix = NETS[kind]
    net = testnet.create(name=name, kind="veth", prefix=prefix)
    if kind == "kernel":
        net.run_stack(["ip", "addr", "add", net.stack_cidr, "dev", net.stack_if])
    return net


class Server:
    """One framework_server.py process (an NsProc in the stack namespace)."""

    def __init__(self, framework, loop, backend, net, tmp):
        self.framework, self.loop, self.backend, self.net = framework, loop, backend, net
        # -m from the repository root: the server imports this tree's fastnet.
        argv = [sys.executable, "-m", "tests.helpers.framework_server", "--framework",
                framework, "--loop", loop, "--host", net.stack_ip, "--port", str(PORT)]
        if loop == "fastnet":
            argv += ["--iface", net.stack_if, "--backend", backend, "--ip", net.stack_cidr]
        self.proc = NsProc(net.stack_ns, argv, tmp, f"{framework}-{loop}-{backend}",
                           cwd=str(ROOT))
        self.connections = 0
        self.posted = 0  # request body bytes sent (and echoed back)
        try:
            self.proc.wait_for(READY, timeout=TIMEOUT)
        except BaseException:
            self.proc.close()
            raise

    def url(self, path):
        return f"http://{self.net.stack_ip}:{PORT}{path}"

    def peer(self, argv, connections=1):
        """Run argv in the peer namespace; it opens `connections` TCP connections."""
        self.connections += connections
        r = subprocess.run(["ip", "netns", "exec", self.net.peer_ns, *argv],
                           capture_output=True, timeout=TIMEOUT + 10)
        assert r.returncode == 0, (argv, r.stdout, r.stderr, self.proc.err_text())
        return r

    def curl(self, *args, connections=1):
        return self.peer(["curl", "-sS", "--fail", "--max-time", str(TIMEOUT), *args],
                         connections=connections)


@pytest.fixture(scope="module", params=CASES, ids=["-".join(c) for c in CASES])
def server(request, nets, tmp_path_factory):
    framework, loop, backend = request.param
    srv = Server(framework, loop, backend, nets(backend), tmp_path_factory.mktemp(framework))
    try:
        yield srv
    finally:
        srv.proc.close()


def test_get_json(server):
    r = server.curl("-D", "-", server.url("/json?x=1&name=fast"))
    head, body = r.stdout.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    assert b"application/json" in head.lower()
    assert json.loads(body) == {"framework": server.framework, "path": "/json",
                                "query": {"x": "1", "name": "fast"}}


def test_post_echo_1mib(server, tmp_path):
    body = os.urandom(1 << 20)
    src = tmp_path / "body.bin"
    src.write_bytes(body)
    server.posted += len(body)
    r = server.curl("-D", "-", "-H", "Content-Type: application/octet-stream",
                    "--data-binary", f"@{src}", server.url("/echo"))
    head, echoed = r.stdout.split(b"\r\n\r\n", 1)
    digest = hashlib.sha256(body).hexdigest()
    assert head.startswith(b"HTTP/1.1 200")
    assert f"x-sha256: {digest}".encode() in head.lower()
    assert len(echoed) == len(body) and hashlib.sha256(echoed).hexdigest() == digest


def test_keepalive_reuse(server):
    """Five URLs in one curl: one connection, every later request reuses it."""
    urls = [server.url(f"/json?i={i}") for i in range(5)]
    r = server.curl("-w", "\n%{num_connects}\n", *urls)
    lines = r.stdout.decode().strip().split("\n")
    docs, connects = lines[0::2], [int(n) for n in lines[1::2]]
    assert [json.loads(d)["query"] for d in docs] == [{"i": str(i)} for i in range(5)]
    assert connects == [1, 0, 0, 0, 0]


def test_streaming_chunked(server):
    r = server.curl("-D", "-", "--raw", server.url("/stream"))
    head, raw = r.stdout.split(b"\r\n\r\n", 1)
    assert b"transfer-encoding: chunked" in head.lower()
    chunks, rest = [], raw
    while True:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            break
        chunks.append(rest[:size])
        assert rest[size:size + 2] == b"\r\n"
        rest = rest[size + 2:]
    assert b"".join(chunks) == b"".join(f"chunk {i}\n".encode()
                                        for i in range(STREAM_CHUNKS))


def test_websocket_echo(server):
    r = server.peer([sys.executable, "-c", WS_CLIENT,
                     f"ws://{server.net.stack_ip}:{PORT}/ws"])
    assert r.stdout.strip() == b"ws ok"


def test_served_by_the_right_stack(server):
    """Runs last for each case: who owned the listener, then a clean SIGTERM exit.  It makes
    a request of its own, so the counters it checks are never vacuous."""
    assert json.loads(server.curl(server.url("/json")).stdout)["path"] == "/json"
    listeners = server.net.run_stack(["ss", "-Hltn", f"sport = :{PORT}"]).stdout.encode()
    assert server.proc.stop() == 0, server.proc.err_text()
    summary = server.proc.result()
    if server.loop == "fastnet":
        assert summary["loop"] == "fastnet.loop.Loop"
        assert listeners.strip() == b"", listeners
        stats = summary["stats"]
        assert stats["tcp_conn_passive"] >= server.connections, (stats, server.connections)
        assert stats["tcp_rx_bytes"] > server.posted and stats["tcp_tx_bytes"] > server.posted
    else:
        expected = {"uvloop": "uvloop.Loop",
                    "asyncio": "asyncio.unix_events._UnixSelectorEventLoop"}[server.loop]
        assert summary == {"loop": expected, "stats": None}
        assert f"{server.net.stack_ip}:{PORT}".encode() in listeners, listeners
