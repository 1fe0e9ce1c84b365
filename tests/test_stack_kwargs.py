"""fastnet.Stack built from `fastnet up`-style keyword arguments or a config file.

The flags go through fastnet.config (the same validation as `fastnet up`), so a bad value is
a ConfigError naming the key and nothing is opened.  Opening a stack needs a backend: the
tap backend creates its own TAP device, which needs root (skips otherwise).
"""
import os
import socket

import pytest

fastnet = pytest.importorskip("fastnet")
core = pytest.importorskip("fastnet._core")
from fastnet.config import ConfigError  # noqa: E402

TAP = "fnpytap0"
needs_root = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/dev/net/tun"),
                                reason="the tap backend needs root and /dev/net/tun")


def sndbuf(st):
    with st.socket() as s:
        return s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)


@needs_root
def test_flags_are_the_fastnet_up_flags():
    with fastnet.Stack(backend="tap", iface=TAP, ip="198.18.7.1/25", tcp_sndbuf=8192,
                       tcp_congestion="newreno", buffers_count=256) as st:
        assert (st.ip, st.prefix_len, st.backend_name, st.iface) == \
            ("198.18.7.1", 25, "tap", TAP)
        assert sndbuf(st) == 8192
        assert st.poll() >= 0
        assert st.stats()["pool.size"] == 256


@needs_root
def test_config_file_with_flags_overriding_it(tmp_path):
    cfg = tmp_path / "fastnet.toml"
    cfg.write_text(f'[port]\niface = "{TAP}"\nbackend = "tap"\nip = "198.18.7.1/24"\n'
                   "[tcp]\nsndbuf = 4096\n")
    with fastnet.Stack(cfg) as st:
        assert st.ip == "198.18.7.1" and sndbuf(st) == 4096
    with fastnet.Stack(str(cfg), ip="198.18.7.9/24", tcp_sndbuf=16384) as st:
        assert st.ip == "198.18.7.9" and sndbuf(st) == 16384


def test_bad_flags_fail_before_anything_opens(tmp_path):
    with pytest.raises(ConfigError, match="^tcp.sndbuf: "):
        fastnet.Stack(backend="tap", iface=TAP, ip="198.18.7.1/24", tcp_sndbuf=10)
    with pytest.raises(ConfigError, match="^port.ip: "):
        fastnet.Stack(backend="tap", iface=TAP, ip="198.18.7.0/24")
    with pytest.raises(ConfigError, match="^port.iface: required"):
        fastnet.Stack(ip="198.18.7.1/24")
    with pytest.raises(ConfigError, match="cannot read"):
        fastnet.Stack(tmp_path / "missing.toml")
    with pytest.raises(TypeError, match="tcp_bogus"):
        fastnet.Stack(backend="tap", iface=TAP, ip="198.18.7.1/24", tcp_bogus=1)


def test_public_names():
    assert fastnet.Socket is core.Socket and fastnet.Epoll is core.Epoll
    assert fastnet.Stack is core.Stack
