"""Operator start and stop: Kopf's own settings, the metrics port and the HTTP API."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from prometheus_client import start_http_server

from .. import httpapi
from ..common.labels import LABEL_PREFIX
from ..settings import Settings
from .memo import state_of


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    operator = settings  # Kopf passes its own `settings` to startup handlers
    # A registry of our own has none of Kopf's default login handlers: log in as the kubernetes client does.
    kopf.on.login(registry=registry)(kopf.login_via_client)

    @kopf.on.startup(registry=registry, id="configure")
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Handler progress and the last-handled spec go to annotations on our own CRs, never to status
        # (status fields the CRD does not declare would be pruned).
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=LABEL_PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=LABEL_PREFIX, key="last-handled-configuration"
        )
        settings.persistence.finalizer = f"{LABEL_PREFIX}/finalizer"
        settings.posting.level = logging.WARNING  # Events for warnings and errors only; info goes to logs
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.networking.request_timeout = 60
        settings.execution.max_workers = 32  # sync handlers wait on the API server, not the CPU
        if operator.webhook_port:
            settings.admission.server = kopf.WebhookServer(
                addr="0.0.0.0",
                port=operator.webhook_port,
                host=operator.webhook_host,
                certfile=operator.webhook_cert,
                pkeyfile=operator.webhook_key,
                cafile=operator.webhook_ca,
            )
            settings.admission.managed = "alertagent.io"  # Kopf keeps the ValidatingWebhookConfiguration

    @kopf.on.startup(registry=registry, id="serve_http")
    async def serve_http(memo: kopf.Memo, **_: Any) -> None:
        state = state_of(memo)
        start_http_server(operator.metrics_port)
        state.background.append(await httpapi.serve(operator.http_port, state.discovery, operator.discovery))

    @kopf.on.cleanup(registry=registry, id="stop_background")
    async def stop_background(memo: kopf.Memo, **_: Any) -> None:
        state = state_of(memo)
        for item in state.background:
            if hasattr(item, "cleanup"):
                await item.cleanup()
            else:
                item.cancel()
        state.background.clear()
