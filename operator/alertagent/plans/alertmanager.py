"""The Alertmanager step's plan (pure): which channels and policies a cluster selects, and whether its
alertmanager.yaml Secret must be written.

The merged file is written only when it passed the target's own check (amtool, run by the caller) and
its hash differs from the Secret's; a file that fails is not written, so the previous Secret stays live
and the error goes to the cluster's status. An object that could not be rendered is left out alone,
with the reason recorded per object (`members`)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from ..api.alertmanagercluster import AlertmanagerCluster, ResourceSelector
from ..api.base import API_VERSION
from ..api.notificationchannel import NotificationChannel
from ..api.suppressionpolicy import SuppressionPolicy
from ..common.hashing import content_hash
from ..common.identity import ObjectRef, namespace_of, owner_reference
from ..common.labels import (
    CLUSTER_LABEL,
    CONTENT_HASH_ANNOTATION,
    LOADED_HASH_ANNOTATION,
    LOADED_TIME_ANNOTATION,
    SYNC_ERROR_ANNOTATION,
    alertmanager_config_labels,
)
from ..common.yamlout import load_yaml
from ..render.alertmanager import RenderedAlertmanager
from ..render.selection import includes
from ..render.validation import describe, schema_issues

Member = TypeVar("Member", NotificationChannel, SuppressionPolicy)


@dataclass(frozen=True)
class IndexedObject:
    """A NotificationChannel or SuppressionPolicy as the operator keeps it between changes."""

    ref: ObjectRef
    model: NotificationChannel | SuppressionPolicy | None  # None when the schema check failed
    errors: tuple[str, ...]


def index_object(kind: type[NotificationChannel] | type[SuppressionPolicy], body: Mapping[str, Any]) -> IndexedObject:
    """Parse one manifest; schema errors become messages naming the field."""
    ref = ObjectRef.of(body, kind.__name__)
    try:
        return IndexedObject(ref, kind.model_validate(dict(body)), ())
    except ValidationError as err:
        return IndexedObject(ref, None, tuple(describe(i) for i in schema_issues(err)))


def select(
    cluster: AlertmanagerCluster,
    kind: type[Member],
    entries: Iterable[IndexedObject],
    selector: ResourceSelector,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> list[Member]:
    """The valid objects of `kind` the cluster includes, sorted by namespace and name."""
    chosen = []
    for entry in sorted(entries, key=lambda e: e.ref):
        model = entry.model
        if isinstance(model, kind):
            namespace = namespace_of(model.metadata)
            labels = namespace_labels.get(namespace)
            if includes(cluster, selector, namespace, model.metadata.labels, labels, model.spec.targets):
                chosen.append(model)
    return chosen


def secret_name(cluster: AlertmanagerCluster) -> str:
    return cluster.spec.alertmanager.config_secret.name or f"{cluster.metadata.name}-alertmanager-config"


def deployed_text(cluster: AlertmanagerCluster, secret: Mapping[str, Any] | None) -> str | None:
    """The alertmanager.yaml text live in the cluster's config Secret, None when there is none or it is
    not AlertAgent's (AlertAgent wrote it, so amtool accepted it first)."""
    labels = ((secret or {}).get("metadata") or {}).get("labels") or {}
    encoded = ((secret or {}).get("data") or {}).get(cluster.spec.alertmanager.config_secret.key)
    if encoded is None or labels.get(CLUSTER_LABEL) != cluster.metadata.name:
        return None
    try:
        return base64.b64decode(encoded).decode()
    except ValueError:
        return None


def deployed_config(cluster: AlertmanagerCluster, secret: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The alertmanager.yaml live in the cluster's config Secret (parsed), None when there is none or it
    is not AlertAgent's or not readable YAML: where last-known-good receivers come from."""
    text = deployed_text(cluster, secret)
    try:
        config = load_yaml(text) if text is not None else None
    except yaml.YAMLError:
        return None
    return config if isinstance(config, dict) else None


@dataclass(frozen=True)
class LoadedReport:
    """What the Alertmanager sidecar reports on the Secret: the hash it loaded, when, or why not."""

    hash: str | None = None
    time: str | None = None
    sync_error: str | None = None

    @classmethod
    def of(cls, secret: Mapping[str, Any] | None) -> LoadedReport:
        annotations = ((secret or {}).get("metadata") or {}).get("annotations") or {}
        return cls(
            annotations.get(LOADED_HASH_ANNOTATION),
            annotations.get(LOADED_TIME_ANNOTATION),
            annotations.get(SYNC_ERROR_ANNOTATION),
        )


@dataclass(frozen=True)
class AlertmanagerPlan:
    """`secret` is the Secret body to write (None: nothing to write); `error` says why the merged file
    was not written (the previous one stays)."""

    config_hash: str | None
    secret: dict[str, Any] | None
    secret_exists: bool
    counts: Mapping[str, int]
    members: Mapping[ObjectRef, str | None]  # selected object → why it was left out (None: rendered)
    generated: Mapping[ObjectRef, int]  # policy → inhibit rules generated from the service graph
    policies: tuple[SuppressionPolicy, ...]  # the policies the cluster selects (their windows become silences)
    loaded: LoadedReport = field(default_factory=LoadedReport)
    error: str | None = None
    cluster_problems: tuple[str, ...] = ()  # what of the cluster's own spec could not be rendered, and why
    # object (channel, or the cluster for its global block) → why it runs on its last-known-good version
    last_known_good: Mapping[ObjectRef, str] = field(default_factory=dict)


def plan_alertmanager_config(
    cluster: AlertmanagerCluster,
    owner: Mapping[str, Any],
    channels: Iterable[NotificationChannel],
    policies: Iterable[SuppressionPolicy],
    rendered: RenderedAlertmanager,
    check_error: str | None,
    current: Mapping[str, Any] | None,
) -> AlertmanagerPlan:
    """`rendered` is the merged file of `channels` and `policies`; `check_error` the target tool's verdict
    on it (None: accepted); `current` the Secret there now (None: none yet); `owner` the cluster's
    metadata."""
    policies = tuple(policies)
    members = {
        ObjectRef.of(obj): "; ".join(rendered.problems.get(ObjectRef.of(obj), [])) or None
        for obj in [*channels, *policies]
    }

    def plan(config_hash: str | None, secret: dict[str, Any] | None, error: str | None = None) -> AlertmanagerPlan:
        loaded = LoadedReport.of(current)
        generated = dict(rendered.generated)
        own = tuple(rendered.problems.get(ObjectRef.of(cluster), ()))
        return AlertmanagerPlan(
            config_hash,
            secret,
            current is not None,
            rendered.counts,
            members,
            generated,
            policies,
            loaded,
            error,
            own,
            dict(rendered.last_known_good),
        )

    if check_error is not None:
        return plan(None, None, f"rendered alertmanager.yaml is invalid, previous config kept: {check_error}")
    labels = ((current or {}).get("metadata") or {}).get("labels") or {}
    if current is not None and labels.get(CLUSTER_LABEL) != owner["name"]:
        whose = f"AlertmanagerCluster {labels[CLUSTER_LABEL]}" if CLUSTER_LABEL in labels else "not AlertAgent"
        name = f"{owner['namespace']}/{secret_name(cluster)}"
        return plan(None, None, f"Secret {name} exists and is {whose}'s: set spec.alertmanager.configSecret.name")
    key = cluster.spec.alertmanager.config_secret.key
    text = rendered.text
    digest = content_hash({key: text})
    annotations = ((current or {}).get("metadata") or {}).get("annotations") or {}
    if current is not None and annotations.get(CONTENT_HASH_ANNOTATION) == digest:
        return plan(digest, None)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": secret_name(cluster),
            "namespace": owner["namespace"],
            "labels": alertmanager_config_labels(owner["name"]),
            "annotations": {CONTENT_HASH_ANNOTATION: digest},
            "ownerReferences": [owner_reference(API_VERSION, "AlertmanagerCluster", owner)],
        },
        "data": {key: base64.b64encode(text.encode()).decode()},
    }
    return plan(digest, secret)
