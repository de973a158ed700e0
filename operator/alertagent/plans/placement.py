"""Which clusters should include an object (pure): the input of "not selected" and "unknown target"
statuses, so a status never says Ready for an object that is live nowhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.common import LabelSelector
from ..render.selection import includes, target_key
from ..status import Placement


@dataclass(frozen=True)
class World:
    """The AlertmanagerClusters there are (`namespace/name` → the cluster, None when its spec is
    invalid) and the namespaces' labels: what decides which clusters include an object."""

    clusters: Mapping[str, AlertmanagerCluster | None] = field(default_factory=dict)
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def place(
        self,
        kind: str,
        namespace: str,
        labels: Mapping[str, str] | None,
        targets: list[str] | None,
        cluster_selector: LabelSelector | None = None,
    ) -> Placement:
        """`kind` is AlertRule, NotificationChannel or SuppressionPolicy; an object that is not
        enabled is placed by its caller, not here."""
        selecting = []
        for key, cluster in sorted(self.clusters.items()):
            if cluster is None:
                continue
            selectors = cluster.spec.selectors
            selector = {
                "AlertRule": selectors.alert_rules,
                "NotificationChannel": selectors.notification_channels,
                "SuppressionPolicy": selectors.suppression_policies,
            }[kind]
            ns_labels = self.namespace_labels.get(namespace)
            if includes(cluster, selector, namespace, labels, ns_labels, targets, cluster_selector):
                selecting.append(key)
        unknown = sorted({target_key(t, namespace) for t in targets or []} - set(self.clusters))
        return Placement(tuple(selecting), tuple(unknown))
