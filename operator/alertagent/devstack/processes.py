"""Starting and stopping the local stack's real binaries as processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    """A loopback port that is free now (it may be taken again before use: callers retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StartupError(RuntimeError):
    pass


class Process:
    """One binary in its own process group, its output in a log file, stopped as a group."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path, env: dict[str, str] | None = None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_dir / f"{name}.log"
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: stop() reaches its children too
            env={**os.environ, **(env or {})},
        )
        log.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise StartupError(f"{self.name} exited with {self.popen.returncode} before {what}:\n{self.log_tail()}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.2)
        raise StartupError(f"{self.name} not {what} after {timeout:.0f}s:\n{self.log_tail()}")

    def ready_or_stopped(self, ready: Callable[[], bool], timeout: float, what: str) -> Process:
        """wait_until, stopping the process when it does not get there."""
        try:
            self.wait_until(ready, timeout, what)
        except StartupError:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)


def http_ok(url: str, **client_args: object) -> Callable[[], bool]:
    """A readiness probe: GET url answers 200."""

    def probe() -> bool:
        return httpx.get(url, timeout=2, **client_args).status_code == 200  # type: ignore[arg-type]

    return probe


def start_with_retry(start: Callable[[], T], attempts: int = 3) -> T:
    """Start a process on freshly chosen ports, again when it loses a port race."""
    last: StartupError | None = None
    for _ in range(attempts):
        try:
            return start()
        except StartupError as err:
            # the target's own message, or AlertAgent's one line ("port N is already in use: ...")
            if "address already in use" not in str(err) and "is already in use" not in str(err):
                raise
            last = err
    assert last is not None
    raise last


class _LoopbackServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True  # a request in flight never holds the process up

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer (Prometheus stopped during a scrape at the demo's end)
        # is no error of the stand-in's: anything else is printed with its traceback, as by default.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def serve_http(handler: type[BaseHTTPRequestHandler], port: int = 0, poll: float = 0.5) -> ThreadingHTTPServer:
    """A threaded HTTP server for the local stand-ins: `handler` on 127.0.0.1:`port` (0: a free port;
    `server_address[1]` says which), served from a daemon thread that checks for shutdown every `poll`
    seconds. Stop it with `stop_http`."""
    server = _LoopbackServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, args=(poll,), daemon=True).start()
    return server


def stop_http(server: ThreadingHTTPServer) -> None:
    """Stop a `serve_http` server and close its socket."""
    server.shutdown()
    server.server_close()
