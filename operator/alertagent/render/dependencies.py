"""Dependency-aware suppression (pure): inhibit rules from the service dependency graph.

For every Service S with dependants (nodes that call S, directly or through up to `maxDepth` hops),
one inhibit rule per dependants' namespace: an alert matching the policy's source matchers and naming
S (`service="S"`, `namespace="<S's namespace>"`) inhibits alerts naming any of those dependants
(`service=~"a|b"`, `namespace="<their namespace>"`). So a firing database alert mutes the api above it
and the frontend above that, and they page again once it resolves.

The policy's own `matchers` select the alerts it may inhibit (as they select the alerts its windows
mute), never the upstream alert, which `sourceMatchers` alone choose. A matcher on the service label
or the namespace label is decided here, against each dependant's name and namespace, with
Alertmanager's semantics (pkg/labels/matcher.go `Matcher.Matches`, v0.25-v0.28: `=`/`!=` compare the
value, `=~`/`!~` match the RE2 expression anchored as `^(?:value)$`): a dependant it refuses is left out,
and a Service left with no dependant gets no rule. Every other matcher is added to the target side of
each rule. So the rules cover exactly the alerts the matchers select, and no rule is written that could
only ever match nothing.

Only the edges the policy selects count (`minConfidence`, `edgeClasses`; default: confidence 0.5 and
class `call`, so telemetry and unconfirmed catalog edges never inhibit; see discovery/confidence.py),
and cycles are those among the selected edges. Members of one dependency cycle never inhibit each
other: otherwise two failing services in a cycle would mute each other and nobody would be paged.
Ingress nodes are entry points, not alert subjects, and are left out; a workload no Service selects
is named by the workload's name.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

from ..api.common import Matcher
from ..api.suppressionpolicy import DependencySuppression
from ..common.regex import anchored
from ..discovery.confidence import EdgeSelection
from ..discovery.snapshot import Graph
from .matchers import matcher_text


def _name_matcher(label: str, names: list[str]) -> str:
    return f'{label}="{names[0]}"' if len(names) == 1 else f'{label}=~"{"|".join(names)}"'


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> Any:
    return re2.compile(anchored(pattern))  # the models accept only patterns that compile


def matches(matcher: Matcher, value: str) -> bool:
    """Whether a label with `value` satisfies the matcher, as Alertmanager decides it (an absent label
    is the empty value)."""
    if matcher.match_type in ("=", "!="):
        return (value == matcher.value) == (matcher.match_type == "=")
    return (_regex(matcher.value).search(value) is not None) == (matcher.match_type == "=~")


def selection_of(suppression: DependencySuppression, enforce_network_policies: bool) -> EdgeSelection:
    """The graph edges a policy's dependency suppression uses (whether NetworkPolicies are enforced is a
    fact of the cluster, not the policy's choice)."""
    return EdgeSelection(suppression.min_confidence, frozenset(suppression.edge_classes), enforce_network_policies)


def dependency_inhibit_rules(
    suppression: DependencySuppression,
    graph: Graph,
    namespace: str | None = None,
    matchers: Sequence[Matcher] = (),
) -> list[dict[str, Any]]:
    """The generated inhibit rules (`source_matchers`, `target_matchers`: matcher texts), sorted by the
    upstream Service, then the dependants' namespace. `namespace` keeps sources and targets inside it
    (a tenant's policy under namespace isolation); `matchers` are the policy's own (see the module
    docstring)."""
    graph = graph.with_selection(selection_of(suppression, graph.selection.enforce_network_policies))
    nodes = {n.id: n for n in graph.nodes}
    cycle_of = {member: cycle for cycle in graph.cycles for member in cycle}
    service_label, namespace_label = suppression.service_label, suppression.namespace_label
    on_name = [m for m in matchers if m.name == service_label]
    on_namespace = [m for m in matchers if m.name == namespace_label]
    narrowed = [matcher_text(m) for m in matchers if m.name not in (service_label, namespace_label)]
    source = [matcher_text(m) for m in suppression.source_matchers]
    target = [*narrowed, *(matcher_text(m) for m in suppression.target_matchers or [])]
    covered = {
        node.id
        for node in graph.nodes
        if node.kind != "ingress"
        and (namespace is None or node.namespace == namespace)
        and all(matches(m, node.name) for m in on_name)
        and all(matches(m, node.namespace) for m in on_namespace)
    }
    rules = []
    for node in graph.nodes:
        if node.kind != "service" or (namespace is not None and node.namespace != namespace):
            continue
        cycle = cycle_of.get(node.id, ())
        by_namespace: dict[str, set[str]] = {}
        for dependant_id in graph.upstream(node.id, suppression.max_depth):
            if dependant_id in covered and dependant_id not in cycle:
                dependant = nodes[dependant_id]
                by_namespace.setdefault(dependant.namespace, set()).add(dependant.name)
        for dependant_ns, names in sorted(by_namespace.items()):
            rules.append(
                {
                    "source_matchers": [
                        *source,
                        f'{service_label}="{node.name}"',
                        f'{namespace_label}="{node.namespace}"',
                    ],
                    "target_matchers": [
                        *target,
                        _name_matcher(service_label, sorted(names)),
                        f'{namespace_label}="{dependant_ns}"',
                    ],
                }
            )
    return rules
