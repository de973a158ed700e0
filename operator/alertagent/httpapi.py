"""The operator's HTTP port: `/healthz` (liveness), `/readyz` (readiness: every AlertmanagerCluster has
reconciled once since start, so statuses and outputs are current) and
`GET /api/v1/graph?format=json|dot|mermaid` (the last published service dependency graph)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from .discovery.export import CONTENT_TYPES, FORMATS, render
from .reconcile.state import DiscoveryState


def application(discovery: DiscoveryState, enabled: bool, ready: Callable[[], bool] = lambda: True) -> web.Application:
    """The routes; `enabled` is False when the operator runs without discovery; `ready` says whether
    the operator is ready (`/readyz` answers 503 until it is)."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        if ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "starting: not every cluster has reconciled yet"}, status=503)

    async def graph(request: web.Request) -> web.Response:
        fmt = request.query.get("format", "json")
        if fmt not in FORMATS:
            return web.json_response({"error": f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}"}, status=400)
        if not enabled:
            return web.json_response({"error": "discovery is off (--no-discovery)"}, status=404)
        snapshot, text = discovery.published, discovery.published_json
        if snapshot is None or text is None:
            return web.json_response({"error": "the service graph is not built yet"}, status=503)
        body = text if fmt == "json" else await asyncio.to_thread(render, snapshot, fmt)
        return web.Response(text=body, content_type=CONTENT_TYPES[fmt], charset="utf-8")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/graph", graph)
    return app


async def serve(
    port: int, discovery: DiscoveryState, enabled: bool, ready: Callable[[], bool] = lambda: True
) -> web.AppRunner:
    """Serve on 0.0.0.0:`port` until the returned runner is cleaned up."""
    runner = web.AppRunner(application(discovery, enabled, ready), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner
