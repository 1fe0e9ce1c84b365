"""Locust scenarios for the HTTP echo app (apps/http_echo): every response is checked.

Contract: four request kinds, each under its own name in locust's statistics (and so in the
`--csv` files), so a run shows that every kind was exercised:

  GET /echo [keep-alive]   the body must start with the request line sent (a unique path per
  GET /echo [close]        request) followed by a Host header, as the app echoes them
  POST /echo [keep-alive]  the body must equal the random request body byte for byte
  POST /echo [close]       (random length 0..--echo-max-body, random bytes)

KeepAliveUser reuses one connection per user (HTTP/1.1 default); CloseUser sends
`Connection: close` with every request and requires the server to answer with
`Connection: close` (RFC 9112 §9.6), which also makes the client open a new connection for
the next request.  A response that is not 200, or whose echo differs, is reported as a
failure through `catch_response`; connection errors are failures by locust's own rules, and
so is a connect or a response slower than --echo-timeout (default 5 s): a stalled connection
shows up as failures, not as a user that quietly stops making requests.
Bodies come from a per-user random.Random seeded from --echo-seed, so a failing body can be
regenerated.  Run by bench/locust_run.py, or directly:
    locust -f bench/locustfile.py --headless -H http://IP:PORT -u 20 -r 10 -t 10s
"""

from __future__ import annotations

import itertools
import random

from locust import FastHttpUser, constant, events, task

_user_ids = itertools.count()


@events.init_command_line_parser.add_listener
def _add_arguments(parser) -> None:
    parser.add_argument("--echo-max-body", type=int, default=64 * 1024, include_in_web_ui=False,
                        help="largest random POST body in bytes (default 65536)")
    parser.add_argument("--echo-seed", type=int, default=1, include_in_web_ui=False,
                        help="seed of the per-user body generators (default 1)")
    parser.add_argument("--echo-timeout", type=float, default=5.0, include_in_web_ui=False,
                        help="seconds a connect or a response may take before the request "
                        "counts as failed (default 5; locust's own default is 60)")


def _first_difference(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


class _EchoUser(FastHttpUser):
    abstract = True
    # Think time zero: the point is load; locust's bounded --run-time ends the run.
    wait_time = constant(0)
    kind = ""
    extra_headers: dict[str, str] = {}

    def __init__(self, environment) -> None:
        # The session is built in FastHttpUser.__init__ from these two attributes.  A stalled
        # connection must become a failure within the run, not a user that silently stops.
        opts = environment.parsed_options
        timeout = getattr(opts, "echo_timeout", 5.0) if opts else 5.0
        self.network_timeout = self.connection_timeout = timeout
        super().__init__(environment)

    def on_start(self) -> None:
        self.uid = next(_user_ids)
        opts = self.environment.parsed_options
        self.max_body = getattr(opts, "echo_max_body", 64 * 1024) if opts else 64 * 1024
        seed = getattr(opts, "echo_seed", 1) if opts else 1
        # Workers number their users from 0 each: the worker index keeps the streams apart.
        worker = getattr(self.environment.runner, "worker_index", 0)
        self.rng = random.Random(f"{seed}:{worker}:{self.kind}:{self.uid}")
        self.seq = 0

    def _finish(self, resp, error: str | None) -> None:
        """Mark the response; with `Connection: close` sent, the answer must say close too."""
        if error is None and self.extra_headers:
            conn = (resp.headers.get("Connection") or "").lower()
            if "close" not in conn:
                error = f"sent Connection: close, response has Connection: {conn or '(none)'}"
        if error is None:
            resp.success()
        else:
            resp.failure(error)

    @task
    def get_echo(self) -> None:
        self.seq += 1
        path = f"/echo/{self.kind}/{self.uid}/{self.seq}?r={self.rng.getrandbits(32):08x}"
        want = f"GET {path} HTTP/1.1\r\n".encode()
        with self.client.get(path, name=f"GET /echo [{self.kind}]", headers=self.extra_headers,
                             catch_response=True) as resp:
            body = resp.content or b""
            error = None
            if resp.status_code == 0:
                error = f"no response: {resp.error!r}"
            elif resp.status_code != 200:
                error = f"status {resp.status_code}"
            elif not body.startswith(want):
                error = f"request line not echoed: got {body[:80]!r}"
            elif b"\r\nhost:" not in body[len(want) - 2:].lower():
                error = "Host header not echoed"
            self._finish(resp, error)

    @task
    def post_echo(self) -> None:
        n = self.rng.randint(0, self.max_body)
        data = self.rng.randbytes(n)
        headers = {"Content-Type": "application/octet-stream", **self.extra_headers}
        with self.client.post("/echo", data=data, name=f"POST /echo [{self.kind}]",
                              headers=headers, catch_response=True) as resp:
            body = resp.content or b""
            error = None
            if resp.status_code == 0:
                error = f"no response to a {n}-byte body: {resp.error!r}"
            elif resp.status_code != 200:
                error = f"status {resp.status_code} for a {n}-byte body"
            elif body != data:
                error = (f"echo of a {n}-byte body differs: {len(body)} bytes back, first "
                         f"difference at offset {_first_difference(body, data)}")
            self._finish(resp, error)


class KeepAliveUser(_EchoUser):
    """One persistent connection per user; requests follow each other on it."""

    kind = "keep-alive"


class CloseUser(_EchoUser):
    """A new connection for every request (`Connection: close`)."""

    kind = "close"
    extra_headers = {"Connection": "close"}
