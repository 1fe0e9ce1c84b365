"""The native HTTP echo server: `python -m apps.http_echo --loop native` runs this.

Contract (CONTRACT.md §2): ``serve(host, port, limits, stack_options) -> int``.  All
per-request work happens in C (http_echo_native.c: fastnet's socket API on one stack, the
llhttp parser); this module only builds that program (``make``, which rebuilds it when a
source changed and does nothing otherwise), translates the arguments into its command line
and runs it.  By default the program replaces this process (``os.execv``), so a benchmark
that watches the server's PID, CPU and RSS sees the C server alone; ``serve`` then returns
only when it could not start it.  ``replace_process=False`` runs it as a child instead,
forwards SIGINT/SIGTERM to it and returns its exit status.

- host: the address to listen on (None or "" = the stack's IP).
- limits: {"max_body": int, "max_header": int, "idle_timeout": float}; missing keys take the
  app's defaults (8 MiB, 16 KiB, 60 s).
- stack_options: fastnet flag kwargs as for fastnet.Stack (``iface=``, ``backend=``,
  ``ip="198.18.0.1/24"``, ``tcp_sndbuf=``, ``fault_drop=``, ``pcap=``, ..., and ``config=``
  for a TOML file; dotted keys such as ``"port.iface"`` are accepted too), validated by
  fastnet.config exactly as `fastnet up` validates them.

The llhttp sources are a build-time dependency fetched by fetch_llhttp.sh (see there and the
README); FASTNET_NATIVE_SAN=1 builds and runs the ASan/UBSan variant.  Errors in the
arguments (ValueError/TypeError from fastnet.config, or here) give 2, a failed build 1 (the
exit statuses of `python -m apps.http_echo`), each reported on stderr as `http_echo: ...`.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from typing import Any, Mapping

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DEFAULT_LIMITS = {"max_body": 8 << 20, "max_header": 16 << 10, "idle_timeout": 60.0}

# fn_fault_dir fields by fastnet.Stack's fault-dict name: (field, scale).  Probabilities
# become parts per million, milliseconds nanoseconds (as _core.pyx's _set_fault_dir does).
_FAULT_FIELDS = {
    "drop": ("drop_ppm", 1e6), "dup": ("dup_ppm", 1e6), "reorder": ("reorder_ppm", 1e6),
    "corrupt": ("corrupt_ppm", 1e6), "delay": ("delay_ppm", 1e6),
    "delay_ms": ("delay_ns", 1e6), "rate_bps": ("rate_bps", 1), "burst_bytes": ("burst_bytes", 1),
}


class BuildError(RuntimeError):
    """`make` could not build the native server; the message carries make's output."""


def san_enabled() -> bool:
    return os.environ.get("FASTNET_NATIVE_SAN", "") not in ("", "0")


def build(san: bool | None = None) -> str:
    """Path of the built server, (re)built by make when out of date.  Servers started at
    the same time (a test suite, the benchmark) build one after the other, under a lock,
    so none runs a half-written binary."""
    san = san_enabled() if san is None else san
    os.makedirs(os.path.join(HERE, "build"), exist_ok=True)
    with open(os.path.join(HERE, "build", ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = subprocess.run(["make", "-s", "-C", HERE, f"SAN={1 if san else 0}"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise BuildError(f"building the native server failed:\n{r.stdout}")
    return os.path.join(HERE, "build-san" if san else "build", "http_echo_native")


def _flag_kwargs(stack_options: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    from fastnet import config as fconfig

    by_dotted = {k.dotted: k.cli_flag[2:].replace("-", "_") for k in fconfig.KEYS}
    opts: dict[str, Any] = {}
    config = None
    for name, value in stack_options.items():
        if name == "config":
            config = value
        elif value is not None:
            opts[by_dotted.get(name, name)] = value
    return config, opts


def _default_xdp_obj(backend: str) -> str | None:
    """The XDP program fastnet.Stack uses (built next to the extension), else the one
    `make -C stack bpf` builds — built now when af_xdp needs it and neither exists."""
    import fastnet

    here = os.path.join(os.path.dirname(os.path.abspath(fastnet.__file__)), "fn_xdp_kern.o")
    made = os.path.join(ROOT, "stack", "build", "fn_xdp_kern.o")
    for p in (here, made):
        if os.path.exists(p):
            return p
    if backend != "af_xdp":
        return None
    r = subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "stack"), "bpf"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise BuildError(f"building the XDP program failed:\n{r.stdout}")
    return made


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def _fault_args(fault: Mapping[str, Any]) -> list[str]:
    fault = dict(fault)
    seed = _int("fault seed", fault.pop("seed", 1))
    if seed < 0:
        raise ValueError("fault seed must be an int >= 0")
    args = ["--fault-seed", str(seed)]
    for key, value in fault.items():
        if value is None:
            continue
        side, _, name = key.partition("_")
        sides = (side,) if side in ("rx", "tx") and name in _FAULT_FIELDS else ("rx", "tx")
        name = name if len(sides) == 1 else key
        if name not in _FAULT_FIELDS:
            raise TypeError(f"unknown fault option {key!r}")
        field, scale = _FAULT_FIELDS[name]
        if scale == 1e6 and name != "delay_ms" and not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"fault {name} must be a probability in [0, 1], not {value}")
        if float(value) < 0:
            raise ValueError(f"fault {name} must be >= 0")
        n = int(float(value) * scale + 0.5) if scale != 1 else _int(name, value)
        args += [a for s in sides for a in ("--fault", f"{s}:{field}={n}")]
    return args


def command(host: str | None, port: int, limits: Mapping[str, Any],
            stack_options: Mapping[str, Any], exe: str = "http_echo_native") -> list[str]:
    """The native server's argv for these arguments (ValueError/TypeError when invalid,
    BuildError when af_xdp needs the XDP program and it cannot be built)."""
    from fastnet import config as fconfig

    config, flags = _flag_kwargs(stack_options)
    kw, log_level = fconfig.stack_kwargs_from(config, flags)
    lim = dict(DEFAULT_LIMITS)
    unknown = set(limits) - set(lim)
    if unknown:
        raise TypeError(f"unknown limits: {', '.join(sorted(unknown))}")
    lim.update({k: v for k, v in limits.items() if v is not None})
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be 1..65535, not {port!r}")
    if not kw.get("iface"):
        raise ValueError("port.iface is required (--iface)")
    backend = kw.pop("backend")
    argv = [exe, "--backend", backend, "--iface", kw.pop("iface"),
            "--ip", f"{kw.pop('ip')}/{_int('prefix_len', kw.pop('prefix_len', 24))}",
            "--port", str(port),
            "--max-body", str(_int("max_body", lim["max_body"])),
            "--max-header", str(_int("max_header", lim["max_header"])),
            "--idle-timeout", repr(float(lim["idle_timeout"]))]
    if host:
        argv += ["--host", host]
    if log_level:
        argv += ["--log-level", log_level]
    gateway = kw.pop("gateway", None)
    if gateway:
        argv += ["--gateway", str(gateway)]
    argv += ["--queue", str(_int("queue", kw.pop("queue", 0)))]
    argv += ["--xdp-mode", kw.pop("xdp_mode", "auto")]
    hold = _int("napi_hold_us", kw.pop("napi_hold_us", 200))
    if kw.pop("napi_poll", False):
        argv += ["--napi-poll"]
    argv += ["--napi-hold-us", str(hold), "--rx-moderation", kw.pop("rx_moderation", "auto")]
    xdp_obj = kw.pop("xdp_obj_path", None) or _default_xdp_obj(backend)
    if xdp_obj:
        argv += ["--xdp-obj", os.fspath(xdp_obj)]
    pcap = kw.pop("pcap", None)
    if pcap:
        argv += ["--pcap", os.fspath(pcap)]
    fault = kw.pop("fault", None)
    if fault:
        argv += _fault_args(fault)
    for name, value in kw.items():
        argv += ["--knob", f"{name}={_int(name, value)}"]
    return argv


def _run_child(exe: str, argv: list[str]) -> int:
    proc = subprocess.Popen(argv, executable=exe)

    def forward(sig: int, _frame: Any) -> None:
        proc.send_signal(sig)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return proc.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def serve(host: str | None, port: int, limits: Mapping[str, Any],
          stack_options: Mapping[str, Any], *, replace_process: bool = True) -> int:
    """Run the native server until SIGINT/SIGTERM (see the module docstring)."""
    try:
        argv = command(host, port, limits, stack_options)
    except (ValueError, TypeError) as e:
        print(f"http_echo: config error: {e}", file=sys.stderr)
        return 2
    except BuildError as e:
        print(f"http_echo: {e}", file=sys.stderr)
        return 1
    try:
        exe = build()
    except BuildError as e:
        print(f"http_echo: {e}", file=sys.stderr)
        return 1
    argv[0] = exe
    if not replace_process:
        return _run_child(exe, argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(exe, argv)
    return 2  # not reached: execv returns only by raising
