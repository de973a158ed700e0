"""Extractors (pure): what one Kubernetes object says about service dependencies.

Each extractor reads a plain object (as the API server or a manifest file gives it) and keeps only what
the graph needs: selectors and labels, annotation values, the names of ConfigMaps a workload consumes,
and the addresses parsed out of strings. ConfigMap values themselves are never kept, and Secrets are
never read. Callers are the pod templates of Deployments, StatefulSets, DaemonSets, CronJobs, and of
ReplicaSets and Jobs no controller owns (an owned one is its owner's template again).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..common.identity import namespace_of
from ..common.labels import LABEL_PREFIX
from .addresses import (
    Address,
    ServiceRef,
    expand_references,
    key_holds_no_address,
    key_names_address,
    parse_addresses,
)
from .confidence import CONFIDENCE, TELEMETRY, role_annotation, telemetry_image, telemetry_key, telemetry_port

__all__ = ["CONFIDENCE"]  # re-exported: where the evidence types are defined

DEPENDENCIES_ANNOTATION = f"{LABEL_PREFIX}/dependencies"
IGNORE_ANNOTATION = f"{LABEL_PREFIX}/ignore"
ROLE_ANNOTATION = f"{LABEL_PREFIX}/role"
WORKLOAD_KINDS = (
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "ReplicationController",
    "Rollout",  # Argo Rollouts: a Deployment's pod template under another controller
    "Pod",
)
# Kinds whose objects are usually made by a controller (Deployment → ReplicaSet, CronJob → Job,
# ReplicaSet → Pod): only the ones nobody owns are callers of their own.
OWNED_KINDS = ("ReplicaSet", "Job", "Pod")
APP_LABELS = ("app.kubernetes.io/name", "app")


def names_an_address(key: str) -> bool:
    """Whether a key (env var, ConfigMap key or file name, a key inside a value, a flag) says its value is
    an address, so a bare word under it counts: `DB_HOST`, `REDIS_ADDR`, `upstream`, `-Ddb.host`; never a
    reference, credential or identity key (`DOCS_URL`, `DB_PASSWORD`, `OTEL_SERVICE_NAME`). The rules
    live in addresses.py."""
    return key_names_address(key)


def addresses_in(value: str, key: str = "", env: Mapping[str, str] | None = None) -> list[Address]:
    """The addresses worth keeping from one value (an env var's, a ConfigMap key's, an argument).

    A value under a reference, credential or identity key gives nothing (`DOCS_URL`, `DB_PASSWORD`,
    `OTEL_SERVICE_NAME`, ...). Certain, named (a client command's host flag) and namespaced addresses are
    kept. A bare word counts when its own key names an address: inside a structured value (`key: v`,
    `key=v`, `"key": v`, `<key>v</key>`, YAML/JSON nesting and lists) the key it sits under; in a value
    with no such pairs (a plain list, a single word) `key` itself. So `LOG_LEVEL=info` and
    `owner: mongo` are never kept, `DB_HOST=mongo` and `db: {host: mongo}` are, whatever the file name."""
    if key and key_holds_no_address(key):
        return []
    found = parse_addresses(value, env)
    if all(a.certain or a.named or _namespaced(a) for a in found):
        return found
    if env and "$(" in value:
        value = expand_references(value, env)
    keyed = _keyed_words(value) if ("=" in value or ":" in value or "<" in value) else None
    if keyed is None:  # no pairs: the key (or file name) decides
        return found if names_an_address(key) else [a for a in found if a.certain or a.named or _namespaced(a)]
    return [a for a in found if a.certain or a.named or _namespaced(a) or a.text in keyed]


def addresses_in_args(args: Sequence[str], env: Mapping[str, str] | None = None) -> list[tuple[str, Address]]:
    """The addresses of a container's command and args read as the one command line they are, each with
    the argument it was found in (for its role): exec form splits a command's flags from their values
    (`["sqlcmd", "-S", "sqldata,1433", "-P", "secret"]`), which only make sense together."""
    line = " ".join(args)  # not shlex.join: an item holding a whole script (`sh -c "..."`) stays readable
    expanded = [expand_references(arg, env).lower() if env else arg.lower() for arg in args]
    found = []
    for address in addresses_in(line, env=env):
        host = re.compile(rf"(?<![\w.-]){re.escape(address.text.partition(':')[0])}(?![\w-])")
        arg = next((arg for arg, text in zip(args, expanded, strict=True) if host.search(text)), line)
        found.append((arg, address))
    return found


def _namespaced(address: Address) -> bool:
    return any(ref.namespace for ref in address.refs)


# A key in a structured value: "key": / 'key' = (JSON, TOML, PHP `=>`), key= / key = (properties, .env,
# ini, flags, XML attributes), key: followed by a blank or the line's end (YAML).
_KEY_MARK_RE = re.compile(
    r"\\?[\"'](?P<quoted>[^\"'\\\n]{1,200})\\?[\"'][ \t]*(?:=>|[:=])"
    r"|(?<![^\s{,;(\[])(?P<bare>-{0,2}[A-Za-z_@$][\w.@$-]{0,200})"
    r"(?:(?P<tight>=)(?![=>])|[ \t]*=(?:>|(?!=))|:(?=[ \t]|$))"
)
_XML_PAIR_RE = re.compile(
    r"<(?P<tag>[A-Za-z_][\w.:-]*)(?P<attrs>[^<>]*)>(?P<text>[^<]*)</(?P=tag)[ \t]*>"
    r"|(?<![\w:-])(?:name|key)[ \t]*=[ \t]*[\"'](?P<key>[^\"']*)[\"'][^<>]*?(?<![\w:-])value[ \t]*=[ \t]*"
    r"[\"'](?P<value>[^\"']*)[\"']"
)
_XML_NAME_RE = re.compile(r"(?<![\w:-])(?:name|key)[ \t]*=[ \t]*[\"']([^\"']*)[\"']")
_SPAN_END_RE = re.compile(r"[;&|]")
_WORD_SPLIT_RE = re.compile(r"[\s\"'`=,;()\[\]{}<>|&!*#?\\]+")
# A key whose value is on the lines below it (YAML block, JSON object or list opened at the line's end).
_OPENERS = frozenset({"", "{", "[", "|", ">", "|-", ">-", "|+", ">+", "("})


@lru_cache(maxsize=4096)  # the same files recur across the ConfigMaps of a cluster
def _keyed_words(value: str) -> frozenset[str] | None:
    """The words of value that sit under a key naming an address, or None when value has no key/value
    pairs at all. A word's key is the nearest key before it on its line, else the key of the line that
    opens the block it is indented under (YAML nesting and lists, pretty-printed JSON). Comment lines
    count for nothing."""
    keyed: set[str] = set()
    has_pairs = False

    def under(text: str, key: str) -> None:
        if key and names_an_address(key):
            keyed.update(_WORD_SPLIT_RE.split(text))

    if "<" in value:
        for m in _XML_PAIR_RE.finditer(value):
            has_pairs = True
            if m["tag"] is not None:
                named = _XML_NAME_RE.search(m["attrs"])
                under(m["text"], named[1] if named else m["tag"].rpartition(":")[2])
            else:
                under(m["value"], m["key"])
    stack: list[tuple[int, str]] = []  # (indent, key) of the lines that opened a block
    for line in value.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "//", "<!--", ";")):
            continue
        indent = len(line) - len(line.lstrip())
        item = stripped.startswith("- ")
        while stack and (stack[-1][0] > indent or (stack[-1][0] == indent and not item)):
            stack.pop()
        parent = stack[-1][1] if stack else ""
        marks = list(_KEY_MARK_RE.finditer(line))
        if not marks:
            under(line, parent)
            continue
        has_pairs = True
        under(line[: marks[0].start()], parent)
        ends = [m.start() for m in marks[1:]] + [len(line)]
        for m, end in zip(marks, ends, strict=True):
            # A value ends at a shell operator, and a shell-style `KEY=value` at a blank (`DB_HOST=db app`).
            span = _SPAN_END_RE.split(line[m.end() : end], maxsplit=1)[0]
            under(span.split(maxsplit=1)[0] if m["tight"] and span.strip() else span, m["quoted"] or m["bare"])
        if line[marks[-1].end() :].strip().rstrip(",") in _OPENERS:
            stack.append((indent, marks[-1]["quoted"] or marks[-1]["bare"]))
    return frozenset(keyed) if has_pairs else None


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
    # Command and args as one command line: exec form splits `-P secret` and `-h host` into items.
    args = [a for part in ("command", "args") for a in container.get(part) or [] if isinstance(a, str)]
    found += [
        Found(a, Evidence("args", workload, cname, role=role_of(arg, a))) for arg, a in addresses_in_args(args, defined)
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
    """The pod template (metadata and spec) a workload runs; a bare Pod is its own."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        return {"metadata": obj.get("metadata") or {}, "spec": spec}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return spec.get("template") or {}


def workload_facts(obj: Mapping[str, Any]) -> WorkloadFacts:
    namespace, name, own_labels, annotations = _meta(obj)
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
                own_labels,
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
