# fastnet/_loop.pxi — the asyncio engine: transports, listeners and the per-iteration poll.
#
# Included at the end of _core.pyx (one extension module).  Contract: a _Hub drives the
# stacks of one fastnet.Loop from the loop's thread only.  Each iteration it polls every
# stack (receive, timers, flush of the output queued since the last iteration), then asks
# each _Engine's fn epoll set what is ready and calls the transport / listener handling it
# directly (cdef calls, no asyncio Handle per event).  Transports implement the whole
# asyncio.Transport interface with the stock selector transport's semantics (messages,
# ordering of connection_made / data_received / connection_lost, what is logged); protocol
# exceptions are caught and reported as asyncio's transports do, SystemExit and
# KeyboardInterrupt propagate out of the loop.  A readiness event carries a pointer to its
# handle (epoll_data.u64), so fd reuse inside one batch can never reach the wrong handle;
# the engine's dict of live handles keeps every registered handle alive.  The hub also does
# the selector's kernel epoll_wait itself (_Hub._kselect, EpollSelector.select's result) and,
# when only stack traffic woke the sleep and nothing is left for asyncio, sleeps again inside
# the same select() call; connection_made / connection_lost are queued in loop._ready as
# _Soon entries (call_soon's order, context and error report, without its Python frames).
from cpython.buffer cimport PyBUF_WRITABLE as _PyBUF_WRITABLE
from cpython.bytearray cimport PyByteArray_FromStringAndSize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.contextvars cimport PyContext_CopyCurrent, PyContext_Enter, PyContext_Exit
from cpython.ref cimport PyObject, Py_DECREF, Py_INCREF
from libc.string cimport memcpy
from libc.errno cimport EAGAIN, ECONNABORTED, EINTR, EMFILE, ENFILE, ENOBUFS, ENOMEM

import asyncio as _asyncio
import selectors as _selectors
import sys
from asyncio import format_helpers as _format_helpers
from asyncio import trsock as _trsock
from asyncio.log import logger as _aio_logger

cdef extern from "<sys/epoll.h>" nogil:
    enum:
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP
        EPOLL_CTL_ADD
        EPOLL_CTL_MOD
        EPOLL_CTL_DEL

cdef extern from "<sys/epoll.h>" nogil:
    int epoll_wait(int epfd, epoll_event *events, int maxevents, int timeout)

cdef extern from "<netinet/tcp.h>" nogil:
    enum:
        IPPROTO_TCP
        TCP_NODELAY

cdef extern from "<sys/ioctl.h>" nogil:
    enum:
        FIONREAD

cdef extern from "<sys/socket.h>" nogil:
    enum:
        SHUT_WR
        SOCK_NONBLOCK
        MSG_MORE

cdef enum:
    # Events taken from one fn_epoll_wait; more wait for the next iteration (level-triggered).
    _MAX_EVENTS = 512
    # The most one read hands to data_received (asyncio's selector transport reads 256 KiB).
    _READ_MAX = 262144
    # A read first takes up to this much into the engine's scratch buffer: a request fits,
    # and then one recv is the whole read (no FIONREAD to size the bytes object first).
    _READ_SCRATCH = 16384
    # Rounds in a row whose stacks had work that may skip the kernel's epoll_wait(0): a busy
    # stack costs the kernel fds (asyncio's self-pipe, kernel sockets) and the timers at most
    # this many rounds of delay, never their turn (see _Hub.select).
    _KERNEL_SKIP = 3
    # asyncio.constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES.
    _CONNLOST_LOG = 5
    # The largest write made inside data_received that is held until the callback returns
    # (_Transport.pending).  A held write is also at most the high-water mark, so whatever
    # part the stack cannot take never needs the pause_writing() the stock loop would have
    # called inside write().
    _HOLD_MAX = 16384
# asyncio.constants.ACCEPT_RETRY_DELAY.
_ACCEPT_RETRY_DELAY = 1.0

_BufferedProtocol = _asyncio.BufferedProtocol
# 3.12's selector transport has its own writelines (its error names writelines()); 3.11's
# is WriteTransport's join-and-write.
_WRITELINES_NAMES_ITSELF = sys.version_info >= (3, 12)
_EVENT_READ = _selectors.EVENT_READ
_EVENT_WRITE = _selectors.EVENT_WRITE
_AioHandle = _asyncio.events.Handle


cdef inline object _errno_exc(int err):
    # The exception socket.send()/recv() would raise (same type, same str()).
    return OSError(err, os.strerror(err))


cdef enum:
    # What a _Soon entry runs: the transport's _start or its _call_connection_lost.
    _SOON_START = 0
    _SOON_LOST = 1


@cython.freelist(64)
cdef class _Soon:
    """One callback in asyncio's ready queue, run by _run_once as it runs a Handle (it reads
    _cancelled and calls _run()), without the Python-level call_soon and Handle.__init__ a
    connection's connection_made and connection_lost would otherwise cost.  Same order
    (appended to loop._ready, as call_soon does), same context (a copy of the current one,
    taken now, entered for the call and left before an error is reported, as Context.run
    does), same report of an exception (message, exception, a Handle of the same callback);
    only made outside debug mode (see _call_soon).  It names the transport and which of its
    two callbacks to run, so no bound method is made per callback (one is made only for an
    error report or a repr), and entries come from a free list: neither allocation counts
    towards the cyclic GC's next young-generation collection."""
    cdef readonly bint _cancelled
    cdef _Transport t
    cdef int op
    cdef object arg
    cdef object ctx
    cdef object loop

    def _run(self):
        cdef _Transport t = self.t
        ctx = self.ctx
        arg = self.arg
        # As Handle._run: nothing of the callback outlives its run (no cycles to collect).
        self.t = None
        self.arg = self.ctx = None
        try:
            PyContext_Enter(ctx)
            try:
                if self.op == _SOON_START:
                    t._start_c(arg)
                else:
                    t._connection_lost_c(arg)
            finally:
                PyContext_Exit(ctx)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            callback = _soon_callback(t, self.op)
            args = (arg,)
            self.loop.call_exception_handler({
                "message": "Exception in callback "
                           + _format_helpers._format_callback_source(callback, args),
                "exception": exc,
                "handle": _AioHandle(callback, args, self.loop, ctx)})

    def cancel(self):
        self._cancelled = True

    def __repr__(self):
        cb = _soon_callback(self.t, self.op) if self.t is not None else None
        return f"<fastnet ready callback {cb!r}>"


cdef object _soon_callback(_Transport t, int op):
    """The bound method a _Soon entry stands for."""
    return t._start if op == _SOON_START else t._call_connection_lost


cdef int _call_soon(_Engine eng, _Transport t, int op, arg) except -1:
    """loop.call_soon(t._start or t._call_connection_lost, arg) for the engine's own
    callbacks."""
    cdef _Soon s
    if eng.debug or eng.closed:
        # Debug mode: asyncio's thread check, source tracebacks and slow-callback report
        # (which reads a Handle's fields); closed: its RuntimeError.
        eng.loop.call_soon(_soon_callback(t, op), arg)
        return 0
    s = _Soon.__new__(_Soon)
    s.t = t
    s.op = op
    s.arg = arg
    s.ctx = PyContext_CopyCurrent()
    s.loop = eng.loop
    eng.ready_append(s)
    return 0


cdef class _Handle:
    """Something registered in an engine's epoll set; _on_events gets its ready mask."""
    cdef _Engine eng
    cdef int fd
    cdef uint32_t mask

    cdef int _on_events(self, uint32_t ev) except -1:
        return 0


cdef class _Engine:
    """The fn epoll set of one Stack and the handles registered in it."""
    cdef readonly Stack stack
    cdef int epfd
    cdef object loop
    cdef dict handles
    # loop._ready, asyncio's queue of callbacks for the next iteration (_call_soon), and its
    # append method.
    cdef object ready
    cdef object ready_append
    # loop.get_debug() (kept by Loop.set_debug through _Hub.set_debug) and loop.is_closed()
    # (set by _Hub.close, which Loop.close calls): _call_soon reads these, not the loop's
    # attributes, twice per connection.
    cdef bint debug
    cdef bint closed
    cdef int n_transports
    cdef int n_servers
    # An in-memory link (no fd): frames this stack sent sit in its peer's ring until that
    # stack is polled again, which no deadline and no fd tells; see poll().
    cdef bint memlink
    cdef uint64_t last_tx
    cdef epoll_event evs[_MAX_EVENTS]
    cdef char rbuf[_READ_SCRATCH]

    def __cinit__(self, Stack stack, loop):
        stack._check()
        self.epfd = fn_epoll_create1(stack.st, 0)
        if self.epfd < 0:
            raise _oserror(errno, "epoll")
        self.stack = stack
        self.loop = loop
        self.ready = loop._ready
        self.ready_append = self.ready.append
        self.debug = loop.get_debug()
        self.handles = {}
        self.memlink = fn_stack_fd(stack.st) < 0

    cdef int ctl(self, _Handle h, uint32_t mask) except -1:
        cdef epoll_event ev
        cdef int op
        if mask == h.mask or h.fd < 0 or self.stack.st == NULL:
            return 0
        op = EPOLL_CTL_DEL if mask == 0 else (EPOLL_CTL_ADD if h.mask == 0 else EPOLL_CTL_MOD)
        ev.events = mask
        ev.data.u64 = <uint64_t><void *>h
        if fn_epoll_ctl(self.stack.st, self.epfd, op, h.fd, &ev) < 0:
            if op == EPOLL_CTL_DEL:
                # The fd was closed under us (fn_close leaves every epoll set): nothing
                # registered any more, which is what was asked.
                h.mask = 0
                return 0
            raise _oserror(errno, "epoll_ctl")
        h.mask = mask
        return 0

    cdef int poll(self, uint64_t now) except -1:
        """Frames received, plus one if this stack sent frames over an in-memory link (so
        the loop polls again instead of sleeping while they wait in the peer's ring)."""
        cdef int n
        cdef uint64_t tx
        if self.stack.st == NULL:
            return 0
        n = fn_stack_poll(self.stack.st, now)
        if n < 0:
            raise OSError(-n, f"backend failed: {os.strerror(-n)}")
        if self.memlink:
            tx = fn_stack_backend(self.stack.st).stats.tx_packets
            if tx != self.last_tx:
                self.last_tx = tx
                n += 1
        return n

    cdef int dispatch(self) except -1:
        cdef int n, i
        cdef _Handle h
        if self.stack.st == NULL or not self.handles:
            return 0
        n = fn_epoll_wait(self.stack.st, self.epfd, self.evs, _MAX_EVENTS, 0)
        if n <= 0:
            if n < 0:
                raise _oserror(errno, "epoll_wait")
            return 0
        # A callback may close any handle of the batch: hold each one until the batch ends.
        for i in range(n):
            Py_INCREF(<object><PyObject *><void *>self.evs[i].data.u64)
        try:
            for i in range(n):
                if self.stack.st == NULL:
                    break       # a callback closed the Stack: the rest of the batch is moot
                h = <_Handle><PyObject *><void *>self.evs[i].data.u64
                if h.fd >= 0 and h.mask != 0:
                    h._on_events(self.evs[i].events)
        finally:
            for i in range(n):
                Py_DECREF(<object><PyObject *><void *>self.evs[i].data.u64)
        return n

    cdef int forget(self, _Handle h) except -1:
        """Unregister h and drop it from the table (its fd stays open)."""
        self.ctl(h, 0)
        if self.handles.get(h.fd) is h:
            del self.handles[h.fd]
        return 0

    def transport(self, Socket sock, protocol, waiter=None, extra=None, server=None):
        """A transport over the connected Socket sock (which it now owns)."""
        self.stack._check()
        cdef _Transport t = _new_transport(self, sock.fd, protocol, waiter, server)
        t.sock_obj = sock
        t._fill_names(True)
        if extra:
            t.extra = dict(extra)
        return t

    def listen(self, Socket sock, protocol_factory, server, sslcontext, backlog,
               ssl_handshake_timeout, ssl_shutdown_timeout, set clients=None):
        """Accept on sock.  clients: the client set of a server whose _attach(t) is
        clients.add(t) and whose _detach(t) is clients.discard(t) then _wakeup() when the set
        is empty and the server closed (fastnet.loop._Server's): the listener's transports
        then do that themselves, without the two Python calls per connection."""
        self.stack._check()
        cdef _Listener ls = _Listener.__new__(_Listener)
        ls.eng = self
        ls.fd = sock.fd
        ls.sock = sock
        ls.protocol_factory = protocol_factory
        ls.server = server
        ls.clients = clients
        ls.sslcontext = sslcontext
        ls.backlog = max(1, backlog)
        ls.hs_timeout = ssl_handshake_timeout
        ls.sd_timeout = ssl_shutdown_timeout
        self.handles[ls.fd] = ls
        self.n_servers += 1
        self.ctl(ls, EPOLLIN)

    def unlisten(self, Socket sock):
        h = self.handles.get(sock.fd)
        if isinstance(h, _Listener):
            self.forget(h)
            self.n_servers -= 1

    def connect_waiter(self, Socket sock, fut):
        """Resolve fut (None) once the connecting sock is writable or failed; returns a
        handle whose cancel() unregisters it."""
        cdef _Connector c = _Connector.__new__(_Connector)
        c.eng = self
        c.fd = sock.fd
        c.fut = fut
        self.handles[c.fd] = c
        self.ctl(c, EPOLLOUT)
        return c

    cdef int close(self) except -1:
        """loop.close(): every fd this engine still holds is closed, no callbacks."""
        cdef _Handle h
        self.closed = True
        for h in list(self.handles.values()):
            if isinstance(h, _Transport):
                (<_Transport>h)._close_fd()
            else:
                self.forget(h)
                if isinstance(h, _Listener):
                    (<_Listener>h).sock.close()
        self.handles.clear()
        if self.epfd >= 0 and self.stack.st != NULL:
            fn_close(self.stack.st, self.epfd)
        self.epfd = -1
        return 0


cdef class _Hub:
    """The stacks of one loop and the select() that polls them (see the module comment)."""
    cdef tuple engines
    cdef tuple _stacks
    cdef bint busy_poll
    cdef object loop
    cdef object ready
    cdef int skipped
    # The loop's selector: its kernel epoll fd and its fd -> SelectorKey map (see _kselect).
    cdef int kfd
    cdef dict fd_to_key
    cdef epoll_event kevs[_MAX_EVENTS]

    def __cinit__(self, stacks, bint busy_poll):
        self.engines = ()
        self.busy_poll = busy_poll
        self._stacks = tuple(stacks)

    def bind(self, loop):
        sel = loop._selector
        self.kfd = sel._selector.fileno()
        self.fd_to_key = sel._fd_to_key
        self.loop = loop
        self.ready = loop._ready
        self.engines = tuple(_Engine(s, loop) for s in self._stacks)

    def engine(self, Stack stack):
        cdef _Engine e
        for e in self.engines:
            if e.stack is stack:
                return e
        raise ValueError("the socket's Stack is not one of this loop's stacks")

    def backend_fds(self):
        fds = []
        for s in self._stacks:
            fd = (<Stack>s).fileno()
            if fd >= 0:
                fds.append(fd)
        return fds

    cdef int _round(self) except -1:
        cdef _Engine e
        cdef uint64_t now = fn_clock_ns()
        cdef int work = 0
        for e in self.engines:
            work += e.poll(now)
        for e in self.engines:
            work += e.dispatch()
        return work

    cdef double _sleep_s(self, double timeout) except? -3.0:
        """min(timeout, the earliest stack deadline) in seconds; -1 stands for None."""
        cdef _Engine e
        cdef uint64_t d, first = _UINT64_MAX, now
        cdef double t
        for e in self.engines:
            if e.stack.st != NULL:
                d = fn_stack_next_deadline(e.stack.st)
                if d < first:
                    first = d
        if first == _UINT64_MAX:
            return timeout
        now = fn_clock_ns()
        if first <= now:
            return 0.0
        # Round up to the selector's 1 ms resolution so we wake after the deadline.
        t = (first - now) / 1e9 + 0.0005
        if timeout >= 0 and timeout < t:
            return timeout
        return t

    cdef list _kselect(self, double timeout):
        """EpollSelector.select(timeout) (-1: None) on the loop's selector, in C: same
        timeout rounding (up to the next millisecond), same (key, events) list, fds without
        a key (the backend fds) skipped; the GIL is released while it sleeps.  A signal
        interrupting the sleep returns [] after its Python handler ran (or raises what the
        handler raised), as selectors does."""
        cdef int ms, n, i, fd
        cdef uint32_t ev
        cdef int mask
        if timeout < 0:
            ms = -1
        elif timeout == 0:
            ms = 0
        else:
            ms = <int>min(math.ceil(timeout * 1e3), 2147483647.0)
        with nogil:
            n = epoll_wait(self.kfd, self.kevs, _MAX_EVENTS, ms)
        if n < 0:
            if errno == EINTR:
                PyErr_CheckSignals()
                return []
            raise _oserror(errno, "epoll_wait")
        ready = []
        for i in range(n):
            fd = (<int *>&self.kevs[i].data)[0]
            key = self.fd_to_key.get(fd)
            if key is None:
                continue
            ev = self.kevs[i].events
            mask = 0
            if ev & ~(<uint32_t>EPOLLIN):
                mask |= _EVENT_WRITE
            if ev & ~(<uint32_t>EPOLLOUT):
                mask |= _EVENT_READ
            ready.append((key, mask & key.events))
        return ready

    cdef bint _after_wake(self) except -1:
        """The rounds after a sleep the stacks woke: True when they handed their events to
        the application, put its output on the wire and left asyncio nothing to do, so
        select() may sleep again without a trip through _run_once (which would only come
        back to sleep)."""
        cdef int work = self._round()
        cdef int n = 0
        if work == 0:
            return False        # a timer (asyncio's or a stack's) is due: asyncio's turn
        while work > 0 and n < _KERNEL_SKIP:
            if self.ready or self.loop._stopping:
                return False
            work = self._round()
            n += 1
        return work == 0 and not self.ready and not self.loop._stopping

    def select(self, selector, timeout):
        cdef double t, left
        cdef uint64_t start
        if self._round() > 0:
            # While the stacks have work and asyncio has no callback to run, the next
            # iterations would only come back here: run their rounds now, without the trip
            # through _run_once, up to the kernel's turn.
            self.skipped += 1
            while (self.skipped <= _KERNEL_SKIP and not self.ready
                   and not self.loop._stopping and self._round() > 0):
                self.skipped += 1
            if self.skipped <= _KERNEL_SKIP:
                return []
            self.skipped = 0
            return self._kselect(0.0)
        self.skipped = 0
        if self.busy_poll or (timeout is not None and timeout <= 0):
            return self._kselect(0.0)
        left = -1.0 if timeout is None else timeout
        start = fn_clock_ns()
        # asyncio's timeout came from its earliest timer: a callback that schedules an
        # earlier one (call_later in data_received) makes it the heap's new root, and then
        # _run_once must compute the timeout again.
        scheduled = self.loop._scheduled
        first = scheduled[0] if scheduled else None
        while True:
            t = self._sleep_s(left)
            if t == 0.0:
                return self._kselect(0.0)
            ready = self._kselect(t)
            if ready or not self._after_wake():
                return ready
            if (scheduled[0] if scheduled else None) is not first:
                return ready
            # Only stack traffic woke us and it is all handled: sleep on, until the rest of
            # asyncio's timeout.
            if timeout is not None:
                left = timeout - (fn_clock_ns() - start) / 1e9
                if left <= 0:
                    return ready

    def handles(self):
        cdef _Engine e
        out = {"sockets": 0, "transports": 0, "servers": 0, "pool_in_use": 0}
        for e in self.engines:
            if e.stack.st == NULL:
                continue
            # The engine's own epoll set is not the application's.
            out["sockets"] += fn_socket_count(e.stack.st) - (1 if e.epfd >= 0 else 0)
            out["transports"] += e.n_transports
            out["servers"] += e.n_servers
            # Buffers the backend keeps for itself (AF_XDP's fill and tx rings, a fault
            # wrapper's delay queue, the memory link's ring) are not the application's.
            st = e.stack.stats()
            out["pool_in_use"] += st["pool.in_use"] - st["backend.held"]
        return out

    def set_debug(self, bint enabled):
        """loop.set_debug(enabled) was called (see _Engine.debug)."""
        cdef _Engine e
        for e in self.engines:
            e.debug = enabled

    def close(self):
        cdef _Engine e
        for e in self.engines:
            e.close()


cdef class _Connector(_Handle):
    cdef object fut

    cdef int _on_events(self, uint32_t ev) except -1:
        self.cancel()
        if not self.fut.done():
            self.fut.set_result(None)
        return 0

    def cancel(self):
        if self.fd >= 0:
            self.eng.forget(self)
            self.fd = -1


cdef class _Listener(_Handle):
    cdef Socket sock
    cdef object protocol_factory
    cdef object server
    # The server's client set when the server is a fastnet.loop._Server (see listen()).
    cdef set clients
    cdef object sslcontext
    cdef int backlog
    cdef object hs_timeout
    cdef object sd_timeout

    cdef int _on_events(self, uint32_t ev) except -1:
        cdef sockaddr_in sin
        cdef socklen_t slen
        cdef int fd, err, i
        cdef fn_stack *st = self.eng.stack.st
        cdef _Transport t
        loop = self.eng.loop
        for i in range(self.backlog):
            slen = sizeof(sin)
            fd = fn_accept4(st, self.fd, <sockaddr *>&sin, &slen, SOCK_NONBLOCK)
            if fd < 0:
                err = errno
                if err == EAGAIN or err == EINTR or err == ECONNABORTED:
                    return 0
                if err == EMFILE or err == ENFILE or err == ENOBUFS or err == ENOMEM:
                    # As asyncio: log, stop accepting for a while, then try again.
                    loop.call_exception_handler({
                        "message": "socket.accept() out of system resource",
                        "exception": _errno_exc(err),
                        "socket": _trsock.TransportSocket(self.sock)})
                    self.eng.ctl(self, 0)
                    loop.call_later(_ACCEPT_RETRY_DELAY, self._resume)
                    return 0
                # As an exception in the stock loop's accept callback: logged, loop goes on.
                loop.call_exception_handler({
                    "message": "Error accepting a connection on a fastnet listener",
                    "exception": _errno_exc(err),
                    "socket": _trsock.TransportSocket(self.sock)})
                return 0
            if self.sslcontext is None:
                try:
                    protocol = self.protocol_factory()
                except (SystemExit, KeyboardInterrupt):
                    fn_close(st, fd)
                    raise
                except BaseException as exc:
                    fn_close(st, fd)
                    loop.call_exception_handler({
                        "message": "Error on transport creation for incoming connection",
                        "exception": exc})
                    continue
                t = _new_transport(self.eng, fd, protocol, None, self.server, self.clients)
                t.peer = sin
                t._fill_names(False)
            else:
                conn = _socket_for(self.eng.stack, fd)
                loop.create_task(loop._accept_connection2(
                    self.protocol_factory, conn, {"peername": _sockaddr_to(&sin)},
                    self.sslcontext, self.server, self.hs_timeout, self.sd_timeout))
        return 0

    def _resume(self):
        if self.fd >= 0 and self.eng.handles.get(self.fd) is self:
            self.eng.ctl(self, EPOLLIN)


cdef Socket _socket_for(Stack stack, int fd):
    """A non-blocking Socket handle adopting fd (it closes fd when closed or freed)."""
    cdef Socket so = Socket.__new__(Socket)
    so.stack = stack
    so.fd = fd
    so._timeout = 0.0
    return so


cdef _Transport _new_transport(_Engine eng, int fd, protocol, waiter, server,
                               set clients=None):
    cdef _Transport t = _Transport.__new__(_Transport)
    cdef int one = 1
    # asyncio sets TCP_NODELAY on every TCP transport (base_events._set_nodelay).
    fn_setsockopt(eng.stack.st, fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
    t.eng = eng
    t.fd = fd
    t.loop = eng.loop
    t.wbuf = PyByteArray_FromStringAndSize(NULL, 0)
    t.high = 65536
    t.low = 16384
    t.server = server
    t.protocol = protocol
    t.buffered = isinstance(protocol, _BufferedProtocol)
    eng.handles[fd] = t
    eng.n_transports += 1
    if server is not None:
        if clients is None:
            server._attach(t)
        else:
            t.clients = clients
            clients.add(t)
    _call_soon(eng, t, _SOON_START, waiter)
    return t


cdef class _Transport(_Handle):
    """A TCP connection on a fastnet stack, as asyncio's selector socket transport.  It
    is duck-typed: asyncio.Transport is a plain class (no ABC to register with), so
    isinstance(t, asyncio.Transport) is False, as for uvloop's transports."""
    cdef object __weakref__
    cdef object loop
    cdef object protocol
    cdef bint buffered
    cdef object server
    # The server's client set when this transport is in it without server._attach (see
    # _Engine.listen); None otherwise.
    cdef set clients
    cdef Socket sock_obj
    cdef object trsock
    cdef dict extra
    cdef bytearray wbuf
    cdef Py_ssize_t high
    cdef Py_ssize_t low
    cdef bint started
    cdef bint paused
    cdef bint closing
    cdef bint eof_written
    cdef bint eof_seen
    cdef bint proto_paused
    cdef bint have_names
    cdef int conn_lost
    # Inside data_received / buffer_updated, a small bytes write is held here and given to
    # the stack when the callback returns, or earlier when anything could observe the
    # difference; a close() or write_eof() in the same callback then sends it with MSG_MORE
    # and shuts down, so the response and the FIN leave in one segment.
    cdef bint in_read
    cdef object pending
    cdef sockaddr_in peer
    cdef sockaddr_in local

    _start_tls_compatible = True
    # loop.sendfile() over these transports: asyncio's read-and-write fallback.
    _sendfile_compatible = _asyncio.constants._SendfileMode.FALLBACK

    cdef int _fill_names(self, bint peer) except -1:
        cdef socklen_t slen = sizeof(self.local)
        cdef fn_stack *st = self.eng.stack.st
        self.have_names = fn_getsockname(st, self.fd, <sockaddr *>&self.local, &slen) == 0
        if peer:
            slen = sizeof(self.peer)
            self.have_names &= fn_getpeername(st, self.fd, <sockaddr *>&self.peer, &slen) == 0
        return 0

    def _start(self, waiter):
        self._start_c(waiter)

    cdef int _start_c(self, waiter) except -1:
        try:
            if self.protocol is not None:
                self.protocol.connection_made(self)
        finally:
            self.started = True
            self._update()
            if waiter is not None and not waiter.cancelled():
                waiter.set_result(None)
        return 0

    cdef int _update(self) except -1:
        cdef uint32_t m = 0
        if self.fd < 0:
            return 0
        if self.started and not self.paused and not self.closing and not self.eof_seen:
            m = EPOLLIN | EPOLLRDHUP
        if len(self.wbuf):
            m |= EPOLLOUT
        return self.eng.ctl(self, m)

    cdef int _on_events(self, uint32_t ev) except -1:
        if ev & (EPOLLERR | EPOLLHUP):
            ev |= EPOLLIN | EPOLLOUT
        if ev & (EPOLLIN | EPOLLRDHUP) and self.mask & EPOLLIN:
            self._read_ready()
        if ev & EPOLLOUT and self.fd >= 0 and self.mask & EPOLLOUT:
            self._write_ready()
        return 0

    # ---- reading

    cdef int _read_ready(self) except -1:
        cdef int avail = 0
        cdef ssize_t n, more
        cdef fn_stack *st = self.eng.stack.st
        cdef char *scratch = self.eng.rbuf
        if self.buffered:
            return self._read_buffered()
        n = fn_recv(st, self.fd, scratch, _READ_SCRATCH, 0)
        if n <= 0:
            return self._read_end(n)
        if n < _READ_SCRATCH:
            data = PyBytes_FromStringAndSize(scratch, n)
        else:
            # The scratch buffer filled: the rest of what is there (up to _READ_MAX in all)
            # goes straight into the bytes object.
            if fn_ioctl(st, self.fd, FIONREAD, &avail) < 0 or avail < 0:
                avail = 0
            if avail > _READ_MAX - n:
                avail = _READ_MAX - n
            data = PyBytes_FromStringAndSize(NULL, n + avail)
            memcpy(PyBytes_AS_STRING(data), scratch, n)
            if avail > 0:
                more = fn_recv(st, self.fd, PyBytes_AS_STRING(data) + n, avail, 0)
                if more < 0:
                    more = 0    # data it had just counted: an error shows on the next read
                if more < avail:
                    data = data[:n + more]
        self.in_read = True
        try:
            self.protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")
        finally:
            self.in_read = False
            self._flush_pending(0)
        return 0

    cdef int _read_buffered(self) except -1:
        cdef Py_buffer view
        cdef ssize_t n
        try:
            buf = self.protocol.get_buffer(-1)
            if not len(buf):
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return 0
        PyObject_GetBuffer(buf, &view, _PyBUF_WRITABLE)
        try:
            n = fn_recv(self.eng.stack.st, self.fd, view.buf, <size_t>view.len, 0)
        finally:
            PyBuffer_Release(&view)
        if n > 0:
            self.in_read = True
            try:
                self.protocol.buffer_updated(n)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
            finally:
                self.in_read = False
                self._flush_pending(0)
            return 0
        return self._read_end(n)

    cdef int _read_end(self, ssize_t n) except -1:
        """A recv that returned 0 (EOF) or -1 (errno)."""
        cdef int err = errno
        if n < 0:
            if err == EAGAIN or err == EINTR:
                return 0
            self._fatal_error(_errno_exc(err), "Fatal read error on socket transport")
            return 0
        self.eof_seen = True
        self._update()
        if self.loop.get_debug():
            _aio_logger.debug("%r received EOF", self)
        try:
            keep_open = self.protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return 0
        if not keep_open:
            self.close()
        return 0

    def pause_reading(self):
        if self.closing or self.paused:
            return
        self.paused = True
        self._update()

    def resume_reading(self):
        if self.closing or not self.paused:
            return
        self.paused = False
        self._update()

    def is_reading(self):
        return not self.closing and not self.paused

    # ---- writing

    def write(self, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if self.eof_written:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        if self.pending is not None:
            self._flush_pending(0)
        elif (self.in_read and type(data) is bytes and len(<bytes>data) <= _HOLD_MAX
                and len(<bytes>data) <= self.high and not self.conn_lost
                and not len(self.wbuf)):
            self.pending = data
            return
        self._send(data, 0)

    cdef int _flush_pending(self, int flags) except -1:
        data = self.pending
        if data is None:
            return 0
        self.pending = None
        return self._send(data, flags)

    cdef int _send(self, data, int flags) except -1:
        """write()'s part after the argument checks: send what the stack takes now, buffer
        the rest."""
        cdef Py_buffer view
        cdef ssize_t n
        cdef int err
        if self.fd < 0 or self.eng.stack.st == NULL:
            # Closed under the transport (loop.close(), Stack.close()): as a lost connection.
            self.conn_lost = max(self.conn_lost, 1)
        if self.conn_lost:
            if self.conn_lost >= _CONNLOST_LOG:
                _aio_logger.warning("socket.send() raised exception.")
            self.conn_lost += 1
            return 0
        if not len(self.wbuf):
            # Try to send now: the stack queues it and the next poll puts it on the wire.
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            n = fn_send(self.eng.stack.st, self.fd, view.buf, <size_t>view.len, flags)
            err = errno
            if n == view.len:
                PyBuffer_Release(&view)
                return 0
            if n < 0:
                PyBuffer_Release(&view)
                if err != EAGAIN and err != EINTR:
                    self._fatal_error(_errno_exc(err), "Fatal write error on socket transport")
                    return 0
                n = 0
            else:
                PyBuffer_Release(&view)
            self.wbuf += memoryview(data)[n:]
            self._update()
        else:
            self.wbuf += data
        return self._maybe_pause_protocol()

    def writelines(self, list_of_data):
        if self.eof_written and _WRITELINES_NAMES_ITSELF:
            raise RuntimeError("Cannot call writelines() after write_eof()")
        self.write(b"".join(list_of_data))

    cdef int _write_ready(self) except -1:
        cdef ssize_t n
        cdef int err
        cdef char *p
        if self.conn_lost or not len(self.wbuf):
            return 0
        p = self.wbuf
        n = fn_send(self.eng.stack.st, self.fd, p, <size_t>len(self.wbuf), 0)
        if n < 0:
            err = errno
            if err == EAGAIN or err == EINTR:
                return 0
            del self.wbuf[:]
            self._update()
            self._fatal_error(_errno_exc(err), "Fatal write error on socket transport")
            return 0
        if n:
            del self.wbuf[:n]
        self._maybe_resume_protocol()
        if not len(self.wbuf):
            self._update()
            if self.closing:
                self._connection_lost_c(None)
            elif self.eof_written:
                fn_shutdown(self.eng.stack.st, self.fd, SHUT_WR)
        return 0

    def write_eof(self):
        if self.closing or self.eof_written:
            return
        self._flush_pending(MSG_MORE)
        if self.closing:
            return      # the send failed: the connection is being closed
        self.eof_written = True
        if not len(self.wbuf) and self.fd >= 0 and self.eng.stack.st != NULL:
            fn_shutdown(self.eng.stack.st, self.fd, SHUT_WR)

    def can_write_eof(self):
        return True

    def get_write_buffer_size(self):
        self._flush_pending(0)
        return len(self.wbuf)

    def get_write_buffer_limits(self):
        return (self.low, self.high)

    def set_write_buffer_limits(self, high=None, low=None):
        if high is None:
            high = 65536 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self.high = high
        self.low = low
        self._maybe_pause_protocol()

    cdef int _maybe_pause_protocol(self) except -1:
        if len(self.wbuf) <= self.high or self.proto_paused:
            return 0
        self.proto_paused = True
        try:
            self.protocol.pause_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.loop.call_exception_handler({
                "message": "protocol.pause_writing() failed", "exception": exc,
                "transport": self, "protocol": self.protocol})
        return 0

    cdef int _maybe_resume_protocol(self) except -1:
        if not self.proto_paused or len(self.wbuf) > self.low:
            return 0
        self.proto_paused = False
        try:
            self.protocol.resume_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.loop.call_exception_handler({
                "message": "protocol.resume_writing() failed", "exception": exc,
                "transport": self, "protocol": self.protocol})
        return 0

    # ---- closing

    def is_closing(self):
        self._flush_pending(0)
        return self.closing

    def close(self):
        cdef bint held
        if self.closing:
            return
        held = self.pending is not None
        self._flush_pending(MSG_MORE)
        if self.closing:
            return      # the send failed: the connection is being closed
        self.closing = True
        self._update()
        if not len(self.wbuf):
            if held and self.fd >= 0 and self.eng.stack.st != NULL:
                # Nothing can be written any more: the FIN now releases the held tail with
                # it (the socket itself is closed with connection_lost, as before).
                fn_shutdown(self.eng.stack.st, self.fd, SHUT_WR)
            self.conn_lost += 1
            _call_soon(self.eng, self, _SOON_LOST, None)

    def abort(self):
        """Drop queued data and close at once.  As the stock loop's (a kernel close), the
        peer sees a FIN, or a RST when received data was left unread."""
        self._force_close_c(None)

    cdef int _fatal_error(self, exc, message) except -1:
        if isinstance(exc, OSError):
            if self.loop.get_debug():
                _aio_logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self.loop.call_exception_handler({
                "message": message, "exception": exc, "transport": self,
                "protocol": self.protocol})
        return self._force_close_c(exc)

    def _force_close(self, exc):
        # sslproto.SSLProtocol calls this on the transport under it.
        self._force_close_c(exc)

    cdef int _force_close_c(self, exc) except -1:
        # A held write was, for the stock loop, in the kernel already: it goes first.
        self._flush_pending(0)
        if self.conn_lost:
            return 0
        if len(self.wbuf):
            del self.wbuf[:]
        if not self.closing:
            self.closing = True
        self._update()
        self.conn_lost += 1
        _call_soon(self.eng, self, _SOON_LOST, exc)
        return 0

    def _call_connection_lost(self, exc):
        self._connection_lost_c(exc)

    cdef int _connection_lost_c(self, exc) except -1:
        try:
            if self.protocol is not None:
                self.protocol.connection_lost(exc)
        finally:
            self._close_fd()
            self.protocol = None
            server = self.server
            self.server = None
            if server is not None:
                clients = self.clients
                if clients is None:
                    server._detach(self)
                else:
                    # fastnet.loop._Server._detach, without its Python frame.
                    self.clients = None
                    clients.discard(self)
                    if not clients and server._sockets is None:
                        server._wakeup()
        return 0

    cdef int _close_fd(self) except -1:
        cdef fn_stack *st = self.eng.stack.st
        if self.fd < 0:
            return 0
        if st == NULL:
            self.fd = -1
            return 0
        self.eng.forget(self)
        self.eng.n_transports -= 1
        if self.sock_obj is not None:
            self.sock_obj.close()
        else:
            fn_close(st, self.fd)
        self.fd = -1
        return 0

    # ---- the rest of asyncio.Transport

    def set_protocol(self, protocol):
        self.protocol = protocol
        self.buffered = isinstance(protocol, _BufferedProtocol)

    def get_protocol(self):
        return self.protocol

    def get_extra_info(self, name, default=None):
        if self.extra is not None and name in self.extra:
            return self.extra[name]
        if name == "peername":
            return _sockaddr_to(&self.peer) if self.have_names else default
        if name == "sockname":
            return _sockaddr_to(&self.local) if self.have_names else default
        if name == "socket":
            if self.trsock is None:
                if self.sock_obj is None and self.fd >= 0:
                    self.sock_obj = _socket_for(self.eng.stack, self.fd)
                if self.sock_obj is None:
                    return default
                self.trsock = _trsock.TransportSocket(self.sock_obj)
            return self.trsock
        return default

    def __repr__(self):
        state = " closing" if self.closing else ""
        return f"<fastnet transport fd={self.fd}{state} stack={self.eng.stack.ip}>"

