"""How much an edge says, what kind of edge it is, and which edges drive suppression (pure): the one
place for these rules. `alertagent graph --explain FROM TO` prints them applied to one edge.

**Evidence and its confidence.** An edge lists every piece of evidence for it; its confidence is the
strongest piece's:

    annotation   1.0  the Service's `alertagent.io/dependencies` says so
    ingress      1.0  an Ingress backend
    externalName 1.0  an ExternalName Service naming an in-cluster Service
    env          0.9  a named env var, also one taken from a ConfigMap key with configMapKeyRef
    networkpolicy 0.8 a NetworkPolicy allows exactly this path (it confirms an edge, never makes one)
    envFrom      0.7  a key of a ConfigMap pulled in whole with envFrom
    configmap    0.7  a mounted ConfigMap file
    args         0.5  a token of command/args

**Weak evidence** (confidence 0.2, whatever its type) is evidence the manifests cannot tie to this
caller:

- `catalog`: a ConfigMap consumed whole (mounted or envFrom) by two or more workloads and listing the
  address of at least one of them is a service catalog: every service ships it, and nothing says which
  entries each reads. All addresses it gives through a whole use are weak (a workload's own entry never
  makes a self-edge in any case). A key read with configMapKeyRef is a named choice and stays strong.
- `unread-key`: a workload that reads some keys of a ConfigMap one at a time (configMapKeyRef) and also
  mounts it or pulls it in whole: the keys it does not name are weak.

**Edge class**: `telemetry` when the callee is an observability component, when the caller is one and
the evidence is its configuration (mounted file, args, envFrom: scrape, health-check and export
targets), or when every piece of evidence is telemetry by its key or port (OTLP, Jaeger, Zipkin,
StatsD, Fluentd forward, ...); otherwise `weak` when every piece of evidence is weak and no
NetworkPolicy confirms it; otherwise `call`. A component is observability by its container image
(OpenTelemetry Collector and its AWS and Splunk distributions, Jaeger, Zipkin, Prometheus, blackbox
exporter, Grafana Agent/Alloy, Loki, Tempo, Promtail, Pyroscope, Fluent Bit, Fluentd, Vector, Filebeat,
Logstash, Elastic APM server, Datadog agent, vmagent), by receiving telemetry (the callee of
telemetry evidence from two or more callers: a custom-built collector every service sends OTLP to), or
by `alertagent.io/role: telemetry` as an annotation or label of its Service, its workload or the pod
template (`alertagent.io/role: app` says it is not, and wins).

**NetworkPolicies** (`policies.py`) give an edge a verdict: `allowed` when a policy names this path with
a pod selector (an allow-all rule permits, it does not confirm), which confirms it (a weak edge becomes
a `call`); `forbidden` when the caller's egress or the callee's ingress is isolated and nothing allows
the path. A forbidden edge is dropped from the selection only when the network plugin is said to enforce
policies (`--network-policies-enforced`); otherwise it is kept and the verdict shown.

**Selection**: dependency suppression, cycles and (next) incidents use the edges an `EdgeSelection`
selects: confidence at or above `min_confidence` (default 0.5) and class in `classes` (default `call`:
no telemetry, no unconfirmed weak edges). Every edge is still published, with its class, confidence and
whether the default selection takes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

CONFIDENCE = {
    "annotation": 1.0,
    "ingress": 1.0,
    "externalName": 1.0,
    "env": 0.9,
    "networkpolicy": 0.8,
    "envFrom": 0.7,
    "configmap": 0.7,
    "args": 0.5,
}
WEAK_CONFIDENCE = 0.2
WEAK_REASONS = {
    "catalog": "a catalog ConfigMap: consumed whole by several workloads and listing their own addresses; "
    "nothing says which entries this caller reads",
    "unread-key": "the workload reads other keys of this ConfigMap one at a time and does not name this one",
}
CLASSES = ("call", "telemetry", "weak")
TELEMETRY = "telemetry"

# Keys (env var or ConfigMap key names) that say the address is where telemetry goes.
_TELEMETRY_KEY = re.compile(
    r"otel|otlp|jaeger|zipkin|tracing|tracer|traces|statsd|telemetry|collector|pushgateway|loki|fluent|logstash"
    r"|datadog|dd_agent|dd_trace|newrelic|sentry|apm_server|elastic_apm|pyroscope|profiler"
    r"|metrics?_(?:endpoint|url|host|addr|server)",
    re.IGNORECASE,
)
# Ports only observability protocols use: OTLP gRPC/HTTP (and their legacy ports), Jaeger agent and
# collector, Zipkin, StatsD, Fluentd forward.
TELEMETRY_PORTS = frozenset({4317, 4318, 55680, 55681, 6831, 6832, 14250, 14268, 9411, 8125, 24224})
_TELEMETRY_IMAGES = frozenset(
    {
        "opentelemetry-collector",
        "opentelemetry-collector-contrib",
        "opentelemetry-collector-k8s",
        "otelcol",
        "otelcol-contrib",
        "otel-collector",
        "zipkin",
        "zipkin-slim",
        "loki",
        "tempo",
        "promtail",
        "fluent-bit",
        "fluentd",
        "fluentd-kubernetes-daemonset",
        "filebeat",
        "metricbeat",
        "logstash",
        "vmagent",
        "grafana-agent",
        "alloy",
        "aws-otel-collector",
        "splunk-otel-collector",
        "blackbox-exporter",
        "apm-server",
        "pyroscope",
        "datadog-agent",
    }
)
# Common words that name an observability component only under one of these image owners.
_GENERIC_IMAGES = frozenset({"agent", "all-in-one", "collector", "vector", "prometheus"})
_TELEMETRY_OWNERS = frozenset(
    {
        "otel",
        "jaegertracing",
        "openzipkin",
        "prom",
        "prometheus",
        "grafana",
        "fluent",
        "timberio",
        "elastic",
        "datadog",
        "datadoghq",
    }
)


def telemetry_key(key: str) -> bool:
    """Whether an env var or ConfigMap key name says its address receives telemetry."""
    return _TELEMETRY_KEY.search(key) is not None


def telemetry_port(address: str) -> bool:
    """Whether `host:port` uses a port only observability protocols use."""
    _, colon, port = address.rpartition(":")
    return bool(colon) and port.isdigit() and int(port) in TELEMETRY_PORTS


def telemetry_image(image: str) -> bool:
    """Whether a container image is a well-known observability component (collector, tracing backend,
    Prometheus, log shipper)."""
    repository = image.lower().partition("@")[0]
    if ":" in repository.rpartition("/")[2]:
        repository = repository.rpartition(":")[0]  # the tag (a registry's :port sits before a `/`)
    *path, name = repository.split("/")
    if name in _TELEMETRY_IMAGES or name.startswith("jaeger"):
        return True
    return name in _GENERIC_IMAGES and bool(path) and path[-1] in _TELEMETRY_OWNERS


def role_annotation(value: str | None) -> bool | None:
    """`alertagent.io/role`: True for telemetry, False for app, None when absent or unknown."""
    value = (value or "").strip().lower()
    return True if value == TELEMETRY else False if value == "app" else None


class EvidenceLike(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def weak(self) -> str: ...
    @property
    def role(self) -> str: ...


def evidence_confidence(evidence: EvidenceLike) -> float:
    return WEAK_CONFIDENCE if evidence.weak else CONFIDENCE[evidence.type]


def edge_confidence(evidence: Iterable[EvidenceLike]) -> float:
    return max(evidence_confidence(e) for e in evidence)


# Evidence types that are a caller's configuration rather than a named connection setting.
_CONFIGURATION = frozenset({"configmap", "args", "envFrom"})


def edge_class(evidence: Iterable[EvidenceLike], caller_telemetry: bool, callee_telemetry: bool) -> str:
    """`telemetry`, `weak` or `call` (see the module docstring); a NetworkPolicy confirmation is one
    piece of strong evidence."""
    evidence = list(evidence)
    if callee_telemetry or all(e.role == TELEMETRY for e in evidence):
        return TELEMETRY
    if caller_telemetry and all(e.type in _CONFIGURATION or e.type == "networkpolicy" for e in evidence):
        return TELEMETRY
    if all(e.weak for e in evidence):  # a NetworkPolicy confirmation is never weak
        return "weak"
    return "call"


@dataclass(frozen=True)
class EdgeSelection:
    """Which edges drive dependency suppression, cycles and incidents."""

    min_confidence: float = 0.5
    classes: frozenset[str] = field(default=frozenset({"call"}))
    enforce_network_policies: bool = False  # drop edges NetworkPolicies forbid

    def why_not(self, cls: str, confidence: float, verdict: str) -> str:
        """Why an edge is left out ("" when it is selected)."""
        if cls not in self.classes:
            return f"class {cls} is not selected (selected: {', '.join(sorted(self.classes))})"
        if confidence < self.min_confidence:
            return f"confidence {confidence:g} is below {self.min_confidence:g}"
        if verdict == "forbidden" and self.enforce_network_policies:
            return "NetworkPolicies forbid it and the network plugin enforces them"
        return ""

    def as_json(self) -> dict[str, object]:
        return {
            "minConfidence": self.min_confidence,
            "classes": sorted(self.classes),
            "enforceNetworkPolicies": self.enforce_network_policies,
        }

    @classmethod
    def from_json(cls, doc: dict[str, object] | None) -> EdgeSelection:
        if not doc:
            return cls()
        classes = doc.get("classes")
        return cls(
            float(doc.get("minConfidence", 0.5)),  # type: ignore[arg-type]
            frozenset(classes) if isinstance(classes, list) else frozenset({"call"}),
            bool(doc.get("enforceNetworkPolicies", False)),
        )
