"""Real Prometheus, Alertmanager and vmalert (Debian packages) as local processes.

Each target gets a directory the test controls (rule files, or alertmanager.yml), listens on a free
loopback port, and has its reload endpoint enabled, as it would next to the AlertAgent sidecar.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from .processes import Process, free_port, http_ok, start_with_retry

MINIMAL_ALERTMANAGER_CONFIG = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}


def debian_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} not found: run ./tests/run.sh once (it installs the Debian packages)")
    return path


@dataclass
class Target:
    name: str
    url: str
    process: Process
    workdir: Path

    def reload(self) -> httpx.Response:
        """POST /-/reload, as the sidecar does."""
        return httpx.post(f"{self.url}/-/reload", timeout=10)

    def stop(self) -> None:
        self.process.stop()

    def start_again(self, ready_path: str) -> None:
        """Start the stopped target again, same port and data (as after a crash or rollout)."""
        self.process = Process(self.name, self.process.argv, self.workdir)
        self.process.ready_or_stopped(http_ok(f"{self.url}{ready_path}"), 60, "ready")


@dataclass
class RuleTarget(Target):
    rules_dir: Path

    def loaded_groups(self) -> set[str]:
        """Names of the rule groups the target reports loaded (Prometheus-compatible rules API)."""
        body = httpx.get(f"{self.url}/api/v1/rules", timeout=10).json()
        return {group["name"] for group in body["data"]["groups"] or []}  # vmalert says null for none


@dataclass
class AlertmanagerTarget(Target):
    config_path: Path

    def write_config(self, config: dict[str, object]) -> None:
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=True))

    def status(self) -> dict[str, object]:
        return httpx.get(f"{self.url}/api/v2/status", timeout=10).json()  # type: ignore[no-any-return]


def _workdir(name: str, parent: Path | None) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))


def _serve(name: str, argv: Callable[[int], list[str]], ready_path: str, workdir: Path) -> tuple[Process, str]:
    """Start `argv(port)` on a free port (again on a port race); wait until `ready_path` answers 200."""

    def start() -> tuple[Process, str]:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = Process(name, argv(port), workdir)
        return proc.ready_or_stopped(http_ok(f"{url}{ready_path}"), 60, "ready"), url

    return start_with_retry(start)


def start_prometheus(
    parent: Path | None = None,
    alertmanager_url: str | None = None,
    scrape_configs: list[dict[str, object]] | None = None,
) -> RuleTarget:
    """Prometheus evaluating the rule files of its rules directory every 5 s; with `alertmanager_url`,
    sending the alerts they fire to that Alertmanager (otherwise it has no alerting section), again
    every 5 s: a rules reload makes Prometheus discover its Alertmanagers again, and alerts fired
    before that are only sent at the next resend (by default a minute later). `scrape_configs` are
    Prometheus `scrape_configs` entries (the default scrape interval is 1 s)."""
    workdir = _workdir("prometheus", parent)
    rules_dir = workdir / "rules"
    rules_dir.mkdir()
    config = workdir / "prometheus.yml"
    settings: dict[str, object] = {
        "global": {"evaluation_interval": "5s", "scrape_interval": "1s"},
        "rule_files": [f"{rules_dir}/*.yaml"],
    }
    if scrape_configs:
        settings["scrape_configs"] = scrape_configs
    if alertmanager_url is not None:
        host = alertmanager_url.split("://", 1)[1].rstrip("/")
        settings["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
    config.write_text(yaml.safe_dump(settings))
    argv = lambda port: [  # noqa: E731
        debian_binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--web.enable-remote-write-receiver",  # vmalert writes its recording rules' results here
        *(["--rules.alert.resend-delay=5s"] if alertmanager_url is not None else []),
    ]
    proc, url = _serve("prometheus", argv, "/-/ready", workdir)
    return RuleTarget("prometheus", url, proc, workdir, rules_dir)


def start_alertmanager(parent: Path | None = None) -> AlertmanagerTarget:
    workdir = _workdir("alertmanager", parent)
    config = workdir / "alertmanager.yml"
    config.write_text(yaml.safe_dump(MINIMAL_ALERTMANAGER_CONFIG))
    argv = lambda port: [  # noqa: E731
        debian_binary("prometheus-alertmanager"),
        f"--config.file={config}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip: a single instance
    ]
    proc, url = _serve("alertmanager", argv, "/-/ready", workdir)
    return AlertmanagerTarget("alertmanager", url, proc, workdir, config)


def start_vmalert(
    datasource_url: str, notifier_url: str, parent: Path | None = None, extra_args: tuple[str, ...] = ()
) -> RuleTarget:
    """vmalert evaluating against `datasource_url` (a Prometheus) and notifying `notifier_url`, with
    `extra_args` added to its command line."""
    workdir = _workdir("vmalert", parent)
    rules_dir = workdir / "rules"
    rules_dir.mkdir()
    argv = lambda port: [  # noqa: E731
        debian_binary("vmalert"),
        f"-rule={rules_dir}/*.yaml",
        f"-datasource.url={datasource_url}",
        f"-notifier.url={notifier_url}",
        f"-remoteWrite.url={datasource_url}",  # recording rules need somewhere to write
        f"-httpListenAddr=127.0.0.1:{port}",
        "-evaluationInterval=5s",
        *extra_args,
    ]
    proc, url = _serve("vmalert", argv, "/health", workdir)
    return RuleTarget("vmalert", url, proc, workdir, rules_dir)
