"""Render time and peak memory of alertmanager.yaml for 300 namespaces x 5 channels and 300
policies (pure, no cluster).

    .venv/bin/python -m benchmarks.bench_alertmanager
"""

from __future__ import annotations

import statistics
import time
import tracemalloc

from alertagent.api import AlertmanagerCluster, NotificationChannel, SuppressionPolicy
from alertagent.api.common import SecretKeyRef
from alertagent.render.alertmanager import render_alertmanager

NAMESPACES, CHANNELS_PER_NAMESPACE = 300, 5
TYPES = ("slack", "webhook", "email", "pagerduty", "opsgenie")


def _channel(ns: str, i: int) -> NotificationChannel:
    kind = TYPES[i % len(TYPES)]
    blocks = {
        "slack": {"apiUrl": {"name": "creds", "key": "slack"}, "channel": f"#{ns}"},
        "webhook": {"url": f"http://hooks.{ns}.svc:8080/alerts"},
        "email": {"to": f"oncall@{ns}.example.com", "from": "am@example.com", "smarthost": "smtp.example.com:587"},
        "pagerduty": {"routingKey": {"name": "creds", "key": "pd"}},
        "opsgenie": {"apiKey": {"name": "creds", "key": "og"}},
    }
    route = {"matchers": [{"name": "severity", "value": "critical" if i % 2 else "warning"}], "groupBy": ["alertname"]}
    return NotificationChannel.model_validate(
        {"metadata": {"name": f"c{i}", "namespace": ns}, "spec": {"type": kind, kind: blocks[kind], "route": route}}
    )


def _policy(ns: str) -> SuppressionPolicy:
    return SuppressionPolicy.model_validate(
        {
            "metadata": {"name": "maintenance", "namespace": ns},
            "spec": {
                "matchers": [{"name": "service", "value": "api"}],
                "maintenanceWindows": [
                    {
                        "name": "weekly",
                        "recurring": {"weekdays": ["sunday"], "times": [{"startTime": "02:00", "endTime": "04:00"}]},
                    }
                ],
                "inhibitRules": [
                    {
                        "sourceMatchers": [{"name": "alertname", "value": "DatabaseDown"}],
                        "targetMatchers": [{"name": "severity", "value": "warning"}],
                    }
                ],
            },
        }
    )


def main() -> None:
    cluster = AlertmanagerCluster.model_validate(
        {"metadata": {"name": "main", "namespace": "monitoring"}, "spec": {"alertmanager": {"url": "http://am:9093"}}}
    )
    namespaces = [f"team-{n:03d}" for n in range(NAMESPACES)]
    channels = [_channel(ns, i) for ns in namespaces for i in range(CHANNELS_PER_NAMESPACE)]
    policies = [_policy(ns) for ns in namespaces]

    def resolve(namespace: str, ref: SecretKeyRef) -> str:
        return f"https://secret.example.com/{namespace}/{ref.key}"

    timings = []
    for _ in range(5):
        started = time.perf_counter()
        rendered = render_alertmanager(cluster, channels, policies, resolve, version="0.27.0")
        text = rendered.text
        timings.append(time.perf_counter() - started)
    tracemalloc.start()
    render_alertmanager(cluster, channels, policies, resolve, version="0.27.0").text  # noqa: B018
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"input: {len(channels)} channels in {NAMESPACES} namespaces, {len(policies)} policies")
    print(f"render + YAML: median {statistics.median(timings):.3f} s, min {min(timings):.3f} s (5 runs)")
    print(f"peak memory of one render (tracemalloc): {peak / 2**20:.1f} MiB")
    print(f"output: {len(text) / 2**20:.2f} MiB, {rendered.counts}")


if __name__ == "__main__":
    main()
