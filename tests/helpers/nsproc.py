"""A process started in a network namespace by the tests, with stdin/stdout/stderr on files.

Shared by the tests that drive fastnet's C tools and the kernel's peers (test_tcp_real_peer,
test_sock_echo).  Processes are stopped by their own PID only (SIGTERM, then SIGKILL).
"""
import json
import signal
import subprocess
import time


class NsProc:
    def __init__(self, ns, argv, tmp, name, stdin_path=None, cwd=None):
        self.name = name
        self.out_path = tmp / f"{name}.out"
        self.err_path = tmp / f"{name}.err"
        self.inp = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdin=self.inp,
                                     stdout=self.out, stderr=self.err, cwd=cwd)

    def err_text(self):
        return self.err_path.read_text(errors="replace")

    def wait_for(self, text, timeout=15):
        """Return once the process has written `text` to stderr; fail if it exits first."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.err_text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not say {text!r}: {self.err_text()}")

    def wait(self, timeout):
        """Exit status, or None after stopping it on a timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return None

    def stop(self):
        """SIGTERM (then SIGKILL), by PID; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def result(self):
        """The JSON object on the last line of stdout, or None."""
        self.out.flush()
        lines = self.out_path.read_text(errors="replace").strip().splitlines()
        return json.loads(lines[-1]) if lines else None

    def close(self):
        self.stop()
        for f in (self.inp, self.out, self.err):
            if f is not subprocess.DEVNULL:
                f.close()
