#!/bin/sh
# SCRATCH (irq-suspension exploration, 2026-12-02): who runs veth's NAPI during a loop_cost
# run?  Records the napi:napi_poll tracepoint system-wide and counts polls by (task, device,
# work>0).  Usage: napi_trace.sh OUT.txt loop_cost-args...
out=$1; shift
d=$(mktemp -d)
perf record -q -e napi:napi_poll -a -o "$d/perf.data" -- python3 bench/loop_cost.py "$@" > "$d/lc.txt" 2>&1
tail -1 "$d/lc.txt" > "$out"
perf script -i "$d/perf.data" -F comm,pid,trace 2>/dev/null | awk '
  { k=$1" "$2" "$8" "$11" "(($13=="0")?"empty":"work"); c[k]++ }
  END { for (k in c) print c[k], k }' | sort -rn | head -14 >> "$out"
rm -rf "$d"
cat "$out"
