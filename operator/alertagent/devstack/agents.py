"""AlertAgent's own processes (the operator and the sidecar), run from the project's virtualenv as a
user would run them, against the test bed."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from .controlplane import ControlPlane
from .processes import Process, free_port, http_ok, start_with_retry

BIN = Path(sys.executable).parent


def start_operator(
    plane: ControlPlane,
    log_dir: Path,
    namespace: str | tuple[str, ...],
    debounce: float = 0.3,
    extra_args: tuple[str, ...] = (),
    kubeconfig: Path | None = None,
    http_port: int | None = None,
    env: dict[str, str] | None = None,
    all_namespaces: bool = False,
) -> tuple[Process, int]:
    """`alertagent run -n NAMESPACE` (the service graph published in the first namespace); returns the
    process and its metrics port. `http_port` picks the port of /healthz and /api/v1/graph; `env` adds
    to (or overrides) its environment (ALERTAGENT_* settings); `all_namespaces`: cluster-wide mode (no
    `-n`; the graph still goes to the first namespace)."""
    namespaces = (namespace,) if isinstance(namespace, str) else namespace

    def start() -> tuple[Process, int]:
        port, metrics_port = http_port or free_port(), free_port()
        proc = Process(
            f"operator-{port}",
            [
                str(BIN / "alertagent"),
                "run",
                *[arg for ns in namespaces if not all_namespaces for arg in ("-n", ns)],
                "--operator-namespace",
                namespaces[0],
                "--http-port",
                str(port),
                "--metrics-port",
                str(metrics_port),
                "--debounce",
                str(debounce),
                *extra_args,
            ],
            log_dir,
            env={
                "KUBECONFIG": str(kubeconfig or plane.kubeconfig),
                "ALERTAGENT_HEALTH_INTERVAL_SECONDS": "1",
                **(env or {}),
            },
        )
        proc.ready_or_stopped(http_ok(f"http://127.0.0.1:{port}/healthz"), 60, "live")
        return proc, metrics_port

    return start_with_retry(start)  # free ports are chosen, then bound: another process may win the race


def _sidecar(
    plane: ControlPlane, log_dir: Path, name: str, args: list[str], kubeconfig: Path | None
) -> tuple[Process, int]:
    def start() -> tuple[Process, int]:
        port = free_port()
        common = ["--listen", f"127.0.0.1:{port}", "--debounce", "0.2", "--verify-timeout", "10"]
        proc = Process(
            f"sidecar-{name}-{port}",
            [str(BIN / "alertagent-sidecar"), *args, *common],
            log_dir,
            env={"KUBECONFIG": str(kubeconfig or plane.kubeconfig)},
        )
        proc.ready_or_stopped(http_ok(f"http://127.0.0.1:{port}/healthz"), 30, "live")
        return proc, port

    return start_with_retry(start)


def start_sidecar(
    plane: ControlPlane,
    log_dir: Path,
    namespace: str,
    cluster: str,
    evaluator: str,
    rules_dir: Path,
    target_url: str,
    kubeconfig: Path | None = None,
) -> tuple[Process, int]:
    """The sidecar next to a rule evaluator."""
    selector = f"alertagent.io/cluster={cluster},alertagent.io/evaluator={evaluator}"
    args = [
        "--namespace",
        namespace,
        "--selector",
        selector,
        "--rules-dir",
        str(rules_dir),
        "--target-url",
        target_url,
        "--target-name",
        evaluator,
    ]
    return _sidecar(plane, log_dir, evaluator, args, kubeconfig)


def start_alertmanager_sidecar(
    plane: ControlPlane,
    log_dir: Path,
    namespace: str,
    secret: str,
    config_file: Path,
    target_url: str,
    kubeconfig: Path | None = None,
) -> tuple[Process, int]:
    """The sidecar next to Alertmanager."""
    args = [
        "--namespace",
        namespace,
        "--alertmanager-secret",
        secret,
        "--config-file",
        str(config_file),
        "--target-url",
        target_url,
    ]
    return _sidecar(plane, log_dir, "alertmanager", args, kubeconfig)


def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.25, what: str = "") -> Any:
    """Poll `check` until it returns something truthy; fail with the last value or error."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as err:
            last = err
        time.sleep(interval)
    raise AssertionError(f"{what or 'condition'} not met within {timeout}s; last: {last!r}")


def metric_value(port: int, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of a metric's samples on `:port/metrics` matching `labels`."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        if series.split("{")[0] != name:
            continue
        if labels and not all(f'{k}="{v}"' in series for k, v in labels.items()):
            continue
        total += float(value)
    return total


def start_gateway(
    log_dir: Path,
    channels_files: list[Path],
    db: Path,
    port: int | None = None,
    extra_args: tuple[str, ...] = (),
) -> tuple[Process, int]:
    """`alertagent gateway` on a loopback port (`port`, else a free one, chosen again when another
    process wins it first) with its queue in `db` (SQLite); returns the process and its port (API,
    /healthz and /metrics)."""

    def start(chosen: int) -> tuple[Process, int]:
        proc = Process(
            f"gateway-{chosen}",
            [
                str(BIN / "alertagent"),
                "gateway",
                *[arg for path in channels_files for arg in ("--channels-file", str(path))],
                "--listen",
                f"127.0.0.1:{chosen}",
                "--db",
                str(db),
                *extra_args,
            ],
            log_dir,
        )
        proc.ready_or_stopped(http_ok(f"http://127.0.0.1:{chosen}/healthz"), 30, "live")
        return proc, chosen

    if port is not None:
        return start(port)
    return start_with_retry(lambda: start(free_port()))  # free ports are chosen, then bound: a race
