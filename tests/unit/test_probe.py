"""Health probes (`clients.probe.TargetProbes`) against local HTTP servers that answer as the targets
do: versions and peers read, a refusal or a target down named the same way every probe, a target that
never answers timed out, connections kept open between probes and a connection the target dropped
retried on a new one."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alertagent.api.alertmanagercluster import AlertmanagerCluster, TargetHealth
from alertagent.clients.alertmanager import parse_status
from alertagent.clients.http import tls_context
from alertagent.clients.probe import Probed, TargetProbes
from tests.tlscerts import self_signed

NOTHING = "http://127.0.0.1:9"  # the discard port: nothing listens

VMALERT_METRICS = 'vm_app_version{version="vmalert-20240425-tags-v1.101.0-0-g1", short_version="v1.101.0"} 1\n'
STARTED = "2026-12-01T06:00:00.000Z"
AM_STATUS = {
    "versionInfo": {"version": "0.28.1"},
    "cluster": {"peers": [{"name": "a"}, {"name": "b"}]},
    "uptime": STARTED,
}


def _cluster(
    alertmanager: str, evaluators: list[tuple[str, str, str]], gateway: str | None = None
) -> AlertmanagerCluster:
    spec: dict[str, Any] = {
        "alertmanager": {"url": alertmanager},
        "ruleEvaluators": [{"name": n, "type": t, "url": u} for n, t, u in evaluators],
    }
    if gateway:
        spec["gateway"] = {"url": gateway}
    return AlertmanagerCluster.model_validate(
        {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": spec,
        }
    )


Routes = dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


def _text(body: str, status: int = 200) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response(text=body, status=status)

    return handler


TARGETS: Routes = {
    "/-/healthy": _text("OK"),
    "/api/v2/status": _text(json.dumps(AM_STATUS)),
    "/-/ready": _text("Prometheus Server is Ready."),
    "/api/v1/status/buildinfo": _text(json.dumps({"status": "success", "data": {"version": "3.5.0"}})),
    "/health": _text("OK"),
    "/metrics": _text(VMALERT_METRICS),
    "/healthz": _text("ok"),
}


async def _serve(
    routes: Routes, tls: ssl.SSLContext | None = None, **runner_options: Any
) -> tuple[web.AppRunner, str, list[str]]:
    """A server answering `routes` (over TLS as `localhost` with `tls`); the peer (host:port) of each
    request goes to the returned list."""
    peers: list[str] = []
    app = web.Application()

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        peers.append(str(request.transport.get_extra_info("peername")) if request.transport else "")
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.append(record)
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}", peers


def _probed(
    routes: Routes,
    cluster_of: Callable[[str], AlertmanagerCluster] = lambda url: _cluster(url, []),
    timeout_seconds: float = 2.0,
    times: int = 1,
    tls: ssl.SSLContext | None = None,
) -> list[Probed]:
    """Probe the cluster `cluster_of` makes of a server answering `routes` (its URL), `times` times."""

    async def run() -> list[Probed]:
        runner, url, _ = await _serve(routes, tls)
        probes = TargetProbes(timeout_seconds=timeout_seconds)
        try:
            return [await probes.probe(cluster_of(url)) for _ in range(times)]
        finally:
            await probes.close()
            await runner.cleanup()

    return asyncio.run(run())


def _by_name(health: list[TargetHealth]) -> dict[str, TargetHealth]:
    return {t.name: t for t in health}


def test_healthy_targets_report_their_versions_and_peers() -> None:
    [probed] = _probed(
        TARGETS, lambda url: _cluster(url, [("prom", "prometheus", url), ("vm", "vmalert", url + "/")], gateway=url)
    )
    assert probed.alertmanager_started == STARTED  # a restart is a new start time
    health = _by_name(probed.targets)
    assert {n: (t.reachable, t.version, t.message) for n, t in health.items()} == {
        "alertmanager": (True, "0.28.1", None),
        "prom": (True, "3.5.0", None),
        "vm": (True, "v1.101.0", None),
        "gateway": (True, None, None),
    }
    assert health["alertmanager"].peers == 2


def test_refusals_and_bad_answers_are_named() -> None:
    routes: Routes = {
        "/-/healthy": _text("OK"),
        "/api/v2/status": _text("[]"),  # JSON, not an object
        "/-/ready": _text("not ready", 503),
        "/health": _text("OK"),
        "/metrics": _text("garbage", 500),  # no version: still healthy
        "/healthz": _text("down", 503),
    }

    [probed] = _probed(
        routes, lambda url: _cluster(url, [("prom", "prometheus", url), ("vm", "vmalert", url)], gateway=url)
    )
    health = _by_name(probed.targets)
    assert not health["alertmanager"].reachable
    assert health["alertmanager"].message == "/api/v2/status answered list, not an object"
    assert (health["prom"].reachable, health["prom"].message) == (False, "/-/ready answered HTTP 503")
    assert (health["vm"].reachable, health["vm"].version) == (True, None)
    assert (health["gateway"].reachable, health["gateway"].message) == (False, "/healthz answered HTTP 503")


def test_an_alertmanager_status_that_is_not_json_is_named() -> None:
    [probed] = _probed({**TARGETS, "/api/v2/status": _text("<html>proxy error</html>")})
    health = probed.targets[0]
    assert not health.reachable and (health.message or "").startswith("/api/v2/status is not JSON: Expecting value")


def test_a_prometheus_without_buildinfo_is_healthy_without_a_version() -> None:
    routes: Routes = {**TARGETS, "/api/v1/status/buildinfo": _text("<html>not json</html>")}

    [probed] = _probed(routes, lambda url: _cluster(url, [("prom", "prometheus", url)]))
    prom = _by_name(probed.targets)["prom"]
    assert (prom.reachable, prom.version, prom.message) == (True, None, None)


def test_a_target_down_reads_the_same_every_probe() -> None:
    """The message is the status: a message that changed every probe would be a write and an Event each."""

    async def run() -> tuple[list[TargetHealth], list[TargetHealth]]:
        probes = TargetProbes(timeout_seconds=2)
        try:
            cluster = _cluster(NOTHING, [("prom", "prometheus", NOTHING)])
            return (await probes.probe(cluster)).targets, (await probes.probe(cluster)).targets
        finally:
            await probes.close()

    first, second = asyncio.run(run())
    assert [(t.reachable, t.message) for t in first] == [(t.reachable, t.message) for t in second]
    assert all(not t.reachable and "127.0.0.1" in (t.message or "") for t in first), first


def test_a_target_that_never_answers_times_out() -> None:
    async def hang(_: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.5)  # past the probe's timeout
        return web.Response(text="late")

    [probed] = _probed({"/-/healthy": hang}, timeout_seconds=0.3)
    health = probed.targets[0]
    assert (health.reachable, health.message) == (False, "no answer within 0.3 s")


def test_probes_reuse_their_connections_and_survive_one_the_target_closed() -> None:
    async def run() -> tuple[list[bool], list[str], list[str]]:
        # The server drops a connection 0.2 s after its last request (Alertmanager and Prometheus drop
        # idle ones too, after their own timeouts).
        runner, url, peers = await _serve(TARGETS, keepalive_timeout=0.2)
        probes = TargetProbes(timeout_seconds=2)
        try:
            cluster = _cluster(url, [])
            first = (await probes.probe(cluster)).targets
            second = (await probes.probe(cluster)).targets
            reused = list(peers)
            await asyncio.sleep(0.5)  # the server has closed the kept connection
            third = (await probes.probe(cluster)).targets
            return [t.reachable for t in (*first, *second, *third)], reused, peers[len(reused) :]
        finally:
            await probes.close()
            await runner.cleanup()

    reachable, reused, after_close = asyncio.run(run())
    assert reachable == [True, True, True]
    assert len(reused) == 4 and len(set(reused)) == 1, reused  # two probes of two requests, one connection
    assert len(after_close) == 2 and after_close[0] not in reused, after_close  # a new connection


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        "up",
        {"cluster": "x"},
        {"cluster": {"peers": 3}},
        {"cluster": {"peers": {"a": 1}}},
        {"versionInfo": "0.28.1"},
        {"versionInfo": ["0.28.1"]},
    ],
)
def test_a_status_of_another_shape_is_a_value_error(body: Any) -> None:
    """What the probe then reports as the target's problem; anything else would stop the health timer."""
    with pytest.raises(ValueError, match="/api/v2/status answered"):
        parse_status(body)


def test_a_status_without_the_optional_parts_still_parses() -> None:
    status = parse_status({"versionInfo": {"version": 7}, "cluster": {}, "uptime": None})
    assert (status.version, status.peers, status.started) == (None, 0, None)


def test_a_malformed_status_is_the_targets_problem_and_the_next_probe_reads_it_again() -> None:
    answers = [{"cluster": "x"}, AM_STATUS]

    async def status(_: web.Request) -> web.StreamResponse:
        return web.json_response(answers.pop(0))

    bad, good = _probed({**TARGETS, "/api/v2/status": status}, times=2)
    assert (bad.targets[0].reachable, bad.alertmanager_started) == (False, None)
    assert bad.targets[0].message == "/api/v2/status answered an object that is not Alertmanager's status"
    assert (good.targets[0].reachable, good.alertmanager_started) == (True, STARTED)


@pytest.fixture
def fresh_tls_context() -> Iterator[None]:
    """`tls_context` is built once per process: these tests build it from their own environment."""
    tls_context.cache_clear()
    yield
    tls_context.cache_clear()


def _server_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    cert, key = self_signed(directory)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return server, cert


def test_an_https_target_is_verified_against_the_trusted_cas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_tls_context: None
) -> None:
    server, cert = _server_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # as httpx's clients of the reconcile steps trust it
    [probed] = _probed(TARGETS, lambda url: _cluster(url, [("prom", "prometheus", url)]), tls=server)
    health = _by_name(probed.targets)
    assert {n: (t.reachable, t.version) for n, t in health.items()} == {
        "alertmanager": (True, "0.28.1"),
        "prom": (True, "3.5.0"),
    }


def test_an_https_target_with_an_untrusted_certificate_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_tls_context: None
) -> None:
    server, _ = _server_tls(tmp_path)
    (tmp_path / "other").mkdir()
    other, _ = self_signed(tmp_path / "other")  # a CA that did not sign the target's certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    [probed] = _probed(TARGETS, tls=server)
    [alertmanager] = probed.targets
    assert not alertmanager.reachable
    assert "certificate verify failed" in (alertmanager.message or "")


def test_probing_http_targets_builds_no_tls_context(fresh_tls_context: None) -> None:
    """Building it loads the CA bundle (~40 ms at every start): only an https target needs it."""
    [probed] = _probed(TARGETS, lambda url: _cluster(url, [("prom", "prometheus", url)], gateway=url))
    assert all(t.reachable for t in probed.targets)
    assert tls_context.cache_info().currsize == 0
