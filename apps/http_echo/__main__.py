"""`python -m apps.http_echo`: the HTTP echo server on a chosen event loop (CONTRACT.md §2).

    python -m apps.http_echo --loop {fastnet,uvloop,asyncio,native} [--host H] --port P
        [--max-body BYTES] [--max-header BYTES] [--idle-timeout SEC] [fastnet up's flags]

Exit status: 0 after SIGINT/SIGTERM; 1 when the server cannot start (address in use, the
stack cannot open) or (fastnet) stack sockets, transports or packet buffers are left after
every connection was closed; 2 for a usage or configuration error (one line on stderr).  When ready
it prints `http_echo: listening on H:P (loop=NAME)` to stderr (P is the bound port, so
--port 0 works on the kernel loops).  --loop fastnet opens the stack in the current network
namespace; --loop native hands everything to apps.http_echo.native.serve.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any, Callable, Sequence

from fastnet import cli as fcli
from fastnet import config as fconfig

from .server import DEFAULT_LIMITS, EchoServer

PROG = "http_echo"
LOOPS = ("fastnet", "uvloop", "asyncio", "native")


def _fail(msg: str, status: int) -> int:
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)
    return status


def _nonneg_int(s: str) -> int:
    try:
        v = int(s, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} is negative")
    return v


def _port(s: str) -> int:
    v = _nonneg_int(s)
    if v > 65535:
        raise argparse.ArgumentTypeError(f"{v} is not a TCP port (0..65535)")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{s}: must be a positive number of seconds")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m apps.{PROG}", allow_abbrev=False,
        description="HTTP/1.1 echo server: GET/HEAD echo the request head, POST/PUT the body.")
    p.add_argument("--loop", required=True, choices=LOOPS, help="event loop to run on")
    p.add_argument("--host", help="address to listen on (default: the stack's address for "
                   "fastnet and native, 0.0.0.0 for the kernel loops)")
    p.add_argument("--port", required=True, type=_port, help="TCP port (0: any free port)")
    p.add_argument("--max-body", type=_nonneg_int, default=DEFAULT_LIMITS["max_body"],
                   metavar="BYTES", help="larger request bodies get 413 (default 8 MiB)")
    p.add_argument("--max-header", type=_nonneg_int, default=DEFAULT_LIMITS["max_header"],
                   metavar="BYTES", help="larger request heads get 431 (default 16 KiB)")
    p.add_argument("--idle-timeout", type=_positive_float,
                   default=DEFAULT_LIMITS["idle_timeout"], metavar="SEC",
                   help="close connections idle this long (default 60)")
    fcli.add_stack_flags(p)
    return p


def _loop_factory(name: str, stack_options: dict[str, Any]) -> Callable[[], Any]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if name == "fastnet":
        import fastnet

        return lambda: fastnet.new_event_loop(**stack_options)
    # Stock asyncio whatever policy may be installed: the default selector loop.
    return asyncio.SelectorEventLoop


async def _serve(loop_name: str, host: str, port: int, limits: dict[str, Any]) -> int:
    loop = asyncio.get_running_loop()
    server = EchoServer(limits)
    try:
        bound = await server.start(host, port)
    except OSError as e:
        return _fail(f"cannot listen on {host}:{port}: {e.strerror or e}", 1)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"{PROG}: listening on {host}:{bound} (loop={loop_name})", file=sys.stderr,
          flush=True)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.close()
    # Every connection and the listener are closed now: anything the stack still holds for
    # them is a leak, reported like `fastnet up` reports leaked packet buffers.
    handles = getattr(loop, "fastnet_handles", None)
    left = {k: v for k, v in handles().items() if v} if handles is not None else {}
    if left:
        return _fail(f"fastnet handles left at exit: {left}", 1)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    on_stack = args.loop in ("fastnet", "native")
    try:
        # The kernel loops open no stack; their stack flags are still checked, not required.
        stack_options = fcli.stack_options(args, require=None if on_stack else ())
    except fconfig.ConfigError as e:
        return _fail(f"config error: {e}", 2)
    limits = {"max_body": args.max_body, "max_header": args.max_header,
              "idle_timeout": args.idle_timeout}
    host = args.host
    if host is None:
        if on_stack:
            ip = stack_options.get("ip")
            if ip is None:
                return _fail(f"--loop {args.loop} needs the stack's address (--ip or [port] ip "
                             "in --config)", 2)
            host = str(ip).split("/")[0]
        else:
            host = "0.0.0.0"
    if args.loop == "native":
        from .native import serve

        return int(serve(host, args.port, limits, stack_options))
    try:
        factory = _loop_factory(args.loop, stack_options)
        loop = factory()
    except OSError as e:
        return _fail(f"cannot open the {args.loop} loop: {e.strerror or e}", 1)
    except (TypeError, ValueError) as e:
        return _fail(f"config error: {e}", 2)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(_serve(args.loop, host, args.port, limits))
    except KeyboardInterrupt:  # a SIGINT before the handlers were installed
        return 0
    finally:
        asyncio.set_event_loop(None)
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
