"""Incident notifications through the gateway (gateway/notifier.py with delivery.py and the store):
a root alert's webhook held until its incident gathered, then delivered with the incident section;
updates and the resolve from the leader only; held messages and states surviving a restart. Over a
real local port and the robot stand-ins, with a fake incident book (the engine is tested elsewhere)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from alertagent.api.analysis import AnalysisResult, BuiltinReport, IncidentAnalysis, LlmAnalysis
from alertagent.devstack.robots import Robot, robots
from alertagent.gateway.channels import ChannelSource
from alertagent.gateway.delivery import Gateway, Options
from alertagent.gateway.metrics import GatewayMetrics
from alertagent.gateway.ratelimit import Window
from alertagent.gateway.server import application
from alertagent.gateway.store import SQLiteStore
from alertagent.incidents.track import FIRING, RESOLVED, Impact, Incident

from .test_gateway_api import AUTH, channel, until

CLUSTER = "mon/main"
FAST = {"dingtalk": (Window(600, 60.0),), "wecom": (Window(600, 60.0),), "feishu": (Window(600, 60.0),)}
Subscriber = Callable[[str, list[Incident]], Awaitable[None]]


class Sent:
    def __init__(self, channels: tuple[str, ...], last: float) -> None:
        self.channels, self.last = channels, last


class FakeBook:
    """The incident book's interface (gateway/incidents.py), driven by the test."""

    def __init__(self, leader: bool = True) -> None:
        self.leader = leader
        self.current: list[Incident] = []
        self.subscribers: list[Subscriber] = []
        self.counted: list[tuple[str, str, str]] = []
        self.recorded: dict[str, Sent] = {}
        self.analysed: dict[str, IncidentAnalysis] = {}

    def incidents(self, cluster: str) -> list[Incident]:
        return list(self.current) if cluster == CLUSTER else []

    def is_leader(self, cluster: str) -> bool:
        return self.leader

    def subscribe(self, callback: Subscriber) -> None:
        self.subscribers.append(callback)

    def notified(self, cluster: str, incident_name: str, channel_key: str) -> None:
        self.counted.append((cluster, incident_name, channel_key))

    def sent(self, cluster: str) -> dict[str, Sent]:
        return dict(self.recorded)

    def analyses(self, cluster: str) -> dict[str, IncidentAnalysis]:
        return dict(self.analysed)

    async def poll(self, *incidents: Incident) -> None:
        self.current = list(incidents)
        for callback in self.subscribers:
            await callback(CLUSTER, list(incidents))


def incident(services: int = 4, started: float | None = None, **fields: object) -> Incident:
    impacted = tuple(Impact(f"shop/svc-{i:02d}", 1, 1, 1, "data/postgres") for i in range(1, services))
    base = Incident(
        name="postgres-1a2b3c4d",
        root="data/postgres",
        root_alerts=("DatabaseDown",),
        root_fingerprints=frozenset({"fp-root"}),
        impacted=impacted,
        alerts=services,
        suppressed=services - 1,
        fingerprints=frozenset({"fp-root", *(f"fp-{i}" for i in range(1, services))}),
        severity="critical",
        state=FIRING,
        started=time.time() if started is None else started,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def webhook(*alerts: tuple[str, str], status: str = "firing", group: str = "DatabaseDown") -> dict[str, Any]:
    """Alertmanager's payload with (alertname, fingerprint) alerts."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + group + '"}',
        "status": status,
        "receiver": "team/r",
        "groupLabels": {"alertname": group},
        "commonLabels": {"severity": "critical"},
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": name, "severity": "critical", "service": "postgres"},
                "startsAt": "2025-01-01T00:00:00Z",
                "fingerprint": fingerprint,
            }
            for name, fingerprint in alerts
        ],
    }


def write_channels(path: Path, channels: dict[str, dict[str, Any]], hold: float, update_interval: float) -> None:
    settings = {
        "alertmanager_url": "http://127.0.0.1:9",
        "graph_namespace": "alertagent",
        "hold": hold,
        "update_interval": update_interval,
    }
    path.write_text(json.dumps({"cluster": CLUSTER, "channels": channels, "incidents": settings}))


async def started_gateway(tmp_path: Path, book: FakeBook, **options: Any) -> tuple[Gateway, TestClient]:
    gateway = Gateway(
        ChannelSource([tmp_path / "channels.json"]),
        SQLiteStore(tmp_path / "q.db"),
        GatewayMetrics(),
        Options(backoff_base=0.05, backoff_max=0.2, rate_overrides=FAST, **options),
    )
    gateway.incident_book = book
    await gateway.start()
    client = TestClient(TestServer(application(gateway)))
    await client.start_server()
    return gateway, client


async def stopped(gateway: Gateway, client: TestClient) -> None:
    await client.close()
    await gateway.stop(1)
    gateway.store.close()


def run(
    tmp_path: Path,
    bots: tuple[Robot, ...],
    test: Callable[[Gateway, TestClient, FakeBook], Awaitable[None]],
    hold: float = 1.0,
    update_interval: float = 0.0,
    leader: bool = True,
    **options: Any,
) -> FakeBook:
    write_channels(
        tmp_path / "channels.json",
        {f"team/r{i}": channel(f"team/r{i}", b) for i, b in enumerate(bots)},
        hold,
        update_interval,
    )
    book = FakeBook(leader)

    async def main() -> None:
        gateway, client = await started_gateway(tmp_path, book, **options)
        try:
            await test(gateway, client, book)
        finally:
            await stopped(gateway, client)

    asyncio.run(main())
    return book


URL = "/api/v1/alerts/webhook/team/r0"


def test_a_root_alerts_message_waits_for_the_hold_then_names_the_incident_with_every_alert(tmp_path: Path) -> None:
    with robots(Robot("dingtalk")) as (bot,):

        async def test(gateway: Gateway, client: TestClient, book: FakeBook) -> None:
            await book.poll(incident(4))
            sent = time.monotonic()
            resp = await client.post(
                URL, json=webhook(("DatabaseDown", "fp-root"), ("DiskFull", "fp-other")), headers=AUTH
            )
            assert resp.status == 200  # answered at once: the payload is persisted (held)
            await asyncio.sleep(0.5)
            assert bot.arrivals == []  # still gathering
            await book.poll(incident(6))  # two more services joined meanwhile
            await until(lambda: len(bot.arrivals) == 1)
            assert time.monotonic() - sent >= 0.9
            text = bot.texts()[0]
            assert "Incident postgres-1a2b3c4d" in text and "data/postgres" in text and "5 services impacted" in text
            assert "DatabaseDown" in text and "DiskFull" in text  # nothing Alertmanager delivered is dropped
            assert book.counted == [(CLUSTER, "postgres-1a2b3c4d", "team/r0")]
            assert gateway.metrics.alerts_received.labels("team/r0")._value.get() == 2

        run(tmp_path, (bot,), test)


def test_other_alerts_go_at_once_and_plain(tmp_path: Path) -> None:
    with robots(Robot("wecom")) as (bot,):

        async def test(gateway: Gateway, client: TestClient, book: FakeBook) -> None:
            await book.poll(incident(4))
            # a known alert that roots no incident, and a root whose hold has passed
            await client.post(URL, json=webhook(("ApiSlow", "fp-1"), group="ApiSlow"), headers=AUTH)
            await until(lambda: bot.count("ApiSlow") == 1)
            assert "Incident" not in bot.texts()[0] and book.counted == []
            await book.poll(incident(4, started=time.time() - 60))
            await client.post(URL, json=webhook(("DatabaseDown", "fp-root")), headers=AUTH)
            await until(lambda: bot.count("DatabaseDown") == 1)
            assert "Incident postgres-1a2b3c4d" in bot.texts()[1]

        run(tmp_path, (bot,), test, hold=30.0)


def test_a_single_service_root_is_held_and_sent_plain_then_updated_when_it_grows(tmp_path: Path) -> None:
    with robots(Robot("feishu")) as (bot,):

        async def test(gateway: Gateway, client: TestClient, book: FakeBook) -> None:
            await book.poll(incident(1))
            await client.post(URL, json=webhook(("DatabaseDown", "fp-root")), headers=AUTH)
            await until(lambda: len(bot.arrivals) == 1)
            assert "Incident" not in bot.texts()[0] and book.counted == []
            await book.poll(incident(8))
            await until(lambda: len(bot.arrivals) == 2)
            assert "Incident grew: now 8 services" in bot.texts()[1]

        run(tmp_path, (bot,), test, hold=0.3)


def test_a_single_service_incident_with_an_analysis_carries_it_then_gets_the_llm_answer(tmp_path: Path) -> None:
    report = BuiltinReport(
        root="data/postgres",
        summary="Root cause candidate: data/postgres. 1 of 1 pod of StatefulSet data/postgres is not ready.",
        generated_time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    answer = AnalysisResult(root_cause="the disk is full", confidence=0.6)
    with robots(Robot("feishu")) as (bot,):

        async def test(gateway: Gateway, client: TestClient, book: FakeBook) -> None:
            one = incident(1)
            book.analysed[one.name] = IncidentAnalysis(basis="b", builtin=report)
            await book.poll(one)
            await client.post(URL, json=webhook(("DatabaseDown", "fp-root")), headers=AUTH)
            await until(lambda: len(bot.arrivals) == 1)
            text = bot.texts()[0]
            assert report.summary in text and "🧩 Incident" not in text  # its analysis, no cascade section
            assert book.counted == [(CLUSTER, one.name, "team/r0")]
            llm = LlmAnalysis(provider="OpenAI", state="Succeeded", result=answer)
            book.analysed[one.name] = IncidentAnalysis(basis="b", builtin=report, llm=llm)
            assert gateway.notifier is not None
            await gateway.notifier.analysis_ready(CLUSTER, one)
            await until(lambda: len(bot.arrivals) == 2)
            assert "the disk is full" in bot.texts()[1] and "60%" in bot.texts()[1]

        run(tmp_path, (bot,), test, hold=0.3)


def test_the_leader_sends_one_update_per_interval_and_one_resolve_to_the_channels_that_got_the_root(
    tmp_path: Path,
) -> None:
    with robots(Robot("dingtalk"), Robot("wecom"), Robot("feishu")) as bots:

        async def test(gateway: Gateway, client: TestClient, book: FakeBook) -> None:
            start = time.time()
            await book.poll(incident(3, started=start))
            for i in (0, 1):  # Alertmanager routed the root alert to r0 and r1, not r2
                await client.post(
                    f"/api/v1/alerts/webhook/team/r{i}", json=webhook(("DatabaseDown", "fp-root")), headers=AUTH
                )
            await until(lambda: all(len(b.arrivals) == 1 for b in bots[:2]))
            for services in range(4, 8):  # services join poll after poll, right after the first message
                await book.poll(incident(services, started=start))
            await asyncio.sleep(0.3)
            assert [len(b.arrivals) for b in bots] == [1, 1, 0]  # within the interval: no update yet
            await asyncio.sleep(1.0)
            for services in range(8, 12):
                await book.poll(incident(services, started=start))
            await until(lambda: all(len(b.arrivals) == 2 for b in bots[:2]))
            await asyncio.sleep(0.3)
            assert [len(b.arrivals) for b in bots] == [2, 2, 0]  # one update for all who joined
            assert all("Incident grew: now 8 services" in b.texts()[1] for b in bots[:2])
            await asyncio.sleep(1.0)
            await book.poll(incident(11, started=start))
            await until(lambda: all(len(b.arrivals) == 3 for b in bots[:2]))
            assert all("Incident grew: now 11 services" in b.texts()[2] for b in bots[:2])
            resolved = incident(11, started=start, state=RESOLVED, resolved=time.time())
            await book.poll(resolved)
            await book.poll(resolved)
            await until(lambda: all(len(b.arrivals) == 4 for b in bots[:2]))
            await asyncio.sleep(0.3)
            assert [len(b.arrivals) for b in bots] == [4, 4, 0]
            assert all(
                "Incident resolved after" in b.texts()[3] and "11 services were impacted" in b.texts()[3]
                for b in bots[:2]
            )
            assert len(book.counted) == 8  # first, two updates and the resolve, to two channels
            # Alertmanager's own resolved message for the root alert, after the incident's resolve: folded.
            await client.post(
                "/api/v1/alerts/webhook/team/r0",
                json=webhook(("DatabaseDown", "fp-root"), status="resolved"),
                headers=AUTH,
            )
            # ...but not on r2, which never heard of the incident, nor with a non-root alert in it.
            await client.post(
                "/api/v1/alerts/webhook/team/r2",
                json=webhook(("DatabaseDown", "fp-root"), status="resolved"),
                headers=AUTH,
            )
            await client.post(
                "/api/v1/alerts/webhook/team/r1",
                json=webhook(("DatabaseDown", "fp-root"), ("ApiDown", "fp-1"), status="resolved"),
                headers=AUTH,
            )
            await until(lambda: len(bots[2].arrivals) == 1 and len(bots[1].arrivals) == 5)
            await asyncio.sleep(0.3)
            assert [len(b.arrivals) for b in bots] == [4, 5, 1]

        run(tmp_path, bots, test, hold=0.2, update_interval=1.0)


def test_a_replica_that_does_not_lead_follows_up_on_the_channels_it_notified(tmp_path: Path) -> None:
    """Alertmanager sent the root alert to this replica (not the Lease holder): only it knows the
    channel heard, so it sends that channel's update and resolve (and the leader never does)."""
    with robots(Robot("dingtalk")) as (bot,):

        async def test(gateway: Gateway, client: TestClient, book: FakeBook) -> None:
            await book.poll(incident(3))
            await client.post(URL, json=webhook(("DatabaseDown", "fp-root")), headers=AUTH)
            await until(lambda: len(bot.arrivals) == 1)
            await book.poll(incident(9))
            await book.poll(incident(9, state=RESOLVED, resolved=time.time()))
            await until(lambda: len(bot.arrivals) == 3)
            assert "Incident resolved after" in bot.texts()[2]
            await asyncio.sleep(0.3)
            assert len(bot.arrivals) == 3

        run(tmp_path, (bot,), test, hold=0.2, leader=False)


def test_held_messages_and_notification_states_survive_a_restart(tmp_path: Path) -> None:
    with robots(Robot("wecom")) as (bot,):
        write_channels(tmp_path / "channels.json", {"team/r0": channel("team/r0", bot)}, 1.5, 0.0)
        started = time.time()

        async def main() -> None:
            book = FakeBook()
            gateway, client = await started_gateway(tmp_path, book)
            await book.poll(incident(4, started=started))
            assert (await client.post(URL, json=webhook(("DatabaseDown", "fp-root")), headers=AUTH)).status == 200
            await stopped(gateway, client)  # dies while holding it
            assert bot.arrivals == []

            book = FakeBook()
            gateway, client = await started_gateway(tmp_path, book)
            await book.poll(incident(5, started=started))
            await until(lambda: len(bot.arrivals) == 1)  # sent when due, by the new process
            assert time.time() - started >= 1.4 and "4 services impacted" in bot.texts()[0]
            await stopped(gateway, client)

            book = FakeBook()  # a third run remembers whom to tell it resolved
            gateway, client = await started_gateway(tmp_path, book)
            await book.poll(incident(5, started=started, state=RESOLVED, resolved=time.time()))
            await until(lambda: len(bot.arrivals) == 2)
            assert "Incident resolved after" in bot.texts()[1]
            await asyncio.sleep(0.3)
            assert len(bot.arrivals) == 2 and bot.duplicates() == 0
            await stopped(gateway, client)

        asyncio.run(main())


def test_a_new_leader_tells_the_channels_the_incident_records(tmp_path: Path) -> None:
    with robots(Robot("dingtalk"), Robot("feishu")) as bots:

        async def test(gateway: Gateway, client: TestClient, book: FakeBook) -> None:
            book.recorded = {"postgres-1a2b3c4d": Sent(("team/r1",), time.time() - 30)}  # sent by the old leader
            await book.poll(incident(6, started=time.time() - 60))
            await book.poll(incident(6, started=time.time() - 60, state=RESOLVED, resolved=time.time()))
            await until(lambda: len(bots[1].arrivals) == 1)
            assert "Incident resolved after" in bots[1].texts()[0] and bots[0].arrivals == []

        run(tmp_path, bots, test)


def test_a_group_keeps_its_order_behind_a_held_message(tmp_path: Path) -> None:
    with robots(Robot("dingtalk")) as (bot,):

        async def test(gateway: Gateway, client: TestClient, book: FakeBook) -> None:
            await book.poll(incident(3))
            await client.post(URL, json=webhook(("DatabaseDown", "fp-root")), headers=AUTH)
            await client.post(URL, json=webhook(("DatabaseDown", "fp-root"), status="resolved"), headers=AUTH)
            await client.post(URL, json=webhook(("CacheCold", "fp-cache"), group="CacheCold"), headers=AUTH)
            await until(lambda: len(bot.arrivals) == 3)
            texts = bot.texts()
            assert "CacheCold" in texts[0]  # another group is not held
            assert "FIRING" in texts[1] and "RESOLVED" in texts[2]  # the group's resolve after its firing

        run(tmp_path, (bot,), test, hold=0.5)


def test_held_messages_count_towards_the_queue_bound(tmp_path: Path) -> None:
    with robots(Robot("wecom")) as (bot,):

        async def test(gateway: Gateway, client: TestClient, book: FakeBook) -> None:
            await book.poll(incident(3))
            assert (await client.post(URL, json=webhook(("DatabaseDown", "fp-root")), headers=AUTH)).status == 200
            resp = await client.post(URL, json=webhook(("DatabaseDown", "fp-root"), group="G2"), headers=AUTH)
            assert resp.status == 503
            await until(lambda: len(bot.arrivals) == 1)

        run(tmp_path, (bot,), test, hold=0.5, queue_max=1)


def test_the_sqlite_store_keeps_held_payloads_and_states_across_a_reopen(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "q.db")
    first = store.hold("team/r0", '{"groupKey": "a"}', 10.0, 5.0)
    second = store.hold("team/r1", '{"groupKey": "b"}', 20.0, 6.0)
    store.unhold(first.id)
    store.save_states(CLUSTER, {"db-1": '{"channels": []}', "db-2": "{}"})
    store.save_states(CLUSTER, {"db-2": None})
    store.close()
    reopened = SQLiteStore(tmp_path / "q.db")
    assert reopened.held() == [second]
    assert reopened.states() == {(CLUSTER, "db-1"): '{"channels": []}'}
    assert reopened.hold("team/r0", "{}", 1.0, 1.0).id > second.id


def test_a_held_message_whose_template_no_longer_renders_is_dropped_not_retried(tmp_path: Path) -> None:
    """The channel's template changed while a root alert's message was held, and fails on it now: the
    message is dropped (and logged) at its release, not kept and tried again every second for ever."""
    with robots(Robot("dingtalk")) as (bot,):

        async def test(gateway: Gateway, client: TestClient, book: FakeBook) -> None:
            await book.poll(incident(3))
            assert (await client.post(URL, json=webhook(("DatabaseDown", "fp-root")), headers=AUTH)).status == 200
            assert gateway.notifier is not None and len(gateway.notifier.held) == 1
            broken = {"team/r0": {**channel("team/r0", bot), "template": "{{ 1 / 0 }}"}}
            write_channels(tmp_path / "channels.json", broken, 0.5, 0.0)
            gateway.source.poll()
            await until(lambda: not gateway.notifier.held)  # type: ignore[union-attr]
            assert isinstance(gateway.store, SQLiteStore) and gateway.store.held() == []
            await asyncio.sleep(0.3)
            assert bot.arrivals == []

        run(tmp_path, (bot,), test, hold=0.5)
