"""Where each side's receive work runs on the benchmarks' veth test bed (bench/http_bench.py,
bench/loop_cost.py).

On veth a transmit runs the *receiver's* receive path in the sender's context: without help
the server core pays for the load generator's kernel TCP receive of every response, and the
load generator's core for the server's receive of every request (kernel TCP for the kernel
servers, the XDP program and the copy into the UMEM for fastnet on af_xdp).  Two real machines
run each host's NIC receive on that host, and the benchmark's figure (requests per server-core
second, from the server core's /proc/stat) depends on where that work lands.

Contract:
- Testbed(tn, mode, server_cpu, client_cpu) for a fastnet.testnet veth network `tn`.
  mode "two-host" (TESTBEDS[0], the default) models two machines; "shared-veth" leaves the
  veth as the kernel sets it up (every receive in its sender's context), for comparison.
- apply() (once, after the network is built; raises OSError if a setting is refused) in
  two-host mode steers each end's receive to its host's core with RPS: rps_cpus of the stack
  end = the server core, of the peer end = the load-generator core.  That covers every frame
  that goes through the kernel's receive (netif_rx / netif_receive_skb: kernel TCP, AF_PACKET,
  XDP_PASS), whichever server kind runs.
- settle() (after every server start, before anything is measured; raises OSError if a
  thread cannot be pinned) covers what runs *before* RPS: veth's NAPI poll, which exists
  while an XDP program is attached (fastnet on af_xdp) and runs the program and the copy
  into the UMEM.  It makes the NAPI threaded (possible only once it exists, i.e. after the
  attach; the setting then survives detach and re-attach, and each attach creates a new
  kthread) and pins every napi/DEV-* kthread of an end to that end's core, under SCHED_FIFO
  (priority NAPI_RT_PRIO, that of a threaded IRQ handler).  A NIC's receive runs in softirq,
  ahead of whatever task the core runs, and fills a ring of 1,024 or more; veth's NAPI
  kthread is an ordinary task by default and its ring holds 256 frames.  Left at SCHED_OTHER
  on the core of a server that keeps it busy (the asyncio app accepting the idle scenario's
  100,000 connections), the kthread waited for its turn while the peer's frames overflowed
  that ring (the peer end's tx_dropped; nothing reaches the server to count): 391 frames,
  233 of them SYNs, lost while 50,000 connections opened, each SYN costing its client a 1 s
  retransmission timeout — the benchmark's "SYN retransmits" were the test bed's.  Under
  SCHED_FIFO none is lost at 50,000; at 100,000 a few still are on a loaded 2-vCPU VM (0 to
  144 frames a run, against 159-229 before).  In shared-veth mode it changes nothing.
  Returns describe().
- sample() / share(a, b): per-CPU split of the time between two samples (user, system,
  softirq, irq, idle, steal fractions of each CPU's /proc/stat line), NET_RX / NET_TX
  softirqs per second from /proc/softirqs, and the busy fraction of the NAPI kthreads on
  each CPU (that time is system time, not softirq, in /proc/stat: the rx work of a core is
  softirq + napi).
- trace_rx(argv) runs argv under `perf stat` (kernel tracepoints, system-wide, per CPU) and
  counts where each end's receive really ran: net:netif_receive_skb of each veth end, and
  xdp:xdp_redirect of the XDP program on the stack end if one is attached.  It is how the
  two modes were checked (tests/test_bench_testbed.py); needs perf (linux-perf).
- Nothing to clean up: every setting lives on the veth devices and goes with the namespaces
  (testnet.destroy()); the NAPI kthreads end with the devices.
"""
from __future__ import annotations

import json
import os
import subprocess

TESTBEDS = ("two-host", "shared-veth")
KTHREADD = 2
NAPI_RT_PRIO = 50         # what the kernel gives threaded IRQ handlers (irq/N-name)


def _ns_sh(ns, script):
    r = subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", script], capture_output=True,
                       text=True, timeout=30)
    return r.returncode, (r.stdout or "").strip(), (r.stderr or "").strip()


def _stat(pid):
    """(comm, utime + stime ticks, ppid, last CPU) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    f = text[text.rindex(")") + 2:].split()
    return comm, int(f[11]) + int(f[12]), int(f[1]), int(f[36])


def _policy(pid):
    """"fifo/PRIO", "other" (or another policy's name) of a thread; None once it is gone."""
    try:
        pol, prio = os.sched_getscheduler(pid), os.sched_getparam(pid).sched_priority
    except OSError:
        return None
    names = {os.SCHED_FIFO: "fifo", os.SCHED_RR: "rr", os.SCHED_OTHER: "other"}
    name = names.get(pol, str(pol))
    return f"{name}/{prio}" if pol in (os.SCHED_FIFO, os.SCHED_RR) else name


def napi_threads(devs):
    """{pid: (dev, ticks, cpu)} of the NAPI kthreads (comm "napi/DEV-ID", child of kthreadd)
    of the given device names.  The comm is cut at 15 characters, so a device name must be
    at most 9 long for the "-" to stay in it (the testnet names are)."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        st = _stat(p)
        if st is None or st[2] != KTHREADD or not st[0].startswith("napi/"):
            continue
        for dev in devs:
            if st[0].startswith(f"napi/{dev}-"):
                out[int(p)] = (dev, st[1], st[3])
    return out


class Testbed:
    def __init__(self, tn, mode="two-host", server_cpu=0, client_cpu=1):
        if mode not in TESTBEDS:
            raise ValueError(f"test bed {mode!r}: one of {', '.join(TESTBEDS)}")
        self.tn, self.mode = tn, mode
        # (namespace, device, core) of each host's end of the wire.
        self.ends = ((tn.stack_ns, tn.stack_if, server_cpu), (tn.peer_ns, tn.peer_if,
                                                              client_cpu))
        self.pinned = {}

    def apply(self):
        if self.mode != "two-host":
            return
        for ns, dev, cpu in self.ends:
            rc, _, err = _ns_sh(ns, f"for q in /sys/class/net/{dev}/queues/rx-*; do "
                                f"echo {1 << cpu:x} > $q/rps_cpus || exit 1; done")
            if rc != 0:
                raise OSError(f"{dev}: rps_cpus: {err or 'refused'}")

    def settle(self):
        if self.mode != "two-host":
            return self.describe()
        for ns, dev, cpu in self.ends:
            # Writing fails while the device has no NAPI (no XDP attached): nothing then
            # runs before RPS on that end, and nothing is to be done.
            _ns_sh(ns, f"t=/sys/class/net/{dev}/threaded; "
                   f"[ \"$(cat $t)\" = 0 ] && echo 1 > $t 2>/dev/null; true")
        devs = {dev: cpu for _, dev, cpu in self.ends}
        self.pinned = {}
        for pid, (dev, _, _) in napi_threads(devs).items():
            try:
                os.sched_setaffinity(pid, {devs[dev]})
                os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(NAPI_RT_PRIO))
            except ProcessLookupError:
                continue          # its NAPI went away meanwhile (XDP detached)
            self.pinned[pid] = (dev, devs[dev])
        return self.describe()

    def describe(self):
        d = {"mode": self.mode}
        for ns, dev, cpu in self.ends:
            _, rps, _ = _ns_sh(ns, f"cat /sys/class/net/{dev}/queues/rx-0/rps_cpus")
            _, thr, _ = _ns_sh(ns, f"cat /sys/class/net/{dev}/threaded")
            d[dev] = {"core": cpu, "rps_cpus": rps or None, "threaded": thr or None,
                      "napi_threads": {str(p): c for p, (dv, c) in self.pinned.items()
                                       if dv == dev},
                      "napi_policy": {str(p): _policy(p) for p, (dv, _) in self.pinned.items()
                                      if dv == dev}}
        return d

    def sample(self):
        cpus = {}
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu") and line[3].isdigit():
                    name, *vals = line.split()
                    cpus[name] = [int(v) for v in vals[:8]]
        irqs = {}
        with open("/proc/softirqs") as f:
            rows = f.read().splitlines()
        for row in rows[1:]:
            name, *vals = row.split()
            if name in ("NET_RX:", "NET_TX:"):
                irqs[name[:-1]] = [int(v) for v in vals]
        devs = [dev for _, dev, _ in self.ends]
        return {"stat": cpus, "softirqs": irqs, "napi": napi_threads(devs)}

    @staticmethod
    def share(a, b, seconds):
        """Per CPU ("cpu0", ...): fractions of its time between samples a and b, NET_RX and
        NET_TX softirqs per second, and napi = its NAPI kthreads' busy fraction."""
        out = {}
        for name, x in a["stat"].items():
            y = b["stat"].get(name)
            if y is None:
                continue
            d = [j - i for i, j in zip(x, y)]
            total = sum(d) or 1
            n = int(name[3:])
            napi = sum(t1 - a["napi"][p][1] for p, (_, t1, c) in b["napi"].items()
                       if c == n and p in a["napi"])
            row = {"user": (d[0] + d[1]) / total, "system": d[2] / total,
                   "irq": d[5] / total, "softirq": d[6] / total,
                   "idle": (d[3] + d[4]) / total, "steal": d[7] / total,
                   "napi": napi / total}
            for k, v in a["softirqs"].items():
                if n < len(v):
                    row[f"{k.lower()}_per_s"] = (b["softirqs"][k][n] - v[n]) / seconds
            out[name] = {k: round(v, 4) for k, v in row.items()}
        return out

    def xdp_prog_id(self):
        """The id of the XDP program attached to the stack end, or None."""
        ns, dev, _ = self.ends[0]
        r = subprocess.run(["ip", "-n", ns, "-j", "-d", "link", "show", "dev", dev],
                           capture_output=True, text=True, timeout=30, check=True)
        return ((json.loads(r.stdout)[0].get("xdp") or {}).get("prog") or {}).get("id")

    def trace_rx(self, argv, timeout=120):
        """{"stack": {cpu: frames}, "peer": {...}, "xdp": {...}} while argv ran: on which CPU
        each end's frames entered the kernel's receive, and on which the stack end's XDP
        program redirected frames (absent when no program is attached)."""
        events = [("stack", "net:netif_receive_skb", f'name == "{self.ends[0][1]}"'),
                  ("peer", "net:netif_receive_skb", f'name == "{self.ends[1][1]}"')]
        prog = self.xdp_prog_id()
        if prog is not None:
            events.append(("xdp", "xdp:xdp_redirect", f"prog_id == {prog}"))
        cmd = ["perf", "stat", "-x,", "-a", "-A"]
        for _, ev, flt in events:
            cmd += ["-e", ev, "--filter", flt]
        r = subprocess.run([*cmd, "--", *argv], capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise OSError(f"perf stat: {r.stderr.strip()[-300:] or 'failed'}")
        rows = [ln.split(",") for ln in r.stderr.splitlines() if ln.startswith("CPU")]
        ncpu = len(rows) // len(events)
        out = {}
        for i, row in enumerate(rows):
            key = events[i // ncpu][0]
            out.setdefault(key, {})[int(row[0][3:])] = int(row[1])
        return out
