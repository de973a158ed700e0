"""Rendering one alertmanager.yaml from an AlertmanagerCluster and the NotificationChannels and
SuppressionPolicies it selects (pure).

Conventions:
- each channel is a receiver named `<namespace>/<name>`; a channel with a route also gets a child
  route of the root; routes are ordered by (namespace, name); first come one route per channel for
  test-send alerts (label `alertagent_test_channel="<namespace>/<name>"`, delivered to it alone);
- `namespaceIsolation: OnNamespace` adds `namespace="<ns>"` to each channel route and to both sides of
  each policy's inhibit rules, except for objects in the cluster's own namespace;
- a recurring maintenance window becomes the time interval `<namespace>/<policy>/<window>`. It mutes
  the routes its policy's matchers cover like this: for every channel route R whose alerts the policy
  can see (same namespace, or either side in the cluster's namespace), a route with R's matchers plus
  the policy's matchers, R's receiver and settings, and `mute_time_intervals` is placed just before R.
  Alerts the policy matches are caught (and muted in the window) there; all others reach R as before.
- credentials come from `secretKeyRef`s through a resolver; a missing one makes the channel invalid,
  unless the caller asks for placeholders (offline render).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.common import SecretKeyRef
from ..api.notificationchannel import ChannelRoute, NotificationChannel
from ..api.suppressionpolicy import InhibitRule, SuppressionPolicy
from ..discovery.graph import Graph
from ..yamlout import dump_yaml
from .dependencies import dependency_inhibit_rules
from .matchers import matcher_text

NULL_RECEIVER = "alertagent/null"
# A test-send alert carries this label with the channel's `<namespace>/<name>`; a route per channel,
# first in the tree, sends it to that channel and nowhere else.
TEST_LABEL = "alertagent_test_channel"
GATEWAY_TYPES = {"dingtalk", "wecom", "feishu"}
# First Alertmanager version with each native receiver type (types absent here exist in all versions).
MIN_VERSION = {"telegram": (0, 24), "discord": (0, 25), "webex": (0, 25), "msteams": (0, 26)}

SecretResolver = Callable[[str, SecretKeyRef], str | None]


def parse_version(text: str | None) -> tuple[int, int]:
    if not text:
        return (0, 27)  # unknown: assume a current Alertmanager
    major, minor = text.lstrip("v").split(".")[:2]
    return int(major), int(minor)


@dataclass
class RenderedAlertmanager:
    config: dict[str, Any]
    problems: dict[str, list[str]] = field(default_factory=dict)  # "Kind ns/name" → reasons it was left out
    placeholders: dict[str, list[str]] = field(default_factory=dict)  # "Kind ns/name" → secrets not resolved
    generated: dict[str, int] = field(default_factory=dict)  # policy "ns/name" → inhibit rules from the graph

    @property
    def text(self) -> str:
        return dump_yaml(self.config)

    @property
    def counts(self) -> dict[str, int]:
        def routes(route: dict[str, Any]) -> int:
            return sum(1 + routes(child) for child in route.get("routes", []))

        return {
            "receivers": len(self.config["receivers"]),
            "routes": routes(self.config["route"]),
            "inhibitRules": len(self.config.get("inhibit_rules", [])),
        }


class _MissingSecretError(ValueError):
    pass


class _Secrets:
    """Resolves secret references of one object; records the missing ones."""

    def __init__(self, resolve: SecretResolver, namespace: str, placeholders: bool):
        self.resolve, self.namespace, self.placeholders = resolve, namespace, placeholders
        self.missing: list[str] = []

    def __call__(self, ref: SecretKeyRef | None) -> str | None:
        if ref is None:
            return None
        value = self.resolve(self.namespace, ref)
        if value is not None:
            return value
        where = f"secret {self.namespace}/{ref.name} key {ref.key}"
        self.missing.append(where)
        if not self.placeholders:
            raise _MissingSecretError(f"{where} not found")
        # Valid wherever a URL is expected (so amtool accepts the file), unmistakable, and unroutable.
        return f"https://missing-secret.alertagent.invalid/{self.namespace}/{ref.name}/{ref.key}"


def _clean(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if v is not None and v not in ([], {})}


def _native_receiver(channel: NotificationChannel, secret: _Secrets) -> dict[str, Any]:
    s = channel.spec
    resolved = s.send_resolved
    match s.type:
        case "slack":
            c = s.slack
            assert c is not None
            return {
                "slack_configs": [
                    _clean(
                        {
                            "api_url": secret(c.api_url),
                            "channel": c.channel,
                            "username": c.username,
                            "icon_emoji": c.icon_emoji,
                            "title": c.title,
                            "text": c.text,
                            "color": c.color,
                            "send_resolved": resolved,
                        }
                    )
                ]
            }
        case "email":
            e = s.email
            assert e is not None
            return {
                "email_configs": [
                    _clean(
                        {
                            "to": e.to,
                            "from": e.from_,
                            "smarthost": e.smarthost,
                            "auth_username": e.auth_username,
                            "auth_password": secret(e.auth_password),
                            "require_tls": e.require_tls,
                            "headers": e.headers,
                            "html": e.html,
                            "text": e.text,
                            "send_resolved": resolved,
                        }
                    )
                ]
            }
        case "webhook":
            w = s.webhook
            assert w is not None
            token = secret(w.bearer_token)
            http = {"authorization": {"type": "Bearer", "credentials": token}} if token else None
            return {
                "webhook_configs": [
                    _clean(
                        {
                            "url": w.url or secret(w.url_secret),
                            "max_alerts": w.max_alerts,
                            "http_config": http,
                            "send_resolved": resolved,
                        }
                    )
                ]
            }
        case "pagerduty":
            p = s.pagerduty
            assert p is not None
            return {
                "pagerduty_configs": [
                    _clean(
                        {
                            "routing_key": secret(p.routing_key),
                            "service_key": secret(p.service_key),
                            "url": p.url,
                            "severity": p.severity,
                            "description": p.description,
                            "component": p.component,
                            "group": p.group,
                            "class": p.class_,
                            "send_resolved": resolved,
                        }
                    )
                ]
            }
        case "opsgenie":
            o = s.opsgenie
            assert o is not None
            return {
                "opsgenie_configs": [
                    _clean(
                        {
                            "api_key": secret(o.api_key),
                            "api_url": o.api_url,
                            "message": o.message,
                            "description": o.description,
                            "priority": o.priority,
                            "tags": o.tags,
                            "send_resolved": resolved,
                        }
                    )
                ]
            }
        case "msteams":
            t = s.msteams
            assert t is not None
            return {
                "msteams_configs": [
                    _clean(
                        {
                            "webhook_url": secret(t.webhook_url),
                            "title": t.title,
                            "summary": t.summary,
                            "text": t.text,
                            "send_resolved": resolved,
                        }
                    )
                ]
            }
        case "telegram":
            g = s.telegram
            assert g is not None
            return {
                "telegram_configs": [
                    _clean(
                        {
                            "bot_token": secret(g.bot_token),
                            "chat_id": g.chat_id,
                            "api_url": g.api_url,
                            "parse_mode": g.parse_mode,
                            "message": g.message,
                            "send_resolved": resolved,
                        }
                    )
                ]
            }
        case "wechat":
            x = s.wechat
            assert x is not None
            return {
                "wechat_configs": [
                    _clean(
                        {
                            "api_secret": secret(x.api_secret),
                            "corp_id": x.corp_id,
                            "agent_id": x.agent_id,
                            "to_user": x.to_user,
                            "to_party": x.to_party,
                            "to_tag": x.to_tag,
                            "message": x.message,
                            "message_type": x.message_type,
                            "send_resolved": resolved,
                        }
                    )
                ]
            }
        case "discord":
            d = s.discord
            assert d is not None
            return {
                "discord_configs": [
                    _clean(
                        {
                            "webhook_url": secret(d.webhook_url),
                            "title": d.title,
                            "message": d.message,
                            "send_resolved": resolved,
                        }
                    )
                ]
            }
        case "webex":
            b = s.webex
            assert b is not None
            return {
                "webex_configs": [
                    _clean(
                        {
                            "api_url": b.api_url,
                            "room_id": b.room_id,
                            "message": b.message,
                            "http_config": {"authorization": {"type": "Bearer", "credentials": secret(b.bot_token)}},
                            "send_resolved": resolved,
                        }
                    )
                ]
            }
    raise ValueError(f"type {s.type} has no native receiver")


def channel_key(channel: NotificationChannel) -> str:
    return f"{channel.metadata.namespace}/{channel.metadata.name}"


def receiver(
    channel: NotificationChannel, version: tuple[int, int], gateway_url: str | None, secret: _Secrets
) -> dict[str, Any]:
    """The receiver of one channel; raises ValueError with the reason it cannot be rendered."""
    kind = channel.spec.type
    if kind in GATEWAY_TYPES:
        if not gateway_url:
            raise ValueError(f"type {kind} is delivered by the AlertAgent gateway, which this cluster has none of")
        url = f"{gateway_url.rstrip('/')}/api/v1/webhooks/{channel_key(channel)}"
        return {
            "name": channel_key(channel),
            "webhook_configs": [{"url": url, "send_resolved": channel.spec.send_resolved}],
        }
    needed = MIN_VERSION.get(kind)
    if needed and version < needed:
        raise ValueError(
            f"Alertmanager {version[0]}.{version[1]} has no {kind} receiver (needs >= {needed[0]}.{needed[1]})"
        )
    return {"name": channel_key(channel), **_native_receiver(channel, secret)}


def _isolated(cluster: AlertmanagerCluster, namespace: str) -> bool:
    return cluster.spec.namespace_isolation == "OnNamespace" and namespace != cluster.metadata.namespace


def _namespace_matcher(cluster: AlertmanagerCluster, namespace: str) -> list[str]:
    return [f'{cluster.spec.namespace_label}="{namespace}"'] if _isolated(cluster, namespace) else []


def _route(cluster: AlertmanagerCluster, channel: NotificationChannel, route: ChannelRoute) -> dict[str, Any]:
    namespace = channel.metadata.namespace or ""
    return _clean(
        {
            "receiver": channel_key(channel),
            "matchers": _namespace_matcher(cluster, namespace) + [matcher_text(m) for m in route.matchers or []],
            "group_by": route.group_by,
            "group_wait": route.group_wait,
            "group_interval": route.group_interval,
            "repeat_interval": route.repeat_interval,
            "continue": route.continue_ or None,
            "active_time_intervals": route.active_time_intervals,
            "mute_time_intervals": route.mute_time_intervals,
        }
    )


def _time_intervals(policy: SuppressionPolicy) -> list[dict[str, Any]]:
    intervals = []
    for window in policy.spec.maintenance_windows or []:
        if window.recurring is None:
            continue
        r = window.recurring
        spec = _clean(
            {
                "times": [{"start_time": t.start_time, "end_time": t.end_time} for t in r.times or []],
                "weekdays": r.weekdays,
                "days_of_month": r.days_of_month,
                "months": r.months,
                "years": r.years,
                "location": r.location,
            }
        )
        name = f"{policy.metadata.namespace}/{policy.metadata.name}/{window.name}"
        intervals.append({"name": name, "time_intervals": [spec]})
    return intervals


def _sees(cluster: AlertmanagerCluster, policy_ns: str, channel_ns: str) -> bool:
    """Whether a policy's alerts can reach a channel's route under namespace isolation."""
    return not _isolated(cluster, policy_ns) or not _isolated(cluster, channel_ns) or policy_ns == channel_ns


def _inhibit(cluster: AlertmanagerCluster, namespace: str, rule: InhibitRule) -> dict[str, Any]:
    scope = _namespace_matcher(cluster, namespace)
    return _clean(
        {
            "source_matchers": scope + [matcher_text(m) for m in rule.source_matchers],
            "target_matchers": scope + [matcher_text(m) for m in rule.target_matchers],
            "equal": rule.equal,
        }
    )


def _inhibit_rules(
    cluster: AlertmanagerCluster, policies: list[SuppressionPolicy], graph: Graph | None, result: RenderedAlertmanager
) -> list[dict[str, Any]]:
    """Static inhibit rules, then those generated from the graph (counted per policy in the result)."""
    rules = [_inhibit(cluster, p.metadata.namespace or "", r) for p in policies for r in p.spec.inhibit_rules or []]
    for policy in policies:
        if policy.spec.dependency_suppression is None or graph is None:
            continue
        namespace = policy.metadata.namespace or ""
        scope = _namespace_matcher(cluster, namespace)  # a tenant's policy stays inside its namespace
        generated = dependency_inhibit_rules(policy.spec.dependency_suppression, graph, namespace if scope else None)
        result.generated[f"{namespace}/{policy.metadata.name}"] = len(generated)
        rules += [
            {side: list(dict.fromkeys(scope + rule[side])) for side in ("source_matchers", "target_matchers")}
            for rule in generated
        ]
    return rules


def render_alertmanager(
    cluster: AlertmanagerCluster,
    channels: Iterable[NotificationChannel],
    policies: Iterable[SuppressionPolicy],
    resolve_secret: SecretResolver,
    version: str | None = None,
    gateway_url: str | None = None,
    placeholders: bool = False,
    graph: Graph | None = None,
) -> RenderedAlertmanager:
    """The merged configuration. An object that cannot be rendered is left out alone, with the reason
    in `problems`; `placeholders` writes marked values for missing secrets instead (offline render).
    `graph` is the service dependency graph that `dependencySuppression` generates inhibit rules from
    (none are generated without it)."""
    target = parse_version(version or cluster.spec.alertmanager.version)
    result = RenderedAlertmanager(config={})
    receivers: list[dict[str, Any]] = []
    rendered_channels: list[NotificationChannel] = []
    policies = sorted(policies, key=lambda p: (p.metadata.namespace or "", p.metadata.name or ""))
    time_intervals = [ti for p in policies for ti in _time_intervals(p)]
    interval_names = {ti["name"] for ti in time_intervals}
    for channel in sorted(channels, key=lambda c: (c.metadata.namespace or "", c.metadata.name or "")):
        secret = _Secrets(resolve_secret, channel.metadata.namespace or "", placeholders)
        try:
            route = channel.spec.route
            named = [*(route.active_time_intervals or []), *(route.mute_time_intervals or [])] if route else []
            if unknown := sorted(set(named) - interval_names):
                raise ValueError(f"route names time intervals no selected SuppressionPolicy defines: {unknown}")
            receivers.append(receiver(channel, target, gateway_url, secret))
            rendered_channels.append(channel)
        except ValueError as err:
            result.problems[f"NotificationChannel {channel_key(channel)}"] = [str(err)]
            continue
        if secret.missing:
            result.placeholders[f"NotificationChannel {channel_key(channel)}"] = secret.missing

    routes: list[dict[str, Any]] = [
        {
            "receiver": channel_key(c),
            "matchers": [f'{TEST_LABEL}="{channel_key(c)}"'],
            "group_by": [TEST_LABEL],
            "group_wait": "0s",
        }
        for c in rendered_channels
    ]
    # Policies with recurring windows, by namespace: a channel outside the cluster's namespace can only
    # meet its own namespace's policies and the cluster namespace's (indexing keeps this linear).
    windowed: dict[str, list[tuple[SuppressionPolicy, list[str]]]] = {}
    for policy in policies:
        if names := [ti["name"] for ti in _time_intervals(policy)]:
            windowed.setdefault(policy.metadata.namespace or "", []).append((policy, names))
    everyone = [entry for entries in windowed.values() for entry in entries]
    for channel in rendered_channels:
        if channel.spec.route is None:
            continue
        base = _route(cluster, channel, channel.spec.route)
        channel_ns = channel.metadata.namespace or ""
        cluster_ns = cluster.metadata.namespace or ""
        candidates = (
            windowed.get(channel_ns, []) + (windowed.get(cluster_ns, []) if channel_ns != cluster_ns else [])
            if _isolated(cluster, channel_ns)
            else everyone
        )
        for policy, windows in sorted(
            candidates, key=lambda e: (e[0].metadata.namespace or "", e[0].metadata.name or "")
        ):
            policy_ns = policy.metadata.namespace or ""
            if _sees(cluster, policy_ns, channel_ns):
                matchers = base.get("matchers", []) + _namespace_matcher(cluster, policy_ns)
                matchers += [matcher_text(m) for m in policy.spec.matchers or []]
                mutes = sorted(set(base.get("mute_time_intervals", [])) | set(windows))
                muted = {**base, "matchers": list(dict.fromkeys(matchers)), "mute_time_intervals": mutes}
                routes.append(muted)
        routes.append(base)

    root_receiver = cluster.spec.route.receiver
    if root_receiver is None or root_receiver not in {r["name"] for r in receivers}:
        receivers.append({"name": NULL_RECEIVER})
        root_receiver = NULL_RECEIVER
    root = _clean(
        {
            "receiver": root_receiver,
            "group_by": cluster.spec.route.group_by,
            "group_wait": cluster.spec.route.group_wait,
            "group_interval": cluster.spec.route.group_interval,
            "repeat_interval": cluster.spec.route.repeat_interval,
            "routes": routes,
        }
    )
    inhibit_rules = _inhibit_rules(cluster, policies, graph, result)
    result.config = _clean(
        {
            "global": _global(cluster, resolve_secret, placeholders, result),
            "route": root,
            "receivers": sorted(receivers, key=lambda r: r["name"]),
            "inhibit_rules": inhibit_rules,
            "time_intervals": time_intervals,
        }
    )
    return result


def _global(
    cluster: AlertmanagerCluster, resolve: SecretResolver, placeholders: bool, result: RenderedAlertmanager
) -> dict[str, Any] | None:
    g = cluster.spec.global_
    if g is None:
        return None
    secret = _Secrets(resolve, cluster.metadata.namespace or "", placeholders)
    smtp = g.smtp
    try:
        config = _clean(
            {
                "resolve_timeout": g.resolve_timeout,
                "smtp_from": smtp.from_ if smtp else None,
                "smtp_smarthost": smtp.smarthost if smtp else None,
                "smtp_hello": smtp.hello if smtp else None,
                "smtp_auth_username": smtp.auth_username if smtp else None,
                "smtp_auth_password": secret(smtp.auth_password) if smtp else None,
                "smtp_require_tls": smtp.require_tls if smtp else None,
                "slack_api_url": secret(g.slack_api_url),
                "pagerduty_url": g.pagerduty_url,
                "opsgenie_api_url": g.opsgenie_api_url,
                "opsgenie_api_key": secret(g.opsgenie_api_key),
                "wechat_api_url": g.wechat_api_url,
                "wechat_api_secret": secret(g.wechat_api_secret),
                "wechat_api_corp_id": g.wechat_api_corp_id,
                "telegram_api_url": g.telegram_api_url,
                "webex_api_url": g.webex_api_url,
            }
        )
    except _MissingSecretError as err:
        result.problems[f"AlertmanagerCluster {cluster.metadata.namespace}/{cluster.metadata.name}"] = [str(err)]
        return None
    if secret.missing:
        result.placeholders[f"AlertmanagerCluster {cluster.metadata.namespace}/{cluster.metadata.name}"] = (
            secret.missing
        )
    return config or None
