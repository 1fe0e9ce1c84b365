"""af_xdp's NAPI poll mode (port.napi_poll, --napi-poll) against the Linux kernel over veth.

One test network (fastnet.testnet veth, 198.19.70.0/24, namespaces np*) for the module.
Before every server start the stack end's napi_defer_hard_irqs / gro_flush_timeout are set
to values that are not the kernel's defaults (1 / 12345 ns), so that a restore to 0 is told
apart from a restore to what was there.  Covered:
- `fastnet up --napi-poll --napi-hold-us 300`: the device holds 2 / 300000 while it runs,
  200 quick pings from the kernel peer are all answered, backend.napi_polls moves with the
  traffic where the XDP socket has a NAPI id (the stack drove the NAPI itself) and stays 0
  where it has none (copy mode on Linux >= 6.13, as on veth here: only that branch runs on
  this machine), the idle stack uses almost no CPU over 2 s, and after SIGTERM the values are
  back and the XDP program is gone;
- the asyncio HTTP echo app on the fastnet loop with --napi-poll: curl's keep-alive GETs and
  a POST from the peer are echoed, idle CPU as above, values back after SIGTERM;
- a failed open (bad queue index: the bind fails after the values were written) restores
  them, and its log shows both the write and the restore;
- a value changed by someone else while the stack is open is left as they set it at close;
- without CAP_NET_ADMIN the open fails with EPERM naming the capability, nothing changed;
- a process that entered the namespace without remounting /sys (sysfs shows another
  namespace's devices) is refused with ENODEV instead of writing someone else's interface;
- misuse: napi_poll on af_packet (ValueError naming it; `fastnet up` exits 2 naming
  port.napi_poll), a hold time out of range; the native server's translation of the flags.
Everything is torn down when a test fails; only processes started here are stopped, by PID.
"""
import errno
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastnet import netns, testnet
from helpers.nsproc import NsProc
from helpers.netns_ctx import in_netns

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "198.19.70.0/24"
PORT = 8080
KNOBS = ("napi_defer_hard_irqs", "gro_flush_timeout")
BEFORE = {"napi_defer_hard_irqs": 1, "gro_flush_timeout": 12345}

# Every test that uses the test network carries this mark (the misuse tests need none): it
# creates network namespaces and writes the veth's sysfs, which needs root.  CI runs as root.
needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: creates network namespaces")


def xdp_testnet(name, prefix):
    """A veth test network; on the way out the stack end's XDP program is detached first (a
    killed stack would leave it) and the namespaces go, even when a test failed."""
    net = testnet.create(name=f"{name}{os.getpid() % 1000}", kind="veth", prefix=prefix)
    try:
        yield net
    finally:
        netns.run(net.stack_ns, ["ip", "link", "set", "dev", net.stack_if, "xdp", "off"],
                  check=False)
        net.destroy()


@pytest.fixture(scope="module")
def tn():
    yield from xdp_testnet("np", PREFIX)


def knobs(tn):
    r = tn.run_stack(["cat", *(f"/sys/class/net/{tn.stack_if}/{k}" for k in KNOBS)])
    return dict(zip(KNOBS, (int(v) for v in r.stdout.split())))


def set_knobs(tn, values):
    tn.run_stack(["sh", "-c", "; ".join(f"echo {v} > /sys/class/net/{tn.stack_if}/{k}"
                                        for k, v in values.items())])
    assert knobs(tn) == values


def link_has_xdp(tn):
    r = netns.run(tn.stack_ns, ["ip", "link", "show", "dev", tn.stack_if], check=False)
    return "xdp" in r.stdout


def cpu_seconds(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")     # utime + stime


def idle_cpu(pid, secs=2.0):
    time.sleep(0.5)     # the NAPI's last watchdog polls and the stack's timers settle
    t0 = cpu_seconds(pid)
    time.sleep(secs)
    return cpu_seconds(pid) - t0


def read_stats(path, newer_than=0):
    end = time.monotonic() + 5
    while time.monotonic() < end:
        if path.exists() and path.stat().st_mtime_ns > newer_than:
            break
        time.sleep(0.05)
    data = json.loads(path.read_text())
    return data.get("stats", data)


def probe(tn, code, tmp_path, prefix=()):
    """Run python code in the stack namespace (ip netns exec: /sys remounted) under an
    optional command prefix; returns (its JSON line, stderr)."""
    script = tmp_path / "probe.py"
    script.write_text(code)
    r = subprocess.run(["ip", "netns", "exec", tn.stack_ns, *prefix, sys.executable,
                        str(script)], capture_output=True, text=True, timeout=60, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


OPEN_CODE = """
import json
from fastnet import _core
_core.set_log_level("debug")
try:
    _core.Stack(backend="af_xdp", iface={iface!r}, ip={ip!r}, prefix_len=24,
                napi_poll=True, napi_hold_us=300, {extra})
    print(json.dumps({{"opened": True}}))
except OSError as e:
    print(json.dumps({{"opened": False, "errno": e.errno, "msg": str(e)}}))
"""


# --- the stack with napi_poll on, against the kernel ------------------------------------


@needs_root
def test_fastnet_up_drives_the_napi_and_restores_the_device(tn, tmp_path):
    set_knobs(tn, BEFORE)
    stats_file = tmp_path / "stats.json"
    proc = subprocess.Popen([sys.executable, "-m", "fastnet", "up", "--netns", tn.stack_ns,
                             "--iface", tn.stack_if, "--backend", "af_xdp",
                             "--ip", tn.stack_cidr, "--napi-poll", "--napi-hold-us", "300",
                             "--stats-file", str(stats_file), "--stats-interval", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert "fastnet: up" in line, line + proc.stderr.read()
        assert link_has_xdp(tn)
        assert knobs(tn) == {"napi_defer_hard_irqs": 2, "gro_flush_timeout": 300000}
        s0 = read_stats(stats_file)
        r = tn.run_peer(["ping", "-c", "200", "-i", "0.005", "-W", "2", "-q", tn.stack_ip],
                        check=False, timeout=90)
        assert "200 packets transmitted, 200 received" in r.stdout, r.stdout + r.stderr
        s1 = read_stats(stats_file, stats_file.stat().st_mtime_ns)
        assert s1["backend.rx_packets"] - s0["backend.rx_packets"] >= 200
        polls = s1["backend.napi_polls"] - s0["backend.napi_polls"]
        used = idle_cpu(proc.pid)
        assert used < 0.2, f"{used:.2f} s of CPU in 2 s idle with napi_poll"
        # still answering after the idle spell (the NAPI went back to a wake per frame)
        r = tn.run_peer(["ping", "-c", "3", "-i", "0.2", "-W", "2", "-q", tn.stack_ip],
                        check=False, timeout=30)
        assert "3 received" in r.stdout, r.stdout + r.stderr
    finally:
        if proc.poll() is None:
            proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "NAPI poll" in err, err
    # The open logs whether the XDP socket has a NAPI id.  With one, every receive that found
    # the ring empty ran the NAPI in the stack's own call; without (copy mode, Linux >= 6.13:
    # what veth gives here) no recvfrom is made, since it would run nothing.
    if "the socket has no NAPI id" in err:
        assert polls == 0, (s0, s1)
    else:
        assert "the socket's NAPI runs in our receive calls" in err, err
        assert polls >= 200, (s0, s1)
    assert knobs(tn) == BEFORE
    assert not link_has_xdp(tn)


@needs_root
def test_http_echo_on_the_fastnet_loop_with_napi_poll(tn, tmp_path):
    set_knobs(tn, BEFORE)
    argv = ["env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "apps.http_echo",
            "--loop", "fastnet", "--port", str(PORT), "--backend", "af_xdp",
            "--iface", tn.stack_if, "--ip", tn.stack_cidr, "--napi-poll",
            "--napi-hold-us", "400"]
    srv = NsProc(tn.stack_ns, argv, tmp_path, "server", cwd=str(ROOT))
    try:
        srv.wait_for(f"listening on {tn.stack_ip}:{PORT}", 60)
        assert knobs(tn) == {"napi_defer_hard_irqs": 2, "gro_flush_timeout": 400000}
        url = f"http://{tn.stack_ip}:{PORT}"
        # 20 GETs on one keep-alive connection, then a POST whose body comes back
        r = tn.run_peer(["curl", "-sS", "--max-time", "20",
                         *(f"{url}/n{i}" for i in range(20))], check=False, timeout=60)
        assert r.returncode == 0, r.stderr
        heads = re.findall(r"GET /n(\d+) HTTP/1.1", r.stdout)
        assert heads == [str(i) for i in range(20)], r.stdout[:500]
        body = "x" * 5000
        r = tn.run_peer(["curl", "-sS", "--max-time", "20", "--data-binary", body, url],
                        check=False, timeout=60)
        assert r.returncode == 0 and r.stdout == body, r.stderr
        used = idle_cpu(srv.proc.pid)
        assert used < 0.2, f"{used:.2f} s of CPU in 2 s idle with napi_poll"
        assert srv.stop() == 0, srv.err_text()
    finally:
        srv.stop()
    assert knobs(tn) == BEFORE
    assert not link_has_xdp(tn)


@needs_root
def test_failed_open_restores_the_device(tn, tmp_path):
    set_knobs(tn, BEFORE)
    # veth has one queue: binding queue 9 fails after the device values were written.
    res, err = probe(tn, OPEN_CODE.format(iface=tn.stack_if, ip=tn.stack_ip, extra="queue=9"),
                     tmp_path)
    assert res["opened"] is False and res["errno"] == errno.EINVAL, res
    assert f"{tn.stack_if} gro_flush_timeout 12345 -> 300000" in err, err
    assert f"{tn.stack_if} gro_flush_timeout back to 12345" in err, err
    assert f"{tn.stack_if} napi_defer_hard_irqs back to 1" in err, err
    assert knobs(tn) == BEFORE
    assert not link_has_xdp(tn)


CHANGED_CODE = """
import json
from fastnet import _core
_core.set_log_level("info")
st = _core.Stack(backend="af_xdp", iface={iface!r}, ip={ip!r}, prefix_len=24,
                 napi_poll=True)
with open("/sys/class/net/{iface}/gro_flush_timeout", "w") as f:
    f.write("777\\n")
st.close()
print(json.dumps({{"closed": True}}))
"""


@needs_root
def test_a_value_changed_while_open_is_left_alone(tn, tmp_path):
    """Close writes back only what still holds our value: one changed meanwhile (by an
    administrator, or by another stack on another queue of the device) is not ours to undo."""
    set_knobs(tn, BEFORE)
    res, err = probe(tn, CHANGED_CODE.format(iface=tn.stack_if, ip=tn.stack_ip), tmp_path)
    assert res["closed"] is True
    assert "gro_flush_timeout is 777, not the 200000 we set: left as it is" in err, err
    assert knobs(tn) == {"napi_defer_hard_irqs": 1, "gro_flush_timeout": 777}
    assert not link_has_xdp(tn)


@needs_root
def test_without_cap_net_admin_open_fails_with_eperm(tn, tmp_path):
    set_knobs(tn, BEFORE)
    res, _ = probe(tn, OPEN_CODE.format(iface=tn.stack_if, ip=tn.stack_ip, extra=""),
                   tmp_path, prefix=("setpriv", "--bounding-set=-net_admin",
                                     "--inh-caps=-net_admin"))
    assert res["opened"] is False and res["errno"] == errno.EPERM, res
    assert "CAP_NET_ADMIN" in res["msg"], res
    assert knobs(tn) == BEFORE
    assert not link_has_xdp(tn)


@needs_root
def test_foreign_sysfs_is_refused(tn):
    """in_netns switches the network namespace only: /sys/class/net still shows the test
    process's own namespace, so the stack's interface name there is not ours to write."""
    from fastnet import _core

    set_knobs(tn, BEFORE)
    with in_netns(tn.stack_ns):
        with pytest.raises(OSError) as ei:
            _core.Stack(backend="af_xdp", iface=tn.stack_if, ip=tn.stack_ip, prefix_len=24,
                        napi_poll=True)
    assert ei.value.errno == errno.ENODEV and "/sys/class/net" in str(ei.value)
    assert knobs(tn) == BEFORE
    assert not link_has_xdp(tn)


# --- misuse (no network needed) ----------------------------------------------------------


def test_napi_poll_off_af_xdp_is_refused():
    from fastnet import _core as core     # built by scripts/install-deps.sh: never skipped
    with pytest.raises(ValueError, match="napi_poll needs the af_xdp backend"):
        core.Stack(backend="af_packet", iface="lo", ip="198.19.70.1", napi_poll=True)
    with pytest.raises(ValueError, match="port.napi_poll: needs port.backend af_xdp"):
        core.Stack(backend="tap", iface="np0", ip="198.19.70.1/24", napi_poll=True)
    for bad in (0, 100001, 1.5, True):
        with pytest.raises(ValueError, match="napi_hold_us"):
            core.Stack(backend="af_xdp", iface="lo", ip="198.19.70.1", napi_poll=True,
                       napi_hold_us=bad)
    with pytest.raises(ValueError, match="napi_poll must be True or False"):
        core.Stack(backend="af_xdp", iface="lo", ip="198.19.70.1", napi_poll="yes")


def test_native_server_gets_the_flags():
    from apps.http_echo.native import command

    base = {"iface": "np0", "backend": "af_xdp", "ip": "198.19.70.1/24"}
    argv = command(None, 8080, {}, dict(base, napi_poll=True, napi_hold_us=300))
    assert "--napi-poll" in argv
    assert argv[argv.index("--napi-hold-us") + 1] == "300"
    # The hold time is also adaptive moderation's, so it goes without --napi-poll too.
    plain = command(None, 8080, {}, base)
    assert "--napi-poll" not in plain
    assert argv[argv.index("--napi-hold-us") + 1] == "300"
    assert plain[plain.index("--napi-hold-us") + 1] == "200"
    assert plain[plain.index("--rx-moderation") + 1] == "auto"
    off = command(None, 8080, {}, dict(base, rx_moderation="off"))
    assert off[off.index("--rx-moderation") + 1] == "off"
