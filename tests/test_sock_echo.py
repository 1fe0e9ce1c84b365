"""The C socket API serving a TCP echo to the kernel's `nc` (issue 4 acceptance).

stack/tests/tool_sock_echo (no Python in the data path: fn_socket/fn_bind/fn_listen/
fn_accept4/fn_epoll_*/fn_recv/fn_send/fn_close on non-blocking sockets) runs in the stack
namespace of a test network (fastnet.testnet, 198.18.21.0/24) on af_xdp (level- and
edge-triggered), af_packet and tap.  From the peer namespace, at the same time:
  - CLIENTS `nc` processes each send their own BYTES-byte file and read the echo; once the
    whole echo is back (compared by SHA-256) the test stops them by PID, so the server sees
    them close without a half-close first;
  - one `nc -N` sends its file, half-closes after it (shutdown(SHUT_WR)), and must get every
    byte back and then EOF (it exits by itself with status 0).
Then the tool is stopped with SIGTERM and its JSON line must show every client accepted and
finished cleanly, the byte counts both ways, no packet buffer in use and (af_xdp) the XDP
program detached.  Everything is torn down even when a test fails; only processes started
here are stopped, by their PID.  FASTNET_SOCK_ECHO_BYTES changes the size per client.
"""
import hashlib
import json
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from fastnet import testnet
from helpers.nsproc import NsProc
from helpers.stackbuild import make_stack

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "stack"
TOOL = STACK / "build" / "tests" / "tool_sock_echo"
XDP_OBJ = STACK / "build" / "fn_xdp_kern.o"
PREFIX = "198.18.21.0/24"
PORT = 7007
CLIENTS = 4
BYTES = int(os.environ.get("FASTNET_SOCK_ECHO_BYTES", str(3 << 20)))
RUN_TIMEOUT = 60.0

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: creates network namespaces")


@pytest.fixture(scope="module")
def tool():
    """Build the tool and the XDP program (make is a no-op when they are current)."""
    make_stack(TOOL.name)
    assert TOOL.exists(), TOOL
    if subprocess.run(["which", "nc"], capture_output=True).returncode != 0:
        pytest.fail("nc (netcat-openbsd) is not installed: scripts/install-deps.sh installs it")
    return TOOL


def make_payload(path, seed):
    """BYTES bytes of a seeded pattern (distinct per client); returns its SHA-256."""
    rng = random.Random(seed)
    block = rng.randbytes(1 << 16)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = BYTES
        while left:
            chunk = block[:min(left, len(block))]
            # Rotate the block so no two 64 KiB pieces are the same: a misplaced piece shows.
            block = block[1:] + block[:1]
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def link_has_xdp(tn):
    r = subprocess.run(["ip", "-n", tn.stack_ns, "link", "show", "dev", tn.stack_if],
                       capture_output=True, text=True, timeout=10)
    return "xdp" in r.stdout


CASES = [("af_xdp", False), ("af_xdp", True), ("af_packet", False), ("tap", True)]


@pytest.mark.parametrize("backend,edge", CASES,
                         ids=[f"{b}-{'et' if e else 'lt'}" for b, e in CASES])
def test_nc_clients_get_their_bytes_back(tool, tmp_path, backend, edge):
    name = f"se{os.getpid() % 1000}{backend[-1]}{'e' if edge else 'l'}"
    kind = "tap" if backend == "tap" else "veth"
    procs = []
    with testnet.create(name=name, kind=kind, prefix=PREFIX) as tn:
        try:
            argv = [str(TOOL), "-b", backend, "-i", tn.stack_if, "-a", tn.stack_cidr,
                    "-l", str(PORT), "-o", str(XDP_OBJ), "-t", str(RUN_TIMEOUT)]
            server = NsProc(tn.stack_ns, argv + (["-E"] if edge else []), tmp_path, "tool")
            procs.append(server)
            server.wait_for("listening")
            if backend == "af_xdp":
                assert link_has_xdp(tn)

            want = {}
            clients = []
            for i in range(CLIENTS + 1):
                half_close = i == CLIENTS
                inp = tmp_path / f"in{i}"
                want[i] = make_payload(inp, seed=1000 + i)
                nc = ["nc", *(["-N"] if half_close else []), tn.stack_ip, str(PORT)]
                p = NsProc(tn.peer_ns, nc, tmp_path, f"nc{i}", stdin_path=inp)
                procs.append(p)
                clients.append((i, half_close, p))

            end = time.monotonic() + RUN_TIMEOUT
            pending = {i for i, _, _ in clients}
            while pending and time.monotonic() < end:
                for i, half_close, p in clients:
                    if i not in pending:
                        continue
                    if half_close:
                        if p.proc.poll() is not None:
                            pending.discard(i)
                    elif p.out_path.stat().st_size >= BYTES:
                        pending.discard(i)
                time.sleep(0.1)
            if pending:
                sizes = {i: (tmp_path / f"nc{i}.out").stat().st_size for i in pending}
                server.stop()
                raise AssertionError(f"echo stalled: {sizes}; tool: "
                                     f"{server.out_path.read_text()[-3000:]}")

            for i, half_close, p in clients:
                got = p.out_path.stat().st_size
                assert got == BYTES, (i, got)
                assert sha256_file(p.out_path) == want[i], f"client {i}: echo differs"
                if half_close:
                    # nc -N exits on its own only after the server's EOF.
                    assert p.proc.returncode == 0, p.err_text()
                else:
                    assert p.proc.poll() is None, "nc without -N quit before it was stopped"
                    p.stop()
            # Let the server see the stopped clients' FINs and close its side.
            time.sleep(1.0)
            rc = server.stop()
            lines = server.out_path.read_text().strip().splitlines()
            assert lines, server.err_text()
            res = json.loads(lines[-1])
            xdp_left = link_has_xdp(tn)
        finally:
            for p in procs:
                p.close()
    total = (CLIENTS + 1) * BYTES
    assert rc == 0, (rc, res)
    assert res["accepted"] == CLIENTS + 1, res
    assert res["completed"] == CLIENTS + 1 and res["failed"] == 0, res
    assert res["open_at_exit"] == 0 and res["accept_errors"] == 0, res
    assert res["max_open"] >= 2, res          # the clients really overlapped
    assert res["bytes_received"] == total and res["bytes_sent"] == total, res
    assert res["pool_in_use"] == 0, res
    assert res["edge_triggered"] is edge
    assert not xdp_left
