"""af_xdp's adaptive receive moderation (port.rx_moderation, on by default) against the Linux
kernel over veth.

One test network (fastnet.testnet veth, 198.19.73.0/24, namespaces rm*) for the module.
Before every start the stack end's napi_defer_hard_irqs / gro_flush_timeout are set to values
that are not the kernel's defaults (1 / 12345 ns), so that "untouched" and "restored" are
told apart from a reset to 0.  Covered:
- `fastnet up` with the defaults: idle and under slow pings the device is untouched; a
  bounded ping flood from the peer (far above 4 frames per 200 µs hold) turns the deferral
  on (2 / 200000 seen on the device while it runs, backend.rx_moderated 1); slow pings after
  it turn it off again (the device holds 1 / 12345, backend.rx_moderated 0, two switches);
  every flood echo is answered; after SIGTERM the device is as found and the XDP program gone;
- `--rx-moderation off`: the same flood leaves the device untouched, no switch;
- a process that entered the namespace without remounting /sys (sysfs shows another
  namespace's devices): auto opens without moderation and says so, adaptive is refused
  with ENODEV naming /sys/class/net; nothing is written either way;
- misuse: adaptive on af_packet (ValueError from Stack and from the config), an unknown
  value.
Everything is torn down when a test fails; only processes started here are stopped, by PID.
"""
import errno
import re
import subprocess
import sys
import time

import pytest

from helpers.netns_ctx import in_netns
from test_napi_poll import (BEFORE, ROOT, knobs, link_has_xdp, needs_root, read_stats,
                            set_knobs, xdp_testnet)

PREFIX = "198.19.73.0/24"
OURS = {"napi_defer_hard_irqs": 2, "gro_flush_timeout": 200_000}
FLOOD = 40_000          # echo requests, at most 10 s


@pytest.fixture(scope="module")
def tn():
    yield from xdp_testnet("rm", PREFIX)


def _up(tn, tmp_path, *flags):
    stats = tmp_path / "stats.json"
    proc = subprocess.Popen([sys.executable, "-m", "fastnet", "up", "--netns", tn.stack_ns,
                             "--iface", tn.stack_if, "--backend", "af_xdp",
                             "--ip", tn.stack_cidr, "--stats-file", str(stats),
                             "--stats-interval", "0.05", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline()
    if "fastnet: up" not in line:
        proc.kill()
        pytest.fail(line + proc.communicate(timeout=20)[1])
    return proc, stats


def _down(proc):
    if proc.poll() is None:
        proc.terminate()
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return err


def _slow_pings(tn, count=10):
    r = tn.run_peer(["ping", "-c", str(count), "-i", "0.05", "-W", "2", "-q", tn.stack_ip],
                    check=False, timeout=60)
    assert f"{count} packets transmitted, {count} received" in r.stdout, r.stdout + r.stderr


def _flood(tn):
    """A bounded ping flood from the peer; the device's values seen while it ran, and ping's
    summary."""
    ping = subprocess.Popen(["ip", "netns", "exec", tn.peer_ns, "ping", "-f", "-l", "16",
                             "-c", str(FLOOD), "-w", "10", "-q", tn.stack_ip],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        while ping.poll() is None:
            seen.append(knobs(tn))
            time.sleep(0.01)
        out, err = ping.communicate(timeout=20)
    finally:
        if ping.poll() is None:
            ping.kill()
            ping.wait()
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m, out + err
    return seen, int(m.group(1)), int(m.group(2))


@needs_root
def test_flood_turns_the_deferral_on_and_slow_traffic_off(tn, tmp_path):
    set_knobs(tn, BEFORE)
    proc, stats = _up(tn, tmp_path)
    try:
        assert link_has_xdp(tn)
        _slow_pings(tn)
        s0 = read_stats(stats, stats.stat().st_mtime_ns)
        assert knobs(tn) == BEFORE and s0["backend.rx_moderated"] == 0, s0
        assert s0["backend.rx_moderation_switches"] == 0, s0

        seen, sent, got = _flood(tn)
        # Every echo request the flood sent came back (ping -f's last few may be in flight
        # at its deadline).
        assert sent >= 1000 and got >= sent - 16, (sent, got)
        assert OURS in seen, seen
        s1 = read_stats(stats, stats.stat().st_mtime_ns)
        assert s1["backend.rx_moderation_switches"] >= 1, s1

        _slow_pings(tn, 20)          # 1 s at 20 frames/s: windows far below 2 per hold
        s2 = read_stats(stats, stats.stat().st_mtime_ns)
        assert s2["backend.rx_moderated"] == 0, s2
        assert s2["backend.rx_moderation_switches"] == s1["backend.rx_moderation_switches"] + (
            1 if s1["backend.rx_moderated"] else 0), (s1, s2)
        assert s2["backend.rx_moderation_switches"] >= 2, s2
        assert knobs(tn) == BEFORE
    finally:
        err = _down(proc)
    assert "adaptive rx moderation" in err, err
    assert knobs(tn) == BEFORE
    assert not link_has_xdp(tn)


@needs_root
def test_rx_moderation_off_leaves_the_device_alone(tn, tmp_path):
    set_knobs(tn, BEFORE)
    proc, stats = _up(tn, tmp_path, "--rx-moderation", "off")
    try:
        seen, sent, got = _flood(tn)
        assert sent >= 1000 and got >= sent - 16, (sent, got)
        assert seen and all(k == BEFORE for k in seen), seen
        s = read_stats(stats, stats.stat().st_mtime_ns)
        assert s["backend.rx_moderation_switches"] == 0 and s["backend.rx_moderated"] == 0, s
    finally:
        err = _down(proc)
    assert "adaptive rx moderation" not in err, err
    assert knobs(tn) == BEFORE
    assert not link_has_xdp(tn)


@needs_root
def test_foreign_sysfs_auto_goes_without_adaptive_is_refused(tn, capfd):
    """in_netns switches the network namespace only: /sys/class/net still shows the test
    process's own namespace, so the interface's values there are not ours to change."""
    from fastnet import _core

    set_knobs(tn, BEFORE)
    _core.set_log_level("info")
    try:
        with in_netns(tn.stack_ns):
            st = _core.Stack(backend="af_xdp", iface=tn.stack_if, ip=tn.stack_ip,
                             prefix_len=24)
            st.close()
            with pytest.raises(OSError) as ei:
                _core.Stack(backend="af_xdp", iface=tn.stack_if, ip=tn.stack_ip,
                            prefix_len=24, rx_moderation="adaptive")
    finally:
        _core.set_log_level("warning")
    assert ei.value.errno == errno.ENODEV and "/sys/class/net" in str(ei.value)
    err = capfd.readouterr().err
    assert "no adaptive receive moderation" in err, err
    assert knobs(tn) == BEFORE
    assert not link_has_xdp(tn)


def test_misuse_is_refused():
    from fastnet import _core as core
    from fastnet import config as fconfig
    with pytest.raises(ValueError, match="rx_moderation adaptive needs the af_xdp backend"):
        core.Stack(backend="af_packet", iface="lo", ip="198.19.73.1",
                   rx_moderation="adaptive")
    with pytest.raises(fconfig.ConfigError, match="port.rx_moderation: adaptive needs"):
        core.Stack(backend="tap", iface="rm0", ip="198.19.73.1/24", rx_moderation="adaptive")
    with pytest.raises(ValueError, match="rx_moderation must be one of auto, off, adaptive"):
        core.Stack(backend="af_xdp", iface="lo", ip="198.19.73.1", rx_moderation="on")
    with pytest.raises(fconfig.ConfigError, match="rx_moderation"):
        fconfig.load(None, {"port.rx_moderation": "sometimes"}, require=())
