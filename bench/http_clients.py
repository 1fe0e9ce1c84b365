#!/usr/bin/env python3
"""Load clients of the HTTP benchmark that wrk cannot be (bench/http_bench.py runs them in the
peer namespace, pinned to the load-generator core).

Contract: three subcommands, each bounded in count and time, each printing its result as ONE
JSON object on the last line of stdout, exit 0 when it measured, 1 with {"error": ...} when
it could not (the harness reports the reason instead of a number):

  probe  --target IP:PORT              one GET and one POST (random body, echo checked byte
                                       for byte) on one keep-alive connection: is this server
                                       an HTTP echo?  {"get": bool, "post": bool, "why": ...}
  rate   --target IP:PORT --rate R --duration S [--conns C]
                                       open-loop fixed-rate GETs: request i is due at
                                       t0 + i/R whatever the server does; a due request goes
                                       out on an idle connection, or waits for the next one
                                       to free up (that wait is server latency and counted).
                                       Latency runs from the moment the client got to the
                                       request (the due time, or later if this process was
                                       late: that lateness is reported separately as client
                                       lag, so a client that fell behind shows) to the last
                                       byte of the response.  Percentiles are exact.
  idle   --target IP:PORT --sources A,B,.. --count N
                                       opens N keep-alive connections spread over the source
                                       addresses, one GET answered on each, prints
                                       {"held": n, ...} once all are held, then holds them
                                       until SIGTERM or stdin EOF and prints how many the
                                       server closed meanwhile; then resets them (SO_LINGER
                                       0), so that no TIME_WAIT is left to slow down the
                                       next cell's connects.  [--processes P] spreads
                                       them over P child processes (default: as many as
                                       RLIMIT_NOFILE needs, since each connection is a
                                       descriptor here) and prints their sum.

Responses are read by Content-Length or chunked transfer coding (nginx's echo module); a
response with neither ends at the header.  Uses uvloop for `rate` when it is installed (the client's
own overhead is then smaller), the stock loop otherwise; `idle` uses epoll directly so that
100,000 sockets cost little memory in this process.
"""
import argparse
import asyncio
import errno
import json
import os
import re
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import time

CL_RE = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
CHUNKED_RE = re.compile(rb"\r\ntransfer-encoding:[^\r]*chunked", re.IGNORECASE)
IP_BIND_ADDRESS_NO_PORT = 24


def target(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


def emit(obj, status=0):
    print(json.dumps(obj), flush=True)
    return status


def response_end(buf):
    """(end offset, status, body) of the first complete response in buf, or None."""
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return None
    head = bytes(buf[:i + 2])
    status = int(head[9:12])
    if CHUNKED_RE.search(head):
        return chunked_end(buf, i + 4, status)
    m = CL_RE.search(head)
    end = i + 4 + (int(m.group(1)) if m else 0)
    if len(buf) < end:
        return None
    return end, status, bytes(buf[i + 4:end])


def chunked_end(buf, pos, status):
    """RFC 9112 §7.1 chunked body from pos: (end, status, body) once the last chunk and the
    (empty or not) trailer section are in buf.  nginx's echo module answers this way."""
    body = []
    while True:
        j = buf.find(b"\r\n", pos)
        if j < 0:
            return None
        size = int(bytes(buf[pos:j]).split(b";")[0], 16)
        if size == 0:
            if buf[j + 2:j + 4] == b"\r\n":
                end = j + 4
            else:
                t = buf.find(b"\r\n\r\n", j + 2)
                if t < 0:
                    return None
                end = t + 4
            return end, status, b"".join(body)
        if len(buf) < j + 2 + size + 2:
            return None
        body.append(bytes(buf[j + 2:j + 2 + size]))
        pos = j + 2 + size + 2


# -- probe ----------------------------------------------------------------------------------
def probe(a):
    host, port = target(a.target)
    out = {"get": False, "post": False, "why": ""}
    body = os.urandom(4096).hex().encode()
    try:
        with socket.create_connection((host, port), timeout=a.timeout) as s:
            s.sendall(b"GET /probe HTTP/1.1\r\nHost: bench\r\n\r\n")
            st, _ = read_one(s)
            out["get"] = st == 200
            if not out["get"]:
                out["why"] = f"GET answered {st}"
                return emit(out)
            s.sendall(b"POST /post HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body)
            st, got = read_one(s)
            out["post"] = st == 200 and got == body
            if not out["post"]:
                out["why"] = (f"POST answered {st}" if st != 200 else
                              f"POST body not echoed ({len(got)} bytes back, {len(body)} sent)")
    except OSError as e:
        out["why"] = f"{type(e).__name__}: {e}"
    return emit(out)


def read_one(s):
    buf = bytearray()
    while True:
        r = response_end(buf)
        if r:
            return r[1], r[2]
        d = s.recv(65536)
        if not d:
            raise ConnectionError(f"server closed after {len(buf)} bytes")
        buf += d


# -- rate -----------------------------------------------------------------------------------
class RateConn(asyncio.Protocol):
    def __init__(self, client):
        self.client = client
        self.buf = bytearray()
        self.start = 0.0
        self.transport = None
        self.lost = False

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        while True:
            r = response_end(self.buf)
            if r is None:
                return
            end, st, _ = r
            del self.buf[:end]
            self.client.done(self, st)

    def connection_lost(self, exc):
        self.lost = True
        self.client.lost(self)

    def send(self, start, req):
        self.start = start
        self.transport.write(req)


class RateClient:
    def __init__(self, n):
        self.n = n
        self.lat = []
        self.lag = []
        self.idle = []
        self.backlog = []
        self.bad_status = 0
        self.conn_lost = 0
        self.req = b"GET /rate HTTP/1.1\r\nHost: bench\r\n\r\n"
        self.finished = None

    def done(self, c, st):
        now = time.perf_counter()
        self.lat.append(now - c.start)
        if st != 200:
            self.bad_status += 1
        if self.backlog:
            c.send(self.backlog.pop(0), self.req)
        else:
            self.idle.append(c)
        if len(self.lat) >= self.n and self.finished and not self.finished.done():
            self.finished.set_result(None)

    def lost(self, c):
        self.conn_lost += 1
        if c in self.idle:
            self.idle.remove(c)


async def rate_main(a):
    host, port = target(a.target)
    loop = asyncio.get_running_loop()
    total = max(1, int(a.rate * a.duration))
    cl = RateClient(total)
    cl.finished = loop.create_future()
    for _ in range(a.conns):
        _, p = await loop.create_connection(lambda: RateConn(cl), host, port)
        sk = p.transport.get_extra_info("socket")
        sk.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cl.idle.append(p)
    # Warm every connection once so that connection set-up is not in the figures.
    for c in list(cl.idle):
        cl.idle.remove(c)
        c.send(time.perf_counter(), cl.req)
    while len(cl.idle) < a.conns and cl.conn_lost == 0:
        await asyncio.sleep(0.001)
    cl.lat.clear()
    t0 = time.perf_counter() + 0.01
    i = 0
    while i < total:
        now = time.perf_counter()
        due = t0 + i / a.rate
        if due > now:
            await asyncio.sleep(due - now)
            continue
        while i < total and t0 + i / a.rate <= now:
            due = t0 + i / a.rate
            cl.lag.append(now - due)
            start = max(due, now)
            if cl.idle:
                cl.idle.pop().send(start, cl.req)
            else:
                cl.backlog.append(start)
            i += 1
        if cl.conn_lost:
            break
    sent_end = time.perf_counter()
    try:
        await asyncio.wait_for(cl.finished, timeout=max(5.0, a.duration))
    except asyncio.TimeoutError:
        pass
    lat = sorted(cl.lat)
    lag = sorted(cl.lag)
    res = {"rate": a.rate, "duration_s": a.duration, "conns": a.conns, "scheduled": total,
           "completed": len(lat), "bad_status": cl.bad_status, "conn_lost": cl.conn_lost,
           "send_window_s": round(sent_end - t0, 3),
           "lat_p50_us": pct(lat, 50), "lat_p99_us": pct(lat, 99),
           "lat_p999_us": pct(lat, 99.9), "lat_max_us": pct(lat, 100),
           "client_lag_p99_us": pct(lag, 99), "client_lag_max_us": pct(lag, 100),
           "loop": type(loop).__module__.split(".")[0]}
    if len(lat) < total:
        res["error"] = f"{total - len(lat)} of {total} requests unanswered"
    return res


def pct(sorted_s, p):
    if not sorted_s:
        return None
    k = min(len(sorted_s) - 1, max(0, int(round(p / 100.0 * len(sorted_s) + 0.5)) - 1))
    return round(sorted_s[k] * 1e6, 1)


def rate(a):
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        res = runner(rate_main(a))
    except OSError as e:
        return emit({"error": f"{type(e).__name__}: {e}"}, 1)
    return emit(res, 1 if "error" in res else 0)


# -- idle -----------------------------------------------------------------------------------
NOFILE_SPARE = 1024      # descriptors an idle process needs besides its connections


def raise_nofile(n):
    """Raise RLIMIT_NOFILE to n; False when the hard limit is below n and cannot be raised
    (root without CAP_SYS_RESOURCE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if n <= soft:
        return True
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, max(hard, n)))
    except (ValueError, OSError):
        if n > hard:
            return False
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
    return True


def idle_per_process():
    """Connections one process can hold: what its descriptor limit allows, raised if it can."""
    if raise_nofile(1_000_000 + NOFILE_SPARE):
        return 1_000_000
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1] - NOFILE_SPARE


def abort(conns):
    """Reset the connections instead of closing them (SO_LINGER 0).  An orderly close leaves
    each one in TIME_WAIT here for a minute (or in FIN_WAIT retransmitting to a server that
    was stopped meanwhile), and the next idle cell's connect() has to search the ephemeral
    ports around every such 4-tuple: after a cell of 100,000 the next server's cell took
    55 s instead of 3 s, whichever server it was (the "slow accept" of fastnet (native),
    which ran after other idle cells)."""
    linger0 = struct.pack("ii", 1, 0)
    for s, _, _ in conns.values():
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
        except OSError:
            pass
        s.close()
    conns.clear()


def idle(a):
    procs = a.processes or -(-a.count // idle_per_process())
    if procs > 1:
        return idle_spread(a, procs)
    host, port = target(a.target)
    sources = a.sources.split(",")
    if not raise_nofile(a.count + NOFILE_SPARE):
        return emit({"error": f"{a.count} connections need {a.count + NOFILE_SPARE} "
                     "descriptors: above RLIMIT_NOFILE's hard limit "
                     f"{resource.getrlimit(resource.RLIMIT_NOFILE)[1]} (use --processes)"}, 1)
    req = b"GET /idle HTTP/1.1\r\nHost: bench\r\n\r\n"
    ep = select.epoll()
    conns = {}           # fd -> [socket, state, buffer]; state 0 connecting, 1 asked, 2 held
    opened = pending = held = 0
    failed = {}
    t0 = time.monotonic()
    deadline = t0 + a.timeout

    def fail(fd, why):
        nonlocal pending
        failed[why] = failed.get(why, 0) + 1
        ep.unregister(fd)
        conns.pop(fd)[0].close()
        pending -= 1

    try:
        while held < a.count and time.monotonic() < deadline:
            if sum(failed.values()) > a.max_failures or (opened >= a.count and pending == 0):
                break
            while pending < a.concurrency and opened < a.count:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((sources[opened % len(sources)], 0))
                err = s.connect_ex((host, port))
                opened += 1
                pending += 1
                conns[s.fileno()] = [s, 0, b""]
                ep.register(s.fileno(), select.EPOLLOUT)
                if err not in (0, errno.EINPROGRESS):
                    fail(s.fileno(), errno.errorcode.get(err, str(err)))
            for fd, ev in ep.poll(0.05):
                c = conns.get(fd)
                if c is None:
                    continue
                s, state, buf = c
                if state == 0:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        fail(fd, "connect " + errno.errorcode.get(err, str(err)))
                        continue
                    s.send(req)
                    c[1] = 1
                    ep.modify(fd, select.EPOLLIN)
                elif state == 1:
                    try:
                        d = s.recv(4096)
                    except OSError as e:
                        fail(fd, "recv " + errno.errorcode.get(e.errno, str(e.errno)))
                        continue
                    if not d:
                        fail(fd, "closed before the response")
                        continue
                    c[2] = buf + d
                    r = response_end(c[2])
                    if r:
                        c[1], c[2] = 2, b""
                        held += 1
                        pending -= 1
                        ep.modify(fd, select.EPOLLIN | select.EPOLLRDHUP)
                else:
                    fail(fd, "closed while held")
                    pending += 1
                    held -= 1
        res = {"held": held, "count": a.count, "opened": opened, "failed": failed,
               "connect_s": round(time.monotonic() - t0, 3), "sources": len(sources)}
        if held < a.count:
            res["error"] = f"held {held} of {a.count} connections" + (
                f" ({', '.join(f'{k}: {v}' for k, v in failed.items())})" if failed else "")
            emit(res)
            return 1
        emit(res)
        # Hold until told to stop; count connections the server drops meanwhile.
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        ep.register(sys.stdin.fileno(), select.EPOLLIN | select.EPOLLHUP)
        dropped = 0
        hold_end = time.monotonic() + a.hold_max
        while not stop and time.monotonic() < hold_end:
            try:
                events = ep.poll(0.2)
            except InterruptedError:
                continue
            for fd, ev in events:
                if fd == sys.stdin.fileno():
                    if not os.read(fd, 4096):
                        stop.append(1)
                    continue
                ep.unregister(fd)
                conns.pop(fd)[0].close()
                dropped += 1
        return emit({"dropped_while_held": dropped})
    finally:
        abort(conns)
        ep.close()


def wait_for_stop(hold_max):
    """Until SIGTERM, stdin EOF or hold_max seconds."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    end = time.monotonic() + hold_max
    while not stop and time.monotonic() < end:
        try:
            r, _, _ = select.select([sys.stdin], [], [], 0.2)
        except InterruptedError:
            continue
        if r and not os.read(sys.stdin.fileno(), 4096):
            break


def idle_spread(a, procs):
    """`idle` over several processes, each holding its share under its own descriptor limit
    (a connection is a descriptor in the client, whatever the server is).  Each starts at a
    different source address so that the addresses' ports are used evenly, and they share
    --concurrency (the handshakes in flight stay within the server's listen backlog, 1024
    for both fastnet kinds, as with one process).  Prints one
    result for all of them; a child that fails stops the others."""
    sources = a.sources.split(",")
    shares = [a.count // procs + (1 if i < a.count % procs else 0) for i in range(procs)]
    kids = []
    try:
        for i, n in enumerate(shares):
            rot = sources[i % len(sources):] + sources[:i % len(sources)]
            kids.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "idle", "--target", a.target,
                 "--sources", ",".join(rot), "--count", str(n), "--processes", "1",
                 "--concurrency", str(-(-a.concurrency // procs)), "--timeout", str(a.timeout),
                 "--max-failures", str(a.max_failures), "--hold-max", str(a.hold_max + 60)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        # Read one child at a time: the others go on connecting meanwhile.
        firsts = [last_json(k.stdout.readline()) or {"error": "idle child: no result"}
                  for k in kids]
        failed = {}
        for r in firsts:
            for why, n in r.get("failed", {}).items():
                failed[why] = failed.get(why, 0) + n
        held = sum(r.get("held", 0) for r in firsts)
        res = {"held": held, "count": a.count, "opened": sum(r.get("opened", 0) for r in firsts),
               "failed": failed, "connect_s": max(r.get("connect_s", 0) for r in firsts),
               "sources": len(sources), "processes": procs}
        errs = [r["error"] for r in firsts if "error" in r]
        if errs:
            res["error"] = f"held {held} of {a.count} connections over {procs} processes: " \
                + errs[0]
            return emit(res, 1)
        emit(res)
        wait_for_stop(a.hold_max)
        dropped = 0
        for k in kids:
            k.stdin.close()
            dropped += (last_json(k.stdout.read()) or {}).get("dropped_while_held", 0)
        return emit({"dropped_while_held": dropped})
    finally:
        for k in kids:
            if k.poll() is None:
                k.terminate()
            try:
                k.wait(timeout=10)
            except subprocess.TimeoutExpired:
                k.kill()
                k.wait()


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("probe")
    pr.add_argument("--target", required=True)
    pr.add_argument("--timeout", type=float, default=5.0)
    ra = sub.add_parser("rate")
    ra.add_argument("--target", required=True)
    ra.add_argument("--rate", type=float, required=True)
    ra.add_argument("--duration", type=float, required=True)
    ra.add_argument("--conns", type=int, default=16)
    idl = sub.add_parser("idle")
    idl.add_argument("--target", required=True)
    idl.add_argument("--sources", required=True)
    idl.add_argument("--count", type=int, required=True)
    idl.add_argument("--concurrency", type=int, default=256)
    idl.add_argument("--timeout", type=float, default=120.0)
    idl.add_argument("--max-failures", type=int, default=100)
    idl.add_argument("--hold-max", type=float, default=120.0)
    idl.add_argument("--processes", type=int, default=0,
                     help="client processes sharing the count (default: as many as the "
                     "descriptor limit needs, RLIMIT_NOFILE hard limit - 1024 each)")
    a = p.parse_args(argv)
    if a.cmd == "rate":
        if not (0 < a.rate <= 200_000) or not (0 < a.duration <= 120) or not (
                1 <= a.conns <= 1024):
            p.error("rate in (0, 200000], duration in (0, 120] s, conns in [1, 1024]")
        return rate(a)
    if a.cmd == "idle":
        if not (1 <= a.count <= 1_000_000) or not (0 <= a.processes <= 256):
            p.error("count in [1, 1000000], processes in [0, 256]")
        return idle(a)
    return probe(a)


if __name__ == "__main__":
    sys.exit(main())
