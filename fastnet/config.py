"""fastnet configuration: a TOML file plus command-line overrides, validated in Python.

Contract: load() turns a TOML file (optional) and a mapping of "section.key" overrides (the
command-line flags) into a Config whose stack_kwargs() can be passed to fastnet._core.Stack
as they are.  Everything the C layer would refuse is refused here first, with a ConfigError
whose message is ONE line that starts with the key ("port.mtu: ...").  Nothing in this module
touches the C extension or the network, so it is usable (and testable) without a build.

The file is in the spirit of F-Stack's config.ini: one section per subsystem ([port],
[buffers], [arp], [ip], [icmp], [fault], [pcap], [log], [stats]).  The keys, their types,
ranges and defaults live in the KEYS table below, which is also what docs/config.md
documents and what the `fastnet up` flags are generated from.  The defaults of the stack
knobs mirror fn_config_defaults() (stack/core/config.c); only knobs set explicitly (in the
file or by a flag) are passed to the C layer, so the C defaults stay the single source of
truth and a test compares this table with fastnet._core.config_defaults().
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

__all__ = [
    "BACKENDS",
    "CC_ALGORITHMS",
    "XDP_MODES",
    "LOG_LEVELS",
    "KEYS",
    "SECTIONS",
    "ConfigError",
    "Config",
    "Key",
    "load",
    "parse_cli_value",
    "default_stats_file",
    "FLAG_KWARGS",
    "stack_kwargs_from",
]

BACKENDS = ("af_xdp", "af_packet", "tap")
XDP_MODES = ("auto", "native", "skb")
RX_MODERATIONS = ("auto", "off", "adaptive")
LOG_LEVELS = ("debug", "info", "warning", "error")
# Congestion-control algorithms in the order of their FN_CC_* index (fn_config.h): the C
# knob tcp_cc holds the index of the name tcp.congestion gives.
CC_ALGORITHMS = ("newreno", "cubic")

STATS_DIR = "/run/fastnet"

# Limits that mirror the C side (fn_pkt.h, fn_stack.h, mem/pool.c, core/stack.c).
FN_PKT_HEADROOM = 256
FN_ETH_HLEN = 14
FN_MAX_BATCH = 64
FN_IFNAMSIZ = 16
AF_XDP_MIN_BUFS = 64

_U32 = 2**32 - 1
_U64 = 2**64 - 1


class ConfigError(ValueError):
    """A configuration problem; str(err) is one line naming the key and the problem."""


@dataclass(frozen=True)
class Key:
    """One configuration key.

    kind is one of: int, float, prob (float in 0..1), bool, str, choice, cidr (IPv4 address
    with prefix), ipv4, path.  target is the fastnet._core.Stack keyword (a struct fn_config
    field for knobs) or None for keys the Python side uses itself.
    """

    section: str
    name: str
    kind: str
    default: Any
    doc: str
    target: str | None = None
    lo: float | int | None = None
    hi: float | int | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    flag: str | None = None
    knob: bool = False  # a struct fn_config field passed through **knobs

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def cli_flag(self) -> str:
        if self.flag:
            return self.flag
        return "--" + f"{self.section}-{self.name}".replace("_", "-")


def _fault_keys() -> list[Key]:
    """[fault]: each impairment applies to both directions; rx_/tx_ keys override one."""
    base = [
        ("drop", "prob", 0.0, 0.0, 1.0, "probability a frame is dropped"),
        ("dup", "prob", 0.0, 0.0, 1.0, "probability a frame is duplicated"),
        ("reorder", "prob", 0.0, 0.0, 1.0,
         "probability a frame is held back and sent after the next one"),
        ("corrupt", "prob", 0.0, 0.0, 1.0, "probability one random bit of a frame is flipped"),
        ("delay", "prob", None, 0.0, 1.0,
         "probability a frame is delayed by delay_ms (default: 1 when delay_ms > 0, else 0)"),
        ("delay_ms", "int", 0, 0, 60_000, "delay in milliseconds for delayed frames"),
        ("rate_bps", "int", 0, 0, _U64,
         "token-bucket policer rate in bits/s, frames over it are dropped (0 = unlimited)"),
        ("burst_bytes", "int", 0, 0, _U64, "token-bucket depth in bytes (0 = 2 * (MTU + 14))"),
    ]
    keys = [Key("fault", "seed", "int", 1, "seed of the fault PRNGs (same seed, same pattern)",
                lo=0, hi=_U64)]
    for name, kind, default, lo, hi, doc in base:
        keys.append(Key("fault", name, kind, default, doc + " (both directions)", lo=lo, hi=hi))
    for d, what in (("rx", "received frames"), ("tx", "sent frames")):
        for name, kind, _default, lo, hi, doc in base:
            keys.append(Key("fault", f"{d}_{name}", kind, None,
                            f"{doc}, for {what} only (default: fault.{name})", lo=lo, hi=hi))
    return keys


KEYS: list[Key] = [
    # [port] — the interface and addressing
    Key("port", "iface", "str", None, "network interface (or TAP device) the stack runs on",
        target="iface", required=True, flag="--iface"),
    Key("port", "backend", "choice", "af_packet", "packet I/O backend", target="backend",
        choices=BACKENDS, flag="--backend"),
    Key("port", "ip", "cidr", None, "our IPv4 address with prefix length, e.g. 198.18.0.1/24",
        target="ip", required=True, flag="--ip"),
    Key("port", "gateway", "ipv4", None, "default gateway (must be inside port.ip's subnet); "
        "none = only the local subnet is reachable", target="gateway", flag="--gateway"),
    Key("port", "mtu", "int", 0, "L3 MTU; 0 = the interface's (must fit in buffers.size)",
        target="mtu", lo=0, hi=65535, flag="--mtu"),
    Key("port", "queue", "int", 0, "queue id (af_xdp queue, tap multi-queue index)",
        target="queue", lo=0, hi=_U32, flag="--queue"),
    Key("port", "xdp_mode", "choice", "auto", "XDP attach mode for af_xdp: auto tries native "
        "(driver) mode, then skb (generic)", target="xdp_mode", choices=XDP_MODES,
        flag="--xdp-mode"),
    Key("port", "napi_poll", "bool", False, "af_xdp only: Linux preferred busy polling on "
        "the XDP socket (it drives the NAPI only where the socket has a NAPI id: zero-copy; "
        "on copy mode, Linux >= 6.13, it does not) and the interface's NAPI deferral "
        "(napi_defer_hard_irqs 2, gro_flush_timeout port.napi_hold_us) while open: frames "
        "are taken in batches up to the hold time apart, a frame may wait up to the hold "
        "time", target="napi_poll", flag="--napi-poll"),
    Key("port", "napi_hold_us", "int", 200, "with port.napi_poll or port.rx_moderation: "
        "the NAPI's deferral (gro_flush_timeout) in microseconds: how long frames may wait "
        "for the NAPI's watchdog; longer than one round of the application's work",
        target="napi_hold_us", lo=1, hi=100_000, flag="--napi-hold-us"),
    Key("port", "rx_moderation", "choice", "auto", "af_xdp without port.napi_poll: "
        "adaptive receive moderation, the interface's NAPI deferral (napi_defer_hard_irqs 2, "
        "gro_flush_timeout port.napi_hold_us) only while 4 or more frames arrive per hold "
        "time (20,000/s at 200 us; off again below 2); auto: where the interface allows it (this namespace's "
        "sysfs, CAP_NET_ADMIN), adaptive: the open fails where it does not, off: never",
        target="rx_moderation", choices=RX_MODERATIONS, flag="--rx-moderation"),
    Key("port", "xdp_obj", "path", None, "XDP program object; none = the packaged "
        "fn_xdp_kern.o", target="xdp_obj_path", flag="--xdp-obj"),
    Key("port", "core", "int", -1, "CPU core to pin the stack to (-1 = no pinning)",
        target="core", lo=-1, hi=4095, flag="--core", knob=True),
    # [buffers] — the per-core packet buffer pool
    Key("buffers", "count", "int", 4096, "packet buffers in the pool (af_xdp needs 64 or "
        "more)", target="n_bufs", lo=1, hi=1 << 24, knob=True),
    Key("buffers", "size", "int", 2048, "bytes per buffer, a power of two; a full frame "
        "(256 B headroom + 14 + MTU) must fit", target="buf_size", lo=1024, hi=65536,
        knob=True),
    Key("buffers", "hugepages", "bool", True, "try 2 MB hugepages first (falls back to normal "
        "pages)", target="hugepages", knob=True),
    Key("buffers", "rx_batch", "int", 32, "frames per receive batch", target="rx_batch",
        lo=1, hi=FN_MAX_BATCH, knob=True),
    # [arp] — RFC 826 neighbour cache
    Key("arp", "cache_size", "int", 256, "ARP cache entries", target="arp_cache_size",
        lo=1, hi=1 << 20, knob=True),
    Key("arp", "reachable_ms", "int", 30000, "a resolved entry is used without asking "
        "again this long", target="arp_reachable_ms", lo=0, hi=_U32, knob=True),
    Key("arp", "retry_ms", "int", 1000, "interval between requests while resolving",
        target="arp_retry_ms", lo=1, hi=_U32, knob=True),
    Key("arp", "max_retries", "int", 3, "requests before giving up (queued packets are "
        "dropped)", target="arp_max_retries", lo=1, hi=_U32, knob=True),
    Key("arp", "queue_max", "int", 16, "packets held per unresolved address",
        target="arp_queue_max", lo=0, hi=_U32, knob=True),
    Key("arp", "gratuitous", "bool", True, "announce our address when the stack starts",
        target="gratuitous_arp", knob=True),
    # [ip] — IPv4 and fragment reassembly
    Key("ip", "default_ttl", "int", 64, "TTL of the packets we send", target="default_ttl",
        lo=1, hi=255, knob=True),
    Key("ip", "reass_max_datagrams", "int", 16, "datagrams reassembled at once (0 = no "
        "reassembly, fragments are dropped)", target="reass_max_datagrams", lo=0, hi=4096,
        knob=True),
    Key("ip", "reass_max_size", "int", 65535, "largest reassembled datagram in bytes",
        target="reass_max_size", lo=576, hi=65535, knob=True),
    Key("ip", "reass_timeout_ms", "int", 30000, "a datagram not complete after this long is "
        "dropped", target="reass_timeout_ms", lo=1, hi=_U32, knob=True),
    Key("ip", "reass_max_frags", "int", 64, "fragments per datagram",
        target="reass_max_frags", lo=1, hi=_U32, knob=True),
    # [icmp]
    Key("icmp", "err_rate_per_s", "int", 100, "ICMP errors we send per second (token "
        "bucket; 0 = none)", target="icmp_err_rate_per_s", lo=0, hi=_U32, knob=True),
    # [tcp] — RFC 9293 and friends (limits mirror config_ok() in stack/tcp/tcp_subr.c)
    *[Key("tcp", n, kind, d, doc, target=f"tcp_{n}", lo=lo, hi=hi, knob=True)
      for n, kind, d, lo, hi, doc in (
        ("max_conns", "int", 1024, 1, 1 << 22, "TCP control blocks preallocated "
         "(live connections + listeners + TIME_WAIT); when none is free the oldest "
         "TIME_WAIT is reused, and only live connections beyond them are refused"),
        ("sndbuf", "int", 128 * 1024, 1024, 1 << 30, "send buffer bytes per connection"),
        ("rcvbuf", "int", 128 * 1024, 1024, 1 << 30, "receive buffer bytes per connection "
         "(the largest window offered)"),
        ("reass_max_segs", "int", 128, 0, _U32, "out-of-order segments held per connection"),
        ("msl_ms", "int", 30000, 1, _U32, "maximum segment lifetime; TIME_WAIT lasts 2 MSL"),
        ("fin_wait2_ms", "int", 60000, 1, _U32, "FIN_WAIT_2 limit once the socket is closed"),
        ("rto_init_ms", "int", 1000, 1, _U32, "initial retransmission timeout (RFC 6298 "
         "2.1); between rto_min_ms and rto_max_ms"),
        ("rto_min_ms", "int", 200, 1, _U32, "lower bound of the RTO (RFC 6298 2.4 says "
         "1 s; Linux uses 200 ms)"),
        ("rto_max_ms", "int", 120000, 60000, _U32, "upper bound of the RTO (RFC 6298 2.5: "
         "at least 60 s)"),
        ("max_rexmits", "int", 15, 1, _U32, "retransmissions of one segment before the "
         "connection times out"),
        ("syn_retries", "int", 6, 1, _U32, "SYN / SYN-ACK retransmissions before giving up"),
        ("delack_ms", "int", 40, 1, 499, "delayed-ACK timer (RFC 9293 3.8.6.3: under 0.5 s)"),
        ("initcwnd_segs", "int", 10, 1, _U32, "initial congestion window in segments "
         "(RFC 6928)"),
        ("min_mss", "int", 64, 48, 536, "smallest MSS accepted from a peer"),
        ("challenge_ack_per_s", "int", 10, 0, _U32, "challenge ACKs per connection per "
         "second (RFC 5961 7)"),
        ("oow_ack_interval_ms", "int", 500, 0, _U32, "minimum interval between ACKs sent in "
         "answer to out-of-window segments"),
        ("window_scaling", "bool", True, None, None, "offer window scaling (RFC 7323 2)"),
        ("timestamps", "bool", True, None, None, "offer timestamps (RFC 7323 3)"),
        ("sack", "bool", True, None, None, "offer SACK (RFC 2018)"),
        ("nodelay", "bool", False, None, None, "new connections start with Nagle's "
         "algorithm off (TCP_NODELAY)"),
        ("keepalive_idle_s", "int", 7200, 1, 32767, "keepalive: idle seconds before the "
         "first probe, for connections that turn keepalive on (RFC 1122 4.2.3.6)"),
        ("keepalive_intvl_s", "int", 75, 1, 32767, "keepalive: seconds between unanswered "
         "probes"),
        ("keepalive_cnt", "int", 9, 1, 127, "keepalive: unanswered probes before the "
         "connection times out"),
        ("syncache_size", "int", 1024, 1, 1 << 22, "half-open connections held in the "
         "syncache, all listeners together (each at most its listen backlog)"),
        ("syncookies", "int", 1, 0, 2, "SYN cookies (RFC 4987): 0 never, 1 when the syncache "
         "or the listener's share of it is full, 2 for every SYN"),
        ("max_sockets", "int", 1024, 1, 1 << 22, "socket descriptors preallocated (sockets "
         "+ epoll instances); beyond them socket() and accept() fail with EMFILE"),
        ("pool_reserve_pct", "int", 12, 1, 50, "percent of the packet-buffer pool kept for "
         "ACKs, control segments, retransmissions and received frames: send buffers and "
         "received data stop short of it, so pressure never stalls a connection"),
        ("pool_ooo_pct", "int", 25, 0, 100, "percent of the packet-buffer pool that "
         "out-of-order data of all connections together may hold (beyond it, and within "
         "the reserve, out-of-order segments are dropped first)"),
    )],
    Key("tcp", "congestion", "choice", "cubic", "congestion control of new connections: "
        "cubic (RFC 9438) or newreno (RFC 5681, RFC 6582)", target="tcp_cc",
        choices=CC_ALGORITHMS, knob=True),
    # [fault] — seeded impairment of the link (a wrapper around the backend)
    *_fault_keys(),
    # [pcap]
    Key("pcap", "path", "path", None, "write every frame received and sent to this pcap "
        "file; none = no capture", target="pcap", flag="--pcap"),
    # [log]
    Key("log", "level", "choice", "info", "level of fastnet's own messages on stderr",
        choices=LOG_LEVELS, flag="--log-level"),
    # [stats]
    Key("stats", "file", "path", None, "JSON file the counters are written to (atomically); "
        f"none = {STATS_DIR}/<iface>.json", flag="--stats-file"),
    Key("stats", "interval", "float", 1.0, "seconds between writes of the stats file",
        lo=0.05, hi=3600.0, flag="--stats-interval"),
]

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(k.section for k in KEYS))
_BY_DOTTED: dict[str, Key] = {k.dotted: k for k in KEYS}
_FAULT_BASE = ("drop", "dup", "reorder", "corrupt", "delay", "delay_ms", "rate_bps",
               "burst_bytes")


def _knob_value(k: Key, val: Any) -> Any:
    """What the C knob holds for a key's value: booleans as 0/1, a choice as its index in
    k.choices (tcp.congestion: the FN_CC_* index of the algorithm's name)."""
    if k.kind == "bool":
        return int(val)
    if k.kind == "choice":
        return k.choices.index(val)
    return val


# struct fn_config field -> default, as fn_config_defaults() sets it (ip/gateway/mtu/
# prefix_len are addressing, not knobs, and have no useful default here).
KNOB_DEFAULTS: dict[str, Any] = {k.target: _knob_value(k, k.default) for k in KEYS if k.knob}


def default_stats_file(iface: str) -> str:
    return os.path.join(STATS_DIR, f"{iface}.json")


def key(dotted: str) -> Key:
    return _BY_DOTTED[dotted]


# ---------------------------------------------------------------------------------------
# value checking


def _err(k: Key | str, msg: str) -> ConfigError:
    name = k.dotted if isinstance(k, Key) else k
    return ConfigError(f"{name}: {msg}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_cli_value(k: Key, text: str) -> Any:
    """Convert a command-line string to the key's type (then validated like file values)."""
    s = text.strip()
    if k.kind == "int":
        try:
            return int(s, 0)
        except ValueError:
            raise _err(k, f"{text!r} is not an integer") from None
    if k.kind in ("float", "prob"):
        try:
            return float(s)
        except ValueError:
            raise _err(k, f"{text!r} is not a number") from None
    if k.kind == "bool":
        if s.lower() in _TRUE:
            return True
        if s.lower() in _FALSE:
            return False
        raise _err(k, f"{text!r} is not a boolean (true/false)")
    if s.lower() in ("", "none") and not k.required and k.kind in ("ipv4", "path"):
        return None
    return text


def _check_value(k: Key, v: Any) -> Any:
    """Type and range check of one value; returns the normalised value."""
    if v is None:
        return None
    kind = k.kind
    if kind == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise _err(k, f"{v!r} is not an integer")
        if (k.lo is not None and v < k.lo) or (k.hi is not None and v > k.hi):
            raise _err(k, f"{v} is out of range {k.lo}..{k.hi}")
        return v
    if kind in ("float", "prob"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _err(k, f"{v!r} is not a number")
        v = float(v)
        if v != v or (k.lo is not None and v < k.lo) or (k.hi is not None and v > k.hi):
            what = "a probability 0..1" if kind == "prob" else f"range {k.lo}..{k.hi}"
            raise _err(k, f"{v!r} is out of {what}")
        return v
    if kind == "bool":
        if isinstance(v, bool):
            return v
        if isinstance(v, int) and v in (0, 1):
            return bool(v)
        raise _err(k, f"{v!r} is not a boolean (true/false)")
    if not isinstance(v, str):
        raise _err(k, f"{v!r} is not a string")
    if kind == "choice":
        if v not in k.choices:
            raise _err(k, f"{v!r} is not one of {', '.join(k.choices)}")
        return v
    if kind == "cidr":
        if "/" not in v:
            raise _err(k, f"{v!r} is not an IPv4 address with prefix (e.g. 198.18.0.1/24)")
        try:
            iface = ipaddress.IPv4Interface(v)
        except ValueError:
            raise _err(k, f"{v!r} is not an IPv4 address with prefix") from None
        return iface
    if kind == "ipv4":
        try:
            return ipaddress.IPv4Address(v)
        except ValueError:
            raise _err(k, f"{v!r} is not an IPv4 address") from None
    if kind == "path":
        if v == "" or "\0" in v:
            raise _err(k, f"{v!r} is not a usable path")
        return v
    if kind == "str":
        return v
    raise AssertionError(f"unknown kind {kind}")


def _check_iface(k: Key, name: str) -> None:
    if not name:
        raise _err(k, "empty interface name")
    if len(name) >= FN_IFNAMSIZ:
        raise _err(k, f"{name!r} is longer than {FN_IFNAMSIZ - 1} characters")
    if name in (".", "..") or any(c in name for c in "/: \t\n"):
        raise _err(k, f"{name!r} is not a valid interface name")


def _check_ip(k: Key, itf: ipaddress.IPv4Interface) -> None:
    a, net = itf.ip, itf.network
    if a.is_unspecified or a.is_multicast or a == ipaddress.IPv4Address("255.255.255.255"):
        raise _err(k, f"{itf} is not a unicast address")
    if net.prefixlen <= 30 and a in (net.network_address, net.broadcast_address):
        what = "network" if a == net.network_address else "broadcast"
        raise _err(k, f"{itf} is the {what} address of its subnet")


# ---------------------------------------------------------------------------------------
# the resolved configuration


@dataclass
class Config:
    """A validated configuration: every key has a value (its default if not set)."""

    values: dict[str, Any]
    explicit: set[str] = field(default_factory=set)  # keys set in the file or by a flag

    def __getitem__(self, dotted: str) -> Any:
        return self.values[dotted]

    @property
    def iface(self) -> str:
        return self.values["port.iface"]

    @property
    def backend(self) -> str:
        return self.values["port.backend"]

    @property
    def ip(self) -> ipaddress.IPv4Interface:
        return self.values["port.ip"]

    @property
    def log_level(self) -> str:
        return self.values["log.level"]

    @property
    def stats_file(self) -> str:
        return self.values["stats.file"] or default_stats_file(self.iface)

    @property
    def stats_interval(self) -> float:
        return self.values["stats.interval"]

    @property
    def core(self) -> int:
        return self.values["port.core"]

    def fault(self) -> dict[str, Any] | None:
        """The fault= argument of _core.Stack, or None if no impairment is configured."""
        v = self.values
        out: dict[str, Any] = {"seed": v["fault.seed"]}
        active = False
        for d in ("rx", "tx"):
            for name in _FAULT_BASE:
                own = v[f"fault.{d}_{name}"]
                val = own if own is not None else v[f"fault.{name}"]
                out[f"{d}_{name}"] = val
            if out[f"{d}_delay"] is None:
                out[f"{d}_delay"] = 1.0 if out[f"{d}_delay_ms"] > 0 else 0.0
            if any(out[f"{d}_{n}"] for n in ("drop", "dup", "reorder", "corrupt", "rate_bps")):
                active = True
            if out[f"{d}_delay"] and out[f"{d}_delay_ms"]:
                active = True
        return out if active else None

    def stack_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for fastnet._core.Stack.  Knobs appear only when set explicitly,
        so fn_config_defaults() supplies the rest."""
        v = self.values
        kw: dict[str, Any] = {
            "backend": v["port.backend"],
            "iface": v["port.iface"],
            "ip": str(v["port.ip"].ip),
            "prefix_len": v["port.ip"].network.prefixlen,
            "gateway": str(v["port.gateway"]) if v["port.gateway"] is not None else None,
            "mtu": v["port.mtu"],
            "queue": v["port.queue"],
            "xdp_mode": v["port.xdp_mode"],
            "napi_poll": v["port.napi_poll"],
            "napi_hold_us": v["port.napi_hold_us"],
            "rx_moderation": v["port.rx_moderation"],
            "xdp_obj_path": v["port.xdp_obj"],
            "pcap": v["pcap.path"],
            "fault": self.fault(),
        }
        for k in KEYS:
            if k.knob and k.dotted in self.explicit:
                kw[k.target] = _knob_value(k, v[k.dotted])
        return kw

    def describe(self) -> dict[str, Any]:
        """JSON-friendly view of every key (for `fastnet up --dry-run`)."""
        out: dict[str, Any] = {}
        for k in KEYS:
            val = self.values[k.dotted]
            if isinstance(val, (ipaddress.IPv4Interface, ipaddress.IPv4Address)):
                val = str(val)
            out[k.dotted] = val
        return out


def _flatten_file(data: Mapping[str, Any], src: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, table in data.items():
        if section not in SECTIONS:
            hint = difflib.get_close_matches(section, SECTIONS, n=1)
            more = f" (did you mean [{hint[0]}]?)" if hint else f" (known: {', '.join(SECTIONS)})"
            raise _err(section, f"unknown section in {src}{more}")
        if not isinstance(table, dict):
            raise _err(section, f"must be a table ([{section}]), not a value")
        names = [k.name for k in KEYS if k.section == section]
        for name, val in table.items():
            dotted = f"{section}.{name}"
            if dotted not in _BY_DOTTED:
                hint = difflib.get_close_matches(name, names, n=1)
                more = f" (did you mean {section}.{hint[0]}?)" if hint else ""
                raise _err(dotted, f"unknown key in {src}{more}")
            if isinstance(val, (dict, list)):
                raise _err(dotted, f"expected a single value, not a {type(val).__name__}")
            flat[dotted] = val
    return flat


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a TOML config file into {"section.key": value} (keys checked, values not yet)."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: TOML syntax error: {e}") from None
    return _flatten_file(data, p)


def load(path: str | os.PathLike[str] | None = None,
         overrides: Mapping[str, Any] | None = None,
         *, require: Iterable[str] | None = None) -> Config:
    """Build a validated Config: defaults < file < overrides.

    overrides maps "section.key" to a value; strings are converted with parse_cli_value()
    (that is how command-line flags arrive).  None in overrides means "not given".
    require: keys that must be set (default: the keys marked required).
    """
    raw: dict[str, Any] = {}
    if path is not None:
        raw.update(read_file(path))
    for dotted, val in (overrides or {}).items():
        if dotted not in _BY_DOTTED:
            raise _err(dotted, "unknown key")
        if val is None:
            continue
        k = _BY_DOTTED[dotted]
        raw[dotted] = parse_cli_value(k, val) if isinstance(val, str) else val

    values: dict[str, Any] = {}
    for k in KEYS:
        values[k.dotted] = _check_value(k, raw[k.dotted]) if k.dotted in raw else k.default

    need = [k.dotted for k in KEYS if k.required] if require is None else list(require)
    for dotted in need:
        if values[dotted] is None:
            k = _BY_DOTTED[dotted]
            raise _err(k, f"required (set {k.name} in [{k.section}] or pass {k.cli_flag})")

    cfg = Config(values=values, explicit=set(raw))
    _cross_check(cfg)
    return cfg


def _cross_check(cfg: Config) -> None:
    """Checks between keys, mirroring config_check() in stack/core/stack.c and the pool and
    backend limits, so the C layer never sees a combination it would reject."""
    v = cfg.values
    if v["port.iface"] is not None:
        _check_iface(key("port.iface"), v["port.iface"])
    itf = v["port.ip"]
    if itf is not None:
        _check_ip(key("port.ip"), itf)
        gw = v["port.gateway"]
        if gw is not None:
            if gw not in itf.network:
                raise _err("port.gateway", f"{gw} is not inside {itf.network} (port.ip)")
            if gw == itf.ip:
                raise _err("port.gateway", f"{gw} is our own address (port.ip)")

    size = v["buffers.size"]
    if size & (size - 1):
        raise _err("buffers.size", f"{size} is not a power of two")
    max_mtu = size - FN_PKT_HEADROOM - FN_ETH_HLEN
    mtu = v["port.mtu"]
    if mtu != 0 and mtu < 68:
        raise _err("port.mtu", f"{mtu} is below the IPv4 minimum of 68 (0 = the interface's)")
    if mtu > max_mtu:
        raise _err("port.mtu", f"{mtu} does not fit in buffers.size {size} "
                               f"(at most {max_mtu}; raise buffers.size)")
    lo_, init, hi_ = v["tcp.rto_min_ms"], v["tcp.rto_init_ms"], v["tcp.rto_max_ms"]
    if not lo_ <= init <= hi_:
        bad = "tcp.rto_init_ms" if "tcp.rto_init_ms" in cfg.explicit else (
            "tcp.rto_min_ms" if init < lo_ else "tcp.rto_max_ms")
        raise _err(bad, f"needs tcp.rto_min_ms ({lo_}) <= tcp.rto_init_ms ({init}) "
                        f"<= tcp.rto_max_ms ({hi_})")
    if v["port.napi_poll"] and v["port.backend"] != "af_xdp":
        raise _err("port.napi_poll", f"needs port.backend af_xdp, not {v['port.backend']}")
    if v["port.rx_moderation"] == "adaptive" and v["port.backend"] != "af_xdp":
        raise _err("port.rx_moderation",
                   f"adaptive needs port.backend af_xdp, not {v['port.backend']}")
    if v["port.backend"] == "af_xdp" and v["buffers.count"] < AF_XDP_MIN_BUFS:
        raise _err("buffers.count", f"af_xdp needs at least {AF_XDP_MIN_BUFS} buffers")
    if v["port.xdp_obj"] is not None and not os.path.isfile(v["port.xdp_obj"]):
        raise _err("port.xdp_obj", f"{v['port.xdp_obj']!r} does not exist")
    for dotted in ("pcap.path", "stats.file"):
        p = v[dotted]
        if p is not None:
            parent = os.path.dirname(os.path.abspath(p))
            if dotted == "pcap.path" and not os.path.isdir(parent):
                raise _err(dotted, f"directory {parent!r} does not exist")
            if os.path.isdir(p):
                raise _err(dotted, f"{p!r} is a directory")
    for d in ("", "rx_", "tx_"):
        delay = v[f"fault.{d}delay"]
        if delay:
            ms = v[f"fault.{d}delay_ms"]
            if ms is None:
                ms = v["fault.delay_ms"]
            if not ms:
                raise _err(f"fault.{d}delay", f"{delay} needs fault.{d}delay_ms > 0")


# ---------------------------------------------------------------------------------------
# fastnet.Stack(config=None, **flags)

# Stack keyword argument -> key: the `fastnet up` flag without its dashes ("--tcp-sndbuf"
# -> tcp_sndbuf, "--iface" -> iface).
FLAG_KWARGS: dict[str, Key] = {k.cli_flag[2:].replace("-", "_"): k for k in KEYS}


def stack_kwargs_from(path: str | os.PathLike[str] | None,
                      flags: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The low-level fastnet._core.Stack arguments for a config file plus flag-named
    keyword arguments (which override the file), and the log level when one was set.

    ip may be given without its prefix together with prefix_len.  Arguments that are not
    flags (struct fn_config knobs such as n_bufs, fault=, xdp_obj_path=) are passed through
    unchanged and override what the configuration gives."""
    flags = dict(flags)
    ip, prefix_len = flags.get("ip"), flags.pop("prefix_len", None)
    if isinstance(ip, str) and "/" not in ip:
        flags["ip"] = f"{ip}/{24 if prefix_len is None else prefix_len}"
    overrides = {FLAG_KWARGS[n].dotted: flags.pop(n) for n in list(flags) if n in FLAG_KWARGS}
    cfg = load(path, overrides)
    kw = cfg.stack_kwargs()
    kw.update(flags)
    return kw, cfg.log_level if "log.level" in cfg.explicit else None
