"""Rendering one alertmanager.yaml from an AlertmanagerCluster and the NotificationChannels and
SuppressionPolicies it selects (pure).

Conventions:
- each channel is a receiver named `<namespace>/<name>`; a channel with a route also gets a child
  route of the root; routes are ordered by (namespace, name); first come one route per channel for
  test-send alerts (label `alertagent_test_channel="<namespace>/<name>"`, delivered to it alone);
- `namespaceIsolation: OnNamespace` adds `namespace="<ns>"` to each channel route and to both sides of
  each policy's inhibit rules, except for objects in the cluster's own namespace;
- a recurring maintenance window becomes the time interval `<namespace>/<policy>/<window>`. It mutes
  the routes its policy's matchers cover like this: every channel route R whose alerts the policy can
  see (same namespace, or either side in the cluster's namespace) gets one child route per policy, with
  the policy's matchers, R's mute intervals plus the policy's windows, and `continue: false`. An alert
  the policy matches is taken by that child (it inherits R's receiver and grouping) and muted in the
  window; any other alert matches no child, so R itself delivers it. R keeps its own `continue`, so
  later sibling routes see what R passed on, whichever way R delivered. An alert matched by several
  policies is taken by the first (by namespace, then name): it is muted in that policy's windows.
- each channel's receiver is converted by its type's converter in `receivers`; credentials come from
  `secretKeyRef`s through a resolver; a missing one makes the channel invalid, unless the caller asks
  for placeholders (offline render).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.common import url_error
from ..api.notificationchannel import ChannelRoute, NotificationChannel
from ..api.suppressionpolicy import InhibitRule, SuppressionPolicy
from ..common.identity import ObjectRef
from ..common.yamlout import dump_yaml
from ..discovery.snapshot import Graph
from .dependencies import dependency_inhibit_rules
from .matchers import matcher_text
from .receivers import MissingSecretError, SecretResolver, Secrets, clean, parse_version, receiver

NULL_RECEIVER = "alertagent/null"
# A test-send alert carries this label with the channel's `<namespace>/<name>`; a route per channel,
# first in the tree, sends it to that channel and nowhere else.
TEST_LABEL = "alertagent_test_channel"


@dataclass
class RenderedAlertmanager:
    config: dict[str, Any]
    problems: dict[ObjectRef, list[str]] = field(default_factory=dict)  # object → reasons it was left out
    placeholders: dict[ObjectRef, list[str]] = field(default_factory=dict)  # object → secrets not resolved
    generated: dict[ObjectRef, int] = field(default_factory=dict)  # policy → inhibit rules from the graph

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


def _isolated(cluster: AlertmanagerCluster, namespace: str) -> bool:
    return cluster.spec.namespace_isolation == "OnNamespace" and namespace != ObjectRef.of(cluster).namespace


def _namespace_matcher(cluster: AlertmanagerCluster, namespace: str) -> list[str]:
    return [f'{cluster.spec.namespace_label}="{namespace}"'] if _isolated(cluster, namespace) else []


def _route(cluster: AlertmanagerCluster, channel: NotificationChannel, route: ChannelRoute) -> dict[str, Any]:
    ref = ObjectRef.of(channel)
    return clean(
        {
            "receiver": ref.key,
            "matchers": _namespace_matcher(cluster, ref.namespace) + [matcher_text(m) for m in route.matchers or []],
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
    """The policy's recurring windows; a one-off window is an Alertmanager silence instead (plans/silences)."""
    intervals = []
    for window in policy.spec.maintenance_windows or []:
        if window.recurring is None:
            continue
        r = window.recurring
        spec = clean(
            {
                "times": [{"start_time": t.start_time, "end_time": t.end_time} for t in r.times or []],
                "weekdays": r.weekdays,
                "days_of_month": r.days_of_month,
                "months": r.months,
                "years": r.years,
                "location": r.location,
            }
        )
        intervals.append({"name": f"{ObjectRef.of(policy).key}/{window.name}", "time_intervals": [spec]})
    return intervals


def _sees(cluster: AlertmanagerCluster, policy_ns: str, channel_ns: str) -> bool:
    """Whether a policy's alerts can reach a channel's route under namespace isolation."""
    return not _isolated(cluster, policy_ns) or not _isolated(cluster, channel_ns) or policy_ns == channel_ns


def _inhibit(cluster: AlertmanagerCluster, namespace: str, rule: InhibitRule) -> dict[str, Any]:
    scope = _namespace_matcher(cluster, namespace)
    return clean(
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
    rules = [_inhibit(cluster, ObjectRef.of(p).namespace, r) for p in policies for r in p.spec.inhibit_rules or []]
    for policy in policies:
        if policy.spec.dependency_suppression is None or graph is None:
            continue
        ref = ObjectRef.of(policy)
        namespace = ref.namespace
        scope = _namespace_matcher(cluster, namespace)  # a tenant's policy stays inside its namespace
        generated = dependency_inhibit_rules(policy.spec.dependency_suppression, graph, namespace if scope else None)
        result.generated[ref] = len(generated)
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
    policies = sorted(policies, key=ObjectRef.of)
    time_intervals = [ti for p in policies for ti in _time_intervals(p)]
    interval_names = {ti["name"] for ti in time_intervals}
    global_config = _global(cluster, resolve_secret, placeholders, result)
    # Channels that leave a value to the global block are checked against it; a global block that could
    # not be rendered (a missing Secret) supplies nothing.
    global_block = None if ObjectRef.of(cluster) in result.problems else cluster.spec.global_
    for channel in sorted(channels, key=ObjectRef.of):
        ref = ObjectRef.of(channel)
        secret = Secrets(resolve_secret, ref.namespace, placeholders)
        try:
            route = channel.spec.route
            named = [*(route.active_time_intervals or []), *(route.mute_time_intervals or [])] if route else []
            if unknown := sorted(set(named) - interval_names):
                raise ValueError(f"route names time intervals no selected SuppressionPolicy defines: {unknown}")
            receivers.append(receiver(channel, target, gateway_url, secret, global_=global_block))
            rendered_channels.append(channel)
        except ValueError as err:
            result.problems[ref] = [str(err)]
            continue
        if secret.missing:
            result.placeholders[ref] = secret.missing

    routes: list[dict[str, Any]] = [
        {"receiver": key, "matchers": [f'{TEST_LABEL}="{key}"'], "group_by": [TEST_LABEL], "group_wait": "0s"}
        for key in (ObjectRef.of(c).key for c in rendered_channels)
    ]
    # Policies with recurring windows, by namespace: a channel outside the cluster's namespace can only
    # meet its own namespace's policies and the cluster namespace's (indexing keeps this linear).
    windowed: dict[str, list[tuple[SuppressionPolicy, list[str]]]] = {}
    for policy in policies:
        if names := [ti["name"] for ti in _time_intervals(policy)]:
            windowed.setdefault(ObjectRef.of(policy).namespace, []).append((policy, names))
    everyone = [entry for entries in windowed.values() for entry in entries]
    for channel in rendered_channels:
        if channel.spec.route is None:
            continue
        base = _route(cluster, channel, channel.spec.route)
        channel_ns = ObjectRef.of(channel).namespace
        cluster_ns = ObjectRef.of(cluster).namespace
        candidates = (
            windowed.get(channel_ns, []) + (windowed.get(cluster_ns, []) if channel_ns != cluster_ns else [])
            if _isolated(cluster, channel_ns)
            else everyone
        )
        children = []
        for policy, windows in sorted(candidates, key=lambda e: ObjectRef.of(e[0])):
            policy_ns = ObjectRef.of(policy).namespace
            if _sees(cluster, policy_ns, channel_ns):
                matchers = _namespace_matcher(cluster, policy_ns) + [
                    matcher_text(m) for m in policy.spec.matchers or []
                ]
                mutes = sorted(set(base.get("mute_time_intervals", [])) | set(windows))
                child = {
                    "matchers": list(dict.fromkeys(m for m in matchers if m not in base.get("matchers", []))),
                    "mute_time_intervals": mutes,
                    "active_time_intervals": base.get("active_time_intervals"),
                }
                children.append(clean(child))
        if children:
            base["routes"] = children
        routes.append(base)

    root = _root_route(cluster, receivers, routes, result)
    inhibit_rules = _inhibit_rules(cluster, policies, graph, result)
    result.config = clean(
        {
            "global": global_config,
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
    ref = ObjectRef.of(cluster)
    secret = Secrets(resolve, ref.namespace, placeholders)
    smtp = g.smtp
    try:
        config = clean(
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
    except MissingSecretError as err:
        result.problems[ref] = [str(err)]
        return None
    for key in ("slack_api_url",):  # the URL globals a Secret supplies: checked as Alertmanager parses them
        if (value := config.get(key)) is not None and (error := url_error(value, redact=True)) is not None:
            result.problems[ref] = [f"spec.global: {key} from its Secret: {error}"]
            return None
    if secret.missing:
        result.placeholders[ref] = secret.missing
    return config or None


def _root_route(
    cluster: AlertmanagerCluster,
    receivers: list[dict[str, Any]],
    routes: list[dict[str, Any]],
    result: RenderedAlertmanager,
) -> dict[str, Any]:
    """The root route. Its receiver must be a channel rendered here; otherwise (or when none is set)
    the null receiver takes what no route takes, and a receiver that was named is a problem of the cluster."""
    root_receiver = cluster.spec.route.receiver
    if root_receiver is not None and root_receiver not in {r["name"] for r in receivers}:
        result.problems.setdefault(ObjectRef.of(cluster), []).append(
            f"spec.route.receiver {root_receiver!r} is no NotificationChannel rendered in this cluster: "
            "alerts no channel route takes go to the null receiver"
        )
    if root_receiver is None or root_receiver not in {r["name"] for r in receivers}:
        receivers.append({"name": NULL_RECEIVER})
        root_receiver = NULL_RECEIVER
    return clean(
        {
            "receiver": root_receiver,
            "group_by": cluster.spec.route.group_by,
            "group_wait": cluster.spec.route.group_wait,
            "group_interval": cluster.spec.route.group_interval,
            "repeat_interval": cluster.spec.route.repeat_interval,
            "routes": routes,
        }
    )
