"""AlertmanagerConfig (monitoring.coreos.com/v1alpha1, v1beta1) → NotificationChannels and a
SuppressionPolicy (pure).

Mirrors prometheus-operator's pkg/apis/monitoring/v1alpha1 and v1beta1 alertmanager_config_types.go
and how its operator renders them (pkg/alertmanager/amcfg.go):

- **Namespace scope.** prometheus-operator adds a `namespace="<object namespace>"` matcher to the
  object's top-level route (dropping any `=`/`=~` matcher on `namespace` there) and to both sides of
  each inhibit rule. The converted routes and inhibit rules carry that matcher explicitly, so they
  keep their scope whatever the AlertmanagerCluster's `namespaceIsolation` (under `OnNamespace` it
  is added again, which changes nothing).
- **Receivers.** Each receiver integration (`slackConfigs[0]`, ...) becomes a NotificationChannel of
  the matching type (`receivers.py`); a receiver with several integrations becomes several channels
  with the same route, all but the last that AlertAgent tries continuing (the order is computed with
  the renderer's own precedence, render/alertmanager.py `channel_precedence`), so each still gets every
  alert; another route's channel tried between them that does not continue is reported.
- **The route tree.** AlertAgent channel routes hang off the cluster's root, one level deep, ordered
  exclusive first, then by name, within a namespace (README "Routing precedence"). The top-level route
  (which prometheus-operator always makes `continue: true`) becomes its receiver's channel route,
  not exclusive, continuing; each route below it becomes its receiver's channel route with the
  matchers of every route above it added, the grouping and timing it inherits written out, its own
  `continue`, and `exclusive: true`, so it is tried before the top-level route's channel and takes
  what it matches from it, as Alertmanager's child routes do. Time intervals are not inherited
  (Alertmanager's dispatch/route.go sets them from the route alone), so each takes its own. What one
  level cannot express is reported: routes nested deeper, and sibling routes whose order by channel
  name differs from their listed order when one of them does not continue.
- **Time intervals** (`muteTimeIntervals` in v1alpha1, `timeIntervals` in v1beta1) become recurring
  maintenance windows of one SuppressionPolicy named after the object (an interval with several
  periods: one window per period, `<name>-1`, `<name>-2`, ...; no location: UTC, as Alertmanager
  assumes). Routes name them `<namespace>/<policy>/<window>`. The policy's matcher
  `alertname!~".*"` matches no alert, so its windows mute exactly the routes that name them and no
  other (a policy's windows otherwise mute every route for the alerts its matchers cover).
- **Inhibit rules** become the same policy's `inhibitRules`, the namespace matcher on both sides.
- Every object is validated with AlertAgent's own models before it is emitted; what they refuse is
  reported with their message and left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.common import Matcher
from ..api.notificationchannel import ChannelRoute, NotificationChannel, NotificationChannelSpec
from ..api.suppressionpolicy import InhibitRule, MaintenanceWindow
from ..common.identity import ObjectRef
from ..render.alertmanager import channel_precedence
from ..render.validation import schema_issues
from .receivers import RECEIVER_TYPES, UNSUPPORTED_TYPES, convert_receiver_config
from .report import Fields, Sink, dns_label, k8s_name

API_VERSION = "alertagent.io/v1alpha1"
# Matches no alert (every value matches `.*`): the policy's windows then mute only the routes naming them.
NEVER_MATCHER = {"name": "alertname", "matchType": "!~", "value": ".*"}
_RECEIVER_KEYS = (*RECEIVER_TYPES, *UNSUPPORTED_TYPES)
_NEGATION = {"=": "!=", "!=": "=", "=~": "!~", "!~": "=~"}


def _errors(model: type[BaseModel], data: dict[str, Any]) -> list[str]:
    """AlertAgent's own validation of `data` as `model`: `field: message` lines, empty when valid."""
    try:
        model.model_validate(data)
    except ValidationError as err:
        return [f"{i.field}: {i.message}" if i.field != "(object)" else i.message for i in schema_issues(err)]
    return []


def _matcher(value: Any, path: str, report: Sink, legacy_regex: bool) -> dict[str, Any] | None:
    """A Matcher as AlertAgent's `{name, matchType, value}`; v1alpha1's deprecated `regex: true` is
    `=~` when no matchType is set. None (reported) when AlertAgent refuses it."""
    fields = Fields(value, path, report, upstream="Matcher")
    name, text, match_type = fields.get("name"), fields.get("value", ""), fields.get("matchType")
    regex = fields.get("regex") if legacy_regex else None
    fields.finish()
    matcher: dict[str, Any] = {"name": name, "value": text}
    if (match_type or ("=~" if regex else "=")) != "=":
        matcher["matchType"] = match_type or "=~"
    if errors := _errors(Matcher, matcher):
        report(path, f"not converted: {'; '.join(errors)}")
        return None
    return matcher


@dataclass
class _Receiver:
    index: int
    # (type, block, sendResolved, source path) of each integration that converts
    configs: list[tuple[str, dict[str, Any], bool, str]] = field(default_factory=list)
    integrations: int = 0  # integrations in the source, converted or not


@dataclass
class _Node:
    path: str
    depth: int
    receiver: str | None
    matchers: list[dict[str, Any]]
    options: dict[str, Any]
    continue_: bool
    mute: list[str]
    active: list[str]
    valid: bool
    parent: _Node | None = None
    children: list[_Node] = field(default_factory=list)


@dataclass
class ChannelOrder:
    """The order in which AlertAgent's rendered Alertmanager config tries the converted channel routes
    (render/alertmanager.py `channel_precedence`, README "Routing precedence"): `names` in that order."""

    names: list[str]
    position: dict[str, int]

    @classmethod
    def of(cls, namespace: str, channels: list[dict[str, Any]]) -> ChannelOrder:
        """`channels` (NotificationChannel manifests of `namespace`, with routes) sorted with the
        renderer's own precedence, for a cluster in `namespace` (its channels are cluster-wide) and for
        one elsewhere (they are a tenant's): both give the same order, as all the channels share one
        namespace, which is checked rather than assumed (AssertionError otherwise)."""
        models = [NotificationChannel.model_validate(c) for c in channels]
        orders = []
        for cluster_namespace, isolation in ((namespace, "None"), (f"{namespace}-other", "OnNamespace")):
            cluster = AlertmanagerCluster.model_validate(
                {
                    "metadata": {"name": "cluster", "namespace": cluster_namespace},
                    "spec": {"alertmanager": {"url": "http://alertmanager:9093"}, "namespaceIsolation": isolation},
                }
            )
            orders.append([ObjectRef.of(m).name for m in sorted(models, key=lambda m: channel_precedence(cluster, m))])
        if orders[0] != orders[1]:
            raise AssertionError(f"channel order depends on the cluster: {orders}")
        return cls(orders[0], {name: i for i, name in enumerate(orders[0])})

    def index(self, name: str) -> int:
        return self.position.get(name, len(self.names))

    def first(self, names: list[str]) -> int:
        return min(self.index(n) for n in names)

    def last(self, names: list[str]) -> int:
        return max(self.index(n) for n in names)


def channel_order(namespace: str, channels: list[dict[str, Any]]) -> ChannelOrder:
    """The order AlertAgent tries `channels` (NotificationChannel manifests of `namespace`, each with a
    route) in; see `ChannelOrder.of`. Raises AssertionError if it depended on the cluster's placement."""
    return ChannelOrder.of(namespace, channels)


class _Converter:
    def __init__(self, obj: dict[str, Any], metadata: dict[str, Any], report: Sink) -> None:
        self.metadata, self.report = metadata, report
        self.namespace, self.name = metadata["namespace"], metadata["name"]
        self.v1alpha1 = obj.get("apiVersion") == "monitoring.coreos.com/v1alpha1"
        self.spec = Fields(obj.get("spec"), "spec", report, upstream="AlertmanagerConfigSpec")
        self.policy = k8s_name(self.name)
        self.windows: list[dict[str, Any]] = []
        self.interval_windows: dict[str, list[str]] = {}  # source interval name → window names
        self.receivers: dict[str, _Receiver] = {}
        self.nodes: list[_Node] = []

    def meta(self, name: str) -> dict[str, Any]:
        return {**self.metadata, "name": name}

    # Time intervals → maintenance windows.
    def intervals(self) -> None:
        key = "muteTimeIntervals" if self.v1alpha1 else "timeIntervals"
        taken: set[str] = set()
        for i, interval in enumerate(self.spec.get(key) or []):
            fields = Fields(interval, f"spec.{key}[{i}]", self.report, upstream="TimeInterval")
            name, periods = str(fields.get("name", "")), fields.get("timeIntervals") or []
            fields.finish()
            self.interval_windows[name] = []
            if not periods:
                self.report(fields.path, "no time periods (never active): not converted; routes naming it go without")
                continue
            for j, period in enumerate(periods):
                base = dns_label(name if len(periods) == 1 else f"{name}-{j + 1}")
                window_name, n = base, 1
                while window_name in taken:
                    n += 1
                    window_name = dns_label(f"{base}-{n}")
                taken.add(window_name)
                window = {"name": window_name, "recurring": self.schedule(period, f"{fields.at('timeIntervals')}[{j}]")}
                if errors := _errors(MaintenanceWindow, window):
                    self.report(f"{fields.at('timeIntervals')}[{j}]", f"not converted: {'; '.join(errors)}")
                    continue
                self.windows.append(window)
                self.interval_windows[name].append(window_name)

    def schedule(self, period: Any, path: str) -> dict[str, Any]:
        fields = Fields(period, path, self.report, upstream="TimePeriod")
        schedule: dict[str, Any] = {}
        if times := fields.get("times"):
            schedule["times"] = [{"startTime": t.get("startTime"), "endTime": t.get("endTime")} for t in times]
        for key in ("weekdays", "months", "years"):
            if values := fields.get(key):
                schedule[key] = [str(v) for v in values]
        if days := fields.get("daysOfMonth"):
            schedule["daysOfMonth"] = [
                f"{d.get('start')}:{d['end']}" if d.get("end") not in (None, 0) else str(d.get("start")) for d in days
            ]
        fields.finish()
        return schedule

    def window_refs(self, names: list[str], path: str) -> list[str]:
        refs = []
        for i, name in enumerate(names):
            if name not in self.interval_windows:
                self.report(f"{path}[{i}]", "names no time interval of this AlertmanagerConfig: left out")
                continue
            refs += [f"{self.namespace}/{self.policy}/{w}" for w in self.interval_windows[name]]
        return refs

    # Receivers.
    def receivers_of(self) -> None:
        for i, data in enumerate(self.spec.get("receivers") or []):
            fields = Fields(data, f"spec.receivers[{i}]", self.report, upstream="Receiver")
            name = str(fields.get("name", ""))
            receiver = self.receivers.setdefault(name, _Receiver(i))
            for key in _RECEIVER_KEYS:
                for j, config in enumerate(fields.get(key) or []):
                    path = f"{fields.at(key)}[{j}]"
                    receiver.integrations += 1
                    converted = convert_receiver_config(key, config, path, self.report)
                    if converted is None:
                        continue
                    kind, block, send_resolved = converted
                    spec = {"type": kind, kind: block, "sendResolved": send_resolved}
                    if errors := _errors(NotificationChannelSpec, spec):
                        self.report(path, f"not converted: {'; '.join(errors)}")
                        continue
                    receiver.configs.append((kind, block, send_resolved, path))
            fields.finish()

    # The route tree.
    def walk(self, data: Any, path: str, depth: int, parent: _Node | None) -> None:
        fields = Fields(data, path, self.report, upstream="Route")
        receiver = fields.get("receiver") or (parent.receiver if parent else None)
        valid = parent is None or parent.valid
        own = []
        for i, raw in enumerate(fields.get("matchers") or []):
            matcher = _matcher(raw, f"{fields.at('matchers')}[{i}]", self.report, self.v1alpha1)
            if matcher is None:
                if valid:
                    self.report(path, "not converted (nor the routes below it): a matcher is invalid")
                valid = False
            elif depth == 0 and matcher["name"] == "namespace" and matcher.get("matchType", "=") in ("=", "=~"):
                continue  # prometheus-operator replaces it with the object's own namespace
            else:
                own.append(matcher)
        inherited = parent.matchers if parent else [{"name": "namespace", "value": self.namespace}]
        options = dict(parent.options) if parent else {}
        for key in ("groupBy", "groupWait", "groupInterval", "repeatInterval"):
            if value := fields.get(key):
                options[key] = value
        node = _Node(
            path=path,
            depth=depth,
            receiver=receiver,
            matchers=inherited + [m for m in own if m not in inherited],
            options=options,
            continue_=True if depth == 0 else bool(fields.get("continue", False)),
            mute=self.window_refs(fields.get("muteTimeIntervals") or [], fields.at("muteTimeIntervals")),
            active=self.window_refs(fields.get("activeTimeIntervals") or [], fields.at("activeTimeIntervals")),
            valid=valid,
            parent=parent,
        )
        fields.skip("continue")  # prometheus-operator forces true on the top-level route
        self.nodes.append(node)
        if parent is not None:
            parent.children.append(node)
        for i, child in enumerate(fields.get("routes") or []):
            self.walk(child, f"{fields.at('routes')}[{i}]", depth + 1, node)
        fields.finish()

    def _discards_harmlessly(self, node: _Node) -> bool:
        """Whether leaving out a route to a receiver without integrations changes nothing: it continues,
        or it is the last route below the top-level one (whose channel excludes it, and after which
        prometheus-operator's forced `continue` lets every other route see the alert anyway)."""
        return node.continue_ or (node.parent is not None and node.depth == 1 and node.parent.children[-1] is node)

    def _plan(self) -> dict[int, tuple[_Receiver, list[str]]]:
        """The nodes that become channels: id(node) → (receiver, channel names); the others reported."""
        plans: dict[int, tuple[_Receiver, list[str]]] = {}
        references: dict[str, int] = {}
        for node in self.nodes:
            if not node.valid:
                continue
            receiver = self.receivers.get(node.receiver or "")
            if receiver is None:
                self.report(f"{node.path}.receiver", "names no receiver of this AlertmanagerConfig: not converted")
                continue
            if not receiver.configs:
                if receiver.integrations:
                    self.report(node.path, f"not converted: no integration of receiver {node.receiver!r} converts")
                elif not self._discards_harmlessly(node):
                    self.report(
                        node.path,
                        f"receiver {node.receiver!r} has no integrations (it discards what it takes): AlertAgent "
                        "has no channel without a type, so these alerts reach the routes after it",
                    )
                continue
            count = references[node.receiver or ""] = references.get(node.receiver or "", 0) + 1
            base = f"{self.name}-{node.receiver}" + (f"-{count}" if count > 1 else "")
            plans[id(node)] = (receiver, self._config_names(base, receiver))
        return plans

    def _exclusions(self, node: _Node, plans: dict[int, tuple[_Receiver, list[str]]]) -> list[dict[str, Any]] | None:
        """The negated matchers that keep `node`'s own channel from what its child routes take (in
        Alertmanager a route delivers only what none of its children matches). A child that becomes an
        exclusive channel of its own, tried first and not continuing, needs none. None: a child takes
        everything (the node delivers nothing)."""
        extra: list[dict[str, Any]] = []
        for child in node.children:
            if not child.valid or (id(child) in plans and not child.continue_):
                continue
            own = [m for m in child.matchers if m not in node.matchers]
            if not own:
                return None
            if len(own) > 1:
                self.report(
                    child.path,
                    "its route above cannot exclude what it matches (more than one matcher, and it continues or is "
                    "not converted): that route's channel also gets these alerts",
                )
                continue
            negated = {**own[0], "matchType": _NEGATION[own[0].get("matchType", "=")]}
            if negated["matchType"] == "=":
                del negated["matchType"]
            if negated not in node.matchers and negated not in extra:
                extra.append(negated)
        return extra

    def _check_flattened(self, node: _Node, plans: dict[int, tuple[_Receiver, list[str]]], order: ChannelOrder) -> None:
        """A route below the first level keeps Alertmanager's precedence when it and every route between
        it and the top-level one do not continue and its channels are all tried before theirs."""
        names = plans[id(node)][1]
        exact = not node.continue_
        ancestor, blocker = node.parent, None
        while exact and ancestor is not None and ancestor.depth >= 1:
            exact = not ancestor.continue_ and (
                id(ancestor) not in plans or order.last(names) < order.first(plans[id(ancestor)][1])
            )
            blocker = ancestor
            ancestor = ancestor.parent
        if exact:
            return
        if node.continue_:
            why = "it continues, so the channels of the routes above it, tried after it, also deliver what it takes"
        elif blocker is not None and blocker.continue_:
            # In the tree the continuing route's later siblings (and the routes below them) also see the alert.
            assert blocker.parent is not None
            siblings = blocker.parent.children
            stack, later = list(siblings[siblings.index(blocker) + 1 :]), []
            while stack:
                other = stack.pop()
                stack += other.children
                later += [n for n in plans.get(id(other), (None, []))[1] if order.index(n) > order.last(names)]
            if not later:
                return
            why = (
                f"{blocker.path} continues, so in the tree the routes after it also get what this route takes, but "
                f"this route's last channel {order.names[order.last(names)]} does not continue: "
                f"{', '.join(sorted(later, key=order.index))} do not get the alerts they both match"
            )
        else:
            assert blocker is not None
            why = (
                f"the channel of {blocker.path} ({order.names[order.first(plans[id(blocker)][1])]}) is tried before "
                f"this route's last channel ({order.names[order.last(names)]}) and takes what they both match"
            )
        self.report(
            node.path,
            "nested below the first level and flattened into one channel route with the matchers and grouping of "
            f"the routes above it; AlertAgent's one level of routes cannot keep the tree's precedence: {why}",
        )

    def _check_order(self, parent: _Node, plans: dict[int, tuple[_Receiver, list[str]]], order: ChannelOrder) -> None:
        children = [c for c in parent.children if id(c) in plans]
        tried = sorted(children, key=lambda c: order.first(plans[id(c)][1]))
        if tried != children and any(not c.continue_ for c in children[:-1]):
            first = [order.names[order.first(plans[id(c)][1])] for c in children]
            self.report(
                f"{parent.path}.routes",
                f"AlertAgent tries these routes' channels in this order ({', '.join(sorted(first, key=order.index))}),"
                f" not as listed ({', '.join(first)}): a route that does not continue takes what it matches from those "
                "after it",
            )

    def _check_interleaved(self, node: _Node, names: list[str], order: ChannelOrder, stops: set[str]) -> None:
        """A receiver's channels each get the alert only if no channel of another route tried between the
        first and the last of them takes it (does not continue)."""
        lo, hi = order.first(names), order.last(names)
        between = [n for n in order.names[lo + 1 : hi] if n not in names and n in stops]
        if between:
            self.report(
                node.path,
                f"receiver {node.receiver!r} became channels {', '.join(sorted(names, key=order.index))}, but "
                f"{', '.join(between)} (another route's channel, not continuing) is tried between them: an alert "
                f"both match reaches only the channels tried before it",
            )

    def channels(self) -> list[dict[str, Any]]:
        plans = self._plan()
        routed: list[tuple[_Node, list[dict[str, Any]]]] = []
        channels: list[dict[str, Any]] = []
        for node in self.nodes:
            if id(node) not in plans:
                continue
            receiver, names = plans[id(node)]
            extra = self._exclusions(node, plans)
            route: dict[str, Any] | None = None
            if extra is not None:
                route = {"matchers": node.matchers + extra, **node.options}
                if node.depth >= 1:
                    route["exclusive"] = True
                if node.mute:
                    route["muteTimeIntervals"] = node.mute
                if node.active:
                    route["activeTimeIntervals"] = node.active
                if errors := _errors(ChannelRoute, route):
                    self.report(node.path, f"not converted: {'; '.join(errors)}")
                    del plans[id(node)]
                    continue
            group = [
                self._channel(name, kind, block, send_resolved, None if route is None else dict(route))
                for (kind, block, send_resolved, _), name in zip(receiver.configs, names, strict=True)
            ]
            routed.append((node, group))
            channels += group
        order = ChannelOrder.of(self.namespace, [c for c in channels if "route" in c["spec"]])
        for node, group in routed:
            # Every channel but the last AlertAgent tries continues, so each gets what the receiver took.
            tried = sorted((c for c in group if "route" in c["spec"]), key=lambda c: order.index(c["metadata"]["name"]))
            for j, channel in enumerate(tried):
                if j < len(tried) - 1 or node.continue_:
                    channel["spec"]["route"]["continue"] = True
        stops = {
            c["metadata"]["name"] for c in channels if "route" in c["spec"] and not c["spec"]["route"].get("continue")
        }
        for node in self.nodes:
            if node.valid:
                self._check_order(node, plans, order)
            if id(node) not in plans:
                continue
            if node.depth >= 2:
                self._check_flattened(node, plans, order)
            if any(n in order.position for n in plans[id(node)][1]):
                self._check_interleaved(node, plans[id(node)][1], order, stops)
        referenced = {node.receiver for node in self.nodes if id(node) in plans}
        for name, receiver in sorted(self.receivers.items(), key=lambda item: item[1].index):
            if name not in referenced and receiver.configs:  # still rendered: a root receiver may name it
                for (kind, block, send_resolved, _), channel_name in zip(
                    receiver.configs, self._config_names(f"{self.name}-{name}", receiver), strict=True
                ):
                    channels.append(self._channel(channel_name, kind, block, send_resolved, None))
        return channels

    @staticmethod
    def _config_names(base: str, receiver: _Receiver) -> list[str]:
        kinds = [kind for kind, *_ in receiver.configs]
        if len(kinds) == 1:
            return [k8s_name(base)]
        names, seen = [], dict.fromkeys(kinds, 0)
        for kind in kinds:
            seen[kind] += 1
            suffix = f"-{seen[kind]}" if kinds.count(kind) > 1 else ""
            names.append(k8s_name(f"{base}-{kind}{suffix}"))
        return names

    def _channel(
        self, name: str, kind: str, block: dict[str, Any], send_resolved: bool, route: dict[str, Any] | None
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": kind, kind: block}
        if not send_resolved:
            spec["sendResolved"] = False
        if route is not None:
            spec["route"] = route
        return {"apiVersion": API_VERSION, "kind": "NotificationChannel", "metadata": self.meta(name), "spec": spec}

    # Inhibit rules.
    def inhibit_rules(self) -> list[dict[str, Any]]:
        scope = {"name": "namespace", "value": self.namespace}
        rules = []
        for i, data in enumerate(self.spec.get("inhibitRules") or []):
            fields = Fields(data, f"spec.inhibitRules[{i}]", self.report, upstream="InhibitRule")
            sides: dict[str, list[dict[str, Any]]] = {}
            valid = True
            for source, target in (("sourceMatch", "sourceMatchers"), ("targetMatch", "targetMatchers")):
                sides[target] = [scope]
                for j, raw in enumerate(fields.get(source) or []):
                    matcher = _matcher(raw, f"{fields.at(source)}[{j}]", self.report, self.v1alpha1)
                    valid = valid and matcher is not None
                    if matcher is not None and matcher not in sides[target]:
                        sides[target].append(matcher)
            rule: dict[str, Any] = dict(sides)
            if equal := fields.get("equal"):
                rule["equal"] = list(equal)
            fields.finish()
            if not valid:
                self.report(fields.path, "not converted: a matcher is invalid")
            elif errors := _errors(InhibitRule, rule):
                self.report(fields.path, f"not converted: {'; '.join(errors)}")
            else:
                rules.append(rule)
        return rules

    def convert(self) -> list[dict[str, Any]]:
        self.intervals()
        self.receivers_of()
        route = self.spec.get("route")
        if route is not None:
            self.walk(route, "spec.route", 0, None)
        objects = self.channels()
        inhibit = self.inhibit_rules()
        self.spec.finish()
        if self.windows or inhibit:
            spec: dict[str, Any] = {}
            if self.windows:
                spec["matchers"] = [NEVER_MATCHER]
                spec["maintenanceWindows"] = self.windows
            if inhibit:
                spec["inhibitRules"] = inhibit
            meta = self.meta(self.policy)
            objects.append({"apiVersion": API_VERSION, "kind": "SuppressionPolicy", "metadata": meta, "spec": spec})
        return objects


def convert_alertmanager_config(obj: dict[str, Any], metadata: dict[str, Any], report: Sink) -> list[dict[str, Any]]:
    """The NotificationChannels and the SuppressionPolicy for one AlertmanagerConfig manifest
    (`metadata`: theirs, the name replaced per object); every field that does not map is given to
    `report(path, reason)`."""
    return _Converter(obj, metadata, report).convert()
