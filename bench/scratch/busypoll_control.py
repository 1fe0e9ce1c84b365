#!/usr/bin/env python3
"""SCRATCH (irq-suspension exploration, 2026-12-02): positive control for the tracing method.
A kernel UDP socket with SO_BUSY_POLL in the stack namespace of a testnet whose stack end has
veth's NAPI on (GRO on, no XDP) and the stack address given to the kernel: does it get a NAPI
id, and does busy polling show in BusyPollRxPackets?  Argument "defer": the device values
of --napi-poll (2 / 200 us) and SO_PREFER_BUSY_POLL on the socket.  Own testnet (isc*), torn down."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from fastnet import netns, testnet  # noqa: E402

SERVER = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 46, 50)      # SO_BUSY_POLL 50 us
if len(sys.argv) > 2:
    s.setsockopt(socket.SOL_SOCKET, 69, 1)   # SO_PREFER_BUSY_POLL
    s.setsockopt(socket.SOL_SOCKET, 70, 64)  # SO_BUSY_POLL_BUDGET
s.bind((sys.argv[1], 9999))
s.settimeout(10)
n = 0
while n < 200:
    d, a = s.recvfrom(2048)
    s.sendto(d, a)
    n += 1
print("SO_INCOMING_NAPI_ID", struct.unpack("I", s.getsockopt(socket.SOL_SOCKET, 56, 4))[0])
"""
CLIENT = r"""
import socket, sys, time
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(5)
for i in range(200):
    c.sendto(b"x" * 64, (sys.argv[1], 9999))
    c.recvfrom(2048)
print("client done")
"""


def busy_rx(net):
    lines = netns.run(net.stack_ns, ["cat", "/proc/net/netstat"]).stdout.split("\n")
    for a, b in zip(lines[::2], lines[1::2]):
        if a.startswith("TcpExt:"):
            return int(dict(zip(a.split()[1:], b.split()[1:]))["BusyPollRxPackets"])


net = testnet.create(name=f"isc{os.getpid() % 100}", kind="veth", prefix="198.19.72.0/24")
try:
    netns.run(net.stack_ns, ["ip", "addr", "add", net.stack_cidr, "dev", net.stack_if])
    netns.run(net.stack_ns, ["ethtool", "-K", net.stack_if, "gro", "on"])
    if len(sys.argv) > 1:   # "defer": --napi-poll's device values and prefer busy poll
        netns.run(net.stack_ns, ["sh", "-c", f"echo 2 > /sys/class/net/{net.stack_if}/"
                                 f"napi_defer_hard_irqs; echo 200000 > /sys/class/net/"
                                 f"{net.stack_if}/gro_flush_timeout"])
    b0 = busy_rx(net)
    srv = subprocess.Popen(["ip", "netns", "exec", net.stack_ns, sys.executable, "-c", SERVER,
                            net.stack_ip, *sys.argv[1:]], stdout=subprocess.PIPE, text=True)
    import time
    time.sleep(0.5)
    r = net.run_peer([sys.executable, "-c", CLIENT, net.stack_ip], check=False, timeout=60)
    out, _ = srv.communicate(timeout=30)
    print(r.stdout.strip(), r.stderr.strip()[-200:])
    print(out.strip())
    print("BusyPollRxPackets delta:", busy_rx(net) - b0)
    print(netns.run(net.stack_ns, [sys.executable, str(ROOT / "bench/scratch/netdev_napi.py"),
                                   "get"]).stdout.strip())
finally:
    net.destroy()
