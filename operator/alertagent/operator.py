"""`alertagent run`: the Kopf operator process; with `--leader-elect`, one of several replicas of
which only the holder of a coordination.k8s.io/v1 Lease (client-go's leader election: `plans.lease`,
`clients.leader`) runs the operator and writes.

A replica starts as a standby: it serves /healthz and /readyz (200, "standby") on the HTTP port,
the metrics port (`alertagent_leader{identity}` 0) and, when enabled, the admission webhook (a
Kopf operator whose registry holds only the admission handlers: no watch, no write). Once it holds
the Lease it stops those and runs `operate` (which serves the same ports). A leader that cannot
renew within the renew deadline exits at once (exit code 1; Kubernetes restarts it as a standby);
on SIGTERM it stops Kopf, then releases the Lease, so a standby takes over at its next retry."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from aiohttp import web
from prometheus_client import start_http_server

from . import __version__
from .clients import memory
from .clients.gatewaykube import GatewayKube
from .clients.http import build_tls_context_aside
from .clients.kube import Kube
from .clients.leader import LeaderElector
from .clients.startup import PLAIN_LOG_FORMAT, check_api, check_ports, connect, list_clusters
from .common.labels import COMPONENT_LABEL, MANAGED_BY
from .handlers import build_registry
from .metrics import LEADER
from .plans.lease import Elector, LeaseOptions
from .reconcile.state import OperatorState
from .settings import Settings

EXIT_LEADERSHIP_LOST = 1

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
    collector = asyncio.create_task(collect_when_primed(state), name="collector on when primed")
    warming = asyncio.create_task(warm_rule_checks_when_primed(state), name="rule checks warmed when primed")
    try:
        await kopf.operator(
            registry=build_registry(settings),
            memo=kopf.Memo(state=state),
            standalone=True,  # no peering objects: run one replica (the Deployment uses Recreate)
            clusterwide=not settings.namespaces,
            namespaces=list(settings.namespaces),
            stop_flag=stop_flag,
        )
    finally:
        collector.cancel()
        warming.cancel()
        gc.enable()


async def until_primed(state: OperatorState, interval: float = 0.1) -> None:
    """Return once every cluster has reconciled since start (`state.primed_once`, polled every
    `interval` seconds) or `priming_max_seconds` passed."""
    bound = state.started + state.settings.priming_max_seconds
    while not state.primed_once and time.monotonic() < bound:
        await asyncio.sleep(interval)


async def collect_when_primed(state: OperatorState, interval: float = 0.1) -> None:
    """With the garbage collector off for the start (`cli._run`): once primed (`until_primed`),
    collect once, give the freed pages back to the OS and turn the collector on. Does nothing when
    the collector is on.

    Measured with 10,000 AlertRules: ready 17.4 → 12.3 s after a restart, for a peak 438 → 471 MiB."""
    if gc.isenabled():
        return
    await until_primed(state, interval)
    await asyncio.to_thread(memory.trim)
    gc.enable()


async def warm_rule_checks_when_primed(state: OperatorState, interval: float = 0.1) -> None:
    """Once primed (`until_primed`), find and start the rule checking tools of the evaluator types
    the clusters have (`RuleChecks.warm`, in a thread): after a restart with nothing changed no file
    is checked, so the first change would otherwise start them. Not earlier: the start is
    what a restart waits on to be ready."""
    await until_primed(state, interval)
    try:
        types = frozenset().union(*(record.evaluator_types for record in list(state.clusters.values())))
        await asyncio.to_thread(state.rule_checks.warm, types)
    except Exception:  # the first check looks for the tools again: only the head start is lost
        log.warning("the rule checking tools were not started ahead", exc_info=True)


def run(settings: Settings) -> None:
    """Run the operator until SIGTERM/SIGINT (Kopf stops handlers and daemons gracefully). Checks first
    that there is a cluster, that its ports are free and that the API server answers and lets it list
    AlertmanagerClusters; raises StartupError (one line) when not."""
    # Steps, status writes and Kopf's sync handlers share the client from up to `worker_threads` threads.
    kube = connect(settings.worker_threads, settings.kube_timeout_seconds)
    check_ports(
        {
            "--http-port": settings.http_port,
            "--metrics-port": settings.metrics_port,
            "--webhook-port": settings.webhook_port,
        }
    )
    build_tls_context_aside()
    check_api(kube, list_clusters(settings.namespaces))
    configure_logging(settings.log_format)
    ports = f"http :{settings.http_port}, metrics :{settings.metrics_port}"
    if settings.webhook_port:
        ports += f", webhook :{settings.webhook_port}"
    log.info(
        "alertagent %s starting: namespaces %s; %s; API server %s; discovery %s",
        __version__,
        ", ".join(settings.namespaces) or "all",
        ports,
        kube.connection.server,
        "on" if settings.discovery else "off",
    )
    # What the imports made lives as long as the process: keep the garbage collector from walking it
    # again in every full collection (a burst's collections, `clients.memory.trim`). With the collector
    # off (`cli._run`), the imports' garbage is frozen too rather than collected first (1,900 objects,
    # 0.4 MiB, for 0.05 s less before ready); `collect_when_primed` turns the collector on.
    if gc.isenabled():
        gc.collect()
    gc.freeze()
    if settings.leader_elect:
        gc.enable()  # a standby may wait for days; the leader's start is `operate`'s
    memory.small_tls_buffers()
    asyncio.run(lead(settings, kube) if settings.leader_elect else operate(settings, kube=kube))


def lease_options(settings: Settings) -> LeaseOptions:
    """The leader election timings of `settings` (client-go's rule: only the local observation of
    the Lease expires it, never another node's clock). Raises ValueError when they do not hold
    together (`LeaseOptions.check`)."""
    options = LeaseOptions(
        duration=settings.lease_duration_seconds,
        renew_interval=settings.retry_period_seconds,
        renew_deadline=settings.renew_deadline_seconds,
        trust_renew_time=False,
    )
    options.check()
    return options


async def lead(settings: Settings, kube: Kube) -> None:
    """`--leader-elect`: stand by until this replica holds the Lease, then run `operate` until
    SIGTERM/SIGINT, then release the Lease. Exits the process (EXIT_LEADERSHIP_LOST) the moment
    leadership is lost while leading."""
    identity = settings.leader_identity
    namespace = settings.leader_election_namespace or settings.operator_namespace
    elector = Elector(
        namespace,
        settings.leader_election_id,
        identity,
        lease_options(settings),
        labels={**MANAGED_BY, COMPONENT_LABEL: "leader-election"},
    )
    # Lease calls time out at the renew deadline, as client-go's renew context does.
    store = GatewayKube(Kube(kube.connection, request_timeout_seconds=settings.renew_deadline_seconds, pool_size=1))
    LEADER.labels(identity).set(0)
    leading = LeaderElector(store, elector, lambda leader: LEADER.labels(identity).set(int(leader)), _exit_lost)
    log.info("%s standing by for the leader Lease %s/%s", identity, namespace, settings.leader_election_id)
    leading.start()  # before any Kopf operator: Kopf cancels the tasks created after it started
    stopping = _on_signals(asyncio.Event())
    if await _stand_by(settings, leading, stopping):
        try:  # Kopf stops on stop_flag, or on SIGTERM/SIGINT once it has installed its own handlers
            await operate(settings, stop_flag=stopping, kube=kube)
        finally:
            await leading.stop(release=True)
    else:
        await leading.stop(release=False)


def _on_signals(stopping: asyncio.Event) -> asyncio.Event:
    """Have SIGTERM and SIGINT set `stopping` (again after a Kopf operator replaced the handlers)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    return stopping


async def _stand_by(settings: Settings, leading: LeaderElector, stopping: asyncio.Event) -> bool:
    """Serve what a standby serves until the Lease is acquired (True) or a signal came (False)."""
    loop = asyncio.get_running_loop()
    metrics_server, _thread = start_http_server(settings.metrics_port)
    health = web.AppRunner(_standby_app(), access_log=None)
    await health.setup()
    await web.TCPSite(health, "0.0.0.0", settings.http_port).start()
    acquired = loop.create_task(leading.acquired.wait(), name="standing by")
    signalled = loop.create_task(stopping.wait(), name="stopping")
    waiting: set[asyncio.Task[Any]] = {signalled, acquired}
    webhook_stop = asyncio.Event()
    webhook: asyncio.Task[None] | None = None
    if settings.webhook_port:  # Kopf takes the signal handlers over: its ending means a signal came
        webhook = loop.create_task(
            kopf.operator(
                registry=build_registry(settings, standby_only=True),
                standalone=True,
                clusterwide=not settings.namespaces,
                namespaces=list(settings.namespaces),
                stop_flag=webhook_stop,
            ),
            name="standby webhook",
        )
        waiting.add(webhook)
    try:
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if webhook is not None:
            webhook_stop.set()
            await asyncio.gather(webhook, return_exceptions=True)
            _on_signals(stopping)
        acquired.cancel()
        signalled.cancel()
        await health.cleanup()
        await asyncio.to_thread(metrics_server.shutdown)
        metrics_server.server_close()
    return done == {acquired} and not stopping.is_set()


def _standby_app() -> web.Application:
    async def standby(_: web.Request) -> web.Response:
        return web.json_response({"status": "standby"})

    async def leader_only(_: web.Request) -> web.Response:
        # A Service or port-forward may land here (a standby is ready): say where the answer is.
        return web.json_response(
            {
                "status": "standby",
                "error": "this replica stands by: the leader serves the API; the service graph is also "
                "published in the ConfigMap alertagent-service-graph of the operator's namespace",
            },
            status=503,
        )

    app = web.Application()
    app.router.add_get("/healthz", standby)
    app.router.add_get("/readyz", standby)
    app.router.add_get("/api/{path:.*}", leader_only)
    return app


def _exit_lost() -> None:
    """Leadership ended while leading: exit now, before any other write (as controller-runtime does);
    Kubernetes restarts the container, which stands by again."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_LEADERSHIP_LOST)


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
