"""The log-tail tool's read (clients/gatewaykube.py `GatewayKube.pod_log`) against recorded API answers,
and how its output reaches the model (analysis/tools.py `cap_output(..., tail=True)`).

Why recorded: the test bed runs kube-apiserver and etcd without a kubelet, and
`GET /api/v1/namespaces/{ns}/pods/{pod}/log` is answered by the API server proxying to the kubelet of
the pod's node, so it cannot succeed live there. The answers below are what kube-apiserver returns for
that request, written in its shapes: the log as `text/plain` lines; a 400 `Status` (reason BadRequest)
for a container that has not started (the kubelet's "is waiting to start", passed through) or a pod
with several containers and none named (pkg/registry/core/pod/strategy.go `LogLocation`); a 404
`Status` (reason NotFound) for a pod that is gone. They are served from a local `http.server` on
127.0.0.1, and a real `GatewayKube` over the operator's own client (urllib3) reads them, so the request it
sends (path, query, Accept) is checked too."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from alertagent.analysis.tools import cap_output
from alertagent.clients.connection import Connection
from alertagent.clients.gatewaykube import GatewayKube, GatewayKubeError
from alertagent.clients.kube import Kube

POD = "/api/v1/namespaces/shop/pods/database-76c57dcd69-mqnrb/log"
WAITING = "/api/v1/namespaces/shop/pods/database-d48fc65d4-2xvwz/log"
SIDECARS = "/api/v1/namespaces/shop/pods/api-79688f6874-65rjl/log"
GONE = "/api/v1/namespaces/shop/pods/database-0/log"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcGkifQ.c2lnbmF0dXJl-Zm9v"
LOG = (
    "2026-11-30 19:14:35.101 UTC [1] LOG:  starting PostgreSQL 17.0 on x86_64-pc-linux-gnu\n"
    '2026-11-30 19:14:35.117 UTC [1] LOG:  listening on IPv4 address "0.0.0.0", port 5432\n'
    "2026-11-30 19:14:35.201 UTC [27] LOG:  database system is ready to accept connections\n"
    "2026-11-30 19:14:36.842 UTC [1] LOG:  server process (PID 31) was terminated by signal 9: Killed\n"
)


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> bytes:
    """A metav1.Status as kube-apiserver writes it for a failed request."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    body |= {"message": message, "reason": reason}
    if details is not None:
        body["details"] = details
    return json.dumps(body | {"code": code}).encode()


# path → (HTTP status, Content-Type, body): the recorded answers.
ANSWERS: dict[str, tuple[int, str, bytes]] = {
    POD: (200, "text/plain", LOG.encode()),
    WAITING: (
        400,
        "application/json",
        status(
            400,
            "BadRequest",
            'container "postgres" in pod "database-d48fc65d4-2xvwz" is waiting to start: ContainerCreating',
        ),
    ),
    SIDECARS: (
        400,
        "application/json",
        status(
            400,
            "BadRequest",
            "a container name must be specified for pod api-79688f6874-65rjl, choose one of: [api envoy]",
        ),
    ),
    GONE: (
        404,
        "application/json",
        status(404, "NotFound", 'pods "database-0" not found', {"name": "database-0", "kind": "pods"}),
    ),
}


class Recorded:
    """A local server answering ANSWERS; `seen` holds each request's path, query and headers."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        recorded = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                recorded.seen.append((url.path, parse_qs(url.query), {k.lower(): v for k, v in self.headers.items()}))
                code, content_type, body = ANSWERS.get(
                    url.path, (404, "application/json", status(404, "NotFound", "the server could not find it"))
                )
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Recorded:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def gateway_kube(host: str) -> GatewayKube:
    return GatewayKube(Kube(Connection(server=host), request_timeout_seconds=5))


@pytest.fixture
def served() -> Iterator[tuple[Recorded, GatewayKube]]:
    with Recorded() as server:
        yield server, gateway_kube(server.url)


def test_the_log_is_returned_as_its_text(served: tuple[Recorded, GatewayKube]) -> None:
    server, kube = served
    assert kube.pod_log("shop", "database-76c57dcd69-mqnrb", None, 50) == LOG
    ((path, query, headers),) = server.seen
    assert path == POD
    assert query == {"tailLines": ["50"], "limitBytes": ["65536"]}  # no container: the pod's only one
    assert headers["accept"] == "text/plain"


def test_the_container_and_line_count_go_in_the_query(served: tuple[Recorded, GatewayKube]) -> None:
    server, kube = served
    kube.pod_log("shop", "database-76c57dcd69-mqnrb", "postgres", 20)
    ((_, query, _headers),) = server.seen
    assert query == {"tailLines": ["20"], "limitBytes": ["65536"], "container": ["postgres"]}


def test_a_pod_that_is_gone_has_an_empty_log(served: tuple[Recorded, GatewayKube]) -> None:
    _, kube = served
    assert kube.pod_log("shop", "database-0", "postgres", 50) == ""


@pytest.mark.parametrize("path", [WAITING, SIDECARS])
def test_a_bad_request_is_an_error_with_its_status(served: tuple[Recorded, GatewayKube], path: str) -> None:
    _, kube = served
    pod = path.split("/")[-2]
    with pytest.raises(GatewayKubeError, match=f"read the log of pod shop/{pod}: HTTP 400") as caught:
        kube.pod_log("shop", pod, None, 50)
    assert caught.value.status == 400


def test_an_unreachable_api_server_is_an_error_without_a_status() -> None:
    with Recorded() as server:
        url = server.url
    with pytest.raises(GatewayKubeError, match="the API server is unreachable") as caught:
        gateway_kube(url).pod_log("shop", "database-76c57dcd69-mqnrb", None, 50)
    assert caught.value.status is None


# -- what the model sees ---------------------------------------------------------------------------


def test_a_long_log_keeps_its_newest_lines_within_the_cap() -> None:
    lines = [f"2026-11-30 19:{i // 60:02d}:{i % 60:02d} UTC [27] LOG:  checkpoint {i} complete" for i in range(400)]
    text = "\n".join(lines) + "\n"
    shown = cap_output(text, tail=True)
    assert len(shown.encode()) <= 4000 < len(text.encode())
    assert shown.startswith("… (truncated)\n")
    assert shown.endswith(lines[-1] + "\n") and lines[0] not in shown
    kept = shown.removeprefix("… (truncated)\n").splitlines()
    assert kept == lines[-len(kept) :]  # whole lines, the newest, in order


def test_a_bearer_token_in_a_log_line_is_redacted() -> None:
    line = f'2026-11-30 19:14:36 UTC [31] LOG:  upstream request "Authorization: Bearer {TOKEN}" refused'
    shown = cap_output(LOG + line + "\n", tail=True)
    assert TOKEN not in shown and TOKEN.split(".", maxsplit=1)[0] not in shown
    assert "Authorization: Bearer [REDACTED]" in shown
    assert "was terminated by signal 9: Killed" in shown  # the rest of the log is kept
