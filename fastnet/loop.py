"""fastnet.loop — an asyncio event loop whose TCP goes through fastnet stacks.

Contract: `Loop` is asyncio's own SelectorEventLoop (timers, call_soon, executors,
subprocesses, signals, kernel and Unix sockets all work as usual) with two additions:
each iteration polls the loop's fastnet stacks and dispatches their socket events to
Cython transports (fastnet._core._Hub, in _loop.pxi), and create_server /
create_connection route addresses that belong to a stack to it (docs/asyncio.md gives the
rule; everything else goes to the stock kernel path, unchanged).  A loop owns the stacks it
opened from options or a config (loop.close() closes them) and never the ones passed in with
stack= / stacks=.  Errors are the stock loop's: OSError with the POSIX errno and the same
messages, TypeError / ValueError for bad arguments.  One thread only, as any asyncio loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import ipaddress
import os
import select
import selectors
import socket
import sys
from asyncio import base_events, sslproto
from typing import Any, Callable, Coroutine, Iterable

from . import _core

__all__ = ["Loop", "new_event_loop", "run"]

# Keyword arguments of this Python's stock create_connection that the signature below does
# not name (all_errors, 3.12+): accepted, and passed on to the kernel path.
_STOCK_CONNECT_EXTRA = frozenset(
    inspect.signature(asyncio.SelectorEventLoop.create_connection).parameters) - {
    "self", "protocol_factory", "host", "port", "ssl", "family", "proto", "flags", "sock",
    "local_addr", "server_hostname", "ssl_handshake_timeout", "ssl_shutdown_timeout",
    "happy_eyeballs_delay", "interleave"}


class _Server(base_events.Server):
    """asyncio's Server over fastnet listening sockets.  close_clients / abort_clients (new
    in 3.13) exist on every version, and transports attach themselves as in 3.13.

    The clients are a plain set, not asyncio's WeakSet: every client is a fastnet transport,
    which its engine keeps alive until connection_lost detaches it anyway.  _active_count
    (3.11 and 3.12's close/wait_closed read it) is the size of that set, so _attach is
    _clients.add and _detach _clients.discard then _wakeup once the set is empty and the
    server closed: what the transports of the server's own listeners do in Cython, without
    calling these two methods (fastnet._core._Engine.listen)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: set[Any] = set()

    @property  # type: ignore[override]
    def _active_count(self) -> int:
        return len(self._clients)

    @_active_count.setter
    def _active_count(self, value: int) -> None:
        # asyncio's Server.__init__ sets it to 0: the client set starts empty anyway.
        pass

    def _attach(self, transport: Any) -> None:  # type: ignore[override]
        assert self._sockets is not None
        self._clients.add(transport)

    def _detach(self, transport: Any) -> None:  # type: ignore[override]
        self._clients.discard(transport)
        if not self._clients and self._sockets is None:
            self._wakeup()

    def close_clients(self) -> None:
        for transport in self._clients.copy():
            transport.close()

    def abort_clients(self) -> None:
        for transport in self._clients.copy():
            transport.abort()


class _Selector(selectors.EpollSelector):
    """The stock epoll selector (register/unregister/modify, its key map); select() is the
    hub's (fastnet._core._Hub): it polls the stacks and waits on this selector's epoll fd,
    returning what EpollSelector.select would."""

    def __init__(self, hub: Any) -> None:
        super().__init__()
        self._fn_hub = hub
        # The backend fds wake the sleep but are not keys of the map: the stock select()
        # skips fds it has no key for, so asyncio never sees them.
        for fd in hub.backend_fds():
            self._selector.register(fd, select.EPOLLIN)
        # _run_once calls select() every iteration: straight into the hub, no Python frame.
        self.select = functools.partial(hub.select, self)  # type: ignore[method-assign]

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        return self._fn_hub.select(self, timeout)


def _open_stacks(config: Any, stack: Any, stacks: Any,
                 options: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(stacks the loop polls, the ones it opened and so owns)."""
    given = [x for x in (stack, stacks) if x is not None]
    if given and (config is not None or options):
        raise TypeError("stack options or a config cannot be combined with stack= / stacks=")
    if stack is not None and stacks is not None:
        raise TypeError("give stack= or stacks=, not both")
    if stack is not None:
        stacks = (stack,)
    if stacks is not None:
        stacks = tuple(stacks)
        for s in stacks:
            if not isinstance(s, _core.Stack):
                raise TypeError(f"stacks must be fastnet.Stack objects, not {type(s).__name__}")
        if len({id(s) for s in stacks}) != len(stacks):
            raise ValueError("the same Stack is given twice")
        return stacks, ()
    if config is None and not options:
        raise TypeError("fastnet.Loop needs stack options (iface=, backend=, ip=, ...), "
                        "config=, stack= or stacks=")
    opened = _core.Stack(config, **options)
    return (opened,), (opened,)


def _stats_target(config: Any, options: dict[str, Any]) -> tuple[str, float] | None:
    """(path, interval) of the stats file the options or the config file ask for
    (stats_file= / [stats] file; stats_interval= / [stats] interval), else None.  Nothing is
    written unless the file is named: a program on the loop is not `fastnet up`, which
    writes to the default path too.  Raises fastnet.config.ConfigError on a bad value."""
    flags = {n: options[n] for n in ("stats_file", "stats_interval") if n in options}
    if config is None and not flags:
        return None
    from . import config as fconfig

    cfg = fconfig.load(config, {fconfig.FLAG_KWARGS[n].dotted: v for n, v in flags.items()},
                       require=())
    if cfg.values["stats.file"] is None:
        return None
    return cfg.values["stats.file"], cfg.stats_interval


def _ipv4(host: Any) -> str | None:
    """host as a dotted IPv4 string if it is an IPv4 literal, else None."""
    if not isinstance(host, str):
        return None
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return None


class Loop(asyncio.SelectorEventLoop):
    """asyncio's selector loop driving fastnet stacks; see the module comment."""

    # BaseEventLoop.__del__ reads _closed: a loop whose arguments were refused before
    # asyncio's __init__ ran counts as closed.
    _closed = True

    def __init__(self, config: Any = None, *, stack: Any = None, stacks: Iterable[Any] | None = None,
                 busy_poll: bool = False, **stack_options: Any) -> None:
        stats = (_stats_target(config, stack_options)
                 if stack is None and stacks is None else None)
        polled, owned = _open_stacks(config, stack, stacks, stack_options)
        try:
            hub = _core._Hub(polled, bool(busy_poll))
            super().__init__(_Selector(hub))
            hub.bind(self)
        except BaseException:
            for s in owned:
                s.close()
            raise
        self._fn_hub = hub
        self._fn_owned = owned
        self._fn_nets = tuple(
            (s, ipaddress.IPv4Network(f"{s.ip}/{s.prefix_len}", strict=False)) for s in polled)
        self._fn_stats: Any = None
        self._fn_stats_timer: Any = None
        if stats is not None:
            self._fn_stats_start(owned[0], *stats)

    # ---- the stats file (stats_file= / [stats] file): what `fastnet stat` reads

    def _fn_stats_start(self, st: Any, path: str, interval: float) -> None:
        from . import cli as fcli

        self._fn_stats = fcli._StatsWriter(path, st, f"{st.ip}/{st.prefix_len}",
                                           fcli._stats_descriptions(_core))
        self._fn_stats_interval = interval
        self._fn_stats_tick()

    def _fn_stats_tick(self) -> None:
        self._fn_stats.write(running=True)
        self._fn_stats_timer = self.call_later(self._fn_stats_interval, self._fn_stats_tick)

    @property
    def stacks(self) -> tuple[Any, ...]:
        return tuple(s for s, _ in self._fn_nets)

    def fastnet_handles(self) -> dict[str, int]:
        """Live stack sockets, transports, listening servers, and the pool buffers the
        stacks and the application hold (pool.in_use minus backend.held: a backend's own
        rings and queues are not counted)."""
        return self._fn_hub.handles()

    def set_debug(self, enabled: bool) -> None:
        super().set_debug(enabled)
        # asyncio's __init__ calls this before the hub is bound (bind() reads get_debug()).
        hub = self.__dict__.get("_fn_hub")
        if hub is not None:
            hub.set_debug(self.get_debug())

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        if self._fn_stats_timer is not None:
            self._fn_stats_timer.cancel()
            self._fn_stats_timer = None
        try:
            super().close()
        finally:
            self._fn_hub.close()
        if self._fn_stats is not None:
            # The last counters, marked stopped, before the stack goes.
            self._fn_stats.write(running=False)
            self._fn_stats = None
        for s in self._fn_owned:
            s.close()

    # ---- routing (docs/asyncio.md)

    def _server_stack(self, host: Any, sock: Any) -> Any:
        if sock is not None or not self._fn_nets:
            return None
        if host is None or host == "" or host == "0.0.0.0":
            return self._fn_nets[0][0]
        ip = _ipv4(host)
        for s, _ in self._fn_nets:
            if s.ip == ip:
                return s
        return None

    def _client_stack(self, ip: str | None, local_addr: Any) -> Any:
        if local_addr is not None:
            lip = _ipv4(local_addr[0]) if isinstance(local_addr, tuple) and local_addr else None
            for s, _ in self._fn_nets:
                if s.ip == lip:
                    return s
            return None
        if ip is None:
            return None
        addr = ipaddress.IPv4Address(ip)
        for s, net in self._fn_nets:
            if addr in net and ip != s.ip:
                return s
        return None

    async def create_server(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
                            host: Any = None, port: Any = None, *,
                            family: int = socket.AF_UNSPEC, flags: int = socket.AI_PASSIVE,
                            sock: Any = None, backlog: int = 100, ssl: Any = None,
                            reuse_address: bool | None = None, reuse_port: bool | None = None,
                            keep_alive: bool | None = None,
                            ssl_handshake_timeout: float | None = None,
                            ssl_shutdown_timeout: float | None = None,
                            start_serving: bool = True) -> asyncio.AbstractServer:
        stack = self._server_stack(host, sock)
        if stack is None or family not in (socket.AF_UNSPEC, socket.AF_INET):
            extra = {} if keep_alive is None else {"keep_alive": keep_alive}
            return await super().create_server(
                protocol_factory, host, port, family=family, flags=flags, sock=sock,
                backlog=backlog, ssl=ssl, reuse_address=reuse_address, reuse_port=reuse_port,
                ssl_handshake_timeout=ssl_handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout, start_serving=start_serving, **extra)
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        if ssl_handshake_timeout is not None and ssl is None:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None and ssl is None:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        if not isinstance(backlog, int):
            raise TypeError(f"'{type(backlog).__name__}' object cannot be interpreted as an integer")
        port = _port_number(port)
        if reuse_address is None:
            reuse_address = True
        bind_host = host or "0.0.0.0"
        fsock = stack.socket(nonblocking=True)
        try:
            if reuse_address:
                fsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                fsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if keep_alive:
                fsock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            try:
                fsock.bind((bind_host, port))
            except OSError as err:
                msg = ("error while attempting to bind on address %r: %s"
                       % ((bind_host, port), _strerror(err)))
                raise OSError(err.errno, msg) from None
        except BaseException:
            fsock.close()
            raise
        server = _Server(self, [fsock], protocol_factory, ssl, backlog,
                         ssl_handshake_timeout, ssl_shutdown_timeout)
        if start_serving:
            server._start_serving()
            await asyncio.sleep(0)
        return server

    async def create_connection(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
                                host: Any = None, port: Any = None, *, ssl: Any = None,
                                family: int = 0, proto: int = 0, flags: int = 0,
                                sock: Any = None, local_addr: Any = None,
                                server_hostname: str | None = None,
                                ssl_handshake_timeout: float | None = None,
                                ssl_shutdown_timeout: float | None = None,
                                happy_eyeballs_delay: float | None = None,
                                interleave: int | None = None,
                                **kwargs: Any) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
        for name in kwargs:
            if name not in _STOCK_CONNECT_EXTRA:
                raise TypeError(f"create_connection() got an unexpected keyword argument {name!r}")

        def stock() -> Coroutine[Any, Any, Any]:
            return super(Loop, self).create_connection(
                protocol_factory, host, port, ssl=ssl, family=family, proto=proto, flags=flags,
                sock=sock, local_addr=local_addr, server_hostname=server_hostname,
                ssl_handshake_timeout=ssl_handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout,
                happy_eyeballs_delay=happy_eyeballs_delay, interleave=interleave, **kwargs)

        if (sock is not None or host is None or port is None or not self._fn_nets
                or family not in (0, socket.AF_INET)):
            return await stock()
        ip = _ipv4(host)
        if ip is None and isinstance(host, str):
            try:
                infos = await self.getaddrinfo(host, port, family=socket.AF_INET,
                                               type=socket.SOCK_STREAM)
            except OSError:
                return await stock()
            ip = next((a[4][0] for a in infos if self._client_stack(a[4][0], local_addr)), None)
        stack = self._client_stack(ip, local_addr) if ip is not None else None
        if stack is None:
            return await stock()

        if server_hostname is not None and not ssl:
            raise ValueError("server_hostname is only meaningful with ssl")
        if server_hostname is None and ssl:
            server_hostname = host
        if ssl_handshake_timeout is not None and not ssl:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None and not ssl:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        fsock = await self._fn_connect(stack, (ip, _port_number(port)), local_addr)
        transport, protocol = await self._create_connection_transport(
            fsock, protocol_factory, ssl, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)
        return transport, protocol

    async def _fn_connect(self, stack: Any, address: tuple[str, int], local_addr: Any) -> Any:
        """A connected non-blocking fastnet Socket, or the stock loop's exception."""
        fsock = stack.socket(nonblocking=True)
        try:
            if local_addr is not None:
                try:
                    fsock.bind(local_addr)
                except OSError as exc:
                    msg = (f"error while attempting to bind on address {local_addr!r}: "
                           f"{_strerror(exc)}")
                    raise OSError(exc.errno, msg) from None
            try:
                fsock.connect(address)
            except BlockingIOError:
                fut = self.create_future()
                waiter = self._fn_hub.engine(stack).connect_waiter(fsock, fut)
                try:
                    await fut
                finally:
                    waiter.cancel()
                err = fsock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err != 0:
                    raise OSError(err, f"Connect call failed {address}")
        except BaseException:
            fsock.close()
            raise
        return fsock

    # ---- the hooks asyncio's Server and _create_connection_transport call

    def _make_socket_transport(self, sock: Any, protocol: Any, waiter: Any = None, *,
                               extra: Any = None, server: Any = None) -> Any:
        if isinstance(sock, _core.Socket):
            return self._fn_hub.engine(sock.stack).transport(sock, protocol, waiter, extra, server)
        return super()._make_socket_transport(sock, protocol, waiter, extra=extra, server=server)

    def _make_ssl_transport(self, rawsock: Any, protocol: Any, sslcontext: Any, waiter: Any = None,
                            *, server_side: bool = False, server_hostname: Any = None,
                            extra: Any = None, server: Any = None,
                            ssl_handshake_timeout: Any = None,
                            ssl_shutdown_timeout: Any = None, **kwargs: Any) -> Any:
        if not isinstance(rawsock, _core.Socket):
            return super()._make_ssl_transport(
                rawsock, protocol, sslcontext, waiter, server_side=server_side,
                server_hostname=server_hostname, extra=extra, server=server,
                ssl_handshake_timeout=ssl_handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout, **kwargs)
        timeouts = {}
        if ssl_handshake_timeout is not None:
            timeouts["ssl_handshake_timeout"] = ssl_handshake_timeout
        if ssl_shutdown_timeout is not None:
            timeouts["ssl_shutdown_timeout"] = ssl_shutdown_timeout
        ssl_protocol = sslproto.SSLProtocol(self, protocol, sslcontext, waiter, server_side,
                                            server_hostname, **timeouts)
        self._make_socket_transport(rawsock, ssl_protocol, extra=extra, server=server)
        return ssl_protocol._app_transport

    async def _sendfile_fallback(self, transp: Any, file: Any, offset: int,
                                 count: int | None) -> int:
        if not isinstance(transp, _core._Transport):
            return await super()._sendfile_fallback(transp, file, offset, count)
        if offset:
            file.seek(offset)
        blocksize = min(count, 16384) if count else 16384
        buf = bytearray(blocksize)
        total_sent = 0
        drain = _SendfileDrain(transp)
        try:
            while True:
                if count:
                    blocksize = min(count - total_sent, blocksize)
                    if blocksize <= 0:
                        return total_sent
                view = memoryview(buf)[:blocksize]
                read = await self.run_in_executor(None, file.readinto, view)
                if not read:
                    return total_sent
                await drain.drain()
                transp.write(view[:read])   # copied into the stack or the transport's buffer
                total_sent += read
        finally:
            if total_sent > 0 and hasattr(file, "seek"):
                file.seek(offset + total_sent)
            drain.restore()

    def _start_serving(self, protocol_factory: Any, sock: Any, sslcontext: Any = None,
                       server: Any = None, backlog: int = 100, ssl_handshake_timeout: Any = None,
                       ssl_shutdown_timeout: Any = None) -> None:
        if not isinstance(sock, _core.Socket):
            super()._start_serving(protocol_factory, sock, sslcontext, server, backlog,
                                   ssl_handshake_timeout, ssl_shutdown_timeout)
            return
        self._fn_hub.engine(sock.stack).listen(
            sock, protocol_factory, server, sslcontext, backlog,
            ssl_handshake_timeout if ssl_handshake_timeout is not None
            else asyncio.constants.SSL_HANDSHAKE_TIMEOUT,
            ssl_shutdown_timeout if ssl_shutdown_timeout is not None
            else asyncio.constants.SSL_SHUTDOWN_TIMEOUT,
            # Only this module's own server class: a subclass may do more in _attach.
            server._clients if type(server) is _Server else None)

    def _stop_serving(self, sock: Any) -> None:
        if not isinstance(sock, _core.Socket):
            super()._stop_serving(sock)
            return
        if sock.fileno() >= 0:
            self._fn_hub.engine(sock.stack).unlisten(sock)
        sock.close()


class _SendfileDrain(asyncio.Protocol):
    """Stands in for a stack transport's protocol during loop.sendfile(): reading paused,
    pause_writing/resume_writing turned into drain() (asyncio's own fallback protocol
    accepts only its Python transports)."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._proto = transport.get_protocol()
        self._was_reading = transport.is_reading()
        high = transport.get_write_buffer_limits()[1]
        self._paused_before = transport.get_write_buffer_size() > high
        self._waiter: asyncio.Future[None] | None = None
        transport.pause_reading()
        transport.set_protocol(self)
        if self._paused_before:
            self.pause_writing()

    async def drain(self) -> None:
        if self._transport.is_closing():
            raise ConnectionError("Connection closed by peer")
        if self._waiter is not None:
            await self._waiter

    def pause_writing(self) -> None:
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def connection_lost(self, exc: BaseException | None) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError("Connection is closed by peer"))
        self._proto.connection_lost(exc)

    def restore(self) -> None:
        self._transport.set_protocol(self._proto)
        if self._was_reading:
            self._transport.resume_reading()
        if self._waiter is not None:
            self._waiter.cancel()
        if self._paused_before and self._transport.get_write_buffer_size() <= \
                self._transport.get_write_buffer_limits()[0]:
            self._proto.resume_writing()


def _strerror(err: OSError) -> str:
    """The error part of the stock loop's bind-failure message.  fastnet.Socket's own
    messages name the call ("bind: ..."), so it is rebuilt from errno as the kernel's
    OSError would print: its strerror up to 3.12, str(err) ("[errno N] ...") from 3.13."""
    if not err.errno:
        return str(err).lower()
    text = os.strerror(err.errno)
    if sys.version_info >= (3, 13):
        text = f"[Errno {err.errno}] {text}"
    return text.lower()


def _port_number(port: Any) -> int:
    """A port as getaddrinfo takes it (None -> 0, an int, or a decimal string)."""
    if port is None:
        return 0
    if isinstance(port, str):
        if port.isdigit():
            return int(port)
        try:
            return socket.getservbyname(port, "tcp")
        except OSError:
            raise socket.gaierror(socket.EAI_SERVICE, "Servname not supported for ai_socktype")
    if isinstance(port, bytes):
        return _port_number(port.decode())
    if isinstance(port, int) and not isinstance(port, bool):
        if not 0 <= port <= 65535:
            raise OverflowError("port must be 0-65535.")
        return port
    raise TypeError(f"port must be an int or a str, not {type(port).__name__}")


def new_event_loop(config: Any = None, *, stack: Any = None, stacks: Iterable[Any] | None = None,
                   busy_poll: bool = False, **stack_options: Any) -> Loop:
    """A new fastnet Loop (see Loop); usable as asyncio.Runner(loop_factory=...)."""
    return Loop(config, stack=stack, stacks=stacks, busy_poll=busy_poll, **stack_options)


def run(main: Coroutine[Any, Any, Any], *, debug: bool | None = None, **options: Any) -> Any:
    """asyncio.run(main) on a fastnet Loop made from options (new_event_loop's)."""
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    with asyncio.Runner(debug=debug, loop_factory=lambda: new_event_loop(**options)) as runner:
        return runner.run(main)

