"""Rendering one alertmanager.yaml from an AlertmanagerCluster and the NotificationChannels and
SuppressionPolicies it selects (pure).

Conventions:
- each channel is a receiver named `<namespace>/<name>`; a channel with a route also gets a child
  route of the root, placed by the routing precedence below;
- `namespaceIsolation: OnNamespace` adds `namespace="<ns>"` to each channel route and to both sides of
  each policy's inhibit rules, except for objects in the cluster's own namespace (only there are
  channels cluster-wide; `spec.tenancy.exemptNamespaces` exempts rule labels, not routes);
- routing precedence, so that no tenant (a namespace other than the cluster's) can be starved by how
  namespace names sort. Alertmanager tries the root's children in order and stops at the first match
  whose route does not `continue` (dispatch/route.go, `Route.Match`); the children are, in this order:
  1. test-send routes, one per rendered channel (label `alertagent_test_channel="<namespace>/<name>"`),
     each delivering to that channel alone;
  2. exclusive cluster-wide channels: those in the cluster's namespace whose route says
     `exclusive: true`, by name, each with its own `continue`. One that matches and does not continue
     (the default) takes the alert from every channel below: this deliberately takes alerts from
     tenants, which then never see them;
  3. the other cluster-wide channels, by name, with `continue: true` forced: each gets a copy of what
     it matches and passes it on;
  4. the other channels, one group per namespace in namespace order; within a group `exclusive`
     channels first, then by name, each with its own `continue`.
  Under `OnNamespace` a group of 4 matches only its own namespace's alerts, so it can stop nothing but
  its own namespace's alerts: a tenant's alert passes 1 and 3 whatever the names are, and reaches its
  own channels unless an exclusive channel of 2 took it. `exclusive` on a tenant's channel therefore
  only puts it first among that tenant's channels. Under `None` there are no tenants: channels of the
  cluster's namespace are still 2 and 3, the others follow in (namespace, name) order with their own
  `continue`, so one that does not continue stops what it matches for every channel after it, in any
  namespace. An alert that some child matched (even one that continues) does not reach the root
  receiver; the root receiver takes only what no child matches;
- a recurring maintenance window becomes the time interval `<namespace>/<policy>/<window>`. It mutes
  the routes its policy's matchers cover like this: every channel route R whose alerts the policy can
  see (same namespace, or either side in the cluster's namespace) gets one child route per policy, with
  the policy's matchers, R's mute intervals plus the policy's windows, and `continue: false`. An alert
  the policy matches is taken by that child (it inherits R's receiver and grouping) and muted in the
  window; any other alert matches no child, so R itself delivers it. R keeps its `continue` (forced
  for a cluster-wide copy), so later sibling routes see what R passed on, whichever way R delivered.
  An alert matched by several policies is taken by the first (by namespace, then name): it is muted
  in that policy's windows.
- each channel's receiver is converted by its type's converter in `receivers`; credentials come from
  `secretKeyRef`s through a resolver; a missing one makes the channel invalid, unless the caller asks
  for placeholders (offline render).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.common import url_error
from ..api.notificationchannel import ChannelRoute, NotificationChannel
from ..api.suppressionpolicy import SuppressionPolicy
from ..common.identity import ObjectRef
from ..common.labels import TEST_LABEL, TEST_SEND_LABEL
from ..common.yamlout import dump_yaml
from ..discovery.snapshot import Graph
from .dependencies import dependency_inhibit_rules
from .matchers import matcher_text
from .receivers import (
    GatewayEndpoint,
    MissingSecretError,
    SecretResolver,
    Secrets,
    clean,
    parse_version,
    receiver,
)

NULL_RECEIVER = "alertagent/null"


@dataclass
class RenderedAlertmanager:
    config: dict[str, Any]
    problems: dict[ObjectRef, list[str]] = field(default_factory=dict)  # object → reasons it was left out
    placeholders: dict[ObjectRef, list[str]] = field(default_factory=dict)  # object → secrets not resolved
    generated: dict[ObjectRef, int] = field(default_factory=dict)  # policy → inhibit rules from the graph
    # object → why its last delivered receiver (or global block) was rendered instead of its spec
    last_known_good: dict[ObjectRef, str] = field(default_factory=dict)

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
    """Whether objects of `namespace` only see alerts of their own namespace: under `OnNamespace`, every
    namespace but the cluster's own. (`spec.tenancy.exemptNamespaces` is about rule labels alone: a
    channel of another exempt namespace is still a tenant's, so it can neither copy nor starve others.)"""
    return cluster.spec.namespace_isolation == "OnNamespace" and namespace != ObjectRef.of(cluster).namespace


def _namespace_matcher(cluster: AlertmanagerCluster, namespace: str) -> list[str]:
    return [f'{cluster.spec.namespace_label}="{namespace}"'] if _isolated(cluster, namespace) else []


def _cluster_wide(cluster: AlertmanagerCluster, namespace: str) -> bool:
    """Whether a channel in `namespace` is cluster-wide (its route sees every namespace's alerts): in
    the cluster's own namespace, and under `OnNamespace` any namespace isolation exempts, so that only
    routes confined to their own namespace ever keep `continue: false` below the cluster-wide ones."""
    if cluster.spec.namespace_isolation == "OnNamespace":
        return not _isolated(cluster, namespace)
    return namespace == ObjectRef.of(cluster).namespace


def channel_precedence(cluster: AlertmanagerCluster, channel: NotificationChannel) -> tuple[int, str, bool, str]:
    """Sort key of a channel's route among the root's children (the routing precedence of the module
    docstring): exclusive cluster-wide, cluster-wide, then per namespace with exclusive ones first;
    by name within each."""
    ref = ObjectRef.of(channel)
    exclusive = channel.spec.route is not None and channel.spec.route.exclusive
    tier = (0 if exclusive else 1) if _cluster_wide(cluster, ref.namespace) else 2
    return (tier, ref.namespace, not exclusive, ref.name)


def _route(cluster: AlertmanagerCluster, channel: NotificationChannel, route: ChannelRoute) -> dict[str, Any]:
    """A channel's child route of the root; a cluster-wide channel that is not exclusive continues."""
    ref = ObjectRef.of(channel)
    copy = _cluster_wide(cluster, ref.namespace) and not route.exclusive
    return clean(
        {
            "receiver": ref.key,
            "matchers": _namespace_matcher(cluster, ref.namespace) + [matcher_text(m) for m in route.matchers or []],
            "group_by": route.group_by,
            "group_wait": route.group_wait,
            "group_interval": route.group_interval,
            "repeat_interval": route.repeat_interval,
            "continue": route.continue_ or copy or None,
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


def _inhibit(
    cluster: AlertmanagerCluster, namespace: str, source: list[str], target: list[str], equal: list[str] | None = None
) -> dict[str, Any]:
    """One inhibit rule of a policy in `namespace` (matcher texts), scoped to that namespace under
    namespace isolation; a matcher repeated on one side is written once."""
    scope = _namespace_matcher(cluster, namespace)
    return clean(
        {
            "source_matchers": list(dict.fromkeys(scope + source)),
            "target_matchers": list(dict.fromkeys(scope + target)),
            "equal": equal,
        }
    )


def _inhibit_rules(
    cluster: AlertmanagerCluster, policies: list[SuppressionPolicy], graph: Graph | None, result: RenderedAlertmanager
) -> list[dict[str, Any]]:
    """Static inhibit rules, then those generated from the graph, policies in (namespace, name) order.
    Rules Alertmanager treats alike (the same matchers on each side, in any order, and the same `equal`
    labels) are written once, where they first occur, whichever policies they come from.
    `result.generated` counts, per policy with dependency suppression, the rules that policy generates
    itself, including those another policy generates too (so it does not depend on other policies)."""
    rules = [
        _inhibit(
            cluster,
            ObjectRef.of(p).namespace,
            [matcher_text(m) for m in r.source_matchers],
            [matcher_text(m) for m in r.target_matchers],
            r.equal,
        )
        for p in policies
        for r in p.spec.inhibit_rules or []
    ]
    for policy in policies:
        if policy.spec.dependency_suppression is None or graph is None:
            continue
        ref = ObjectRef.of(policy)
        isolated = bool(_namespace_matcher(cluster, ref.namespace))  # a tenant's policy stays inside its namespace
        generated = dependency_inhibit_rules(
            policy.spec.dependency_suppression,
            graph,
            ref.namespace if isolated else None,
            policy.spec.matchers or [],
        )
        result.generated[ref] = len(generated)
        rules += [_inhibit(cluster, ref.namespace, r["source_matchers"], r["target_matchers"]) for r in generated]
    unique: dict[tuple[tuple[str, ...], ...], dict[str, Any]] = {}
    for rule in rules:
        key = tuple(tuple(sorted(rule.get(side, ()))) for side in ("source_matchers", "target_matchers", "equal"))
        unique.setdefault(key, rule)
    return list(unique.values())


def render_alertmanager(
    cluster: AlertmanagerCluster,
    channels: Iterable[NotificationChannel],
    policies: Iterable[SuppressionPolicy],
    resolve_secret: SecretResolver,
    version: str | None = None,
    gateway_url: str | None = None,
    placeholders: bool = False,
    graph: Graph | None = None,
    deployed: Mapping[str, Any] | None = None,
    gateway_tokens: Mapping[str, str] | None = None,
) -> RenderedAlertmanager:
    """The merged configuration. An object that cannot be rendered is left out alone, with the reason
    in `problems`; `placeholders` writes marked values for missing secrets instead (offline render).
    `graph` is the service dependency graph that `dependencySuppression` generates inhibit rules from
    (none are generated without it). `deployed` is the alertmanager.yaml live now (parsed): a channel
    (or the global block) whose Secret is missing or unreadable keeps the receiver (or block) it has
    there, noted in `last_known_good`; without one there, it is left out as a problem. The gateway
    types go to `gateway_url` (default: `spec.gateway.url`) with their token in `gateway_tokens`
    (`<namespace>/<name>` → token, plans/gateway)."""
    target = parse_version(version or cluster.spec.alertmanager.version)
    gateway_url = gateway_url or (cluster.spec.gateway.url if cluster.spec.gateway else None)
    gateway = GatewayEndpoint(gateway_url, gateway_tokens or {}) if gateway_url else None
    result = RenderedAlertmanager(config={})
    receivers: list[dict[str, Any]] = []
    rendered_channels: list[NotificationChannel] = []
    policies = sorted(policies, key=ObjectRef.of)
    time_intervals = [ti for p in policies for ti in _time_intervals(p)]
    interval_names = {ti["name"] for ti in time_intervals}
    deployed_receivers = {r.get("name"): r for r in (deployed or {}).get("receivers") or [] if isinstance(r, dict)}
    global_config = _global(cluster, resolve_secret, placeholders, result, (deployed or {}).get("global"))
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
            receivers.append(receiver(channel, target, gateway, secret, global_=global_block))
            rendered_channels.append(channel)
        except MissingSecretError as err:
            if (live := deployed_receivers.get(ref.key)) is None:
                result.problems[ref] = [str(err)]
                continue
            receivers.append(live)  # a Secret gone or unreadable never takes a working receiver away
            rendered_channels.append(channel)
            result.last_known_good[ref] = f"{err}: its last delivered receiver stays live"
            continue
        except ValueError as err:
            result.problems[ref] = [str(err)]
            continue
        if secret.missing:
            result.placeholders[ref] = secret.missing

    routes = _routes(cluster, rendered_channels, policies)

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
    cluster: AlertmanagerCluster,
    resolve: SecretResolver,
    placeholders: bool,
    result: RenderedAlertmanager,
    deployed: Any = None,
) -> dict[str, Any] | None:
    """The `global` block; with a Secret missing, the `deployed` block (last-known-good) when there is one."""
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
        if isinstance(deployed, dict) and deployed:
            result.last_known_good[ref] = f"spec.global: {err}: the last delivered global block stays live"
            return deployed
        result.problems[ref] = [str(err)]
        return None
    for key in ("slack_api_url",):  # the URL globals a Secret supplies: checked as Alertmanager parses them
        if (value := config.get(key)) is not None and (error := url_error(value, redact=True)) is not None:
            result.problems[ref] = [f"spec.global: {key} from its Secret: {error}"]
            return None
    if secret.missing:
        result.placeholders[ref] = secret.missing
    return config or None


def _routes(
    cluster: AlertmanagerCluster, channels: list[NotificationChannel], policies: list[SuppressionPolicy]
) -> list[dict[str, Any]]:
    """The root's children in routing precedence (module docstring): a test-send route per channel,
    then each channel's route with its per-policy window children. `policies` in (namespace, name) order."""
    routes: list[dict[str, Any]] = [
        {
            "receiver": key,
            "matchers": [f'{TEST_LABEL}="{key}"'],
            "group_by": [TEST_LABEL, TEST_SEND_LABEL],  # a group per request: each is notified
            "group_wait": "0s",
        }
        for key in sorted(ObjectRef.of(c).key for c in channels)
    ]
    # Policies with recurring windows, by namespace: an isolated channel can only meet its own
    # namespace's policies and those of exempt namespaces (indexing keeps this linear).
    windowed: dict[str, list[tuple[SuppressionPolicy, list[str]]]] = {}
    for policy in policies:
        if names := [ti["name"] for ti in _time_intervals(policy)]:
            windowed.setdefault(ObjectRef.of(policy).namespace, []).append((policy, names))
    everyone = [entry for entries in windowed.values() for entry in entries]
    unconfined = [entry for ns, entries in windowed.items() if not _isolated(cluster, ns) for entry in entries]
    for channel in sorted(channels, key=lambda c: channel_precedence(cluster, c)):
        if channel.spec.route is None:
            continue
        base = _route(cluster, channel, channel.spec.route)
        channel_ns = ObjectRef.of(channel).namespace
        candidates = windowed.get(channel_ns, []) + unconfined if _isolated(cluster, channel_ns) else everyone
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
    return routes


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
