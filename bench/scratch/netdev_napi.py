#!/usr/bin/env python3
"""SCRATCH (irq-suspension exploration, 2026-12-02): a tiny netdev generic-netlink client.

  netdev_napi.py get [IFINDEX]          napi-get dump (all NAPIs, or one interface's)
  netdev_napi.py queues                 queue-get dump (queue -> NAPI id)
  netdev_napi.py set ID [defer=N] [gro=NS] [suspend=NS]   napi-set

Run it inside the interface's network namespace (ip netns exec NS ...).  Numbers from
include/uapi/linux/netdev.h (the netdev YAML spec), which this machine's headers lack.
"""
import os
import socket
import struct
import sys

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 1, 4, 0x300
GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 0x10, 3, 1, 2
NETDEV_CMD_QUEUE_GET, NETDEV_CMD_NAPI_GET, NETDEV_CMD_NAPI_SET = 10, 11, 14
A_IFINDEX, A_ID, A_IRQ, A_PID, A_DEFER, A_GRO, A_SUSPEND, A_THREADED = range(1, 9)
NAMES = {A_IFINDEX: "ifindex", A_ID: "id", A_IRQ: "irq", A_PID: "pid", A_DEFER: "defer-hard-irqs",
         A_GRO: "gro-flush-timeout", A_SUSPEND: "irq-suspend-timeout", A_THREADED: "threaded"}


def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack("HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)


def attrs(buf):
    out, i = {}, 0
    while i + 4 <= len(buf):
        n, t = struct.unpack_from("HH", buf, i)
        if n < 4:
            break
        out[t & 0x3fff] = buf[i + 4:i + n]
        i += (n + 3) & ~3
    return out


class Genl:
    def __init__(self):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)  # NETLINK_GENERIC
        self.s.bind((0, 0))
        self.seq = 0

    def request(self, family, cmd, payload, flags):
        self.seq += 1
        msg = struct.pack("BBH", cmd, 1, 0) + payload
        self.s.send(struct.pack("IHHII", 16 + len(msg), family, NLM_F_REQUEST | flags,
                                self.seq, 0) + msg)
        replies = []
        while True:
            data = self.s.recv(65536)
            i = 0
            while i < len(data):
                n, t, _f, _seq, _pid = struct.unpack_from("IHHII", data, i)
                body = data[i + 16:i + n]
                i += (n + 3) & ~3
                if t == NLMSG_DONE:
                    return replies
                if t == NLMSG_ERROR:
                    err = struct.unpack_from("i", body)[0]
                    if err:
                        raise OSError(-err, os.strerror(-err))
                    return replies
                replies.append(attrs(body[4:]))
                if not flags & NLM_F_DUMP and not flags & NLM_F_ACK:
                    return replies

    def family(self, name):
        r = self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                         attr(CTRL_ATTR_FAMILY_NAME, name.encode() + b"\0"), 0)
        return struct.unpack("H", r[0][CTRL_ATTR_FAMILY_ID][:2])[0]


def decode(a):
    out = {}
    for t, v in a.items():
        k = NAMES.get(t, str(t))
        out[k] = struct.unpack("Q" if len(v) == 8 else "I", v[:8 if len(v) == 8 else 4])[0]
    return out


def napi_get(g, fam, ifindex=None):
    payload = attr(A_IFINDEX, struct.pack("I", ifindex)) if ifindex else b""
    return [decode(a) for a in g.request(fam, NETDEV_CMD_NAPI_GET, payload, NLM_F_DUMP)]


def queue_get(g, fam):
    """queue-get dump: [{'id', 'ifindex', 'type' (0 rx, 1 tx), 'napi-id'?}]"""
    names = {1: "id", 2: "ifindex", 3: "type", 4: "napi-id", 8: "xsk"}
    return [{names.get(t, str(t)): struct.unpack("I", v[:4])[0] if len(v) >= 4 else v.hex()
             for t, v in a.items()}
            for a in g.request(fam, NETDEV_CMD_QUEUE_GET, b"", NLM_F_DUMP)]


def napi_set(g, fam, napi_id, defer=None, gro=None, suspend=None):
    p = attr(A_ID, struct.pack("I", napi_id))
    if defer is not None:
        p += attr(A_DEFER, struct.pack("I", defer))
    if gro is not None:
        p += attr(A_GRO, struct.pack("Q", gro))
    if suspend is not None:
        p += attr(A_SUSPEND, struct.pack("Q", suspend))
    g.request(fam, NETDEV_CMD_NAPI_SET, p, NLM_F_ACK)


def main(argv):
    g = Genl()
    fam = g.family("netdev")
    if argv[0] == "get":
        for n in napi_get(g, fam, int(argv[1]) if len(argv) > 1 else None):
            print(n)
    elif argv[0] == "queues":
        for q in queue_get(g, fam):
            print(q)
    elif argv[0] == "set":
        kw = {k: int(v) for k, v in (x.split("=") for x in argv[2:])}
        napi_set(g, fam, int(argv[1]), **kw)
        print("ok")


if __name__ == "__main__":
    main(sys.argv[1:])
