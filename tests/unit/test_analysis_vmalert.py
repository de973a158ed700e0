"""A vmalert alert's expression for the built-in report: vmalert's default generatorURL
(`<vmalert>/vmalert/alert?group_id=G&alert_id=A`) carries no expression, so the gateway reads it from
vmalert's `/api/v1/alert` JSON (its `expression` field, as vmalert v1.9x answers) and evaluates it on
the cluster's Prometheus-compatible evaluator. Served here from a local HTTP server in vmalert's shape;
tests/integration covers Prometheus' own links end to end."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from alertagent.gateway.analysis import AnalysisService
from alertagent.gateway.incidents import IncidentBook

ALERT = {"state": "firing", "name": "DatabaseDown", "expression": 'up{job="database"} == 0', "group_id": "7"}


@pytest.fixture
def vmalert() -> Iterator[tuple[str, list[str]]]:
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            query = parse_qs(urlsplit(self.path).query)
            known = urlsplit(self.path).path == "/api/v1/alert" and query.get("alert_id") == ["42"]
            body: dict[str, Any] = ALERT if known else {"error": "alert not found"}
            data = json.dumps(body).encode()
            self.send_response(200 if known else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


async def _expression(url: str) -> tuple[str, str] | None:
    service = AnalysisService(IncidentBook(), lambda: None)
    try:
        return await service._vmalert_expression(url)
    finally:
        await service.stop()


def test_vmalerts_default_link_gives_the_expression_through_its_alert_api(vmalert: tuple[str, list[str]]) -> None:
    base, asked = vmalert
    found = asyncio.run(_expression(f"{base}/vmalert/alert?group_id=7&alert_id=42"))
    assert found == ("", 'up{job="database"} == 0')  # "": the cluster's evaluator evaluates it
    assert asked == ["/api/v1/alert?group_id=7&alert_id=42"]


def test_an_unknown_vmalert_alert_or_another_link_gives_nothing(vmalert: tuple[str, list[str]]) -> None:
    base, asked = vmalert
    assert asyncio.run(_expression(f"{base}/vmalert/alert?group_id=7&alert_id=9")) is None  # 404
    assert asyncio.run(_expression(f"{base}/graph?g0.expr=up")) is None  # not vmalert's: not asked
    assert asyncio.run(_expression("http://127.0.0.1:9/vmalert/alert?group_id=1&alert_id=2")) is None  # down
    assert asked == ["/api/v1/alert?group_id=7&alert_id=9"]
