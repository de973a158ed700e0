"""Health probes of a cluster's targets (async): Prometheus /-/ready plus /api/v1/status/buildinfo for
its version, vmalert /health plus `vm_app_version` in /metrics (vmalert has no buildinfo endpoint), and
Alertmanager /-/healthy plus /api/v2/status for version and peers."""

from __future__ import annotations

import asyncio
import re

import httpx

from ..api.alertmanagercluster import AlertmanagerCluster, TargetHealth
from ..status import now
from . import alertmanager
from .prometheus import HEALTH_PATH

# `vm_app_version{version="vmalert-20240425-...-tags-v1.101.0-0-g...", short_version="v1.101.0"} 1`
# (lib/appmetrics/appmetrics.go); builds without a version (Debian's) say version="".
_VM_APP_VERSION = re.compile(r"^vm_app_version\{([^}]*)\}", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def vmalert_version(metrics: str) -> str | None:
    """vmalert's version from its /metrics text: `short_version`, else `version`; None when empty."""
    found = _VM_APP_VERSION.search(metrics)
    labels = dict(_LABEL.findall(found.group(1))) if found else {}
    return labels.get("short_version") or labels.get("version") or None


async def _probe_evaluator(client: httpx.AsyncClient, name: str, kind: str, url: str) -> TargetHealth:
    health = TargetHealth(name=name, type=kind, last_check_time=now())
    try:
        response = await client.get(f"{url}{HEALTH_PATH[kind]}")
        health.reachable = response.status_code == 200
        if not health.reachable:
            health.message = f"{HEALTH_PATH[kind]} answered HTTP {response.status_code}"
        elif kind == "prometheus":
            info = await client.get(f"{url}/api/v1/status/buildinfo")
            if info.status_code == 200:
                health.version = info.json()["data"].get("version")
        elif kind == "vmalert":
            metrics = await client.get(f"{url}/metrics")
            if metrics.status_code == 200:
                health.version = vmalert_version(metrics.text)
    except httpx.HTTPError as err:
        health.reachable, health.message = False, f"{err.__class__.__name__}: {err}"
    return health


async def _probe_alertmanager(client: httpx.AsyncClient, url: str) -> TargetHealth:
    health = TargetHealth(name="alertmanager", type="alertmanager", last_check_time=now())
    try:
        response = await client.get(f"{url}/-/healthy")
        health.reachable = response.status_code == 200
        if health.reachable:
            info = await alertmanager.status(client, url)
            health.version, health.peers = info.version, info.peers
        else:
            health.message = f"/-/healthy answered HTTP {response.status_code}"
    except httpx.HTTPError as err:
        health.reachable, health.message = False, f"{err.__class__.__name__}: {err}"
    return health


async def probe_cluster(cluster: AlertmanagerCluster, timeout_seconds: float = 5.0) -> list[TargetHealth]:
    """Probe Alertmanager and every rule evaluator concurrently, each request at most `timeout_seconds`.
    Never raises: an unreachable target is a TargetHealth with `reachable` False and the reason."""
    async with httpx.AsyncClient(timeout=timeout_seconds) as client:
        probes = [_probe_alertmanager(client, cluster.spec.alertmanager.url.rstrip("/"))]
        probes += [
            _probe_evaluator(client, ev.name, ev.type, ev.url.rstrip("/")) for ev in cluster.spec.rule_evaluators or []
        ]
        return list(await asyncio.gather(*probes))
