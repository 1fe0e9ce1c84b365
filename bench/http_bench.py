#!/usr/bin/env python3
"""The HTTP echo benchmark, every server side by side in one run (issue 6).

    python3 bench/http_bench.py [--quick] [--scenarios get,pipeline,...] [--servers ...]
                                [--testbed two-host|shared-veth] [--out bench/results]

Contract: builds its own test network (bench/http_servers.py: namespaces bh<pid>, addresses
198.19.36.0/22), runs each server kind pinned to --server-cpu and every load generator pinned
to --client-cpu, in rounds whose server order rotates (and reverses every other round) so that
drift cancels, and reports the median over the rounds.  A server kind that cannot start, or a
scenario it cannot serve, is reported as "not available (reason)", never as a number.
Everything it started (servers and clients by PID, namespaces, XDP) is removed at the end,
on an error and on Ctrl-C / SIGTERM.  Needs root.  Writes http_bench.md, http_bench.json and
http_bench_*.png into --out and prints the table.

Scenarios (SCENARIOS):
  get       keep-alive small GET, wrk -t1 -c64 (requests/s)
  pipeline  the same, 16 requests per write (bench/wrk/pipeline.lua)
  close     small GET with `Connection: close`: one connection per request (connections/s)
  post      1 MiB POST echo on 8 keep-alive connections (goodput: echoed body MB/s)
  latency   p50/p99/p99.9 at a fixed request rate below saturation (bench/http_clients.py
            rate, open loop, 16 connections)
  idle      100,000 keep-alive connections held idle (bench/http_clients.py idle, spread
            over client processes when RLIMIT_NOFILE is low); server RSS delta /
            connections; one fresh server per kind, once per run; a kernel server (one
            process, a descriptor per connection) at most its descriptor limit, marked
            "(fd limit)" in the table

Metrics per cell: requests/s (wrk's own count over wrk's own duration); the server core's busy
fraction (cpuN of /proc/stat: everything but idle and iowait, between samples taken just
before the client starts and just after it ends); requests per server-core second = requests/s
/ busy fraction (on a 2-core machine the load generator saturates first, so this is the
figure that compares servers); its ratio to uvloop's; total CPU microseconds per request over
all cores (busy time of the `cpu` line / requests: server, client and the kernel's softirq
work together); latency percentiles (wrk's for the wrk scenarios, measured per request by the
open-loop client for `latency`); per CPU, the split of its time (user, system, softirq, the
NAPI kthreads) and its NET_RX softirqs per second, so that a reader sees where the receive
work went.  Softirq work is counted on whichever core the kernel runs it: --testbed two-host
(the default) steers each end's receive to its own host's core as two machines would have it,
--testbed shared-veth leaves veth's own behaviour (each receive on the sending core, so each
side carries part of the other's receive path) for comparison (bench/testbed.py).
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
import http_servers as hs  # noqa: E402
from testbed import TESTBEDS, Testbed  # noqa: E402

WRK_DIR = os.path.join(BENCH, "wrk")
SCENARIOS = ("get", "pipeline", "close", "post", "latency", "idle")
TITLES = {
    "get": "Keep-alive small GET, 64 connections",
    "pipeline": "Keep-alive small GET, 64 connections, pipelined 16 deep",
    "close": "Short connections (Connection: close), 64 concurrent: connections/s",
    "post": "1 MiB POST echo, 8 keep-alive connections: goodput",
    "latency": "Latency at a fixed request rate (open loop)",
    "idle": "Idle keep-alive connections held: memory per connection",
}
MIB = 1 << 20
TESTBED_TEXT = {
    "two-host": "each veth end's receive runs on its own host's core, as on two machines",
    "shared-veth": "veth's own behaviour: each receive runs on the sending core",
}
NOFILE_SPARE = 1024      # descriptors a server or client needs besides its connections


class Fail(Exception):
    pass


# -- /proc/stat -----------------------------------------------------------------------------
def cpu_stat():
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu"):
                name, *vals = line.split()
                out[name] = [int(v) for v in vals[:8]]
    return out


def busy_delta(a, b, cpu):
    """(busy jiffies, total jiffies) of line `cpu` ("cpu" = all, "cpu0", ...) between two
    samples.  Busy is everything except idle and iowait."""
    x, y = a[cpu], b[cpu]
    d = [j - i for i, j in zip(x, y)]
    total = sum(d)
    return total - d[3] - d[4], total


def jiffy_s():
    return 1.0 / os.sysconf("SC_CLK_TCK")


# -- running clients ------------------------------------------------------------------------
class Runner:
    """Starts the clients in the peer namespace, pinned to the client core, and keeps the
    one running so that it can be stopped by PID on an interrupt."""

    def __init__(self, net, cpu):
        self.net, self.cpu = net, cpu
        self.proc = None

    def popen(self, argv, env=None, stdin=subprocess.DEVNULL):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.net.tn.peer_ns, "taskset", "-c", str(self.cpu),
             *argv], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})})
        return self.proc

    def run(self, argv, timeout, env=None):
        p = self.popen(argv, env)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise Fail(f"{os.path.basename(argv[0])} did not finish in {timeout:.0f} s")
        except BaseException:
            self.stop()           # Ctrl-C: the client goes with us
            raise
        self.proc = None
        return p.returncode, out, err

    def stop(self):
        p = self.proc
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.proc = None


def last_json(text, prefix=""):
    for line in reversed(text.strip().splitlines()):
        if line.startswith(prefix):
            try:
                return json.loads(line[len(prefix):])
            except ValueError:
                continue
    return None


# -- scenarios ------------------------------------------------------------------------------
def wrk_cell(a, runner, server, scen, duration):
    url = f"http://{server.target}/"
    conns = a.post_conns if scen == "post" else a.connections
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--timeout", "5s"]
    env = {}
    if scen == "get":
        argv += ["-s", os.path.join(WRK_DIR, "get.lua")]
    elif scen == "close":
        argv += ["-s", os.path.join(WRK_DIR, "get.lua"), "-H", "Connection: close"]
    elif scen == "pipeline":
        argv += ["-s", os.path.join(WRK_DIR, "pipeline.lua")]
        env["BH_PIPELINE"] = str(a.pipeline)
    elif scen == "post":
        argv += ["-s", os.path.join(WRK_DIR, "post.lua")]
        env["BH_POST_BYTES"] = str(a.post_bytes)
    # The client's socket states near the end of the cell, kept to explain a cell that got
    # no answer (wrk's sockets are gone once it exits).
    states = []
    peek = threading.Timer(duration * 0.8, lambda: states.append(
        peer_states(runner.net, server)))
    m0 = meter(runner, server)
    peek.start()
    try:
        rc, out, err = runner.run([*argv, url], timeout=duration + 60, env=env)
    finally:
        peek.cancel()
        peek.join()
    m1 = meter(runner, server)
    w = last_json(out, "BH_WRK ")
    if rc != 0 or w is None:
        raise Fail(f"wrk exited {rc}: {oneline(err or out)}")
    res = {"conns": conns, "requests": w["requests"], "duration_s": w["duration_us"] / 1e6,
           "wall_s": round(m1[1] - m0[1], 3),
           "errors": {k: w[k] for k in ("connect_errors", "read_errors", "write_errors",
                                        "status_errors", "timeouts") if w[k]},
           "lat_p50_us": w["lat_p50_us"], "lat_p99_us": w["lat_p99_us"],
           "lat_p999_us": w["lat_p999_us"], "lat_max_us": w["lat_max_us"]}
    res["rps"] = res["requests"] / res["duration_s"] if res["duration_s"] > 0 else 0.0
    if scen == "post":
        res["goodput_MBps"] = res["rps"] * a.post_bytes / 1e6
    if scen == "pipeline":
        res["depth"] = a.pipeline
    if w["requests"] == 0:
        raise Fail("no request answered" + (f" ({res['errors']})" if res["errors"] else "")
                   + "".join(states))
    if scen == "pipeline":
        # wrk times a pipelined batch, not a request, and its percentiles come out as 0.
        for k in ("lat_p50_us", "lat_p99_us", "lat_p999_us"):
            res[k] = None
    cpu_metrics(a, res, m0, m1)
    return res


def meter(runner, server):
    """What a cell compares at its two ends: /proc/stat, the clock, the server's own CPU
    ticks and the test bed's per-CPU sample."""
    return (cpu_stat(), time.monotonic(), server.cpu_ticks(), runner.net.testbed.sample())


def peer_states(net, server):
    """The load generator's TCP states towards the server (e.g. "8 SYN-SENT": the server
    did not accept; "8 ESTAB": it accepted and did not answer)."""
    r = net.peer(["ss", "-Htan", "dst", server.target], check=False)
    counts = {}
    for line in r.stdout.splitlines():
        st = line.split()[0] if line.strip() else None
        if st:
            counts[st] = counts.get(st, 0) + 1
    return f"; client sockets: {', '.join(f'{v} {k}' for k, v in counts.items())}" if (
        counts) else ""


def oneline(text):
    return " ".join(text.split())[-200:] or "no output"


def latency_cell(a, runner, server, duration):
    argv = [sys.executable, hs.CLIENTS, "rate", "--target", server.target, "--rate",
            str(a.latency_rate), "--duration", str(duration), "--conns",
            str(a.latency_conns)]
    m0 = meter(runner, server)
    rc, out, err = runner.run(argv, timeout=duration + 60)
    m1 = meter(runner, server)
    r = last_json(out)
    if r is None:
        raise Fail(f"rate client exited {rc}: {oneline(err)}")
    if "error" in r:
        raise Fail(r["error"])
    res = {"conns": r["conns"], "rate": r["rate"], "requests": r["completed"],
           "duration_s": r["send_window_s"], "errors": {k: r[k] for k in (
               "bad_status", "conn_lost") if r[k]},
           **{k: r[k] for k in ("lat_p50_us", "lat_p99_us", "lat_p999_us", "lat_max_us",
                                "client_lag_p99_us", "client_lag_max_us", "loop")}}
    res["rps"] = r["completed"] / max(r["send_window_s"], 1e-9)
    cpu_metrics(a, res, m0, m1)
    return res


def cpu_metrics(a, res, m0, m1):
    (s0, t0, p0, b0), (s1, t1, p1, b1) = m0, m1
    res["server_proc_busy"] = (p1 - p0) * jiffy_s() / (t1 - t0)
    res["cpus"] = Testbed.share(b0, b1, t1 - t0)
    busy, total = busy_delta(s0, s1, f"cpu{a.server_cpu}")
    res["server_busy"] = busy / total if total else None
    cbusy, ctotal = busy_delta(s0, s1, f"cpu{a.client_cpu}")
    res["client_busy"] = cbusy / ctotal if ctotal else None
    allbusy, _ = busy_delta(s0, s1, "cpu")
    res["cpu_us_per_req"] = allbusy * jiffy_s() * 1e6 / res["requests"]
    res["rps_per_core_s"] = res["rps"] / res["server_busy"] if res["server_busy"] else None


def idle_count(a, kind):
    """Connections a server kind is asked to hold: a kernel server needs a descriptor per
    connection and is one process, so it gets at most its descriptor limit; fastnet's
    connections are not kernel descriptors (the client spreads its side over processes)."""
    if kind in hs.KERNEL_KINDS:
        return min(a.idle_conns, a.nofile - NOFILE_SPARE)
    return a.idle_conns


def idle_cell(a, runner, server):
    time.sleep(0.3)
    rss0 = server.rss()
    count = idle_count(a, server.kind)
    argv = [sys.executable, hs.CLIENTS, "idle", "--target", server.target, "--sources",
            ",".join(server.net.sources), "--count", str(count), "--timeout",
            str(a.idle_timeout), "--hold-max", str(a.idle_timeout)]
    p = runner.popen(argv, stdin=subprocess.PIPE)
    line = p.stdout.readline()
    r = last_json(line)
    try:
        if r is None or "error" in r:
            p.stdin.close()
            out, err = p.stdout.read(), p.stderr.read()
            why = r["error"] if r else f"idle client: {oneline(err or out)}"
            raise Fail(why)
        time.sleep(1.0)           # let the server finish whatever the last accept started
        s0, p0, b0 = cpu_stat(), server.cpu_ticks(), runner.net.testbed.sample()
        time.sleep(1.0)
        s1, p1, b1 = cpu_stat(), server.cpu_ticks(), runner.net.testbed.sample()
        rss1 = server.rss()
        p.stdin.close()
        out = p.stdout.read()
        p.wait(timeout=60)
    finally:
        runner.stop()
    busy, total = busy_delta(s0, s1, f"cpu{a.server_cpu}")
    after = last_json(out) or {}
    return {"held": r["held"], "asked": count, "connect_s": r["connect_s"],
            "sources": r["sources"], "client_processes": r.get("processes", 1),
            "rss_before": rss0, "rss_after": rss1,
            "bytes_per_conn": (rss1 - rss0) / r["held"],
            "server_busy_while_held": busy / total if total else None,
            "server_proc_busy_while_held": (p1 - p0) * jiffy_s() / 1.0,
            "cpus": Testbed.share(b0, b1, 1.0),
            "dropped_while_held": after.get("dropped_while_held")}


# -- the run --------------------------------------------------------------------------------
class Progress:
    def __init__(self, planned):
        self.planned = planned          # list of planned seconds per cell
        self.done_s = 0.0
        self.i = 0
        self.t0 = time.monotonic()

    def cell(self, label, summary):
        self.done_s += self.planned[self.i]
        self.i += 1
        el = time.monotonic() - self.t0
        left = sum(self.planned[self.i:]) * (el / self.done_s if self.done_s else 1.0)
        print(f"[{self.i:>3}/{len(self.planned)}] {label:<42} {summary:<34} "
              f"elapsed {fmt_t(el)}  remaining ~{fmt_t(left)}", file=sys.stderr, flush=True)


def fmt_t(s):
    s = int(s)
    return f"{s // 60}:{s % 60:02d}"


def summary_of(scen, r):
    if "unavailable" in r:
        return f"not available ({r['unavailable'][:60]})"
    if scen == "idle":
        return f"{r['held']} held, {r['bytes_per_conn']:.0f} B/conn"
    if scen == "latency":
        return f"p50 {r['lat_p50_us']:.0f} p99 {r['lat_p99_us']:.0f} us"
    core = r.get("rps_per_core_s")
    txt = f"{r['rps']:,.0f}/s"
    return txt + (f", {core:,.0f}/core-s" if core else "")


def rotation(servers, rnd):
    """Round 0 in the given order, round 1 reversed, round 2 rotated by one, round 3 that
    reversed...: ABBA pairs, so that a linear drift hits every server alike."""
    k = (rnd // 2) % len(servers)
    order = servers[k:] + servers[:k]
    return order[::-1] if rnd % 2 else order


def run(a, net, workdir, results):
    runner = Runner(net, a.client_cpu)
    loads = [s for s in a.scenarios if s != "idle"]
    per_server = a.warmup + sum(a.duration + 1.5 for _ in loads) + 2.0
    planned = [per_server / max(1, len(loads))] * (len(loads) * len(a.servers) * a.rounds)
    if "idle" in a.scenarios:
        planned += [6.0 + idle_count(a, k) / 4000.0 for k in a.servers]
    prog = Progress(planned)
    cells = results["cells"]
    unavailable = results["unavailable"]
    current = []

    def start(kind, idle_timeout=600):
        srv = hs.Server(kind, net, workdir, cpu=a.server_cpu, port=a.port,
                        backend=a.backend, max_conns=a.max_conns, idle_timeout=idle_timeout,
                        fastnet_args=shlex.split(a.fastnet_args))
        current.append(srv)
        # fastnet (native) builds its C server on first use: allow for a compile.
        srv.start(timeout=120)
        results["testbed"]["per_server"][kind] = srv.testbed_state
        return srv

    def stop_all():
        runner.stop()
        while current:
            current.pop().stop()

    try:
        for rnd in range(a.rounds):
            for kind in rotation(list(a.servers), rnd):
                label = f"round {rnd + 1}/{a.rounds} {hs.LABELS[kind]}"
                if kind in unavailable:
                    for scen in loads:
                        prog.cell(f"{label} {scen}", "not available")
                    continue
                try:
                    srv = start(kind)
                except hs.Unavailable as e:
                    unavailable[kind] = str(e)
                    for scen in loads:
                        prog.cell(f"{label} {scen}", f"not available ({str(e)[:60]})")
                    stop_all()
                    continue
                if a.warmup:
                    try:
                        wrk_cell(a, runner, srv, "get", a.warmup)
                    except Fail:
                        pass
                exited = None
                for scen in loads:
                    r = {"server": kind, "scenario": scen, "round": rnd + 1}
                    if exited:
                        r["unavailable"] = f"server exited in an earlier cell: {exited}"
                    elif scen == "post" and not srv.post_ok:
                        r["unavailable"] = srv.post_why or "POST echo failed the probe"
                    else:
                        try:
                            if scen == "latency":
                                r.update(latency_cell(a, runner, srv, a.duration))
                            else:
                                # A 1 MiB echo on a cold connection can take most of a
                                # second: a 1 s cell may end before the first answer.
                                d = max(2, a.duration) if scen == "post" else a.duration
                                r.update(wrk_cell(a, runner, srv, scen, d))
                        except Fail as e:
                            r["unavailable"] = f"failed: {e}"
                    if not exited and srv.proc.poll() is not None:
                        # Figures from a cell the server did not live through are not kept.
                        exited = (f"status {srv.proc.returncode}: "
                                  f"{srv._stderr_tail() or 'no output'}")
                        r = {k: r[k] for k in ("server", "scenario", "round")}
                        r["unavailable"] = f"server exited ({exited})"
                    cells.append(r)
                    prog.cell(f"{label} {scen}", summary_of(scen, r))
                stop_all()
        if "idle" in a.scenarios:
            for kind in rotation(list(a.servers), a.rounds):
                label = f"idle {hs.LABELS[kind]}"
                r = {"server": kind, "scenario": "idle", "round": 1}
                if kind in unavailable:
                    r["unavailable"] = unavailable[kind]
                else:
                    try:
                        srv = start(kind)
                        r.update(idle_cell(a, runner, srv))
                    except hs.Unavailable as e:
                        unavailable[kind] = str(e)
                        r["unavailable"] = str(e)
                    except Fail as e:
                        r["unavailable"] = f"failed: {e}"
                    finally:
                        stop_all()
                cells.append(r)
                prog.cell(label, summary_of("idle", r))
    finally:
        stop_all()


# -- aggregation and output -----------------------------------------------------------------
NUMERIC = ("rps", "server_busy", "server_proc_busy", "client_busy", "rps_per_core_s",
           "cpu_us_per_req", "lat_p50_us", "lat_p99_us", "lat_p999_us", "lat_max_us",
           "goodput_MBps",
           "client_lag_p99_us", "held", "rss_before", "rss_after", "bytes_per_conn",
           "server_busy_while_held", "server_proc_busy_while_held", "connect_s", "asked",
           "client_processes")


def aggregate(results, servers, scenarios):
    table = {}
    for scen in scenarios:
        rows = {}
        for kind in servers:
            cs = [c for c in results["cells"] if c["server"] == kind and c["scenario"] == scen]
            ok = [c for c in cs if "unavailable" not in c]
            if kind in results["unavailable"] and not ok:
                rows[kind] = {"unavailable": results["unavailable"][kind]}
            elif not ok:
                rows[kind] = {"unavailable": cs[0]["unavailable"] if cs else "not run"}
            else:
                row = {"rounds": len(ok)}
                for k in NUMERIC:
                    vals = [c[k] for c in ok if c.get(k) is not None]
                    if vals:
                        row[k] = statistics.median(vals)
                errs = {}
                for c in ok:
                    for k, v in c.get("errors", {}).items():
                        errs[k] = errs.get(k, 0) + v
                row["errors"] = errs
                row["cpus"] = median_cpus([c["cpus"] for c in ok if c.get("cpus")])
                if len(ok) < len(cs):
                    row["failed_rounds"] = [c["unavailable"] for c in cs if "unavailable" in c]
                rows[kind] = row
        # Issue 5's targets are ratios to uvloop and to stock asyncio.
        for ref in ("uvloop", "asyncio"):
            base = rows.get(ref, {})
            for row in rows.values():
                for k in ("rps_per_core_s", "rps"):
                    if row.get(k) and base.get(k):
                        row[f"{k}_x_{ref}"] = row[k] / base[k]
        table[scen] = rows
    return table


def median_cpus(samples):
    """The per-CPU split of several cells (Testbed.share), each figure's median."""
    out = {}
    for cpu in (samples[0] if samples else {}):
        out[cpu] = {k: statistics.median(c[cpu][k] for c in samples if k in c.get(cpu, {}))
                    for k in samples[0][cpu]}
    return out


def rx_work(r, a):
    """Softirq + NAPI-kthread share of the server core and of the load generator's."""
    cpus = r.get("cpus") or {}

    def one(n):
        c = cpus.get(f"cpu{n}")
        return "–" if not c else f"{c['softirq'] + c['napi']:.0%}"
    return f"{one(a.server_cpu)} · {one(a.client_cpu)}"


def num(v, fmt="{:,.0f}"):
    return "–" if v is None else fmt.format(v)


def busy_pair(core, proc):
    """The server core's busy fraction, and in brackets the server processes' own share."""
    return f"{num(core, '{:.0%}')} ({num(proc, '{:.0%}')})"


def markdown(results, table, a):
    m = results["machine"]
    v = results["versions"]
    out = ["# HTTP echo benchmark (bench/http_bench.py)", "",
           f"{results['started']} · {m['cpu']} · {m['cores']} cores · Linux {m['kernel']} · "
           f"Python {v['python']} · uvloop {v['uvloop']} · nginx {v['nginx']} · "
           f"fastnet {v['fastnet_git']}", "",
           f"Server on core {a.server_cpu}, load generator on core {a.client_cpu}; "
           f"{a.rounds} round(s) of {a.duration} s per cell, server order rotated per round; "
           f"medians over the rounds; fastnet backend {a.backend}; test bed "
           f"**{a.testbed}** ({TESTBED_TEXT[a.testbed]}).  "
           "*per core-s* = requests/s ÷ the server core's busy fraction; *× uvloop* is that "
           "figure's ratio; *core busy (proc)*: the server core's busy fraction from /proc/stat "
           "and, in brackets, the CPU time of the server's own processes per second (the rest "
           "is softirq work and anything else on that core); *rx srv · cli*: the share of the "
           "server core and of the load generator's core spent in softirq and NAPI kthreads "
           "(where the receive work ran); *CPU µs/req* is busy time over all cores per "
           "request.", ""]
    if a.quick:
        out += ["**--quick run: a functional check, not a measurement.**", ""]
    for scen in a.scenarios:
        rows = table[scen]
        out.append(f"## {TITLES[scen]}")
        out.append("")
        if scen == "idle":
            out += ["| server | held | RSS before | RSS after | bytes/conn "
                    "| core busy (proc) held |",
                    "|---|---:|---:|---:|---:|---:|"]
            for kind in a.servers:
                r = rows[kind]
                if "unavailable" in r:
                    out.append(f"| {hs.LABELS[kind]} | not available ({r['unavailable']}) "
                               "| | | | |")
                    continue
                held_busy = busy_pair(r.get("server_busy_while_held"),
                                      r.get("server_proc_busy_while_held"))
                limit = " (fd limit)" if (r.get("asked") or a.idle_conns) < a.idle_conns \
                    else ""
                out.append(f"| {hs.LABELS[kind]} | {num(r.get('held'))}{limit} | "
                           f"{num(r['rss_before'] / MIB, '{:.1f} MiB')} | "
                           f"{num(r['rss_after'] / MIB, '{:.1f} MiB')} | "
                           f"{num(r.get('bytes_per_conn'))} | "
                           f"{held_busy} |")
            out.append("")
            continue
        extra = " MB/s |" if scen == "post" else ""
        out += [f"| server | req/s |{extra} core busy (proc) | per core-s | × uvloop "
                "| rx srv · cli | CPU µs/req "
                "| p50 µs | p99 µs | p99.9 µs | errors |",
                "|---|---:|" + ("---:|" if extra else "") + "---:|---:|---:|---:|---:|---:"
                "|---:|---:|---|"]
        for kind in a.servers:
            r = rows[kind]
            if "unavailable" in r:
                out.append(f"| {hs.LABELS[kind]} | not available ({r['unavailable']}) |"
                           + (" |" if extra else "") + " | | | | | | | | |")
                continue
            errs = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "0"
            if r.get("failed_rounds"):
                errs += f"; {len(r['failed_rounds'])} round(s) failed"
            out.append(
                f"| {hs.LABELS[kind]} | {num(r.get('rps'))} |"
                + (f" {num(r.get('goodput_MBps'), '{:,.1f}')} |" if extra else "")
                + f" {busy_pair(r.get('server_busy'), r.get('server_proc_busy'))} | "
                f"{num(r.get('rps_per_core_s'))} | "
                f"{num(r.get('rps_per_core_s_x_uvloop'), '{:.2f}')} | {rx_work(r, a)} | "
                f"{num(r.get('cpu_us_per_req'), '{:,.1f}')} | {num(r.get('lat_p50_us'))} | "
                f"{num(r.get('lat_p99_us'))} | {num(r.get('lat_p999_us'))} | {errs} |")
        if scen == "latency":
            lags = ", ".join(f"{hs.LABELS[k]} {num(rows[k].get('client_lag_p99_us'))}"
                             for k in a.servers if "unavailable" not in rows[k])
            out += ["", f"{a.latency_rate:g} requests/s over {a.latency_conns} connections, "
                    "latency from the moment a request is due (or the client got to it) to "
                    "its last response byte.  How late the client itself was (p99 µs; large "
                    f"values mean the client, not the server, set the tail): {lags or '–'}."]
        if scen == "pipeline":
            out += ["", "Latency in this table is per pipelined batch (wrk's)."]
        out.append("")
    notes = results.get("notes")
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(out)


def plots(results, table, a, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    written = []
    labels = [hs.LABELS[k] for k in a.servers]
    palette = {"fastnet": "#1f77b4", "fastnet-nomod": "#aec7e8", "fastnet-napi": "#9467bd",
               "fastnet-native": "#17becf",
               "uvloop": "#ff7f0e",
               "asyncio": "#7f7f7f", "nginx": "#2ca02c"}
    colors = [palette[k] for k in a.servers]
    tput = [s for s in ("get", "pipeline", "close", "post") if s in a.scenarios]
    if tput:
        fig, axes = plt.subplots(1, len(tput), figsize=(4.2 * len(tput), 4.2), squeeze=False)
        for ax, scen in zip(axes[0], tput):
            vals = [table[scen][k].get("rps_per_core_s") or 0 for k in a.servers]
            bars = ax.bar(range(len(vals)), vals, color=colors)
            for b, k in zip(bars, a.servers):
                if "unavailable" in table[scen][k]:
                    ax.text(b.get_x() + b.get_width() / 2, 0, "n/a", ha="center",
                            va="bottom", fontsize=8)
            ax.set_title(scen, fontsize=10)
            ax.set_ylabel("requests per server-core second")
            ax.set_xticks(range(len(vals)), labels, rotation=35, ha="right", fontsize=8)
        fig.suptitle("HTTP echo: requests per server-core second (higher is better)")
        fig.tight_layout()
        written.append(save(fig, outdir, "throughput"))
    if "latency" in a.scenarios:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        width = 0.25
        for j, (key, name) in enumerate((("lat_p50_us", "p50"), ("lat_p99_us", "p99"),
                                         ("lat_p999_us", "p99.9"))):
            vals = [table["latency"][k].get(key) or 0 for k in a.servers]
            ax.bar([i + (j - 1) * width for i in range(len(vals))], vals, width, label=name)
        ax.set_yscale("symlog", linthresh=10)
        ax.set_ylabel("latency, µs (lower is better)")
        ax.set_xticks(range(len(labels)), labels, rotation=25, ha="right", fontsize=8)
        ax.set_title(f"Latency at {a.latency_rate:g} requests/s")
        ax.legend()
        fig.tight_layout()
        written.append(save(fig, outdir, "latency"))
    if "idle" in a.scenarios:
        fig, ax = plt.subplots(figsize=(6, 4.2))
        vals = [table["idle"][k].get("bytes_per_conn") or 0 for k in a.servers]
        ax.bar(range(len(vals)), vals, color=colors)
        ax.set_ylabel("server RSS bytes per idle connection (lower is better)")
        ax.set_xticks(range(len(labels)), labels, rotation=25, ha="right", fontsize=8)
        ax.set_title(f"{a.idle_conns:,} idle keep-alive connections")
        fig.tight_layout()
        written.append(save(fig, outdir, "idle"))
    return written


def save(fig, outdir, what):
    import matplotlib.pyplot as plt
    path = os.path.join(outdir, f"http_bench_{what}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "mem_bytes": mem}


def versions():
    def cmd(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None
    try:
        import uvloop
        uv = uvloop.__version__
    except ImportError:
        uv = None
    rev = cmd(["git", "-C", hs.ROOT, "rev-parse", "--short=12", "HEAD"])
    dirty = cmd(["git", "-C", hs.ROOT, "status", "--porcelain", "--untracked-files=no"])
    return {"python": platform.python_version(), "uvloop": uv, "nginx": hs.nginx_version(),
            "wrk": cmd(["wrk", "-v"]), "fastnet_git": (rev or "unknown") + (
                "-dirty" if dirty else "")}


def parse_list(text, allowed, what):
    items = [s for part in text for s in part.split(",") if s]
    bad = [s for s in items if s not in allowed]
    if bad:
        raise SystemExit(f"http_bench: unknown {what} {', '.join(bad)} "
                         f"(choose from {', '.join(allowed)})")
    return tuple(dict.fromkeys(items))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="1 round, 1 s per cell, 2,000 idle connections (about a minute)")
    p.add_argument("--scenarios", nargs="+", default=[",".join(SCENARIOS)],
                   help=f"comma/space separated subset of {','.join(SCENARIOS)}")
    p.add_argument("--servers", nargs="+", default=[",".join(hs.KINDS)],
                   help=f"comma/space separated subset of {','.join(hs.KINDS)}")
    p.add_argument("--out", default=os.path.join(BENCH, "results"), help="output directory")
    p.add_argument("--rounds", type=int, help="rounds (default 3, --quick 1)")
    p.add_argument("--duration", type=int, help="whole seconds per cell (wrk's unit; "
                   "default 5, --quick 1; the 1 MiB POST cells take at least 2)")
    p.add_argument("--warmup", type=int, help="seconds of GET before a server's cells "
                   "(default 1, --quick 0)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--pipeline", type=int, default=16)
    p.add_argument("--post-bytes", type=int, default=MIB)
    p.add_argument("--post-conns", type=int, default=8)
    p.add_argument("--latency-rate", type=float, help="requests/s (default 5000, --quick 1000)")
    p.add_argument("--latency-conns", type=int, default=16)
    p.add_argument("--idle-conns", type=int,
                   help="idle connections (default 100000, --quick 2000)")
    p.add_argument("--idle-timeout", type=float, default=180.0,
                   help="seconds allowed to open them")
    p.add_argument("--backend", default="af_xdp", choices=("af_xdp", "af_packet"),
                   help="fastnet's backend on the veth (default af_xdp)")
    p.add_argument("--max-conns", type=int, help="fastnet --tcp-max-conns/--tcp-max-sockets "
                   "and nginx worker_connections (default max(262144, 2 x idle))")
    p.add_argument("--fastnet-args", default="--tcp-nodelay true",
                   help="more `fastnet up` flags for the fastnet kinds (default: Nagle off, "
                   "as uvloop, asyncio and nginx's tcp_nodelay have it)")
    p.add_argument("--testbed", choices=TESTBEDS, default=TESTBEDS[0],
                   help="two-host (default): each side's receive work on its own core, as on "
                   "two machines; shared-veth: veth's default, each receive in its sender's "
                   "context (bench/testbed.py)")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--port", type=int, default=hs.PORT)
    a = p.parse_args(argv)
    a.scenarios = parse_list(a.scenarios, SCENARIOS, "scenario")
    a.servers = parse_list(a.servers, hs.KINDS, "server")
    q = a.quick
    a.rounds = a.rounds or (1 if q else 3)
    a.duration = a.duration or (1 if q else 5)
    a.warmup = a.warmup if a.warmup is not None else (0 if q else 1)
    a.latency_rate = a.latency_rate or (1000.0 if q else 5000.0)
    a.idle_conns = a.idle_conns or (2000 if q else 100_000)
    a.max_conns = a.max_conns or max(262144, 2 * a.idle_conns)
    if not (1 <= a.rounds <= 20 and 1 <= a.duration <= 120 and 0 <= a.warmup <= 30):
        p.error("rounds in [1, 20], duration in [1, 120] s, warmup in [0, 30] s")
    if not (1 <= a.idle_conns <= 500_000):
        p.error("--idle-conns in [1, 500000]")
    if a.idle_conns > 60000 * (hs.IDLE_SOURCES + 1):
        p.error("--idle-conns: more than the peer addresses have ports for")
    ncpu = os.cpu_count() or 1
    if a.server_cpu == a.client_cpu or max(a.server_cpu, a.client_cpu) >= ncpu:
        p.error(f"--server-cpu and --client-cpu: two different cores below {ncpu}")
    return a


def raise_nofile(n):
    """Raise RLIMIT_NOFILE towards n (servers and clients inherit it); the limit reached.
    Raising the hard limit needs CAP_SYS_RESOURCE, which root in a container may lack."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n), max(hard, n)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(argv=None):
    a = parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("http_bench: needs root (network namespaces, XDP)")
    os.makedirs(a.out, exist_ok=True)
    # Servers inherit the limit: 100,000 kernel sockets are 100,000 descriptors.
    nofile = a.nofile = raise_nofile(a.max_conns + 4096)
    notes = []
    kernel_idle = [k for k in a.servers if k in hs.KERNEL_KINDS]
    if "idle" in a.scenarios and kernel_idle and idle_count(a, kernel_idle[0]) < a.idle_conns:
        # A kernel server is one process with a descriptor per connection: it is measured
        # at the most it can hold, and the table says so.  The client is not the limit: it
        # spreads the connections over processes.
        notes.append(f"idle: {', '.join(hs.LABELS[k] for k in kernel_idle)} held "
                     f"{nofile - NOFILE_SPARE:,} connections, not {a.idle_conns:,}: they need "
                     f"a descriptor per connection and RLIMIT_NOFILE cannot be raised above "
                     f"{nofile:,} here (root without CAP_SYS_RESOURCE); the fastnet kinds "
                     f"are asked for all {a.idle_conns:,} (their connections are not kernel "
                     "descriptors; the client side is spread over several processes)")
    # The harness itself waits on the client core, not on the server's.
    os.sched_setaffinity(0, {a.client_cpu})

    def on_signal(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    results = {"started": datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC"), "machine": machine(), "versions": versions(),
        "config": {k: getattr(a, k) for k in (
            "quick", "scenarios", "servers", "rounds", "duration", "warmup", "connections",
            "pipeline", "post_bytes", "post_conns", "latency_rate", "latency_conns",
            "idle_conns", "backend", "max_conns", "fastnet_args", "testbed", "server_cpu",
            "client_cpu")},
        "testbed": {"mode": a.testbed, "description": TESTBED_TEXT[a.testbed],
                    "per_server": {}},
        "cells": [], "unavailable": {}, "notes": notes, "nofile": nofile}
    if not os.path.exists(hs.ECHO_MODULE) and "nginx" in a.servers:
        results["notes"].append("nginx has no echo module (libnginx-mod-http-echo): nginx is "
                                "reported for the GET scenarios only, with a fixed body.")
    interrupted = False
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="http_bench.")
    net = None
    try:
        net = hs.BenchNet(testbed=a.testbed, server_cpu=a.server_cpu,
                          client_cpu=a.client_cpu)
        results["testbed"]["network"] = net.testbed.describe()
        results["network"] = {"name": net.tn.name, "stack_ip": net.ip,
                              "sources": net.sources}
        run(a, net, workdir, results)
    except KeyboardInterrupt:
        interrupted = True
        print("http_bench: interrupted; cleaning up", file=sys.stderr)
    finally:
        if net is not None:
            net.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    results["elapsed_s"] = round(time.monotonic() - t0, 1)
    if interrupted:
        results["interrupted"] = True
        results["notes"].append("interrupted before the end: partial results")
    for kind, why in results["unavailable"].items():
        results["notes"].append(f"{hs.LABELS[kind]}: not available ({why})")
    table = aggregate(results, a.servers, a.scenarios)
    results["table"] = table
    md = markdown(results, table, a)
    results["plots"] = [os.path.basename(p) for p in plots(results, table, a, a.out)]
    with open(os.path.join(a.out, "http_bench.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(a.out, "http_bench.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    print(f"http_bench: wrote {a.out}/http_bench.md, http_bench.json, "
          f"{', '.join(results['plots'])} in {fmt_t(results['elapsed_s'])}", file=sys.stderr)
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
