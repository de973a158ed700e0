"""`alertagent run`: the Kopf operator process."""

from __future__ import annotations

import asyncio
import gc
import logging
from concurrent.futures import ThreadPoolExecutor

import kopf

from . import __version__
from .clients.kube import Kube
from .clients.startup import PLAIN_LOG_FORMAT, api_client, check_api, check_ports, list_clusters
from .handlers import build_registry
from .reconcile.state import OperatorState
from .settings import Settings

log = logging.getLogger(__name__)


async def operate(settings: Settings, stop_flag: asyncio.Event | None = None, kube: Kube | None = None) -> None:
    """Run the operator on the current event loop until `stop_flag` is set (or the task is
    cancelled): the registry and the state are built for these settings alone, so two operators with
    different settings can run in one process. `kube` is the client to use (default: in-cluster
    service account, else the kubeconfig); Kopf logs in with its credentials too."""
    # Blocking calls (Kubernetes client, amtool, status writes) run in threads: size the pool for
    # API-bound work, as Kopf's own executor for sync handlers is.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(settings.worker_threads))
    state = OperatorState.create(settings, kube)
    await kopf.operator(
        registry=build_registry(settings),
        memo=kopf.Memo(state=state),
        standalone=True,  # no peering objects: run one replica (the Deployment uses Recreate)
        clusterwide=not settings.namespaces,
        namespaces=list(settings.namespaces),
        stop_flag=stop_flag,
    )


def run(settings: Settings) -> None:
    """Run the operator until SIGTERM/SIGINT (Kopf stops handlers and daemons gracefully). Checks first
    that there is a cluster, that its ports are free and that the API server answers and lets it list
    AlertmanagerClusters; raises StartupError (one line) when not."""
    # Steps, status writes and Kopf's sync handlers share the client from up to `worker_threads` threads.
    kube = Kube(api_client(settings.worker_threads), request_timeout_seconds=settings.kube_timeout_seconds)
    check_ports(
        {
            "--http-port": settings.http_port,
            "--metrics-port": settings.metrics_port,
            "--webhook-port": settings.webhook_port,
        }
    )
    check_api(kube.api, list_clusters(settings.namespaces))
    configure_logging(settings.log_format)
    ports = f"http :{settings.http_port}, metrics :{settings.metrics_port}"
    if settings.webhook_port:
        ports += f", webhook :{settings.webhook_port}"
    log.info(
        "alertagent %s starting: namespaces %s; %s; API server %s; discovery %s",
        __version__,
        ", ".join(settings.namespaces) or "all",
        ports,
        kube.api.configuration.host,
        "on" if settings.discovery else "off",
    )
    # What the imports made lives as long as the process: keep the garbage collector from walking it
    # again in every full collection (a burst's collections, `clients.memory.trim`).
    gc.collect()
    gc.freeze()
    asyncio.run(operate(settings, kube=kube))


class _Fields(logging.Filter):
    """Adds the logger's name to every record: Kopf's JSON formatter writes a record's extra
    attributes as fields, so each JSON line says which logger wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.logger = record.name
        return True


def configure_logging(log_format: str) -> None:
    """Kopf's log handler on the root logger: JSON (message, timestamp, severity, logger, object) or
    plain (`PLAIN_LOG_FORMAT`: time, level, logger, then the object as `[namespace/name]` and the
    message). Quiets what repeats without telling anything: Kopf's "Activity ... succeeded" and
    "Initial authentication has been initiated / has finished" lines at start (their failures are
    warnings and still logged), a line per handled event, and one per HTTP request."""
    if log_format == "json":
        kopf.configure(log_format=kopf.LogFormat.JSON, verbose=False)
    else:
        kopf.configure(log_format=PLAIN_LOG_FORMAT, log_prefix=True, verbose=False)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Fields())
    for name in ("httpx", "kopf.objects", "kopf.activities", "kopf._core.engines.activities"):
        logging.getLogger(name).setLevel(logging.WARNING)
