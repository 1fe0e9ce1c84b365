"""Locust against the HTTP echo app (issue 6): bench/locustfile.py, bench/locust_run.py and
the front door (`fastnet demo`).

  - the CI run: bench/locust_run.py, 20 users for 10 s against the echo on fastnet (af_xdp,
    falling back like `fastnet demo`), and the same harness against the app on stock
    asyncio; 0 failures and requests of every kind in the CSV, the testnet gone afterwards;
  - the locustfile's checks fail a wrong echo: a deliberately wrong server in the stack
    namespace (request line changed, POST body one byte longer; right echoes without
    `Connection: close`; no answer at all) makes locust count failures of the affected
    kinds only — a stalled connection is a failure (--echo-timeout), not a quiet user;
  - the runner exits 1 and names the failures when the app rejects requests (413 with a
    small --server-max-body);
  - `fastnet demo` on fastnet prints the results table and removes everything, at the end
    and on SIGINT (Ctrl-C) in the middle of the load.

Networks: fastnet.testnet in 198.19.40.0/24, namespaces named lo<pid><x>.  Every locust run
is bounded by users, spawn rate, run time and a subprocess timeout; only processes started
here are stopped, by PID.
"""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastnet import netns, testnet
from helpers.nsproc import NsProc

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "bench" / "locust_run.py"
LOCUSTFILE = ROOT / "bench" / "locustfile.py"
PREFIX = "198.19.40.0/24"
KINDS = ("GET /echo [keep-alive]", "POST /echo [keep-alive]",
         "GET /echo [close]", "POST /echo [close]")

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: creates network namespaces")


def name(suffix):
    return f"lo{os.getpid() % 10000}{suffix}"


def env():
    return dict(os.environ, PYTHONPATH=str(ROOT))


def run(argv, timeout):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=env())


def csv_rows(path):
    with open(path, newline="") as f:
        return {r["Name"]: r for r in csv.DictReader(f)}


def assert_gone(tn_name):
    tn = testnet.TestNet(tn_name, prefix=PREFIX)
    leftover = [ns for ns in (tn.stack_ns, tn.peer_ns) if netns.exists(ns)]
    testnet.destroy(tn_name)
    assert not leftover, f"namespaces left behind: {leftover}"


@pytest.mark.parametrize("loop,run_time", [("fastnet", 10), ("asyncio", 5)])
def test_locust_run_has_no_failures(tmp_path, loop, run_time):
    tn_name = name(loop[0])
    prefix = tmp_path / "run"
    try:
        r = run([sys.executable, str(RUNNER), "--loop", loop, "--name", tn_name,
                 "--prefix", PREFIX, "--users", "20", "--spawn-rate", "10",
                 "--run-time", str(run_time), "--csv", str(prefix)], timeout=run_time + 150)
    finally:
        assert_gone(tn_name)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    rows = csv_rows(f"{prefix}_stats.csv")
    for kind in KINDS:
        assert int(rows[kind]["Request Count"]) > 0, (kind, out)
        assert int(rows[kind]["Failure Count"]) == 0, (kind, out)
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    # POST bodies are random up to 64 KiB: the mean echoed size shows they were not empty.
    assert float(rows["POST /echo [keep-alive]"]["Average Content Size"]) > 1000
    for kind in KINDS:
        assert kind in r.stdout  # the summary table names every kind
    if loop == "fastnet":
        assert "loop=fastnet" in r.stdout


# A wrong echo server: its mode decides what it gets wrong.
BAD_SERVER = r'''
import asyncio, signal, sys
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
async def handle(r, w):
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            hdrs = {k.strip().lower(): v.strip() for k, _, v in
                    (ln.partition(b":") for ln in lines[1:] if b":" in ln)}
            body = await r.readexactly(int(hdrs.get(b"content-length", b"0")))
            if mode == "stall":
                await asyncio.sleep(3600)
            out = head if lines[0].startswith(b"GET ") else body
            if mode == "corrupt":
                out = out.replace(b"/echo/", b"/ohce/", 1) if out is head else out + b"!"
            close = hdrs.get(b"connection", b"").lower() == b"close"
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out))
            await w.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    w.close()
async def main():
    srv = await asyncio.start_server(handle, host, port)
    print("bad server ready", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    srv.close()
asyncio.run(main())
'''


@pytest.mark.parametrize("mode,failing", [
    ("corrupt", KINDS),
    ("no-close-header", ("GET /echo [close]", "POST /echo [close]")),
    ("stall", KINDS),
])
def test_locustfile_fails_wrong_echoes(tmp_path, mode, failing):
    tn = testnet.create(name("w" + mode[0]), prefix=PREFIX)
    server = None
    try:
        tn.run_stack(["ip", "addr", "add", tn.stack_cidr, "dev", tn.stack_if])
        script = tmp_path / "bad_server.py"
        script.write_text(BAD_SERVER)
        server = NsProc(tn.stack_ns, [sys.executable, str(script), mode, tn.stack_ip, "8080"],
                        tmp_path, "bad")
        server.wait_for("bad server ready")
        prefix = tmp_path / "bad"
        r = tn.run_peer([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
                         "-H", f"http://{tn.stack_ip}:8080", "-u", "8", "-r", "8", "-t", "4s",
                         "--csv", str(prefix), "--only-summary", "--echo-timeout", "1",
                         "--stop-timeout", "3"],
                        check=False, timeout=90)
        assert server.stop() == 0, server.err_text()
    finally:
        if server is not None:
            server.close()
        tn.destroy()
    assert r.returncode == 1, r.stdout + r.stderr  # locust's exit status on failures
    rows = csv_rows(f"{prefix}_stats.csv")
    for kind in KINDS:
        n, f = int(rows[kind]["Request Count"]), int(rows[kind]["Failure Count"])
        assert n > 0, kind
        assert (f == n) if kind in failing else (f == 0), (kind, n, f)
    errors = " ".join(row["Error"] for row in csv.DictReader(open(f"{prefix}_failures.csv")))
    if mode == "corrupt":
        assert "request line not echoed" in errors and "bytes back" in errors, errors
    elif mode == "stall":
        assert "timed out" in errors, errors
    else:
        assert "sent Connection: close, response has Connection: (none)" in errors, errors


def test_locust_run_fails_on_rejected_requests(tmp_path):
    """POST bodies above the app's --max-body get 413: the runner reports them and exits 1."""
    tn_name = name("x")
    try:
        r = run([sys.executable, str(RUNNER), "--loop", "asyncio", "--name", tn_name,
                 "--prefix", PREFIX, "--users", "4", "--spawn-rate", "4", "--run-time", "3",
                 "--server-max-body", "1000", "--csv", str(tmp_path / "x")], timeout=150)
    finally:
        assert_gone(tn_name)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED:" in r.stdout and "status 413" in r.stdout, r.stdout
    rows = csv_rows(tmp_path / "x_stats.csv")
    assert int(rows["POST /echo [keep-alive]"]["Failure Count"]) > 0
    assert int(rows["GET /echo [keep-alive]"]["Failure Count"]) == 0


def demo_argv(tn_name, *extra):
    return [sys.executable, "-m", "fastnet", "demo", "--name", tn_name, "--prefix", PREFIX,
            *extra]


def test_demo_serves_locust_on_fastnet():
    tn_name = name("d")
    try:
        r = run(demo_argv(tn_name, "--users", "10", "--run-time", "5"), timeout=200)
    finally:
        assert_gone(tn_name)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "loop=fastnet" in r.stdout, r.stdout
    for kind in KINDS:
        assert kind in r.stdout, r.stdout
    assert "demo passed" in r.stdout


def test_demo_ctrl_c_leaves_nothing_behind(tmp_path):
    tn_name = name("c")
    tn = testnet.TestNet(tn_name, prefix=PREFIX)
    out = open(tmp_path / "demo.out", "w+")
    proc = subprocess.Popen(demo_argv(tn_name, "--run-time", "120"), stdout=out,
                            stderr=subprocess.STDOUT, cwd=ROOT, env=env(), text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if "locust: " in (tmp_path / "demo.out").read_text():
                break
            time.sleep(0.2)
        text = (tmp_path / "demo.out").read_text()
        assert "locust: " in text, text
        time.sleep(3)  # load running
        children = netns.pids(tn.stack_ns) + netns.pids(tn.peer_ns)
        assert children, "no server or locust process in the testnet"
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        out.close()
        leftover = [ns for ns in (tn.stack_ns, tn.peer_ns) if netns.exists(ns)]
        testnet.destroy(tn_name)
    text = (tmp_path / "demo.out").read_text()
    assert rc != 0 and "interrupted" in text, text
    assert not leftover, text
    alive = [p for p in children if os.path.exists(f"/proc/{p}")]
    assert not alive, f"processes left running: {alive}"


def test_locust_run_falls_back_to_af_packet_then_tap(monkeypatch, capsys):
    """af_xdp and af_packet made to fail (a bad XDP object; a flag the app refuses): the
    runner says why each time, rebuilds the testnet as TAP and serves the load there."""
    from fastnet import cli

    runner = cli._load_runner()
    real = runner._server_argv

    def server_argv(args, tn, backend):
        argv = real(args, tn, backend)
        if backend == "af_xdp":
            argv += ["--xdp-obj", "/nonexistent/not-bpf.o"]
        elif backend == "af_packet":
            argv += ["--no-such-flag"]
        return argv

    monkeypatch.setattr(runner, "_server_argv", server_argv)
    tn_name = name("f")
    try:
        rc = runner.main(["--name", tn_name, "--prefix", PREFIX, "--users", "6",
                          "--run-time", "3", "--quiet"])
    finally:
        assert_gone(tn_name)
    out = capsys.readouterr().out
    assert "fastnet: af_xdp unavailable (" in out and "falling back to af_packet" in out, out
    assert "fastnet: af_packet unavailable (" in out and "falling back to tap" in out, out
    assert f"testnet {tn_name} (tap, {PREFIX})" in out, out
    assert "results (fastnet, tap)" in out, out
    assert rc == 0, out
