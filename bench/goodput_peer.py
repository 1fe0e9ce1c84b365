#!/usr/bin/env python3
"""The kernel's ends of bench/tcp_goodput.py: a bulk client and a discarding sink.

  goodput_peer.py client --addr IP --port P --bytes N [--timeout S] [--cpus A,B]
  goodput_peer.py sink --addr IP --port P [--timeout S]

client: connects, sends N bytes (one preallocated 1 MiB buffer, sendall), half-closes and
waits until the kernel reports nothing unacknowledged (SIOCOUTQ == 0: every byte and the FIN
acknowledged by the sink), then prints one JSON line: bytes, seconds from just before
connect() to that moment, and /proc/stat's lines for --cpus sampled at both ends of that
interval (so the busy fractions cover exactly the measured window).  The measurement is the
same whichever sink is on the other end.

sink: accepts one connection, reads into a 1 MiB buffer until EOF and discards it, closes,
prints one JSON line with the byte count.  Says "listening" on stderr once it listens.

Both give up after --timeout seconds (exit status 1).
"""
import argparse
import fcntl
import json
import socket
import struct
import sys
import time

SIOCOUTQ = 0x5411          # = TIOCOUTQ: bytes not yet acknowledged (incl. the FIN)
BUF = 1 << 20


def cpu_lines(cpus):
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *vals = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                out[name] = [int(v) for v in vals]
    return out


def client(a):
    cpus = [int(c) for c in a.cpus.split(",")] if a.cpus else []
    buf = memoryview(bytearray(b"\x5a" * BUF))
    deadline = time.monotonic() + a.timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    stat0 = cpu_lines(cpus)
    t0 = time.monotonic()
    s.connect((a.addr, a.port))
    left = a.bytes
    while left:
        n = min(left, BUF)
        s.sendall(buf[:n])
        left -= n
    s.shutdown(socket.SHUT_WR)
    outq = struct.pack("i", 0)
    while True:
        q = struct.unpack("i", fcntl.ioctl(s.fileno(), SIOCOUTQ, outq))[0]
        if q == 0:
            break
        if time.monotonic() > deadline:
            sys.exit(f"client: {q} bytes still unacknowledged after {a.timeout} s")
        time.sleep(0.0005)
    t1 = time.monotonic()
    stat1 = cpu_lines(cpus)
    s.close()
    print(json.dumps({"bytes": a.bytes, "seconds": t1 - t0, "stat0": stat0, "stat1": stat1}))


def sink(a):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.addr, a.port))
    ls.listen(1)
    ls.settimeout(a.timeout)
    print("goodput_peer: listening", file=sys.stderr, flush=True)
    c, _ = ls.accept()
    c.settimeout(a.timeout)
    buf = bytearray(BUF)
    total = 0
    while True:
        n = c.recv_into(buf)
        if n == 0:
            break
        total += n
    c.close()
    ls.close()
    print(json.dumps({"received": total}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["client", "sink"])
    p.add_argument("--addr", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bytes", type=int, default=0)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--cpus", default="")
    a = p.parse_args()
    try:
        client(a) if a.mode == "client" else sink(a)
    except (OSError, socket.timeout) as e:
        sys.exit(f"{a.mode}: {e}")


if __name__ == "__main__":
    main()
