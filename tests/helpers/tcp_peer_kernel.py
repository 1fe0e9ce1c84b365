"""The kernel's side of the TCP real-peer test: bulk transfers over the kernel's own TCP.

Run in the peer namespace (`ip netns exec <peer ns> python tcp_peer_kernel.py ...`), as a
server (accepts --conns connections on --addr:--port) or a client (opens --conns concurrent
connections to --addr:--port).  On every connection it sends --bytes bytes of a seeded
pattern (random.Random keyed by --seed and the connection's ports), half-closes, reads until
EOF, and SHA-256-hashes both directions; one non-blocking selector loop serves all of them,
so both directions of every connection flow at once (a client's connects complete in the
same loop: a socket becomes writable once connected, a failed connect ends as "error").
The server prints "listening" on
stderr once it listens.  At the end (every connection over, or --timeout) it prints one JSON
line: per connection the ports, bytes and hashes each way and how it ended ("fin": the
peer's FIN after all its data; "rst": reset; "error"; "open": still running at the timeout).
Exit status 0 when every connection ended with "fin" and moved all its bytes.
"""
import argparse
import errno
import hashlib
import json
import random
import selectors
import socket
import sys
import time

CHUNK = 65536


class Conn:
    def __init__(self, sock, rport, nbytes, seed):
        self.sock = sock
        self.lport = sock.getsockname()[1]
        self.rport = rport
        self.nbytes = nbytes
        self.rng = random.Random(seed ^ (self.lport << 32) ^ (self.rport << 16))
        self.pending = b""
        self.sent = self.received = 0
        self.h_sent, self.h_recv = hashlib.sha256(), hashlib.sha256()
        self.shut = self.eof = False
        self.closed = "open"
        self.error = ""

    def on_write(self):
        while self.sent < self.nbytes:
            if not self.pending:
                self.pending = self.rng.randbytes(min(CHUNK, self.nbytes - self.sent))
            try:
                n = self.sock.send(self.pending)
            except BlockingIOError:
                return
            self.h_sent.update(self.pending[:n])
            self.pending = self.pending[n:]
            self.sent += n
        if not self.shut:
            self.sock.shutdown(socket.SHUT_WR)
            self.shut = True

    def on_read(self):
        while not self.eof:
            try:
                data = self.sock.recv(CHUNK)
            except BlockingIOError:
                return
            if not data:
                self.eof = True
                return
            self.h_recv.update(data)
            self.received += len(data)

    def done(self):
        return self.closed != "open" or (self.shut and self.eof)

    def result(self):
        return {"lport": self.lport, "rport": self.rport, "sent": self.sent,
                "received": self.received, "sha256_sent": self.h_sent.hexdigest(),
                "sha256_received": self.h_recv.hexdigest(), "closed": self.closed,
                "error": self.error}


def serve(sel, conns, deadline):
    """Run every connection to its end (or the deadline)."""
    while any(not c.done() for c in conns) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            c = key.data
            if c.done():
                continue
            try:
                c.on_read()
                c.on_write()
            except ConnectionResetError:
                c.closed, c.error = "rst", "ECONNRESET"
            except OSError as e:
                c.closed, c.error = "error", errno.errorcode.get(e.errno, str(e))
            if c.done():
                if c.closed == "open":
                    c.closed = "fin"
                sel.unregister(c.sock)
                c.sock.close()
            elif c.sent >= c.nbytes:
                sel.modify(c.sock, selectors.EVENT_READ, c)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("server", "client"), required=True)
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--bytes", type=int, default=1 << 20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()

    deadline = time.monotonic() + args.timeout
    sel = selectors.DefaultSelector()
    conns = []
    rw = selectors.EVENT_READ | selectors.EVENT_WRITE
    if args.mode == "server":
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((args.addr, args.port))
        ls.listen(args.conns)
        ls.settimeout(0.5)
        print("listening", file=sys.stderr, flush=True)
        while len(conns) < args.conns and time.monotonic() < deadline:
            try:
                s, (_, rport) = ls.accept()
            except socket.timeout:
                continue
            s.setblocking(False)
            c = Conn(s, rport, args.bytes, args.seed)
            conns.append(c)
            sel.register(s, rw, c)
        ls.close()
    else:
        # All connects at once (non-blocking): one lost SYN must not hold up the others.
        for _ in range(args.conns):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((args.addr, args.port))
            c = Conn(s, args.port, args.bytes, args.seed)
            conns.append(c)
            sel.register(s, rw, c)
    serve(sel, conns, deadline)
    for c in conns:
        if not c.done():
            c.sock.close()
    ok = len(conns) == args.conns and all(
        c.closed == "fin" and c.sent == c.received == args.bytes for c in conns)
    print(json.dumps({"mode": args.mode, "conns": [c.result() for c in conns]}), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
