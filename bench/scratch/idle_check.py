#!/usr/bin/env python3
"""SCRATCH (irq-suspension exploration, 2026-12-02): CPU of an idle apps.http_echo on the
fastnet loop (af_xdp, --napi-poll, FASTNET_IRQSUS as in the environment) over 3 s after 20
keep-alive GETs from the kernel peer, plus its NAPI's kthread CPU.  Own testnet (is*), torn
down at the end.  Usage: idle_check.py [extra app args...]"""
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from fastnet import netns, testnet  # noqa: E402


def cpu(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


net = testnet.create(name=f"is{os.getpid() % 1000}", kind="veth", prefix="198.19.72.0/24")
proc = None
try:
    argv = ["ip", "netns", "exec", net.stack_ns, "env", f"PYTHONPATH={ROOT}", sys.executable,
            "-m", "apps.http_echo", "--loop", "fastnet", "--port", "8080", "--backend",
            "af_xdp", "--iface", net.stack_if, "--ip", net.stack_cidr, *sys.argv[1:]]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    t0 = time.monotonic()
    for line in proc.stdout:
        if "listening" in line:
            break
        if time.monotonic() - t0 > 60:
            raise SystemExit("no listening line")
    url = f"http://{net.stack_ip}:8080"
    r = net.run_peer(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} ",
                      *(f"{url}/n{i}" for i in range(20))], check=False, timeout=60)
    print("curl:", r.stdout.strip()[:80], r.stderr.strip()[:200])
    # packets the kernel received by busy polling, in this namespace (TcpExt counter)
    ns = netns.run(net.stack_ns, ["cat", "/proc/net/netstat"], check=False).stdout.split("\n")
    for a, b in zip(ns[::2], ns[1::2]):
        if a.startswith("TcpExt:"):
            kv = dict(zip(a.split()[1:], b.split()[1:]))
            print("BusyPollRxPackets:", kv.get("BusyPollRxPackets"))
    time.sleep(0.5)
    # the NAPI kthread(s) of the stack end (threaded NAPI: napi/<dev>-<id>)
    thr = [int(p) for p in subprocess.run(["pgrep", "-f", f"napi/{net.stack_if}-"],
                                          capture_output=True, text=True).stdout.split()]
    c0, k0 = cpu(proc.pid), sum(cpu(p) for p in thr)
    time.sleep(3.0)
    c1, k1 = cpu(proc.pid), sum(cpu(p) for p in thr)
    print(f"idle 3 s: server {100 * (c1 - c0) / 3:.1f} % CPU, NAPI kthreads {thr} "
          f"{100 * (k1 - k0) / 3:.1f} %")
finally:
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    netns.run(net.stack_ns, ["ip", "link", "set", "dev", net.stack_if, "xdp", "off"],
              check=False)
    net.destroy()
