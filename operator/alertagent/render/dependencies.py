"""Dependency-aware suppression (pure): inhibit rules from the service dependency graph.

For every Service S with dependants (nodes that call S, directly or through up to `maxDepth` hops),
one inhibit rule per dependants' namespace: an alert matching the policy's source matchers and naming
S (`service="S"`, `namespace="<S's namespace>"`) inhibits alerts naming any of those dependants
(`service=~"a|b"`, `namespace="<their namespace>"`). So a firing database alert mutes the api above it
and the frontend above that, and they page again once it resolves.

Members of one dependency cycle never inhibit each other: otherwise two failing services in a cycle
would mute each other and nobody would be paged. Ingress nodes are entry points, not alert subjects,
and are left out; a workload no Service selects is named by the workload's name.
"""

from __future__ import annotations

from typing import Any

from ..api.suppressionpolicy import DependencySuppression
from ..discovery.snapshot import Graph
from .matchers import matcher_text


def _name_matcher(label: str, names: list[str]) -> str:
    return f'{label}="{names[0]}"' if len(names) == 1 else f'{label}=~"{"|".join(names)}"'


def dependency_inhibit_rules(
    suppression: DependencySuppression, graph: Graph, namespace: str | None = None
) -> list[dict[str, Any]]:
    """The generated inhibit rules, sorted; `namespace` keeps sources and targets inside it (a tenant's
    policy under namespace isolation)."""
    nodes = {n.id: n for n in graph.nodes}
    cycle_of = {member: cycle for cycle in graph.cycles for member in cycle}
    source = [matcher_text(m) for m in suppression.source_matchers]
    target = [matcher_text(m) for m in suppression.target_matchers or []]
    service_label, namespace_label = suppression.service_label, suppression.namespace_label
    rules = []
    for node in graph.nodes:
        if node.kind != "service" or (namespace is not None and node.namespace != namespace):
            continue
        cycle = cycle_of.get(node.id, ())
        by_namespace: dict[str, set[str]] = {}
        for dependant_id in graph.upstream(node.id, suppression.max_depth):
            dependant = nodes.get(dependant_id)
            if dependant is None or dependant.kind == "ingress" or dependant_id in cycle:
                continue
            if namespace is None or dependant.namespace == namespace:
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
