#!/usr/bin/env python3
"""Bulk goodput of one TCP connection: kernel client -> fastnet sink, next to kernel client ->
kernel sink over the same kind of link, in the same run (issue 3).  Reported, never asserted.

For each backend (af_xdp, af_packet, tap) a test network is built with fastnet.testnet
(198.18.44.0/24 by default, a name unique to this process; torn down on any failure, which
also detaches XDP).  The client is always the kernel's TCP in the peer namespace
(bench/goodput_peer.py client: one connection, --bytes bytes from a 1 MiB buffer, timed from
just before connect() until SIOCOUTQ says every byte and the FIN are acknowledged).  The
contenders take turns, several rounds, the order rotated each round so that drift cancels:

  fastnet          stack/tests/tool_tcp_peer as a server in the stack namespace on BACKEND,
                   receiving only and discarding without hashing (-n 0 -r N -D);
  kernel-same      bench/goodput_peer.py sink, the kernel's TCP in the stack namespace on
                   an extra address (.3) of the same veth (af_xdp, af_packet) or of the
                   bridge that joins the TAP to the veth (tap: the frames cross the same veth
                   and bridge but end in the kernel instead of the TAP), with the offloads the
                   testnet sets for fastnet (peer veth tx/tso/gso off, GRO off);
  kernel-default   the same with the kernel's defaults on the veth ends (tx checksum, TSO and
                   GSO on; GRO off is a veth's default): what a kernel-to-kernel user gets.

The sink is pinned to --sink-cpu and the client to --client-cpu (taskset).  Busy fractions come
from /proc/stat sampled by the client at both ends of its timed window.  Per contender the
table gives the median over the rounds of MiB/s, the sink core's and the client core's busy
fraction and MiB per busy sink-core second; per backend the ratio fastnet / kernel of the
medians.  For fastnet, the stack's counters (segments, ACKs sent, retransmissions,
out-of-order, poll iterations, time asleep) are recorded per round for telling where its
core goes.

Writes bench/results/tcp_goodput.json and .md (or --out-dir) with the machine, kernel and
versions.  Needs root (namespaces, XDP); builds the tool with make.
"""
import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from fastnet import testnet  # noqa: E402

STACK = os.path.join(ROOT, "stack")
TOOL = os.path.join(STACK, "build", "tests", "tool_tcp_peer")
XDP_OBJ = os.path.join(STACK, "build", "fn_xdp_kern.o")
PEER = os.path.join(ROOT, "bench", "goodput_peer.py")
RESULTS = os.path.join(ROOT, "bench", "results")
BACKENDS = ("af_xdp", "af_packet", "tap")
CONTENDERS = ("fastnet", "kernel-same", "kernel-default")
PORT = 5201
MIB = 1 << 20
# The stack counters recorded per fastnet round (deltas from a fresh stack: each round is a
# new tool process).
STATS = ("eth_rx", "eth_tx", "tcp_rx", "tcp_tx", "tcp_rx_bytes", "tcp_rx_hdrpred_data",
         "tcp_rx_ooo", "tcp_rx_dup", "tcp_rx_oow", "tcp_rx_dropped", "tcp_rx_rcvbuf_full",
         "tcp_delack_sent", "tcp_rexmt_segs", "tcp_nobuf", "drop_nobuf", "drop_l4_bad_csum",
         "tcp_pool_rx_dropped", "tcp_pool_ooo_dropped", "tcp_pool_wnd_limited")
TX_OFF = ("tx", "off", "tso", "off", "gso", "off")
TX_ON = ("tx", "on", "tso", "on", "gso", "on")


class Fail(Exception):
    pass


def sh(argv, timeout=60, check=True, input=None):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise Fail(f"{' '.join(argv)}: {(r.stderr or r.stdout).strip()}")
    return r


def ns(name, *argv, **kw):
    return sh(["ip", "netns", "exec", name, *argv], **kw)


class Proc:
    """A process in a namespace, output to files in workdir; stopped only by its own PID."""

    def __init__(self, netns, argv, workdir, tag):
        self.out_path = os.path.join(workdir, tag + ".out")
        self.err_path = os.path.join(workdir, tag + ".err")
        self._out, self._err = open(self.out_path, "w"), open(self.err_path, "w")
        self.p = subprocess.Popen(["ip", "netns", "exec", netns, *argv], stdout=self._out,
                                  stderr=self._err, cwd=ROOT)

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def wait_for(self, text, timeout=15):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.stderr():
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        raise Fail(f"{self.p.args[4]} did not say {text!r}: {self.stderr()[-2000:]}")

    def wait(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise Fail(f"{' '.join(self.p.args)} did not finish in {timeout:.0f} s: "
                       f"{self.stderr()[-2000:]}")

    def json(self):
        self._out.flush()
        with open(self.out_path) as f:
            lines = f.read().strip().splitlines()
        if not lines:
            raise Fail(f"{' '.join(self.p.args)}: no output; stderr: {self.stderr()[-2000:]}")
        return json.loads(lines[-1])

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)

    def close(self):
        self.stop()
        self._out.close()
        self._err.close()


def busy(stat0, stat1, cpu):
    """(busy jiffies, all jiffies) of cpuN between two /proc/stat samples (user nice system
    idle iowait irq softirq steal; guest time is already in user)."""
    a, b = stat0[f"cpu{cpu}"][:8], stat1[f"cpu{cpu}"][:8]
    d = [y - x for x, y in zip(a, b)]
    total = sum(d)
    return total - d[3] - d[4], total


def split(stat0, stat1, cpu):
    """Shares of cpuN's time between two samples: user (+nice), system, irq + softirq."""
    a, b = stat0[f"cpu{cpu}"][:8], stat1[f"cpu{cpu}"][:8]
    d = [y - x for x, y in zip(a, b)]
    total = sum(d) or 1
    return {"user": (d[0] + d[1]) / total, "system": d[2] / total,
            "softirq": (d[5] + d[6]) / total}


def peer_retrans(tn):
    lines = ns(tn.peer_ns, "cat", "/proc/net/snmp").stdout.splitlines()
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith("Tcp:"):
            return dict(zip(head.split()[1:], map(int, vals.split()[1:])))["RetransSegs"]
    return 0


class Bench:
    def __init__(self, a, workdir):
        self.a = a
        self.workdir = workdir
        self.seq = 0

    def client(self, tn, addr):
        argv = ["taskset", "-c", str(self.a.client_cpu), sys.executable, PEER, "client",
                "--addr", addr, "--port", str(PORT), "--bytes", str(self.a.bytes),
                "--timeout", str(self.a.timeout),
                "--cpus", f"{self.a.sink_cpu},{self.a.client_cpu}"]
        return Proc(tn.peer_ns, argv, self.workdir, self.tag("client"))

    def tag(self, what):
        self.seq += 1
        return f"{self.seq:03d}-{what}"

    def set_offloads(self, tn, contender):
        """kernel-default: the kernel's defaults on the veth ends; otherwise the testnet's."""
        feats = TX_ON if contender == "kernel-default" else TX_OFF
        ns(tn.peer_ns, "ethtool", "-K", tn.peer_if, *feats)
        if tn.kind == "tap":
            ns(tn.stack_ns, "ethtool", "-K", tn.bridge_veth, *feats)

    def offload_state(self, tn):
        ends = [(tn.peer_ns, tn.peer_if),
                (tn.stack_ns, tn.bridge_veth if tn.kind == "tap" else tn.stack_if)]
        out = {}
        keys = {"tx-checksumming": "tx", "tcp-segmentation-offload": "tso",
                "generic-segmentation-offload": "gso", "generic-receive-offload": "gro"}
        for netns, dev in ends:
            st = {}
            for line in ns(netns, "ethtool", "-k", dev).stdout.splitlines():
                k, _, v = line.partition(":")
                if k.strip() in keys:
                    st[keys[k.strip()]] = v.split()[0] if v.split() else ""
            out[dev] = st
        return out

    def round_fastnet(self, tn, backend):
        a = self.a
        tool = Proc(tn.stack_ns,
                    ["taskset", "-c", str(a.sink_cpu), TOOL, "-b", backend, "-i", tn.stack_if,
                     "-a", tn.stack_cidr, "-l", str(PORT), "-c", "1", "-n", "0",
                     "-r", str(a.bytes), "-D", "-t", str(a.timeout), "-o", XDP_OBJ],
                    self.workdir, self.tag(f"tool-{backend}"))
        procs = [tool]
        try:
            tool.wait_for("listening")
            r0 = peer_retrans(tn)
            cl = self.client(tn, tn.stack_ip)
            procs.append(cl)
            if cl.wait(a.timeout + 30) != 0:
                raise Fail(f"client failed: {cl.stderr()[-2000:]}")
            tool.wait(a.timeout + 30)
            res, t = tool.json(), cl.json()
            conn = res["conns"][0] if res["conns"] else {}
            if conn.get("received") != a.bytes or conn.get("closed") != "fin":
                raise Fail(f"fastnet sink on {backend}: {json.dumps(conn)}")
            if res["pool_in_use"] != 0:
                raise Fail(f"fastnet sink on {backend}: {res['pool_in_use']} buffers leaked")
            row = self.row(t, peer_retrans(tn) - r0)
            row["stack"] = {k: res["stats"][k] for k in STATS}
            row["backend_stats"] = res["backend_stats"]
            row["loop"] = res["loop"]
            row["tool_elapsed_s"] = res["elapsed_s"]
            return row
        finally:
            for p in procs:
                p.close()

    def round_kernel(self, tn, contender):
        a = self.a
        dev = tn.bridge if tn.kind == "tap" else tn.stack_if
        addr = str(tn.prefix.network_address + 3)
        self.set_offloads(tn, contender)
        procs = []
        ns(tn.stack_ns, "ip", "addr", "add", f"{addr}/{tn.prefix_len}", "dev", dev)
        try:
            state = self.offload_state(tn)
            sink = Proc(tn.stack_ns,
                        ["taskset", "-c", str(a.sink_cpu), sys.executable, PEER, "sink",
                         "--addr", addr, "--port", str(PORT), "--timeout", str(a.timeout)],
                        self.workdir, self.tag(contender))
            procs.append(sink)
            sink.wait_for("listening")
            r0 = peer_retrans(tn)
            cl = self.client(tn, addr)
            procs.append(cl)
            if cl.wait(a.timeout + 30) != 0:
                raise Fail(f"client failed: {cl.stderr()[-2000:]}")
            sink.wait(a.timeout + 30)
            if sink.json()["received"] != a.bytes:
                raise Fail(f"kernel sink: {sink.json()}")
            row = self.row(cl.json(), peer_retrans(tn) - r0)
            row["offloads"] = state
            return row
        finally:
            for p in procs:
                p.close()
            ns(tn.stack_ns, "ip", "addr", "del", f"{addr}/{tn.prefix_len}", "dev", dev,
               check=False)
            self.set_offloads(tn, "kernel-same")

    def row(self, t, peer_rexmt):
        a = self.a
        sb, st = busy(t["stat0"], t["stat1"], a.sink_cpu)
        cb, ct = busy(t["stat0"], t["stat1"], a.client_cpu)
        sink_busy = sb / st if st else 0.0
        client_busy = cb / ct if ct else 0.0
        mib = t["bytes"] / MIB
        secs = t["seconds"]
        return {"seconds": secs, "mib_s": mib / secs, "sink_busy": sink_busy,
                "client_busy": client_busy,
                "mib_per_sink_core_s": mib / (sink_busy * secs) if sink_busy else None,
                "mib_per_cpu_s": (mib / ((sink_busy + client_busy) * secs)
                                  if sink_busy + client_busy else None),
                "peer_rexmt_segs": peer_rexmt,
                "sink_split": split(t["stat0"], t["stat1"], a.sink_cpu),
                "client_split": split(t["stat0"], t["stat1"], a.client_cpu)}

    def run_backend(self, backend):
        a = self.a
        name = f"gp{os.getpid() % 10000}{backend[-1]}"
        rows = {c: [] for c in CONTENDERS}
        tn = testnet.create(name=name, kind="tap" if backend == "tap" else "veth",
                            prefix=a.prefix)
        try:
            for rnd in range(a.rounds):
                k = rnd % len(CONTENDERS)
                for c in CONTENDERS[k:] + CONTENDERS[:k]:
                    row = (self.round_fastnet(tn, backend) if c == "fastnet"
                           else self.round_kernel(tn, c))
                    row["round"] = rnd
                    rows[c].append(row)
                    print(f"  {backend:9s} round {rnd} {c:14s} {row['mib_s']:8.1f} MiB/s  "
                          f"sink busy {row['sink_busy']:.2f}  client busy "
                          f"{row['client_busy']:.2f}", flush=True)
        finally:
            tn.destroy()
        return rows


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def ratio(x, y):
    """x / y, None when either is unknown (a transfer too short for /proc/stat's 10 ms
    ticks has no busy figure)."""
    return x / y if x is not None and y else None


def summarise(rows):
    s = {}
    for c, rs in rows.items():
        s[c] = {k: med(rs, k) for k in ("mib_s", "sink_busy", "client_busy",
                                        "mib_per_sink_core_s", "mib_per_cpu_s")}
        for side in ("sink_split", "client_split"):
            s[c][side] = {k: statistics.median(r[side][k] for r in rs)
                          for k in ("user", "system", "softirq")}
    for k in ("kernel-same", "kernel-default"):
        s[f"ratio_vs_{k}"] = {m: ratio(s["fastnet"][m], s[k][m])
                              for m in ("mib_s", "mib_per_sink_core_s")}
    fr = rows["fastnet"]
    tot = {k: sum(r["stack"][k] for r in fr) for k in STATS}
    loop = {k: sum(r["loop"][k] for r in fr) for k in fr[0]["loop"]}
    secs = loop["active_ns"] / 1e9 or 1.0     # while the connection was open
    data = tot["tcp_rx"] or 1
    s["fastnet_profile"] = {
        "bytes_per_segment": tot["tcp_rx_bytes"] / data,
        "acks_per_data_segment": tot["tcp_tx"] / data,
        "hdrpred_share": tot["tcp_rx_hdrpred_data"] / data,
        "ooo_segments": tot["tcp_rx_ooo"], "dup_segments": tot["tcp_rx_dup"],
        "dropped": tot["tcp_rx_dropped"] + tot["drop_nobuf"] + tot["tcp_pool_rx_dropped"]
        + tot["tcp_rx_rcvbuf_full"],
        "peer_rexmt_segs": sum(r["peer_rexmt_segs"] for r in fr),
        "poll_iterations_per_s": loop["iterations"] / secs,
        "frames_per_busy_iteration": (tot["eth_rx"] / (loop["iterations"]
                                                       - loop["idle_iterations"])
                                      if loop["iterations"] > loop["idle_iterations"]
                                      else None),
        "idle_iteration_share": loop["idle_iterations"] / max(1, loop["iterations"]),
        "asleep_share": loop["sleep_ns"] / 1e9 / secs,
        "acks_by_delack_timer": tot["tcp_delack_sent"],
    }
    return s


def machine():
    def first(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True,
                                  timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return None
    model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {"cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "cc": first(["cc", "--version"]),
            "libxdp": first(["pkg-config", "--modversion", "libxdp"]),
            "libbpf": first(["pkg-config", "--modversion", "libbpf"]),
            "git": (first(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) or "?")
            + ("+dirty" if dirty else "")}


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def write_md(path, doc):
    a, m = doc["params"], doc["machine"]
    L = ["# tcp_goodput — one connection, kernel client to fastnet sink vs kernel sink", "",
         "Written by `bench/tcp_goodput.py`; reported, never asserted.  "
         f"{a['bytes'] // MIB} MiB per transfer, {a['rounds']} rounds per backend, contenders "
         "alternating (order rotated each round); medians over the rounds.  Sink pinned to "
         f"CPU {a['sink_cpu']}, kernel client to CPU {a['client_cpu']}.", "",
         f"Machine: {m['cpu']} × {m['cpus']}, kernel {m['kernel']}, Python {m['python']}, "
         f"{m['cc']}, libxdp {m['libxdp']}, libbpf {m['libbpf']}, fastnet {m['git']}; "
         f"run {doc['date']}.", "",
         "- **fastnet**: `tool_tcp_peer` server on the backend, receive only, bytes discarded "
         "without hashing (`-n 0 -r N -D`); veth offloads as the testnet sets them "
         "(peer tx/tso/gso off, GRO off).",
         "- **kernel-same**: the kernel's TCP as the sink in the stack namespace over the same "
         "link, with the same offload settings as fastnet.",
         "- **kernel-default**: the same with the kernel's default veth offloads "
         "(tx checksum/TSO/GSO on, GRO off).",
         "- tap: the kernel sink sits on the bridge that joins the TAP to the veth (same veth "
         "and bridge; the frames end in the kernel, not in the TAP).",
         "- busy: share of the core's time not idle (/proc/stat) over the client's timed "
         "window; MiB/sink-core-s = MiB / (sink busy × seconds); MiB/CPU-s counts both "
         "cores.  On veth the kernel does much of the receive work (veth xmit, NAPI/XDP, "
         "backlog) in softirq on the *sending* core, so the client core carries part of "
         "every sink's cost.", "",
         "| backend | sink | MiB/s | sink busy | client busy | MiB/sink-core-s | MiB/CPU-s |",
         "|---|---|---:|---:|---:|---:|---:|"]
    for be, r in doc["backends"].items():
        s = r["summary"]
        for c in CONTENDERS:
            x = s[c]
            L.append(f"| {be} | {c} | {fmt(x['mib_s'], '.1f')} | {fmt(x['sink_busy'], '.2f')}"
                     f" | {fmt(x['client_busy'], '.2f')} | "
                     f"{fmt(x['mib_per_sink_core_s'], '.1f')} | {fmt(x['mib_per_cpu_s'], '.1f')} |")
    L += ["", "Where each core's time goes (median shares of the timed window, /proc/stat: "
          "user, system, irq+softirq):", "",
          "| backend | sink | sink core user / sys / softirq | client core user / sys / softirq |",
          "|---|---|---|---|"]
    for be, r in doc["backends"].items():
        for c in CONTENDERS:
            x = r["summary"][c]
            L.append(f"| {be} | {c} | " + " | ".join(
                " / ".join(f"{x[side][k]:.2f}" for k in ("user", "system", "softirq"))
                for side in ("sink_split", "client_split")) + " |")
    L += ["", "Ratio fastnet / kernel (of the medians):", "",
          "| backend | MiB/s vs same offloads | vs default offloads "
          "| MiB/sink-core-s vs same | vs default |", "|---|---:|---:|---:|---:|"]
    for be, r in doc["backends"].items():
        s = r["summary"]
        L.append(f"| {be} | {fmt(s['ratio_vs_kernel-same']['mib_s'], '.2f')} | "
                 f"{fmt(s['ratio_vs_kernel-default']['mib_s'], '.2f')} | "
                 f"{fmt(s['ratio_vs_kernel-same']['mib_per_sink_core_s'], '.2f')} | "
                 f"{fmt(s['ratio_vs_kernel-default']['mib_per_sink_core_s'], '.2f')} |")
    L += ["", "fastnet sink, from the stack's and the tool's loop counters (all rounds):", "",
          "| backend | B/segment | ACKs/data segment | header prediction | ooo | dup | dropped "
          "| peer rexmt | poll iter/s | frames/busy iter | idle iter | asleep |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for be, r in doc["backends"].items():
        p = r["summary"]["fastnet_profile"]
        L.append(f"| {be} | {p['bytes_per_segment']:.0f} | {p['acks_per_data_segment']:.2f} | "
                 f"{p['hdrpred_share']:.2f} | {p['ooo_segments']} | {p['dup_segments']} | "
                 f"{p['dropped']} | {p['peer_rexmt_segs']} | "
                 f"{p['poll_iterations_per_s']:.0f} | "
                 f"{fmt(p['frames_per_busy_iteration'], '.2f')} | "
                 f"{p['idle_iteration_share']:.2f} | {p['asleep_share']:.2f} |")
    if doc.get("notes"):
        L += ["", doc["notes"]]
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bytes", type=int, default=512 * MIB, help="bytes per transfer")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--sink-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--timeout", type=float, default=120, help="seconds per transfer")
    p.add_argument("--prefix", default="198.18.44.0/24")
    p.add_argument("--out-dir", default=RESULTS)
    p.add_argument("--notes", default="", help="text appended to the .md")
    p.add_argument("--no-build", action="store_true")
    a = p.parse_args()
    backends = [b for b in a.backends.split(",") if b]
    if a.bytes < 1 or a.rounds < 1 or any(b not in BACKENDS for b in backends):
        p.error("bad --bytes, --rounds or --backends")
    if os.geteuid() != 0:
        sys.exit("tcp_goodput: needs root (network namespaces, XDP)")
    if not a.no_build:
        r = subprocess.run(["make", "-s", "-C", STACK, "-j2", "all", "bpf"],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            sys.exit(f"make failed: {r.stderr[-3000:]}")
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "params": {"bytes": a.bytes, "rounds": a.rounds, "sink_cpu": a.sink_cpu,
                      "client_cpu": a.client_cpu, "prefix": a.prefix},
           "machine": machine(), "notes": a.notes, "backends": {}}
    with tempfile.TemporaryDirectory(prefix="tcp_goodput.") as wd:
        b = Bench(a, wd)
        try:
            for be in backends:
                rows = b.run_backend(be)
                doc["backends"][be] = {"rounds": rows, "summary": summarise(rows)}
        except Fail as e:
            sys.exit(f"tcp_goodput: {e}")
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "tcp_goodput.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    write_md(os.path.join(a.out_dir, "tcp_goodput.md"), doc)
    with open(os.path.join(a.out_dir, "tcp_goodput.md")) as f:
        print(f.read())


if __name__ == "__main__":
    main()
