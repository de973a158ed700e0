"""Health probes of a cluster's targets (async): Prometheus /-/ready plus /api/v1/status/buildinfo for
its version, vmalert /health plus `vm_app_version` in /metrics (vmalert has no buildinfo endpoint),
Alertmanager /-/healthy plus /api/v2/status for version and peers, and the AlertAgent gateway (when
`spec.gateway` is set) /healthz; and the gateway's view of its channels (/api/v1/channels, blocking).

The probes run on the event loop every health interval, through one aiohttp session kept for the run
(`TargetProbes`): connections stay open between probes, and a request is ~0.2 ms of Python where a
new httpx client and its anyio locks cost several ms a cycle (which was most of an idle operator's CPU)."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

from ..api.alertmanagercluster import AlertmanagerCluster, TargetHealth
from ..common.identity import ObjectRef
from ..status import now
from . import alertmanager
from .http import LoopSession, tls_context
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


# Unreachable: what the client raises for a target that does not answer, or answers what is not HTTP.
UNREACHABLE = (aiohttp.ClientError, TimeoutError, ConnectionError)


def _problem(err: BaseException, timeout_seconds: float) -> str:
    """A target's health message for the error its probe raised (the same each probe: a changed
    message is a status write and an Event)."""
    if isinstance(err, TimeoutError):
        return f"no answer within {timeout_seconds:g} s"
    return f"{err.__class__.__name__}: {err}"


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    """GET `url` (no redirects followed): its status and body. A kept-alive connection the target has
    closed meanwhile is retried once, on a new one, rather than called a target down."""
    # The TLS context (~40 ms to build: it loads the CA bundle) only for an https target.
    tls = tls_context() if url.startswith("https:") else True
    for attempt in (1, 2):
        try:
            async with session.get(url, allow_redirects=False, ssl=tls) as response:
                return response.status, await response.read()
        except aiohttp.ServerDisconnectedError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _version(session: aiohttp.ClientSession, kind: str, url: str) -> str | None:
    """An evaluator's version (None when it does not say): Prometheus's buildinfo, vmalert's metrics."""
    if kind == "prometheus":
        code, body = await _get(session, f"{url}/api/v1/status/buildinfo")
        try:
            version = json.loads(body)["data"]["version"] if code == 200 else None
        except (ValueError, KeyError, TypeError):
            return None
        return version if isinstance(version, str) else None
    if kind == "vmalert":
        code, body = await _get(session, f"{url}/metrics")
        return vmalert_version(body.decode(errors="replace")) if code == 200 else None
    return None


async def _probe_evaluator(
    session: aiohttp.ClientSession, name: str, kind: str, url: str, timeout_seconds: float
) -> TargetHealth:
    health = TargetHealth(name=name, type=kind, last_check_time=now())
    try:
        code, _ = await _get(session, f"{url}{HEALTH_PATH[kind]}")
        health.reachable = code == 200
        if health.reachable:
            health.version = await _version(session, kind, url)
        else:
            health.message = f"{HEALTH_PATH[kind]} answered HTTP {code}"
    except UNREACHABLE as err:
        health.reachable, health.message = False, _problem(err, timeout_seconds)
    return health


async def _probe_alertmanager(
    session: aiohttp.ClientSession, url: str, timeout_seconds: float
) -> tuple[TargetHealth, str | None]:
    """Alertmanager's health, and when it started (None when it could not be read)."""
    health = TargetHealth(name="alertmanager", type="alertmanager", last_check_time=now())
    try:
        code, _ = await _get(session, f"{url}/-/healthy")
        if code != 200:
            health.reachable, health.message = False, f"/-/healthy answered HTTP {code}"
            return health, None
        code, body = await _get(session, f"{url}{alertmanager.STATUS_PATH}")
        if code != 200:
            health.reachable, health.message = False, f"{alertmanager.STATUS_PATH} answered HTTP {code}"
            return health, None
        info = alertmanager.parse_status(json.loads(body))
    except UNREACHABLE as err:
        health.reachable, health.message = False, _problem(err, timeout_seconds)
        return health, None
    except json.JSONDecodeError as err:
        health.reachable, health.message = False, f"{alertmanager.STATUS_PATH} is not JSON: {err}"
        return health, None
    except ValueError as err:  # not Alertmanager's status (the message names the path)
        health.reachable, health.message = False, str(err)
        return health, None
    health.reachable, health.version, health.peers = True, info.version, info.peers
    return health, info.started


GATEWAY_HEALTH_PATH = "/healthz"
GATEWAY_CHANNELS_PATH = "/api/v1/channels"


async def _probe_gateway(session: aiohttp.ClientSession, url: str, timeout_seconds: float) -> TargetHealth:
    health = TargetHealth(name="gateway", type="gateway", last_check_time=now())
    try:
        code, _ = await _get(session, f"{url}{GATEWAY_HEALTH_PATH}")
        health.reachable = code == 200
        if not health.reachable:
            health.message = f"{GATEWAY_HEALTH_PATH} answered HTTP {code}"
    except UNREACHABLE as err:
        health.reachable, health.message = False, _problem(err, timeout_seconds)
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


@dataclass(frozen=True)
class Probed:
    """One probe of a cluster: each target's health (Alertmanager first), and when its Alertmanager
    started (its status's `uptime`; None when it could not be read): a restarted Alertmanager may
    have lost silences, or brought back ones expired since its last snapshot."""

    targets: list[TargetHealth]
    alertmanager_started: str | None = None


class TargetProbes:
    """The health probes of every cluster's targets, through one aiohttp session for the run (made on
    first use on the running loop; `close()` at cleanup). Each request times out after
    `timeout_seconds`; idle connections are kept `keepalive_seconds` (longer than the health
    interval, so a probe finds its connections open). Proxies from the environment (HTTP_PROXY,
    HTTPS_PROXY, NO_PROXY) apply as they do to the steps' httpx clients."""

    def __init__(self, timeout_seconds: float = 5.0, keepalive_seconds: float = 75.0) -> None:
        self.timeout_seconds, self.keepalive_seconds = timeout_seconds, keepalive_seconds
        self._session = LoopSession(self._new_session)

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(keepalive_timeout=self.keepalive_seconds)  # TLS: per request (`_get`)
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
            # Reading the environment's proxies costs on every request: only when there are any.
            trust_env=bool(urllib.request.getproxies()),
        )

    async def probe(self, cluster: AlertmanagerCluster) -> Probed:
        """Probe Alertmanager, every rule evaluator and the gateway (when set) concurrently. Never
        raises: an unreachable target is a TargetHealth with `reachable` False and the reason."""
        session, timeout = self._session.get(), self.timeout_seconds
        others = [
            _probe_evaluator(session, ev.name, ev.type, ev.url.rstrip("/"), timeout)
            for ev in cluster.spec.rule_evaluators or []
        ]
        if cluster.spec.gateway is not None:
            others.append(_probe_gateway(session, cluster.spec.gateway.url.rstrip("/"), timeout))
        (manager, started), rest = await asyncio.gather(
            _probe_alertmanager(session, cluster.spec.alertmanager.url.rstrip("/"), timeout), asyncio.gather(*others)
        )
        return Probed([manager, *rest], started)

    async def close(self) -> None:
        await self._session.close()
