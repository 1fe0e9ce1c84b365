#!/usr/bin/env python3
"""Receive-path cost of fastnet's TCP, in instructions, counted by callgrind.

Builds stack/build/bench/tcp_rx_cost (``make -C stack bench``), runs it under
``valgrind --tool=callgrind --collect-atstart=no`` for each mode and two segment counts K1 < K2,
and derives the cost of one segment as (Ir(K2) - Ir(K1)) / (K2 - K1): set-up, warm-up and the
fixed cost of the measured region cancel.  Instruction counts do not depend on the machine's
load, so the figure is repeatable to the instruction for a given compiler and source.

Prints a table (instructions per data segment, with and without the application draining the
receive buffer, per pure ACK, and the top functions by inclusive cost per segment) and records
it under a label in bench/results/tcp_rx_cost.json and .md; other labels already recorded there
(e.g. "before" and "after" an optimisation) are kept, so the files show the history.

Targets (issue 3): <= 1,000 instructions per data segment, <= 300 per pure ACK.  They are
reported here, never asserted in a test.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROG = os.path.join(ROOT, "stack", "build", "bench", "tcp_rx_cost")
RESULTS = os.path.join(ROOT, "bench", "results")
MODES = ("data", "data-drain", "ack", "send-64k", "send-1m")
# The send modes have no target of their own: what they show is that the output part (a
# full-size segment sent per ACK) does not grow with the data in flight.
TARGETS = {"data": 1000, "data-drain": 1000, "ack": 300, "send-64k": None, "send-1m": None}
TITLES = {
    "data": "data segment (no reader)",
    "data-drain": "data segment + application read",
    "ack": "pure ACK (data in flight)",
    "send-64k": "ACK + one segment sent, 64 KiB in flight",
    "send-1m": "ACK + one segment sent, 1 MiB in flight",
}
# What the measured region spends sending (the ACKs that data segments trigger, window
# updates after reads) rather than receiving: these functions' inclusive costs do not nest.
OUTPUT_FNS = ("tcp_output", "tcp_respond", "mem_tx_batch")
# Frames of the benchmark program itself, not of the stack.
OWN = ("tcp_rx_cost.c:", "(below main)", "libc-start.c", "libc_start_call_main", "???:0x")
# function -> the source file it is defined in, for display
files = {}
ANNOTATE_LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*?)\s+\[.*\]\s*$|"
                           r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*?)\s*$")


def run_one(mode, k, warmup, outdir):
    """Run one mode with K segments under callgrind: (collected Ir, counters, profile file)."""
    out = os.path.join(outdir, "callgrind.%s.%d.out" % (mode, k))
    cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no",
           "--callgrind-out-file=" + out, PROG, "--mode", mode, "--k", str(k),
           "--warmup", str(warmup)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       cwd=outdir)
    if p.returncode != 0:
        sys.exit("tcp_rx_cost failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr))
    counters = json.loads(p.stdout.strip().splitlines()[-1])
    ir = None
    with open(out) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                ir = int(line.split()[1])
    if ir is None:
        sys.exit("no totals in " + out)
    return ir, counters, out


def annotate(path, inclusive):
    """{function: Ir} from callgrind_annotate (inclusive or self cost).

    Code inlined from a header shows as a second entry of the same function under the
    header's file name: self costs of such entries add up, inclusive costs overlap (the
    largest is the function's)."""
    cmd = ["callgrind_annotate", "--threshold=100", "--auto=no",
           "--inclusive=" + ("yes" if inclusive else "no"), path]
    text = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          check=True, cwd=os.path.dirname(path)).stdout
    entries, started = {}, False
    for line in text.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started:
            continue
        m = ANNOTATE_LINE.match(line)
        if not m:
            continue
        n, name = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        if "PROGRAM TOTALS" in name or any(o in name for o in OWN):
            continue
        fn = name.rsplit(":", 1)[-1]
        where = re.sub(r"^.*/stack/", "", name.rsplit(":", 1)[0])
        ir = int(n.replace(",", ""))
        ent = entries.setdefault(fn, [])
        ent.append((ir, where))
    costs = {}
    for fn, ent in entries.items():
        ir = max(e[0] for e in ent) if inclusive else sum(e[0] for e in ent)
        costs[fn] = ir
        files[fn] = max(ent)[1] if inclusive else files.get(fn, max(ent)[1])
    return costs


def per_segment(a, b, dk):
    return {f: (b.get(f, 0) - a.get(f, 0)) / dk for f in set(a) | set(b)}


def measure(k1, k2, warmup, top):
    outdir = tempfile.mkdtemp(prefix="tcp_rx_cost.")
    modes = {}
    try:
        for mode in MODES:
            ir1, c1, f1 = run_one(mode, k1, warmup, outdir)
            ir2, c2, f2 = run_one(mode, k2, warmup, outdir)
            incl = per_segment(annotate(f1, True), annotate(f2, True), k2 - k1)
            excl = per_segment(annotate(f1, False), annotate(f2, False), k2 - k1)
            ranked = sorted(incl.items(), key=lambda kv: -kv[1])[:top]
            per_seg = (ir2 - ir1) / (k2 - k1)
            output = sum(incl.get(f, 0.0) for f in OUTPUT_FNS)
            modes[mode] = {
                "per_segment": round(per_seg, 1),
                "output_per_segment": round(output, 1),
                "receive_only": round(per_seg - output, 1),
                "target": TARGETS[mode],
                "ir_k1": ir1,
                "ir_k2": ir2,
                "counters_k2": c2,
                "top_inclusive": [{"function": "%s:%s" % (files.get(f, "?"), f),
                                   "inclusive": round(v, 1),
                                   "self": round(excl.get(f, 0.0), 1)} for f, v in ranked],
            }
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    return modes


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "stack"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               check=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def tool_version(cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                              ).stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        return "unknown"


def render_md(doc):
    lines = ["# TCP receive-path cost (callgrind)", "",
             "Instructions (callgrind `Ir`) per segment from the backend's rx ring to the socket "
             "buffer, one established connection over the memory backend (software checksum "
             "verification, timestamps and window scaling on), rx_batch frames per "
             "`fn_stack_poll`.  Per segment = (Ir(K2) − Ir(K1)) / (K2 − K1).  Generated by "
             "`bench/tcp_rx_cost.py`.  Each figure is everything the poll (and, with a "
             "reader, the application's reads) does for those segments, so it includes the "
             "ACKs the data segments trigger (one per two full-size segments, RFC 5681 §4.2) "
             "and the window updates after reads; in brackets the part of it spent in "
             "output (`%s`, inclusive), i.e. what is left for the receive path proper is the "
             "difference.  The send columns: each pure ACK releases one full-size segment "
             "with 64 KiB / 1 MiB in flight; in brackets the cost of sending it." %
             "`, `".join(OUTPUT_FNS), "",
             "| run | git | data segment [output] | data + read [output] | pure ACK [output] "
             "| ACK + send, 64 KiB [output] | ACK + send, 1 MiB [output] | K1 / K2 |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for label in doc["order"]:
        r = doc["runs"][label]
        cells = []
        for mode in MODES:
            m = r["modes"].get(mode)
            if m is None:
                cells.append("–")
            elif "output_per_segment" in m:
                cells.append("%.1f [%.1f]" % (m["per_segment"], m["output_per_segment"]))
            else:
                cells.append("%.1f" % m["per_segment"])
        lines.append("| %s | %s | %s | %d / %d |" % (label, r["git"], " | ".join(cells),
                                                     r["k1"], r["k2"]))
    lines += ["", "Targets: ≤ %d per data segment, ≤ %d per pure ACK." % (
        TARGETS["data"], TARGETS["ack"]), ""]
    for label in doc["order"]:
        r = doc["runs"][label]
        if r.get("notes"):
            lines += ["- **%s**: %s" % (label, r["notes"])]
    latest = doc["order"][-1]
    r = doc["runs"][latest]
    lines += ["", "## Profile of run \"%s\" (%s, %s, %s)" % (latest, r["git"], r["compiler"],
                                                             r["valgrind"]), ""]
    for mode in MODES:
        m = r["modes"].get(mode)
        if m is None:
            continue
        lines += ["### %s: %.1f instructions" % (TITLES[mode], m["per_segment"]), "",
                  "| function | inclusive / seg | self / seg |", "| --- | ---: | ---: |"]
        for t in m["top_inclusive"]:
            lines.append("| `%s` | %.1f | %.1f |" % (t["function"], t["inclusive"], t["self"]))
        lines.append("")
    return "\n".join(lines)


def print_table(label, r):
    print("tcp_rx_cost [%s] git %s, K1=%d K2=%d (instructions per segment, callgrind Ir)" % (
        label, r["git"], r["k1"], r["k2"]))
    for mode in MODES:
        m = r["modes"][mode]
        if m["target"] is None:
            verdict = "no target"
        else:
            verdict = "target <= %d: %s" % (
                m["target"], "ok" if m["per_segment"] <= m["target"] else "ABOVE TARGET")
        print("  %-42s %9.1f   (%s; output %.1f, receive only %.1f)" % (
            TITLES[mode], m["per_segment"], verdict, m["output_per_segment"],
            m["receive_only"]))
    for mode in MODES:
        print("\n  top functions, %s (inclusive / self per segment):" % TITLES[mode])
        for t in r["modes"][mode]["top_inclusive"]:
            print("    %9.1f %9.1f  %s" % (t["inclusive"], t["self"], t["function"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k1", type=int, default=200)
    ap.add_argument("--k2", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=64)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--label", default="current",
                    help="name of this run in the results files (replaces a run of that name)")
    ap.add_argument("--notes", default="", help="one line recorded with the run")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    if not 0 < args.k1 < args.k2:
        ap.error("need 0 < K1 < K2")
    for tool in ("valgrind", "callgrind_annotate"):
        if not shutil.which(tool):
            sys.exit("%s not found: install valgrind (scripts/install-deps.sh)" % tool)
    if not args.no_build:
        subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "stack"), "-j2", "bench"],
                       check=True)
    run = {
        "git": git_rev(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "compiler": tool_version(["cc", "--version"]),
        "valgrind": tool_version(["valgrind", "--version"]),
        "k1": args.k1,
        "k2": args.k2,
        "warmup": args.warmup,
        "notes": args.notes,
        "modes": measure(args.k1, args.k2, args.warmup, args.top),
    }
    print_table(args.label, run)
    if args.no_write:
        return
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, "tcp_rx_cost.json")
    doc = {"benchmark": "tcp_rx_cost", "unit": "instructions per segment (callgrind Ir)",
           "targets": TARGETS, "order": [], "runs": {}}
    if os.path.exists(path):
        with open(path) as f:
            doc = json.load(f)
    if args.label in doc["order"]:
        doc["order"].remove(args.label)
    doc["order"].append(args.label)
    doc["runs"][args.label] = run
    with open(path, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(RESULTS, "tcp_rx_cost.md"), "w") as f:
        f.write(render_md(doc))
        f.write("\n")
    print("\nwrote %s and tcp_rx_cost.md" % path)


if __name__ == "__main__":
    main()
