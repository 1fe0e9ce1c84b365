"""The receive-path cost benchmark (bench/tcp_rx_cost.c) still builds and measures what it says.

Runs the program once per mode without valgrind for a small K and checks, from the counter
deltas it prints for its measured region, that each of the K segments reached TCP and was
taken by header prediction (data segments fully delivered, and read by the application in the
drain mode; every pure ACK acknowledging new data and sending nothing).  The program itself
exits non-zero if the stack ends with a tcpcb or a packet buffer still in use.  Instruction
counts are bench/tcp_rx_cost.py's business and never asserted here.
"""
import json
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROG = os.path.join(ROOT, "stack", "build", "bench", "tcp_rx_cost")
K = 50


@pytest.fixture(scope="module")
def prog():
    if not shutil.which("make") or not shutil.which("cc"):
        pytest.fail("no C toolchain: scripts/install-deps.sh installs gcc and make")
    subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "stack"), "-j2", "bench"],
                   check=True)
    return PROG


def run(prog, mode, k=K):
    p = subprocess.run([prog, "--mode", mode, "--k", str(k)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["mode"] == mode and out["k"] == k
    return out


@pytest.mark.parametrize("mode", ["data", "data-drain"])
def test_data_segments_take_header_prediction(prog, mode):
    out = run(prog, mode)
    assert out["tcp_rx"] == K
    assert out["hdrpred_data"] == K
    assert out["hdrpred_ack"] == 0
    assert out["seg_bytes"] == 1448        # MSS 1460 minus the timestamp option
    assert out["rx_bytes"] == K * out["seg_bytes"]
    assert out["drop_l4_bad_csum"] == 0
    # Delayed ACK: one ACK per two full-size segments (RFC 5681 §4.2), plus window updates
    # after reads in the drain mode.
    assert out["tcp_tx"] >= K // 2
    assert out["drained"] == (K * out["seg_bytes"] if mode == "data-drain" else 0)


# ack: all data was in flight before, so nothing is sent; send-*: each ACK moves the
# window's right edge by one segment, so exactly one goes out per ACK.
@pytest.mark.parametrize("mode,sent", [("ack", 0), ("send-64k", K), ("send-1m", K)])
def test_pure_acks_take_header_prediction(prog, mode, sent):
    out = run(prog, mode)
    assert out["tcp_rx"] == K
    assert out["hdrpred_ack"] == K
    assert out["hdrpred_data"] == 0
    assert out["rx_bytes"] == 0
    assert out["tcp_tx"] == sent


def test_all_modes_and_bad_arguments(prog):
    p = subprocess.run([prog, "--k", "8"], stdout=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0
    assert [json.loads(x)["mode"] for x in p.stdout.splitlines()] == ["data", "data-drain",
                                                                      "ack", "send-64k",
                                                                      "send-1m"]
    for bad in (["--k", "0"], ["--mode", "nope"], ["--k", "5000"], ["extra"]):
        p = subprocess.run([prog] + bad, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        assert p.returncode == 2, bad
