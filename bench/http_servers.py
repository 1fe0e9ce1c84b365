"""The servers of the HTTP benchmark and the test network they run in (used by
bench/http_bench.py).

Contract:
- BenchNet builds one fastnet.testnet veth network named bh<pid> in 198.19.36.0/22 (the
  bench helper's range): the stack namespace's veth end is fastnet's (198.19.36.1, no kernel
  address), the peer namespace holds the load generators on 198.19.36.2 plus IDLE_SOURCES
  more addresses (the idle scenario needs more source ports than one address has).
  kernel_address(True) gives the stack's veth end the kernel address 198.19.36.1 while a
  kernel server runs; kernel_address(False) takes it away again before fastnet runs, since a
  kernel that owns the stack's address answers fastnet's connections with RSTs.
  destroy() removes everything (testnet.destroy also detaches XDP).  BenchNet(testbed=...)
  models two machines ("two-host", the default: each end's receive on its host's core) or
  leaves the veth shared ("shared-veth"); bench/testbed.py says how and measures where the
  receive work went.  .testbed is that Testbed (its apply() runs here, settle() after every
  server start).
- Server(kind, ...).start() starts one server kind pinned to one core and returns once the
  server answers a GET probe and the test bed is settled for it (.testbed_state), or raises
  Unavailable(reason) after stopping what it started (the harness then reports "not
  available (reason)", never a number).  .post_ok says whether
  it echoed a POST body byte for byte.  .rss() is the resident memory of the server's
  process tree.  .stop() ends it by PID (SIGTERM, then SIGKILL) and, for fastnet kinds,
  detaches XDP from the stack's veth.  Every process is started here and stopped here;
  nothing is found or killed by name.

Server kinds (KINDS): fastnet (apps.http_echo --loop fastnet, the asyncio app on the
userspace stack), fastnet-native (--loop native), uvloop and asyncio (the same app on kernel
sockets), nginx (kernel, one worker, a config generated from bench/nginx/ in a temporary
directory; POST echo only with the echo module, libnginx-mod-http-echo).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)
sys.path.insert(0, BENCH)
from fastnet import testnet  # noqa: E402
from testbed import Testbed  # noqa: E402

PREFIX = "198.19.36.0/22"
IDLE_SOURCES = 4
PORT = 8080
CLIENTS = os.path.join(BENCH, "http_clients.py")
NGINX_DIR = os.path.join(BENCH, "nginx")
NATIVE_DIR = os.path.join(ROOT, "apps", "http_echo", "native")
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"

KINDS = ("fastnet", "fastnet-nomod", "fastnet-napi", "fastnet-native", "uvloop", "asyncio",
         "nginx")
LABELS = {
    "fastnet": "fastnet (asyncio app)",
    "fastnet-nomod": "fastnet (asyncio app, rx moderation off)",
    "fastnet-napi": "fastnet (asyncio app, NAPI poll)",
    "fastnet-native": "fastnet (native)",
    "uvloop": "uvloop",
    "asyncio": "stock asyncio",
    "nginx": "nginx (1 worker)",
}
KERNEL_KINDS = ("uvloop", "asyncio", "nginx")
APP_LOOP = {"fastnet": "fastnet", "fastnet-nomod": "fastnet", "fastnet-napi": "fastnet",
            "fastnet-native": "native", "uvloop": "uvloop", "asyncio": "asyncio"}
# Flags a kind adds to the fastnet server's command line ("fastnet" is the default mode, with
# adaptive receive moderation): fastnet-nomod is the asyncio app with that moderation off
# (the default mode before 2026-12-02's evening), fastnet-napi with the af_xdp backend's
# opt-in NAPI poll mode (the interface's deferral held all the time).
KIND_ARGS = {"fastnet-nomod": ("--rx-moderation", "off"), "fastnet-napi": ("--napi-poll",)}


class Unavailable(Exception):
    """A server kind that cannot run here; str() is the reason shown in the table."""


def sh(argv, timeout=60, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise OSError(f"{' '.join(argv)}: {(r.stderr or r.stdout).strip() or 'failed'}")
    return r


class BenchNet:
    def __init__(self, name=None, testbed="two-host", server_cpu=0, client_cpu=1,
                 prefix=None):
        self.tn = testnet.create(name=name or f"bh{os.getpid() % 100000}", kind="veth",
                                 prefix=prefix or PREFIX)
        self.has_kernel_addr = False
        try:
            self.testbed = Testbed(self.tn, testbed, server_cpu, client_cpu)
            self.testbed.apply()
            base = self.tn.prefix.network_address
            self.sources = [self.tn.peer_ip] + [str(base + 3 + i) for i in range(IDLE_SOURCES)]
            for ip in self.sources[1:]:
                self.peer(["ip", "addr", "add", f"{ip}/{self.tn.prefix_len}", "dev",
                           self.tn.peer_if])
            # The whole port range for the clients; the stack namespace's kernel takes as
            # many pending connections as the servers ask for.
            self.peer(["sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535"])
            for ns in (self.tn.peer_ns, self.tn.stack_ns):
                sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.core.somaxconn=65535",
                    "net.ipv4.tcp_max_syn_backlog=65535"])
        except BaseException:
            self.tn.destroy()
            raise

    @property
    def ip(self):
        return self.tn.stack_ip

    def peer(self, argv, **kw):
        return sh(["ip", "netns", "exec", self.tn.peer_ns, *argv], **kw)

    def kernel_address(self, on):
        if on == self.has_kernel_addr:
            return
        verb = "add" if on else "del"
        sh(["ip", "-n", self.tn.stack_ns, "addr", verb, self.tn.stack_cidr, "dev",
            self.tn.stack_if])
        self.has_kernel_addr = on

    def xdp_off(self):
        sh(["ip", "-n", self.tn.stack_ns, "link", "set", "dev", self.tn.stack_if, "xdp",
            "off"], check=False)

    def destroy(self):
        self.tn.destroy()


def tree_pids(pid):
    """pid and its descendants (nginx: master and worker)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def rss_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_ticks_of(pid):
    """utime + stime of a process in clock ticks (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def nginx_version():
    exe = shutil.which("nginx")
    if not exe:
        return None
    r = subprocess.run([exe, "-v"], capture_output=True, text=True)
    return (r.stderr or r.stdout).strip().split("/")[-1] or None


class Server:
    def __init__(self, kind, net, workdir, cpu=0, port=PORT, backend="af_xdp",
                 max_conns=262144, idle_timeout=600, fastnet_args=()):
        if kind not in KINDS:
            raise ValueError(f"server kind {kind!r}: one of {', '.join(KINDS)}")
        self.kind, self.net, self.cpu, self.port = kind, net, cpu, port
        self.backend, self.max_conns, self.idle_timeout = backend, max_conns, idle_timeout
        self.fastnet_args = list(fastnet_args)
        self.dir = os.path.join(workdir, kind)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.err_path = os.path.join(self.dir, "stderr.txt")
        self.post_ok, self.post_why = False, ""
        self.testbed_state = None

    @property
    def kernel(self):
        return self.kind in KERNEL_KINDS

    @property
    def target(self):
        return f"{self.net.ip}:{self.port}"

    def argv(self):
        if self.kind == "nginx":
            return self._nginx_argv()
        argv = [sys.executable, "-m", "apps.http_echo", "--loop", APP_LOOP[self.kind],
                "--port", str(self.port), "--idle-timeout", str(self.idle_timeout)]
        if self.kernel:
            return argv + ["--host", self.net.ip]
        tn = self.net.tn
        return argv + ["--iface", tn.stack_if, "--backend", self.backend, "--ip",
                       tn.stack_cidr, "--tcp-max-conns", str(self.max_conns),
                       "--tcp-max-sockets", str(self.max_conns),
                       "--stats-file", os.path.join(self.dir, "stats.json"),
                       *KIND_ARGS.get(self.kind, ()), *self.fastnet_args]

    def _nginx_argv(self):
        exe = shutil.which("nginx")
        if not exe:
            raise Unavailable("nginx is not installed (scripts/install-deps.sh installs it)")
        echo = os.path.exists(ECHO_MODULE)
        with open(os.path.join(NGINX_DIR, "nginx.conf.in")) as f:
            conf = f.read()
        loc = "locations-echo.in" if echo else "locations-plain.in"
        with open(os.path.join(NGINX_DIR, loc)) as f:
            locations = f.read().rstrip("\n")
        conns = self.max_conns
        conf = (conf.replace("@ECHO@", f"load_module {ECHO_MODULE};" if echo else "")
                .replace("@DIR@", self.dir).replace("@NOFILE@", str(conns + 1024))
                .replace("@CONNS@", str(conns)).replace("@LISTEN@", self.target)
                .replace("@LOCATIONS@", locations))
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        if not echo:
            self.post_why = "nginx echo module (libnginx-mod-http-echo) not installed"
        return [exe, "-p", self.dir, "-c", path, "-e", os.path.join(self.dir, "error.log")]

    def start(self, timeout=30.0):
        argv = self.argv()
        if self.kind == "fastnet-native":
            # Built here, in the root namespace: a first build fetches llhttp, and the
            # stack namespace the server runs in has no route out.
            r = sh(["make", "-s", "-C", NATIVE_DIR], timeout=600, check=False)
            if r.returncode != 0:
                raise Unavailable("cannot build the native server: " + (
                    (r.stderr or r.stdout).strip().splitlines() or ["make failed"])[-1][:200])
        self.net.kernel_address(self.kernel)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.net.tn.stack_ns, "taskset", "-c", str(self.cpu),
             *argv], stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err, cwd=ROOT,
            env=env)
        try:
            self._wait_ready(timeout)
            # fastnet on af_xdp attached its XDP program, and with it veth's NAPI, just now.
            try:
                self.testbed_state = self.net.testbed.settle()
            except OSError as e:
                raise Unavailable(f"test bed: {e}") from None
        except BaseException:
            self.stop()
            raise

    def _stderr_tail(self):
        try:
            with open(self.err_path, errors="replace") as f:
                lines = [ln.strip() for ln in f.read().splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1][:200] if lines else ""

    def _wait_ready(self, timeout):
        end = time.monotonic() + timeout
        said = self.kind == "nginx"
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise Unavailable(f"exited with status {self.proc.returncode}: "
                                  f"{self._stderr_tail() or 'no output'}")
            if not said:
                with open(self.err_path, errors="replace") as f:
                    said = "http_echo: listening on" in f.read()
            if said:
                r = self.probe()
                if r.get("get"):
                    if self.post_why == "":
                        self.post_ok = bool(r.get("post"))
                        self.post_why = "" if self.post_ok else f"POST echo: {r.get('why')}"
                    return
            time.sleep(0.2)
        raise Unavailable(f"not ready after {timeout:.0f} s: "
                          f"{self._stderr_tail() or 'no output'}")

    def probe(self):
        r = self.net.peer([sys.executable, CLIENTS, "probe", "--target", self.target,
                           "--timeout", "3"], check=False, timeout=30)
        try:
            return json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"get": False, "why": (r.stderr or "no output").strip()[-200:]}

    def pids(self):
        return tree_pids(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def cpu_ticks(self):
        """CPU time of the server's processes in clock ticks: the part of its core's busy
        time that is the server's own (without softirq work and other tenants)."""
        return sum(cpu_ticks_of(p) for p in self.pids())

    def rss(self):
        return sum(rss_of(p) for p in self.pids())

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    # Children are read while the parent still holds them (their PIDs
                    # cannot have been reused yet): nginx's worker dies with its master.
                    kids = self.pids()[1:]
                    self.proc.kill()
                    for p in kids:
                        try:
                            os.kill(p, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    self.proc.wait(timeout=5)
            self.err.close()
            self.proc = None
        if not self.kernel:
            self.net.xdp_off()
        else:
            self.net.kernel_address(False)
