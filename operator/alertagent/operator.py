"""`alertagent run`: the Kopf operator process."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import kopf

from .clients.kube import Kube
from .handlers import build_registry
from .reconcile.state import OperatorState
from .settings import Settings


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
    """Run the operator until SIGTERM/SIGINT (Kopf stops handlers and daemons gracefully)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe request is noise
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)  # "Handler ... succeeded" per event too
    kopf.configure(
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.PLAIN,
        verbose=False,
    )
    asyncio.run(operate(settings))
