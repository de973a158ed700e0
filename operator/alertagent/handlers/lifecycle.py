"""Operator start and stop: Kopf's own settings, the metrics port and the HTTP API."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
from prometheus_client import start_http_server

from .. import httpapi
from ..clients.connection import Connection
from ..clients.listwatch import ListWatcher
from ..common.labels import LABEL_PREFIX
from ..reconcile.status import rule_status_writer
from ..settings import Settings
from . import resync
from .memo import state_of


class NoDiffBase(kopf.DiffBaseStorage):  # type: ignore[misc]  # Kopf types it as Any
    """No diff base: AlertAgent has no on.create/update/delete/resume handlers (only indexes, events,
    a timer and a daemon, none `idle=`), so nothing reads a diff, and Kopf's default copied every
    object on every event to make one (~4 % of the CPU of a 500-object apply)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return kopf.BodyEssence()

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        pass


def kopf_credentials(connection: Connection, trust_env: bool = False) -> kopf.ConnectionInfo:
    """The connection as Kopf's `ConnectionInfo` (a login handler's answer): Kopf watches with the
    operator's own credentials, the token as the connection reads it now."""
    scheme, _space, credentials = (connection.authorization() or "").partition(" ")
    basic = scheme == "Basic"
    return kopf.ConnectionInfo(
        server=connection.server,
        ca_path=connection.ca_file,
        ca_data=connection.ca_data,
        insecure=connection.insecure,
        username=connection.username if basic else None,
        password=connection.password if basic else None,
        scheme=None if basic or not scheme else scheme,
        token=None if basic or not credentials else credentials,
        certificate_path=connection.cert_file,
        private_key_path=connection.key_file,
        default_namespace=connection.default_namespace,
        proxy_url=connection.proxy,
        trust_env=trust_env,
    )


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    operator = settings  # Kopf passes its own `settings` to startup handlers

    @kopf.on.login(registry=registry, id="login")
    def login(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
        """Kopf connects with the credentials of the operator's own client (one source of truth: in
        cluster, the service account; else the kubeconfig; embedded, the client it was given)."""
        return kopf_credentials(state_of(memo).kube.connection, settings.networking.trust_env)

    @kopf.on.startup(registry=registry, id="configure")
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Handler progress and the last-handled spec go to annotations on our own CRs, never to status
        # (status fields the CRD does not declare would be pruned).
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=LABEL_PREFIX)
        settings.persistence.diffbase_storage = NoDiffBase()
        settings.persistence.finalizer = f"{LABEL_PREFIX}/finalizer"
        settings.posting.level = logging.WARNING  # Events for warnings and errors only; info goes to logs
        # Each watch is renewed after 9 minutes, within client-go reflectors' 5-10: every renewal is a
        # new TLS connection here (aiohttp speaks HTTP/1.1, one connection per watch). A stream that
        # goes silent is still renewed after Kopf's inactivity timeout (70 s without an event or bookmark).
        settings.watching.server_timeout = 540
        settings.watching.client_timeout = 600
        settings.networking.request_timeout = 60
        # Kopf keeps one worker per object, holding its last watch event, until no event came for this
        # long (default 5 s): in a burst of 500 new objects that is every object's event at once
        # (~6 MiB of peak memory); a worker exits soon after its event and a later event starts another.
        settings.queueing.idle_timeout = 0.5
        # Retry a failed request every second for two minutes (Kopf's default backs off to 21 s): a
        # watch is back within a second of the API server, so a change made then is not held back.
        settings.networking.error_backoffs = (0.5,) + (1.0,) * 120
        settings.execution.max_workers = operator.worker_threads  # sync handlers wait on the API server
        # No watch of every CRD in the cluster (Kopf's runtime scanning): its listing carries each
        # CRD's full schema (megabytes where other operators' CRDs are installed: ~15 MiB of peak memory
        # and 0.2 CPU-s at every start). The served resources are scanned once at start all the same;
        # AlertAgent's own CRDs must exist before it starts (`check_api`), and the namespaces it serves
        # are given by name or all, so nothing appears later that the scan would have to notice.
        settings.scanning.disabled = True
        if operator.webhook_port:
            settings.admission.server = webhook_server(operator)
            if operator.webhook_ca:  # dev/demo: Kopf keeps the ValidatingWebhookConfiguration `alertagent.io`
                settings.admission.managed = "alertagent.io"
            # Otherwise serve TLS only: the configuration is the Helm chart's (templates/webhook.yaml).

    @kopf.on.startup(registry=registry, id="serve_http")
    async def serve_http(memo: kopf.Memo, **_: Any) -> None:
        state = state_of(memo)
        metrics_server, _thread = start_http_server(operator.metrics_port)
        state.background.append(metrics_server)
        state.background.append(
            await httpapi.serve(operator.http_port, state.discovery, operator.discovery, lambda: state.primed_once)
        )

    @kopf.on.startup(registry=registry, id="status_writer")
    async def status_writer(memo: kopf.Memo, **_: Any) -> None:
        state = state_of(memo)
        state.background.append(asyncio.create_task(rule_status_writer(state), name="rule status writer"))

    @kopf.on.cleanup(registry=registry, id="stop_background")
    async def stop_background(memo: kopf.Memo, **_: Any) -> None:
        state = state_of(memo)
        for item in state.background:
            if isinstance(item, asyncio.Task):
                item.cancel()
            elif isinstance(item, (ListWatcher, resync.Taking)):  # a watch thread (ends at its next event
                item.stop()  # or timeout), or a kind's events taken from Kopf's streams
            elif hasattr(item, "cleanup"):  # the HTTP API's runner
                await item.cleanup()
            else:  # the metrics server (a thread serving forever)
                await asyncio.to_thread(item.shutdown)
                item.server_close()
        state.background.clear()
        await state.api.close()
        await state.probes.close()


def webhook_server(operator: Settings) -> kopf.WebhookServer:
    """Kopf's admission server on `--webhook-port` with the serving certificate (leader and standby alike)."""
    return kopf.WebhookServer(
        addr="0.0.0.0",
        port=operator.webhook_port,
        host=operator.webhook_host,
        certfile=operator.webhook_cert,
        pkeyfile=operator.webhook_key,
        cafile=operator.webhook_ca,
    )
