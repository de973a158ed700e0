"""AlertmanagerCluster: one monitoring stack (Alertmanager plus rule evaluators) AlertAgent configures."""

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
    K8sName,
    LabelName,
    LabelSelector,
    ListMapKey,
    PrinterColumn,
    Resource,
    SecretKeyRef,
)

Url = Annotated[str, Field(pattern=r"^https?://[^\s/]+", max_length=2048)]
ReloadMode = Literal["Sidecar", "Operator", "None"]


class ConfigSecret(Model):
    """Where the rendered alertmanager.yaml is written. A Secret, because receivers carry credentials."""

    name: K8sName | None = None
    """Secret name in the cluster's namespace; defaults to `<cluster>-alertmanager-config`."""
    key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)] = "alertmanager.yaml"
    """Key of the Secret holding the configuration file."""


class AlertmanagerTarget(Model):
    """The Alertmanager this cluster configures."""

    url: Url
    """Base URL of Alertmanager, used for reload, health, status and the silences API v2."""
    config_secret: ConfigSecret = ConfigSecret()
    """Secret the rendered configuration is written to."""
    reload_mode: ReloadMode = "Sidecar"
    """Sidecar: the config-sync sidecar writes the file and reloads. Operator: the operator calls
    /-/reload and verifies (Alertmanager mounts the Secret directly). None: only write the Secret."""
    version: Annotated[str, Field(pattern=r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$")] | None = None
    """Alertmanager version to render for; when unset, the version the health probe reports."""


class GatewayTarget(Model):
    """The AlertAgent gateway that delivers this cluster's dingtalk, wecom and feishu channels, and
    those with `spec.delivery: Gateway` (the Helm chart deploys one: `gateway.enabled`). Alertmanager
    posts each such channel's alerts to `<url>/api/v1/alerts/webhook/<namespace>/<channel>` with the
    channel's bearer token; the operator writes the channels' URLs, credentials and tokens to the Secret
    `<cluster>-gateway-channels` (key `channels.json`) in the cluster's namespace, which the gateway
    mounts, so the gateway never reads tenants' Secrets."""

    url: Url
    """Base URL of the gateway as Alertmanager reaches it, for example
    `http://alertagent-gateway.alertagent:8083`; also used for its health (/healthz), the channels'
    delivery errors (/api/v1/channels) and test-send (/api/v1/test/...)."""


class LlmProvider(Model):
    """An LLM that analyses incidents after the built-in report: an OpenAI-compatible chat completions
    API (OpenAI, Azure-style deployments behind a compatible URL, DeepSeek, Qwen, Ollama, vLLM,
    LocalAI) with read-only tools, a Dify app, or an n8n webhook. What is sent is redacted (Secret and
    env values, tokens, credentials never leave the cluster), bounded, and optionally anonymised."""

    __invariants__ = (
        Invariant(
            cel="self.type != 'OpenAI' || has(self.model)",
            message="an OpenAI-compatible provider needs a model",
            holds=lambda p: p.type != "OpenAI" or p.model is not None,
        ),
        Invariant(
            cel="self.type != 'Dify' || has(self.apiKey)",
            message="a Dify provider needs apiKey (the app's API key)",
            holds=lambda p: p.type != "Dify" or p.api_key is not None,
        ),
    )

    type: Literal["OpenAI", "Dify", "N8n"]
    """OpenAI (chat completions with function calling), Dify (its chat-messages or workflows/run
    API, blocking mode) or N8n (a Webhook node answering with JSON)."""
    url: Url
    """OpenAI: the API base including its version, e.g. `https://api.openai.com/v1` or
    `http://ollama.ai:11434/v1` (`/chat/completions` is appended). Dify: the service API base, e.g.
    `https://api.dify.ai/v1`. N8n: the webhook's full URL."""
    model: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """OpenAI: the model (or deployment) name."""
    dify_mode: Literal["Chat", "Workflow"] = "Chat"
    """Dify: the app is a chat app (chat-messages) or a workflow (workflows/run)."""
    api_key: SecretKeyRef | None = None
    """The key, from a Secret in the cluster's namespace: sent as `Authorization: Bearer` (OpenAI,
    Dify), or as the value of `authHeader` (N8n). Optional for local OpenAI-compatible servers."""
    auth_header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+$", max_length=128)] = "Authorization"
    """N8n: the header the key is sent in (its Header Auth credential's name)."""
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.2
    """OpenAI: sampling temperature."""
    max_tokens: Annotated[int, Field(ge=256, le=1000000)] = 20000
    """Tokens one analysis may use, over all its requests (as the provider reports them)."""
    timeout: Duration = "60s"
    """Time one analysis may take, over all its requests."""
    max_steps: Annotated[int, Field(ge=0, le=20)] = 6
    """OpenAI: rounds of tool calls before the model must answer (0: no tools)."""
    anonymize: bool = False
    """Replace namespace, service, workload and pod names with placeholders before sending, and map
    them back in the answer."""


class AnalysisOptions(Model):
    """Root-cause analysis of each incident (by the gateway replica holding the cluster's Lease). The
    built-in report reads the root service's workloads, pods, Events and rollouts, and evaluates the
    root alerts' PromQL over `lookback`; it is stored in the Incident and sent with its notification.
    With `llm`, the model's structured answer follows as an update. Suggestions are never executed."""

    builtin: bool = True
    """Build the deterministic report (no LLM needed)."""
    lookback: Duration = "1h"
    """How far back the root alerts' expressions are evaluated, and Events are read."""
    rollout_window: Duration = "30m"
    """A rollout this long before the first alert is reported as a likely cause."""
    llm: LlmProvider | None = None
    """An LLM provider (opt-in)."""
    max_per_hour: Annotated[int, Field(ge=0, le=10000)] = 20
    """LLM analyses per hour for this cluster at most (0: none); one per incident, redone only when
    its root or services change."""
    max_tokens_per_day: Annotated[int, Field(ge=0)] = 500000
    """LLM tokens per day for this cluster at most (a cost cap)."""


class IncidentOptions(Model):
    """The incident engine for this cluster (run by the gateway replica holding the cluster's Lease):
    it reads every alert of the cluster's Alertmanager (API v2: active, inhibited and silenced),
    groups a cascading outage into one Incident by the dependency graph, and sends one notification
    per cascade on gateway-delivered channels."""

    enabled: bool = True
    """Track incidents (needs `gateway`; with discovery off, every service is its own incident)."""
    window: Duration = "5m"
    """Alerts of services connected in the graph whose first alerts start within this of each other
    belong to one incident."""
    hold: Duration = "30s"
    """The first incident notification waits this long after the incident started, for the cascade
    to gather (as Alertmanager's group_wait)."""
    update_interval: Duration = "5m"
    """At most one update per this while the incident grows (new services, a new root)."""
    poll_interval: Duration = "10s"
    """How often Alertmanager's alerts are read."""
    retention: Duration = "7d"
    """Resolved incidents are deleted this long after they resolved."""
    service_label: LabelName = "service"
    """Alert label naming the service (as dependencySuppression's serviceLabel)."""
    analysis: AnalysisOptions = AnalysisOptions()
    """Root-cause analysis of each incident."""


class RuleEvaluator(Model):
    """A Prometheus or vmalert instance that evaluates this cluster's AlertRules."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
    """Evaluator name, unique within the cluster."""
    type: Literal["prometheus", "vmalert"]
    """Kind of rule evaluator."""
    url: Url
    """Base URL, used for reload, health (/-/ready or /health) and the rules API."""
    config_map_prefix: K8sName | None = None
    """Prefix of the rule ConfigMaps (`<prefix>-0`, `<prefix>-1`, ...); defaults to
    `<cluster>-<evaluator>-rules`."""
    reload_mode: ReloadMode = "Sidecar"
    """Sidecar, Operator (the evaluator mounts the ConfigMaps and the operator reloads it) or None."""
    max_config_map_bytes: Annotated[int, Field(ge=16384, le=1000000)] = 524288
    """Upper bound on the data of one rule ConfigMap before another shard is started."""
    version: Annotated[str, Field(pattern=r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$")] | None = None
    """Version of the evaluator (for example `2.42.0`, `v1.79.5`) whose rule-file fields AlertAgent
    renders for: a group or rule field this version lacks (`query_offset` before Prometheus 2.53 and on
    any vmalert, `keep_firing_for` before Prometheus 2.42 or vmalert 1.92, `limit` before Prometheus 2.31
    or vmalert 1.78) leaves that AlertRule out of this evaluator alone, with the reason in its status.
    When unset, the version the health probe reads (Prometheus `/api/v1/status/buildinfo`, vmalert
    `vm_app_version` in `/metrics`); when neither is known, the newest release."""


class SmtpConfig(Model):
    """Default SMTP settings for email channels."""

    from_: Annotated[str, Field(max_length=320)] | None = Field(default=None, alias="from")
    """Default sender address."""
    smarthost: Annotated[str, Field(pattern=r"^[^\s:]+:[0-9]+$")] | None = None
    """Default SMTP server as host:port."""
    hello: str | None = None
    """Hostname sent in HELO/EHLO."""
    auth_username: str | None = None
    """SMTP AUTH user name."""
    auth_password: SecretKeyRef | None = None
    """SMTP AUTH password, from a Secret in the cluster's namespace."""
    require_tls: bool | None = None
    """Whether STARTTLS is required."""


class GlobalConfig(Model):
    """Alertmanager `global` settings; credentials come from Secrets in the cluster's namespace."""

    resolve_timeout: Duration | None = None
    """Time after which an alert without an end time is declared resolved."""
    smtp: SmtpConfig | None = None
    """Default SMTP settings."""
    slack_api_url: SecretKeyRef | None = None
    """Default Slack incoming webhook URL."""
    pagerduty_url: Url | None = None
    """PagerDuty API URL."""
    opsgenie_api_url: Url | None = None
    """Opsgenie API URL."""
    opsgenie_api_key: SecretKeyRef | None = None
    """Default Opsgenie API key."""
    wechat_api_url: Url | None = None
    """WeChat (WeCom application) API URL."""
    wechat_api_secret: SecretKeyRef | None = None
    """Default WeCom application secret."""
    wechat_api_corp_id: str | None = None
    """Default WeCom corp id."""
    telegram_api_url: Url | None = None
    """Telegram API URL."""
    webex_api_url: Url | None = None
    """Webex API URL."""


class RootRoute(Model):
    """The root of the Alertmanager routing tree; every channel's route hangs below it."""

    receiver: Annotated[str, Field(pattern=r"^[a-z0-9][-a-z0-9.]*/[a-z0-9][-a-z0-9.]*$")] | None = None
    """Default receiver, a NotificationChannel as `namespace/name`. When unset, alerts no channel
    matches are dropped by a built-in empty receiver."""
    group_by: list[Annotated[str, Field(max_length=128)]] | None = None
    """Labels to group alerts by (`...` groups by all labels)."""
    group_wait: Duration = "30s"
    """How long to wait before sending the first notification of a new group."""
    group_interval: Duration = "5m"
    """How long to wait before notifying about new alerts in a group already notified."""
    repeat_interval: Duration = "4h"
    """How long to wait before repeating a notification that was already sent."""


class ResourceSelector(Model):
    """Which objects of one kind a cluster includes: namespaces, then labels. Empty selects all."""

    namespaces: list[K8sName] | None = None
    """Namespaces to include by name; combined with namespaceSelector (both must match when both set)."""
    namespace_selector: LabelSelector | None = None
    """Labels of the namespaces to include."""
    label_selector: LabelSelector | None = None
    """Labels of the objects to include."""


class Selectors(Model):
    """Which AlertRules, NotificationChannels and SuppressionPolicies this cluster includes."""

    alert_rules: ResourceSelector = ResourceSelector()
    """AlertRules to include."""
    notification_channels: ResourceSelector = ResourceSelector()
    """NotificationChannels to include."""
    suppression_policies: ResourceSelector = ResourceSelector()
    """SuppressionPolicies to include."""


class TenantLimits(Model):
    """How much rule data one AlertRule and one namespace may send to this cluster's evaluators; 0
    means no limit. An AlertRule over a limit is left out alone, with the reason in its status. Within
    a namespace, AlertRules are admitted oldest first (creationTimestamp, then name), and room is kept
    for every file already loaded, so a newcomer never evicts a live one: it is refused instead. An
    AlertRule refused while live keeps its last good file if that file fits the limits."""

    rules_per_alert_rule: Annotated[int, Field(ge=0)] = 500
    """Rules (alerting and recording) in one AlertRule."""
    bytes_per_rule_file: Annotated[int, Field(ge=0)] = 262144
    """Bytes (UTF-8) of one AlertRule's rendered rule file."""
    rules_per_namespace: Annotated[int, Field(ge=0)] = 2000
    """Rules of all AlertRules of one namespace, per evaluator."""
    bytes_per_namespace: Annotated[int, Field(ge=0)] = 1048576
    """Bytes of the rendered rule files of all AlertRules of one namespace, per evaluator."""


class Tenancy(Model):
    """How the namespaces (tenants) sharing this cluster are kept apart and bounded."""

    exempt_namespaces: list[K8sName] | None = None
    """Namespaces whose AlertRules keep their own `namespaceLabel` (platform rules that watch every
    namespace and say which one an alert is about). Routing is not affected: only channels and
    policies of the cluster's own namespace are cluster-wide. Unset: the cluster's own namespace. An
    empty list exempts none."""
    scope_selectors: bool = False
    """Also confine what a tenant's rules read: add `<namespaceLabel>="<namespace>"` to every vector
    and range selector of each expression (replacing any matcher on that label), as prometheus-operator
    does with enforcedNamespaceLabel. Off by default: series without the label (node, cluster-level
    metrics) are then invisible to tenants' rules, and an expression promql-parser cannot parse
    (MetricsQL) cannot be scoped, so its AlertRule is refused."""
    limits: TenantLimits = TenantLimits()
    """Per-AlertRule and per-namespace bounds on rule data."""


class AlertmanagerClusterSpec(Model):
    """One monitoring stack: its Alertmanager, its rule evaluators and what they include."""

    alertmanager: AlertmanagerTarget
    """The Alertmanager to configure."""
    rule_evaluators: Annotated[list[RuleEvaluator], Field(max_length=32), ListMapKey("name")] | None = None
    """Prometheus or vmalert instances that receive the selected AlertRules."""
    global_: GlobalConfig | None = Field(default=None, alias="global")
    """Alertmanager global settings."""
    route: RootRoute = RootRoute()
    """Root route settings."""
    selectors: Selectors = Selectors()
    """Which objects this cluster includes; by default all of every namespace."""
    namespace_isolation: Literal["OnNamespace", "None"] = "OnNamespace"
    """OnNamespace: a channel's route and a policy's inhibit rules only see alerts whose `namespace`
    label is the object's own namespace (objects in the cluster's namespace are exempt), and every
    rule of an AlertRule carries that label set to the AlertRule's namespace, whatever its labels say
    (except in tenancy.exemptNamespaces). None: no such matcher or label is added."""
    namespace_label: LabelName = "namespace"
    """Alert label that carries the namespace, for namespaceIsolation."""
    tenancy: Tenancy = Tenancy()
    """Exempt namespaces, optional selector scoping and limits per AlertRule and per namespace."""
    gateway: GatewayTarget | None = None
    """The AlertAgent gateway for dingtalk, wecom and feishu channels; without it those channels
    cannot be rendered (their status says so)."""
    incidents: IncidentOptions = IncidentOptions()
    """The incident engine (runs in the gateway, so it needs `gateway`)."""


class TargetHealth(Model):
    """Health and configuration state of one target (Alertmanager, a rule evaluator or the gateway)."""

    name: str
    """`alertmanager`, `gateway`, or the rule evaluator's name."""
    type: Literal["alertmanager", "prometheus", "vmalert", "gateway"]
    """Kind of target."""
    reachable: bool | None = None
    """Whether the last health probe succeeded."""
    version: str | None = None
    """Version the target reports."""
    peers: int | None = None
    """Alertmanager cluster peers the target reports."""
    last_check_time: datetime | None = None
    """When a probe first found the target as this status shows it (probes that find nothing new do
    not write)."""
    config_hash: str | None = None
    """Hash of the configuration the target has confirmed loading."""
    last_reload_time: datetime | None = None
    """When the target last loaded a new configuration."""
    rules: int | None = None
    """Rules delivered to this evaluator."""
    message: str | None = None
    """Last error, if any."""


class ObjectCounts(Model):
    """What the rendered configuration contains."""

    rules: int = 0
    """Rules of all selected AlertRules (each evaluator's own count is in targets[].rules)."""
    receivers: int = 0
    """Receivers in alertmanager.yaml."""
    routes: int = 0
    """Child routes in alertmanager.yaml."""
    inhibit_rules: int = 0
    """Inhibit rules in alertmanager.yaml."""
    last_known_good: int = 0
    """Objects rendered from their last delivered version, not their spec (a Secret they reference is
    gone or unreadable); the Degraded condition names them."""


class AlertmanagerClusterStatus(Model):
    """Observed state of an AlertmanagerCluster."""

    observed_generation: int | None = None
    """metadata.generation last processed."""
    conditions: list[Condition] | None = None
    """Ready is True when every target is healthy and has the current config; Degraded is True when
    objects run on their last-known-good version (counts.lastKnownGood says how many)."""
    targets: list[TargetHealth] | None = None
    """Health and configuration state of Alertmanager and each rule evaluator."""
    healthy: str | None = None
    """Healthy targets out of all targets, for example `3/3`."""
    config_hash: str | None = None
    """Hash of the current rendered alertmanager.yaml."""
    config_hash_short: str | None = None
    """First 12 characters of configHash, for the printer column."""
    last_reload_time: datetime | None = None
    """When Alertmanager last confirmed loading a new configuration."""
    last_error: str | None = None
    """Last rendering, validation or delivery error; empty when none."""
    counts: ObjectCounts | None = None
    """What the rendered configuration contains."""


class AlertmanagerCluster(Resource):
    """A monitoring stack (Alertmanager and rule evaluators) that AlertAgent configures."""

    names = CrdNames(
        kind="AlertmanagerCluster",
        plural="alertmanagerclusters",
        short_names=("amc",),
        columns=(
            PrinterColumn("Alertmanager", ".spec.alertmanager.url", description="Alertmanager URL"),
            PrinterColumn("Healthy", ".status.healthy", description="Healthy targets out of all"),
            PrinterColumn("Rules", ".status.counts.rules", "integer", "Rules delivered"),
            PrinterColumn("Receivers", ".status.counts.receivers", "integer", "Receivers rendered"),
            PrinterColumn("Config hash", ".status.configHashShort", description="Rendered config hash"),
            PrinterColumn("Last reload", ".status.lastReloadTime", "date", "Last confirmed reload"),
            READY_COLUMN,
            REASON_COLUMN,
            PrinterColumn(
                "Degraded",
                '.status.conditions[?(@.type=="Degraded")].status',
                description="Objects run on their last-known-good version",
            ),
            AGE_COLUMN,
        ),
    )

    kind: Literal["AlertmanagerCluster"] = "AlertmanagerCluster"
    """Kind is a string value representing the REST resource this object represents."""
    spec: AlertmanagerClusterSpec
    """Desired configuration of the stack."""
    status: AlertmanagerClusterStatus | None = None
    """Observed state, written by the operator."""
