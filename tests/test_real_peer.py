"""The stack against the Linux kernel as its peer, on every backend (issue 2 acceptance).

For each of af_xdp, af_packet and tap: a test network of two namespaces is created
(fastnet.testnet), `fastnet up` runs the stack in one, and the kernel in the other pings it,
learns its MAC by ARP, exchanges fragmented datagrams with it, and throws malformed frames
(scapy) at it.  Everything is torn down even when a test fails.  Addresses: 198.18.0.0/15.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastnet import testnet

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "tests" / "helpers"
BACKENDS = ["af_xdp", "af_packet", "tap"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: creates network namespaces")


def ns_run(ns, *cmd, timeout=60, check=False):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          timeout=timeout, check=check)


class RunningStack:
    """`fastnet up` as a subprocess in the stack namespace of a test network."""

    def __init__(self, net, backend, stats_file):
        self.net = net
        self.backend = backend
        self.stats_file = stats_file
        cmd = [sys.executable, "-m", "fastnet", "up", "--netns", net.stack_ns,
               "--iface", net.stack_if, "--backend", backend,
               "--ip", f"{net.stack_ip}/{net.prefix_len}", "--stats-file", str(stats_file)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        line = self.proc.stdout.readline()
        if "fastnet: up" not in line:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=10)
            raise RuntimeError(f"fastnet up did not start: {line}{out}{err}")
        self.up_line = line
        self.mac = re.search(r"mac=([0-9a-f:]{17})", line).group(1)

    def stats(self, settle=1.5):
        """Counters from the stats file, after waiting for a refresh."""
        before = self.stats_file.stat().st_mtime_ns if self.stats_file.exists() else 0
        end = time.monotonic() + settle + 3
        while time.monotonic() < end:
            if self.stats_file.exists() and self.stats_file.stat().st_mtime_ns != before:
                break
            time.sleep(0.1)
        data = json.loads(self.stats_file.read_text())
        return data.get("stats", data)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        out, err = self.proc.communicate(timeout=5)
        return self.proc.returncode, out, err


def _net_name(backend):
    return f"fr{os.getpid() % 1000}{backend[-1]}"


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request, tmp_path_factory):
    backend = request.param
    kind = "tap" if backend == "tap" else "veth"
    net = testnet.create(name=_net_name(backend), kind=kind, prefix="198.18.7.0/24")
    running = None
    try:
        running = RunningStack(net, backend,
                               tmp_path_factory.mktemp(backend) / "stats.json")
        yield running
        rc, out, err = running.stop()
        running = None
        assert rc == 0, f"fastnet up exited {rc}: {out}{err}"
    finally:
        if running is not None:
            running.stop()
        net.destroy()


def _ping(net, *args, timeout=90):
    r = ns_run(net.peer_ns, "ping", *args, net.stack_ip, timeout=timeout)
    return r.stdout + r.stderr


def test_ping_200_fast(stack):
    out = _ping(stack.net, "-c", "200", "-i", "0.005", "-W", "2", "-q")
    assert re.search(r"200 packets transmitted, 200 received", out), out


def test_fragmented_ping_both_ways(stack):
    before = stack.stats()
    out = _ping(stack.net, "-c", "5", "-i", "0.2", "-s", "4000", "-W", "2")
    assert re.search(r"5 packets transmitted, 5 received", out), out
    # ping checks the echoed payload byte by byte and reports "wrong data byte" otherwise.
    assert "wrong data" not in out and "corrupted" not in out, out
    after = stack.stats()
    assert after["frag_reassembled"] - before["frag_reassembled"] >= 5
    assert after["frag_tx"] - before["frag_tx"] >= 15      # 4008 bytes: 3 fragments a reply


def test_peer_learns_stack_mac_by_arp(stack):
    _ping(stack.net, "-c", "1", "-W", "2")
    r = ns_run(stack.net.peer_ns, "ip", "neigh", "show", stack.net.stack_ip, check=True)
    assert stack.mac in r.stdout, r.stdout
    assert stack.stats()["arp_requests_answered"] >= 1


def test_malformed_frames_dropped_and_counted(stack):
    net = stack.net
    _ping(net, "-c", "1", "-W", "2")
    peer_mac = _peer_mac(net)
    before = stack.stats()
    r = ns_run(net.peer_ns, sys.executable, str(HELPERS / "send_malformed.py"),
               "--iface", net.peer_if, "--src-mac", peer_mac, "--dst-mac", stack.mac,
               "--src-ip", net.peer_ip, "--dst-ip", net.stack_ip, timeout=120)
    assert r.returncode == 0, r.stderr
    sent = json.loads(r.stdout.strip().splitlines()[-1])
    after = stack.stats()
    grew = {k: after[k] - before[k] for k in after if isinstance(after[k], int)
            and k in before}
    assert stack.alive()
    print({k: v for k, v in grew.items() if v})
    # Truncated frames: the IP header or total length runs past the bytes received.
    assert grew["drop_ip_truncated"] + grew["drop_ip_bad_ihl"] >= sent["truncated"] - 6
    assert grew["drop_ip_bad_ihl"] >= sent["bad_ihl"]
    assert grew["drop_ip_truncated"] >= sent["bad_total_length"]
    assert grew["drop_ip_bad_csum"] >= sent["bad_ip_checksum"]
    assert grew["drop_ip_bad_version"] >= sent["bad_version"]
    assert grew["drop_frag_overlap"] >= 1
    assert grew["drop_frag_malformed"] + grew["drop_frag_too_big"] >= 1
    assert grew["drop_arp_malformed"] >= sent["bad_arp"]
    assert grew["icmp_echo_replied"] == 0            # none of it was a valid echo
    out = _ping(net, "-c", "20", "-i", "0.01", "-W", "2", "-q")
    assert re.search(r"20 packets transmitted, 20 received", out), out


def _peer_mac(net):
    r = ns_run(net.peer_ns, "cat", f"/sys/class/net/{net.peer_if}/address", check=True)
    return r.stdout.strip()


def _probe(net, backend, *args):
    """Run tests/helpers/stack_probe.py in the stack namespace; its JSON result."""
    r = ns_run(net.stack_ns, sys.executable, str(HELPERS / "stack_probe.py"),
               "--backend", backend, "--iface", net.stack_if, "--ip", net.stack_ip,
               "--prefix-len", str(net.prefix_len), "--peer", net.peer_ip, *args, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_stack_resolves_peer_and_pings_it(backend):
    """The stack sends its own ARP request for the peer, learns the right MAC, and its own
    echo requests (1400 and 3000 bytes: fragmented) are answered by the kernel."""
    kind = "tap" if backend == "tap" else "veth"
    with testnet.create(name=f"fp{os.getpid() % 1000}{backend[-1]}", kind=kind,
                        prefix="198.18.8.0/24") as net:
        peer_mac = _peer_mac(net)
        for size in (1400, 3000):
            res = _probe(net, backend, "--count", "10", "--size", str(size))
            assert res["peer_mac"] == peer_mac
            assert res["stats"]["arp_replies_learned"] >= 1
            assert res["replies"] == 10, res
            assert res["leaked"] == 0
        # The kernel learned the stack's MAC from the stack's own request.
        r = ns_run(net.peer_ns, "ip", "neigh", "show", net.stack_ip, check=True)
        assert res["mac"] in r.stdout


@pytest.mark.parametrize("backend", ["af_xdp", "af_packet"])
def test_macs_with_zero_bytes_read_back_whole(backend):
    """MACs with zero bytes inside are reported whole by Stack.mac and Stack.arp_lookup (the
    Python conversion once ended them at the first zero byte: a random veth MAC has one in
    about 1 of 40 cases, which made the test above fail now and then)."""
    stack_mac, peer_mac = "02:00:5e:00:00:01", "02:00:00:5e:00:02"
    with testnet.create(name=f"fz{os.getpid() % 1000}{backend[-1]}", kind="veth",
                        prefix="198.19.62.0/24") as net:
        ns_run(net.stack_ns, "ip", "link", "set", "dev", net.stack_if, "address", stack_mac,
               check=True)
        ns_run(net.peer_ns, "ip", "link", "set", "dev", net.peer_if, "address", peer_mac,
               check=True)
        assert _peer_mac(net) == peer_mac
        res = _probe(net, backend, "--count", "3")
        assert res["mac"] == stack_mac
        assert res["peer_mac"] == peer_mac
        assert res["replies"] == 3, res
        r = ns_run(net.peer_ns, "ip", "neigh", "show", net.stack_ip, check=True)
        assert f"lladdr {stack_mac} " in r.stdout, r.stdout
