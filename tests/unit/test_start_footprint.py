"""What keeps the operator's start cheap: Kopf does not watch every CRD of the cluster (their schemas
weigh megabytes), and the objects of the imports are out of the garbage collector's way."""

from __future__ import annotations

import gc
from typing import Any

import kopf

from alertagent import operator
from alertagent.handlers import build_registry
from alertagent.settings import Settings


def _configure(registry: kopf.OperatorRegistry) -> Any:
    (handler,) = [h for h in registry._activities.get_all_handlers() if str(h.id) == "configure"]
    return handler.fn


def test_kopf_scans_resources_once_and_watches_no_crds() -> None:
    settings = kopf.OperatorSettings()
    assert settings.scanning.disabled is False  # Kopf's default: a watch of every CRD
    _configure(build_registry(Settings()))(settings=settings)
    assert settings.scanning.disabled is True


def test_run_freezes_the_imports_before_the_operator_starts(monkeypatch: Any) -> None:
    frozen: list[int] = []

    async def operate(*_: Any, **__: Any) -> None:
        frozen.append(gc.get_freeze_count())

    monkeypatch.setattr(operator, "check_ports", lambda ports: None)
    monkeypatch.setattr(operator, "check_api", lambda *args: None)
    monkeypatch.setattr(operator, "configure_logging", lambda log_format: None)
    monkeypatch.setattr(operator, "api_client", lambda *args: None)
    monkeypatch.setattr(operator, "Kube", lambda *args, **kwargs: type("K", (), {"api": _Api()})())
    monkeypatch.setattr(operator, "operate", operate)
    try:
        operator.run(Settings())
    finally:
        gc.unfreeze()
    assert frozen and frozen[0] > 0


class _Api:
    class configuration:  # noqa: N801 (mimics the client's attribute)
        host = "https://127.0.0.1:6443"
