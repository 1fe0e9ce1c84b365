"""RFC 5961 on the wire: spoofed segments from the peer namespace against a real connection.

A kernel client holds an established connection to fastnet (tool_tcp_peer -H keeps it idle);
tests/helpers/rfc5961_probe.py learns both sequence spaces by sniffing the peer veth and
injects, with scapy and the kernel's address and port, an in-window RST (challenge ACK, no
reset), an out-of-window data segment (ACKed and dropped), then real data from the kernel's
socket, then a RST exactly at RCV.NXT (reset).  Checked on the wire (what fastnet answered)
and in the tool's JSON (the connection ended by RST, only the real data arrived).
"""
import hashlib
import json
import os
import sys

import pytest

from fastnet import testnet

sys.path.insert(0, os.path.dirname(__file__))
from helpers.nsproc import NsProc  # noqa: E402
from test_tcp_real_peer import HELPERS, PORT, TOOL, XDP_OBJ, tool  # noqa: E402,F401

BACKENDS = ["af_xdp", "af_packet", "tap"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: creates network namespaces")


@pytest.mark.parametrize("backend", BACKENDS)
def test_blind_rst_and_out_of_window_data(tool, backend, tmp_path):
    kind = "tap" if backend == "tap" else "veth"
    with testnet.create(name=f"t5{os.getpid() % 1000}{backend[-1]}", kind=kind,
                        prefix="198.18.22.0/24") as tn:
        # Two connections expected, one comes: the tool keeps serving (and answering the
        # kernel's segments after the reset) until it is stopped.
        fast = NsProc(tn.stack_ns, [str(TOOL), "-b", backend, "-i", tn.stack_if, "-a",
                                    tn.stack_cidr, "-l", str(PORT), "-c", "2", "-n", "1000",
                                    "-H", "50", "-t", "60", "-o", str(XDP_OBJ)], tmp_path, "tool")
        try:
            fast.wait_for("listening")
            probe = NsProc(tn.peer_ns, [sys.executable, str(HELPERS / "rfc5961_probe.py"),
                                        "--iface", tn.peer_if, "--addr", tn.stack_ip,
                                        "--port", str(PORT), "--data", "10000"],
                           tmp_path, "probe")
            try:
                assert probe.wait(60) == 0, probe.err_path.read_text()
                res = probe.result()
            finally:
                probe.close()
            fast.stop()
            fres = fast.result()
        finally:
            fast.close()
    print(json.dumps(res))
    snd_nxt, rcv_nxt = res["snd_nxt"], res["rcv_nxt"]
    # 1. In-window RST: exactly one challenge ACK (seq = SND.NXT, ack = RCV.NXT), no reset.
    assert res["after_inwindow_rst"] == [[rcv_nxt, snd_nxt, "A", 0]], res
    # 2. Out-of-window data: an ACK that does not move (the data is not taken).
    assert res["after_oow_data"] == [[rcv_nxt, snd_nxt, "A", 0]], res
    # 4. Exact RST: no answer (never a RST for a RST), and the connection is gone.
    assert res["after_exact_rst"] == [], res
    assert res["kernel_reset"] is True, res
    conns = fres["conns"]
    assert len(conns) == 1, fres
    c = conns[0]
    assert c["closed"] == "rst" and c["fport"] == res["lport"], c
    # Only the kernel's real bytes arrived: the spoofed payload was dropped.
    assert c["received"] == res["sent"] and c["sha256_received"] == res["sha256_sent"], c
    s = fres["stats"]
    assert s["tcp_challenge_ack"] == 1 and s["tcp_rst_rx"] == 1 and s["tcp_rx_oow"] >= 1, s
    assert s["tcp_conn_reset"] == 1 and fres["pool_in_use"] == 0, fres
    assert hashlib.sha256(b"").hexdigest() == c["sha256_sent"]    # fastnet was held: sent 0
