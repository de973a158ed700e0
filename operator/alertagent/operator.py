"""`alertagent run`: the Kopf operator process."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from prometheus_client import start_http_server

from .settings import LABEL_PREFIX, SETTINGS, Settings


@kopf.on.startup()
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
    start_http_server(SETTINGS.metrics_port)
    if SETTINGS.webhook_port:
        settings.admission.server = kopf.WebhookServer(
            addr="0.0.0.0",
            port=SETTINGS.webhook_port,
            host=SETTINGS.webhook_host,
            certfile=SETTINGS.webhook_cert,
            pkeyfile=SETTINGS.webhook_key,
            cafile=SETTINGS.webhook_ca,
        )
        settings.admission.managed = "alertagent.io"  # Kopf keeps the ValidatingWebhookConfiguration


_HTTP: list[Any] = []  # aiohttp runners


@kopf.on.startup()
async def serve_http(**_: Any) -> None:
    from . import httpapi  # noqa: PLC0415 - imports the handlers, which must come after SETTINGS

    _HTTP.append(await httpapi.serve(SETTINGS.http_port))


@kopf.on.cleanup()
async def stop_http(**_: Any) -> None:
    for runner in _HTTP:
        await runner.cleanup()


def run(settings: Settings) -> None:
    """Run the operator until SIGTERM/SIGINT (Kopf stops handlers and daemons gracefully)."""
    SETTINGS.__dict__.update(settings.__dict__)
    from . import handlers  # noqa: PLC0415 - registers the handlers (after SETTINGS: timers read it)

    if settings.webhook_port:
        handlers.admission.register()
    if settings.discovery:
        handlers.discovery.register()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe request is noise
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)  # "Handler ... succeeded" per event too
    kopf.configure(
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.PLAIN,
        verbose=False,
    )
    kopf.run(
        standalone=True,  # no peering objects: run one replica (the Deployment uses Recreate)
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
    )
