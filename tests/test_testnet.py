"""fastnet.testnet and the commands around it: `fastnet testnet up|down`, `fastnet up` in a
test network, `fastnet demo`.

Each test builds its own network with a name unique to this process (fnc<pid>...), checks
what the module promises (namespaces, interfaces, addresses, IPv6 off, offloads off), and
removes it in a finally, so a failing assertion leaves nothing behind.  Addresses are from
198.18.0.0/15 only.  The tests that run the stack need fastnet._core and skip without it.
"""

import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastnet import netns, testnet

ROOT = Path(__file__).resolve().parents[1]
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def uname(suffix=""):
    return f"fnc{os.getpid() % 10000}{suffix}"


def ip_json(ns, *args):
    r = subprocess.run(["ip", "-n", ns, "-j", *args], capture_output=True, text=True,
                       check=True, timeout=30)
    return json.loads(r.stdout or "[]")


def link(ns, dev, details=False):
    args = ["-d", "link", "show", "dev", dev] if details else ["link", "show", "dev", dev]
    return ip_json(ns, *args)[0]


def ipv4_addrs(ns, dev):
    return [f"{a['local']}/{a['prefixlen']}" for i in ip_json(ns, "addr", "show", "dev", dev)
            for a in i.get("addr_info", []) if a.get("family") == "inet"]


def sysctl(ns, key):
    return netns.run(ns, ["sysctl", "-n", key]).stdout.strip()


def features(ns, dev):
    out = netns.run(ns, ["ethtool", "-k", dev]).stdout
    return dict(re.findall(r"^([a-z0-9-]+): (on|off)", out, re.M))


def assert_gone(tn):
    assert not netns.exists(tn.stack_ns)
    assert not netns.exists(tn.peer_ns)
    assert tn.stack_ns not in netns.list_names() and tn.peer_ns not in netns.list_names()
    for dev in (tn.stack_if, tn.peer_if, f"{tn.name}br", f"{tn.name}b0"):
        r = subprocess.run(["ip", "link", "show", "dev", dev], capture_output=True)
        assert r.returncode != 0, f"{dev} left in the root namespace"


def fastnet(*args, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "fastnet", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


def require_core():
    try:
        from fastnet import _core  # noqa: F401
    except ImportError as e:
        pytest.fail(f"fastnet._core not built (scripts/install-deps.sh builds it): {e}")


# --- argument checks (no root needed) ----------------------------------------------------


@pytest.mark.parametrize("prefix", ["10.0.0.0/24", "192.168.1.0/24", "198.20.0.0/24",
                                    "198.16.0.0/14", "0.0.0.0/0"])
def test_prefix_outside_benchmark_range_rejected(prefix):
    with pytest.raises(ValueError, match="198.18.0.0/15"):
        testnet.create(uname("x"), prefix=prefix)


@pytest.mark.parametrize("prefix", ["198.18.0.5/24", "198.18.0.0/31", "198.18.0.0/32",
                                    "nonsense", "198.18.0.0/33"])
def test_bad_prefix_rejected(prefix):
    with pytest.raises(ValueError):
        testnet.create(uname("x"), prefix=prefix)


@pytest.mark.parametrize("name", ["", "abcdefghijklmn", "a/b", "-fn", "fn x", "fn.0"])
def test_bad_name_rejected(name):
    with pytest.raises(ValueError):
        testnet.create(name)


def test_bad_kind_rejected():
    with pytest.raises(ValueError):
        testnet.create(uname("x"), kind="macvlan")


def test_names_and_addresses():
    tn = testnet.TestNet(uname(), kind="veth", prefix="198.19.4.0/22")
    assert (tn.stack_ns, tn.peer_ns) == (f"{tn.name}-stack", f"{tn.name}-peer")
    assert (tn.stack_if, tn.peer_if) == (f"{tn.name}0", f"{tn.name}1")
    assert (tn.stack_ip, tn.peer_ip, tn.prefix_len) == ("198.19.4.1", "198.19.4.2", 22)
    assert tn.stack_cidr == "198.19.4.1/22"
    assert tn.up_args() == ["--netns", tn.stack_ns, "--iface", tn.stack_if, "--backend",
                            "af_packet", "--ip", "198.19.4.1/22"]
    assert testnet.TestNet("a" * 13).stack_if == "a" * 13 + "0"


# --- building and removing ---------------------------------------------------------------


@root_only
def test_veth_testnet():
    tn = testnet.create(uname("v"), kind="veth", prefix="198.18.200.0/24")
    try:
        assert netns.exists(tn.stack_ns) and netns.exists(tn.peer_ns)
        s = link(tn.stack_ns, tn.stack_if, details=True)
        p = link(tn.peer_ns, tn.peer_if, details=True)
        assert s["linkinfo"]["info_kind"] == "veth" and p["linkinfo"]["info_kind"] == "veth"
        assert s["operstate"] == "UP" and p["operstate"] == "UP"
        assert link(tn.stack_ns, "lo")["flags"].count("UP") and \
            link(tn.peer_ns, "lo")["flags"].count("UP")
        assert ipv4_addrs(tn.stack_ns, tn.stack_if) == []  # the stack owns .1, not the kernel
        assert ipv4_addrs(tn.peer_ns, tn.peer_if) == ["198.18.200.2/24"]
        for ns, dev in ((tn.stack_ns, tn.stack_if), (tn.peer_ns, tn.peer_if)):
            assert sysctl(ns, f"net.ipv6.conf.{dev}.disable_ipv6") == "1"
            addrs = ip_json(ns, "addr", "show", "dev", dev)[0].get("addr_info", [])
            assert not [a for a in addrs if a["family"] == "inet6"]
        fp = features(tn.peer_ns, tn.peer_if)
        assert fp["tx-checksumming"] == "off"
        assert fp["tcp-segmentation-offload"] == "off"
        assert fp["generic-segmentation-offload"] == "off"
        assert features(tn.stack_ns, tn.stack_if)["generic-receive-offload"] == "off"
        # the two ends are joined: the peer's ARP request for .1 leaves on the stack's veth
        assert tn.run_peer(["ping", "-c", "1", "-W", "1", tn.stack_ip], check=False) \
            .returncode != 0
        assert link(tn.stack_ns, tn.stack_if)["link_netnsid"] is not None
        with pytest.raises(FileExistsError):
            testnet.create(tn.name)
    finally:
        tn.destroy()
    assert_gone(tn)
    tn.destroy()  # idempotent


@root_only
def test_tap_testnet():
    tn = testnet.create(uname("t"), kind="tap", prefix="198.19.9.0/24")
    try:
        tap = link(tn.stack_ns, tn.stack_if, details=True)
        info = tap["linkinfo"]["info_data"]
        assert tap["linkinfo"]["info_kind"] == "tun"
        assert info["type"] == "tap" and info["multi_queue"] and info["persist"]
        assert tap["master"] == tn.bridge == f"{tn.name}br"
        br = link(tn.stack_ns, tn.bridge, details=True)
        assert br["linkinfo"]["info_kind"] == "bridge" and "UP" in br["flags"]
        b0 = link(tn.stack_ns, tn.bridge_veth, details=True)
        assert tn.bridge_veth == f"{tn.name}b0"
        assert b0["linkinfo"]["info_kind"] == "veth" and b0["master"] == tn.bridge
        assert b0["operstate"] == "UP"
        p = link(tn.peer_ns, tn.peer_if)
        assert p["operstate"] == "UP"
        assert ipv4_addrs(tn.peer_ns, tn.peer_if) == ["198.19.9.2/24"]
        for dev in (tn.stack_if, tn.bridge, tn.bridge_veth):
            assert ipv4_addrs(tn.stack_ns, dev) == []
            assert sysctl(tn.stack_ns, f"net.ipv6.conf.{dev}.disable_ipv6") == "1"
        assert sysctl(tn.peer_ns, f"net.ipv6.conf.{tn.peer_if}.disable_ipv6") == "1"
        for ns, dev in ((tn.stack_ns, tn.bridge_veth), (tn.peer_ns, tn.peer_if)):
            f = features(ns, dev)
            for feat in ("tx-checksumming", "tcp-segmentation-offload",
                         "generic-segmentation-offload", "generic-receive-offload"):
                assert f[feat] == "off", (dev, feat)
        assert tn.backend == "tap"
    finally:
        tn.destroy()
    assert_gone(tn)


@root_only
def test_destroy_on_failure_inside_with():
    name = uname("w")
    with pytest.raises(RuntimeError):
        with testnet.create(name) as tn:
            assert netns.exists(tn.stack_ns)
            raise RuntimeError("test body failed")
    assert_gone(tn)


@root_only
def test_failed_build_cleans_up(monkeypatch):
    def broken(ns, dev, *features):
        raise OSError(f"{ns}: ethtool -K {dev}: simulated failure")

    monkeypatch.setattr(testnet, "_ethtool", broken)
    name = uname("f")
    with pytest.raises(OSError, match="simulated failure"):
        testnet.create(name)
    assert_gone(testnet.TestNet(name))


@root_only
def test_destroy_detaches_and_tolerates_missing_pieces():
    tn = testnet.create(uname("d"))
    try:
        # Remove pieces by hand; destroy() must still finish without raising.
        subprocess.run(["ip", "-n", tn.stack_ns, "link", "del", tn.stack_if], check=True)
        netns.delete(tn.peer_ns)
    finally:
        tn.destroy()
    assert_gone(tn)
    assert testnet.destroy(tn.name) is False


@root_only
def test_existing_detects_kind_and_prefix():
    tn = testnet.create(uname("e"), kind="tap", prefix="198.18.33.0/28")
    try:
        again = testnet.existing(tn.name)
        assert again.kind == "tap"
        assert again.prefix == ipaddress.IPv4Network("198.18.33.0/28")
    finally:
        assert testnet.destroy(tn.name) is True
    assert_gone(tn)


@root_only
def test_cli_testnet_up_down():
    name = uname("c")
    try:
        r = fastnet("testnet", "up", "--name", name, "--prefix", "198.18.77.0/24")
        assert r.returncode == 0, r.stderr
        assert f"fastnet up --netns {name}-stack --iface {name}0 --backend af_packet " \
               f"--ip 198.18.77.1/24" in r.stdout
        assert netns.exists(f"{name}-stack") and netns.exists(f"{name}-peer")
        r = fastnet("testnet", "up", "--name", name)
        assert r.returncode == 1 and "exists" in r.stderr
    finally:
        r = fastnet("testnet", "down", "--name", name)
    assert r.returncode == 0, r.stderr
    assert_gone(testnet.TestNet(name))
    r = fastnet("testnet", "down", "--name", name)
    assert r.returncode == 1 and "no testnet" in r.stderr
    r = fastnet("testnet", "up", "--name", name, "--prefix", "10.1.0.0/24")
    assert r.returncode == 2 and "198.18.0.0/15" in r.stderr


# --- the stack in a test network (needs the extension) -----------------------------------


def _start(tn, backend, stats_file, *extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "fastnet", "up", *tn.up_args(backend),
                             "--stats-file", str(stats_file), "--stats-interval", "0.2",
                             *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=env)
    line = proc.stdout.readline()
    if not line.startswith("fastnet: up "):
        proc.kill()
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"fastnet up did not start: {line}{out}{err}")
    return proc, line


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        pytest.fail("fastnet up did not stop on SIGTERM")
    return proc.returncode, out, err


@root_only
@pytest.mark.parametrize("backend", ["af_packet", "tap", "af_xdp"])
def test_fastnet_up_answers_ping_and_stops_on_sigterm(tmp_path, backend):
    require_core()
    kind = "tap" if backend == "tap" else "veth"
    tn = testnet.create(uname("u" + backend[-1]), kind=kind, prefix="198.18.66.0/24")
    proc = None
    stats_file = tmp_path / "stats.json"
    try:
        proc, line = _start(tn, backend, stats_file)
        assert re.match(rf"fastnet: up iface={tn.stack_if} backend=\S*{backend}\S* "
                        r"mac=([0-9a-f]{2}:){5}[0-9a-f]{2} ip=198.18.66.1/24 mtu=1500$",
                        line.strip()), line
        r = tn.run_peer(["ping", "-c", "5", "-i", "0.05", "-W", "1", tn.stack_ip],
                        check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert " 0% packet loss" in r.stdout
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            data = json.loads(stats_file.read_text())
            if data["stats"].get("icmp_echo_replied", 0) >= 5:
                break
            time.sleep(0.1)
        assert data["running"] is True and data["pid"] == proc.pid
        assert data["stats"]["icmp_echo_replied"] >= 5
        r = fastnet("stat", "--stats-file", str(stats_file))
        assert r.returncode == 0
        assert re.search(r"^\s+icmp_echo_replied\s+\d+\s+\S", r.stdout, re.M), r.stdout
        rc, out, err = _stop(proc)
        proc = None
        assert rc == 0, out + err
        assert "icmp_echo_replied" in out
        final = json.loads(stats_file.read_text())
        assert final["running"] is False
        # close() detached the XDP program
        assert "xdp" not in link(tn.stack_ns, tn.stack_if)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(10)
        tn.destroy()
    assert_gone(tn)


@root_only
def test_demo_af_packet():
    require_core()
    name = uname("m")
    r = fastnet("demo", "--ping", "--backend", "af_packet", "--name", name, timeout=180)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "200 packets transmitted, 200 received" in r.stdout
        assert "5 packets transmitted, 5 received" in r.stdout
        assert re.search(r"^\s+icmp_echo_replied\s+\d+", r.stdout, re.M)
        assert "frag_reassembled" in r.stdout
        assert "demo passed" in r.stdout
    finally:
        testnet.destroy(name)
    assert_gone(testnet.TestNet(name))


@root_only
def test_demo_falls_back_from_af_xdp(monkeypatch, tmp_path, capsys):
    """When af_xdp cannot start, the ping demo says why and carries on with af_packet."""
    require_core()
    from fastnet import cli

    bad_obj = tmp_path / "not-bpf.o"
    bad_obj.write_bytes(b"this is not an ELF object")
    real = cli._start_stack

    def start(tn, backend, stats_file, extra):
        if backend == "af_xdp":
            extra = [*extra, "--xdp-obj", str(bad_obj)]
        return real(tn, backend, stats_file, extra)

    monkeypatch.setattr(cli, "_start_stack", start)
    name = uname("b")
    try:
        rc = cli.main(["demo", "--ping", "--name", name])
    finally:
        testnet.destroy(name)
    out = capsys.readouterr().out
    assert re.search(r"^fastnet: af_xdp unavailable \(.+\); falling back to af_packet$",
                     out, re.M), out
    assert "backend=af_packet" in out
    assert rc == 0, out
    assert_gone(testnet.TestNet(name))
