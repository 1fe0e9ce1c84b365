"""`python -m apps.http_echo.native --port P [--host H] [limits] [fastnet flags]`: the native
server on its own, with the command line of `python -m apps.http_echo --loop native` minus
--loop (the app's front end is the usual way in; this one needs nothing but this package).
Exit status: that of the server (0 after SIGINT/SIGTERM), 2 for bad arguments."""

from __future__ import annotations

import argparse
import sys

from fastnet import cli

from . import DEFAULT_LIMITS, serve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m apps.http_echo.native",
                                description="HTTP/1.1 echo server, all in C on fastnet")
    p.add_argument("--host", default=None, help="listen address (default: the stack's IP)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--max-body", type=int, default=DEFAULT_LIMITS["max_body"],
                   help="413 for request bodies above this many bytes (default 8 MiB)")
    p.add_argument("--max-header", type=int, default=DEFAULT_LIMITS["max_header"],
                   help="431 for request heads above this many bytes (default 16 KiB)")
    p.add_argument("--idle-timeout", type=float, default=DEFAULT_LIMITS["idle_timeout"],
                   help="close connections idle this many seconds (default 60)")
    p.add_argument("--config", default=None, help="fastnet TOML configuration file")
    cli._add_config_flags(p)
    ns = p.parse_args(argv)
    flags: dict[str, object] = dict(cli._overrides(ns))     # dotted keys, string values
    if ns.config:
        flags["config"] = ns.config
    limits = {"max_body": ns.max_body, "max_header": ns.max_header,
              "idle_timeout": ns.idle_timeout}
    return serve(ns.host, ns.port, limits, flags)


if __name__ == "__main__":
    sys.exit(main())
