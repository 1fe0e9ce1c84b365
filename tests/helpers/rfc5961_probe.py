"""Blind in-window attacks (RFC 5961) against fastnet, from the kernel's side of a connection.

Run in the peer namespace while tool_tcp_peer serves in the stack namespace with -H (it keeps
the connection idle in ESTABLISHED).  The kernel opens a real connection to it; scapy sniffs
the peer veth to learn both sequence spaces from the handshake, then, as an off-path
attacker who knows the 4-tuple would, injects spoofed segments with the kernel's address and
port:
  1. a RST in the window but not at RCV.NXT    -> fastnet must answer with a challenge ACK
                                                  (RFC 5961 §3.2) and keep the connection;
  2. a data segment far beyond the window      -> fastnet must ACK it and drop it
                                                  (RFC 9293 §3.10.7.4);
  3. the kernel really sends --data bytes       (the connection still works);
  4. a RST exactly at RCV.NXT                   -> fastnet must reset the connection.
Prints one JSON line: what fastnet sent after each injection (its ACKs' seq/ack), the bytes
the kernel sent and their SHA-256, and whether the kernel's socket saw a reset afterwards.
"""
import argparse
import hashlib
import json
import os
import socket
import sys
import time

from scapy.all import IP, TCP, AsyncSniffer, Ether, Raw, conf, sendp  # noqa: E402

conf.verb = 0


def acks_from(pkts, src, sport, since):
    """Pure segments fastnet (src:sport) sent after time `since`: [(seq, ack, flags)]."""
    out = []
    for p in pkts:
        if IP in p and TCP in p and p[IP].src == src and p[TCP].sport == sport and \
                float(p.time) >= since:
            out.append((p[TCP].seq, p[TCP].ack, str(p[TCP].flags), len(p[TCP].payload)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--addr", required=True, help="fastnet's address")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data", type=int, default=10000)
    args = ap.parse_args()

    seen = []                          # everything on the veth, as it is sniffed
    sn = AsyncSniffer(iface=args.iface, filter=f"tcp and host {args.addr} and port {args.port}",
                      prn=seen.append, store=False)
    sn.start()
    time.sleep(0.5)
    s = socket.create_connection((args.addr, args.port), timeout=5)
    lport = s.getsockname()[1]
    me = s.getsockname()[0]
    time.sleep(0.3)
    hs = [p for p in seen if TCP in p]
    synack = next(p for p in hs if p[IP].src == args.addr and p[TCP].flags == "SA")
    mac_fn, mac_me = synack[Ether].src, synack[Ether].dst
    snd_nxt = synack[TCP].ack          # the kernel's next sequence number = fastnet's RCV.NXT
    rcv_nxt = synack[TCP].seq + 1      # fastnet's SND.NXT while it holds its data back

    def inject(seq, flags, payload=b""):
        pkt = (Ether(src=mac_me, dst=mac_fn) / IP(src=me, dst=args.addr) /
               TCP(sport=lport, dport=args.port, seq=seq, ack=rcv_nxt, flags=flags,
                   window=65535))
        if payload:
            pkt = pkt / Raw(payload)
        t = time.time()
        sendp(pkt, iface=args.iface)
        time.sleep(0.4)
        return acks_from(seen, args.addr, args.port, t)

    res = {"lport": lport, "snd_nxt": snd_nxt, "rcv_nxt": rcv_nxt}
    # 1. In the window (fastnet offers >= 64 KiB), 1000 past RCV.NXT.
    res["after_inwindow_rst"] = inject(snd_nxt + 1000, "R")
    time.sleep(0.6)                    # past the out-of-window ACK rate limit
    # 2. 16 MiB beyond RCV.NXT: far outside any window fastnet offers.
    res["after_oow_data"] = inject(snd_nxt + (16 << 20), "PA", b"X" * 100)
    # 3. The real connection still carries data.
    data = os.urandom(args.data)
    s.sendall(data)
    res["sent"] = len(data)
    res["sha256_sent"] = hashlib.sha256(data).hexdigest()
    time.sleep(0.5)
    snd_nxt += len(data)
    # 4. Exactly at RCV.NXT: a reset.
    res["after_exact_rst"] = inject(snd_nxt, "R")
    sn.stop()
    # The kernel's socket learns it is gone when its next segment is answered by a RST.
    try:
        s.sendall(b"after the reset")
        time.sleep(0.5)
        s.sendall(b"again")
        s.settimeout(2)
        s.recv(100)
        res["kernel_reset"] = False
    except (ConnectionResetError, BrokenPipeError):
        res["kernel_reset"] = True
    except OSError as e:
        res["kernel_reset"] = f"{type(e).__name__}: {e}"
    s.close()
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    sys.exit(main())
