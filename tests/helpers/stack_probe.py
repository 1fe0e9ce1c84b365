"""Run a fastnet Stack inside the current network namespace and make it act first.

Used by the real-peer tests (run with `ip netns exec <stack ns> python stack_probe.py ...`):
the stack resolves the peer by ARP (it sends the request itself) and pings it, and the
result is printed as one JSON line.  Exit status 0 even when the peer does not answer: the
test asserts on the JSON.
"""
import argparse
import json
import os
import sys
import time

from fastnet import _core


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", required=True)
    ap.add_argument("--iface", required=True)
    ap.add_argument("--ip", required=True)
    ap.add_argument("--prefix-len", type=int, default=24)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--size", type=int, default=56)
    args = ap.parse_args()

    st = _core.Stack(backend=args.backend, iface=args.iface, ip=args.ip,
                     prefix_len=args.prefix_len, gratuitous_arp=0)
    result = {"mac": st.mac}
    try:
        st.arp_resolve(args.peer)
        deadline = time.monotonic() + 5
        while st.arp_lookup(args.peer) is None and time.monotonic() < deadline:
            st.run(duration=0.01)
        result["peer_mac"] = st.arp_lookup(args.peer)
        ident = os.getpid() & 0xFFFF
        payload = bytes(range(256)) * (args.size // 256 + 1)
        replies = set()
        for seq in range(args.count):
            st.ping(args.peer, ident, seq, payload[:args.size])
            end = time.monotonic() + 1.0
            while seq not in replies and time.monotonic() < end:
                st.run(duration=0.005)
                replies.update(s for i, s in st.ping_replies() if i == ident)
        result["replies"] = len(replies)
        result["stats"] = st.stats()
    finally:
        result["leaked"] = st.close()
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
