"""Thin, blocking wrappers around the official Kubernetes client. Call them from threads
(`asyncio.to_thread`) or sync Kopf handlers, never directly on the event loop."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .api.base import GROUP, VERSION


@functools.cache
def api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def custom() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client())


def list_config_maps(namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """ConfigMaps by name, as plain dicts."""
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    items = core().list_namespaced_config_map(namespace, label_selector=selector).items
    return {cm.metadata.name: api_client().sanitize_for_serialization(cm) for cm in items}


def put_config_map(namespace: str, body: dict[str, Any], exists: bool) -> None:
    """Create, or replace the data, labels and our annotations of, a ConfigMap (others' annotations stay)."""
    name = body["metadata"]["name"]
    if not exists:
        try:
            core().create_namespaced_config_map(namespace, body)
            return
        except ApiException as err:
            if err.status != 409:
                raise
    core().patch_namespaced_config_map(name, namespace, body)


def delete_config_map(namespace: str, name: str) -> None:
    try:
        core().delete_namespaced_config_map(name, namespace)
    except ApiException as err:
        if err.status != 404:
            raise


def patch_status(plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
    try:
        custom().patch_namespaced_custom_object_status(GROUP, VERSION, namespace, plural, name, {"status": status})
    except ApiException as err:
        if err.status != 404:  # deleted meanwhile: nothing to report on
            raise


def get_object(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        body: dict[str, Any] = custom().get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        return body
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def read_secret(namespace: str, name: str) -> dict[str, Any] | None:
    """A Secret as a plain dict (data still base64), or None when it does not exist."""
    try:
        secret = core().read_namespaced_secret(name, namespace)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    result: dict[str, Any] = api_client().sanitize_for_serialization(secret)
    return result


def put_secret(namespace: str, body: dict[str, Any], exists: bool) -> None:
    if exists:
        core().patch_namespaced_secret(body["metadata"]["name"], namespace, body)
    else:
        core().create_namespaced_secret(namespace, body)
