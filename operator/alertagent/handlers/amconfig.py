"""The cluster's alertmanager.yaml: gather the channels and policies it selects, resolve their
credentials, render, validate the merged file (amtool when present), and write it to the cluster's
Secret only when its hash changed. A file that fails validation is not written: the previous Secret
stays and the error goes to the cluster's status. Blocking: run in a thread."""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any

from .. import kube
from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.base import GROUP, VERSION
from ..api.common import SecretKeyRef
from ..api.suppressionpolicy import SuppressionPolicy
from ..discovery.graph import Graph
from ..render.alertmanager import render_alertmanager
from ..render.rules import content_hash
from ..render.selection import includes
from ..settings import (
    CLUSTER_LABEL,
    COMPONENT_LABEL,
    CONTENT_HASH_ANNOTATION,
    LOADED_HASH_ANNOTATION,
    LOADED_TIME_ANNOTATION,
    MANAGED_BY,
    SYNC_ERROR_ANNOTATION,
)
from .notifications import models

ALERTMANAGER_COMPONENT = "alertmanager-config"


@dataclass
class AlertmanagerResult:
    config_hash: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    written: bool = False
    members: dict[tuple[str, str, str], str | None] = field(default_factory=dict)  # object → problem
    loaded_hash: str | None = None  # what the Alertmanager sidecar reports loaded (Secret annotations)
    loaded_time: str | None = None
    sync_error: str | None = None
    policies: list[SuppressionPolicy] = field(default_factory=list)  # the ones this cluster selects
    generated: dict[str, int] = field(default_factory=dict)  # policy "ns/name" → inhibit rules from the graph


def secret_name(cluster: AlertmanagerCluster) -> str:
    return cluster.spec.alertmanager.config_secret.name or f"{cluster.metadata.name}-alertmanager-config"


def check_config(text: str) -> str | None:
    """amtool's verdict on the merged file (None: valid, or amtool is not installed)."""
    amtool = shutil.which("amtool")
    if amtool is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        handle.write(text)
        handle.flush()
        result = subprocess.run([amtool, "check-config", handle.name], capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return None
    return " ".join((result.stdout + result.stderr).replace(handle.name, "alertmanager.yaml").split())[:2000]


def _resolver() -> Any:
    cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    def resolve(namespace: str, ref: SecretKeyRef) -> str | None:
        if (namespace, ref.name) not in cache:
            cache[namespace, ref.name] = kube.read_secret(namespace, ref.name)
        secret = cache[namespace, ref.name]
        value = ((secret or {}).get("data") or {}).get(ref.key)
        return None if value is None else base64.b64decode(value).decode()

    return resolve


def reconcile_alertmanager(
    body: dict[str, Any],
    channel_index: Any,
    policy_index: Any,
    namespace_labels: dict[str, dict[str, str]],
    probed_version: str | None,
    graph: Graph | None = None,
) -> AlertmanagerResult:
    cluster = AlertmanagerCluster.model_validate(body)
    selectors = cluster.spec.selectors

    def selected(obj: Any, selector: Any) -> bool:
        namespace = obj.metadata.namespace or ""
        labels = namespace_labels.get(namespace)
        return includes(cluster, selector, namespace, obj.metadata.labels, labels, obj.spec.targets)

    channels = [c for c in models(channel_index) if selected(c, selectors.notification_channels)]
    policies = [p for p in models(policy_index) if selected(p, selectors.suppression_policies)]
    version = cluster.spec.alertmanager.version or probed_version
    rendered = render_alertmanager(cluster, channels, policies, _resolver(), version=version, graph=graph)
    result = AlertmanagerResult(
        counts=rendered.counts, problems=rendered.problems, policies=policies, generated=rendered.generated
    )
    for obj in [*channels, *policies]:
        member = (obj.kind, obj.metadata.namespace or "", obj.metadata.name or "")
        result.members[member] = "; ".join(rendered.problems.get(f"{member[0]} {member[1]}/{member[2]}", [])) or None
    text = rendered.text
    result.error = check_config(text)
    if result.error is not None:
        result.error = f"rendered alertmanager.yaml is invalid, previous config kept: {result.error}"
        return result
    key = cluster.spec.alertmanager.config_secret.key
    result.config_hash = content_hash({key: text})
    namespace, name = cluster.metadata.namespace or "", secret_name(cluster)
    current = kube.read_secret(namespace, name)
    annotations = ((current or {}).get("metadata") or {}).get("annotations") or {}
    result.loaded_hash = annotations.get(LOADED_HASH_ANNOTATION)
    result.loaded_time = annotations.get(LOADED_TIME_ANNOTATION)
    result.sync_error = annotations.get(SYNC_ERROR_ANNOTATION)
    if current is not None and annotations.get(CONTENT_HASH_ANNOTATION) == result.config_hash:
        return result
    meta = body["metadata"]
    kube.put_secret(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {**MANAGED_BY, COMPONENT_LABEL: ALERTMANAGER_COMPONENT, CLUSTER_LABEL: meta["name"]},
                "annotations": {CONTENT_HASH_ANNOTATION: result.config_hash},
                "ownerReferences": [
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "AlertmanagerCluster",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "data": {key: base64.b64encode(text.encode()).decode()},
        },
        exists=current is not None,
    )
    result.written = True
    return result
