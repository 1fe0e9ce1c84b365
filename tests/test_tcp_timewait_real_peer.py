"""TIME_WAIT does not starve a fastnet server of tcpcbs, against the Linux kernel's TCP.

The load-test bug: a server that answers short connections and closes first keeps one
TIME_WAIT per connection for 2 MSL (60 s); once cfg.tcp_max_conns of them piled up, the next
handshake completed from the client's side but the connection was never served — the client
hung.  Here stack/tests/tool_tcp_peer (fastnet, in the stack namespace of a veth test network
on 198.19.43.0/24) serves CONNS connections with only 8 tcpcbs (-k tcp_max_conns=8): on each
it sends a short answer and its FIN at once; a kernel client in the peer namespace opens them
one after the other, reads the answer to EOF and closes.  Every connection must complete with
FIN on both sides, within a per-connection timeout, and the stack must report that it
recycled the TIME_WAITs beyond its seven spare tcpcbs (tcp_tw_recycled).  The network is torn
down even when the test fails; only processes started here are stopped, by their PID.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastnet import testnet
from helpers.nsproc import NsProc

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "stack"
TOOL = STACK / "build" / "tests" / "tool_tcp_peer"
PREFIX = "198.19.43.0/24"
PORT = 5003
CONNS = 40
ANSWER = 100
MAX_CONNS = 8

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: creates network namespaces")

# The kernel client: CONNS connections in a row, each read to EOF, then closed; one JSON
# line with what each got (bytes, or the error that ended it).
CLIENT = r"""
import json, socket, sys
addr, port, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = []
for i in range(conns):
    got, err = 0, None
    try:
        with socket.create_connection((addr, port), timeout=5) as s:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += len(b)
    except OSError as e:
        err = f"{type(e).__name__}: {e}"
    out.append({"got": got, "err": err})
    if err:
        break
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def tool():
    r = subprocess.run(["make", "-C", str(STACK), "-j2", "all"], capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0 or not TOOL.exists():
        pytest.fail(f"cannot build {TOOL.name} (libssl-dev?): {r.stderr[-2000:]}")
    return TOOL


@pytest.fixture
def net():
    tn = testnet.create(name=f"tw{os.getpid() % 1000}", kind="veth", prefix=PREFIX)
    try:
        yield tn
    finally:
        tn.destroy()


def test_short_connections_closed_by_the_server_never_run_out(tool, net, tmp_path):
    tn = net
    server = NsProc(tn.stack_ns, [str(tool), "-b", "af_packet", "-i", tn.stack_if,
                                  "-a", tn.stack_cidr, "-l", str(PORT), "-c", str(CONNS),
                                  "-n", str(ANSWER), "-r", "0", "-s", "7", "-t", "120",
                                  "-k", f"tcp_max_conns={MAX_CONNS}"],
                    tmp_path, "tool", cwd=ROOT)
    client = None
    try:
        server.wait_for("listening")
        client = NsProc(tn.peer_ns, [sys.executable, "-c", CLIENT, tn.stack_ip, str(PORT),
                                     str(CONNS)], tmp_path, "client", cwd=ROOT)
        crc = client.wait(CONNS * 6 + 30)
        res = client.result()
        assert crc == 0 and res is not None, (crc, client.err_text())
        failed = [(i, c) for i, c in enumerate(res) if c["err"] or c["got"] != ANSWER]
        assert not failed and len(res) == CONNS, f"connections that did not work: {failed}"
        src = server.wait(30)
        fres = server.result()
    finally:
        if client:
            client.close()
        server.close()
    assert fres is not None, server.err_text()
    ends = [c["closed"] for c in fres["conns"]]
    assert ends == ["fin"] * CONNS, ends
    s = fres["stats"]
    # One tcpcb is the listener's: from the eighth connection on, each one took over the
    # oldest TIME_WAIT (and none was refused).
    assert s["tcp_tw_recycled"] == CONNS - (MAX_CONNS - 1), json.dumps(s)
    assert s["tcp_tcb_exhausted"] == 0 and s["tcp_conn_reset"] == 0, json.dumps(s)
    assert fres["pool_in_use"] == 0 and src == 0, (src, fres["pool_in_use"])
