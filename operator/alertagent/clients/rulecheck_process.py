"""`alertagent-rulecheck`, the operator's long-lived `promtool check rules` (blocking client).

Why: running promtool for each change costs ~35 ms of a 48 MB program's start, and on a node that
pages out file pages idle for a minute, a start now and then waits 0.2-1.3 s on page faults for the
parts of promtool the last run used. The checker (Go, `operator/rulecheck/main.go`) runs the rule
parser promtool runs (`rulefmt.Parse` of one pinned Prometheus release) and answers what promtool
would: exit code and stderr. Started on first use (in the operator at the latest once primed:
`operator.warm_rule_checks_when_primed`) and kept running, its pages stay mapped; a check of one file
takes well under a millisecond.

It is looked up as `alertagent-rulecheck` on PATH, then beside the Python interpreter (the image puts
it in /opt/alertagent/bin, `devstack/setup.sh` links it into .venv/bin). `ALERTAGENT_RULECHECK=off`
turns it off: promtool is run per check instead.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path

from ..render.evaluators import Version, parse_version

NAME = "alertagent-rulecheck"
ENV_SWITCH = "ALERTAGENT_RULECHECK"
# Its live heap is one request (see MAX_REQUEST_BYTES): collecting at +50% rather than +100% keeps its
# peak ~3 MiB lower. Measured with the Go 1.19 build, 500 files of 20 rules: GOGC=50 1.39 s, 16 MiB;
# the default 1.31 s, 17 MiB; GOGC=25 on one thread (GOMAXPROCS=1) 2.65 s, 28 MiB; promtool 1.26 s,
# 143 MiB (GOGC=off). The Go 1.26 build needed half the CPU.
PROCESS_ENV: Mapping[str, str] = {"GOGC": "50"}
# A larger set is sent in parts of about this size: the checker holds a request whole while it works.
MAX_REQUEST_BYTES = 256 * 1024
START_TIMEOUT_SECONDS = 30.0


class CheckerError(RuntimeError):
    """The checker gave no answer (it could not start, died, timed out or answered nonsense)."""


def find_checker() -> str | None:
    """The checker's path: on PATH, else beside `sys.executable`; None when absent or turned off
    (`ALERTAGENT_RULECHECK=off`)."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() in {"off", "0", "false", "no"}:
        return None
    found = shutil.which(NAME)
    if found is not None:
        return found
    beside = Path(sys.executable).parent / NAME
    return str(beside) if os.access(beside, os.X_OK) else None


def _close(process: subprocess.Popen[bytes], kill: bool = False) -> str:
    """End a checker: closing its stdin ends it; a stuck one (or any, with `kill`) is killed. The last
    line it wrote to stderr (a Go panic's first line is its reason), or ""."""
    if process.poll() is None:
        try:
            if kill:
                process.kill()
            else:
                assert process.stdin is not None
                process.stdin.close()
            process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()
    if process.stderr is None:
        return ""
    try:
        said = os.read(process.stderr.fileno(), 1 << 16).decode(errors="replace")
    except OSError:
        said = ""
    process.stderr.close()
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    return lines[0] if lines else ""


def _wait_for(fd: int, event: int, deadline: float) -> bool:
    """Whether `fd` is ready for `event` (select.POLLIN or POLLOUT) before `deadline` (monotonic). poll,
    not select: the descriptor may be numbered above FD_SETSIZE in a long-running operator."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    poller = select.poll()
    poller.register(fd, event)
    return bool(poller.poll(remaining * 1000))


def _parts(files: Mapping[str, str]) -> list[dict[str, str]]:
    """`files` in name order, cut into parts of about MAX_REQUEST_BYTES of text (a larger file alone)."""
    parts: list[dict[str, str]] = [{}]
    size = 0
    for name in sorted(files):
        text = files[name]
        if parts[-1] and size + len(text) > MAX_REQUEST_BYTES:
            parts.append({})
            size = 0
        parts[-1][name] = text
        size += len(text)
    return parts


class RuleCheckProcess:
    """One running checker, started on first use and again after a failure. Thread-safe: checks are
    sent one at a time. `version` is the Prometheus release of its rule parser (known once started).

    Calling it with rule files (name → text) returns promtool's (exit code, stderr) for them, as one run
    over them all would: promtool judges and reports file by file, in name order, so the set is sent
    in parts (`MAX_REQUEST_BYTES`) in that order and the answers joined. Raises CheckerError when the
    answers are not all in within `timeout` seconds, or the checker dies (the process is then killed)."""

    def __init__(self, binary: str, timeout: float) -> None:
        self.binary = os.path.abspath(binary)  # it runs in / (a PATH entry may be relative)
        self.timeout = timeout
        self.version: Version | None = None
        self.go: str | None = None  # the Go release it was built with ("go1.19.8"), once started
        self.starts = 0  # processes started so far
        self.exchanges = 0  # requests answered so far
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], RuleCheckProcess] | None = None

    def start(self) -> Version | None:
        """Start the checker unless it runs; its version. Raises CheckerError."""
        with self._lock:
            self._ensure_started()
            return self.version

    def __call__(self, files: Mapping[str, str]) -> tuple[int, str]:
        code, stderr = 0, ""
        deadline = time.monotonic() + self.timeout
        with self._lock:
            for part in _parts(files):
                part_code, part_stderr = self._exchange(part, deadline)
                code, stderr = max(code, part_code), stderr + part_stderr
        return code, stderr

    def _exchange(self, files: Mapping[str, str], deadline: float) -> tuple[int, str]:
        """One request and its answer (call locked)."""
        request = json.dumps({"files": dict(files)}, ensure_ascii=False).encode() + b"\n"
        process = self._ensure_started()
        try:
            self._write(process, request, deadline)
            answer = json.loads(self._read_line(process, deadline))
            code, stderr = int(answer["code"]), str(answer["stderr"])
        except (CheckerError, OSError, ValueError, KeyError, TypeError) as err:
            said = self._stop(kill=True)
            raise CheckerError(f"{NAME}: {err}" + (f" ({said})" if said else "")) from err
        self.exchanges += 1
        return code, stderr

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()
        try:
            process = subprocess.Popen(
                [self.binary],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,  # read only once it has ended: a Go panic's reason
                env=dict(PROCESS_ENV),
                cwd="/",
                close_fds=True,
            )
        except OSError as err:
            raise CheckerError(f"{NAME} could not start: {err}") from err
        assert process.stdin is not None
        os.set_blocking(process.stdin.fileno(), False)  # a stuck checker cannot hold a write past the timeout
        assert process.stderr is not None
        os.set_blocking(process.stderr.fileno(), False)
        self._process, self._buffer = process, b""
        self._finalizer = weakref.finalize(self, _close, process)
        self.starts += 1
        try:
            hello = json.loads(self._read_line(process, time.monotonic() + START_TIMEOUT_SECONDS))
            self.version = parse_version(str(hello["version"]))
            self.go = str(hello["go"]) if hello.get("go") else None
        except (CheckerError, OSError, ValueError, KeyError, TypeError) as err:
            said = self._stop(kill=True)
            raise CheckerError(f"{NAME} did not start: {err}" + (f" ({said})" if said else "")) from err
        return process

    def _stop(self, kill: bool = False) -> str:
        """End the process, if any (what `_close` returns)."""
        said = ""
        if self._finalizer is not None and self._process is not None:
            self._finalizer.detach()
            said = _close(self._process, kill)
        self._finalizer, self._process, self._buffer = None, None, b""
        return said

    @staticmethod
    def _write(process: subprocess.Popen[bytes], data: bytes, deadline: float) -> None:
        assert process.stdin is not None
        fd = process.stdin.fileno()
        view = memoryview(data)
        while view:
            if not _wait_for(fd, select.POLLOUT, deadline):
                raise CheckerError("it took no request in time")
            try:
                view = view[os.write(fd, view[: 1 << 16]) :]
            except BlockingIOError:  # the pipe filled between select and write
                continue

    def _read_line(self, process: subprocess.Popen[bytes], deadline: float) -> bytes:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        while b"\n" not in self._buffer:
            if not _wait_for(fd, select.POLLIN, deadline):
                raise CheckerError("no answer in time")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise CheckerError(f"exited with {process.wait()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line
