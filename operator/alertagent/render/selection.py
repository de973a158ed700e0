"""Which objects an AlertmanagerCluster includes (pure).

An object is included when the cluster's selectors for its kind include it (the cluster owner decides
what enters the stack) and, when the object narrows its targets (`spec.targets` or
`spec.clusterSelector`), the cluster is one of them.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..api.alertmanagercluster import AlertmanagerCluster, ResourceSelector
from ..api.common import LabelSelector
from ..common.identity import ObjectRef


def matches(selector: LabelSelector | None, labels: Mapping[str, str] | None) -> bool:
    """Kubernetes label selector semantics; None and the empty selector match everything."""
    if selector is None:
        return True
    labels = labels or {}
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.match_expressions or []:
        present = req.key in labels
        values = set(req.values or [])
        ok = {
            "In": present and labels.get(req.key) in values,
            "NotIn": not present or labels.get(req.key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[req.operator]
        if not ok:
            return False
    return True


def resource_selected(
    selector: ResourceSelector,
    namespace: str,
    labels: Mapping[str, str] | None,
    namespace_labels: Mapping[str, str] | None,
) -> bool:
    if selector.namespaces is not None and namespace not in selector.namespaces:
        return False
    if selector.namespace_selector is not None and not matches(selector.namespace_selector, namespace_labels):
        return False
    return matches(selector.label_selector, labels)


def targeted(
    cluster: AlertmanagerCluster,
    object_namespace: str,
    targets: list[str] | None,
    cluster_selector: LabelSelector | None,
) -> bool:
    """Whether an object's own targeting (names or label selector) includes this cluster."""
    if targets is not None:
        own = ObjectRef.of(cluster).key
        return any(target_key(t, object_namespace) == own for t in targets)
    if cluster_selector is not None:
        return matches(cluster_selector, cluster.metadata.labels)
    return True


def includes(
    cluster: AlertmanagerCluster,
    selector: ResourceSelector,
    namespace: str,
    labels: Mapping[str, str] | None,
    namespace_labels: Mapping[str, str] | None,
    targets: list[str] | None,
    cluster_selector: LabelSelector | None = None,
) -> bool:
    """The cluster's selector for the object's kind includes it, and the object's own targeting
    (if any) names this cluster."""
    return resource_selected(selector, namespace, labels, namespace_labels) and targeted(
        cluster, namespace, targets, cluster_selector
    )


def target_key(target: str, object_namespace: str) -> str:
    """A `spec.targets` entry as `namespace/name` (a bare name is in the object's namespace)."""
    return target if "/" in target else f"{object_namespace}/{target}"
