"""Shared by the benchmark scripts."""

from __future__ import annotations

import statistics


def latency_summary(latencies: list[float]) -> str:
    """`median X s, p95 Y s, max Z s` of a list of seconds."""
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return f"median {statistics.median(ordered):.2f} s, p95 {p95:.2f} s, max {ordered[-1]:.2f} s"
