"""The `fastnet` command: up, stat, testnet, demo.

Contract: main(argv) parses the command line and returns the exit status:
  0  success
  1  runtime failure (backend cannot open, namespace missing, stats file missing, failed
     requests or lost pings in the demo, leaked packet buffers at exit)
  2  usage or configuration error (argparse, ConfigError) — one line on stderr:
     "fastnet: config error: <key>: <problem>"
Errors are printed as one line starting with "fastnet: "; no tracebacks for expected
failures.  `fastnet up` and `fastnet demo` (through the processes it starts) are the only
subcommands that need the C extension (fastnet._core).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Sequence

from . import __version__, netns
from . import config as fconfig
from . import testnet as ftestnet

log = logging.getLogger("fastnet")

PROG = "fastnet"


class StopRequested(BaseException):
    """Raised from the SIGTERM handler so that Stack.run() returns to `fastnet up`.

    A BaseException, like KeyboardInterrupt, so no `except Exception` on the way swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _fail(msg: str, status: int = 1) -> int:
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)
    return status


def _setup_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, format=f"{PROG}: %(message)s",
                        level=getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("fastnet").setLevel(getattr(logging, level.upper(), logging.INFO))


# ---------------------------------------------------------------------------------------
# fastnet up


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per configuration key (generated from fastnet.config.KEYS), grouped by
    section.  Values stay strings here; fastnet.config converts and validates them so a bad
    flag and a bad file value give the same one-line error naming the key."""
    groups: dict[str, Any] = {}
    for k in fconfig.KEYS:
        g = groups.get(k.section)
        if g is None:
            g = groups[k.section] = p.add_argument_group(f"[{k.section}] (see docs/config.md)")
        metavar = {"int": "N", "float": "SEC", "prob": "P", "bool": "BOOL", "cidr": "IP/LEN",
                   "ipv4": "IP", "path": "PATH"}.get(k.kind, k.name.upper())
        default = k.default if k.default is not None else "none"
        kwargs: dict[str, Any] = {"dest": "cfg:" + k.dotted, "default": None,
                                  "metavar": metavar,
                                  "help": f"{k.doc} [{k.dotted}, default {default}]"}
        if k.kind == "choice":
            kwargs["choices"] = k.choices
            kwargs.pop("metavar")
        if k.kind == "bool":
            # A bare boolean flag (--napi-poll) turns it on; --flag false still works.
            kwargs["nargs"] = "?"
            kwargs["const"] = "true"
        g.add_argument(k.cli_flag, **kwargs)


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    return {d[4:]: v for d, v in vars(ns).items() if d.startswith("cfg:") and v is not None}


def add_stack_flags(p: argparse.ArgumentParser) -> None:
    """The stack flags of `fastnet up` (--config and one flag per key) on another program's
    parser, so that every program that opens a stack takes the same flags."""
    p.add_argument("--config", "-c", metavar="FILE", help="TOML config file")
    _add_config_flags(p)


def stack_options(ns: argparse.Namespace,
                  require: Sequence[str] | None = None) -> dict[str, Any]:
    """The keys set by --config and the flags of add_stack_flags, validated, as keyword
    arguments named like the flags (fastnet.config.FLAG_KWARGS): what fastnet.Stack and
    fastnet.new_event_loop take.  require as for fastnet.config.load (default: the keys a
    stack needs).  Raises fastnet.config.ConfigError."""
    cfg = fconfig.load(ns.config, _overrides(ns), require=require)
    by_dotted = {k.dotted: name for name, k in fconfig.FLAG_KWARGS.items()}
    # Addresses go back as strings: that is the form the keyword arguments are checked in.
    return {by_dotted[d]: (str(cfg[d]) if isinstance(cfg[d], _ADDRESS_TYPES) else cfg[d])
            for d in sorted(cfg.explicit)}


_ADDRESS_TYPES = (ipaddress.IPv4Address, ipaddress.IPv4Interface, ipaddress.IPv4Network)


def _write_json_atomic(path: str, data: dict[str, Any]) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fastnet-", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=False)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class _StatsWriter:
    """Writes the stack's counters to the stats file; a failure is reported once."""

    def __init__(self, path: str, st: Any, ip: str, descs: dict[str, str]):
        self.path = path
        self.st = st
        self.ip = ip
        self.descs = descs
        self.started = time.time()
        self.failed = False

    def write(self, running: bool) -> dict[str, int]:
        counters = {k: int(v) for k, v in self.st.stats().items()}
        data = {
            "fastnet": __version__,
            "iface": self.st.iface,
            "backend": self.st.backend_name,
            "mac": self.st.mac,
            "ip": self.ip,
            "mtu": self.st.mtu,
            "pid": os.getpid(),
            "running": running,
            "started": self.started,
            "time": time.time(),
            "stats": counters,
            "descriptions": {k: self.descs[k] for k in counters if k in self.descs},
        }
        try:
            _write_json_atomic(self.path, data)
        except OSError as e:
            if not self.failed:
                log.warning("cannot write stats file %s: %s", self.path, e.strerror or e)
                self.failed = True
        else:
            if self.failed:
                log.info("stats file %s written again", self.path)
            self.failed = False
        return counters


def _stats_descriptions(core: Any) -> dict[str, str]:
    fn = getattr(core, "stats_descriptions", None)
    if fn is None:
        return dict(_BACKEND_DESCS)
    try:
        d = dict(fn())
    except Exception:  # a missing description is not worth failing over
        d = {}
    for k, v in _BACKEND_DESCS.items():
        d.setdefault(k, v)
    return d


# Descriptions of the counters the extension adds beside the stack's own (fn_stack.h has
# those): struct fn_backend_stats and struct fn_pool_stats.
_BACKEND_DESCS = {
    "backend.rx_packets": "frames received by the backend",
    "backend.rx_bytes": "bytes received by the backend",
    "backend.rx_nobuf": "frames the backend dropped: packet pool empty",
    "backend.rx_errors": "frames the backend dropped: too long or ring error",
    "backend.tx_packets": "frames sent by the backend",
    "backend.tx_bytes": "bytes sent by the backend",
    "backend.tx_drops": "frames not sent: TX ring full or error",
    "backend.tx_kicks": "wakeup syscalls made to send",
    "backend.napi_polls": "af_xdp napi_poll: recvfrom calls made to run the interface's NAPI "
                          "(made only where the XDP socket has a NAPI id; 0 on copy mode)",
    "backend.rx_moderated": "af_xdp adaptive rx moderation: 1 while the interface's NAPI "
                            "deferral is on (a high receive rate)",
    "backend.rx_moderation_switches": "af_xdp adaptive rx moderation: times the deferral "
                                      "went on or off",
    "backend.held": "packet buffers the backend holds now (rings, delay queues)",
    "backend.fault_dropped": "fault injection: frames dropped",
    "backend.fault_duplicated": "fault injection: frames duplicated",
    "backend.fault_reordered": "fault injection: frames reordered",
    "backend.fault_delayed": "fault injection: frames delayed",
    "backend.fault_corrupted": "fault injection: frames corrupted",
    "backend.fault_rate_limited": "fault injection: frames over the rate limit",
    "pool.size": "packet buffers in the pool",
    "pool.in_use": "packet buffers allocated now (backend.held included)",
    "pool.peak_in_use": "most packet buffers allocated at once",
    "pool.buf_size": "bytes per packet buffer",
    "pool.allocs": "packet buffer allocations",
    "pool.frees": "packet buffer frees",
    "pool.alloc_failures": "packet buffer allocations that found the pool empty",
    "pool.hugepages": "1 if the pool sits on 2 MB hugepages",
}


def _summary(counters: dict[str, int]) -> str:
    # Gauges (the pool's, the buffers a backend holds) are not traffic.
    nz = [(k, v) for k, v in counters.items()
          if v and not k.startswith("pool.") and k != "backend.held"]
    if not nz:
        return f"{PROG}: no traffic"
    w = max(len(k) for k, _ in nz)
    return "\n".join([f"{PROG}: counters at exit (non-zero):"] +
                     [f"  {k:<{w}}  {v}" for k, v in nz])


def cmd_up(args: argparse.Namespace) -> int:
    try:
        cfg = fconfig.load(args.config, _overrides(args))
    except fconfig.ConfigError as e:
        return _fail(f"config error: {e}", 2)
    _setup_logging(cfg.log_level)
    kwargs = cfg.stack_kwargs()
    if args.dry_run:
        print(json.dumps({"config": cfg.describe(), "stack_kwargs": kwargs,
                          "stats_file": cfg.stats_file, "netns": args.netns}, indent=1))
        return 0

    if args.netns:
        try:
            netns.enter(args.netns)
        except OSError as e:
            return _fail(e.strerror or str(e))
    if cfg.core >= 0:
        try:
            os.sched_setaffinity(0, {cfg.core})
        except OSError as e:
            return _fail(f"cannot pin to core {cfg.core}: {e.strerror}")

    try:
        from . import _core
    except ImportError as e:
        return _fail(f"the C extension fastnet._core is not available ({e}); "
                     "build it with `pip install -e .`")

    set_level = getattr(_core, "set_log_level", None)
    if set_level is not None:
        set_level(cfg.log_level)

    # Install the handlers before the stack exists: a SIGTERM during start-up must still
    # end in close() (which detaches the XDP program).
    def on_signal(signum: int, _frame: Any) -> None:
        raise StopRequested(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    st = None
    status = 0
    writer = None
    try:
        try:
            st = _core.Stack(**kwargs)
        except OSError as e:
            msg = e.strerror or str(e)
            return _fail(msg if args.netns is None else f"{msg} (netns {args.netns})")
        except (TypeError, ValueError) as e:
            return _fail(f"config error: {e}", 2)
        print(f"{PROG}: up iface={st.iface} backend={st.backend_name} mac={st.mac} "
              f"ip={cfg.ip} mtu={st.mtu}", flush=True)
        writer = _StatsWriter(cfg.stats_file, st, str(cfg.ip), _stats_descriptions(_core))
        writer.write(running=True)
        while True:
            st.run(duration=cfg.stats_interval)
            writer.write(running=True)
    except StopRequested as e:
        log.debug("signal %d: stopping", e.signum)
    except KeyboardInterrupt:
        log.debug("interrupted: stopping")
    except OSError as e:
        status = _fail(f"stack failed: {e.strerror or e}")
    finally:
        # No second signal may interrupt the cleanup half-way.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if st is not None:
            counters = writer.write(running=False) if writer else st.stats()
            leaked = st.close()
            print(_summary(counters), flush=True)
            if leaked:
                status = _fail(f"{leaked} packet buffers leaked")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return status


# ---------------------------------------------------------------------------------------
# fastnet stat


def _find_stats_file(args: argparse.Namespace) -> str | None:
    if args.stats_file:
        return args.stats_file
    if args.iface:
        return fconfig.default_stats_file(args.iface)
    try:
        names = sorted(n for n in os.listdir(fconfig.STATS_DIR) if n.endswith(".json"))
    except FileNotFoundError:
        names = []
    if len(names) == 1:
        return os.path.join(fconfig.STATS_DIR, names[0])
    if not names:
        raise FileNotFoundError(f"no stats files in {fconfig.STATS_DIR} "
                                "(is `fastnet up` running?)")
    ifaces = ", ".join(n[:-5] for n in names)
    raise FileNotFoundError(f"several stacks ({ifaces}): pick one with --iface")


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def format_stats(data: dict[str, Any], show_all: bool = False,
                 descs: dict[str, str] | None = None) -> str:
    """The text `fastnet stat` prints for one stats file's contents."""
    counters = data.get("stats", {})
    d = dict(_BACKEND_DESCS)
    d.update(data.get("descriptions") or {})
    d.update(descs or {})
    running = data.get("running") and _alive(data.get("pid"))
    age = time.time() - float(data.get("time", 0) or 0)
    state = f"running, pid {data.get('pid')}" if running else "stopped"
    head = (f"{data.get('iface', '?')}: backend={data.get('backend', '?')} "
            f"mac={data.get('mac', '?')} ip={data.get('ip', '?')} mtu={data.get('mtu', '?')} "
            f"({state}; written {age:.1f} s ago)")
    rows = [(k, v) for k, v in counters.items() if show_all or v]
    if not rows:
        return head + "\n  (all counters are zero)"
    w = max(len(k) for k, _ in rows)
    vw = max(len(str(v)) for _, v in rows)
    lines = [head]
    for k, v in rows:
        lines.append(f"  {k:<{w}}  {v:>{vw}}  {d.get(k, '')}".rstrip())
    return "\n".join(lines)


def cmd_stat(args: argparse.Namespace) -> int:
    try:
        path = _find_stats_file(args)
    except FileNotFoundError as e:
        return _fail(str(e))
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        hint = f" (is `fastnet up --iface {args.iface}` running?)" if args.iface else ""
        return _fail(f"no stats file {path}{hint}")
    except (OSError, ValueError) as e:
        return _fail(f"cannot read stats file {path}: {e}")
    if not isinstance(data, dict) or not isinstance(data.get("stats"), dict):
        return _fail(f"{path}: not a fastnet stats file")
    if args.json:
        print(json.dumps(data if args.all else data["stats"], indent=1))
        return 0
    print(format_stats(data, show_all=args.all))
    return 0


# ---------------------------------------------------------------------------------------
# fastnet testnet


def cmd_testnet(args: argparse.Namespace) -> int:
    if args.action == "up":
        try:
            tn = ftestnet.create(args.name, kind=args.kind, prefix=args.prefix)
        except ValueError as e:
            return _fail(str(e), 2)
        except (OSError, subprocess.SubprocessError) as e:
            return _fail(str(e))
        print(tn.describe())
        print("run fastnet on it:")
        print(f"  {PROG} up {' '.join(tn.up_args())}")
        print("talk to it from the peer:")
        print(f"  ip netns exec {tn.peer_ns} ping {tn.stack_ip}")
        print("remove it:")
        print(f"  {PROG} testnet down --name {tn.name}")
        return 0
    try:
        had = ftestnet.destroy(args.name)
    except ValueError as e:
        return _fail(str(e), 2)
    if not had:
        return _fail(f"no testnet {args.name!r}")
    print(f"{PROG}: testnet {args.name} removed")
    return 0


# ---------------------------------------------------------------------------------------
# fastnet demo


def _read_up_line(proc: subprocess.Popen[str], timeout: float) -> str | None:
    """Wait (bounded) for the "fastnet: up ..." line; None if the process ended first."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    buf = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        buf += chunk
        for line in buf.decode(errors="replace").splitlines():
            if line.startswith(f"{PROG}: up "):
                return line
    return None


def _start_stack(tn: ftestnet.TestNet, backend: str, stats_file: str,
                 extra: Sequence[str]) -> tuple[subprocess.Popen[bytes] | None, str, str]:
    """Start `fastnet up` for the testnet; (process, up line, "") or (None, "", reason)."""
    argv = [sys.executable, "-m", "fastnet", "up", *tn.up_args(backend),
            "--stats-file", stats_file, *extra]
    # The child must import this same fastnet package, wherever it was imported from.
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    line = _read_up_line(proc, timeout=20.0)  # type: ignore[arg-type]
    if line is not None:
        return proc, line, ""
    _stop(proc)
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    reason = err.splitlines()[-1] if err else f"exited with status {proc.returncode}"
    for prefix in (f"{PROG}: ", f"{backend} on {tn.stack_if}: "):
        if reason.startswith(prefix):
            reason = reason[len(prefix):]
    return None, "", reason


def _stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def _ping_summary(out: str) -> tuple[str, bool]:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    tail = [ln for ln in lines if "packets transmitted" in ln or ln.startswith("rtt ")]
    ok = False
    for ln in tail:
        if "packets transmitted" in ln:
            parts = ln.split(",")
            try:
                sent = int(parts[0].split()[0])
                got = int(parts[1].split()[0])
                ok = sent > 0 and got == sent
            except (IndexError, ValueError):
                ok = False
    return "\n".join("  " + ln for ln in tail) or "  (no summary)", ok


# The order `fastnet demo` (and bench/locust_run.py) tries backends in when none is named:
# the fastest first; af_packet works on any veth, tap wherever /dev/net/tun exists.
FALLBACK_BACKENDS = ("af_xdp", "af_packet", "tap")


class StartFailed(Exception):
    """No backend could start; the message is the last backend's reason."""


def start_with_fallback(name: str, prefix: str, backends: Sequence[str], start: Any) -> tuple[
        ftestnet.TestNet, Any, str, str]:
    """Create testnet `name` and start a server on it with the first of `backends` that works.

    start(tn, backend) -> (process or None, ready line, reason) starts the server; when it
    returns None the next backend is tried, after a line saying why ("fastnet: af_xdp
    unavailable (...); falling back to af_packet").  The testnet is rebuilt when the next
    backend needs another kind (tap).  Returns (testnet, process, ready line, backend); the
    caller owns both and must stop the process and destroy the testnet.  Raises StartFailed
    (or whatever create() raises) after removing the testnet.
    """
    tn = None
    try:
        for i, b in enumerate(backends):
            kind = "tap" if b == "tap" else "veth"
            if tn is not None and tn.kind != kind:
                tn.destroy()
                tn = None
            if tn is None:
                tn = ftestnet.create(name, kind=kind, prefix=prefix)
                print(tn.describe(), flush=True)
            proc, line, reason = start(tn, b)
            if proc is not None:
                return tn, proc, line, b
            # A failed af_xdp start may leave its program attached; take it off the link.
            subprocess.run(["ip", "-n", tn.stack_ns, "link", "set", "dev", tn.stack_if, "xdp",
                            "off"], capture_output=True)
            if i + 1 < len(backends):
                print(f"{PROG}: {b} unavailable ({reason}); falling back to {backends[i + 1]}",
                      flush=True)
        raise StartFailed(reason)
    except BaseException:
        if tn is not None:
            tn.destroy()
        raise


def _ping_demo(args: argparse.Namespace) -> int:
    """Pings from the kernel peer to a `fastnet up` stack (`fastnet demo --ping`)."""
    status = 0
    proc = None
    tn = None
    stats_dir = tempfile.mkdtemp(prefix="fastnet-demo-")
    stats_file = os.path.join(stats_dir, "stats.json")
    backends = [args.backend] if args.backend else list(FALLBACK_BACKENDS)
    try:
        try:
            tn, proc, line, _ = start_with_fallback(
                args.name, args.prefix, backends,
                lambda tn, b: _start_stack(tn, b, stats_file, args.extra))
        except StartFailed as e:
            return _fail(f"cannot start the stack: {e}")
        print(line, flush=True)
        target = str(tn.stack_ip)
        for title, argv in (
            ("ping, 200 x 56 B every 5 ms", ["ping", "-c", "200", "-i", "0.005", "-W", "1",
                                             target]),
            ("ping, 5 x 4000 B (fragmented both ways)", ["ping", "-c", "5", "-i", "0.2",
                                                         "-W", "1", "-s", "4000", target]),
        ):
            r = tn.run_peer(argv, check=False, timeout=60)
            summary, ok = _ping_summary(r.stdout)
            print(f"{title}: {'ok' if ok else 'LOST REPLIES'}\n{summary}", flush=True)
            if not ok:
                status = 1
        time.sleep(min(1.5, 0.1 + float(args.stats_interval)))  # let the stats file catch up
        stat_ns = argparse.Namespace(stats_file=stats_file, iface=None, json=False, all=False)
        cmd_stat(stat_ns)
    except KeyboardInterrupt:
        status = _fail("interrupted")
    except (OSError, subprocess.SubprocessError) as e:
        status = _fail(str(e))
    finally:
        if proc is not None:
            rc = _stop(proc)
            rest = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if rc != 0:
                print(rest + err, end="", flush=True)
                status = status or _fail(f"the stack exited with status {rc}")
        if tn is not None:
            tn.destroy()
        try:
            if os.path.exists(stats_file):
                os.unlink(stats_file)
            os.rmdir(stats_dir)
        except OSError:
            pass
    return status


def add_load_flags(p: argparse.ArgumentParser) -> None:
    """The locust load flags of `fastnet demo`, shared with bench/locust_run.py."""
    p.add_argument("--users", "-u", type=int, default=20, help="locust users (default 20)")
    p.add_argument("--spawn-rate", "-r", type=float, default=10,
                   help="locust users started per second (default 10)")
    p.add_argument("--run-time", "-t", type=int, default=10,
                   help="seconds of locust load (default 10)")
    p.add_argument("--processes", type=int, default=0,
                   help="locust --processes N: N forked generator processes under one master "
                   "(default: one process)")


def _load_runner() -> Any:
    """bench/locust_run.py from the source tree this package sits in, or None."""
    import importlib.util

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "bench", "locust_run.py")
    if not os.path.exists(path):
        return None
    spec = importlib.util.spec_from_file_location("fastnet_locust_run", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _locust_demo(args: argparse.Namespace) -> int | None:
    """The HTTP echo on fastnet under a short locust load; None when it cannot run here
    (the reason is printed), so the caller runs the ping demo instead."""
    runner = _load_runner()
    reason = ("bench/locust_run.py is not here (fastnet is not run from its source tree)"
              if runner is None else runner.unavailable("fastnet"))
    if reason:
        print(f"{PROG}: the HTTP echo on fastnet cannot run: {reason}; "
              "running the ping demo instead (`fastnet demo --ping`)", flush=True)
        return None
    argv = ["--name", args.name, "--prefix", args.prefix, "--users", str(args.users),
            "--spawn-rate", str(args.spawn_rate), "--run-time", str(args.run_time)]
    if args.backend:
        argv += ["--backend", args.backend]
    if args.processes:
        argv += ["--processes", str(args.processes)]
    return int(runner.main(argv))


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        ftestnet.TestNet(args.name, prefix=args.prefix)
    except ValueError as e:
        return _fail(str(e), 2)
    status = None if args.ping else _locust_demo(args)
    if status is None:
        status = _ping_demo(args)
    print(f"{PROG}: demo {'passed' if status == 0 else 'FAILED'}", flush=True)
    return status


# ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="fastnet: a userspace TCP/IP stack")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    up = sub.add_parser("up", allow_abbrev=False, help="run a stack on an interface until SIGINT/SIGTERM",
                        description="Run a stack on one interface until SIGINT/SIGTERM. "
                        "Flags override the config file; every key is in docs/config.md.")
    up.add_argument("--netns", metavar="NAME", help="enter this network namespace first")
    up.add_argument("--dry-run", action="store_true",
                    help="validate the configuration, print it as JSON and exit")
    add_stack_flags(up)
    up.set_defaults(func=cmd_up)

    st = sub.add_parser("stat", help="print the counters of a running (or stopped) stack")
    g = st.add_mutually_exclusive_group()
    g.add_argument("--iface", help=f"the stack's interface (reads {fconfig.STATS_DIR}/IF.json)")
    g.add_argument("--stats-file", metavar="PATH", help="stats file to read")
    st.add_argument("--json", action="store_true", help="print the counters as JSON")
    st.add_argument("--all", "-a", action="store_true", help="include zero counters")
    st.set_defaults(func=cmd_stat)

    tn = sub.add_parser("testnet", help="create or remove a test network of two namespaces")
    tn.add_argument("action", choices=("up", "down"))
    tn.add_argument("--name", default="fn", help="name prefix (default fn)")
    tn.add_argument("--kind", choices=ftestnet.KINDS, default="veth",
                    help="veth pair, or TAP bridged to a veth (default veth)")
    tn.add_argument("--prefix", default="198.18.0.0/24",
                    help="IPv4 prefix inside 198.18.0.0/15 (default 198.18.0.0/24)")
    tn.set_defaults(func=cmd_testnet)

    demo = sub.add_parser(
        "demo", help="testnet + HTTP echo on fastnet + a short locust load (--ping: pings)",
        description="Build a throw-away test network, start the HTTP echo app on fastnet in "
        "one namespace, drive a short locust load at it from the kernel in the other, print "
        "the results and remove everything.  --ping runs the older demo: `fastnet up` and "
        "pings from the kernel peer.")
    demo.add_argument("--ping", action="store_true",
                      help="the ping demo instead of the HTTP echo under locust")
    demo.add_argument("--backend", choices=fconfig.BACKENDS,
                      help="default: af_xdp, falling back to af_packet, then tap")
    demo.add_argument("--name", default="fndemo", help="testnet name (default fndemo)")
    demo.add_argument("--prefix", default="198.18.0.0/24",
                      help="testnet IPv4 prefix inside 198.18.0.0/15 (default 198.18.0.0/24)")
    add_load_flags(demo)
    demo.add_argument("--stats-interval", default="0.5", help=argparse.SUPPRESS)
    demo.set_defaults(func=cmd_demo, extra=[])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        args.extra = ["--stats-interval", str(args.stats_interval)]
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
