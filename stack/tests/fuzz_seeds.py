#!/usr/bin/env python3
"""fuzz_seeds.py OUTDIR — write the seed corpora of the fuzz harnesses (stack/tests/fuzz_*.c).

OUTDIR/fuzz_wire/: the canonical frames of test_wire.c (read from that file, so the seeds
follow the tests), each given to every parser that applies, behind the selector byte
fuzz_wire.c expects.  OUTDIR/fuzz_stack/: short programs in fuzz_stack.c's operation
encoding — a data exchange, out-of-order data, fragments, an ICMP error, a close handshake,
an active open, an accepted connection, timers running out, SACK blocks and D-SACK, a SYN
flood into cookies — for each start-up variant.  OUTDIR/fuzz_sock/: socket-call programs in
fuzz_sock.c's encoding — connect and accept, data both ways, epoll, shutdown and close.
Standard library only; the output is deterministic.
"""
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# fuzz_wire.c's selector values (enum T_*).
T_ETH, T_ARP, T_IPV4, T_IPV4_NOCSUM, T_ICMP, T_ICMP_NOCSUM, T_UDP, T_TCP, T_OPTS, T_FRAME, \
    T_CSUM = range(11)


def byte_arrays(pattern):
    """The byte arrays of test_wire.c whose declaration matches pattern, by name."""
    with open(os.path.join(HERE, "test_wire.c")) as f:
        src = f.read()
    out = {}
    for name, body in re.findall(pattern, src, re.M):
        out[name] = bytes(int(x, 0) & 0xff for x in re.findall(r"0x[0-9a-fA-F]+|\d+", body))
    return out


def canonical_frames():
    """The file-scope `static const uint8_t NAME[N] = {...};` frames."""
    return byte_arrays(r"^static const uint8_t (\w+)\[\d+\] = \{([^}]*)\};")


def option_lists():
    """The option lists of the fn_tcp_opts_parse tests (`static const uint8_t x[] = ...`)."""
    arrays = byte_arrays(r"^    static const uint8_t (\w+)\[\] = \{([^}]*)\};")
    return sorted(set(arrays.values()))


def wire_seeds():
    seeds = []
    for name, f in sorted(canonical_frames().items()):
        seeds.append((name + "-frame", bytes([T_FRAME]) + f))
        seeds.append((name + "-eth", bytes([T_ETH]) + f))
        seeds.append((name + "-csum", bytes([T_CSUM]) + f))
        l3 = f[14:]
        if f[12:14] == b"\x08\x06":
            seeds.append((name + "-arp", bytes([T_ARP]) + l3))
            continue
        seeds.append((name + "-ipv4", bytes([T_IPV4]) + l3))
        seeds.append((name + "-ipv4n", bytes([T_IPV4_NOCSUM]) + l3))
        ihl = (l3[0] & 15) * 4
        l4 = l3[ihl:]
        proto = l3[9]
        if proto == 1:
            seeds.append((name + "-icmp", bytes([T_ICMP]) + l4))
            seeds.append((name + "-icmpn", bytes([T_ICMP_NOCSUM]) + l4))
        elif proto == 17:
            seeds.append((name + "-udp", bytes([T_UDP]) + l4))
        elif proto == 6:
            seeds.append((name + "-tcp", bytes([T_TCP]) + l4))
            seeds.append((name + "-opts", bytes([T_OPTS]) + l4[20:(l4[12] >> 4) * 4]))
    for i, o in enumerate(option_lists()):
        seeds.append(("opts-%d" % i, bytes([T_OPTS]) + o))
    return seeds


# ---- fuzz_stack.c's operations: op byte = kind | slot << 4 | hi << 7 ----
SEG, RAW, FRAG, ICMP, ADV, SEND, RECV, SHUT, CLOSE, ACCEPT, CONNECT, SETOPT, ARP, LISTEN = \
    0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
ACKS = 15
ADV_DEADLINE = ADV | 0x80
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def op(kind, slot=0, hi=0):
    return bytes([kind | slot << 4 | hi << 7])


def seg(slot, flags, seq=0, ack_from_max=False, ack=0, win=65535, dlen=0, ts=False, hi=0,
        kind=SEG):
    """A segment with seq = A's rcv_nxt + seq (int16) and ack = A's snd_una (or snd_max)
    + ack (int8)."""
    m = 1 | (1 if ack_from_max else 0) << 2 | (0x20 if ts else 0)
    b = op(kind, slot, hi) + bytes([flags, m]) + struct.pack(">h", seq) + struct.pack("b", ack)
    b += struct.pack(">H", win)
    if ts:
        b += b"\x01"
    return b + struct.pack(">H", dlen)


def sack(n, blocks, ack=0):
    """op_sack: flags n (block count - 1, D-SACK, repeats), ACK at snd_una + ack, and blocks
    (start, length) in segments before snd_max; None is the D-SACK block."""
    b = op(ACKS, hi=1) + bytes([n]) + struct.pack("b", ack)
    for blk in blocks:
        if blk is None:
            b += bytes([0, 0, 0])
        else:
            b += bytes([0x05]) + struct.pack("b", blk[0]) + bytes([blk[1]])
    return b


def adv(ms):
    return op(ADV) + bytes([min(ms, 127)])


def u16(v):
    return struct.pack(">H", v)


def stack_seeds():
    frames = canonical_frames()
    seeds = []
    for cfg in (0x00, 0x07, 0x0f, 0x17, 0x27, 0x41, 0x87):
        ts = bool(cfg & 1)
        for variant in (0, 1, 2, 4, 0x08, 0x30, 0x60, 0x99):
            head = bytes([cfg, variant])
            progs = {
                "dupacks": op(SEND) + u16(8000) + adv(1) + op(ACKS) + bytes([2, 0]) +
                op(ACKS) + bytes([1, 0]) + op(ACKS) + bytes([4 | 1, 0]) + adv(10) +
                op(ACKS) + bytes([4, 0]),
                "exchange": seg(0, ACK | PSH, dlen=100, ts=ts) + op(RECV) + u16(4096) +
                op(SEND) + u16(3000) + adv(50) + seg(0, ACK, ack_from_max=True, ts=ts) +
                op(RECV) + u16(4096),
                "ooo": seg(0, ACK, seq=300, dlen=200, ts=ts) + seg(0, ACK, dlen=300, ts=ts) +
                op(RECV) + u16(1000) + seg(0, ACK, seq=-100, dlen=400, ts=ts),
                "frag": seg(0, ACK | PSH, dlen=600, ts=ts, kind=FRAG) + bytes([3]) + u16(7) +
                op(RECV) + u16(1000),
                "icmp": op(SEND, 1) + u16(4000) + op(ICMP, 1) + bytes([0]) + u16(576) +
                u16(0) + bytes([0]) + u16(0) + u16(9),
                "close": op(CLOSE) + seg(0, ACK, ack_from_max=True, ts=ts) +
                seg(0, FIN | ACK, ack_from_max=True, ts=ts) + adv(100) +
                op(ADV_DEADLINE),
                "peerfin": seg(0, FIN | ACK, ts=ts) + op(RECV) + u16(10) + op(SHUT) +
                seg(0, ACK, ack_from_max=True, ts=ts),
                "active": op(CONNECT, 4) + seg(4, SYN | ACK, ack_from_max=True) +
                op(SEND, 4) + u16(500) + seg(4, ACK, ack_from_max=True, ts=ts),
                "accept": seg(5, SYN, hi=1) + seg(5, ACK, ack_from_max=True, ts=ts) +
                op(ACCEPT) + seg(5, ACK | PSH, dlen=50, ts=ts) + op(RECV, 5) + u16(100),
                "timers": op(SEND) + u16(2000) + op(ADV_DEADLINE) * 24,
                "rst": seg(0, RST) + seg(1, RST, seq=5) + op(LISTEN) + op(LISTEN) + bytes([2]),
                "sack": op(SEND) + u16(8000) + adv(1) + sack(0x60, [(-2, 1)]) + adv(10) +
                sack(0x61, [(-3, 1), (-1, 1)]) + op(ADV_DEADLINE) * 3 +
                op(ACKS) + bytes([4, 0]),
                "dsack": op(SEND) + u16(6000) + adv(1) + op(ACKS) + bytes([4, 0]) +
                sack(0x09, [None, (-1, 1)]) + seg(0, ACK, seq=-50, dlen=100, ts=ts),
                "flood": op(ARP, hi=1) + bytes([0x7f, 0, 0]) + op(ACCEPT) +
                op(ARP, hi=1) + bytes([0x7f, 3, 1, 0x10]) + op(ADV_DEADLINE) * 2,
            }
            for name, body in progs.items():
                seeds.append(("%s-%02x-%d" % (name, cfg, variant), head + body))
    # The canonical frames as raw frames (mode 0), once.
    for name, f in sorted(frames.items()):
        seeds.append(("raw-" + name, b"\x00\x00" + op(RAW) + b"\x00" + u16(len(f)) + f))
    return seeds


# ---- fuzz_sock.c's calls: op byte = call | side << 7 (side 1 = stack B) ----
(S_SOCKET, S_BIND, S_LISTEN, S_ACCEPT, S_CONNECT, S_SEND, S_RECV, S_SHUT, S_CLOSE, S_OPT,
 S_IOCTL, S_NAMES, S_EPCREATE, S_EPCTL, S_EPWAIT) = range(15)
S_ADV = 0x1f


def sc(call, side=0):
    return bytes([call | side << 7])


def fd(n):
    """fuzz_sock.c's gfd: descriptor n."""
    return bytes([n + 2])


def sock_seeds():
    """A listener on B, a client on A, data both ways, epoll, shutdown and close, under
    each configuration byte."""
    # B: socket, bind *:8080, listen; A: socket, connect B:8080; B: accept.
    conn = (sc(S_SOCKET, 1) + b"\x00" + sc(S_BIND, 1) + fd(0) + b"\x02\x00" +
            sc(S_LISTEN, 1) + fd(0) + b"\x08" + sc(S_SOCKET) + b"\x00" +
            sc(S_CONNECT) + fd(0) + b"\x01" + sc(S_ADV) + b"\x0a" +
            sc(S_ACCEPT, 1) + b"\x01" + fd(0) + b"\x00\x00")
    xfer = (sc(S_SEND) + fd(0) + b"\x00" + u16(6000) + sc(S_ADV) + b"\x0a" +
            sc(S_RECV, 1) + fd(1) + b"\x00" + u16(8192) + sc(S_SEND, 1) + fd(1) + b"\x02" +
            u16(3000) + sc(S_ADV) + b"\x0a" + sc(S_RECV) + fd(0) + b"\x05" + u16(100))
    epoll = (sc(S_EPCREATE) + b"\x00" + sc(S_EPCTL) + fd(1) + fd(0) + b"\x01\x00" +
             sc(S_EPWAIT) + fd(1) + b"\x09" + sc(S_OPT) + fd(0) + b"\x10\x02" + b"\x00" * 8)
    close = (sc(S_SHUT) + fd(0) + b"\x02" + sc(S_ADV) + b"\x0a" + sc(S_RECV, 1) + fd(1) +
             b"\x00" + u16(100) + sc(S_CLOSE, 1) + fd(1) + sc(S_ADV) + b"\xe0")
    seeds = []
    for cfg in (0x00, 0x07, 0x0f, 0x17, 0x27, 0x47, 0x6f):
        for name, body in (("conn", conn), ("xfer", conn + xfer), ("epoll", conn + epoll),
                           ("close", conn + xfer + close), ("all", conn + epoll + xfer + close)):
            seeds.append(("%s-%02x" % (name, cfg), bytes([cfg]) + body))
    return seeds


def write(outdir, name, seeds):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    for fname, data in seeds:
        with open(os.path.join(d, "seed-" + fname), "wb") as f:
            f.write(data)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fuzz_seeds.py OUTDIR")
    write(sys.argv[1], "fuzz_wire", wire_seeds())
    write(sys.argv[1], "fuzz_stack", stack_seeds())
    write(sys.argv[1], "fuzz_sock", sock_seeds())


if __name__ == "__main__":
    main()
