"""AlertRule revisions as ControllerRevisions owned by the AlertRule, as Deployments and StatefulSets
keep theirs: one per distinct spec, named by the spec's hash; going back to an earlier spec renumbers
that revision to the newest number, so a rollback is itself a new revision. Blocking calls."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..api.base import API_VERSION, GROUP, VERSION
from ..common.identity import owner_reference
from .asyncapi import AsyncApi
from .connection import ApiError
from .kube import Kube

RULE_LABEL = "alertagent.io/alertrule"
HASH_LABEL = "alertagent.io/spec-hash"
KEEP_REVISIONS = 20


@dataclass(frozen=True)
class Revision:
    name: str
    revision: int
    spec_hash: str
    created: str
    spec: dict[str, Any]


def spec_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _label_value(name: str) -> str:
    """Label values stop at 63 characters; longer rule names are hashed."""
    return name if len(name) <= 63 else hashlib.sha256(name.encode()).hexdigest()[:63]


def _revisions_path(namespace: str, name: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/controllerrevisions" + (f"/{name}" if name else "")


def list_revisions(kube: Kube, namespace: str, rule: str) -> list[Revision]:
    """The rule's revisions, oldest first."""
    listed = kube.request(
        "GET", _revisions_path(namespace), query={"labelSelector": f"{RULE_LABEL}={_label_value(rule)}"}
    )
    revisions = [
        Revision(
            name=cr["metadata"]["name"],
            revision=int(cr["revision"]),
            spec_hash=(cr["metadata"].get("labels") or {}).get(HASH_LABEL, ""),
            created=cr["metadata"].get("creationTimestamp") or "",
            spec=(cr.get("data") or {}).get("spec") or {},
        )
        for cr in listed.get("items") or []
    ]
    return sorted(revisions, key=lambda r: r.revision)


RevisionCache = dict[tuple[str, str, str], tuple[int, int]]  # (namespace, name, uid) → (generation, revision)


def known(cache: RevisionCache, body: dict[str, Any]) -> bool:
    """Whether the rule's current spec is known to be recorded: in `cache`, or (after a restart) its
    status names the revision of this very generation, which the operator wrote after recording it."""
    meta, status = body["metadata"], body.get("status") or {}
    key = (meta["namespace"], meta["name"], meta.get("uid", ""))
    generation = meta.get("generation")
    if (found := cache.get(key)) is not None and found[0] == generation:
        return True
    if status.get("observedGeneration") == generation and isinstance(status.get("revision"), int):
        cache[key] = (generation, status["revision"])
        return True
    return False


def record(kube: Kube, cache: RevisionCache, body: dict[str, Any]) -> int:
    """Make sure the rule's current spec is its newest revision; return that revision number.
    `cache` remembers the generation recorded, so events that do not change the spec cost no API call.
    Raises ApiError when the API server refuses."""
    meta, spec = body["metadata"], body.get("spec") or {}
    namespace, name = meta["namespace"], meta["name"]
    key = (namespace, name, meta.get("uid", ""))
    known = cache.get(key)
    if known is not None and known[0] == meta.get("generation"):
        return known[1]
    number = _record(kube, namespace, name, meta, spec)
    cache[key] = (meta.get("generation", 0), number)
    return number


def forget(cache: RevisionCache, namespace: str, name: str) -> None:
    for key in [k for k in cache if k[:2] == (namespace, name)]:
        del cache[key]


def _record(kube: Kube, namespace: str, name: str, meta: dict[str, Any], spec: dict[str, Any]) -> int:
    digest = spec_hash(spec)
    if meta.get("generation") == 1 and _create(kube, namespace, name, meta, spec, digest, 1):
        return 1  # a new object's first spec: nothing to list (a clash falls back to the full path)
    revisions = list_revisions(kube, namespace, name)
    latest = revisions[-1] if revisions else None
    if latest is not None and latest.spec_hash == digest:
        return latest.revision
    number = (latest.revision if latest else 0) + 1
    match = next((r for r in revisions if r.spec_hash == digest), None)
    if match is not None:
        # Renumber by re-creating: the API server refuses patches to a ControllerRevision whose data
        # bytes it would re-encode, even when only `revision` changes.
        kube.request("DELETE", _revisions_path(namespace, match.name))
    _create(kube, namespace, name, meta, spec, digest, number)  # False: a concurrent event recorded it
    for old in revisions[: max(0, len(revisions) + 1 - KEEP_REVISIONS)]:
        if old.spec_hash != digest:
            kube.request("DELETE", _revisions_path(namespace, old.name))
    return number


def revision_object(name: str, meta: dict[str, Any], spec: dict[str, Any], digest: str, number: int) -> dict[str, Any]:
    """The ControllerRevision of one spec of the AlertRule `name` (`meta`: its metadata)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": f"{name[:230]}-{digest[:10]}",
            "labels": {RULE_LABEL: _label_value(name), HASH_LABEL: digest},
            "ownerReferences": [owner_reference(API_VERSION, "AlertRule", meta)],
        },
        "data": {"spec": spec},
        "revision": number,
    }


def _create(
    kube: Kube, namespace: str, name: str, meta: dict[str, Any], spec: dict[str, Any], digest: str, number: int
) -> bool:
    """Create the ControllerRevision of this spec; False when one of that name exists (409)."""
    try:
        kube.request("POST", _revisions_path(namespace), revision_object(name, meta, spec, digest, number))
    except ApiError as err:
        if err.status != 409:
            raise
        return False
    return True


async def record_first(api: AsyncApi, cache: RevisionCache, body: dict[str, Any]) -> bool:
    """`record` for a new object's first spec (generation 1) on the event loop: one create, nothing to
    list. Returns False when that does not settle it (a later generation, or a revision of that name
    there already): `record` does, in a thread. Raises ApiError when the API server refuses."""
    meta, spec = body["metadata"], body.get("spec") or {}
    if meta.get("generation") != 1:
        return False
    namespace, name = meta["namespace"], meta["name"]
    try:
        revision = revision_object(name, meta, spec, spec_hash(spec), 1)
        await api.request("POST", _revisions_path(namespace), revision, decode=False)  # the answer is not read
    except ApiError as err:
        if err.status != 409:
            raise
        return False
    cache[(namespace, name, meta.get("uid", ""))] = (1, 1)
    return True


def rollback(kube: Kube, namespace: str, name: str, to: int) -> Revision:
    """Set the rule's spec to that of revision `to` and record an Event; the operator then records
    the rollback as the newest revision."""
    target = next((r for r in list_revisions(kube, namespace, name) if r.revision == to), None)
    if target is None:
        raise LookupError(f"AlertRule {namespace}/{name} has no revision {to}")
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/alertrules/{name}"
    rule = kube.request("GET", path)
    rule["spec"] = target.spec  # replace (not merge) the spec; resourceVersion guards concurrent edits
    rule = kube.request("PUT", path, rule)
    kube.post_event(rule, "Normal", "RolledBack", f"spec rolled back to revision {to}", component="alertagent-cli")
    return target
