"""A bounded locust load against the HTTP echo app on fastnet, in a test network it creates.

    python3 bench/locust_run.py [--users 20] [--spawn-rate 10] [--run-time 10] [--csv PREFIX]
        [--processes N | --workers N] [--loop fastnet|asyncio|uvloop] [--backend B]
        [--name fnlocust] [--prefix 198.18.0.0/24] [--port 8080] [--max-body BYTES]
        [--server-max-body BYTES] [--seed N] [--timeout SEC] [--quiet]

Contract: builds testnet NAME (fastnet.testnet), starts `python -m apps.http_echo` in its
stack namespace — on fastnet with the named backend, or af_xdp falling back to af_packet
then tap (fastnet.cli.start_with_fallback, as `fastnet demo`); with --loop asyncio|uvloop on
the kernel's own TCP, the stack address given to the kernel instead — then runs locust
headless (bench/locustfile.py) in the peer namespace with bounded users, spawn rate and run
time, under a hard timeout.  It prints progress while locust runs and a summary table at the
end, and removes the testnet, the server and every locust process it started, at the end
and on Ctrl-C or SIGTERM.  `fastnet demo` calls main().

Exit status: 0 when every request succeeded, every request kind of the locustfile ran, and
the server exited cleanly; 1 on a failed request, a missing kind, a locust error or timeout,
or a server that could not start or exited badly; 2 on bad arguments; 130 when interrupted.

Load generation: one locust process makes a few thousand requests per second at most.
--processes N forks N locust workers under one master (locust's own --processes; with a
locust too old for it, the runner falls back to the explicit form); --workers N starts the master and N `--worker` processes explicitly (any
locust 2.x, and the form to spread over machines).  All generator processes run in the
peer namespace.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from typing import Any, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from fastnet import cli as fcli  # noqa: E402  (the source tree's fastnet, after ROOT)
from fastnet import netns  # noqa: E402

LOCUSTFILE = os.path.join(HERE, "locustfile.py")
# Every request name bench/locustfile.py reports; a run that misses one has not tested it.
KINDS = ("GET /echo [keep-alive]", "POST /echo [keep-alive]",
         "GET /echo [close]", "POST /echo [close]")
READY = "http_echo: listening on"
RESULT_FILES = (".json", "_stats.csv", "_failures.csv", "_exceptions.csv",
                "_stats_history.csv")
PROG = "locust_run"


def unavailable(loop: str) -> str | None:
    """Why the echo app cannot run on `loop` from this tree, or None when it can."""
    if not os.path.exists(os.path.join(ROOT, "apps", "http_echo", "__main__.py")):
        return "apps/http_echo is not in this tree"
    if loop == "fastnet":
        import fastnet

        try:
            if not hasattr(fastnet, "new_event_loop"):
                return "this fastnet has no asyncio loop (fastnet.new_event_loop)"
        except ImportError as e:  # the loop needs the C extension, which may not be built
            return f"the fastnet loop does not import ({e})"
    if not _locust_installed():
        return "locust is not installed (scripts/install-deps.sh installs it)"
    return None


def _locust_installed() -> bool:
    try:
        metadata.version("locust")
    except metadata.PackageNotFoundError:
        return False
    return True


def _has_processes_flag() -> bool:
    """Whether the installed locust has --processes (newer 2.x releases do)."""
    try:
        r = subprocess.run([sys.executable, "-m", "locust", "--help"], capture_output=True,
                           text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--processes" in r.stdout


def _child_env() -> dict[str, str]:
    """Children import this tree's fastnet and apps, wherever the caller imported them."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return env


class _Proc:
    """A child in a namespace, output on files, in a session of its own: the terminal's
    Ctrl-C reaches only this runner, which stops the children in order.  Stopped by its own
    PID, or (locust, which forks) by the process group it leads."""

    def __init__(self, ns: str, argv: Sequence[str], tmp: str, name: str,
                 group: bool = False) -> None:
        self.name = name
        self.group = group
        self.out_path = os.path.join(tmp, f"{name}.out")
        self.err_path = os.path.join(tmp, f"{name}.err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(netns.exec_argv(ns, argv), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, cwd=ROOT, env=_child_env(),
                                         start_new_session=True)

    def text(self, which: str = "err") -> str:
        try:
            with open(self.err_path if which == "err" else self.out_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def wait_for(self, text: str, timeout: float) -> str | None:
        """The first stderr line containing text; None if the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.text().splitlines():
                if text in line:
                    return line
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    def _signal(self, sig: int) -> None:
        try:
            if self.group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after timeout; the exit status."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(5)
        elif self.group:
            # The leader is gone; its forked workers must not outlive it.
            self._signal(signal.SIGKILL)
        return self.proc.returncode


def _last_line(text: str, fallback: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else fallback


def _server_argv(args: argparse.Namespace, tn: Any, backend: str | None) -> list[str]:
    argv = [sys.executable, "-m", "apps.http_echo", "--loop", args.loop, "--port",
            str(args.port)]
    if args.server_max_body is not None:
        argv += ["--max-body", str(args.server_max_body)]
    if backend is None:
        return argv + ["--host", tn.stack_ip]
    up = tn.up_args(backend)
    i = up.index("--netns")
    # The app runs inside the namespace already.  The server closes first on `Connection:
    # close`, so each such connection keeps a TCP control block in TIME_WAIT for 2 MSL
    # (60 s): the stack's default of 1024 would run out within seconds of this load.
    return argv + up[:i] + up[i + 2:] + ["--tcp-max-conns", str(args.tcp_max_conns)]


def _start_server(args: argparse.Namespace, tmp: str, tn: Any,
                  backend: str | None) -> tuple[_Proc | None, str, str]:
    """(process, ready line, "") or (None, "", why it did not start)."""
    p = _Proc(tn.stack_ns, _server_argv(args, tn, backend), tmp, f"server-{backend or 'kernel'}")
    try:
        line = p.wait_for(READY, timeout=30)
    except BaseException:  # Ctrl-C while it starts: the caller has no handle to stop it by
        p.stop()
        raise
    if line is not None:
        return p, line, ""
    p.stop()
    reason = _last_line(p.text(), f"exited with status {p.proc.returncode}")
    return None, "", reason.removeprefix("http_echo: ")


def _locust_common(args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", LOCUSTFILE,
            "--echo-max-body", str(args.max_body), "--echo-seed", str(args.seed),
            "--echo-timeout", str(args.request_timeout)]


def _start_locust(args: argparse.Namespace, tmp: str, tn: Any, prefix: str,
                  procs: list[_Proc]) -> None:
    """Start the locust processes in the peer namespace, the master (or only one) first,
    appending each to procs as soon as it exists so that an interrupt cannot orphan one."""
    head = [*_locust_common(args), "--headless", "-H", f"http://{tn.stack_ip}:{args.port}",
            "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{args.run_time}s",
            "--csv", prefix, "--json-file", prefix, "--only-summary",
            # Users finish the request in flight at the end: it succeeds or times out into
            # a failure, never vanishes uncounted.
            "--stop-timeout", str(math.ceil(args.request_timeout) + 2),
            "--exit-code-on-error", "1"]
    if args.processes:
        head += ["--processes", str(args.processes)]
    if args.workers:
        head += ["--master", "--expect-workers", str(args.workers)]
    procs.append(_Proc(tn.peer_ns, head, tmp, "locust", group=True))
    for i in range(args.workers):
        procs.append(_Proc(tn.peer_ns, [*_locust_common(args), "--worker", "--master-host",
                                        "127.0.0.1"], tmp, f"locust-worker{i}", group=True))


def _progress(prefix: str) -> tuple[str, str] | None:
    """(timestamp, line) from the newest row of the stats history, which locust flushes
    every few seconds; None before there is one."""
    try:
        with open(f"{prefix}_stats_history.csv", newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("Name") == "Aggregated"]
    except OSError:
        return None
    if not rows:
        return None
    r = rows[-1]
    try:
        rps = float(r["Requests/s"])
        if int(r["Total Request Count"]) == 0:
            return None  # users still spawning: nothing to show yet
    except (KeyError, ValueError):
        return None
    return r["Timestamp"], (f"  {r['User Count']:>4} users  {r['Total Request Count']:>8} "
                            f"requests  {r['Total Failure Count']:>4} failures  "
                            f"{rps:8.0f} req/s now")


def _wait_locust(master: _Proc, prefix: str, timeout: float, quiet: bool) -> int | None:
    """locust's exit status, or None after stopping it on the hard timeout."""
    deadline = time.monotonic() + timeout
    shown = ""
    while master.proc.poll() is None:
        if time.monotonic() > deadline:
            master.stop()
            return None
        time.sleep(0.2)
        got = None if quiet else _progress(prefix)
        if got and got[0] != shown:
            shown = got[0]
            print(got[1], flush=True)
    return master.proc.returncode


def _percentile(hist: dict[str, int], total: int, q: float) -> float:
    """The q-quantile (ms) of locust's rounded response-time histogram."""
    if total <= 0:
        return 0.0
    need = q * total
    seen = 0
    for ms, n in sorted(((float(k), v) for k, v in hist.items())):
        seen += n
        if seen >= need:
            return ms
    return max(float(k) for k in hist)


def summarize(prefix: str) -> dict[str, dict[str, float]]:
    """Per request name: requests, failures, req/s, mean/p50/p99 ms, mean body bytes, from
    locust's final JSON (the CSV files hold the last 1-second snapshot)."""
    with open(f"{prefix}.json") as f:
        entries = json.load(f)
    out: dict[str, dict[str, float]] = {}
    for e in entries:
        n = int(e["num_requests"])
        span = max(1e-9, float(e["last_request_timestamp"] or 0) - float(e["start_time"] or 0))
        out[e["name"]] = {
            "requests": n, "failures": int(e["num_failures"]),
            "rps": n / span if n else 0.0,
            "mean_ms": float(e["total_response_time"]) / n if n else 0.0,
            "p50_ms": _percentile(e["response_times"], n, 0.50),
            "p99_ms": _percentile(e["response_times"], n, 0.99),
            "bytes": float(e["total_content_length"]) / n if n else 0.0,
        }
    return out


def read_csv_stats(prefix: str) -> dict[str, dict[str, str]]:
    """Rows of PREFIX_stats.csv by request name ("Aggregated" included)."""
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {r["Name"]: r for r in csv.DictReader(f)}


def read_failures(prefix: str) -> list[dict[str, str]]:
    try:
        with open(f"{prefix}_failures.csv", newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def format_summary(stats: dict[str, dict[str, float]]) -> str:
    w = max([len(k) for k in stats] + [len("request")])
    lines = [f"  {'request':<{w}}  {'requests':>9}  {'failures':>8}  {'req/s':>8}  "
             f"{'mean ms':>7}  {'p50 ms':>6}  {'p99 ms':>6}  {'bytes':>7}"]
    rows = [k for k in KINDS if k in stats] + sorted(set(stats) - set(KINDS))
    for k in rows:
        s = stats[k]
        lines.append(f"  {k:<{w}}  {s['requests']:>9}  {s['failures']:>8}  {s['rps']:>8.0f}  "
                     f"{s['mean_ms']:>7.2f}  {s['p50_ms']:>6.0f}  {s['p99_ms']:>6.0f}  "
                     f"{s['bytes']:>7.0f}")
    tot_n = sum(s["requests"] for s in stats.values())
    tot_f = sum(s["failures"] for s in stats.values())
    lines.append(f"  {'total':<{w}}  {tot_n:>9}  {tot_f:>8}  "
                 f"{sum(s['rps'] for s in stats.values()):>8.0f}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="locust_run.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    fcli.add_load_flags(p)
    p.add_argument("--timeout", type=float, default=None,
                   help="hard limit on the locust run in seconds (default run time + "
                   "request timeout + 60)")
    p.add_argument("--workers", type=int, default=0,
                   help="an explicit locust master and N --worker processes (not with "
                   "--processes)")
    p.add_argument("--loop", choices=("fastnet", "asyncio", "uvloop"), default="fastnet",
                   help="the app's event loop; asyncio/uvloop use the kernel's TCP "
                   "(default fastnet)")
    p.add_argument("--backend", choices=fcli.FALLBACK_BACKENDS,
                   help="fastnet backend (default: af_xdp, falling back to af_packet, tap)")
    p.add_argument("--name", default="fnlocust", help="testnet name (default fnlocust)")
    p.add_argument("--prefix", default="198.18.0.0/24",
                   help="testnet prefix inside 198.18.0.0/15 (default 198.18.0.0/24)")
    p.add_argument("--port", type=int, default=8080, help="echo port (default 8080)")
    p.add_argument("--max-body", type=int, default=64 * 1024,
                   help="largest random POST body in bytes (default 65536)")
    p.add_argument("--request-timeout", type=float, default=5.0, metavar="SEC",
                   help="a connect or response slower than this is a failed request "
                   "(default 5)")
    p.add_argument("--tcp-max-conns", type=int, default=65536, metavar="N",
                   help="the fastnet app's --tcp-max-conns: TCP control blocks, TIME_WAIT "
                   "included (default 65536, about 50 MB)")
    p.add_argument("--server-max-body", type=int, default=None, metavar="BYTES",
                   help="the app's --max-body (413 above it; default: the app's own)")
    p.add_argument("--seed", type=int, default=1, help="random body seed (default 1)")
    p.add_argument("--csv", metavar="PREFIX",
                   help="keep locust's CSV files (PREFIX_stats.csv, ...) and PREFIX.json; "
                   "default: a temporary directory removed at the end")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    return p


def _check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name, lo, hi in (("users", 1, 100000), ("run_time", 1, 3600), ("processes", 0, 256),
                         ("workers", 0, 256), ("port", 1, 65535), ("tcp_max_conns", 1, 1 << 22),
                         ("max_body", 0, 1 << 30)):
        v = getattr(args, name)
        if not lo <= v <= hi:
            p.error(f"--{name.replace('_', '-')} {v}: must be in {lo}..{hi}")
    if args.server_max_body is not None and args.server_max_body < 0:
        p.error("--server-max-body must not be negative")
    if args.processes and args.workers:
        p.error("--processes and --workers are two ways of doing the same: pick one")
    if not 0 < args.request_timeout <= 600:
        p.error("--request-timeout must be in (0, 600] seconds")
    if args.spawn_rate <= 0:
        p.error("--spawn-rate must be positive")
    if args.loop != "fastnet" and args.backend:
        p.error(f"--backend is for --loop fastnet (--loop {args.loop} uses the kernel's TCP)")
    if args.timeout is None:
        args.timeout = args.run_time + args.request_timeout + 60.0


def _stop_all(procs: Sequence[_Proc]) -> None:
    for p in procs:
        p.stop()


def _report(args: argparse.Namespace, prefix: str, backend: str, rc: int | None,
            locust_log: str, server_rc: int, server_log: str) -> int:
    """Print the results of a finished run; its exit status (see the module docstring)."""
    status = 0
    if rc is None:
        print(f"{PROG}: locust did not finish within {args.timeout:g} s; stopped it",
              flush=True)
        status = 1
    try:
        stats = summarize(prefix)
    except (OSError, ValueError, KeyError) as e:
        print(f"{PROG}: no locust results ({e}); locust said:\n{locust_log[-3000:]}",
              flush=True)
        return 1
    print(f"results ({args.loop}, {backend}):\n{format_summary(stats)}", flush=True)
    failed = sum(int(s["failures"]) for s in stats.values())
    if failed:
        print(f"FAILED: {failed} requests", flush=True)
        for f in read_failures(prefix)[:10]:
            print(f"  {f['Occurrences']} x {f['Method']} {f['Name']}: {f['Error']}",
                  flush=True)
        status = 1
    missing = [k for k in KINDS if stats.get(k, {}).get("requests", 0) == 0]
    if missing:
        print(f"FAILED: no requests of {', '.join(missing)}", flush=True)
        status = 1
    if rc not in (0, None) and not failed:
        print(f"{PROG}: locust exited with status {rc}:\n{locust_log[-3000:]}", flush=True)
        status = 1
    if server_rc != 0:
        print(f"{PROG}: the echo server exited with status {server_rc}:\n"
              f"{server_log[-3000:]}", flush=True)
        status = 1
    if args.csv:
        print(f"locust CSV files: {prefix}_stats.csv, {prefix}_failures.csv, "
              f"{prefix}_stats_history.csv; final stats: {prefix}.json", flush=True)
    return status


def run(args: argparse.Namespace) -> int:
    import fastnet.testnet as ftestnet

    reason = unavailable(args.loop)
    if reason:
        print(f"{PROG}: cannot run: {reason}", file=sys.stderr, flush=True)
        return 1
    tmp = tempfile.mkdtemp(prefix="fastnet-locust-")
    prefix = args.csv or os.path.join(tmp, "locust")
    if args.csv and os.path.dirname(args.csv):
        os.makedirs(os.path.dirname(args.csv), exist_ok=True)
    tn = None
    server: _Proc | None = None
    gens: list[_Proc] = []
    status = 0

    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    old_term = signal.signal(signal.SIGTERM, on_term)
    try:
        if args.loop == "fastnet":
            backends = [args.backend] if args.backend else list(fcli.FALLBACK_BACKENDS)
            try:
                tn, server, line, backend = fcli.start_with_fallback(
                    args.name, args.prefix, backends,
                    lambda t, b: _start_server(args, tmp, t, b))
            except fcli.StartFailed as e:
                print(f"{PROG}: the HTTP echo did not start on fastnet: {e}", flush=True)
                return 1
        else:
            tn = ftestnet.create(args.name, kind="veth", prefix=args.prefix)
            print(tn.describe(), flush=True)
            tn.run_stack(["ip", "addr", "add", tn.stack_cidr, "dev", tn.stack_if])
            server, line, why = _start_server(args, tmp, tn, None)
            backend = "kernel TCP"
            if server is None:
                print(f"{PROG}: the HTTP echo did not start: {why}", flush=True)
                return 1
        print(f"{line.strip()}  [{backend}]", flush=True)
        gen_desc = (f", {args.processes} processes" if args.processes else
                    f", master + {args.workers} workers" if args.workers else "")
        print(f"locust: {args.users} users (spawn rate {args.spawn_rate:g}/s{gen_desc}) for "
              f"{args.run_time} s against http://{tn.stack_ip}:{args.port} from {tn.peer_ns}",
              flush=True)
        for suffix in RESULT_FILES:  # results of an earlier run must not pass for this one's
            if os.path.exists(prefix + suffix):
                os.unlink(prefix + suffix)
        _start_locust(args, tmp, tn, prefix, gens)
        rc = _wait_locust(gens[0], prefix, args.timeout, args.quiet)
        _stop_all(gens)
        src = server.stop()
        server_err = server.text()
        server = None
        status = _report(args, prefix, backend, rc, gens[0].text(), src, server_err)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; cleaning up", flush=True)
        status = 130
    except (OSError, subprocess.SubprocessError) as e:
        print(f"{PROG}: {e}", flush=True)
        status = 1
    finally:
        # No second Ctrl-C may cut the cleanup short.
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            _stop_all(gens)
            if server is not None:
                server.stop()
            if tn is not None:
                tn.destroy()
            shutil.rmtree(tmp, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    _check_args(p, args)
    if args.processes and not _has_processes_flag():
        print(f"{PROG}: this locust has no --processes; running a master and "
              f"{args.processes} workers instead", flush=True)
        args.workers, args.processes = args.processes, 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
