"""AlertRule: PrometheusRule-compatible rule groups plus the clusters they go to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from .base import Invariant, Model
from .common import (
    AGE_COLUMN,
    READY_COLUMN,
    REASON_COLUMN,
    Condition,
    CrdNames,
    Duration,
    LabelSelector,
    ListMapKey,
    PrinterColumn,
    Resource,
)


class Rule(Model):
    """An alerting rule (`alert`) or a recording rule (`record`), in Prometheus rule-file syntax."""

    __invariants__ = (
        Invariant(
            cel="has(self.alert) != has(self.record)",
            message="exactly one of alert or record must be set",
            holds=lambda r: (r.alert is None) != (r.record is None),
        ),
        Invariant(
            cel="!has(self.record) || (!has(self.__for__) && !has(self.keep_firing_for) && !has(self.annotations))",
            message="a recording rule cannot have for, keep_firing_for or annotations",
            holds=lambda r: (
                r.record is None or (r.for_ is None and r.keep_firing_for is None and r.annotations is None)
            ),
        ),
    )

    alert: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    """Name of the alert. Set either alert or record."""
    record: Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", max_length=256)] | None = None
    """Name of the time series to record into (a valid metric name). Set either alert or record."""
    expr: Annotated[str, Field(min_length=1, max_length=65536)]
    """PromQL expression to evaluate."""
    for_: Duration | None = Field(default=None, alias="for")
    """Alerts are fired once the expression has been true for this long; pending before."""
    keep_firing_for: Duration | None = Field(default=None, alias="keep_firing_for")
    """How long an alert keeps firing after the condition stopped being true."""
    labels: dict[str, str] | None = None
    """Labels to add or overwrite on each alert or recorded series."""
    annotations: dict[str, str] | None = None
    """Annotations (Go templates) added to each alert."""


class RuleGroup(Model):
    """A group of rules evaluated together, sequentially, at one interval."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    """Group name, unique within the AlertRule."""
    interval: Duration | None = None
    """How often the rules are evaluated; the evaluator's global interval when unset."""
    limit: Annotated[int, Field(ge=0)] | None = None
    """Limit the number of alerts or series a rule can produce; 0 means no limit."""
    query_offset: Duration | None = Field(default=None, alias="query_offset")
    """Evaluate the group's queries this far in the past (Prometheus >= 2.53)."""
    rules: Annotated[list[Rule], Field(min_length=1, max_length=1000)]
    """The rules of the group, evaluated in this order."""


class AlertRuleSpec(Model):
    """Rule groups in the shape of prometheus-operator's PrometheusRule, and where they go."""

    __invariants__ = (
        Invariant(
            cel="!(has(self.targets) && has(self.clusterSelector))",
            message="set targets or clusterSelector, not both",
            holds=lambda s: s.targets is None or s.cluster_selector is None,
        ),
    )

    groups: Annotated[list[RuleGroup], Field(min_length=1, max_length=100), ListMapKey("name")]
    """Rule groups. A PrometheusRule's spec.groups can be used unchanged."""
    targets: list[Annotated[str, Field(min_length=1, max_length=317)]] | None = None
    """AlertmanagerClusters (`name` in this namespace, or `namespace/name`) that receive these rules.
    When unset, every AlertmanagerCluster whose selectors include this object receives them."""
    cluster_selector: LabelSelector | None = None
    """Labels of the AlertmanagerClusters that receive these rules (instead of targets)."""
    enabled: bool = True
    """False suspends the rules (removed from every target) without deleting the object."""


class RuleTargetStatus(Model):
    """Delivery state of this AlertRule on one rule evaluator."""

    cluster: str
    """AlertmanagerCluster as `namespace/name`."""
    evaluator: str
    """Rule evaluator name within that cluster."""
    state: Literal["Synced", "Pending", "Stalled", "Failed"]
    """Synced once the evaluator reports the rules loaded; Pending until then; Stalled when no sidecar
    has reported the new rules loaded for longer than the operator's bound (the message names the
    ConfigMap and the sidecar that would); Failed with a message otherwise."""
    config_hash: str | None = None
    """Hash of the rule file as rendered for this evaluator."""
    last_sync_time: datetime | None = None
    """When the evaluator loaded this version of the rule file (a reload for other files keeps it)."""
    message: str | None = None
    """Details, for example why delivery failed."""


class ValidationIssue(Model):
    """One reason the AlertRule is invalid."""

    group: str | None = None
    """Name of the rule group the error is in."""
    rule: str | None = None
    """Alert or record name (or `#index`) of the rule the error is in."""
    field: str
    """Field path of the offending value, for example `spec.groups[0].rules[2].expr`."""
    message: str
    """What is wrong, as reported by the parser or check."""


class AlertRuleStatus(Model):
    """Observed state of an AlertRule."""

    observed_generation: int | None = None
    """metadata.generation last processed."""
    conditions: list[Condition] | None = None
    """kstatus conditions; Ready is True when the rules are valid and synced to every target."""
    revision: int | None = None
    """Number of the current revision (a ControllerRevision owned by this AlertRule)."""
    rule_count: int | None = None
    """Number of rules across all groups."""
    synced: str | None = None
    """Synced targets out of all targets, for example `2/2`."""
    targets: list[RuleTargetStatus] | None = None
    """Delivery state per cluster and rule evaluator."""
    validation_errors: list[ValidationIssue] | None = None
    """Why the rules are invalid; empty when valid."""


class AlertRule(Resource):
    """Prometheus alerting and recording rules, delivered to the selected clusters' evaluators."""

    names = CrdNames(
        kind="AlertRule",
        plural="alertrules",
        short_names=("ar",),
        columns=(
            PrinterColumn("Rules", ".status.ruleCount", "integer", "Number of rules"),
            PrinterColumn("Synced", ".status.synced", description="Synced targets out of all targets"),
            PrinterColumn("Revision", ".status.revision", "integer", "Current revision"),
            READY_COLUMN,
            REASON_COLUMN,
            AGE_COLUMN,
        ),
    )

    kind: Literal["AlertRule"] = "AlertRule"
    """Kind is a string value representing the REST resource this object represents."""
    spec: AlertRuleSpec
    """Desired rules and targets."""
    status: AlertRuleStatus | None = None
    """Observed state, written by the operator."""
