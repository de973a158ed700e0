"""Extractors (pure): what one Kubernetes object says about service dependencies.

Each extractor reads a plain object (as the API server or a manifest file gives it) and keeps only what
the graph needs: selectors and labels, annotation values, the names of ConfigMaps a workload consumes,
and the addresses parsed out of strings. ConfigMap values themselves are never kept, and Secrets are
never read. Callers are the pod templates of Deployments, StatefulSets, DaemonSets, CronJobs, and of
ReplicaSets and Jobs no controller owns (an owned one is its owner's template again).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..common.identity import namespace_of
from ..common.labels import LABEL_PREFIX
from .addresses import Address, ServiceRef, expand_references, is_reference_key, parse_addresses
from .confidence import CONFIDENCE, TELEMETRY, role_annotation, telemetry_image, telemetry_key, telemetry_port

__all__ = ["CONFIDENCE"]  # re-exported: where the evidence types are defined

DEPENDENCIES_ANNOTATION = f"{LABEL_PREFIX}/dependencies"
IGNORE_ANNOTATION = f"{LABEL_PREFIX}/ignore"
ROLE_ANNOTATION = f"{LABEL_PREFIX}/role"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
# Kinds whose objects are usually made by a controller (Deployment → ReplicaSet, CronJob → Job): only
# the ones nobody owns are callers of their own.
OWNED_KINDS = ("ReplicaSet", "Job")
APP_LABELS = ("app.kubernetes.io/name", "app")

# An env var or ConfigMap key with one of these words in its name holds an address, so a bare word in
# it (`DB_HOST=postgres`) counts; elsewhere bare words are too likely to be something else.
_ADDRESS_KEY = re.compile(
    r"host|addr|url|uri|endpoint|server|service|svc|upstream|backend|broker|dsn|target|peer|gateway|proxy",
    re.IGNORECASE,
)


def names_an_address(key: str) -> bool:
    return _ADDRESS_KEY.search(key) is not None


def addresses_in(value: str, key: str = "", env: Mapping[str, str] | None = None) -> list[Address]:
    """The addresses worth keeping from one value: bare words only under a key that names an address
    (so `LOG_LEVEL=info` or a password is not kept at all)."""
    if key and is_reference_key(key):
        return []  # DOCS_URL, RUNBOOK_URL: a link to read, not a service to call
    bare_ok = names_an_address(key)
    return [a for a in parse_addresses(value, env) if a.certain or bare_ok or any(ref.namespace for ref in a.refs)]


@dataclass(frozen=True, order=True)
class Evidence:
    """Where an address was found: `object` is the object id (`ns/kind/name`), `via` the ConfigMap it
    came through, `key` the env var, ConfigMap key, container or annotation. `role` is `telemetry` when
    the key or port says telemetry goes there; `weak` names why the manifests cannot tie it to this
    caller (`catalog`, `unread-key`; see confidence.py)."""

    type: str
    object: str
    key: str = ""
    via: str = ""
    role: str = ""
    weak: str = ""

    def as_json(self) -> dict[str, str]:
        pairs = (
            ("type", self.type),
            ("object", self.object),
            ("key", self.key),
            ("via", self.via),
            ("role", self.role),
            ("weak", self.weak),
        )
        return {k: v for k, v in pairs if v}


def role_of(name: str, address: Address) -> str:
    """`telemetry` when the key's name or the address's port says so, else ""."""
    return _role(name, address.text)


@lru_cache(maxsize=16384)  # the same keys and addresses recur across a catalog's users
def _role(name: str, text: str) -> str:
    return TELEMETRY if telemetry_key(name) or telemetry_port(text) else ""


@dataclass(frozen=True)
class Found:
    """An address found in a workload's own spec."""

    address: Address
    evidence: Evidence


@dataclass(frozen=True)
class ServiceFacts:
    namespace: str
    name: str
    selector: tuple[tuple[str, str], ...]  # empty: selects no pods (ExternalName, manual endpoints)
    dependencies: tuple[ServiceRef, ...]
    ignored: bool = False
    tier: str | None = None
    criticality: str | None = None
    team: str | None = None
    sla: str | None = None
    external_name: str | None = None  # spec.externalName of an ExternalName Service
    telemetry: bool | None = None  # alertagent.io/role: True telemetry, False app, None: by its pods

    def selects(self, labels: Mapping[str, str]) -> bool:
        return bool(self.selector) and all(labels.get(k) == v for k, v in self.selector)


@dataclass(frozen=True)
class IngressFacts:
    namespace: str
    name: str
    backends: tuple[str, ...]  # Service names, in the Ingress's namespace


@dataclass(frozen=True)
class ConfigMapFacts:
    namespace: str
    name: str
    apps: tuple[str, ...]  # values of its app / app.kubernetes.io/name labels
    addresses: tuple[tuple[str, tuple[Address, ...]], ...]  # key → addresses parsed from its value


@dataclass(frozen=True)
class ConfigMapUse:
    """A workload consuming a ConfigMap: `key` set for one key (configMapKeyRef), `env` its env var;
    for a mounted one, `keys` the keys it can read when not all (volume `items`, `subPath` mounts)."""

    configmap: str
    type: str  # env | envFrom | configmap (mounted)
    container: str = ""
    key: str = ""
    env: str = ""
    prefix: str = ""
    keys: tuple[str, ...] = ()  # mounted: () is every key


@dataclass(frozen=True)
class WorkloadFacts:
    namespace: str
    kind: str  # lower case: deployment, statefulset, daemonset
    name: str
    pod_labels: tuple[tuple[str, str], ...]
    found: tuple[Found, ...] = ()
    uses: tuple[ConfigMapUse, ...] = field(default=())
    telemetry: bool = False  # an observability component (its images, or alertagent.io/role)
    explicit_role: bool = False  # alertagent.io/role said so (it wins over what its traffic suggests)

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"

    @property
    def configmaps(self) -> set[str]:
        return {use.configmap for use in self.uses}


def _meta(obj: Mapping[str, Any]) -> tuple[str, str, dict[str, str], dict[str, str]]:
    meta = obj.get("metadata") or {}
    return (
        namespace_of(meta),
        meta.get("name") or "",
        dict(meta.get("labels") or {}),
        dict(meta.get("annotations") or {}),
    )


def _dependency_refs(text: str) -> tuple[ServiceRef, ...]:
    refs = []
    for item in text.replace("\n", ",").split(","):
        namespace, _, name = item.strip().rpartition("/")
        if name:
            refs.append(ServiceRef(name, namespace or None))
    return tuple(refs)


def service_facts(obj: Mapping[str, Any]) -> ServiceFacts:
    namespace, name, labels, annotations = _meta(obj)
    spec = obj.get("spec") or {}
    selector = spec.get("selector") or {} if spec.get("type") != "ExternalName" else {}
    external = spec.get("externalName") if spec.get("type") == "ExternalName" else None
    return ServiceFacts(
        namespace=namespace,
        name=name,
        selector=tuple(sorted(selector.items())),
        dependencies=_dependency_refs(annotations.get(DEPENDENCIES_ANNOTATION, "")),
        ignored=annotations.get(IGNORE_ANNOTATION, "").strip().lower() == "true",
        tier=annotations.get(f"{LABEL_PREFIX}/tier"),
        criticality=annotations.get(f"{LABEL_PREFIX}/criticality"),
        team=annotations.get(f"{LABEL_PREFIX}/team"),
        sla=annotations.get(f"{LABEL_PREFIX}/sla-target"),
        external_name=str(external).lower() if external else None,
        telemetry=role_annotation(annotations.get(ROLE_ANNOTATION) or labels.get(ROLE_ANNOTATION)),
    )


def ingress_facts(obj: Mapping[str, Any]) -> IngressFacts:
    namespace, name, _, _ = _meta(obj)
    spec = obj.get("spec") or {}
    backends = [spec.get("defaultBackend") or {}]
    for rule in spec.get("rules") or []:
        backends += [path.get("backend") or {} for path in (rule.get("http") or {}).get("paths") or []]
    names = {(b.get("service") or {}).get("name") for b in backends}
    return IngressFacts(namespace, name, tuple(sorted(n for n in names if n)))


def configmap_facts(obj: Mapping[str, Any]) -> ConfigMapFacts:
    namespace, name, labels, _ = _meta(obj)
    addresses = []
    for key, value in sorted((obj.get("data") or {}).items()):
        if isinstance(value, str) and (parsed := addresses_in(value, key)):
            addresses.append((key, tuple(parsed)))
    apps = tuple(sorted({labels[k] for k in APP_LABELS if labels.get(k)}))
    return ConfigMapFacts(namespace, name, apps, tuple(addresses))


def _container_facts(container: Mapping[str, Any], workload: str) -> tuple[list[Found], list[ConfigMapUse]]:
    cname = container.get("name") or ""
    env_list = container.get("env") or []
    # Kubernetes expands `$(VAR)` in a value only from the variables listed before it (a forward
    # reference stays literal); command and args see them all. Values are kept expanded, as the kubelet does.
    defined: dict[str, str] = {}
    found: list[Found] = []
    uses: list[ConfigMapUse] = []
    for var in env_list:
        var_name = var.get("name") or ""
        if isinstance(var.get("value"), str):
            key = f"{cname}/{var_name}"
            found += [
                Found(a, Evidence("env", workload, key, role=role_of(var_name, a)))
                for a in addresses_in(var["value"], var_name, defined)
            ]
            if var_name:
                defined[var_name] = expand_references(var["value"], defined)
        ref = ((var.get("valueFrom") or {}).get("configMapKeyRef")) or {}
        if ref.get("name") and ref.get("key"):
            uses.append(ConfigMapUse(ref["name"], "env", cname, key=ref["key"], env=var_name))
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef") or {}
        if ref.get("name"):
            uses.append(ConfigMapUse(ref["name"], "envFrom", cname, prefix=source.get("prefix") or ""))
    for part in ("command", "args"):
        for arg in container.get(part) or []:
            if isinstance(arg, str):
                found += [
                    Found(a, Evidence("args", workload, cname, role=role_of(arg, a)))
                    for a in addresses_in(arg, env=defined)
                ]
    return found, uses


def _mounted_configmaps(pod: Mapping[str, Any]) -> list[ConfigMapUse]:
    """The ConfigMaps mounted as files, each with the keys the containers can read: a volume's
    `items` project only those keys (at their `path`), and when every mount of the volume has a
    `subPath`, only the files named there are visible."""
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    mounts: dict[str, list[str]] = {}  # volume → the subPath of each of its mounts ("" = whole volume)
    for container in containers:
        for mount in container.get("volumeMounts") or []:
            mounts.setdefault(mount.get("name") or "", []).append(str(mount.get("subPath") or "").split("/")[0])
    found: dict[str, set[str] | None] = {}  # ConfigMap → keys (None: all)
    for volume in pod.get("volumes") or []:
        sources = [volume.get("configMap") or {}]
        sources += [source.get("configMap") or {} for source in (volume.get("projected") or {}).get("sources") or []]
        sub_paths = mounts.get(volume.get("name") or "")
        for source in sources:
            name = source.get("name")
            if not name:
                continue
            items = {str(i.get("path") or i.get("key")): str(i.get("key")) for i in source.get("items") or []}
            visible: set[str] | None = set(items.values()) if items else None
            if sub_paths and all(sub_paths):  # only single files of the volume are mounted
                by_path = items or None
                named = {by_path.get(p, "") if by_path else p for p in sub_paths}
                visible = named if visible is None else visible & named
            if visible is None or name not in found:
                found[name] = visible
            elif (known := found[name]) is not None:
                known |= visible  # several volumes of one ConfigMap: what any of them shows
    return [
        ConfigMapUse(name, "configmap", keys=tuple(sorted(keys or ())))
        for name, keys in sorted(found.items())
        if keys is None or keys  # an empty set: the subPaths name no key of it
    ]


def owned(obj: Mapping[str, Any]) -> bool:
    """A ReplicaSet or Job a controller made (its Deployment or CronJob is the caller)."""
    if obj.get("kind") not in OWNED_KINDS:
        return False
    return any(ref.get("controller") for ref in (obj.get("metadata") or {}).get("ownerReferences") or ())


def pod_template(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return spec.get("template") or {}


def workload_facts(obj: Mapping[str, Any]) -> WorkloadFacts:
    namespace, name, _, annotations = _meta(obj)
    kind = str(obj.get("kind", "")).lower()
    template = pod_template(obj)
    pod = template.get("spec") or {}
    workload = f"{namespace}/{kind}/{name}"
    found: list[Found] = []
    uses: list[ConfigMapUse] = []
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        container_found, container_uses = _container_facts(container, workload)
        found += container_found
        uses += container_uses
    uses += _mounted_configmaps(pod)
    labels = (template.get("metadata") or {}).get("labels") or {}
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    template_meta = template.get("metadata") or {}
    role = next(
        (
            said
            for where in (
                annotations,
                _meta(obj)[2],
                template_meta.get("annotations") or {},
                template_meta.get("labels") or {},
            )
            if (said := role_annotation(where.get(ROLE_ANNOTATION))) is not None
        ),
        None,
    )
    explicit = role is not None
    if role is None:
        role = any(telemetry_image(str(c.get("image") or "")) for c in containers)
    pod_labels = tuple(sorted(labels.items()))
    return WorkloadFacts(namespace, kind, name, pod_labels, tuple(found), tuple(uses), role, explicit)
