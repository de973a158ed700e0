"""Brokers for the gateway's shared queue, run as local processes: Redis (Debian's `redis-server`)."""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from .processes import Process, StartupError, free_port, start_with_retry


def _pings(port: int) -> bool:
    """Redis answers PING with +PONG (RESP, no client library needed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


@dataclass
class Redis:
    process: Process
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.stop()


def start_redis(log_dir: Path, data_dir: Path | None = None, appendonly: bool = False) -> Redis:
    """`redis-server` on a free loopback port, its files in `data_dir` (default `log_dir/redis`), no RDB
    snapshots; `appendonly`: an AOF fsynced every second (for tests that restart Redis itself). Ready when
    it answers PING. Raises StartupError when `redis-server` is not installed (setup.sh installs it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise StartupError("redis-server is not installed (Debian package redis-server; see devstack/setup.sh)")
    folder = data_dir or log_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)

    def start() -> Redis:
        port = free_port()
        proc = Process(
            f"redis-{port}",
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(folder),
                "--save",
                "",
                "--appendonly",
                "yes" if appendonly else "no",
                "--appendfsync",
                "everysec",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ],
            log_dir,
        )
        try:
            proc.ready_or_stopped(lambda: _pings(port), 20, "answering PING")
        except StartupError as err:  # Redis says "Address already in use"; start_with_retry looks for lower case
            text = str(err)
            in_use = "Address already in use" in text
            raise StartupError(f"{text} (address already in use)" if in_use else text) from None
        return Redis(proc, port, folder)

    return start_with_retry(start)
