"""The HTTP/1.1 echo server: one asyncio Protocol over any event loop (stock, uvloop, fastnet).

Contract (CONTRACT.md §2):
  GET      -> 200, text/plain body: the request head as parsed (the request line, each header
              name and value as received, in order, one "name: value" line each, and the
              blank line ending the head; every line CRLF-terminated).
  HEAD     -> the headers of that GET response, no body.
  POST/PUT -> 200, the request body (Content-Length or chunked) echoed with a Content-Length.
  other    -> 405 with Allow (the connection stays usable).
  Keep-alive by default on HTTP/1.1, HTTP/1.0 only when asked; `Connection: close` is honoured
  (the connection closes after that response); pipelined requests are answered in order with
  one transport.write per data_received.  Malformed -> 400, a body over max_body -> 413 (as soon
  as Content-Length or the chunks say so), headers over max_header bytes -> 431; every error
  response closes the connection.  Upgrade requests are answered as plain requests and the
  connection closed afterwards (this server speaks only HTTP/1.1).  A connection with no bytes
  received for idle_timeout seconds is closed by a per-server sweep.

Layout, h11-style: `EchoConnection` is the protocol state machine and does no I/O (bytes in,
bytes out, and a flag saying the connection must close); `EchoProtocol` is the thin asyncio
glue that owns the transport; `EchoServer` holds what all connections share (limits, the
coarse clock, the Date header, the set of live connections for the idle sweep).

What may fail: the parser rejects bad input (turned into 400/413/431 responses here, never an
exception out of data_received); create_server errors (address in use, ...) propagate from
EchoServer.start to the caller.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
from typing import Any

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

__all__ = ["EchoConnection", "EchoProtocol", "EchoServer", "DEFAULT_LIMITS"]

DEFAULT_LIMITS = {"max_body": 8 << 20, "max_header": 16 << 10, "idle_timeout": 60.0}

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    405: b"Method Not Allowed",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
}
_ECHO_BODY = frozenset((b"POST", b"PUT"))
_ECHO_HEAD = frozenset((b"GET", b"HEAD"))
# The head of every GET/HEAD answer up to the Content-Length value.
_HEAD_TEXT = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
# httptools gives the version as str; the echoed request line needs bytes.
_VERSION_BYTES = {"1.1": b"1.1", "1.0": b"1.0", "0.9": b"0.9"}
# Per header line: ": " and CRLF around name and value.  The request line's own overhead
# (two spaces, "HTTP/1.x", CRLF) is counted once per message.
_HDR_LINE_OVERHEAD = 4
_REQ_LINE_OVERHEAD = 12


class _Reject(Exception):
    """Raised from a parser callback to stop parsing; the status is on the connection."""


class Shared:
    """What the connections of one server share: limits and the Date header line.

    EchoServer keeps `date_line` current (once per sweep); tests of EchoConnection alone may
    use a Shared with a fixed date."""

    __slots__ = ("max_body", "max_header", "head_step", "date_line")

    def __init__(self, max_body: int, max_header: int) -> None:
        self.max_body = max_body
        self.max_header = max_header
        # EchoConnection.feed(): the piece size for batches in which a head may begin.
        self.head_step = max(1024, max_header // 4)
        self.date_line = b""
        self.update_date()

    def update_date(self) -> None:
        # RFC 9110 §6.6.1: an origin server with a clock sends Date; one-second resolution is
        # what the field has, so formatting it once per sweep is exact enough.
        self.date_line = b"Date: " + email.utils.formatdate(usegmt=True).encode() + b"\r\n"


class EchoConnection:
    """The HTTP/1.1 state of one connection, without I/O.

    feed(data) parses what arrived and returns the bytes to send for every request it
    completed (b"" when none).  After it returns, `must_close` says the connection must be
    closed once those bytes are written, and `failed` that the last response was an error
    (the client may still be sending); feed() ignores anything that arrives after that.
    """

    __slots__ = ("shared", "parser", "out", "must_close", "failed", "reject", "in_headers",
                 "in_body", "hdr_bytes", "hdr_raw", "url", "headers", "body", "body_len", "clen",
                 "expect_continue")

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.parser = HttpRequestParser(self)
        self.out: list[bytes] = []
        self.must_close = False
        self.failed = False
        self.reject = 0
        self.in_body = False  # between the head and the end of a Content-Length body
        self.body: list[bytes] = []  # emptied by on_message_complete when a message had one
        self.on_message_begin()  # the per-message fields, as before a first message
        self.in_headers = False

    # --- bytes in, bytes out ---------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        if self.must_close:
            return b""
        n = len(data)
        step = self.shared.head_step
        if self.in_headers or n <= step or (self.in_body and self.clen - self.body_len >= n):
            pieces: Any = (data,)
        else:
            # A head may begin inside this batch, and httptools keeps a partial header line
            # to itself: fed whole, a batch holding the start of an endless header would be
            # held unseen until more bytes came (a client that sent it all and waits for the
            # answer would wait for ever).  Fed in steps, every step after the head opened
            # is counted, so at most one step of a head goes unseen.
            view = memoryview(data)
            pieces = [view[off:off + step] for off in range(0, n, step)]
        # The parsing loop is written out here, not in a helper: it runs for every request.
        for piece in pieces:
            if self.in_headers:
                # The whole piece arrived while a head was incomplete: httptools keeps a
                # partial header line to itself, so count raw bytes too, or one endless
                # header line would be buffered without bound before the exact count below
                # ever sees it.
                self.hdr_raw += len(piece)
            try:
                self.parser.feed_data(piece)
            except HttpParserUpgrade:
                # The request was answered as a plain one (on_message_complete ran); what
                # follows belongs to a protocol this server does not speak.
                self.must_close = True
            except HttpParserError as e:
                if self.reject:
                    self._error(self.reject)
                elif not self.must_close:
                    cause = e.__context__
                    if cause is not None and not isinstance(cause, _Reject):
                        raise cause  # a bug in a callback, not bad input
                    self._error(400)
                # else: bytes after a message that ended the connection; nothing more is sent.
            else:
                if self.in_headers and self.hdr_raw > self.shared.max_header:
                    self._error(431)
            if self.must_close:
                break
        out = self.out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def release(self) -> None:
        """The connection is gone: feed() answers nothing from now on.  The parser holds this
        object's callbacks (a reference cycle); dropping it lets reference counting free
        both at once instead of leaving a cycle per connection to the cyclic collector."""
        self.must_close = True
        self.parser = None  # type: ignore[assignment]

    def _error(self, status: int) -> None:
        body = _REASONS[status] + b"\n"
        self.out.append(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                        b"%sConnection: close\r\n\r\n%s"
                        % (status, _REASONS[status], len(body), self.shared.date_line, body))
        self.must_close = True
        self.failed = True

    def _stop(self, status: int) -> None:
        self.reject = status
        raise _Reject(status)

    # --- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        # Per-message state, set here in one frame (this runs for every request).
        self.hdr_bytes = _REQ_LINE_OVERHEAD
        self.hdr_raw = 0
        self.url = b""
        # The echoed header lines as they will be sent: name, ": ", value, CRLF for each.
        self.headers: list[bytes] = []
        self.body_len = 0
        self.clen = -1
        self.expect_continue = False
        self.in_headers = True

    def on_url(self, url: bytes) -> None:
        # llhttp may hand the target over in pieces (one per received batch).
        self.url += url
        self.hdr_bytes += len(url)
        if self.hdr_bytes > self.shared.max_header:
            self._stop(431)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers += (name, b": ", value, b"\r\n")
        self.hdr_bytes += len(name) + len(value) + _HDR_LINE_OVERHEAD
        if self.hdr_bytes > self.shared.max_header:
            self._stop(431)
        n = len(name)
        if n == 14 and name.lower() == b"content-length":
            try:
                self.clen = int(value)
            except ValueError:  # llhttp checks the digits first; never trust that blindly
                self._stop(400)
        elif n == 6 and name.lower() == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True

    def on_headers_complete(self) -> None:
        self.in_headers = False
        self.in_body = self.clen > 0
        if self.clen > self.shared.max_body:
            self._stop(413)
        # RFC 9110 §10.1.1: a client waiting for 100 before sending the body gets it now
        # (an HTTP/1.0 client cannot have asked for it).
        if (self.expect_continue and self.clen != 0
                and self.parser.get_http_version() == "1.1"):
            self.out.append(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, chunk: bytes) -> None:
        self.body_len += len(chunk)
        if self.body_len > self.shared.max_body:
            self._stop(413)
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        self.in_body = False
        parts = self.body
        if parts:
            self.body = []
        p = self.parser
        method = p.get_method()
        version = p.get_http_version()
        # An Upgrade this server does not perform ends the connection (see the module doc).
        keep = p.should_keep_alive() and not p.should_upgrade()
        if not keep:
            conn = b"Connection: close\r\n"
            self.must_close = True
        elif version == "1.0":
            conn = b"Connection: keep-alive\r\n"
        else:
            conn = b""
        if method in _ECHO_HEAD:
            vb = _VERSION_BYTES.get(version) or version.encode()
            # The echo is what hdr_bytes counted (the request line without its method, with
            # "HTTP/1.x", and the header lines), the method and the blank line: its length
            # is known before it is built, so one formatting step writes the whole answer
            # (this runs for every GET).
            n = self.hdr_bytes + len(method) + 2 + len(vb) - 3
            if method == b"HEAD":
                self.out.append(b"%s%d\r\n%s%s\r\n" % (_HEAD_TEXT, n, self.shared.date_line,
                                                          conn))
            else:
                self.out.append(b"%s%d\r\n%s%s\r\n%s %s HTTP/%s\r\n%s\r\n"
                                % (_HEAD_TEXT, n, self.shared.date_line, conn, method,
                                   self.url, vb, b"".join(self.headers)))
            return
        if method in _ECHO_BODY:
            body = b"".join(parts)
            status, ctype, extra = 200, b"application/octet-stream", b""
        else:
            body = b"GET, HEAD, POST, PUT\n"
            status, ctype, extra = 405, b"text/plain", b"Allow: GET, HEAD, POST, PUT\r\n"
        self.out.append(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s%s%s\r\n%s"
                        % (status, _REASONS[status], ctype, len(body), self.shared.date_line,
                           conn, extra, body))


class EchoProtocol(asyncio.Protocol):
    """asyncio glue: bytes from the transport into EchoConnection, its output out in one write.

    Back-pressure: when the transport's write buffer passes its high-water mark, reading
    stops until it drains, so a client that sends but never reads cannot make the server
    buffer without bound (the kernel's or the stack's receive window then stops the client).

    Lingering close after an error response: the client may still be sending (the rest of a
    body over the limit, an endless header); closing with unread bytes would make the kernel
    answer with RST, which can destroy the error response before the client reads it.  So
    the server half-closes, discards what still arrives, and closes on the client's FIN or
    after EchoServer.LINGER seconds, whichever comes first.
    """

    __slots__ = ("server", "conn", "transport", "last", "paused", "linger_until")

    def __init__(self, server: "EchoServer") -> None:
        self.server = server
        self.conn = EchoConnection(server.shared)
        self.transport: Any = None
        self.last = server.tick
        self.paused = False
        self.linger_until = 0  # tick after which a lingering connection is closed; 0: none

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.last = self.server.tick
        self.server.conns.add(self)

    def data_received(self, data: bytes) -> None:
        self.last = self.server.tick
        conn = self.conn
        if conn.must_close:
            return  # lingering: what arrives after an error response is dropped
        out = conn.feed(data)
        t = self.transport
        if out:
            t.write(out)
        if conn.must_close:
            if conn.failed and t.can_write_eof():
                t.write_eof()
                self.linger_until = self.server.tick + self.server.linger_ticks
            else:
                t.close()

    def eof_received(self) -> None:
        # Everything the client sent before its FIN has been answered already (the responses
        # are written inside data_received); returning None lets the transport close.
        return None

    def pause_writing(self) -> None:
        self.paused = True
        t = self.transport
        if t is not None and not t.is_closing():
            t.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        self.last = self.server.tick
        t = self.transport
        if t is not None and not t.is_closing():
            t.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.conns.discard(self)
        self.transport = None
        self.conn.release()


class EchoServer:
    """One listening server and its connections.

    The idle sweep: a single call_later chain per server ticks a coarse clock every
    `interval` seconds; each connection records the tick of its last received bytes (an
    attribute store, no timer per connection), and the sweep closes those idle for more than
    idle_timeout.  A connection closes between idle_timeout and idle_timeout + interval after
    its last bytes.  The same sweep ends lingering closes (EchoProtocol)."""

    LINGER = 2.0  # seconds a connection may keep sending after an error response

    def __init__(self, limits: dict[str, Any] | None = None) -> None:
        lim = dict(DEFAULT_LIMITS)
        lim.update(limits or {})
        self.shared = Shared(int(lim["max_body"]), int(lim["max_header"]))
        idle = float(lim["idle_timeout"])
        if not idle > 0:
            raise ValueError(f"idle_timeout {idle}: must be > 0")
        self.interval = min(1.0, idle / 2)
        self.idle_ticks = max(1, math.ceil(idle / self.interval))
        self.linger_ticks = max(1, math.ceil(self.LINGER / self.interval))
        self.tick = 0
        self.conns: set[EchoProtocol] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: asyncio.AbstractServer | None = None
        self._sweep_handle: asyncio.TimerHandle | None = None

    def protocol(self) -> EchoProtocol:
        return EchoProtocol(self)

    async def start(self, host: str, port: int, backlog: int = 1024) -> int:
        """Listen; returns the bound port (the chosen one when port is 0)."""
        self.loop = asyncio.get_running_loop()
        self.server = await self.loop.create_server(self.protocol, host, port,
                                                    backlog=backlog, reuse_address=True)
        self._sweep_handle = self.loop.call_later(self.interval, self._sweep)
        try:
            return int(self.server.sockets[0].getsockname()[1])
        except (AttributeError, IndexError, OSError, TypeError):
            return port

    def _sweep(self) -> None:
        assert self.loop is not None
        self.tick += 1
        self.shared.update_date()
        limit = self.tick - self.idle_ticks
        tick = self.tick
        for p in [p for p in self.conns if p.last < limit or 0 < p.linger_until <= tick]:
            t = p.transport
            if t is None:
                continue
            # A paused connection has unsent data its client is not reading: close() would
            # wait for it forever, so drop it instead.
            if p.paused:
                t.abort()
            else:
                t.close()
        self._sweep_handle = self.loop.call_later(self.interval, self._sweep)

    async def _wait_no_conns(self, timeout: float) -> None:
        """Until every connection_lost has run (they are called soon after close/abort)."""
        end = asyncio.get_running_loop().time() + timeout
        while self.conns and asyncio.get_running_loop().time() < end:
            await asyncio.sleep(0.01)

    async def close(self, timeout: float = 5.0) -> None:
        """Stop listening, close every connection (pending responses are flushed, bounded by
        timeout), stop the sweep."""
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._sweep_handle = None
        if self.server is not None:
            self.server.close()
        for p in list(self.conns):
            if p.transport is not None:
                p.transport.close()
        await self._wait_no_conns(timeout)
        for p in list(self.conns):
            if p.transport is not None:
                p.transport.abort()
        await self._wait_no_conns(timeout)
        if self.server is not None:
            try:
                await asyncio.wait_for(self.server.wait_closed(), timeout)
            except asyncio.TimeoutError:
                pass
