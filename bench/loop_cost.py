#!/usr/bin/env python3
"""Server CPU cost per request of the HTTP echo app, fastnet vs uvloop in one run.

    sudo python3 bench/loop_cost.py [--servers fastnet,uvloop] [--scenarios get,close,rate]
                                    [--duration 3] [--rounds 3] [--prefix 198.19.38.0/24]
                                    [--testbed two-host|shared-veth] [--rate 5000]

Contract: measures cost, not speed, so it means something on a shared, noisy machine: the
server's own on-CPU time (the first field of /proc/PID/task/*/schedstat, nanoseconds, user and
kernel time of the server's threads, softirq work run inside its system calls included), plus
that of the server end's NAPI kthreads (two-host test bed: the XDP receive runs there, on the
server core), between just before and just after one wrk run, divided by the requests wrk
counted; the server core's whole busy time per request (/proc/stat: also softirq work in
interrupts and other tenants, so noisy on a shared machine) is printed beside it. Each server kind
runs pinned to --server-cpu with the same app (apps.http_echo, started by
bench/http_servers.py), wrk -t1 pinned to --client-cpu with 64 connections (get: keep-alive,
close: `Connection: close`; rate: open-loop GETs at a fixed --rate over 16 keep-alive
connections from bench/http_clients.py rate, the near-idle case where every wake costs; its
round-trip latency p50 / p99 as that client measures it is printed too: what a mode that
makes the server wait for work, such as --fastnet-arg=--napi-poll, costs in latency).
Sleeps per request are the server threads' voluntary context switches (how often it went to
sleep in epoll). Rounds rotate the server order; the median over rounds is printed
as µs/request and the ratios uvloop / fastnet and asyncio / fastnet (how many times cheaper
fastnet is per request = its requests per server-core second over the other's). Builds its own
veth network (namespace bh<pid>, --prefix) and removes it, and stops every server it started
by PID, also on errors.  Needs root.

veth delivers a frame in the sender's context: on --testbed shared-veth the load generator's
kernel receive path (TCP input of every response) runs on the server's core, inside the
server's send, and is counted as the server's time, and the server's own receive runs in the
client's send, for every server kind alike.  --testbed two-host (the default, as
bench/http_bench.py; bench/testbed.py) runs each end's receive on its own host's core, so
each side's receive work is counted where it belongs.
Hardware counters (instructions) are printed when perf can count them here (--perf), else
"n/a"; --record DIR keeps a perf record -g profile of the server's core per cell (the
server, the NAPI kthreads pinned there, softirq: `perf report --sort comm,sym`).  Packets per
request are the load generator's veth counters.  --fastnet-arg passes a flag to the fastnet
server (repeatable: --fastnet-arg=--xdp-mode=skb).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
import http_servers as hs  # noqa: E402
from testbed import TESTBEDS, Testbed  # noqa: E402

WRK_DIR = os.path.join(BENCH, "wrk")


def _per_thread(pid, name, value):
    """Sum of value(text of /proc/pid/task/TID/name) over pid's threads (0 once it is gone)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/{name}") as f:
                total += value(f.read())
        except (OSError, ValueError, IndexError, StopIteration):
            pass
    return total


def sched_ns(pid):
    """On-CPU nanoseconds of every thread of pid."""
    return _per_thread(pid, "schedstat", lambda t: int(t.split()[0]))


def sleeps(pid):
    """Voluntary context switches of every thread of pid (each one a sleep)."""
    return _per_thread(pid, "status", lambda t: int(
        next(ln for ln in t.splitlines()
             if ln.startswith("voluntary_ctxt_switches:")).split()[1]))


def peer_packets(net):
    """(received, sent) packet counts of the load generator's veth end."""
    r = subprocess.run(["ip", "-n", net.tn.peer_ns, "-s", "-j", "link", "show", "dev",
                        net.tn.peer_if], capture_output=True, text=True, check=True)
    st = json.loads(r.stdout)[0]["stats64"]
    return st["rx"]["packets"], st["tx"]["packets"]


def last_json(text, prefix):
    for line in reversed(text.splitlines()):
        if line.startswith(prefix):
            return json.loads(line[len(prefix):])
    return None


def cell(a, net, server, scen):
    if scen == "rate":
        argv = ["ip", "netns", "exec", net.tn.peer_ns, "taskset", "-c", str(a.client_cpu),
                sys.executable, hs.CLIENTS, "rate", "--target", server.target, "--rate",
                str(a.rate), "--duration", str(a.duration), "--conns", "16"]
    else:
        argv = ["ip", "netns", "exec", net.tn.peer_ns, "taskset", "-c", str(a.client_cpu),
                "wrk", "-t1", f"-c{a.connections}", f"-d{a.duration}s", "--timeout", "5s",
                "-s", os.path.join(WRK_DIR, "get.lua")]
        if scen == "close":
            argv += ["-H", "Connection: close"]
        argv.append(f"http://{server.target}/")
    pid = server.proc.pid
    perf = None
    if a.perf:
        perf = subprocess.Popen(["perf", "stat", "-x,", "-e", "instructions", "-p", str(pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rec = None
    if a.record:
        rec = subprocess.Popen(["perf", "record", "-q", "-g", "-C", str(a.server_cpu), "-o",
                                os.path.join(a.record, f"{server.kind}-{scen}.data")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The server host's receive threads (none unless veth's NAPI is threaded).
    napi = [int(p) for p in (server.testbed_state or {}).get(net.tn.stack_if, {}).get(
        "napi_threads", {})]
    k0 = peer_packets(net)
    s0 = sleeps(pid)
    b0, q0 = net.testbed.sample(), sum(sched_ns(p) for p in napi)
    c0 = sched_ns(pid) + q0
    r = subprocess.run(argv, capture_output=True, text=True, timeout=a.duration + 60)
    b1, q1 = net.testbed.sample(), sum(sched_ns(p) for p in napi)
    c1 = sched_ns(pid) + q1
    s1 = sleeps(pid)
    k1 = peer_packets(net)
    instr = None
    if rec is not None:
        rec.send_signal(2)
        rec.wait(timeout=30)
    if perf is not None:
        perf.send_signal(2)
        err = perf.communicate(timeout=10)[1]
        for line in err.splitlines():
            f = line.split(",")
            if len(f) > 2 and f[2] == "instructions" and f[0].isdigit():
                instr = int(f[0])
    if scen == "rate":
        w = last_json(r.stdout, "")
        if r.returncode != 0 or not w or "error" in w:
            raise RuntimeError(f"{server.kind} rate: client failed: "
                               f"{(w or {}).get('error') or r.stderr.strip()[-300:]}")
        n = w["completed"]
        w["duration_us"] = w["duration_s"] * 1e6
        lat = (w.get("lat_p50_us"), w.get("lat_p99_us"))
    else:
        w = last_json(r.stdout, "BH_WRK ")
        if r.returncode != 0 or not w or not w["requests"]:
            raise RuntimeError(f"{server.kind} {scen}: wrk failed: {r.stderr.strip()[-300:]}")
        n = w["requests"]
        lat = (None, None)
    secs = w["duration_us"] / 1e6
    cpus = Testbed.share(b0, b1, secs)
    core = cpus[f"cpu{a.server_cpu}"]
    return {"requests": n, "rps": n / secs, "cpus": cpus,
            "us_per_req": (c1 - c0) / 1e3 / n, "napi_us_per_req": (q1 - q0) / 1e3 / n,
            "sleeps_per_req": (s1 - s0) / n,
            "core_us_per_req": (1.0 - core["idle"]) * secs * 1e6 / n,
            "pkts_out_per_req": (k1[0] - k0[0]) / n, "pkts_in_per_req": (k1[1] - k0[1]) / n,
            "instr_per_req": instr / n if instr else None,
            "lat_p50_us": lat[0], "lat_p99_us": lat[1]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", default="fastnet,uvloop")
    p.add_argument("--scenarios", default="get,close")
    p.add_argument("--duration", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rate", type=int, default=5000, help="requests/s of the rate scenario")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--prefix", default="198.19.38.0/24")
    p.add_argument("--backend", default="af_xdp")
    p.add_argument("--testbed", choices=TESTBEDS, default=TESTBEDS[0],
                   help="where each end's receive work runs (see above)")
    p.add_argument("--perf", action="store_true", help="also count instructions (perf stat)")
    p.add_argument("--record", metavar="DIR",
                   help="perf record -g the server's core (the server, its NAPI kthreads, softirq, "
                   "anything else there) during each cell into DIR/KIND-SCEN.data")
    p.add_argument("--json", help="write the raw cells here")
    p.add_argument("--fastnet-arg", action="append", default=[], metavar="ARG",
                   help="an extra flag for the fastnet server (repeatable), e.g. "
                   "--fastnet-arg=--xdp-mode=skb")
    a = p.parse_args()
    kinds = a.servers.split(",")
    scens = a.scenarios.split(",")
    net = hs.BenchNet(name=f"bh{os.getpid() % 100000}", testbed=a.testbed,
                      server_cpu=a.server_cpu, client_cpu=a.client_cpu, prefix=a.prefix)
    cells = {(k, s): [] for k in kinds for s in scens}
    try:
        with tempfile.TemporaryDirectory(prefix="loop_cost.") as work:
            for rnd in range(a.rounds):
                order = kinds[rnd % len(kinds):] + kinds[:rnd % len(kinds)]
                for kind in order:
                    srv = hs.Server(kind, net, work, cpu=a.server_cpu, backend=a.backend,
                                    fastnet_args=a.fastnet_arg)
                    srv.start()
                    try:
                        for scen in scens:
                            c = cell(a, net, srv, scen)
                            cells[(kind, scen)].append(c)
                            print(f"round {rnd} {kind:8s} {scen:5s} {c['rps']:9.0f} req/s "
                                  f"{c['us_per_req']:7.2f} us/req (napi "
                                  f"{c['napi_us_per_req']:5.2f}, core "
                                  f"{c['core_us_per_req']:7.2f})  sleeps/req "
                                  f"{c['sleeps_per_req']:.2f}  packets/req server->client "
                                  f"{c['pkts_out_per_req']:.2f} client->server "
                                  f"{c['pkts_in_per_req']:.2f}" + (
                                      f"  latency p50 {c['lat_p50_us']:.0f} us p99 "
                                      f"{c['lat_p99_us']:.0f} us"
                                      if c["lat_p50_us"] is not None else ""), flush=True)
                    finally:
                        srv.stop()
    finally:
        net.destroy()
    print(f"\nmedian of {a.rounds} rounds, test bed {a.testbed}, server on-CPU time per "
          "request:")
    med = {}
    for (kind, scen), cs in cells.items():
        med[(kind, scen)] = statistics.median(c["us_per_req"] for c in cs)
        ins = [c["instr_per_req"] for c in cs if c["instr_per_req"]]
        slp = statistics.median(c["sleeps_per_req"] for c in cs)
        napi = statistics.median(c["napi_us_per_req"] for c in cs)
        p50 = [c["lat_p50_us"] for c in cs if c["lat_p50_us"] is not None]
        p99 = [c["lat_p99_us"] for c in cs if c["lat_p99_us"] is not None]
        print(f"  {kind:8s} {scen:5s} {med[(kind, scen)]:7.2f} us/req (napi {napi:5.2f})  "
              f"sleeps/req {slp:.2f}  instructions/req "
              + (f"{statistics.median(ins):.0f}" if ins else "n/a")
              + (f"  latency p50 {statistics.median(p50):.0f} us p99 "
                 f"{statistics.median(p99):.0f} us" if p50 else ""))
    for other in ("uvloop", "asyncio"):
        if "fastnet" in kinds and other in kinds:
            for scen in scens:
                print(f"  {scen}: {other} / fastnet cost = "
                      f"{med[(other, scen)] / med[('fastnet', scen)]:.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"testbed": a.testbed, "cells": {
                f"{k}/{s}": v for (k, s), v in cells.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
