#!/usr/bin/env python3
"""In-process cost of the asyncio HTTP echo app on a fastnet Loop, per connection or request.

    python3 bench/loop_conn_cost.py close|get N [--conc 16]
    valgrind --tool=callgrind --callgrind-out-file=OUT $(python3 -c 'import sys;print(sys.executable)') \
        bench/loop_conn_cost.py close 1488

Contract: one process, no network: apps.http_echo's EchoServer listens on stack A of a
fastnet memory pair (fastnet.Stack.memory_pair), and a client written against stack B's raw
non-blocking Socket API (no asyncio transport on the client side) opens N connections, --conc
at a time, each sending one `Connection: close` GET and reading to EOF (close), or sends N
keep-alive GETs over --conc connections (get).  Prints the process's CPU time per connection /
request (time.process_time; noisy on a shared machine).  Under callgrind the server side's
instructions are exact for a given N: the inclusive cost of `_Hub.select` (both stacks' polls,
the server's dispatch, the app's data_received) plus `_Soon._run` (connection_made /
connection_lost), divided by the connections, is what bench/results/loop_cost.md reports.
Client ports are bound explicitly (10000 + i) so that no SYN meets a TIME_WAIT of the server.
"""
import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fastnet  # noqa: E402
from apps.http_echo.server import EchoServer  # noqa: E402

A_IP, B_IP = "198.19.71.1", "198.19.71.2"
REQ_CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: wrk\r\nConnection: close\r\n\r\n"
REQ_KEEP = b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: wrk\r\n\r\n"
_next_port = [10000]


def _open(b, port):
    s = b.socket(nonblocking=True)
    s.bind((B_IP, _next_port[0]))
    _next_port[0] += 1
    try:
        s.connect((A_IP, port))
    except BlockingIOError:
        pass
    return [s, 0]


def _send_first(st, req):
    """A connection's first request, once its connect has completed (state 0 -> 1)."""
    try:
        st[0].send(req)
        st[1] = 1
    except OSError:         # not connected yet
        pass


async def close_batch(b, port, k):
    socks = [_open(b, port) for _ in range(k)]
    left = k
    while left:
        await asyncio.sleep(0)
        for st in socks:
            s = st[0]
            if st[1] == 0:
                _send_first(st, REQ_CLOSE)
            elif st[1] == 1:
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                if d == b"":
                    s.close()
                    st[1] = 2
                    left -= 1


async def get_run(b, port, conc, n):
    socks = [_open(b, port) for _ in range(conc)]
    done = 0
    while done < n:
        await asyncio.sleep(0)
        for st in socks:
            s = st[0]
            if st[1] == 0:
                _send_first(st, REQ_KEEP)
            else:
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                if d:
                    done += 1
                    s.send(REQ_KEEP)
    for st in socks:
        st[0].close()


async def main(a, b):
    app = EchoServer()
    port = await app.start(A_IP, 8080)
    try:
        if a.mode == "close":
            batches = max(1, a.n // a.conc)
            for _ in range(3):
                await close_batch(b, port, a.conc)
            t0 = time.process_time()
            for _ in range(batches):
                await close_batch(b, port, a.conc)
            dt = time.process_time() - t0
            print(f"close {dt * 1e6 / (batches * a.conc):.2f} us/connection "
                  f"({batches * a.conc} connections)")
        else:
            await get_run(b, port, a.conc, 2000)
            t0 = time.process_time()
            await get_run(b, port, a.conc, a.n)
            dt = time.process_time() - t0
            print(f"get {dt * 1e6 / a.n:.2f} us/request ({a.n} requests)")
    finally:
        await app.close()


def run():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=("close", "get"))
    p.add_argument("n", type=int)
    p.add_argument("--conc", type=int, default=16)
    a = p.parse_args()
    if a.mode == "close" and a.n + 4 * a.conc > 50000:
        p.error("close: at most ~50,000 connections (one client port each)")
    sa, sb = fastnet.Stack.memory_pair({"ip": A_IP}, {"ip": B_IP})
    lp = fastnet.new_event_loop(stacks=(sa, sb))
    try:
        lp.run_until_complete(main(a, sb))
    finally:
        lp.close()
        sa.close()
        sb.close()


if __name__ == "__main__":
    run()
