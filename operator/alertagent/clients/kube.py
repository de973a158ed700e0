"""Thin, blocking wrappers around the official Kubernetes client. Call them from threads
(`asyncio.to_thread`) or sync Kopf handlers, never directly on the event loop.

Objects go in and come out as plain dicts (the API's JSON shape). Every call raises
`kubernetes.client.exceptions.ApiException` on an API error other than the ones it documents as
handled (a 404 on read or delete, a 409 on create)."""

from __future__ import annotations

from collections.abc import Mapping
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


class NameTakenError(RuntimeError):
    """An object AlertAgent would write exists and belongs to someone else."""


class Kube:
    """The operator's Kubernetes client: one `ApiClient` (connection pool), created at start."""

    def __init__(self, api: client.ApiClient | None = None, request_timeout_seconds: float = 30.0) -> None:
        self.api = api or load_api_client()
        self.timeout = request_timeout_seconds  # every call below: a hung API server never hangs a step
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.apps = client.AppsV1Api(self.api)

    def plain(self, obj: Any) -> dict[str, Any]:
        """A client model as the API's JSON dict."""
        result: dict[str, Any] = self.api.sanitize_for_serialization(obj)
        return result

    def list_config_maps(self, namespace: str, labels: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """ConfigMaps with all these labels, by name."""
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        items = self.core.list_namespaced_config_map(
            namespace, label_selector=selector, _request_timeout=self.timeout
        ).items
        return {cm.metadata.name: self.plain(cm) for cm in items}

    def put_config_map(self, namespace: str, body: dict[str, Any], exists: bool) -> None:
        """Create, or patch the data, labels and our annotations of, a ConfigMap (others' annotations
        stay). A create that finds the ConfigMap there (409) patches it only when it carries the same
        labels (it is ours); else raises NameTakenError naming whose it is."""
        if not exists:
            try:
                self.core.create_namespaced_config_map(namespace, body, _request_timeout=self.timeout)
                return
            except ApiException as err:
                if err.status != 409:
                    raise
            name = body["metadata"]["name"]
            current = self.core.read_namespaced_config_map(name, namespace, _request_timeout=self.timeout)
            theirs, ours = current.metadata.labels or {}, body["metadata"].get("labels") or {}
            if any(theirs.get(k) != v for k, v in ours.items()):
                owner = ", ".join(f"{k}={v}" for k, v in sorted(theirs.items())) or "no labels"
                raise NameTakenError(f"ConfigMap {namespace}/{name} exists and is not this writer's ({owner})")
        self.core.patch_namespaced_config_map(body["metadata"]["name"], namespace, body, _request_timeout=self.timeout)

    def delete_config_map(self, namespace: str, name: str) -> None:
        """Delete a ConfigMap; one already gone (404) is fine."""
        try:
            self.core.delete_namespaced_config_map(name, namespace, _request_timeout=self.timeout)
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

    def patch_status(self, plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch the status subresource of one of our objects; one deleted meanwhile is skipped."""
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, plural, name, {"status": status}, _request_timeout=self.timeout
            )
        except ApiException as err:
            if err.status != 404:
                raise

    def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One of our objects, or None when it does not exist."""
        try:
            body: dict[str, Any] = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, _request_timeout=self.timeout
            )
            return body
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def read_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A ConfigMap as a plain dict, or None when it does not exist."""
        try:
            config_map = self.core.read_namespaced_config_map(name, namespace, _request_timeout=self.timeout)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return self.plain(config_map)

    def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Secret as a plain dict (data still base64), or None when it does not exist."""
        try:
            secret = self.core.read_namespaced_secret(name, namespace, _request_timeout=self.timeout)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return self.plain(secret)

    def put_secret(self, namespace: str, body: dict[str, Any], exists: bool) -> None:
        """Create a Secret, or patch the one there."""
        if exists:
            self.core.patch_namespaced_secret(body["metadata"]["name"], namespace, body, _request_timeout=self.timeout)
        else:
            self.core.create_namespaced_secret(namespace, body, _request_timeout=self.timeout)
