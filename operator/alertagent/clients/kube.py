"""Thin, blocking wrappers around the official Kubernetes client. Call them from threads
(`asyncio.to_thread`) or sync Kopf handlers, never directly on the event loop.

Objects go in and come out as plain dicts (the API's JSON shape). Every call raises
`kubernetes.client.exceptions.ApiException` on an API error other than the ones it documents as
handled (a 404 on read or delete, a 409 on create)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ..api.base import GROUP, VERSION
from ..plans.configmaps import ConfigMapPlan


def load_api_client() -> client.ApiClient:
    """An API client from the in-cluster service account, else the kubeconfig (KUBECONFIG or ~/.kube)."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


STRATEGIC_MERGE = "application/strategic-merge-patch+json"  # built-in kinds: maps merge, lists by key
MERGE = "application/merge-patch+json"  # custom resources (no strategic merge)
EVENT_SOURCE = "alertagent"


def status_path(plural: str, namespace: str, name: str) -> str:
    """The status subresource of one of our objects."""
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}/status"


def event_body(
    about: Mapping[str, Any], type: str, reason: str, message: str, component: str = EVENT_SOURCE
) -> dict[str, Any]:
    """A core/v1 Event on an object (`about`: its manifest, or any dict with apiVersion, kind and the
    metadata that names it), as `kubectl describe` shows them, from `component`; the message is cut
    to the API's 1,024 characters."""
    meta = about.get("metadata") or {}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": about.get("apiVersion"),
            "kind": about.get("kind"),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        },
        "type": type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


class NameTakenError(RuntimeError):
    """An object AlertAgent would write exists and belongs to someone else."""


class Kube:
    """The operator's Kubernetes client: one `ApiClient` (connection pool), created at start.

    Built-in kinds are read and written as JSON through the client's transport (`request`): the typed
    APIs (`core`, `apps`) cost ~0.9 s and ~25 MiB to import and a pydantic model per object read, and
    are made only when a rare path (operator-mode delivery, the CLI) asks for them."""

    def __init__(self, api: client.ApiClient | None = None, request_timeout_seconds: float = 30.0) -> None:
        self.api = api or load_api_client()
        self.timeout = request_timeout_seconds  # every call below: a hung API server never hangs a step

    @cached_property
    def custom(self) -> Any:
        """The typed CustomObjectsApi (imported on first use: ~45 ms at every start otherwise)."""
        return client.CustomObjectsApi(self.api)

    @cached_property
    def core(self) -> Any:
        """The typed CoreV1Api (imported on first use)."""
        return client.CoreV1Api(self.api)

    @cached_property
    def apps(self) -> Any:
        """The typed AppsV1Api (imported on first use)."""
        return client.AppsV1Api(self.api)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str | int | bool] | None = None,
        content_type: str = "application/json",
        stream: bool = False,
        accept: str = "application/json",
    ) -> Any:
        """One API request: the answer's JSON (None when empty), or with `stream` the open response
        (a watch). `accept` may ask for another representation (e.g. metadata only:
        `application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`; `text/plain` answers text).
        Raises ApiException for a status outside 2xx."""
        headers = {"Accept": accept, "Content-Type": content_type}
        _method, url, headers, data, _post = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=[(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (query or {}).items()],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        timeout = None if stream else self.timeout
        response = self.api.call_api(method, url, header_params=headers, body=data, _request_timeout=timeout)
        if stream and 200 <= response.status <= 299:
            return response.response
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=response.data.decode(errors="replace"), data=None)
        if accept.startswith("text/"):  # e.g. a pod's log
            return response.data.decode(errors="replace")
        return json.loads(response.data) if response.data else None

    def lister(self, plural: str, group: str = "", version: str = "v1") -> Callable[..., Any]:
        """A list function over JSON for `clients.listwatch.ListWatcher` (called with the namespace
        or none, a `label_selector`, and for a watch `watch=True` and the watch's parameters)."""
        base = f"/api/{version}" if not group else f"/apis/{group}/{version}"

        def list_fn(namespace: str | None = None, **params: Any) -> Any:
            path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
            watching = bool(params.pop("watch", False))
            params.pop("_preload_content", None)
            names = {"label_selector": "labelSelector", "resource_version": "resourceVersion"}
            names |= {"timeout_seconds": "timeoutSeconds", "allow_watch_bookmarks": "allowWatchBookmarks"}
            query = {names.get(k, k): v for k, v in params.items() if v is not None}
            if watching:
                query["watch"] = True
            return self.request("GET", path, query=query, stream=watching)

        return list_fn

    def _config_maps(self, namespace: str, name: str = "") -> str:
        return f"/api/v1/namespaces/{namespace}/configmaps" + (f"/{name}" if name else "")

    def _secrets(self, namespace: str, name: str = "") -> str:
        return f"/api/v1/namespaces/{namespace}/secrets" + (f"/{name}" if name else "")

    def _read(self, path: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.request("GET", path)
            return found
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def list_config_maps(self, namespace: str, labels: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """ConfigMaps with all these labels, by name."""
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        listed = self.request("GET", self._config_maps(namespace), query={"labelSelector": selector})
        return {cm["metadata"]["name"]: cm for cm in listed.get("items") or []}

    def put_config_map(self, namespace: str, body: dict[str, Any], exists: bool) -> None:
        """Create, or patch the data, labels and our annotations of, a ConfigMap (others' annotations
        stay). A create that finds the ConfigMap there (409) patches it only when it carries the same
        labels (it is ours); else raises NameTakenError naming whose it is."""
        name = body["metadata"]["name"]
        if not exists:
            try:
                self.request("POST", self._config_maps(namespace), body)
                return
            except ApiException as err:
                if err.status != 409:
                    raise
            current = self.request("GET", self._config_maps(namespace, name))
            theirs, ours = current["metadata"].get("labels") or {}, body["metadata"].get("labels") or {}
            if any(theirs.get(k) != v for k, v in ours.items()):
                owner = ", ".join(f"{k}={v}" for k, v in sorted(theirs.items())) or "no labels"
                raise NameTakenError(f"ConfigMap {namespace}/{name} exists and is not this writer's ({owner})")
        self.request("PATCH", self._config_maps(namespace, name), body, content_type=STRATEGIC_MERGE)

    def delete_config_map(self, namespace: str, name: str) -> None:
        """Delete a ConfigMap; one already gone (404) is fine."""
        try:
            self.request("DELETE", self._config_maps(namespace, name))
        except ApiException as err:
            if err.status != 404:
                raise

    def apply_config_maps(self, plan: ConfigMapPlan) -> int:
        """Carry out a plan: every write, then every delete (so readers never miss a part). Returns
        the number of API writes made."""
        for write in plan.writes:
            self.put_config_map(plan.namespace, write.body, write.exists)
        for name in plan.deletes:
            self.delete_config_map(plan.namespace, name)
        return plan.changes

    def patch_status(self, plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, Any] | None:
        """Merge-patch the status subresource of one of our objects; returns the object as written, or
        None when it was deleted meanwhile (skipped)."""
        try:
            path = status_path(plural, namespace, name)
            body: dict[str, Any] = self.request("PATCH", path, {"status": status}, content_type=MERGE)
            return body
        except ApiException as err:
            if err.status != 404:
                raise
            return None

    def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One of our objects, or None when it does not exist."""
        return self._read(f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}")

    def read_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A ConfigMap as a plain dict, or None when it does not exist."""
        return self._read(self._config_maps(namespace, name))

    def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Secret as a plain dict (data still base64), or None when it does not exist."""
        return self._read(self._secrets(namespace, name))

    def post_event(
        self, about: Mapping[str, Any], type: str, reason: str, message: str, component: str = EVENT_SOURCE
    ) -> None:
        """Record a core/v1 Event on an object (`event_body`)."""
        event = event_body(about, type, reason, message, component)
        self.request("POST", f"/api/v1/namespaces/{event['metadata']['namespace']}/events", event)

    def put_secret(self, namespace: str, body: dict[str, Any], exists: bool) -> None:
        """Create a Secret, or patch the one there."""
        if exists:
            path = self._secrets(namespace, body["metadata"]["name"])
            self.request("PATCH", path, body, content_type=STRATEGIC_MERGE)
        else:
            self.request("POST", self._secrets(namespace), body)
