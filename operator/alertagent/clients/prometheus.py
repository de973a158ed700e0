"""Prometheus and vmalert: reload, health and the rules API (the same shapes for both)."""

from __future__ import annotations

from pathlib import PurePosixPath

import httpx

from ..render.rules import LoadedGroup

HEALTH_PATH = {"prometheus": "/-/ready", "vmalert": "/health"}


class ReloadError(RuntimeError):
    pass


def reload(client: httpx.Client, url: str) -> None:
    """POST /-/reload; Prometheus answers only after the reload (an error when the rules are bad).
    Raises ReloadError with the target's answer."""
    try:
        response = client.post(f"{url}/-/reload")
    except httpx.HTTPError as err:
        raise ReloadError(f"reload {url}: {err.__class__.__name__}: {err}") from err
    if response.status_code >= 300:
        raise ReloadError(f"reload {url}: HTTP {response.status_code}: {response.text.strip()[:500]}")


def loaded_groups(client: httpx.Client, url: str) -> set[LoadedGroup]:
    """The rule groups the target reports loaded (`/api/v1/rules`, Prometheus and vmalert alike), by
    file base name; raises httpx.HTTPError."""
    response = client.get(f"{url}/api/v1/rules")
    response.raise_for_status()
    groups = response.json()["data"]["groups"] or []  # vmalert says null for none
    return {
        LoadedGroup(PurePosixPath(g["file"]).name, g["name"], tuple(r["name"] for r in g.get("rules") or []))
        for g in groups
    }
