"""Reading the graph the operator published, from the cluster (blocking; for `alertagent graph --live`)."""

from __future__ import annotations

import time

from ..discovery.store import GRAPH_LABELS, IncompleteGraphError, assemble
from .kube import Kube

ATTEMPTS = 5


def _graph_namespace(kube: Kube) -> str:
    selector = ",".join(f"{k}={v}" for k, v in sorted(GRAPH_LABELS.items()))
    listed = kube.request("GET", "/api/v1/configmaps", query={"labelSelector": selector})
    found: set[str] = {cm["metadata"]["namespace"] for cm in listed.get("items") or []}
    if len(found) != 1:
        where = f"in {len(found)} namespaces ({', '.join(sorted(found))})" if found else "in no namespace"
        raise LookupError(f"the service graph ConfigMap is {where}: name the operator's with --namespace")
    return found.pop()


def read_live_graph(kube: Kube, namespace: str | None) -> str:
    """The graph's JSON text; a read that catches the operator mid-write is retried (0.5 s apart,
    5 reads). Raises LookupError when no complete graph is found."""
    namespace = namespace or _graph_namespace(kube)
    for attempt in range(ATTEMPTS):
        try:
            return assemble(kube.list_config_maps(namespace, GRAPH_LABELS).values())
        except IncompleteGraphError as err:
            if attempt == ATTEMPTS - 1:
                raise LookupError(f"namespace {namespace}: {err}") from err
            time.sleep(0.5)
    raise AssertionError("unreachable")
