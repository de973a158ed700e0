"""Which objects convert, and the result as sorted manifests and report lines (pure)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..api.alertrule import AlertRule
from ..api.notificationchannel import NotificationChannel
from ..api.suppressionpolicy import SuppressionPolicy
from ..render.validation import schema_issues
from .alertmanagerconfig import channel_order, convert_alertmanager_config
from .report import Fields, Sink, Unmapped, k8s_name
from .rules import convert_prometheus_rule

GROUP = "monitoring.coreos.com"
PROMETHEUS_RULE_VERSIONS = (f"{GROUP}/v1",)
ALERTMANAGER_CONFIG_VERSIONS = (f"{GROUP}/v1alpha1", f"{GROUP}/v1beta1")
MODELS: dict[str, type[BaseModel]] = {
    "AlertRule": AlertRule,
    "NotificationChannel": NotificationChannel,
    "SuppressionPolicy": SuppressionPolicy,
}
CONVERTED_FROM = "alertagent.io/converted-from"


class _Dumper(yaml.SafeDumper):
    """Sorted keys, block style, no anchors (a matcher repeated is written twice), and multi-line
    text (PromQL, templates) as a literal block, as people write it."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text and not any(line != line.rstrip() for line in text.split("\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _text)


def dump_yaml(doc: Any) -> str:
    """One document as YAML (deterministic)."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=10_000, allow_unicode=True)


# Metadata written by kubectl and the API server: not part of what the object says.
_DROPPED_ANNOTATION_PREFIXES = ("kubectl.kubernetes.io/",)


@dataclass
class Conversion:
    """Converted manifests sorted by (kind, namespace, name), and the report."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)  # source fields that did not map
    skipped: list[Unmapped] = field(default_factory=list)  # objects of other kinds, left alone

    @property
    def all_mapped(self) -> bool:
        return not self.unmapped

    def yaml(self) -> str:
        """The objects as one multi-document YAML stream ("" when there are none)."""
        return "---\n".join(dump_yaml(obj) for obj in self.objects)

    def files(self) -> dict[str, str]:
        """`<namespace>/<kind>-<name>.yaml` (kind in lower case) → that object's YAML, for `-o DIR`."""
        return {
            f"{o['metadata']['namespace']}/{o['kind'].lower()}-{o['metadata']['name']}.yaml": dump_yaml(o)
            for o in self.objects
        }

    def report_lines(self) -> list[str]:
        """`<kind> <namespace>/<name>: <field path>: <reason>`: unmapped fields by object, then skipped objects."""
        return [u.line() for u in self.unmapped] + [u.line() for u in self.skipped]


def _metadata(obj: dict[str, Any], source: str) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    annotations = {
        k: v
        for k, v in sorted((meta.get("annotations") or {}).items())
        if not k.startswith(_DROPPED_ANNOTATION_PREFIXES) and k != CONVERTED_FROM
    }
    out: dict[str, Any] = {"name": k8s_name(str(meta.get("name", ""))), "namespace": meta.get("namespace")}
    if labels := meta.get("labels"):
        out["labels"] = dict(sorted(labels.items()))
    out["annotations"] = {**annotations, CONVERTED_FROM: source}
    return out


def _natural(path: str) -> tuple[tuple[int, str], ...]:
    """`spec.groups[10]` after `spec.groups[9]`: numbers compare as numbers."""
    return tuple((1, p.zfill(12)) if p.isdigit() else (0, p) for p in re.split(r"(\d+)", path))


def _valid(obj: dict[str, Any], report: Sink) -> bool:
    """The last word: the whole object as AlertAgent's model reads it (each part was checked already)."""
    try:
        MODELS[obj["kind"]].model_validate(obj)
    except ValidationError as err:
        for issue in schema_issues(err):
            where = f"(converted {obj['kind']} {obj['metadata']['name']}) {issue.field}"
            report(where, f"not converted: {issue.message}")
        return False
    return True


def _add(lines: list[Unmapped], kind: str, namespace: str, name: str, path: str, reason: str) -> None:
    lines.append(Unmapped(kind, namespace, name, path, reason))


def _check_shared_namespaces(objects: list[dict[str, Any]], lines: list[Unmapped]) -> None:
    """prometheus-operator makes every AlertmanagerConfig's top-level route `continue: true`, so each
    object's tree sees every alert; AlertAgent tries all of a namespace's channels in one order
    (README "Routing precedence"), so a channel that does not continue also takes what it matches from
    the channels of the namespace's other AlertmanagerConfigs tried after it. Reported for that object."""
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        if obj["kind"] == "NotificationChannel" and "route" in obj["spec"]:
            by_namespace.setdefault(obj["metadata"]["namespace"], []).append(obj)
    for namespace, channels in sorted(by_namespace.items()):
        source = {c["metadata"]["name"]: c["metadata"]["annotations"][CONVERTED_FROM].split(" ")[-1] for c in channels}
        if len(set(source.values())) < 2:
            continue
        order = channel_order(namespace, channels)
        stops = {c["metadata"]["name"] for c in channels if not c["spec"]["route"].get("continue")}
        for i, channel in enumerate(order.names):
            others = [n for n in order.names[i + 1 :] if source[n] != source[channel]]
            if channel in stops and others:
                lines.append(
                    Unmapped(
                        "AlertmanagerConfig",
                        namespace,
                        source[channel].split("/")[-1],
                        f"(converted NotificationChannel {channel}) spec.route",
                        "does not continue and is tried before channels of other AlertmanagerConfigs of this "
                        f"namespace ({', '.join(others)}): in prometheus-operator each AlertmanagerConfig sees every "
                        "alert, here this channel takes what they both match",
                    )
                )


def convert_manifests(manifests: Iterable[dict[str, Any]]) -> Conversion:
    """Convert the PrometheusRules and AlertmanagerConfigs among `manifests` (dicts as the API server
    or `load_manifests` gives them, each with `metadata.namespace` set). Objects of other kinds are
    listed in `skipped`. Two converted objects of the same kind, namespace and name (channels of
    different AlertmanagerConfigs whose `<config>-<receiver>` names meet) get `-2`, `-3`, ... in the
    order of the input. Raises nothing."""
    result = Conversion()
    objects: list[dict[str, Any]] = []
    for obj in manifests:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        lines: list[Unmapped] = []
        report = functools.partial(_add, lines, kind, namespace, name)
        source = f"{api_version} {kind} {namespace}/{name}"
        if kind == "PrometheusRule" and api_version in PROMETHEUS_RULE_VERSIONS:
            converted = convert_prometheus_rule(obj, _metadata(obj, source), report)
            objects += [o for o in [converted] if o is not None and _valid(o, report)]
        elif kind == "AlertmanagerConfig" and api_version in ALERTMANAGER_CONFIG_VERSIONS:
            converted_all = convert_alertmanager_config(obj, _metadata(obj, source), report)
            objects += [o for o in converted_all if _valid(o, report)]
        elif kind in ("PrometheusRule", "AlertmanagerConfig"):
            known = PROMETHEUS_RULE_VERSIONS if kind == "PrometheusRule" else ALERTMANAGER_CONFIG_VERSIONS
            report("apiVersion", f"{api_version}: not converted (known: {', '.join(known)})")
        else:
            result.skipped.append(
                Unmapped(kind, namespace, name, "kind", "skipped: neither a PrometheusRule nor an AlertmanagerConfig")
            )
            continue
        top = Fields(obj, "", report, upstream=kind)
        top.skip("apiVersion", "kind", "metadata", "spec", "status")  # status: observed state, nothing to convert
        top.finish()
        result.unmapped += lines
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        meta = obj["metadata"]
        base, n = meta["name"], 1
        while (obj["kind"], meta["namespace"], meta["name"]) in seen:
            n += 1
            meta["name"] = k8s_name(f"{base}-{n}")
        seen.add((obj["kind"], meta["namespace"], meta["name"]))
    _check_shared_namespaces(objects, result.unmapped)
    result.objects = sorted(objects, key=lambda o: (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]))
    result.unmapped.sort(key=lambda u: (u.kind, u.namespace, u.name, _natural(u.path)))
    result.skipped.sort()
    return result
