"""Alertmanager: health and status (version, peers, loaded config)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class AlertmanagerStatus:
    version: str | None
    peers: int
    config_original: str


async def status(client: httpx.AsyncClient, url: str) -> AlertmanagerStatus:
    response = await client.get(f"{url}/api/v2/status")
    response.raise_for_status()
    body = response.json()
    cluster = body.get("cluster") or {}
    return AlertmanagerStatus(
        version=(body.get("versionInfo") or {}).get("version"),
        peers=len(cluster.get("peers") or []),
        config_original=(body.get("config") or {}).get("original", ""),
    )
