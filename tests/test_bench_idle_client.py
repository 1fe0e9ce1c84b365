"""The idle client of the HTTP benchmark (bench/http_clients.py idle) leaves nothing behind in
its namespace: once told to stop it resets its connections, so that neither it nor the server
keeps a TIME_WAIT or FIN_WAIT per connection.

Why it matters: http_bench runs the idle cells of all servers one after the other in the same
peer namespace.  With an orderly close each of the 100,000 connections of a cell stayed in
TIME_WAIT there for a minute, and the next cell's connect() had to search the ephemeral ports
around them — fastnet (native), which ran after the others, took 45-55 s to be connected
instead of 3 s.  Functional only: states are counted, no time is measured.

Kernel server (the asyncio app on kernel sockets) in the stack namespace of a veth test
network, 198.19.53.0/24, namespace prefix ak.
"""
import json
import os
import subprocess
import sys
import time

import pytest

from fastnet import testnet
from helpers.nsproc import NsProc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENTS = os.path.join(ROOT, "bench", "http_clients.py")
PREFIX = "198.19.53.0/24"
PORT = 8080
COUNT = 300

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: creates network namespaces")

# Every state a closed connection may linger in on either side.
LEFTOVER = ("time-wait", "fin-wait-1", "fin-wait-2", "closing", "last-ack", "close-wait")


def _sockets(ns, states, port_filter):
    argv = ["ip", "netns", "exec", ns, "ss", "-tanH"]
    for st in states:
        argv += ["state", st]
    r = subprocess.run(argv + [port_filter], capture_output=True, text=True, check=True,
                       timeout=30)
    return [ln for ln in r.stdout.splitlines() if ln.strip()]


def _wait_until(pred, timeout):
    end = time.monotonic() + timeout
    while not pred() and time.monotonic() < end:
        time.sleep(0.1)
    return pred()


def test_idle_client_resets_its_connections(tmp_path):
    with testnet.create(name=f"ak{os.getpid() % 10000}", kind="veth", prefix=PREFIX) as tn:
        subprocess.run(["ip", "-n", tn.stack_ns, "addr", "add", tn.stack_cidr, "dev",
                        tn.stack_if], check=True, timeout=30)
        env = dict(os.environ, PYTHONPATH=ROOT)
        server = NsProc(tn.stack_ns, [sys.executable, "-m", "apps.http_echo", "--loop",
                                      "asyncio", "--host", tn.stack_ip, "--port", str(PORT)],
                        tmp_path, "server", cwd=ROOT)
        client = None
        try:
            server.wait_for("http_echo: listening on", timeout=30)
            client = subprocess.Popen(
                ["ip", "netns", "exec", tn.peer_ns, sys.executable, CLIENTS, "idle",
                 "--target", f"{tn.stack_ip}:{PORT}", "--sources", tn.peer_ip,
                 "--count", str(COUNT), "--processes", "1", "--timeout", "60",
                 "--hold-max", "60"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, env=env)
            first = json.loads(client.stdout.readline())
            assert first.get("held") == COUNT, first
            dport = f"( dport = :{PORT} )"
            assert len(_sockets(tn.peer_ns, ["established"], dport)) == COUNT
            client.stdin.close()
            last = json.loads(client.stdout.read().strip().splitlines()[-1])
            assert client.wait(timeout=30) == 0
            assert last == {"dropped_while_held": 0}
            # Nothing lingers on the client's side...
            assert _sockets(tn.peer_ns, ["established", *LEFTOVER], dport) == []
            # ...and the server saw resets: its side is gone too, without a close of its own.
            sport = f"( sport = :{PORT} )"
            assert _wait_until(
                lambda: not _sockets(tn.stack_ns, ["established", *LEFTOVER], sport), 10), \
                _sockets(tn.stack_ns, ["established", *LEFTOVER], sport)[:5]
        finally:
            if client is not None and client.poll() is None:
                client.kill()
                client.wait()
            server.stop()
            server.close()
