"""Leader election through a coordination.k8s.io/v1 Lease, as client-go's `tools/leaderelection`
(`LeaseLock`) does it: the Lease bodies to write and the decisions, with time injected; the
Kubernetes calls go through a `LeaseStore` the caller passes (blocking; run it in a thread).

- A candidate creates the Lease when there is none, or takes it over (an update carrying the
  resourceVersion it read, so of two candidates one wins and the other gets 409) once it is free:
  no holder (released), or expired. Expired: the record (holder, renewTime, resourceVersion) was
  seen unchanged for `leaseDurationSeconds` by this candidate's monotonic clock (client-go's
  `observedTime` rule, immune to clock skew between nodes); with `trust_renew_time` also once the
  wall clock passed `renewTime + leaseDurationSeconds` (so a fresh replica need not wait a whole
  duration for a holder long gone).
- The holder renews every `renew_interval` (client-go's retryPeriod; a candidate retries as often).
  It is the leader while its last successful acquire or renew is less than `renew_deadline` old
  (monotonic, measured from before the request was sent); after that it must stop writing, before
  any other candidate can take over (`renew_deadline < duration`).
- Giving up (client-go's `ReleaseOnCancel`): holder emptied and leaseDurationSeconds 1, so another
  candidate takes it at its next attempt rather than after expiry.

Times in the Lease are metav1.MicroTime (RFC 3339 with microseconds, UTC); durations are seconds."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

API_VERSION = "coordination.k8s.io/v1"


@dataclass(frozen=True)
class LeaseOptions:
    """client-go's LeaderElectionConfig timings, in seconds."""

    duration: float = 15.0  # leaseDurationSeconds: how long a candidate waits on a record seen unchanged
    renew_interval: float = 5.0  # retryPeriod: the holder renews, and a candidate retries, this often
    renew_deadline: float | None = None  # the holder stops leading when it could not renew for this long
    trust_renew_time: bool = True  # also expire by the wall clock (renewTime + duration)

    @property
    def deadline(self) -> float:
        """The renew deadline; the lease duration when none is set."""
        return self.duration if self.renew_deadline is None else self.renew_deadline

    def check(self) -> None:
        """Raises ValueError unless duration > renew deadline > renew interval > 0 (client-go's rule:
        a holder must give up before anyone may take over, and try more than once before that) and
        the duration is a whole number of seconds (leaseDurationSeconds is an integer)."""
        if not self.duration > self.deadline > self.renew_interval > 0:
            raise ValueError(
                f"lease duration ({self.duration:g} s) > renew deadline ({self.deadline:g} s) > "
                f"retry period ({self.renew_interval:g} s) > 0 does not hold"
            )
        if self.duration != int(self.duration):
            raise ValueError(f"the lease duration must be whole seconds, not {self.duration:g}")


def microtime(epoch: float) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds, UTC."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> float | None:
    """A MicroTime or Time as epoch seconds; None when absent or malformed."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def lease_holder(lease: Mapping[str, Any] | None) -> str:
    """spec.holderIdentity, "" when free or absent."""
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def lease_expiry(lease: Mapping[str, Any]) -> float:
    """When the Lease expires (epoch seconds): its renewTime plus its duration; -inf without a holder."""
    spec = lease.get("spec") or {}
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    if not spec.get("holderIdentity") or renewed is None:
        return -math.inf
    return renewed + float(spec.get("leaseDurationSeconds") or 0)


def acquired(
    current: Mapping[str, Any] | None,
    namespace: str,
    name: str,
    identity: str,
    now: float,
    options: LeaseOptions,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Lease taken (or first created, with `labels`) by `identity` at `now`: a new acquireTime,
    one more leaseTransitions when it changes hands; the read metadata (resourceVersion) kept, so a
    concurrent taker loses with 409."""
    spec = dict((current or {}).get("spec") or {})
    previous = spec.get("holderIdentity")
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, **({"labels": dict(labels)} if labels else {})}
    if current is not None:
        metadata = {**dict(current.get("metadata") or {}), "name": name, "namespace": namespace}
    transitions = int(spec.get("leaseTransitions") or 0) + (1 if current is not None and previous != identity else 0)
    return {
        "apiVersion": API_VERSION,
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": identity,
            "leaseDurationSeconds": int(options.duration),
            "acquireTime": microtime(now),
            "renewTime": microtime(now),
            "leaseTransitions": transitions,
        },
    }


def renewed(current: Mapping[str, Any], now: float, options: LeaseOptions) -> dict[str, Any]:
    """The holder's Lease with renewTime `now` (and the duration it runs with)."""
    spec = {
        **dict(current.get("spec") or {}),
        "renewTime": microtime(now),
        "leaseDurationSeconds": int(options.duration),
    }
    return {**dict(current), "spec": spec}


def released(current: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The Lease given up (as client-go's ReleaseOnCancel): no holder, so anyone may take it now."""
    spec = {
        **dict(current.get("spec") or {}),
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "renewTime": microtime(now),
    }
    return {**dict(current), "spec": spec}


class LeaseStore(Protocol):
    """The blocking Lease calls (`clients.gatewaykube.GatewayKube` has them). Each raises on an
    error other than the ones it returns None for."""

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease, or None when there is none."""

    def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The Lease created, or None when another created it first (409)."""

    def replace_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The Lease updated, or None when it changed meanwhile (409) or is gone (404)."""


class Elector:
    """One candidate's side of a Lease `namespace/name`: the decisions are pure (clocks injected);
    `step` and `release` do the I/O through a `LeaseStore`.

    `leader` holds while the last successful acquire or renew is less than the renew deadline old."""

    def __init__(
        self,
        namespace: str,
        name: str,
        identity: str,
        options: LeaseOptions = LeaseOptions(),
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.namespace, self.name, self.identity, self.options = namespace, name, identity, options
        self.clock, self.monotonic, self.labels = clock, monotonic, dict(labels or {})
        self.renewed_at = -math.inf  # monotonic time of the last successful acquire or renew
        self._observed: tuple[str, str, str] | None = None  # holder, renewTime, resourceVersion
        self._observed_at = -math.inf

    @property
    def leader(self) -> bool:
        return self.monotonic() - self.renewed_at < self.options.deadline

    def observe(self, lease: Mapping[str, Any]) -> None:
        """Note the record read; its observed time restarts when it changed."""
        spec = lease.get("spec") or {}
        seen = (
            str(spec.get("holderIdentity") or ""),
            str(spec.get("renewTime") or ""),
            str((lease.get("metadata") or {}).get("resourceVersion") or ""),
        )
        if seen != self._observed:
            self._observed, self._observed_at = seen, self.monotonic()

    def expired(self, lease: Mapping[str, Any]) -> bool:
        """Another's Lease may be taken: no holder, seen unchanged for its duration, or (with
        `trust_renew_time`) past renewTime + duration."""
        if not lease_holder(lease):
            return True
        duration = float((lease.get("spec") or {}).get("leaseDurationSeconds") or 0)
        if self.monotonic() - self._observed_at >= duration:
            return True
        return self.options.trust_renew_time and self.clock() >= lease_expiry(lease)

    def wait(self, lease: Mapping[str, Any] | None) -> float:
        """Seconds until the next attempt: the renew interval, or sooner when another's Lease expires
        before that."""
        interval = self.options.renew_interval
        if lease is None or lease_holder(lease) in ("", self.identity):
            return interval
        duration = float((lease.get("spec") or {}).get("leaseDurationSeconds") or 0)
        until = self._observed_at + duration - self.monotonic()
        if self.options.trust_renew_time:
            until = min(until, lease_expiry(lease) - self.clock())
        return max(0.05, min(interval, until + 0.05))

    def step(self, store: LeaseStore) -> float:
        """One attempt (blocking): create, renew or take over the Lease. Returns seconds to wait.
        Raises whatever `store` raises (leadership then lasts until the renew deadline)."""
        current = store.get_lease(self.namespace, self.name)
        now, mono = self.clock(), self.monotonic()
        if current is None:
            body = acquired(None, self.namespace, self.name, self.identity, now, self.options, self.labels)
            if store.create_lease(self.namespace, body):
                self.renewed_at = mono
            return self.options.renew_interval
        self.observe(current)
        if lease_holder(current) == self.identity:
            if store.replace_lease(self.namespace, renewed(current, now, self.options)) is not None:
                self.renewed_at = mono
            else:
                self.renewed_at = -math.inf  # it changed under us (409): someone took it
            return self.options.renew_interval
        self.renewed_at = -math.inf
        taken = acquired(current, self.namespace, self.name, self.identity, now, self.options, self.labels)
        if self.expired(current) and store.replace_lease(self.namespace, taken) is not None:
            self.renewed_at = mono
            return self.options.renew_interval
        return self.wait(current)

    def release(self, store: LeaseStore) -> bool:
        """Give the Lease up when this candidate holds it (blocking). Returns whether it did."""
        was_leader = self.leader
        self.renewed_at = -math.inf
        if not was_leader:
            return False
        current = store.get_lease(self.namespace, self.name)
        if current is None or lease_holder(current) != self.identity:
            return False
        return store.replace_lease(self.namespace, released(current, self.clock())) is not None
