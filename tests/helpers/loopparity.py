"""Targets of the loop parity suite (tests/test_loop_parity.py): one event loop per test, with
one way of making servers and one way of making client connections.

Contract: a target class is mixed into a test class together with the suite's test mixin;
its autouse fixture gives the test `self.loop`; `self.run` runs the test coroutine under a
timeout and then checks that nothing went to the loop's exception handler and, on fastnet,
that `loop.fastnet_handles()` is back to its baseline (no stack sockets, transports or
servers; the buffer pool as it was).  The tests only use these methods, so
the assertions are identical on every target:

  create_server(factory, **kw) -> Server        start_server(cb, **kw) -> Server
  server_addr(server) -> (host, port)           connect(factory, addr, **kw) -> (tr, pr)
  open_connection(addr, **kw) -> (r, w)         refused_addr() -> an address nobody serves
  bind_host / foreign_host: an address the loop serves itself / one it cannot serve
  client_host: where this target's clients connect (for argument checks)
  client_bind_host: the address this target's clients have (connect(local_addr=...))
  fastnet_sides: which ends are fastnet's; clients_by_address / servers_by_address:
  False where that end is a kernel socket handed over with sock=
  cut(port): from then on every TCP segment to or from the server port `port` is dropped,
  both ways, as on a link gone dark (only in tests made with async_test(blackhole=True)):
  the stock loop's and the kernel peers' sockets lose them to an nftables table (input and
  output hooks) in the namespace they live in — for the stock target that is the testnet's
  peer namespace, where such a test runs whole, on its loopback; two fastnet stacks lose
  them to the memory link's fault wrapper (Stack.set_fault(drop=1.0)).

  StockTarget        (a) asyncio's own loop, kernel sockets on 127.0.0.1
  FastnetPairTarget  (b) fastnet, two stacks over the memory link in one loop: servers on
                         a.ip, clients connect to a.ip and go out through b
  FastnetServesKernel (c) fastnet stack in the testnet's stack namespace serves; clients are
                         kernel sockets made in the peer namespace, connected with
                         loop.sock_connect and handed over with sock=
  KernelServesFastnet (c) the server is a kernel socket made in the peer namespace, passed
                         with create_server(sock=); fastnet clients connect to the peer

The testnet for (c) is made once per module (fixture `lp_testnet`, which a test module
imports).  Addresses: 198.19.33.0/24 is this suite's; (b) uses .1/.2, (c) .128/26.
Only the peer's address and .3 / the peer's +1 (never assigned: bind must fail) are used.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import os
import random
import socket
import ssl
import tempfile
import time

import pytest

from fastnet import testnet

from .netns_ctx import in_netns
from .nftcut import nft_cut

PAIR_A, PAIR_B, PAIR_PREFIX = "198.19.33.1", "198.19.33.2", 26
TESTNET_NAME, TESTNET_PREFIX = "lpa", "198.19.33.128/26"
TLS_HOSTNAME = "fastnet.test"
TEST_TIMEOUT = 30.0
LEAK_SETTLE_S = 3.0

# Room for the suite's widest test (1,000 concurrent connections, each end on one stack in
# (b)) and for 16 MiB transfers: every connection, listener and TIME_WAIT needs a control
# block and a socket; hugepages off so the suite leaves the machine's hugepages to others.
STACK_KNOBS = {
    "n_bufs": 32768,
    "hugepages": 0,
    "tcp_max_conns": 4096,
    "tcp_max_sockets": 4096,
    "tcp_syncache_size": 2048,
    "tcp_msl_ms": 1000,
}
BACKLOG = 2048


def async_test(timeout: float = TEST_TIMEOUT, blackhole: bool = False):
    """Turn `async def test_x(self, ...)` into a test that runs on the target's loop;
    blackhole: the test may call self.cut() (the target prepares for it)."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            self.run(fn(self, *args, **kwargs), timeout)
        wrapper.blackhole = blackhole
        return wrapper
    return deco


@functools.lru_cache(maxsize=None)
def payload(n: int, seed: int = 5) -> bytes:
    return random.Random(seed).randbytes(n)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _kernel_port_nobody_serves(host: str) -> int:
    """A port bound for a moment and released: nothing listens there afterwards."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class _TLS:
    """A self-signed certificate for TLS_HOSTNAME (made once, with `cryptography`)."""

    _dir: tempfile.TemporaryDirectory | None = None

    @classmethod
    def files(cls) -> tuple[str, str]:
        if cls._dir is None:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.x509.oid import NameOID
            import datetime

            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TLS_HOSTNAME)])
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                    .public_key(key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now - datetime.timedelta(days=1))
                    .not_valid_after(now + datetime.timedelta(days=2))
                    .add_extension(x509.SubjectAlternativeName([x509.DNSName(TLS_HOSTNAME)]),
                                   critical=False)
                    .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                   critical=True)
                    .sign(key, hashes.SHA256()))
            d = tempfile.TemporaryDirectory(prefix="lp-tls-")
            with open(os.path.join(d.name, "cert.pem"), "wb") as f:
                f.write(cert.public_bytes(serialization.Encoding.PEM))
            with open(os.path.join(d.name, "key.pem"), "wb") as f:
                f.write(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
            cls._dir = d
        return (os.path.join(cls._dir.name, "cert.pem"), os.path.join(cls._dir.name, "key.pem"))


def server_ssl_context() -> ssl.SSLContext:
    cert, key = _TLS.files()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_ssl_context(trust: bool = True) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if trust:
        ctx.load_verify_locations(_TLS.files()[0])
    return ctx


@pytest.fixture(scope="module")
def lp_testnet():
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces")
    testnet.destroy(TESTNET_NAME)     # a namespace left by a killed run of this suite
    with testnet.create(name=TESTNET_NAME, kind="veth", prefix=TESTNET_PREFIX) as tn:
        yield tn


class Target:
    """Loop lifecycle, the run helper and the teardown checks (see the module docstring)."""

    fastnet = False
    fastnet_sides: tuple[str, ...] = ()     # which ends ("client", "server") are fastnet's
    clients_by_address = True               # False: connect() hands over a kernel sock=
    servers_by_address = True               # False: create_server() is given a kernel sock=
    bind_host = "127.0.0.1"
    client_host = client_bind_host = "127.0.0.1"
    foreign_host = "198.19.33.3"

    @pytest.fixture(autouse=True)
    def _target_loop(self, request):
        self.request = request
        self.blackhole = getattr(request.function, "blackhole", False)
        self._cleanups = []
        self.loop = self.make_loop()
        self.unexpected = []
        self.loop.set_exception_handler(lambda loop, ctx: self.unexpected.append(ctx))
        if self.fastnet:
            self._settle()        # frames of the stack's start (gratuitous ARP) go out first
        self._baseline = self.handles()
        try:
            yield
        finally:
            self._shutdown()

    # overridden by targets -------------------------------------------------------------
    def make_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    def close_resources(self) -> None:
        """Close what make_loop opened besides the loop (stacks)."""

    async def create_server(self, factory, **kw):
        return await self.loop.create_server(factory, self.bind_host, 0, backlog=BACKLOG, **kw)

    async def start_server(self, cb, **kw):
        return await asyncio.start_server(cb, self.bind_host, 0, backlog=BACKLOG, **kw)

    def server_addr(self, server) -> tuple[str, int]:
        return server.sockets[0].getsockname()[:2]

    async def connect(self, factory, addr, **kw):
        return await self.loop.create_connection(factory, *addr, **kw)

    async def open_connection(self, addr, **kw):
        return await asyncio.open_connection(*addr, **kw)

    def refused_addr(self) -> tuple[str, int]:
        return (self.bind_host, _kernel_port_nobody_serves(self.bind_host))

    def cut(self, port: int) -> None:
        raise NotImplementedError

    # shared ----------------------------------------------------------------------------
    def handles(self):
        return self.loop.fastnet_handles() if self.fastnet else None

    def run(self, coro, timeout: float = TEST_TIMEOUT):
        """Run the test's coroutine, then the clean-up checks (in the test's own call, so a
        leak fails the test itself)."""
        result = self.loop.run_until_complete(asyncio.wait_for(coro, timeout))
        self._check_clean(self._baseline)
        return result

    def _settle(self):
        self.loop.run_until_complete(asyncio.sleep(0.01))

    def _nft_cut(self, netns: str, port: int) -> None:
        self._cleanups.append(nft_cut(netns, port))

    def _check_clean(self, baseline) -> None:
        self._settle()
        if self.fastnet:
            want = {"sockets": 0, "transports": 0, "servers": 0,
                    "pool_in_use": baseline["pool_in_use"]}
            deadline = time.monotonic() + LEAK_SETTLE_S
            while True:
                now = self.handles()
                got = {k: now[k] for k in want}
                if got == want or time.monotonic() > deadline:
                    break
                self._settle()
            assert got == want, f"fastnet handles leaked after the test: {now} (baseline " \
                                f"{baseline})"
        assert self.unexpected == [], f"loop exception handler called: {self.unexpected}"

    def _shutdown(self) -> None:
        loop = self.loop
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            self.close_resources()
            for undo in reversed(self._cleanups):
                undo()


class StockTarget(Target):
    """(a) the stock asyncio loop over kernel sockets on 127.0.0.1 (a blackhole test: the
    testnet peer namespace's loopback, so that its nftables table can cut the link)."""

    def make_loop(self):
        if self.blackhole:
            self.tn = self.request.getfixturevalue("lp_testnet")
        return super().make_loop()

    def run(self, coro, timeout: float = TEST_TIMEOUT):
        if not self.blackhole:
            return super().run(coro, timeout)
        with in_netns(self.tn.peer_ns):
            return super().run(coro, timeout)

    def cut(self, port: int) -> None:
        self._nft_cut(self.tn.peer_ns, port)


class _FastnetTarget(Target):
    fastnet = True
    stacks: tuple = ()

    def close_resources(self) -> None:
        for s in self.stacks:
            s.close()

    def refused_addr(self) -> tuple[str, int]:
        return (self.bind_host, 9)     # fastnet serves nothing it was not asked to


class FastnetPairTarget(_FastnetTarget):
    """(b) two fastnet stacks over the memory link, both polled by one loop."""

    fastnet_sides = ("client", "server")
    bind_host = client_host = PAIR_A
    client_bind_host = PAIR_B
    foreign_host = "198.19.33.3"

    def make_loop(self):
        import fastnet
        fault = {"fault": {}} if self.blackhole else {}
        a, b = fastnet.Stack.memory_pair({"ip": PAIR_A, "prefix_len": PAIR_PREFIX, **STACK_KNOBS,
                                          **fault},
                                         {"ip": PAIR_B, "prefix_len": PAIR_PREFIX, **STACK_KNOBS})
        self.stacks = (a, b)
        return fastnet.new_event_loop(stacks=(a, b))

    def cut(self, port: int) -> None:
        # The link itself goes dark (a's end drops every frame both ways), whatever the port.
        self.stacks[0].set_fault({"drop": 1.0})


class _TestnetTarget(_FastnetTarget):
    """(c) a fastnet stack on the testnet's veth (af_packet), opened in its namespace."""

    def make_loop(self):
        import fastnet
        self.tn = tn = self.request.getfixturevalue("lp_testnet")
        self.bind_host = self.client_host = tn.stack_ip
        self.peer_ip = self.client_bind_host = tn.peer_ip
        self.foreign_host = str(ipaddress.IPv4Address(tn.peer_ip) + 1)
        with in_netns(tn.stack_ns):
            stack = fastnet.Stack(backend="af_packet", iface=tn.stack_if, ip=tn.stack_ip,
                                  prefix_len=tn.prefix_len, **STACK_KNOBS)
        self.stacks = (stack,)
        return fastnet.new_event_loop(stack=stack)

    def cut(self, port: int) -> None:
        self._nft_cut(self.tn.peer_ns, port)

    def peer_sockets(self, n: int = 1) -> list[socket.socket]:
        """Non-blocking kernel TCP sockets that live in the peer namespace.  proto is
        IPPROTO_TCP, as in the sockets asyncio makes from getaddrinfo: its transports set
        TCP_NODELAY only on those (base_events._set_nodelay)."""
        with in_netns(self.tn.peer_ns):
            socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
                     for _ in range(n)]
        for s in socks:
            s.setblocking(False)
        return socks


class FastnetServesKernel(_TestnetTarget):
    """(c) fastnet server <- kernel clients from the peer namespace (sock= handover)."""

    fastnet_sides = ("server",)
    clients_by_address = False

    async def _peer_connected(self, addr, local_addr=None):
        sock = self.peer_sockets()[0]
        try:
            if local_addr is not None:
                sock.bind(local_addr)
            await self.loop.sock_connect(sock, addr)
        except BaseException:
            sock.close()
            raise
        return sock

    async def connect(self, factory, addr, local_addr=None, **kw):
        sock = await self._peer_connected(addr, local_addr)
        return await self.loop.create_connection(factory, sock=sock, **kw)

    async def open_connection(self, addr, local_addr=None, **kw):
        sock = await self._peer_connected(addr, local_addr)
        return await asyncio.open_connection(sock=sock, **kw)


class KernelServesFastnet(_TestnetTarget):
    """(c) kernel server in the peer namespace (create_server(sock=)) <- fastnet clients."""

    fastnet_sides = ("client",)
    servers_by_address = False

    def make_loop(self):
        loop = super().make_loop()
        self.client_host, self.client_bind_host = self.peer_ip, self.bind_host
        return loop

    def _peer_listener(self) -> socket.socket:
        # Bound, not listening: asyncio's Server calls listen() when it starts serving, so
        # start_serving=False keeps refusing connections as it does with a host argument.
        sock = self.peer_sockets()[0]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.peer_ip, 0))
        return sock

    async def create_server(self, factory, **kw):
        return await self.loop.create_server(factory, sock=self._peer_listener(),
                                             backlog=BACKLOG, **kw)

    async def start_server(self, cb, **kw):
        return await asyncio.start_server(cb, sock=self._peer_listener(), backlog=BACKLOG,
                                          **kw)

    def refused_addr(self) -> tuple[str, int]:
        with in_netns(self.tn.peer_ns):
            return (self.peer_ip, _kernel_port_nobody_serves(self.peer_ip))


ALL_TARGETS = (StockTarget, FastnetPairTarget, FastnetServesKernel, KernelServesFastnet)
__all__ = ["async_test", "payload", "sha", "server_ssl_context", "client_ssl_context",
           "lp_testnet", "TLS_HOSTNAME", "BACKLOG", *[t.__name__ for t in ALL_TARGETS]]
