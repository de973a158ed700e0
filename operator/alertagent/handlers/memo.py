"""How handlers reach the operator state: Kopf passes `memo`, a shallow copy of the operator's, per object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from ..api.alertmanagercluster import AlertmanagerCluster
from ..plans.placement import World
from ..reconcile.state import OperatorState, StatusInputs
from ..status import ShardReport


def state_of(memo: Any) -> OperatorState:
    state = memo["state"]
    assert isinstance(state, OperatorState), "run the operator with memo=kopf.Memo(state=OperatorState...)"
    return state


def world_of(
    clusters: kopf.Index[str, AlertmanagerCluster | None], namespace_labels: kopf.Index[str, dict[str, str]]
) -> World:
    """The clusters there are and the namespaces' labels, copied from their indexes (on the loop)."""
    return World(
        {key: next(iter(models)) for key, models in clusters.items()},
        {name: next(iter(labels)) for name, labels in namespace_labels.items()},
    )


def status_inputs(
    state: OperatorState,
    shard_reports: kopf.Index[str, ShardReport],
    clusters: kopf.Index[str, AlertmanagerCluster | None],
    namespace_labels: kopf.Index[str, dict[str, str]],
) -> Callable[[], StatusInputs]:
    """A copier of what AlertRule statuses are computed from (the rule index and Kopf's), for the
    status writer (Kopf's indexes are live views: the copy, made on the loop when the writer runs, is
    current)."""

    def copy() -> StatusInputs:
        return StatusInputs(
            {ref: entry for ref, (_key, entry, _seq) in state.rules.items()},
            {f: list(r) for f, r in shard_reports.items()},
            world_of(clusters, namespace_labels),
        )

    return copy
