"""The gateway's Kubernetes access, for the incident engine only (blocking: call through
`asyncio.to_thread`): its Lease (coordination.k8s.io/v1), its Incidents, the service graph
ConfigMaps the operator publishes, and, for incident analysis, read-only lists of the workloads,
pods, Events and Services of a namespace and a pod's log tail. Nothing else: the gateway's channels
still come from its files, and it never reads Secrets.

Every call raises `GatewayKubeError` (the HTTP status, or None when the API server was not reached)
for an answer it does not document as handled, so callers need no Kubernetes client types."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from urllib3.exceptions import HTTPError as Urllib3Error

from ..api.base import GROUP, VERSION
from ..discovery.store import GRAPH_CONFIGMAP, PART_ANNOTATION, part_name
from .connection import ApiError, ConfigError, load_connection
from .kube import MERGE, Kube

LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
# kind -> (API path, plural): what incident analysis reads, and nothing more (the chart's gateway role).
ANALYSIS_KINDS: dict[str, tuple[str, str]] = {
    "services": ("/api/v1", "services"),
    "pods": ("/api/v1", "pods"),
    "events": ("/api/v1", "events"),
    "deployments": ("/apis/apps/v1", "deployments"),
    "replicasets": ("/apis/apps/v1", "replicasets"),
    "statefulsets": ("/apis/apps/v1", "statefulsets"),
    "daemonsets": ("/apis/apps/v1", "daemonsets"),
    "controllerrevisions": ("/apis/apps/v1", "controllerrevisions"),
}
LIST_LIMIT = 500  # objects of one kind per namespace read for one analysis
# Comma-separated namespaces the gateway's Incidents live in (the chart sets the operator's
# watchNamespaces): Incidents are then listed in each, as namespaced Roles allow, never cluster-wide.
NAMESPACES_ENV = "ALERTAGENT_GATEWAY_NAMESPACES"


class GatewayKubeError(RuntimeError):
    """A Kubernetes API call failed: `status` is the HTTP status, None when the server was not reached."""

    def __init__(self, what: str, status: int | None, reason: str) -> None:
        super().__init__(f"{what}: HTTP {status} {reason}".strip() if status else f"{what}: {reason}")
        self.status = status


def connect(
    kubeconfig: str | None = None, timeout: float = 10.0, namespaces: Sequence[str] | None = None
) -> GatewayKube:
    """The client from `kubeconfig`, else the in-cluster service account, else $KUBECONFIG or
    ~/.kube/config, confined to `namespaces` (None: those of $ALERTAGENT_GATEWAY_NAMESPACES,
    comma-separated; none: every namespace). Raises GatewayKubeError when none is usable."""
    if namespaces is None:
        namespaces = [n.strip() for n in os.environ.get(NAMESPACES_ENV, "").split(",") if n.strip()]
    try:
        return GatewayKube(Kube(load_connection(kubeconfig), request_timeout_seconds=timeout), namespaces)
    except (ConfigError, OSError) as err:  # OSError: TLS credentials that do not load (ssl.SSLError)
        reason = " ".join(str(err).split()) or type(err).__name__
        where = f"{kubeconfig}: " if kubeconfig else ""
        raise GatewayKubeError("no Kubernetes configuration", None, where + reason) from None


class GatewayKube:
    """Leases, Incidents and the graph's ConfigMaps through one `Kube`. `namespaces` (sorted) are the
    only ones Incidents are listed in; empty: every namespace, with one cluster-wide list."""

    def __init__(self, kube: Kube, namespaces: Sequence[str] = ()) -> None:
        self.kube = kube
        self.namespaces = tuple(sorted(set(namespaces)))

    def _call(
        self, what: str, method: str, path: str, body: Any = None, handled: tuple[int, ...] = (), **kw: Any
    ) -> Any:
        """The answer's JSON; for a status in `handled`, that status (an int) instead."""
        try:
            return self.kube.request(method, path, body, **kw)
        except ApiError as err:
            if err.status in handled:
                return int(err.status)
            raise GatewayKubeError(what, err.status, str(err.reason or "")) from None
        except (Urllib3Error, OSError) as err:
            raise GatewayKubeError(what, None, f"the API server is unreachable ({type(err).__name__})") from None

    # -- Lease ---------------------------------------------------------------------------------------
    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease, or None when there is none."""
        found = self._call(
            f"get lease {namespace}/{name}", "GET", f"{LEASES.format(namespace=namespace)}/{name}", handled=(404,)
        )
        return None if found == 404 else found

    def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The Lease as created, or None when another replica created it first (409)."""
        name = body["metadata"]["name"]
        made = self._call(
            f"create lease {namespace}/{name}", "POST", LEASES.format(namespace=namespace), body, handled=(409,)
        )
        return None if made == 409 else made

    def replace_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """PUT the Lease (body with the resourceVersion read): the Lease as written, or None when it
        changed meanwhile (409) or is gone (404)."""
        name = body["metadata"]["name"]
        path = f"{LEASES.format(namespace=namespace)}/{name}"
        done = self._call(f"update lease {namespace}/{name}", "PUT", path, body, handled=(404, 409))
        return None if isinstance(done, int) else done

    # -- Incidents -----------------------------------------------------------------------------------
    def _incidents(self, namespace: str | None = None, name: str = "") -> str:
        base = f"/apis/{GROUP}/{VERSION}"
        path = f"{base}/namespaces/{namespace}/incidents" if namespace else f"{base}/incidents"
        return path + (f"/{name}" if name else "")

    def list_incidents(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """Incidents with all these labels: in every namespace, or one list in each of `namespaces`
        (a cluster's Incidents go to the namespaces it handles, which these include)."""
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        query = {"labelSelector": selector}
        if not self.namespaces:
            return list(self._call("list incidents", "GET", self._incidents(), query=query).get("items") or [])
        found: list[dict[str, Any]] = []
        for namespace in self.namespaces:
            listed = self._call(f"list incidents in {namespace}", "GET", self._incidents(namespace), query=query)
            found += listed.get("items") or []
        return found

    def get_incident(self, namespace: str, name: str) -> dict[str, Any] | None:
        """One Incident, or None when there is none."""
        found = self._call(f"get incident {namespace}/{name}", "GET", self._incidents(namespace, name), handled=(404,))
        return None if found == 404 else found

    def create_incident(self, namespace: str, body: Mapping[str, Any]) -> bool:
        """Create an Incident; False when one of that name is there already (409)."""
        name = body["metadata"]["name"]
        made = self._call(
            f"create incident {namespace}/{name}", "POST", self._incidents(namespace), body, handled=(409,)
        )
        return bool(made != 409)

    def patch_incident_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> bool:
        """Merge-patch the status subresource; False when the Incident is gone (404)."""
        path = self._incidents(namespace, name) + "/status"
        done = self._call(
            f"patch incident {namespace}/{name}", "PATCH", path, {"status": status}, handled=(404,), content_type=MERGE
        )
        return bool(done != 404)

    def delete_incident(self, namespace: str, name: str) -> None:
        """Delete an Incident; one already gone is fine."""
        self._call(f"delete incident {namespace}/{name}", "DELETE", self._incidents(namespace, name), handled=(404,))

    # -- the service graph ---------------------------------------------------------------------------
    def graph_version(self, namespace: str) -> dict[str, str] | None:
        """The annotations of the graph's first ConfigMap (metadata only: its content hash and part
        count), or None when there is none."""
        path = f"/api/v1/namespaces/{namespace}/configmaps/{GRAPH_CONFIGMAP}"
        found = self._call("read the service graph's metadata", "GET", path, handled=(404,), accept=METADATA_ONLY)
        if found == 404:
            return None
        return dict((found.get("metadata") or {}).get("annotations") or {})

    def graph_configmaps(self, namespace: str) -> list[dict[str, Any]]:
        """The graph's ConfigMaps, read by name (part 0 first, then the parts it counts), for
        `discovery.store.assemble`; the ones missing are left out (assemble says so)."""
        base = f"/api/v1/namespaces/{namespace}/configmaps"
        first = self._call("read the service graph", "GET", f"{base}/{GRAPH_CONFIGMAP}", handled=(404,))
        if first == 404:
            return []
        annotations = (first.get("metadata") or {}).get("annotations") or {}
        count = int(str(annotations.get(PART_ANNOTATION, "0/1")).split("/")[1])
        found = [first]
        for index in range(1, count):
            part = self._call("read the service graph", "GET", f"{base}/{part_name(index)}", handled=(404,))
            if part != 404:
                found.append(part)
        return found

    # -- incident analysis (read-only) ---------------------------------------------------------------
    def list_for_analysis(self, kind: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        """Up to LIST_LIMIT objects of `kind` (an ANALYSIS_KINDS key) in `namespace`, optionally by
        label `selector`; [] when the namespace is gone. Raises GatewayKubeError (e.g. 403 without the
        grant)."""
        base, plural = ANALYSIS_KINDS[kind]
        query: dict[str, str | int] = {"limit": LIST_LIMIT}
        if selector:
            query["labelSelector"] = selector
        path = f"{base}/namespaces/{namespace}/{plural}"
        found = self._call(f"list {plural} in {namespace}", "GET", path, query=query, handled=(404,))
        return [] if found == 404 else list(found.get("items") or [])

    def pod_log(self, namespace: str, pod: str, container: str | None, lines: int) -> str:
        """The last `lines` lines (at most 64 KiB) of a pod's (container's) log; "" when the pod is
        gone. Raises GatewayKubeError (e.g. 400 while the container has not started)."""
        query: dict[str, str | int] = {"tailLines": lines, "limitBytes": 64 * 1024}
        if container:
            query["container"] = container
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        what = f"read the log of pod {namespace}/{pod}"
        found = self._call(what, "GET", path, query=query, handled=(404,), accept="text/plain")
        return "" if found == 404 else str(found)
