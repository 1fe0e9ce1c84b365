# cython: language_level=3, embedsignature=True
"""fastnet._core — the one extension module: thin handles over the C stack.

Contract: a Stack owns one stack instance (pool + backend + stack) from construction until
close(); every method must be called from the thread that created it (the C stack is
single-owner).  Errors from C come back as OSError with the POSIX errno; bad arguments raise
TypeError/ValueError before anything is created.  Events cross into Python in batches (one
poll() call per iteration), never one callback per packet.  Sockets (Stack.socket()) and
epoll sets (Stack.epoll()) are thin handles over the C socket API (fn_socket.h): a socket
keeps its Stack alive and fails with EBADF once either is closed.
"""
import ipaddress
import math
import operator
import os
import select as _select
import socket as _socket
import struct

cimport cython
from cpython.buffer cimport (
    PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_FillInfo, PyBuffer_Release, PyObject_GetBuffer)
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.errno cimport errno
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset

from fastnet.includes.fn_backend cimport (
    FN_RX_MODERATION_ADAPTIVE, FN_RX_MODERATION_AUTO, FN_RX_MODERATION_OFF, FN_XDP_MODE_AUTO,
    FN_XDP_MODE_NATIVE, FN_XDP_MODE_SKB, fn_backend, fn_backend_close,
    fn_backend_fault_set, fn_backend_fault_wrap, fn_backend_memory_pair, fn_backend_open,
    fn_backend_params, fn_backend_pcap_wrap, fn_fault_dir, fn_fault_params)
from fastnet.includes.fn_config cimport (
    fn_config, fn_config_cc_name, fn_config_defaults, fn_config_knob_count,
    fn_config_knob_get, fn_config_knob_name, fn_config_knob_set)
from fastnet.includes.fn_pkt cimport (
    FN_POOL_HUGEPAGES, fn_pool, fn_pool_create, fn_pool_destroy, fn_pool_get_stats,
    fn_pool_stats)
from fastnet.includes.fn_socket cimport (
    epoll_event, fn_accept4, fn_bind, fn_close, fn_connect, fn_epoll_create1, fn_epoll_ctl,
    fn_epoll_wait, fn_getpeername, fn_getsockname, fn_getsockopt, fn_ioctl, fn_listen,
    fn_recv, fn_send, fn_setsockopt, fn_shutdown, fn_socket, fn_socket_count,
    fn_socket_set_block_hook, fn_zc_alloc, fn_zc_free, fn_zc_iov, fn_zc_recv, fn_zc_release,
    fn_zc_send, sockaddr, sockaddr_in, socklen_t)
from fastnet.includes.fn_stack cimport (
    FN_STATS_COUNT, fn_clock_ns, fn_stack, fn_stack_arp_lookup, fn_stack_arp_resolve,
    fn_stack_backend, fn_stack_create, fn_stack_destroy, fn_stack_fd, fn_stack_get_stats,
    fn_stack_next_deadline, fn_stack_ping, fn_stack_ping_replies, fn_stack_poll,
    fn_stack_pool, fn_stack_start, fn_stats, fn_stats_descs, fn_stats_names)

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    short POLLIN
    int poll(pollfd *fds, unsigned long nfds, int timeout)

cdef extern from "platform/fn_platform.h" nogil:
    void fn_log_set_level(int level)

BACKENDS = ("af_xdp", "af_packet", "tap")
_XDP_MODES = {"auto": FN_XDP_MODE_AUTO, "native": FN_XDP_MODE_NATIVE, "skb": FN_XDP_MODE_SKB}
_LOG_LEVELS = {"error": 0, "warning": 1, "info": 2, "debug": 3}
_FAULT_KEYS = ("drop", "dup", "reorder", "corrupt", "delay")
_UINT64_MAX = 0xFFFFFFFFFFFFFFFF


def default_xdp_obj_path():
    """Path of the XDP program built with the package (None if it was built without)."""
    p = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fn_xdp_kern.o")
    return p if os.path.exists(p) else None


def config_defaults():
    """Every numeric knob of struct fn_config with its default value."""
    cdef fn_config c
    cdef int64_t v
    fn_config_defaults(&c)
    out = {}
    for i in range(fn_config_knob_count()):
        name = fn_config_knob_name(i)
        fn_config_knob_get(&c, name, &v)
        out[name.decode()] = v
    return out


def cc_algorithms():
    """Congestion-control algorithm names in the order of their FN_CC_* index (tcp_cc)."""
    names = []
    cdef const char *n = fn_config_cc_name(0)
    while n != NULL:
        names.append(n.decode())
        n = fn_config_cc_name(len(names))
    return tuple(names)


def stats_descriptions():
    """Counter name -> description, in the stack's order."""
    return {fn_stats_names[i].decode(): fn_stats_descs[i].decode()
            for i in range(FN_STATS_COUNT)}


def set_log_level(level):
    """Level of the C stack's own log lines on stderr: error, warning, info, debug."""
    if level not in _LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(_LOG_LEVELS)}, not {level!r}")
    fn_log_set_level(_LOG_LEVELS[level])


def _ipv4_be(value, what):
    """IPv4 address (str or IPv4Address) -> uint32 holding the network-order bytes."""
    if not isinstance(value, (str, ipaddress.IPv4Address)):
        raise TypeError(f"{what} must be an IPv4 address string, not {type(value).__name__}")
    try:
        packed = ipaddress.IPv4Address(value).packed
    except ipaddress.AddressValueError as e:
        raise ValueError(f"{what}: {e}") from None
    return struct.unpack("=I", packed)[0]


def _ipv4_str(uint32_t be):
    return str(ipaddress.IPv4Address(struct.pack("=I", be)))


cdef str _mac_str(const uint8_t *m):
    # cdef, not def: a def function's pointer argument is converted through a Python bytes
    # object, which ends at the first zero byte (02:00:5e:... came back as 02:00:00:...).
    return ":".join([f"{m[i]:02x}" for i in range(6)])


cdef int _fill_config(fn_config *c, ip, prefix_len, gateway, mtu, knobs) except -1:
    fn_config_defaults(c)
    c.ip = _ipv4_be(ip, "ip")
    if not isinstance(prefix_len, int) or isinstance(prefix_len, bool):
        raise TypeError("prefix_len must be an int")
    if not 0 <= prefix_len <= 32:
        raise ValueError(f"prefix_len must be 0..32, not {prefix_len}")
    c.prefix_len = prefix_len
    c.gateway = _ipv4_be(gateway, "gateway") if gateway is not None else 0
    knobs = dict(knobs)
    knobs["mtu"] = mtu
    for name, value in knobs.items():
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        rc = fn_config_knob_set(c, name.encode(), value)
        if rc == -2:    # -ENOENT
            raise TypeError(f"unknown stack option {name!r}")
        if rc != 0:
            raise ValueError(f"{name}: {value} is out of range")
    return 0


cdef uint32_t _ppm(double p, str what) except? 0:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"fault {what} must be a probability in [0, 1], not {p}")
    return <uint32_t>(p * 1000000.0 + 0.5)


cdef int _fill_fault(fn_fault_params *fp, dict fault) except -1:
    """fault dict: seed, then drop/dup/reorder/corrupt/delay (probabilities), delay_ms,
    rate_bps, burst_bytes for both directions, or rx_<name> / tx_<name> for one."""
    memset(fp, 0, sizeof(fn_fault_params))
    fault = dict(fault)
    seed = fault.pop("seed", 1)
    if not isinstance(seed, int) or seed < 0:
        raise ValueError("fault seed must be an int >= 0")
    fp.seed = seed
    for key, value in fault.items():
        side, _, name = key.partition("_")
        if side in ("rx", "tx") and name:
            _set_fault_dir(&fp.rx if side == "rx" else &fp.tx, name, value)
        else:
            _set_fault_dir(&fp.rx, key, value)
            _set_fault_dir(&fp.tx, key, value)
    return 0


cdef int _set_fault_dir(fn_fault_dir *d, str name, value) except -1:
    if name == "drop":
        d.drop_ppm = _ppm(value, name)
    elif name == "dup":
        d.dup_ppm = _ppm(value, name)
    elif name == "reorder":
        d.reorder_ppm = _ppm(value, name)
    elif name == "corrupt":
        d.corrupt_ppm = _ppm(value, name)
    elif name == "delay":
        d.delay_ppm = _ppm(value, name)
    elif name == "delay_ms":
        if value < 0:
            raise ValueError("fault delay_ms must be >= 0")
        d.delay_ns = <uint64_t>(value * 1000000)
    elif name == "rate_bps":
        if value < 0:
            raise ValueError("fault rate_bps must be >= 0")
        d.rate_bps = value
    elif name == "burst_bytes":
        if value < 0:
            raise ValueError("fault burst_bytes must be >= 0")
        d.burst_bytes = value
    else:
        raise TypeError(f"unknown fault option {name!r}")
    return 0


cdef int _wrap_backend(fn_backend **be, fault, pcap) except -1:
    """Put the fault and pcap wrappers (when asked for) around *be.  On failure *be is closed
    and set to NULL before the exception is raised."""
    cdef fn_fault_params fp
    cdef fn_backend *wrapped = NULL
    cdef int rc
    if fault is not None:
        if not isinstance(fault, dict):
            fn_backend_close(be[0])
            be[0] = NULL
            raise TypeError(f"fault must be a dict, not {type(fault).__name__}")
        try:
            _fill_fault(&fp, fault)
        except BaseException:
            fn_backend_close(be[0])
            be[0] = NULL
            raise
        rc = fn_backend_fault_wrap(be[0], &fp, &wrapped)
        if rc < 0:
            fn_backend_close(be[0])
            be[0] = NULL
            raise OSError(-rc, f"fault wrapper: {os.strerror(-rc)}")
        be[0] = wrapped
    if pcap is not None:
        b_pcap = os.fsencode(pcap)
        rc = fn_backend_pcap_wrap(be[0], b_pcap, &wrapped)
        if rc < 0:
            fn_backend_close(be[0])
            be[0] = NULL
            raise OSError(-rc, f"pcap {pcap}: {os.strerror(-rc)}")
        be[0] = wrapped
    return 0


# Keyword arguments of the low-level constructor (besides struct fn_config knobs): anything
# else, a config file, or ip="a.b.c.d/len" goes through fastnet.config first.
_LOW_LEVEL_ARGS = frozenset(("backend", "iface", "ip", "prefix_len", "gateway", "mtu", "queue",
                             "xdp_mode", "xdp_obj_path", "napi_poll", "napi_hold_us",
                             "rx_moderation", "pcap", "fault"))
_RX_MODERATION = {"auto": FN_RX_MODERATION_AUTO, "off": FN_RX_MODERATION_OFF,
                  "adaptive": FN_RX_MODERATION_ADAPTIVE}


cdef void _block_hook(void *arg, uint64_t now_ns) noexcept with gil:
    (<Stack>arg)._poll_peers(now_ns)


cdef class Stack:
    """One fastnet stack instance on one backend queue (one core).

    Stack(config=None, **flags): config is a TOML file (docs/config.md); flags are named
    like the `fastnet up` flags (iface=, backend=, ip="198.18.0.1/24", gateway=, mtu=,
    buffers_count=, tcp_sndbuf=, tcp_congestion="cubic", fault_drop=, pcap=, ...) and
    override the file key by key, validated by fastnet.config (ConfigError, a ValueError).

    The low-level form, used when no config is given and every argument is one of these:
    Stack(backend="af_packet", iface="fn0", ip="198.18.0.1", prefix_len=24, gateway=None,
          mtu=0, queue=0, xdp_mode="auto", xdp_obj_path=None, napi_poll=False,
          napi_hold_us=200, rx_moderation="auto", pcap=None, fault=None, **knobs), knobs
          being struct fn_config fields by name (see config_defaults()).  napi_poll (af_xdp
          only) drives the interface's NAPI from the stack's polling; napi_hold_us is its
          hold time.  rx_moderation (af_xdp without napi_poll): "auto" defers the
          interface's NAPI by the hold time only while the receive rate is high, where the
          interface allows it; "adaptive" the same, failing the open where it cannot;
          "off" never.
    """
    cdef fn_stack *st
    cdef readonly str backend_name
    cdef readonly str iface
    cdef readonly str ip
    cdef readonly int prefix_len
    cdef uint64_t ping_sent
    cdef tuple _peers
    cdef Py_ssize_t _zc_exports     # live buffer exports of its pool buffers (_ZcBuf)

    def __cinit__(self):
        self.st = NULL
        self._peers = ()

    def __init__(self, config=None, **kwargs):
        knobs = config_defaults()
        ip = kwargs.get("ip")
        if (config is not None or (isinstance(ip, str) and "/" in ip)
                or any(k not in _LOW_LEVEL_ARGS and k not in knobs for k in kwargs)):
            from fastnet import config as fconfig
            kwargs, log_level = fconfig.stack_kwargs_from(config, kwargs)
            if log_level is not None:
                set_log_level(log_level)
        self._open(**kwargs)

    def _open(self, *, backend, iface, ip, prefix_len=24, gateway=None, mtu=0, queue=0,
              xdp_mode="auto", xdp_obj_path=None, napi_poll=False, napi_hold_us=200,
              rx_moderation="auto", pcap=None, fault=None, **knobs):
        cdef fn_config cfg
        cdef fn_backend_params params
        cdef fn_pool *pool = NULL
        cdef fn_backend *be = NULL
        cdef fn_fault_params fp
        cdef const char *errmsg = NULL
        cdef int rc

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if not isinstance(iface, str) or not iface or len(iface.encode()) > 15:
            raise ValueError(f"iface must be an interface name of 1..15 bytes, not {iface!r}")
        if xdp_mode not in _XDP_MODES:
            raise ValueError(f"xdp_mode must be one of {', '.join(_XDP_MODES)}")
        if not isinstance(queue, int) or queue < 0:
            raise ValueError("queue must be an int >= 0")
        if not isinstance(napi_poll, (bool, int)) or napi_poll not in (0, 1):
            raise ValueError(f"napi_poll must be True or False, not {napi_poll!r}")
        if napi_poll and backend != "af_xdp":
            raise ValueError(f"napi_poll needs the af_xdp backend, not {backend}")
        if (isinstance(napi_hold_us, bool) or not isinstance(napi_hold_us, int)
                or not 1 <= napi_hold_us <= 100000):
            raise ValueError(f"napi_hold_us must be an int 1..100000 (microseconds), "
                             f"not {napi_hold_us!r}")
        if not isinstance(rx_moderation, str) or rx_moderation not in _RX_MODERATION:
            raise ValueError(f"rx_moderation must be one of {', '.join(_RX_MODERATION)}, "
                             f"not {rx_moderation!r}")
        if rx_moderation == "adaptive" and backend != "af_xdp":
            raise ValueError(f"rx_moderation adaptive needs the af_xdp backend, not {backend}")
        _fill_config(&cfg, ip, prefix_len, gateway, mtu, knobs)
        if fault is not None:
            _fill_fault(&fp, fault)     # validate before anything is opened
        if xdp_obj_path is None:
            xdp_obj_path = default_xdp_obj_path()
        b_iface = iface.encode()
        b_obj = xdp_obj_path.encode() if xdp_obj_path else None
        memset(&params, 0, sizeof(params))
        params.ifname = b_iface
        params.queue = queue
        params.mtu = 0
        params.xdp_mode = _XDP_MODES[xdp_mode]
        params.xdp_obj_path = <const char *>b_obj if b_obj is not None else NULL
        params.napi_poll = 1 if napi_poll else 0
        params.napi_hold_us = napi_hold_us
        params.rx_moderation = _RX_MODERATION[rx_moderation]

        rc = fn_pool_create(cfg.n_bufs, cfg.buf_size,
                            FN_POOL_HUGEPAGES if cfg.hugepages else 0, &pool)
        if rc < 0:
            raise OSError(-rc, f"buffer pool of {cfg.n_bufs} x {cfg.buf_size}: "
                               f"{os.strerror(-rc)}")
        rc = fn_backend_open(backend.encode(), &params, pool, &be, &errmsg)
        if rc < 0:
            fn_pool_destroy(pool)
            why = errmsg.decode() if errmsg != NULL else os.strerror(-rc)
            raise OSError(-rc, f"{backend} on {iface}: {why}")
        try:
            _wrap_backend(&be, fault, pcap)
        except BaseException:
            fn_pool_destroy(pool)
            raise
        rc = fn_stack_create(&cfg, pool, be, &self.st)
        if rc < 0:
            fn_backend_close(be)
            fn_pool_destroy(pool)
            raise OSError(-rc, f"stack configuration rejected ({os.strerror(-rc)}): check ip, "
                               f"gateway (inside the subnet), mtu (<= the link's) and sizes")
        self.backend_name = backend
        self.iface = iface
        self.ip = _ipv4_str(cfg.ip)
        self.prefix_len = cfg.prefix_len
        fn_stack_start(self.st, fn_clock_ns())

    @staticmethod
    def memory_pair(dict a, dict b, int mtu=1500):
        """Two stacks joined by the in-memory link (for tests and simulations): a and b are
        dicts of the constructor's ip/prefix_len/gateway/fault/pcap/knob arguments; a side's
        fault and pcap wrap that side's end of the link."""
        cdef Stack sa = Stack.__new__(Stack)
        cdef Stack sb = Stack.__new__(Stack)
        cdef fn_config ca, cb
        cdef fn_pool *pa = NULL
        cdef fn_pool *pb = NULL
        cdef fn_backend *ba = NULL
        cdef fn_backend *bb = NULL
        cdef int rc
        a = dict(a)
        b = dict(b)
        fault_a, pcap_a = a.pop("fault", None), a.pop("pcap", None)
        fault_b, pcap_b = b.pop("fault", None), b.pop("pcap", None)
        _fill_config(&ca, a.pop("ip"), a.pop("prefix_len", 24), a.pop("gateway", None),
                     a.pop("mtu", 0), a)
        _fill_config(&cb, b.pop("ip"), b.pop("prefix_len", 24), b.pop("gateway", None),
                     b.pop("mtu", 0), b)
        rc = fn_pool_create(ca.n_bufs, ca.buf_size, FN_POOL_HUGEPAGES if ca.hugepages else 0,
                            &pa)
        if rc == 0:
            rc = fn_pool_create(cb.n_bufs, cb.buf_size,
                                FN_POOL_HUGEPAGES if cb.hugepages else 0, &pb)
        if rc == 0:
            rc = fn_backend_memory_pair(pa, pb, mtu, NULL, NULL, &ba, &bb)
        if rc == 0:
            try:
                _wrap_backend(&ba, fault_a, pcap_a)
                _wrap_backend(&bb, fault_b, pcap_b)
            except BaseException:
                fn_backend_close(ba)
                fn_backend_close(bb)
                fn_pool_destroy(pa)
                fn_pool_destroy(pb)
                raise
        if rc == 0:
            rc = fn_stack_create(&ca, pa, ba, &sa.st)
            if rc == 0:
                ba = NULL
                pa = NULL
        if rc == 0:
            rc = fn_stack_create(&cb, pb, bb, &sb.st)
            if rc == 0:
                bb = NULL
                pb = NULL
        if rc < 0:
            fn_backend_close(ba)
            fn_backend_close(bb)
            fn_pool_destroy(pa)
            fn_pool_destroy(pb)
            sa.close()
            raise OSError(-rc, f"memory pair: {os.strerror(-rc)}")
        for s, c in ((sa, ca), (sb, cb)):
            s.backend_name = "memory"
            s.iface = "mem"
            s.ip = _ipv4_str(c.ip)
            s.prefix_len = c.prefix_len
            fn_stack_start(s.st, fn_clock_ns())
        return sa, sb

    cdef int _check(self) except -1:
        if self.st == NULL:
            raise ValueError("I/O operation on closed Stack")
        return 0

    cdef void _poll_peers(self, uint64_t now_ns) noexcept:
        cdef Stack p
        for o in self._peers:
            p = <Stack>o
            if p.st != NULL:
                fn_stack_poll(p.st, now_ns)

    def poll_while_blocked(self, *stacks):
        """While a blocking call on this stack (accept, connect, recv, send, a lingering
        close, Epoll.poll with a timeout) waits, poll these other stacks too, on every round
        of the wait (fn_socket_set_block_hook).  One thread can then run both ends of a
        connection, e.g. the two stacks of memory_pair().  No arguments: stop."""
        self._check()
        for o in stacks:
            if not isinstance(o, Stack):
                raise TypeError(f"expected Stack objects, not {type(o).__name__}")
            if o is self:
                raise ValueError("a stack always polls itself while blocked")
        self._peers = tuple(stacks)
        if self._peers:
            fn_socket_set_block_hook(self.st, _block_hook, <void *>self)
        else:
            fn_socket_set_block_hook(self.st, NULL, NULL)

    def poll(self, now=None):
        """One iteration (receive, input, timers, one flush).  Returns frames received."""
        cdef uint64_t t
        cdef int n
        self._check()
        t = fn_clock_ns() if now is None else now
        with nogil:
            n = fn_stack_poll(self.st, t)
        if n < 0:
            raise OSError(-n, f"backend failed: {os.strerror(-n)}")
        return n

    def next_deadline(self):
        """Monotonic ns of the next timer (0 = work pending now), or None."""
        self._check()
        d = fn_stack_next_deadline(self.st)
        return None if d == _UINT64_MAX else d

    def fileno(self):
        self._check()
        return fn_stack_fd(self.st)

    def run(self, duration=None, int max_sleep_ms=100):
        """Poll until duration seconds pass (None = until a signal handler raises).

        Sleeps in poll(2) on the backend's fd until the next stack timer when there is no
        work, so an idle stack uses no CPU.  Signals are checked at least every max_sleep_ms.
        """
        cdef uint64_t now, deadline, end
        cdef pollfd pfd
        cdef int n, timeout_ms
        cdef fn_stack *st
        self._check()
        if duration is not None and duration < 0:
            raise ValueError("duration must be >= 0")
        if max_sleep_ms < 1:
            raise ValueError("max_sleep_ms must be >= 1")
        st = self.st
        now = fn_clock_ns()
        end = _UINT64_MAX if duration is None else now + <uint64_t>(duration * 1e9)
        pfd.fd = fn_stack_fd(st)
        pfd.events = POLLIN
        while True:
            with nogil:
                n = fn_stack_poll(st, now)
            if n < 0:
                raise OSError(-n, f"backend failed: {os.strerror(-n)}")
            if PyErr_CheckSignals() < 0:
                raise
            now = fn_clock_ns()
            if now >= end:
                return
            if n > 0:
                continue
            deadline = fn_stack_next_deadline(st)
            if deadline <= now:
                continue
            if deadline > end:
                deadline = end
            timeout_ms = max_sleep_ms
            if deadline - now < <uint64_t>max_sleep_ms * 1000000:
                timeout_ms = <int>((deadline - now + 999999) // 1000000)
            with nogil:
                poll(&pfd if pfd.fd >= 0 else NULL, 1 if pfd.fd >= 0 else 0, timeout_ms)
            now = fn_clock_ns()

    def stats(self):
        """Counters of this stack: stack (by name), backend.*, pool.*.  backend.held is a
        gauge, the pool buffers the backend keeps for itself (rings, delay queues): what
        the stack and the application hold is pool.in_use - backend.held."""
        cdef fn_stats s
        cdef uint64_t *v
        cdef const fn_backend *be
        cdef fn_pool_stats ps
        self._check()
        fn_stack_get_stats(self.st, &s)
        v = <uint64_t *>&s
        out = {fn_stats_names[i].decode(): v[i] for i in range(FN_STATS_COUNT)}
        be = fn_stack_backend(self.st)
        bs = be.stats
        for k, val in bs.items():
            out["backend." + k] = val
        fn_pool_get_stats(fn_stack_pool(self.st), &ps)
        for k, val in ps.items():
            out["pool." + k] = val
        return out

    @property
    def mac(self):
        self._check()
        return _mac_str(fn_stack_backend(self.st).mac)

    @property
    def mtu(self):
        self._check()
        return fn_stack_backend(self.st).mtu

    def set_fault(self, dict fault):
        """Replace the faults of a stack made with fault= (same dict keys), e.g. {"drop": 1.0}
        once a connection is up: a link that goes dark.  {} removes every fault.  ValueError
        for a stack without a fault wrapper outermost (no fault=, or pcap= around it)."""
        cdef fn_fault_params fp
        self._check()
        _fill_fault(&fp, fault)
        if fn_backend_fault_set(<fn_backend *>fn_stack_backend(self.st), &fp) < 0:
            raise ValueError("set_fault needs a stack made with fault= (and without pcap=)")

    def arp_lookup(self, ip):
        """The MAC the ARP cache holds for ip, or None."""
        cdef uint8_t mac[6]
        self._check()
        if fn_stack_arp_lookup(self.st, _ipv4_be(ip, "ip"), mac):
            return _mac_str(mac)
        return None

    def arp_resolve(self, ip):
        """Start resolving ip (sends an ARP request unless already known)."""
        self._check()
        rc = fn_stack_arp_resolve(self.st, _ipv4_be(ip, "ip"), fn_clock_ns())
        if rc < 0:
            raise OSError(-rc, os.strerror(-rc))

    def ping(self, dst, int ident, int seq, bytes payload=b""):
        """Send one ICMP echo request (the reply shows in ping_replies())."""
        self._check()
        if not 0 <= ident <= 0xFFFF or not 0 <= seq <= 0xFFFF:
            raise ValueError("ident and seq must be 0..65535")
        if len(payload) > 65507:
            raise ValueError("payload larger than an IPv4 datagram can carry")
        rc = fn_stack_ping(self.st, _ipv4_be(dst, "dst"), ident, seq, <const char *>payload,
                           len(payload), fn_clock_ns())
        if rc < 0:
            raise OSError(-rc, os.strerror(-rc))

    def ping_replies(self):
        """(ident, seq) of the echo replies received since the last call."""
        cdef uint16_t ids[32]
        cdef uint16_t seqs[32]
        self._check()
        out = []
        while True:
            n = fn_stack_ping_replies(self.st, ids, seqs, 32)
            out.extend((ids[i], seqs[i]) for i in range(n))
            if n < 32:
                return out

    def socket(self, int family=_socket.AF_INET, int type=_socket.SOCK_STREAM, int proto=0,
               *, bint nonblocking=False):
        """A new socket on this stack, as socket.socket(family, type, proto): AF_INET and
        SOCK_STREAM only (else EAFNOSUPPORT / EPROTONOSUPPORT, as the C layer says).
        type | SOCK_NONBLOCK, or nonblocking=True, makes it non-blocking (timeout 0.0);
        otherwise its timeout is socket.getdefaulttimeout(), as Python's.  See Socket."""
        self._check()
        return Socket(self, family, type, proto, nonblocking)

    def epoll(self):
        """A new epoll set over this stack's sockets; see Epoll."""
        self._check()
        return Epoll(self)

    @property
    def socket_count(self):
        """Descriptors (sockets, epoll sets) open on this stack."""
        self._check()
        return fn_socket_count(self.st)

    def close(self):
        """Close the backend (detaching any XDP program) and free everything.  Returns the
        number of packet buffers that were still in use (0 = no leak).  Idempotent."""
        cdef uint32_t leaked
        if self.st == NULL:
            return 0
        if self._zc_exports:
            # As mmap.close(): the region must outlive every view of it.
            raise BufferError("cannot close the stack: views of its buffers (Socket."
                              "recv_borrow / send_buffer) are still exported")
        leaked = fn_stack_destroy(self.st)
        self.st = NULL
        self._peers = ()
        return leaked

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __dealloc__(self):
        if self.st != NULL:
            fn_stack_destroy(self.st)
            self.st = NULL


# --------------------------------------------------------------------------------------
# Sockets over the stack (stack/include/fastnet/fn_socket.h, fn_event.h)

_AF_INET = _socket.AF_INET
_SOCK_STREAM = _socket.SOCK_STREAM
_SOCK_NONBLOCK = _socket.SOCK_NONBLOCK
_SOL_SOCKET = _socket.SOL_SOCKET
_SO_RCVTIMEO = _socket.SO_RCVTIMEO
_SO_SNDTIMEO = _socket.SO_SNDTIMEO
_MSG_WAITALL = _socket.MSG_WAITALL
_FIONBIO = 0x5421
_EAGAIN = 11
_EINPROGRESS = 115
_EALREADY = 114
_EOPNOTSUPP = 95
_EBADF = 9
_EPOLL_CTL_ADD, _EPOLL_CTL_DEL, _EPOLL_CTL_MOD = 1, 2, 3
# The most a timeout may be, as CPython's (a signed 64-bit count of nanoseconds).
_MAX_TIMEOUT_S = (2 ** 63 - 1) / 1e9
# recv(n) allocates min(n, this) bytes unless MSG_WAITALL: a stream recv may return less
# than asked, and no receive window holds more.
_RECV_CHUNK = 1 << 24
_EPOLL_MAX_EVENTS = 1 << 16
_INT_MIN, _INT_MAX = -(2 ** 31), 2 ** 31 - 1
# A blocking call waits in the C layer for at most this long at a time, then checks for
# signals (PEP 475: a handler that raises ends the call, otherwise it goes on waiting).
_SLICE_S = 0.1


cdef inline object _oserror(int err, what):
    # OSError picks the subclass from errno (ConnectionRefusedError, BrokenPipeError, ...).
    return OSError(err, f"{what}: {os.strerror(err)}")


cdef inline object _ebadf():
    return OSError(_EBADF, os.strerror(_EBADF))


def _check_timeout(value):
    """A socket timeout as Python's settimeout() takes it: None, or seconds >= 0."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueError("Invalid value NaN (not a number)")
    else:
        value = operator.index(value)
    if value < 0:
        raise ValueError("Timeout value out of range")
    if value > _MAX_TIMEOUT_S:
        raise OverflowError("timeout too large")
    return float(value)


cdef int _sockaddr_from(addr, sockaddr_in *sin) except -1:
    if not isinstance(addr, tuple) or len(addr) != 2:
        raise TypeError("AF_INET address must be a tuple (host, port)")
    host, port = addr
    if not isinstance(host, str) and host is not None:
        raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
    port = operator.index(port)
    if not 0 <= port <= 65535:
        raise OverflowError("bind(): port must be 0-65535.")
    memset(sin, 0, sizeof(sin[0]))
    sin.sin_family = _AF_INET
    sin.sin_port = ((port & 0xff) << 8) | (port >> 8)
    if not host:
        host = "0.0.0.0"
    try:
        sin.sin_addr.s_addr = _ipv4_be(host, "host")
    except ValueError:
        # Names are not resolved (the stack has no resolver): as getaddrinfo fails.
        raise _socket.gaierror(_socket.EAI_NONAME, "Name or service not known") from None
    return 0


cdef object _sockaddr_to(const sockaddr_in *sin):
    return (_ipv4_str(sin.sin_addr.s_addr), ((sin.sin_port & 0xff) << 8) | (sin.sin_port >> 8))


# No tp_clear: the cycle collector must leave stack / sock in place for __dealloc__ and
# __releasebuffer__ (a Socket and the Borrowed it keeps refer to each other; the lists
# between them are what the collector clears).
@cython.no_gc_clear
cdef class Socket:
    """A TCP socket on a fastnet Stack, used like socket.socket (AF_INET, SOCK_STREAM).

    Methods behave as Python's on Linux: errors raise OSError subclasses with the errno
    Linux gives (ConnectionRefusedError, ConnectionResetError, BrokenPipeError, ...);
    settimeout(t) makes blocking calls give up with TimeoutError; non-blocking calls raise
    BlockingIOError; any call after close() raises OSError(EBADF).  A blocking call drives
    its own stack (and those named by Stack.poll_while_blocked) until it can complete.

    fileno() returns the descriptor in the stack's own table (also `fd`): it is what
    Epoll.poll() reports and what Epoll.register() takes, as with select.epoll and kernel
    sockets, but it is not a kernel fd — never hand it to os.*, select.select or selectors.
    """
    cdef readonly Stack stack
    cdef readonly int fd
    cdef object _timeout
    cdef list _borrows              # Borrowed not yet given back to C, oldest first
    cdef list _sendbufs             # SendBuffer lent and not yet sent or freed
    cdef Py_ssize_t _zc_exports     # live buffer exports of its lent buffers
    # makefile() bookkeeping under socket.socket's names (socket.SocketIO calls
    # _decref_socketios): the descriptor is closed once close() was called and the last
    # file object made by makefile() is closed.
    cdef public int _io_refs
    cdef public bint _closed

    def __cinit__(self):
        self.fd = -1
        self._borrows = []
        self._sendbufs = []

    def __init__(self, Stack stack, int family=_AF_INET, int type=_SOCK_STREAM, int proto=0,
                 bint nonblocking=False):
        cdef int fd
        stack._check()
        nonblocking = nonblocking or bool(type & _SOCK_NONBLOCK)
        fd = fn_socket(stack.st, family, type | (_SOCK_NONBLOCK if nonblocking else 0), proto)
        if fd < 0:
            raise _oserror(errno, "socket")
        self.stack = stack
        self.fd = fd
        self._timeout = None
        self.settimeout(0.0 if nonblocking else _socket.getdefaulttimeout())

    cdef fn_stack *_st(self) except NULL:
        if self.fd < 0 or self.stack.st == NULL:
            raise _ebadf()
        return self.stack.st

    cdef int _fail(self, what) except -1:
        return self._fail_err(errno, what)

    cdef int _fail_err(self, int err, what) except -1:
        if err == _EAGAIN and self._timeout is not None and self._timeout > 0:
            raise TimeoutError("timed out")
        raise _oserror(err, what)

    cdef int _set_timeo(self, double seconds) except -1:
        """SO_RCVTIMEO and SO_SNDTIMEO of the C socket (0: no limit)."""
        cdef long long us = 0 if seconds <= 0 else max(1, <long long>(seconds * 1e6))
        tv = struct.pack("qq", us // 1000000, us % 1000000)
        for opt in (_SO_RCVTIMEO, _SO_SNDTIMEO):
            self.setsockopt(_SOL_SOCKET, opt, tv)
        return 0

    cdef bint _again(self, double *deadline) except -1:
        """After a blocking wait of one slice ended with EAGAIN: run signal handlers, then
        True to wait again, False if the socket's own timeout has expired."""
        cdef double now
        if self._timeout == 0.0 or (self._timeout is not None and self._timeout <= _SLICE_S):
            return False
        if PyErr_CheckSignals() < 0:
            raise
        if self._timeout is None:
            return True
        now = fn_clock_ns() / 1e9
        if deadline[0] == 0:
            deadline[0] = now + self._timeout - _SLICE_S
        if now >= deadline[0]:
            return False
        self._set_timeo(min(deadline[0] - now, _SLICE_S))
        return True

    cdef int _end_wait(self, double deadline) except -1:
        """Back to the one-slice timeouts once a call shortened them (see _again)."""
        if deadline != 0 and self.fd >= 0 and self.stack.st != NULL:
            self._set_timeo(_SLICE_S)
        return 0

    @property
    def family(self):
        return _socket.AF_INET

    @property
    def type(self):
        return _socket.SOCK_STREAM

    @property
    def proto(self):
        return 0

    def fileno(self):
        """The fastnet descriptor (-1 once closed); not a kernel fd (see the class doc)."""
        return self.fd

    def bind(self, address):
        cdef sockaddr_in sin
        cdef fn_stack *st = self._st()
        _sockaddr_from(address, &sin)
        if fn_bind(st, self.fd, <sockaddr *>&sin, sizeof(sin)) < 0:
            self._fail("bind")

    def listen(self, int backlog=128):
        """A negative backlog means 0, as Python's (the C layer caps it at 4096)."""
        if fn_listen(self._st(), self.fd, max(backlog, 0)) < 0:
            self._fail("listen")

    def accept(self):
        """Returns (Socket, (host, port)).  The new socket is blocking (timeout
        socket.getdefaulttimeout()), whatever the listener's mode, as Python's."""
        cdef sockaddr_in sin
        cdef socklen_t len = sizeof(sin)
        cdef fn_stack *st = self._st()
        cdef int fd, err = 0
        cdef double deadline = 0
        try:
            while True:
                with nogil:
                    fd = fn_accept4(st, self.fd, <sockaddr *>&sin, &len, 0)
                err = errno
                if fd >= 0 or err != _EAGAIN or not self._again(&deadline):
                    break
        finally:
            self._end_wait(deadline)
        if fd < 0:
            self._fail_err(err, "accept")
        cdef Socket so = Socket.__new__(Socket)
        so.stack = self.stack
        so.fd = fd
        so._timeout = None
        so.settimeout(_socket.getdefaulttimeout())
        return so, _sockaddr_to(&sin)

    def connect(self, address):
        """Blocking: waits for the handshake in slices like recv, so a signal handler that
        raises ends the call with its exception (PEP 475; the attempt goes on, as with a
        kernel socket: a later connect() reports it); TimeoutError once the timeout
        passed."""
        cdef sockaddr_in sin
        cdef fn_stack *st = self._st()
        cdef int rc, err = 0
        cdef double deadline = 0
        _sockaddr_from(address, &sin)
        try:
            while True:
                with nogil:
                    rc = fn_connect(st, self.fd, <sockaddr *>&sin, sizeof(sin))
                err = errno
                # Each slice ends in EINPROGRESS (the first call) or EALREADY (a retry of the
                # same attempt); the attempt's outcome comes from whichever call sees it.
                if rc == 0 or self._timeout == 0.0 or (err != _EINPROGRESS and
                                                       err != _EALREADY):
                    break
                if not self._again(&deadline):
                    break
        finally:
            self._end_wait(deadline)
        if rc < 0:
            if ((err == _EINPROGRESS or err == _EALREADY) and self._timeout is not None and
                    self._timeout > 0):
                raise TimeoutError("timed out")
            self._fail_err(err, "connect")

    def connect_ex(self, address):
        """connect() returning the errno instead of raising (0 on success; EAGAIN when a
        timeout expired, as Python's).  Bad arguments still raise."""
        try:
            self.connect(address)
        except TimeoutError:
            return _EAGAIN
        except OSError as e:
            if e.errno is None or isinstance(e, _socket.gaierror):
                raise
            return e.errno
        return 0

    def recv(self, bufsize, int flags=0):
        cdef Py_ssize_t n = bufsize
        if n < 0:
            raise ValueError("negative buffersize in recv")
        buf = bytearray(n if flags & _MSG_WAITALL else min(n, _RECV_CHUNK))
        got = self.recv_into(buf, len(buf), flags)
        del buf[got:]
        return bytes(buf)

    def recv_into(self, buffer, nbytes=0, int flags=0):
        cdef Py_buffer view
        cdef fn_stack *st = self._st()
        cdef Py_ssize_t want = nbytes
        cdef ssize_t n
        cdef int err = 0
        cdef double deadline = 0
        if want < 0:
            raise ValueError("negative buffersize in recv_into")
        try:
            PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE | PyBUF_WRITABLE)
        except BufferError:
            raise TypeError("recv_into() argument 'buffer' must be read-write bytes-like "
                            f"object, not {type(buffer).__name__}") from None
        try:
            if want > view.len:
                raise ValueError("buffer too small for requested bytes")
            if want == 0:
                want = view.len
            while True:
                with nogil:
                    n = fn_recv(st, self.fd, view.buf, <size_t>want, flags)
                err = errno
                if n >= 0 or err != _EAGAIN or not self._again(&deadline):
                    break
        finally:
            PyBuffer_Release(&view)
            self._end_wait(deadline)
        if n < 0:
            self._fail_err(err, "recv")
        return n

    def send(self, data, int flags=0):
        cdef Py_buffer view
        cdef fn_stack *st = self._st()
        cdef ssize_t n
        cdef int err = 0
        cdef double deadline = 0
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            while True:
                with nogil:
                    n = fn_send(st, self.fd, view.buf, <size_t>view.len, flags)
                err = errno
                if n >= 0 or err != _EAGAIN or not self._again(&deadline):
                    break
        finally:
            PyBuffer_Release(&view)
            self._end_wait(deadline)
        if n < 0:
            self._fail_err(err, "send")
        return n

    def sendall(self, data, int flags=0):
        """Send everything; None on success.  A blocking socket waits for room, the timeout
        bounding the whole call as in CPython since 3.5 (TimeoutError, however much went);
        a non-blocking one raises BlockingIOError when the buffer fills."""
        cdef Py_buffer view
        cdef fn_stack *st = self._st()
        cdef ssize_t n = 0
        cdef Py_ssize_t off = 0
        cdef int err = 0
        cdef double deadline = 0, end = 0, now
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            if self._timeout is not None and self._timeout > 0:
                end = fn_clock_ns() / 1e9 + self._timeout
                if self._timeout > _SLICE_S:
                    deadline = end - _SLICE_S     # _again counts from the call's start
            while off < view.len:
                with nogil:
                    n = fn_send(st, self.fd, <char *>view.buf + off, <size_t>(view.len - off),
                                flags)
                err = errno
                if n >= 0:
                    # Part went: a wait that ended with progress, still within the call's
                    # time (PEP 475: handlers run between waits).
                    off += n
                    if off >= view.len or self._timeout == 0.0:
                        continue
                    if PyErr_CheckSignals() < 0:
                        raise
                    if end != 0:
                        now = fn_clock_ns() / 1e9
                        if now >= end:
                            n, err = -1, _EAGAIN
                            break
                        if deadline != 0:
                            self._set_timeo(min(end - now, _SLICE_S))
                    continue
                if err != _EAGAIN or not self._again(&deadline):
                    break
        finally:
            PyBuffer_Release(&view)
            self._end_wait(deadline)
        if n < 0:
            self._fail_err(err, "sendall")

    def shutdown(self, int how):
        if fn_shutdown(self._st(), self.fd, how) < 0:
            self._fail("shutdown")

    def setblocking(self, bint flag):
        self.settimeout(None if flag else 0.0)

    def getblocking(self):
        return self._timeout != 0.0

    def settimeout(self, value):
        """None: blocking; 0: non-blocking; t > 0: blocking calls give up after t s
        (TimeoutError).  TypeError, ValueError (negative, NaN), OverflowError as Python's."""
        cdef int nb
        cdef fn_stack *st
        value = _check_timeout(value)
        st = self._st()
        nb = 1 if value == 0.0 else 0
        if fn_ioctl(st, self.fd, _FIONBIO, &nb) < 0:
            self._fail("settimeout")
        self._set_timeo(_SLICE_S if value is None else min(value, _SLICE_S))
        self._timeout = value

    def gettimeout(self):
        return self._timeout

    def setsockopt(self, int level, int optname, value):
        """value: an int, or a bytes-like object passed as is (struct linger, timeval)."""
        cdef int iv
        cdef Py_buffer view
        cdef fn_stack *st = self._st()
        cdef int rc
        if isinstance(value, int) and _INT_MIN <= value <= _INT_MAX:
            iv = value
            rc = fn_setsockopt(st, self.fd, level, optname, &iv, sizeof(iv))
        else:
            PyObject_GetBuffer(value, &view, PyBUF_SIMPLE)
            try:
                rc = fn_setsockopt(st, self.fd, level, optname, view.buf, <socklen_t>view.len)
            finally:
                PyBuffer_Release(&view)
        if rc < 0:
            self._fail("setsockopt")

    def getsockopt(self, int level, int optname, int buflen=0):
        """An int, or with buflen 1..1024 the raw bytes (at most buflen), as Python's."""
        cdef int iv = 0
        cdef socklen_t len
        cdef char raw[1024]
        cdef fn_stack *st = self._st()
        if buflen == 0:
            len = sizeof(iv)
            if fn_getsockopt(st, self.fd, level, optname, &iv, &len) < 0:
                self._fail("getsockopt")
            return iv
        if buflen < 0 or buflen > 1024:
            raise OSError("getsockopt buflen out of range")
        len = buflen
        if fn_getsockopt(st, self.fd, level, optname, raw, &len) < 0:
            self._fail("getsockopt")
        return raw[:len]

    cdef object _name(self, bint peer):
        cdef sockaddr_in sin
        cdef socklen_t len = sizeof(sin)
        cdef fn_stack *st = self._st()
        cdef int rc
        if peer:
            rc = fn_getpeername(st, self.fd, <sockaddr *>&sin, &len)
        else:
            rc = fn_getsockname(st, self.fd, <sockaddr *>&sin, &len)
        if rc < 0:
            self._fail("getpeername" if peer else "getsockname")
        return _sockaddr_to(&sin)

    def getsockname(self):
        return self._name(False)

    def getpeername(self):
        return self._name(True)

    def recv_borrow(self, int maxsegs=64, int flags=0):
        """Receive without copying: a Borrowed holding read-only memoryviews of up to
        maxsegs (1..64) of the stack's own receive buffers, oldest first; empty at EOF.
        The data is read (recv goes on after it), but until the Borrowed is released
        (release(), or the end of its with-block) the bytes keep the receive window closed
        by as much.  Waits and raises as recv does; flags: MSG_DONTWAIT only."""
        cdef fn_zc_iov iov[64]
        cdef fn_stack *st = self._st()
        cdef ssize_t n
        cdef int err = 0
        cdef double deadline = 0
        if maxsegs < 1 or maxsegs > 64:
            raise ValueError("maxsegs must be in 1..64")
        try:
            while True:
                with nogil:
                    n = fn_zc_recv(st, self.fd, iov, maxsegs, flags)
                err = errno
                if n >= 0 or err != _EAGAIN or not self._again(&deadline):
                    break
        finally:
            self._end_wait(deadline)
        if n < 0:
            self._fail_err(err, "recv_borrow")
        cdef Borrowed b = Borrowed.__new__(Borrowed)
        b._sock = self
        b._bufs = []
        b._views = []
        b.nbytes = 0
        for i in range(n):
            zb = _ZcBuf._new(self, <char *>iov[i].base, <Py_ssize_t>iov[i].len, False)
            b._bufs.append(zb)
            b._views.append(memoryview(zb))
            b.nbytes += iov[i].len
        if n > 0:
            self._borrows.append(b)
        return b

    cdef int _borrow_done(self) except -1:
        """Give C the buffers of the released Borrowed at the head of the list (C takes
        them back oldest first)."""
        cdef int count = 0
        while self._borrows and (<Borrowed>self._borrows[0])._released:
            count += len((<Borrowed>self._borrows.pop(0))._bufs)
        if count and self.fd >= 0 and self.stack.st != NULL:
            if fn_zc_release(self.stack.st, self.fd, count) < 0:
                self._fail("recv_borrow release")
        return 0

    def send_buffer(self):
        """Send without copying: a SendBuffer, one of the stack's pool buffers (capacity
        bytes) to fill through its `view` and queue with send(n).  OSError(ENOBUFS) when the
        pool (or this connection's share of it) has none now; BrokenPipeError etc. as
        send."""
        cdef size_t cap = 0
        cdef void *p = fn_zc_alloc(self._st(), self.fd, &cap)
        if p == NULL:
            self._fail_err(errno, "send_buffer")
        cdef SendBuffer sb = <SendBuffer>_ZcBuf._new(self, <char *>p, <Py_ssize_t>cap, True)
        sb.view = memoryview(sb)
        self._sendbufs.append(sb)
        return sb

    cdef int _zc_forget(self) except -1:
        """Before close: release the views this module made of lent buffers; refuse if the
        caller still holds others (their memory goes back to the pool on close)."""
        for b in self._borrows:
            (<Borrowed>b)._release_views()
        for sb in self._sendbufs:
            (<SendBuffer>sb)._release_view()
        if self._zc_exports:
            raise BufferError("cannot close the socket: views of its borrowed or send "
                              "buffers are still exported")
        for b in self._borrows:
            (<Borrowed>b)._invalidate()
        for sb in self._sendbufs:
            (<_ZcBuf>sb).valid = False
        self._borrows = []
        self._sendbufs = []
        return 0

    def makefile(self, mode="r", buffering=None, *, encoding=None, errors=None,
                 newline=None):
        """A file object over the socket, exactly as socket.socket.makefile (it is that
        code: a socket.SocketIO raw stream over recv_into / send, buffered and decoded as
        asked).  The socket closes once close() was called and every such file is closed."""
        return _socket.socket.makefile(self, mode, buffering, encoding=encoding,
                                       errors=errors, newline=newline)

    def _decref_socketios(self):
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()

    def dup(self):
        """Not supported: one descriptor of the stack's table per socket (no reference
        count to share).  Raises OSError(EOPNOTSUPP)."""
        self._st()
        raise OSError(_EOPNOTSUPP, "dup: a fastnet socket cannot be duplicated")

    def close(self):
        """Close the socket (graceful, or a RST as fn_close decides).  Idempotent.  With
        file objects from makefile() still open, the descriptor closes with the last one,
        as socket.socket's.  Buffers still borrowed or lent for sending go back to the
        stack; BufferError if a view of one is still exported (as mmap.close)."""
        cdef fn_stack *st
        self._closed = True
        if self._io_refs > 0:
            return
        if self.fd < 0 or self.stack is None or self.stack.st == NULL:
            self.fd = -1
            return
        self._zc_forget()
        st = self.stack.st
        with nogil:
            fn_close(st, self.fd)
        self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        closed = self.fd < 0 or self.stack is None or self.stack.st == NULL
        out = (f"<fastnet.Socket{' [closed]' if closed else ''} fd={self.fd}, "
               f"family={_AF_INET}, type={_SOCK_STREAM}, proto=0")
        if not closed:
            for what, peer in (("laddr", False), ("raddr", True)):
                try:
                    out += f", {what}={self._name(peer)}"
                except OSError:
                    pass
        return out + ">"

    def __dealloc__(self):
        # A socket nobody holds is closed, as Python's (from another thread: EPERM, no-op).
        if self.fd >= 0 and self.stack is not None and self.stack.st != NULL:
            fn_close(self.stack.st, self.fd)


@cython.no_gc_clear
cdef class _ZcBuf:
    """One pool buffer lent to Python, exported through the buffer protocol while valid.
    Exports are counted on the buffer, its socket and its stack, so that nothing gives the
    memory back (release, send, close) while a view of it is alive."""
    cdef Socket sock
    cdef char *base
    cdef Py_ssize_t size
    cdef bint writable
    cdef bint valid
    cdef Py_ssize_t exports

    @staticmethod
    cdef _ZcBuf _new(Socket sock, char *base, Py_ssize_t size, bint writable):
        cdef _ZcBuf b = (SendBuffer if writable else _ZcBuf).__new__(
            SendBuffer if writable else _ZcBuf)
        b.sock = sock
        b.base = base
        b.size = size
        b.writable = writable
        b.valid = True
        return b

    def __getbuffer__(self, Py_buffer *view, int flags):
        if not self.valid:
            raise ValueError("the buffer was given back to the stack")
        PyBuffer_FillInfo(view, self, self.base, self.size, not self.writable, flags)
        self.exports += 1
        self.sock._zc_exports += 1
        self.sock.stack._zc_exports += 1

    def __releasebuffer__(self, Py_buffer *view):
        self.exports -= 1
        self.sock._zc_exports -= 1
        self.sock.stack._zc_exports -= 1


@cython.no_gc_clear
cdef class Borrowed:
    """Received data lent by the stack (Socket.recv_borrow): read-only memoryviews of its
    receive buffers, valid until release() (or the end of the with-block).  Iterating
    gives the views; len() is their count, nbytes their total.  release() releases the
    views; BufferError if a view derived from them is still alive (the data stays
    borrowed: release that view and call release() again).  Borrowed objects of one socket
    go back to the stack in the order they were received."""
    cdef Socket _sock
    cdef list _bufs
    cdef list _views
    cdef readonly Py_ssize_t nbytes
    cdef bint _released

    @property
    def views(self):
        if self._released:
            raise ValueError("borrowed data was released")
        return tuple(self._views)

    @property
    def released(self):
        return self._released

    def __len__(self):
        return len(self._bufs)

    def __iter__(self):
        return iter(self.views)

    def tobytes(self):
        """A copy of the data, as one bytes object."""
        return b"".join(self.views)

    cdef int _release_views(self) except -1:
        for v in self._views:
            v.release()
        return 0

    cdef int _invalidate(self):
        for zb in self._bufs:
            (<_ZcBuf>zb).valid = False
        self._released = True
        return 0

    def release(self):
        if self._released:
            return
        self._release_views()
        for zb in self._bufs:
            if (<_ZcBuf>zb).exports:
                raise BufferError("a view of borrowed data is still alive")
        self._invalidate()
        self._sock._borrow_done()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        state = "released" if self._released else f"{len(self._bufs)} buffers"
        return f"<fastnet.Borrowed {self.nbytes} bytes, {state}>"


cdef class SendBuffer(_ZcBuf):
    """A pool buffer to send without copying (Socket.send_buffer): write up to `capacity`
    bytes through `view` (a writable memoryview; the object itself is a buffer too), then
    send(n) queues its first n bytes as they are.  Until sent it is the caller's: free()
    (or the end of its with-block) gives it back unsent, close() of the socket too."""
    cdef readonly object view

    @property
    def capacity(self):
        return self.size

    @property
    def sent(self):
        return not self.valid

    cdef int _release_view(self) except -1:
        if self.view is not None:
            self.view.release()
        return 0

    cdef int _give_back(self) except -1:
        self._release_view()
        if self.exports:
            raise BufferError("a view of the send buffer is still alive")
        return 0

    def send(self, Py_ssize_t nbytes, int flags=0):
        """Queue the first nbytes (0..capacity); returns nbytes.  Waits for room as a
        blocking send does (the buffer goes whole or not at all); raises as send, the
        buffer staying the caller's."""
        cdef Socket so = self.sock
        cdef fn_stack *st
        cdef ssize_t n
        cdef int err = 0
        cdef double deadline = 0
        if not self.valid:
            raise ValueError("the buffer was given back to the stack")
        if nbytes < 0 or nbytes > self.size:
            raise ValueError("nbytes must be in 0..capacity")
        st = so._st()
        self._give_back()
        try:
            while True:
                with nogil:
                    n = fn_zc_send(st, so.fd, self.base, <size_t>nbytes, flags)
                err = errno
                if n >= 0 or err != _EAGAIN or not so._again(&deadline):
                    break
        finally:
            so._end_wait(deadline)
        if n < 0:
            self.view = memoryview(self)
            so._fail_err(err, "send_buffer")
        self.valid = False
        so._sendbufs.remove(self)
        return n

    def free(self):
        """Give the buffer back unsent.  Idempotent."""
        cdef Socket so = self.sock
        if not self.valid:
            return
        self._give_back()
        self.valid = False
        so._sendbufs.remove(self)
        if so.fd >= 0 and so.stack.st != NULL:
            fn_zc_free(so.stack.st, so.fd, self.base)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()

    def __repr__(self):
        return (f"<fastnet.SendBuffer capacity={self.size}"
                f"{', sent or freed' if not self.valid else ''}>")


cdef class Epoll:
    """An epoll set over one Stack's sockets, used like select.epoll: register / modify /
    unregister take a Socket of that stack (or its fileno()) and a mask of select.EPOLL*
    bits; poll(timeout, maxevents) returns [(fd, events), ...].  poll with a timeout other
    than 0 drives the stack (and the stacks of Stack.poll_while_blocked) while it waits;
    poll(0) only reports (the caller runs Stack.poll).  Closed: ValueError, as Python's."""
    cdef readonly Stack stack
    cdef int epfd

    def __cinit__(self):
        self.epfd = -1

    def __init__(self, Stack stack, int sizehint=-1, int flags=0):
        stack._check()
        if sizehint == 0 or sizehint < -1:
            raise ValueError("negative sizehint")
        self.epfd = fn_epoll_create1(stack.st, flags)
        if self.epfd < 0:
            raise _oserror(errno, "epoll")
        self.stack = stack

    cdef fn_stack *_st(self) except NULL:
        if self.epfd < 0 or self.stack.st == NULL:
            raise ValueError("I/O operation on closed epoll object")
        return self.stack.st

    cdef int _fd_of(self, sock) except? -1:
        cdef int fd
        if isinstance(sock, Socket) and (<Socket>sock).stack is not self.stack:
            raise ValueError("the socket belongs to another Stack")
        if isinstance(sock, int):
            fd = sock
        elif hasattr(sock, "fileno"):
            fd = operator.index(sock.fileno())
        else:
            raise TypeError("argument must be an int, or have a fileno() method.")
        if fd < 0:
            raise ValueError(f"file descriptor cannot be a negative integer ({fd})")
        return fd

    cdef int _ctl(self, int op, sock, uint32_t mask) except -1:
        cdef epoll_event ev
        cdef fn_stack *st = self._st()
        cdef int fd = self._fd_of(sock)
        ev.events = mask
        ev.data.u64 = <uint64_t>fd
        if fn_epoll_ctl(st, self.epfd, op, fd, &ev) < 0:
            raise _oserror(errno, "epoll_ctl")
        return 0

    def register(self, fd, unsigned int eventmask=_select.EPOLLIN | _select.EPOLLPRI
                 | _select.EPOLLOUT):
        self._ctl(_EPOLL_CTL_ADD, fd, eventmask)

    def modify(self, fd, unsigned int eventmask):
        self._ctl(_EPOLL_CTL_MOD, fd, eventmask)

    def unregister(self, fd):
        self._ctl(_EPOLL_CTL_DEL, fd, 0)

    def poll(self, timeout=None, int maxevents=-1):
        """timeout in seconds (None or negative: wait until something is ready)."""
        cdef epoll_event *evs
        cdef fn_stack *st = self._st()
        cdef int ms, n
        if timeout is None:
            ms = -1
        elif not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
            raise TypeError("timeout must be an integer or None")
        elif timeout < 0:
            ms = -1
        else:
            if timeout > _MAX_TIMEOUT_S:
                raise OverflowError("timeout is too large")
            ms = <int>min(math.ceil(float(timeout) * 1000.0), 2147483647.0)
        if maxevents == -1:
            maxevents = 1023
        elif maxevents <= 0:
            raise ValueError(f"maxevents must be greater than 0, got {maxevents}")
        maxevents = min(maxevents, _EPOLL_MAX_EVENTS)
        evs = <epoll_event *>PyMem_Malloc(maxevents * sizeof(epoll_event))
        if evs == NULL:
            raise MemoryError()
        try:
            n = self._wait(st, evs, maxevents, ms)
            return [(<int>evs[i].data.u64, evs[i].events) for i in range(n)]
        finally:
            PyMem_Free(evs)

    cdef int _wait(self, fn_stack *st, epoll_event *evs, int maxevents, int ms) except -1:
        """fn_epoll_wait in slices of _SLICE_S, running signal handlers between them."""
        cdef int n, step
        cdef int slice_ms = <int>(_SLICE_S * 1000)
        cdef uint64_t end = fn_clock_ns() + <uint64_t>ms * 1000000 if ms > 0 else 0
        cdef uint64_t now
        while True:
            step = slice_ms if ms < 0 or ms > slice_ms else ms
            with nogil:
                n = fn_epoll_wait(st, self.epfd, evs, maxevents, step)
            if n < 0:
                raise _oserror(errno, "epoll_wait")
            if n > 0 or ms == 0:
                return n
            if PyErr_CheckSignals() < 0:
                raise
            if ms > 0:
                now = fn_clock_ns()
                if now >= end:
                    return 0
                ms = <int>((end - now + 999999) // 1000000)

    @property
    def closed(self):
        return self.epfd < 0 or self.stack is None or self.stack.st == NULL

    def fileno(self):
        """The epoll set's fastnet descriptor (not a kernel fd)."""
        self._st()
        return self.epfd

    def close(self):
        if self.epfd >= 0 and self.stack is not None and self.stack.st != NULL:
            fn_close(self.stack.st, self.epfd)
        self.epfd = -1

    def __dealloc__(self):
        if self.epfd >= 0 and self.stack is not None and self.stack.st != NULL:
            fn_close(self.stack.st, self.epfd)

    def __enter__(self):
        self._st()
        return self

    def __exit__(self, *exc):
        self.close()


# The asyncio engine (fastnet.loop builds on it).
include "_loop.pxi"
