"""Health probes of a cluster's targets (async): Prometheus /-/ready plus /api/v1/status/buildinfo for
its version, vmalert /health plus `vm_app_version` in /metrics (vmalert has no buildinfo endpoint),
Alertmanager /-/healthy plus /api/v2/status for version and peers, and the AlertAgent gateway (when
`spec.gateway` is set) /healthz; and the gateway's view of its channels (/api/v1/channels, blocking)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import httpx

from ..api.alertmanagercluster import AlertmanagerCluster, TargetHealth
from ..common.identity import ObjectRef
from ..status import now
from . import alertmanager
from .http import async_http_client
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


GATEWAY_HEALTH_PATH = "/healthz"
GATEWAY_CHANNELS_PATH = "/api/v1/channels"


async def _probe_gateway(client: httpx.AsyncClient, url: str) -> TargetHealth:
    health = TargetHealth(name="gateway", type="gateway", last_check_time=now())
    try:
        response = await client.get(f"{url}{GATEWAY_HEALTH_PATH}")
        health.reachable = response.status_code == 200
        if not health.reachable:
            health.message = f"{GATEWAY_HEALTH_PATH} answered HTTP {response.status_code}"
    except httpx.HTTPError as err:
        health.reachable, health.message = False, f"{err.__class__.__name__}: {err}"
    return health


def config_errors(channels: Mapping[str, Any]) -> dict[ObjectRef, str]:
    """The channels the gateway's robots refused as misconfigured (`lastErrorKind` config_error: a bad
    signature, token or keyword), with the robot's message, from the body of GET /api/v1/channels
    (`{"<ns>/<name>": {"queued", "delivered", "lastError", "lastErrorKind"}}`). Raises nothing: an
    entry of another shape is skipped."""
    errors = {}
    for key, entry in channels.items():
        if isinstance(entry, Mapping) and entry.get("lastErrorKind") == "config_error" and key.count("/") == 1:
            errors[ObjectRef.parse_key("NotificationChannel", key)] = str(
                entry.get("lastError") or "configuration error"
            )
    return errors


def gateway_config_errors(http: httpx.Client, url: str) -> dict[ObjectRef, str]:
    """`config_errors` of the gateway at `url` (its base URL). Raises httpx.HTTPError when it cannot be
    read (unreachable, not 200, not JSON)."""
    response = http.get(f"{url.rstrip('/')}{GATEWAY_CHANNELS_PATH}")
    response.raise_for_status()
    try:
        body = response.json()
    except ValueError as err:
        raise httpx.DecodingError(f"{GATEWAY_CHANNELS_PATH} is not JSON: {err}") from None
    return config_errors(body) if isinstance(body, Mapping) else {}


async def probe_cluster(cluster: AlertmanagerCluster, timeout_seconds: float = 5.0) -> list[TargetHealth]:
    """Probe Alertmanager, every rule evaluator and the gateway (when set) concurrently, each request at
    most `timeout_seconds`. Never raises: an unreachable target is a TargetHealth with `reachable`
    False and the reason."""
    async with async_http_client(timeout_seconds) as client:
        probes = [_probe_alertmanager(client, cluster.spec.alertmanager.url.rstrip("/"))]
        probes += [
            _probe_evaluator(client, ev.name, ev.type, ev.url.rstrip("/")) for ev in cluster.spec.rule_evaluators or []
        ]
        if cluster.spec.gateway is not None:
            probes.append(_probe_gateway(client, cluster.spec.gateway.url.rstrip("/")))
        return list(await asyncio.gather(*probes))
