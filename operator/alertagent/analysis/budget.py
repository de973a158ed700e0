"""Budgets (pure): when an incident is analysed again, and how many LLM analyses and tokens a cluster
may spend.

`material_basis(status)` is the incident's material state as a short hash: an analysis is redone only
when it changes. It covers the root service and its alert names, the sorted set of its services (root
and impacted, as `namespace/name`), the state (Firing/Resolved) and its last reopening; not alert
counts, depths, other times or notifications, which change without changing what is broken.

`RateCap` bounds each cluster's LLM use over sliding windows: at most `max_per_hour` analyses started
in the last 3600 s and `max_tokens_per_day` tokens spent in the last 86400 s (0: none allowed). The clock
is passed in (`now`, seconds on any monotonic or epoch scale, the same for every call), so it is pure
and testable. `allow` counts an analysis when it allows it, so concurrent analyses cannot overshoot
the hourly cap; `spent` records the tokens the provider reported once it answered.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from alertagent.api.incident import IncidentStatus

HOUR: Final = 3600.0
DAY: Final = 86400.0


def material_basis(status: IncidentStatus) -> str:
    """sha256 (first 16 hex characters) of the incident's root, its alert names, sorted services, state,
    and when it last reopened (a reopened incident is a new outage of the same services: its old
    report describes the one before)."""
    root = f"{status.root.namespace}/{status.root.name}" if status.root is not None else ""
    services = sorted({root} | {f"{s.namespace}/{s.name}" for s in status.impacted} - {""})
    reopened = [e.time.isoformat() for e in status.timeline if e.event == "reopened"]
    material = {
        "root": root,
        "rootAlerts": sorted(status.root.alerts) if status.root is not None else [],
        "services": services,
        "state": status.state,
        "reopened": reopened[-1] if reopened else "",
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class _Usage:
    starts: deque[float] = field(default_factory=deque)  # when each analysis was allowed
    tokens: deque[tuple[float, int]] = field(default_factory=deque)  # (when, tokens)


@dataclass
class RateCap:
    """Per-cluster caps on LLM analyses (see the module docstring). The limits given here are the
    defaults; `allow` may be given a cluster's own."""

    max_per_hour: int = 20
    max_tokens_per_day: int = 500_000
    _usage: dict[str, _Usage] = field(default_factory=dict, repr=False)

    def allow(
        self, cluster: str, now: float, max_per_hour: int | None = None, max_tokens_per_day: int | None = None
    ) -> str | None:
        """None when cluster may start an analysis at now (which is then counted), else why not."""
        per_hour = self.max_per_hour if max_per_hour is None else max_per_hour
        per_day = self.max_tokens_per_day if max_tokens_per_day is None else max_tokens_per_day
        usage = self._pruned(cluster, now)
        if len(usage.starts) >= per_hour:
            return f"rate cap: {len(usage.starts)} analyses in the last hour (at most {per_hour})"
        if (tokens := sum(t for _, t in usage.tokens)) >= per_day:
            return f"token cap: {tokens} tokens in the last day (at most {per_day})"
        usage.starts.append(now)
        return None

    def spent(self, cluster: str, now: float, tokens: int) -> None:
        """Record tokens (≥ 0; less is taken as 0) spent by an analysis of cluster at now."""
        self._pruned(cluster, now).tokens.append((now, max(tokens, 0)))

    def remaining_tokens(self, cluster: str, now: float, max_tokens_per_day: int | None = None) -> int:
        """Tokens cluster may still spend today: a bound for the next analysis's token budget."""
        per_day = self.max_tokens_per_day if max_tokens_per_day is None else max_tokens_per_day
        return max(per_day - sum(t for _, t in self._pruned(cluster, now).tokens), 0)

    def _pruned(self, cluster: str, now: float) -> _Usage:
        usage = self._usage.setdefault(cluster, _Usage())
        while usage.starts and usage.starts[0] <= now - HOUR:
            usage.starts.popleft()
        while usage.tokens and usage.tokens[0][0] <= now - DAY:
            usage.tokens.popleft()
        return usage
