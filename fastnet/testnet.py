"""Test networks: two network namespaces joined like a wire, for running fastnet against the
Linux kernel's own stack.

Contract: create() builds, and TestNet.destroy() removes, everything below; nothing outside
the two namespaces it creates is touched.  Addresses come only from 198.18.0.0/15 (RFC 2544
benchmarking space).  create() either returns a complete network or raises after removing
what it had built; destroy() is idempotent and never raises for pieces already gone.

  kind="veth":  {name}-stack: {name}0 (veth, no address, IPv6 off, GRO off)
                    <-> {name}-peer: {name}1 (veth, .2/prefix, IPv6 off, tx/tso/gso off)
  kind="tap":   {name}-stack: {name}0 (persistent multi-queue TAP) and {name}b0 (veth), both
                    in bridge {name}br, no addresses, IPv6 off
                    <-> {name}-peer: {name}1 (veth, .2/prefix)
                Offloads (tx/tso/gso/gro) are off on both veth ends.

fastnet runs in {name}-stack on {name}0 with address .1; the kernel peer is .2.  Offloads
are turned off so that the veth behaves like a wire (see BACKEND-NOTES "veth checksums"):
otherwise the kernel hands over frames with unfinished checksums and larger than the MTU.
The peer is driven with `ip netns exec {name}-peer ...` (TestNet.run_peer).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from typing import Sequence

from . import netns

__all__ = ["TestNet", "create", "destroy", "existing", "ALLOWED", "KINDS"]

ALLOWED = ipaddress.IPv4Network("198.18.0.0/15")
KINDS = ("veth", "tap")
# The longest interface name is f"{name}br" / f"{name}b0": Linux allows 15 characters.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,12}$")

log = logging.getLogger("fastnet.testnet")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"testnet name {name!r}: 1-13 characters from [A-Za-z0-9_-], "
                         "starting with a letter or digit (interface names are limited to "
                         "15 characters)")


def _check_prefix(prefix: str | ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(prefix, strict=True)
    except ValueError as e:
        raise ValueError(f"prefix {prefix!s}: {e}") from None
    if not net.subnet_of(ALLOWED):
        raise ValueError(f"prefix {net}: test networks must be inside {ALLOWED}")
    if net.prefixlen > 30:
        raise ValueError(f"prefix {net}: needs room for two hosts (prefix length <= 30)")
    return net


@dataclass
class TestNet:
    """A test network (see the module docstring).  Use as a context manager or call
    destroy()."""

    __test__ = False  # not a pytest test class

    name: str
    kind: str = "veth"
    prefix: ipaddress.IPv4Network = field(default_factory=lambda: _check_prefix(
        "198.18.0.0/24"))

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.kind not in KINDS:
            raise ValueError(f"testnet kind {self.kind!r}: one of {', '.join(KINDS)}")
        self.prefix = _check_prefix(self.prefix)

    # names and addresses -------------------------------------------------------------
    @property
    def stack_ns(self) -> str:
        return f"{self.name}-stack"

    @property
    def peer_ns(self) -> str:
        return f"{self.name}-peer"

    @property
    def stack_if(self) -> str:
        return f"{self.name}0"

    @property
    def peer_if(self) -> str:
        return f"{self.name}1"

    @property
    def bridge(self) -> str | None:
        return f"{self.name}br" if self.kind == "tap" else None

    @property
    def bridge_veth(self) -> str | None:
        """The stack namespace's end of the veth pair (tap kind: enslaved to the bridge)."""
        return f"{self.name}b0" if self.kind == "tap" else None

    @property
    def stack_ip(self) -> str:
        """fastnet's address (.1 of the prefix), as a string."""
        return str(self.prefix.network_address + 1)

    @property
    def peer_ip(self) -> str:
        """The kernel peer's address (.2 of the prefix), as a string."""
        return str(self.prefix.network_address + 2)

    @property
    def prefix_len(self) -> int:
        return self.prefix.prefixlen

    @property
    def stack_cidr(self) -> str:
        return f"{self.stack_ip}/{self.prefix_len}"

    @property
    def backend(self) -> str:
        """The fastnet backend that fits stack_if by default."""
        return "tap" if self.kind == "tap" else "af_packet"

    def up_args(self, backend: str | None = None) -> list[str]:
        """Arguments of `fastnet up` for this network (after the `up`)."""
        return ["--netns", self.stack_ns, "--iface", self.stack_if, "--backend",
                backend or self.backend, "--ip", self.stack_cidr]

    # running commands ----------------------------------------------------------------
    def run_peer(self, argv: Sequence[str], check: bool = True, timeout: float | None = 60,
                 capture: bool = True) -> subprocess.CompletedProcess[str]:
        return netns.run(self.peer_ns, argv, check=check, timeout=timeout, capture=capture)

    def run_stack(self, argv: Sequence[str], check: bool = True, timeout: float | None = 60,
                  capture: bool = True) -> subprocess.CompletedProcess[str]:
        return netns.run(self.stack_ns, argv, check=check, timeout=timeout, capture=capture)

    def exists(self) -> bool:
        return netns.exists(self.stack_ns) or netns.exists(self.peer_ns)

    # lifecycle -----------------------------------------------------------------------
    def _build(self) -> None:
        s, p = self.stack_ns, self.peer_ns
        for ns in (s, p):
            if netns.exists(ns):
                raise FileExistsError(f"network namespace {ns} exists: testnet {self.name!r} "
                                      f"is in use (fastnet testnet down --name {self.name})")
        netns.add(s)
        netns.add(p)
        if self.kind == "veth":
            _ip("link", "add", self.stack_if, "netns", s, "type", "veth",
                "peer", "name", self.peer_if, "netns", p)
            stack_side = [self.stack_if]
        else:
            _ip("-n", s, "tuntap", "add", "dev", self.stack_if, "mode", "tap", "multi_queue")
            _ip("-n", s, "link", "add", self.bridge, "type", "bridge")
            _ip("link", "add", self.bridge_veth, "netns", s, "type", "veth",
                "peer", "name", self.peer_if, "netns", p)
            _ip("-n", s, "link", "set", self.stack_if, "master", self.bridge)
            _ip("-n", s, "link", "set", self.bridge_veth, "master", self.bridge)
            stack_side = [self.stack_if, self.bridge, self.bridge_veth]
            # br_netfilter (built into this kernel, on by default) makes the bridge validate
            # IPv4 headers and drop malformed frames: the bridge must act as a plain wire.
            if os.path.exists("/proc/sys/net/bridge"):
                for fam in ("iptables", "ip6tables", "arptables"):
                    _sysctl(s, f"net.bridge.bridge-nf-call-{fam}=0")
        # IPv6 off before anything is up: no router solicitations or DAD on the wire.
        for dev in stack_side:
            _sysctl(s, f"net.ipv6.conf.{dev}.disable_ipv6=1")
        _sysctl(p, f"net.ipv6.conf.{self.peer_if}.disable_ipv6=1")
        if self.kind == "veth":
            _ethtool(p, self.peer_if, "tx", "off", "tso", "off", "gso", "off")
            _ethtool(s, self.stack_if, "gro", "off")
        else:
            for ns, dev in ((s, self.bridge_veth), (p, self.peer_if)):
                _ethtool(ns, dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off")
        _ip("-n", p, "addr", "add", f"{self.peer_ip}/{self.prefix_len}", "dev", self.peer_if)
        for ns in (s, p):
            _ip("-n", ns, "link", "set", "lo", "up")
        for dev in stack_side:
            _ip("-n", s, "link", "set", dev, "up")
        _ip("-n", p, "link", "set", self.peer_if, "up")
        self._wait_peer_up()

    def _wait_peer_up(self, timeout: float = 3.0) -> None:
        """The veth reports carrier a moment after `link set up`; wait (bounded) so that the
        first packet a caller sends is not lost."""
        deadline = time.monotonic() + timeout
        while True:
            r = _ip("-n", self.peer_ns, "-o", "link", "show", "dev", self.peer_if, check=False)
            if " state UP " in r.stdout or time.monotonic() > deadline:
                return
            time.sleep(0.02)

    def destroy(self) -> None:
        """Remove the network: XDP detached, TAP deleted, both namespaces deleted.
        Idempotent; never raises for pieces that are already gone."""
        s = self.stack_ns
        if netns.exists(s):
            busy = netns.pids(s)
            if busy:
                log.warning("testnet %s: processes still in %s: %s", self.name, s,
                            " ".join(map(str, busy)))
            # A single-program XDP attach outlives a killed process (BACKEND-NOTES).
            _ip("-n", s, "link", "set", "dev", self.stack_if, "xdp", "off", check=False)
            # A persistent TAP is a device of its own: delete it explicitly.
            _ip("-n", s, "link", "del", self.stack_if, check=False)
        for ns in (s, self.peer_ns):
            netns.delete(ns)

    def __enter__(self) -> "TestNet":
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def describe(self) -> str:
        lines = [
            f"testnet {self.name} ({self.kind}, {self.prefix})",
            f"  stack namespace {self.stack_ns}: {self.stack_if}"
            + (f" (TAP, bridged by {self.bridge} with {self.bridge_veth})"
               if self.kind == "tap" else " (veth, no kernel address)")
            + f"  -> fastnet address {self.stack_cidr}",
            f"  peer namespace  {self.peer_ns}: {self.peer_if} {self.peer_ip}/{self.prefix_len}",
        ]
        return "\n".join(lines)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {r.stderr.strip() or 'failed'}")
    return r


def _sysctl(ns: str, setting: str) -> None:
    r = netns.run(ns, ["sysctl", "-qw", setting], check=False)
    if r.returncode != 0:
        raise OSError(f"{ns}: sysctl -w {setting}: {r.stderr.strip() or 'failed'}")


def _ethtool(ns: str, dev: str, *features: str) -> None:
    r = netns.run(ns, ["ethtool", "-K", dev, *features], check=False)
    if r.returncode != 0:
        raise OSError(f"{ns}: ethtool -K {dev} {' '.join(features)}: "
                      f"{(r.stderr or r.stdout).strip() or 'failed'}")


def create(name: str = "fn", kind: str = "veth",
           prefix: str | ipaddress.IPv4Network = "198.18.0.0/24") -> TestNet:
    """Build a test network.  Raises ValueError for a bad name/kind/prefix,
    FileExistsError if its namespaces exist, OSError if a command fails (after cleanup)."""
    tn = TestNet(name=name, kind=kind, prefix=prefix)
    try:
        tn._build()
    except FileExistsError:
        raise
    except BaseException:
        tn.destroy()
        raise
    return tn


def existing(name: str, prefix: str | ipaddress.IPv4Network = "198.18.0.0/24") -> TestNet:
    """A TestNet handle for a network created earlier (e.g. by `fastnet testnet up`); the
    kind is read from what is in the stack namespace."""
    tn = TestNet(name=name, prefix=prefix)
    if netns.exists(tn.stack_ns):
        r = _ip("-n", tn.stack_ns, "-o", "link", "show", f"{name}br", check=False)
        if r.returncode == 0:
            tn.kind = "tap"
        r = _ip("-n", tn.peer_ns, "-o", "-4", "addr", "show", "dev", tn.peer_if, check=False)
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+/\d+)", r.stdout)
        if m:
            net = ipaddress.IPv4Interface(m.group(1)).network
            if net.subnet_of(ALLOWED) and net.prefixlen <= 30:
                tn.prefix = net
    return tn


def destroy(name: str) -> bool:
    """Destroy the test network called name; False if there was nothing to destroy."""
    tn = existing(name)
    had = tn.exists()
    tn.destroy()
    return had
