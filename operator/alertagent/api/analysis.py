"""Root-cause analysis of an incident, as stored in `Incident.status.analysis`: the built-in report
(facts AlertAgent read from the graph, the cluster and the evaluator) and, when configured, an LLM's
structured answer. Suggested actions are suggestions: nothing here is ever executed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from .base import Model

Text = Annotated[str, Field(max_length=1024)]
Short = Annotated[str, Field(max_length=253)]


class PodFinding(Model):
    """One pod of a root workload that is not healthy (or, when all are, the first few)."""

    name: Short
    """Pod name."""
    phase: Annotated[str, Field(max_length=32)] = ""
    """`status.phase` (Pending, Running, Succeeded, Failed, Unknown)."""
    ready: bool = False
    """Its Ready condition is True."""
    restarts: Annotated[int, Field(ge=0)] = 0
    """Container restarts, summed over its containers."""
    reasons: Annotated[list[Annotated[str, Field(max_length=128)]], Field(max_length=16)] = Field(default_factory=list)
    """Why it is not healthy, sorted: container waiting/terminated reasons (CrashLoopBackOff,
    OOMKilled, ImagePullBackOff, Error), and `Unschedulable` for a pod the scheduler cannot place."""


class WorkloadFinding(Model):
    """A workload behind the root service and the state of its pods."""

    kind: Annotated[str, Field(max_length=64)]
    """Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, or Pod (a pod without a controller)."""
    namespace: Short
    """Its namespace."""
    name: Short
    """Its name."""
    desired: Annotated[int, Field(ge=0)] = 0
    """Replicas wanted (`spec.replicas`; pods found for a DaemonSet or a bare pod)."""
    ready: Annotated[int, Field(ge=0)] = 0
    """Pods ready now."""
    pods: Annotated[list[PodFinding], Field(max_length=20)] = Field(default_factory=list)
    """Its pods, the unhealthy ones first (capped at 20)."""


class RolloutFinding(Model):
    """A revision change of a root workload shortly before the first alert."""

    kind: Annotated[str, Field(max_length=64)]
    """Deployment or StatefulSet."""
    namespace: Short
    """Its namespace."""
    name: Short
    """Its name."""
    revision: Annotated[str, Field(max_length=128)]
    """The new revision (a Deployment's ReplicaSet revision number; a StatefulSet's update revision)."""
    previous: Annotated[str, Field(max_length=128)] = ""
    """The revision before it, when known (what `kubectl rollout undo` returns to)."""
    time: datetime
    """When the new revision was created."""
    before_first_alert: float
    """Seconds from `time` to the incident's first alert (negative: after it)."""


class EventFinding(Model):
    """A recent Kubernetes Event about a root workload or its pods (Warnings first)."""

    time: datetime
    """Its last occurrence."""
    type: Annotated[str, Field(max_length=32)]
    """Warning or Normal."""
    reason: Annotated[str, Field(max_length=128)]
    """Its reason, e.g. BackOff, FailedScheduling, Killing."""
    object: Short
    """`Kind/name` it is about."""
    message: Text
    """Its message (redacted, capped)."""
    count: Annotated[int, Field(ge=1)] = 1
    """How many times it occurred."""


class QueryFinding(Model):
    """An alert's own PromQL expression evaluated over the lookback window."""

    alert: Short
    """The alert name."""
    expr: Annotated[str, Field(max_length=4096)]
    """The expression (from the alert's generatorURL)."""
    crossed_time: datetime | None = None
    """Start of the current continuous run of results: when the condition began to hold (unset when
    it returned nothing in the window)."""
    series: Annotated[int, Field(ge=0)] = 0
    """Series returned at the end of the window."""
    error: Text = ""
    """Why it could not be evaluated, when it could not."""


class BuiltinReport(Model):
    """The deterministic report: facts only, no model."""

    root: Short
    """The root service (`namespace/name`)."""
    summary: Annotated[str, Field(max_length=2048)]
    """One paragraph naming the root, the failing pods and any recent rollout."""
    workloads: Annotated[list[WorkloadFinding], Field(max_length=16)] = Field(default_factory=list)
    """The root's workloads and their pods."""
    rollouts: Annotated[list[RolloutFinding], Field(max_length=16)] = Field(default_factory=list)
    """Rollouts of those workloads shortly before the first alert."""
    events: Annotated[list[EventFinding], Field(max_length=20)] = Field(default_factory=list)
    """Recent Events about them, Warnings first."""
    queries: Annotated[list[QueryFinding], Field(max_length=16)] = Field(default_factory=list)
    """The root alerts' expressions over the lookback window."""
    impacted: Annotated[list[Short], Field(max_length=100)] = Field(default_factory=list)
    """The impacted services (`namespace/name`), nearest the root first."""
    generated_time: datetime
    """When it was built."""


class Evidence(Model):
    """One piece of evidence of an LLM answer."""

    fact: Annotated[str, Field(max_length=256)]
    """What it points to: a fact of the built-in report (`pod:ns/name`, `rollout:ns/kind/name`,
    `event:ns/Kind/name`, `query:AlertName`) or a tool output (`tool:N`, the N-th call)."""
    detail: Text
    """What that fact shows."""


ActionKind = Literal["RolloutUndo", "Scale", "Restart", "Other"]


class SuggestedAction(Model):
    """A structured suggestion, so a later approval flow can run it. Never executed by AlertAgent."""

    kind: ActionKind
    """RolloutUndo, Scale, Restart or Other."""
    namespace: Short = ""
    """The target's namespace."""
    target: Short = ""
    """`kind/name`, e.g. `deployment/api`."""
    replicas: Annotated[int, Field(ge=0)] | None = None
    """For Scale."""
    command: Text = ""
    """The kubectl command that would do it, e.g. `kubectl rollout undo deployment/api -n shop`."""
    reason: Text = ""
    """Why it is suggested."""


class AnalysisResult(Model):
    """An LLM's answer, validated; `structured: false` keeps an answer that did not parse as `text`."""

    structured: bool = True
    """The answer parsed into the fields below; false: only `text` holds it."""
    root_cause: Annotated[str, Field(max_length=2048)] = ""
    """The root cause, as the model states it."""
    evidence: Annotated[list[Evidence], Field(max_length=20)] = Field(default_factory=list)
    """What supports it."""
    impact: Annotated[str, Field(max_length=2048)] = ""
    """What is affected, and how."""
    actions: Annotated[list[SuggestedAction], Field(max_length=10)] = Field(default_factory=list)
    """Suggested actions (never executed)."""
    confidence: Annotated[float, Field(ge=0, le=1)] = 0.0
    """The model's own confidence, 0 to 1."""
    text: Annotated[str, Field(max_length=8192)] = ""
    """The raw answer, when it did not parse (capped)."""


LlmState = Literal["Pending", "Succeeded", "Failed", "Skipped"]


class LlmAnalysis(Model):
    """The LLM provider's analysis of the incident."""

    provider: Annotated[str, Field(max_length=32)]
    """OpenAI, Dify or N8n."""
    model: Annotated[str, Field(max_length=253)] = ""
    """The model asked (OpenAI-compatible providers)."""
    state: LlmState = "Pending"
    """Pending while it runs; Succeeded, Failed, or Skipped (a cap or budget; see `message`)."""
    basis: Annotated[str, Field(max_length=64)] = ""
    """The material state (as `IncidentAnalysis.basis`) it analysed."""
    message: Text = ""
    """Why it failed or was skipped (timeout, budget, rate cap, HTTP status)."""
    result: AnalysisResult | None = None
    """The answer."""
    tokens: Annotated[int, Field(ge=0)] = 0
    """Tokens the provider reported using."""
    tool_calls: Annotated[int, Field(ge=0)] = 0
    """Tools the model called."""
    bytes_sent: Annotated[int, Field(ge=0)] = 0
    """Request bytes sent to the provider (every request of the analysis)."""
    started_time: datetime | None = None
    """When it started."""
    finished_time: datetime | None = None
    """When it ended."""


class IncidentAnalysis(Model):
    """What AlertAgent concluded about the incident."""

    basis: Annotated[str, Field(max_length=64)] = ""
    """A hash of the incident's material state (root, services, state) the analysis was made for: it
    is refreshed only when that changes."""
    builtin: BuiltinReport | None = None
    """The built-in report."""
    llm: LlmAnalysis | None = None
    """The LLM's analysis, when a provider is configured."""
