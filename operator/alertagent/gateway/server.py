"""The gateway's HTTP API (aiohttp) and its process (`alertagent gateway`).

    POST /api/v1/alerts/webhook/{namespace}/{name}  Authorization: Bearer <channel token>
         Alertmanager's webhook payload (version 4). 200 once persisted; 400 malformed (the reason),
         401 bad or missing token, 404 unknown channel, 413 too large, 503 queue full or its store
         unreachable (Alertmanager retries).
    POST /api/v1/test/{namespace}/{name}            Bearer token; a test message delivered now:
         200 {"ok": bool, "kind": str, "code": int|null, "message": str} (the robot's own answer)
    GET  /api/v1/channels  {"<ns>/<name>": {"queued", "delivered", "lastError", "lastErrorKind", "lastErrorCode"}}
    GET  /api/v1/incidents {"<ns>/<name>": {"leader": bool, "incidents": [{"name", <Incident status>}]}}: the
         incident engine's view of each cluster it follows (gateway/incidents.py)
    GET  /healthz, GET /metrics

Answers and logs never contain a robot URL, token or signing secret."""

from __future__ import annotations

import asyncio
import errno
import hmac
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from ..clients import memory
from ..clients.gatewaykube import connect
from ..render.robots.models import GatewayChannel, WebhookPayload
from .analysis import AnalysisService
from .channels import ChannelSource
from .delivery import Gateway, Options, QueueFullError
from .incidents import IncidentBook, IncidentService
from .metrics import GatewayMetrics
from .store import MemoryStore, SQLiteStore, Store, StoreUnavailableError

log = logging.getLogger("alertagent.gateway")
PLAIN_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class GatewayStartupError(RuntimeError):
    """The gateway cannot start; `str()` is one line (exit 2)."""


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _pydantic_reason(err: ValidationError) -> str:
    """The first few problems, located, without echoing the input."""
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in err.errors()[:5]]
    more = len(err.errors()) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def application(gateway: Gateway, max_request_bytes: int = 4 << 20) -> web.Application:
    """The routes over a started `gateway`."""

    def authorized(request: web.Request) -> GatewayChannel | web.Response:
        key = f"{request.match_info['namespace']}/{request.match_info['name']}"
        channel = gateway.source.channels.get(key)
        if channel is None:
            return _error(404, f"no gateway channel {key}")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), channel.token.encode()):
            return _error(401, "missing or wrong bearer token" if header else "missing bearer token")
        return channel

    async def webhook(request: web.Request) -> web.Response:
        channel = authorized(request)
        if isinstance(channel, web.Response):
            return channel
        if request.content_length is not None and request.content_length > max_request_bytes:
            return _error(413, f"the body is over {max_request_bytes} bytes")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"the body is over {max_request_bytes} bytes")
        try:
            payload = WebhookPayload.model_validate_json(raw)
        except ValidationError as err:
            return _error(400, _pydantic_reason(err))
        try:
            messages = await gateway.enqueue(channel, payload)
        except (QueueFullError, StoreUnavailableError) as err:
            return _error(503, str(err))
        return web.json_response({"status": "queued", "messages": len(messages)})

    async def test(request: web.Request) -> web.Response:
        channel = authorized(request)
        if isinstance(channel, web.Response):
            return channel
        answer = await gateway.test_send(channel)
        return web.json_response(
            {"ok": answer.kind == "ok", "kind": answer.kind, "code": answer.code, "message": answer.message}
        )

    async def channels(_: web.Request) -> web.Response:
        keys = sorted(set(gateway.source.channels) | set(gateway.stats))
        return web.json_response({key: gateway.stat(key).as_json() for key in keys})

    async def incidents(_: web.Request) -> web.Response:
        book = gateway.incident_book
        return web.json_response(book.as_json() if isinstance(book, IncidentBook) else {})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "channels": len(gateway.source.channels), "queued": gateway.depth})

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(gateway.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application(client_max_size=max_request_bytes)
    app.router.add_post("/api/v1/alerts/webhook/{namespace}/{name}", webhook)
    app.router.add_post("/api/v1/test/{namespace}/{name}", test)
    app.router.add_get("/api/v1/channels", channels)
    app.router.add_get("/api/v1/incidents", incidents)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


@dataclass
class Config:
    """`alertagent gateway`'s flags."""

    channels_files: list[Path]
    host: str = "0.0.0.0"
    port: int = 8083
    store: str = "sqlite"  # sqlite | memory | redis
    redis_url: str = "redis://127.0.0.1:6379/0"
    db: Path = Path("gateway-queue.db")
    durable: bool = False
    max_request_bytes: int = 4 << 20
    shutdown_grace: float = 10.0
    options: Options = field(default_factory=Options)
    incidents: bool = True  # run the incident engine of clusters whose channels file has an incidents section
    # The incidents Lease's holder identity: $POD_NAME, else unique to this process on this host.
    pod_name: str = field(default_factory=lambda: os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}")
    pod_namespace: str = field(default_factory=lambda: os.environ.get("POD_NAMESPACE", ""))
    kubeconfig: str | None = None  # None: in-cluster, else $KUBECONFIG or ~/.kube/config


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `:PORT` (all interfaces). Raises ValueError."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen {text!r}: use HOST:PORT or :PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def open_store(config: Config) -> Store:
    """The queue store of `config.store`. Raises GatewayStartupError when Redis cannot be used."""
    if config.store == "memory":
        return MemoryStore()
    if config.store == "redis":
        try:  # only this store needs the `redis` package (extra `broker`)
            from .store_redis import RedisStore, describe_url  # noqa: PLC0415
        except ImportError:
            raise GatewayStartupError("--store redis needs the redis package (extra: alertagent[broker])") from None
        try:
            return RedisStore(config.redis_url, queue_max=config.options.queue_max)
        except Exception as err:  # redis.RedisError, or a malformed URL (ValueError)
            raise GatewayStartupError(
                f"cannot use Redis at {describe_url(config.redis_url)}: {type(err).__name__}; check --redis-url"
            ) from None
    return SQLiteStore(config.db, durable=config.durable)


def new_gateway(config: Config, metrics: GatewayMetrics) -> Gateway:
    """The gateway over its store: a shared store (Redis) gets the gateway that shares channels out."""
    store = open_store(config)
    if config.store == "redis":
        from .store_redis import RedisStore, SharedGateway  # noqa: PLC0415

        assert isinstance(store, RedisStore)
        return SharedGateway(ChannelSource(config.channels_files), store, metrics, config.options)
    return Gateway(ChannelSource(config.channels_files), store, metrics, config.options)


async def serve(config: Config, stop: asyncio.Event) -> None:
    """Run until `stop` is set: then stop taking requests, let deliveries in flight finish, exit."""
    metrics = GatewayMetrics()
    gateway = new_gateway(config, metrics)
    book = IncidentBook(metrics.incidents)
    if config.incidents:  # before start: the gateway's incident notifications read it
        gateway.incident_book = book
    runner = web.AppRunner(application(gateway, config.max_request_bytes), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port).start()
    except OSError as err:
        await runner.cleanup()
        gateway.store.close()
        if err.errno == errno.EADDRINUSE:
            raise GatewayStartupError(f"port {config.port} is already in use: change it with --listen") from None
        raise GatewayStartupError(
            f"cannot listen on {config.host}:{config.port}: {err.strerror or err}; change it with --listen"
        ) from None
    replayed = await gateway.start()
    service = analysis = None
    if config.incidents:  # the Lease's holder identity is the pod name
        service = IncidentService(
            lambda: gateway.source.incidents,
            book,
            config.pod_name,
            partial(connect, config.kubeconfig),
            metrics.incidents,
        )
        engines = service
        analysis = AnalysisService(book, lambda: engines.kube, metrics.analysis, lambda: gateway.notifier)
        analysis.start()  # subscribes before the first poll
        await service.start()
    log.info(
        "gateway listening on %s:%d; %d channels; %d messages replayed",
        config.host,
        config.port,
        len(gateway.source.channels),
        replayed,
    )
    await stop.wait()
    if analysis is not None:
        await analysis.stop()
    if service is not None:  # first, so the Leases are released while another replica still runs
        await service.stop()
    log.info("stopping: no new requests; letting deliveries in flight finish (%d messages stay queued)", gateway.depth)
    await runner.cleanup()
    await gateway.stop(config.shutdown_grace)
    gateway.store.close()
    log.info("stopped")


def run(config: Config) -> None:
    """The process: logs to stderr, stops gracefully on SIGTERM or SIGINT. Raises GatewayStartupError."""
    logging.basicConfig(level=logging.INFO, format=PLAIN_LOG_FORMAT)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines quote robot URLs

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, stop)

    memory.small_tls_buffers()
    asyncio.run(main())
