"""Alertmanager: health and status (version, peers, loaded config)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class AlertmanagerStatus:
    version: str | None
    peers: int
    started: str | None = None  # `uptime`: when the Alertmanager process started (RFC 3339)


STATUS_PATH = "/api/v2/status"


def parse_status(body: Any) -> AlertmanagerStatus:
    """Version, peer count and start time from the JSON body of `/api/v2/status` (its `versionInfo`,
    `cluster.peers` and `uptime`; api/v2/openapi.yaml of Alertmanager 0.2x). Raises ValueError when
    the body is not of that shape (not an object, or one of those of another type)."""
    if not isinstance(body, dict):
        raise ValueError(f"{STATUS_PATH} answered {type(body).__name__}, not an object")
    info, cluster = body.get("versionInfo") or {}, body.get("cluster") or {}
    peers = cluster.get("peers") or [] if isinstance(cluster, dict) else None
    if not isinstance(info, dict) or not isinstance(peers, list):
        raise ValueError(f"{STATUS_PATH} answered an object that is not Alertmanager's status")
    version, started = info.get("version"), body.get("uptime")
    return AlertmanagerStatus(
        version=version if isinstance(version, str) else None,
        peers=len(peers),
        started=started if isinstance(started, str) else None,
    )


def config_hash_metric(text: str) -> float:
    """The value Alertmanager exports as `alertmanager_config_hash` for a config file with this text:
    the first 48 bits of its md5, little-endian (its status API masks secrets, so `config.original`
    cannot prove which credentials were loaded; this can)."""
    digest = hashlib.md5(text.encode(), usedforsecurity=False).digest()[:6]
    return float(int.from_bytes(digest + b"\0\0", "little"))


def loaded_config_hash(client: httpx.Client, url: str) -> float | None:
    """`alertmanager_config_hash` from /metrics, or None when the last reload failed; raises httpx.HTTPError."""
    values: dict[str, float] = {}
    for line in client.get(f"{url}/metrics").text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("alertmanager_config_hash", "alertmanager_config_last_reload_successful"):
            values[name] = float(value)
    if values.get("alertmanager_config_last_reload_successful") != 1:
        return None
    return values.get("alertmanager_config_hash")


def list_silences(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    """Every silence (API v2 shape, expired ones included); raises httpx.HTTPError."""
    response = client.get(f"{url}/api/v2/silences")
    response.raise_for_status()
    silences: list[dict[str, Any]] = response.json()
    return silences


def post_silence(client: httpx.Client, url: str, body: dict[str, Any]) -> str:
    """Create or update (with `id`) a silence; returns its id (a new one when Alertmanager replaced it).
    Raises httpx.HTTPError."""
    response = client.post(f"{url}/api/v2/silences", json=body)
    response.raise_for_status()
    return str(response.json()["silenceID"])


def expire_silence(client: httpx.Client, url: str, silence_id: str) -> None:
    """Expire a silence; one Alertmanager no longer has (404) is fine. Raises httpx.HTTPError."""
    response = client.delete(f"{url}/api/v2/silence/{silence_id}")
    if response.status_code != 404:
        response.raise_for_status()


def post_alerts(client: httpx.Client, url: str, alerts: list[dict[str, Any]]) -> None:
    """POST alerts to Alertmanager's API v2; raises httpx.HTTPError when it refuses or is unreachable."""
    response = client.post(f"{url}/api/v2/alerts", json=alerts)
    response.raise_for_status()
