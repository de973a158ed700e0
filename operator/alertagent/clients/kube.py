"""Thin, blocking wrappers around the Kubernetes API. Call them from threads (`asyncio.to_thread`)
or sync Kopf handlers, never directly on the event loop.

Objects go in and come out as plain dicts (the API's JSON shape), over urllib3 (one pool per
client, thread-safe) with the credentials of a `clients.connection.Connection`. Every call raises
`clients.connection.ApiError` on an API error other than the ones it documents as handled (a 404
on read or delete, a 409 on create), and urllib3's `HTTPError` when the API server cannot be reached."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

import urllib3

from ..api.base import GROUP, VERSION
from ..plans.configmaps import ConfigMapPlan
from .connection import ApiError, Connection, load_connection

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
    """The operator's Kubernetes client: one connection pool of up to `pool_size` connections (give
    the number of threads that share it), made at start.

    `core` is the kubernetes package's typed CoreV1Api over the same connection, imported on first
    use: only rare paths (operator-mode delivery, the sidecar) ask for it."""

    def __init__(
        self,
        connection: Connection | None = None,
        request_timeout_seconds: float = 30.0,
        pool_size: int = 10,
        retries: bool | int | None = None,
    ) -> None:
        self.connection = connection or load_connection()
        self.timeout = request_timeout_seconds  # every call below: a hung API server never hangs a step
        self.pool = _pool(self.connection, pool_size, retries)  # retries: urllib3's (None: its default, 3)

    @cached_property
    def api(self) -> Any:
        """A kubernetes package `ApiClient` with this connection (imported on first use)."""
        from kubernetes import client  # noqa: PLC0415 - ~14 MiB the operator never needs otherwise

        configuration = client.Configuration(host=self.connection.server)
        configuration.ssl_ca_cert, configuration.verify_ssl = self.connection.ca_file, not self.connection.insecure
        configuration.cert_file, configuration.key_file = self.connection.cert_file, self.connection.key_file
        configuration.proxy = self.connection.proxy
        if self.connection.ca_data:
            configuration.ssl_ca_cert = None
            configuration.ca_cert_data = self.connection.ca_data
        # The client asks its hook only for a key it already has: set it, then keep it current.
        self._refresh_authorization(configuration)
        configuration.refresh_api_key_hook = self._refresh_authorization
        return client.ApiClient(configuration)

    def _refresh_authorization(self, configuration: Any) -> None:
        authorization = self.connection.authorization()
        configuration.api_key = {"BearerToken": authorization} if authorization else {}

    @cached_property
    def core(self) -> Any:
        """The typed CoreV1Api (imported on first use)."""
        from kubernetes import client  # noqa: PLC0415

        return client.CoreV1Api(self.api)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str | int | bool] | None = None,
        content_type: str = "application/json",
        stream: bool = False,
        accept: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        """One API request: the answer's JSON (None when empty), or with `stream` the open urllib3
        response (a watch: read it, then `release_conn()`). `accept` may ask for another
        representation (e.g. metadata only: `application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`;
        `text/plain` answers text). `timeout`: seconds (default: the client's; a stream has none but
        its connect timeout). Raises ApiError for a status outside 2xx."""
        headers = {"Accept": accept, "Content-Type": content_type}
        if (authorization := self.connection.authorization()) is not None:
            headers["Authorization"] = authorization
        url = self.connection.server + path
        if query:
            url += "?" + urlencode({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in query.items()})
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        limit = timeout or self.timeout
        response = self.pool.request(
            method,
            url,
            body=data,
            headers=headers,
            preload_content=not stream,
            timeout=urllib3.Timeout(connect=limit, read=None) if stream else urllib3.Timeout(total=limit),
        )
        if not 200 <= response.status <= 299:
            text = response.data.decode(errors="replace")
            response.release_conn()
            if response.status == 401:  # credentials rotated: read them again for the next request
                self.connection.forget_token()
            raise ApiError(response.status, response.reason or "", text)
        if stream:
            return response
        if accept.startswith("text/"):  # e.g. a pod's log
            return response.data.decode(errors="replace")
        return json.loads(response.data) if response.data else None

    def close(self) -> None:
        self.pool.clear()

    def lister(self, plural: str, group: str = "", version: str = "v1") -> Callable[..., Any]:
        """A list function over JSON for `clients.listwatch.ListWatcher` (called with the namespace
        or none, a `label_selector`, and for a watch `watch=True` and the watch's parameters)."""
        base = f"/api/{version}" if not group else f"/apis/{group}/{version}"

        def list_fn(namespace: str | None = None, **params: Any) -> Any:
            path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
            watching = bool(params.pop("watch", False))
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
        except ApiError as err:
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
            except ApiError as err:
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
        except ApiError as err:
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
        except ApiError as err:
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


def _pool(connection: Connection, size: int, retries: bool | int | None) -> urllib3.PoolManager:
    """A urllib3 pool for the connection's server (through its proxy, if any)."""
    options: dict[str, Any] = {"num_pools": 2, "maxsize": size}
    if retries is not None:
        options["retries"] = retries
    if connection.server.startswith("https"):
        options |= {"ssl_context": connection.ssl_context(), "server_hostname": connection.tls_server_name}
        if connection.insecure:
            options |= {"cert_reqs": "CERT_NONE", "assert_hostname": False}
    if connection.proxy:
        return urllib3.ProxyManager(connection.proxy, **options)
    return urllib3.PoolManager(**options)
