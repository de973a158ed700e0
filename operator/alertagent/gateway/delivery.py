"""The gateway's queue and delivery: Alertmanager's notifications rendered into robot requests
(`render.robots.formats`), persisted in the store, then sent by one worker per channel, in order, at
the robot's rate, signed when sent, retried with exponential backoff and jitter on 5xx, 429, timeouts
and the robots' "too fast" codes, and held (not retried in a loop) on configuration errors (bad
signature, bad token) until the channel's credentials change or `config_error_retry` passes.

What the robots answer is classified by `render.robots.answers` (HTTP 200 with errcode/code != 0)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from ..render.robots import answers, formats, native
from ..render.robots.models import GatewayChannel, WebhookPayload
from .channels import ChannelSource
from .metrics import GatewayMetrics
from .notifier import Book, IncidentNotifier
from .ratelimit import RateLimiter, Window, robot_key
from .store import HoldStore, Message, QueueFullError, Store

__all__ = ["Gateway", "Options", "QueueFullError"]  # QueueFullError lives in store (the notifier raises it too)

log = logging.getLogger("alertagent.gateway.delivery")


@dataclass
class Options:
    """Tunables of the queue and delivery (seconds unless named otherwise)."""

    queue_max: int = 10_000  # messages; beyond it ingestion answers 503 (memory stays bounded)
    request_timeout: float = 10.0
    backoff_base: float = 1.0  # first retry after ~this, doubling per attempt
    backoff_max: float = 60.0
    config_error_retry: float = 300.0  # a channel with bad credentials is tried again after this
    burst: int = 1  # messages a robot may get at once (see ratelimit)
    rate_overrides: dict[str, tuple[Window, ...]] = field(default_factory=dict)  # type -> windows
    poll_interval: float = 2.0  # channels files re-read this often (mtime)


@dataclass
class ChannelStats:
    """What GET /api/v1/channels shows of a channel (no URL, token or secret)."""

    queued: int = 0
    delivered: int = 0
    last_error: str | None = None
    last_error_kind: str | None = None
    last_error_code: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "delivered": self.delivered,
            "lastError": self.last_error,
            "lastErrorKind": self.last_error_kind,
            "lastErrorCode": self.last_error_code,
        }


def windows_for(channel_type: str, overrides: dict[str, tuple[Window, ...]] | None = None) -> tuple[Window, ...]:
    """The rate windows of a robot type: `answers.LIMITS` unless overridden (`--rate-limit`)."""
    if overrides and channel_type in overrides:
        return overrides[channel_type]
    limits = answers.LIMITS[channel_type]
    out = [Window(int(limits.per_minute), 60.0)] if limits.per_minute else []  # 0: no limit (webhook)
    per_second = getattr(limits, "per_second", None)
    if per_second:
        out.append(Window(int(per_second), 1.0))
    return tuple(out)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before retry number `attempt` (1, 2, ...): min(cap, base * 2^(attempt-1)), of which the
    upper half is random ("equal jitter", so replicas and channels do not retry in step)."""
    delay = min(cap, base * 2.0 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # jitter, not security


def test_payload(channel: GatewayChannel) -> WebhookPayload:
    """The one-alert notification a test-send renders (the formats mark it as a test)."""
    now = datetime.now(UTC).isoformat()
    return WebhookPayload.model_validate(
        {
            "version": "4",
            "groupKey": f"alertagent-test/{channel.key}",
            "status": "firing",
            "receiver": channel.key,
            "groupLabels": {"alertname": "AlertAgentTest"},
            "commonLabels": {"alertname": "AlertAgentTest", "severity": "info"},
            "commonAnnotations": {"summary": "AlertAgent test message"},
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "AlertAgentTest", "severity": "info"},
                    "annotations": {"summary": "AlertAgent test message"},
                    "startsAt": now,
                }
            ],
        }
    )


class Gateway:
    """The queue (in memory, mirrored by `store`) and one delivery worker per channel with messages."""

    def __init__(
        self,
        source: ChannelSource,
        store: Store,
        metrics: GatewayMetrics,
        options: Options | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.source, self.store, self.metrics = source, store, metrics
        self.options = options or Options()
        self.client = client or httpx.AsyncClient(
            timeout=self.options.request_timeout, limits=httpx.Limits(max_connections=200)
        )
        self.limiter = RateLimiter(self.options.burst)
        self.queues: dict[str, deque[Message]] = {}
        self.stats: dict[str, ChannelStats] = {}
        self.depth = 0
        self._wake: dict[str, asyncio.Event] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._busy: set[str] = set()
        self._stopping = False
        self._poller: asyncio.Task[None] | None = None
        # The incident engine (set before start when it runs): root alerts' messages are held and
        # enriched, and the leader sends incident updates and resolves (notifier.py).
        self.incident_book: Book | None = None
        self.notifier: IncidentNotifier | None = None

    # -- start, ingestion ------------------------------------------------------------------------
    async def start(self) -> int:
        """Read the channels, replay the stored queue, start the workers; the number replayed."""
        self.source.poll()
        pending = self.store.pending()
        for message in pending:
            self._append(message)
        if pending:
            log.info("replaying %d stored messages for %d channels", len(pending), len({m.channel for m in pending}))
        self._poller = asyncio.create_task(self._poll())
        self.start_incidents()
        return len(pending)

    def start_incidents(self) -> None:
        """Start the incident notifications when the incident engine runs (`incident_book` is set);
        held messages of a previous run are sent when due."""
        if self.incident_book is not None and self.notifier is None:
            store = self.store if isinstance(self.store, HoldStore) else None
            self.notifier = IncidentNotifier(self, self.incident_book, store)
            self.notifier.start()

    def stat(self, key: str) -> ChannelStats:
        return self.stats.setdefault(key, ChannelStats())

    async def enqueue(self, channel: GatewayChannel, payload: WebhookPayload) -> list[Message]:
        """Render and persist a notification (returns once it is in the store). With the incident
        engine, a payload carrying an incident's root alert may be held (persisted) until its hold
        time instead: no message yet. Raises QueueFullError (and StoreUnavailableError: a shared store)."""
        if self.notifier is not None:
            messages = await self.notifier.receive(channel, payload)
        else:
            messages = await self.add_requests(channel, formats.render_requests(channel, payload))
        self.metrics.alerts_received.labels(channel.key).inc(len(payload.alerts))
        return messages

    async def add_requests(self, channel: GatewayChannel, requests: list[formats.RobotRequest]) -> list[Message]:
        """Persist rendered requests and queue them for delivery. Raises QueueFullError. (Asynchronous
        for `SharedGateway`, whose store is Redis; this store is local and answers at once.)"""
        if not self.has_room(len(requests)):
            raise QueueFullError(f"the queue holds {self.depth} of at most {self.options.queue_max} messages")
        messages = self.store.add([(channel.key, r.body, r.part, r.parts) for r in requests])
        for message in messages:
            self._append(message)
        return messages

    def has_room(self, count: int) -> bool:
        """Whether `count` more messages fit in `queue_max` (held payloads count one each)."""
        held = len(self.notifier.held) if self.notifier is not None else 0
        return self.depth + held + count <= self.options.queue_max

    def dropped(self, channel: GatewayChannel | None, reason: str) -> None:
        """Count a message given up on (its channel was deleted, or it cannot be rendered any more)."""
        log.debug("dropped a message (%s)", reason)
        self.metrics.notifications.labels(channel.type if channel else "unknown", "dropped").inc()

    def _append(self, message: Message) -> None:
        self.queues.setdefault(message.channel, deque()).append(message)
        self.stat(message.channel).queued += 1
        self.depth += 1
        self.metrics.queue_depth.set(self.depth)
        self._wake.setdefault(message.channel, asyncio.Event()).set()
        if message.channel not in self._workers and not self._stopping:
            self._start_worker(message.channel)

    def _start_worker(self, key: str) -> None:
        task = asyncio.create_task(self._work(key))
        task.add_done_callback(lambda done: self._worker_ended(key, done))
        self._workers[key] = task

    def _worker_ended(self, key: str, task: asyncio.Task[None]) -> None:
        """A worker that raised is logged and started again: a channel must never stop delivering
        without a word while its messages wait."""
        if task.cancelled() or task.exception() is None or self._stopping:
            return
        delay = max(1.0, self.options.backoff_base)
        log.error("channel %s: its delivery stopped on %r; starting it again in %.1fs", key, task.exception(), delay)
        asyncio.get_running_loop().call_later(delay, self._restart_worker, key)

    def _restart_worker(self, key: str) -> None:
        if not self._stopping:
            self._start_worker(key)

    async def _remove_stored(self, message: Message) -> None:
        """Delete a message from the store (a shared store overrides it with a call off the loop)."""
        self.store.remove(message.id)

    def forget_queue(self, key: str) -> None:
        """Stop delivering a channel's queued messages, leaving them stored: another replica delivers
        them (a shared store's lease moved). A send in flight finishes (its message may arrive twice)."""
        queue = self.queues.get(key)
        if not queue:
            return
        self.stat(key).queued -= len(queue)
        self.depth -= len(queue)
        self.metrics.queue_depth.set(self.depth)
        queue.clear()

    async def _pop(self, key: str, message: Message) -> bool:
        """Forget a message delivered or given up on: removed from the store, retried with backoff while
        the store fails (this replica never sends it again). False when the gateway stops first: the
        message stays stored, and whoever delivers the channel next sends it again (a duplicate). Busy
        meanwhile: a graceful stop waits for the removal as for a send in flight."""
        attempt = 0
        self._busy.add(key)
        try:
            while True:
                try:
                    await self._remove_stored(message)
                    break
                except Exception as err:  # the store is unreachable (Redis down or frozen): the worker waits
                    if self._stopping:
                        return False
                    attempt += 1
                    delay = backoff(attempt, self.options.backoff_base, self.options.backoff_max)
                    log.warning(
                        "channel %s: message %d was handled but the store cannot remove it (%s); retry %d in %.1fs",
                        key,
                        message.id,
                        type(err).__name__,
                        attempt,
                        delay,
                    )
                    await asyncio.sleep(delay)
        finally:
            self._busy.discard(key)
        queue = self.queues[key]
        if queue and queue[0].id == message.id:  # not when the queue was forgotten meanwhile (`forget_queue`)
            queue.popleft()
            self.stat(key).queued -= 1
            self.depth -= 1
            self.metrics.queue_depth.set(self.depth)
        return True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.options.poll_interval)
            try:
                if self.source.poll():
                    for event in self._wake.values():  # held channels look at their new credentials
                        event.set()
            except Exception:
                log.exception("re-reading the channels files failed")

    # -- delivery --------------------------------------------------------------------------------
    async def send(self, channel: GatewayChannel, body: dict[str, Any], part: int, parts: int) -> answers.Answer:
        """One signed POST to the robot (waiting for its rate limit); the robot's answer, classified. A
        rate limiter that fails (kept in Redis, which is unreachable) is a "retry": nothing is sent."""
        try:
            await self.limiter.acquire(robot_key(native.limit_key(channel)), self.windows(channel))
        except Exception as err:
            return answers.Answer("retry", None, f"the rate limiter's store failed ({type(err).__name__})")
        request = formats.RobotRequest(channel=channel.key, url=channel.webhook_url, body=body, part=part, parts=parts)
        signed = formats.sign(channel, request, datetime.now(UTC))
        started = time.perf_counter()
        try:
            response = await self.client.post(
                signed.url,
                content=signed.encoded(),  # the bytes the splitter measured
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    **({"Authorization": channel.authorization} if channel.authorization else {}),
                },
                timeout=self.options.request_timeout,
            )
            answer = answers.classify(channel.type, response.status_code, response.text)
        except httpx.TimeoutException:
            answer = answers.Answer("retry", None, "the robot did not answer in time")
        except httpx.HTTPError as err:  # str(err) may quote the URL: only its kind
            answer = answers.Answer("retry", None, f"cannot reach the robot ({type(err).__name__})")
        self.metrics.duration.labels(channel.type).observe(time.perf_counter() - started)
        self.metrics.notifications.labels(channel.type, answer.kind).inc()
        return answer

    def windows(self, channel: GatewayChannel) -> tuple[Window, ...]:
        return windows_for(channel.type, self.options.rate_overrides)

    async def _work(self, key: str) -> None:
        queue, wake = self.queues[key], self._wake[key]
        attempt = 0
        while not self._stopping:
            if not queue:
                wake.clear()
                await wake.wait()
                continue
            message = queue[0]
            channel = self.source.channels.get(key)
            if channel is None:  # the channel was deleted: nobody to deliver to
                log.warning("channel %s is in no channels file: dropping its message %d", key, message.id)
                self.metrics.notifications.labels("unknown", "dropped").inc()
                if not await self._pop(key, message):
                    return
                continue
            self._busy.add(key)
            try:
                answer = await self.send(channel, message.body, message.part, message.parts)
            finally:
                self._busy.discard(key)
            stats = self.stat(key)
            if answer.kind == "ok":
                stats.delivered += 1
                if not await self._pop(key, message):
                    return
                attempt = 0
                continue
            stats.last_error, stats.last_error_kind, stats.last_error_code = answer.message, answer.kind, answer.code
            if self._stopping:
                return
            if answer.kind == "rejected":  # this message can never be delivered: report it, send the next
                log.error("channel %s: destination refused message %d: %s; dropped", key, message.id, answer.message)
                if not await self._pop(key, message):
                    return
                attempt = 0
                continue
            if answer.kind == "config_error":
                log.error(
                    "channel %s: the robot refused its configuration (%s); holding %d messages until its "
                    "credentials change",
                    key,
                    answer.message,
                    len(queue),
                )
                await self._hold(key, channel, wake)
                attempt = 0
                continue
            attempt += 1
            if answer.kind == "rate_limited":
                try:
                    await self.limiter.penalize(robot_key(native.limit_key(channel)), self.windows(channel))
                except Exception as err:  # the backoff below still slows this replica down
                    log.warning("channel %s: the robot's buckets were not emptied: %s", key, type(err).__name__)
            delay = backoff(attempt, self.options.backoff_base, self.options.backoff_max)
            log.warning("channel %s: %s (%s); retry %d in %.1fs", key, answer.kind, answer.message, attempt, delay)
            await asyncio.sleep(delay)

    async def _hold(self, key: str, channel: GatewayChannel, wake: asyncio.Event) -> None:
        """Wait until the channel's entry changes (new credentials) or config_error_retry passes."""
        deadline = time.monotonic() + self.options.config_error_retry
        while (left := deadline - time.monotonic()) > 0 and self.source.channels.get(key) == channel:
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), left)

    async def test_send(self, channel: GatewayChannel) -> answers.Answer:
        """Render and deliver a test message now (not queued); the robot's answer to the first part it
        refused, else to the last part."""
        requests = formats.render_requests(channel, test_payload(channel), test=True)
        answer = answers.Answer("ok", 0, "")
        for request in requests:
            answer = await self.send(channel, request.body, request.part, request.parts)
            if answer.kind != "ok":
                break
        return answer

    # -- shutdown --------------------------------------------------------------------------------
    async def stop(self, grace: float = 10.0) -> None:
        """Let requests in flight finish (up to `grace`), stop the workers; queued messages stay stored."""
        self._stopping = True
        if self._poller:
            self._poller.cancel()
        if self.notifier is not None:
            await self.notifier.stop()
        for key, task in self._workers.items():
            if key not in self._busy:
                task.cancel()
        tasks = list(self._workers.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.client.aclose()
