"""Which rule-file fields each evaluator type and version loads (pure data), and the checks built on it.

Prometheus decodes rule files with unknown fields refused (`decoder.KnownFields(true)` in
`model/rulefmt/rulefmt.go`), vmalert with an inline catch-all map that must stay empty
(`checkOverflow` in `app/vmalert/config/config.go`: "unknown fields in group ...", "unknown fields in
rule: ..."). Either way one field the target lacks makes it refuse the whole rule set. So a field an
evaluator's version lacks is an error on that AlertRule for that evaluator alone (`plans.rules` leaves
the file out there and reports why).

Sources, read at each release tag (the versions below are the first release whose struct has the field):
- Prometheus: `RuleGroup` and `RuleNode`/`Rule` in `pkg/rulefmt/rulefmt.go` (<= v2.31) and
  `model/rulefmt/rulefmt.go` (>= v2.32), checked at v2.28.0 ... v3.14.0.
- vmalert: `Group` and `Rule` in `app/vmalert/config/config.go`, checked at v1.37.0 ... v1.129.1
  (and the LTS lines 1.87.x, 1.93.x, 1.97.x, 1.102.x, 1.110.x, 1.122.x, which match their minor).

Nothing is translated. vmalert has no `query_offset` in any version; its `eval_offset` (>= 1.94)
moves *when* a group runs within its interval, not the time it queries; its `eval_delay` (>= 1.95)
shifts the query time like `query_offset` but the result is then truncated to a multiple of the group
interval (`eval_alignment`, on by default), it is ignored when `eval_offset` is set, and without it the
global `-rule.evalDelay` (30s) applies where Prometheus applies `rule_query_offset` (0s): not the same
meaning (`adjustReqTimestamp` in `app/vmalert/rule/group.go`, v1.129.1), so `query_offset` is refused
on vmalert rather than rewritten.

An unknown version (not probed yet, or not reported: Debian's vmalert reports an empty version) is
taken as the newest release."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..api.alertmanagercluster import RuleEvaluator
from ..api.alertrule import AlertRule, Rule, RuleGroup, ValidationIssue

Version = tuple[int, ...]
EvaluatorType = Literal["prometheus", "vmalert"]
NAMES: Mapping[str, str] = {"prometheus": "Prometheus", "vmalert": "vmalert"}

_ALWAYS: Version = (0,)


@dataclass(frozen=True)
class FieldSupport:
    """The first release of each evaluator type whose rule files accept a field (None: no release)."""

    prometheus: Version | None
    vmalert: Version | None

    def since(self, evaluator_type: str) -> Version | None:
        return self.prometheus if evaluator_type == "prometheus" else self.vmalert


# Fields of a rule group. Fields of the current upstream releases only (AlertAgent never renders the
# ones removed since, such as vmalert's `extra_filter_labels`).
GROUP_FIELDS: Mapping[str, FieldSupport] = {
    "name": FieldSupport(_ALWAYS, _ALWAYS),
    "interval": FieldSupport(_ALWAYS, _ALWAYS),
    "rules": FieldSupport(_ALWAYS, _ALWAYS),
    # Prometheus v2.31.0 pkg/rulefmt/rulefmt.go RuleGroup.Limit; vmalert v1.78.0 config.go Group.Limit.
    "limit": FieldSupport((2, 31, 0), (1, 78, 0)),
    # Prometheus v2.53.0 model/rulefmt/rulefmt.go RuleGroup.QueryOffset; vmalert: none (see above).
    "query_offset": FieldSupport((2, 53, 0), None),
    # Prometheus v3.0.0 RuleGroup.Labels; vmalert v1.65.0 Group.Labels.
    "labels": FieldSupport((3, 0, 0), (1, 65, 0)),
    # vmalert only (config.go Group): concurrency v1.38.0, type v1.53.0, params v1.70.0, headers
    # v1.80.0, notifier_headers v1.91.0, eval_offset v1.94.0, eval_delay and eval_alignment v1.95.0,
    # debug v1.117.0.
    "concurrency": FieldSupport(None, (1, 38, 0)),
    "type": FieldSupport(None, (1, 53, 0)),
    "params": FieldSupport(None, (1, 70, 0)),
    "headers": FieldSupport(None, (1, 80, 0)),
    "notifier_headers": FieldSupport(None, (1, 91, 0)),
    "eval_offset": FieldSupport(None, (1, 94, 0)),
    "eval_delay": FieldSupport(None, (1, 95, 0)),
    "eval_alignment": FieldSupport(None, (1, 95, 0)),
    "debug": FieldSupport(None, (1, 117, 0)),
}

# Fields of a rule.
RULE_FIELDS: Mapping[str, FieldSupport] = {
    "alert": FieldSupport(_ALWAYS, _ALWAYS),
    "record": FieldSupport(_ALWAYS, _ALWAYS),
    "expr": FieldSupport(_ALWAYS, _ALWAYS),
    "for": FieldSupport(_ALWAYS, _ALWAYS),
    "labels": FieldSupport(_ALWAYS, _ALWAYS),
    "annotations": FieldSupport(_ALWAYS, _ALWAYS),
    # Prometheus v2.42.0 model/rulefmt/rulefmt.go RuleNode.KeepFiringFor; vmalert v1.92.0 config.go
    # Rule.KeepFiringFor (not in the 1.87.x or 1.91.x lines).
    "keep_firing_for": FieldSupport((2, 42, 0), (1, 92, 0)),
    # vmalert only (config.go Rule): debug v1.82.0, update_entries_limit v1.86.0.
    "debug": FieldSupport(None, (1, 82, 0)),
    "update_entries_limit": FieldSupport(None, (1, 86, 0)),
}

TABLES: Mapping[str, Mapping[str, FieldSupport]] = {"group": GROUP_FIELDS, "rule": RULE_FIELDS}


@dataclass(frozen=True)
class FieldUse:
    """A field a rendered rule file sets: where (`group` or `rule`), its rule-file key, its API path."""

    kind: Literal["group", "rule"]
    key: str
    path: str


_GROUP_KEYS = tuple((name, info.alias or name) for name, info in RuleGroup.model_fields.items())
_RULE_KEYS = tuple((name, info.alias or name) for name, info in Rule.model_fields.items())


def fields_used(rule: AlertRule) -> tuple[FieldUse, ...]:
    """The rule-file keys `render.rules.render_rule_file` writes for `rule` (fields set, by alias), with
    the API path of each (`spec.groups[0].query_offset`)."""
    used: list[FieldUse] = []
    for g, group in enumerate(rule.spec.groups):
        used += [
            FieldUse("group", key, f"spec.groups[{g}].{key}")
            for name, key in _GROUP_KEYS
            if getattr(group, name) is not None
        ]
        for r, item in enumerate(group.rules):
            used += [
                FieldUse("rule", key, f"spec.groups[{g}].rules[{r}].{key}")
                for name, key in _RULE_KEYS
                if getattr(item, name) is not None
            ]
    return tuple(used)


def format_version(version: Version | None) -> str:
    return ".".join(str(part) for part in version) if version else "(newest)"


def _supported_by(support: FieldSupport | None) -> str:
    """`Prometheus >= 2.53 only`, `vmalert >= 1.92.0`, ...: who has the field, for the message."""
    if support is None:
        return "no evaluator"
    has = [
        f"{NAMES[t]} >= {format_version(v)}" if v != _ALWAYS else f"every {NAMES[t]}"
        for t, v in (("prometheus", support.prometheus), ("vmalert", support.vmalert))
        if v is not None
    ]
    return " and ".join(has) + (" only" if len(has) == 1 else "")


def field_issues(used: Iterable[FieldUse], evaluator_type: str, version: Version | None) -> list[str]:
    """Messages for the fields in `used` that this evaluator type and version cannot load (`version`
    None: the newest release). A key missing from the tables is refused: every target refuses fields
    it does not know."""
    if version is not None:
        version = (*version, 0, 0, 0)[: max(3, len(version))]  # (2, 53) is 2.53.0
    issues = []
    for use in used:
        support = TABLES[use.kind].get(use.key)
        since = support.since(evaluator_type) if support else None
        if since is not None and (version is None or version >= since):
            continue
        who = NAMES.get(evaluator_type, evaluator_type)
        target = f"{who} {format_version(version)}" if version is not None else who
        has = f"has no {use.key}" if since is None or version is None else f"has no {use.key} yet"
        issues.append(f"{use.path}: {target} {has} ({_supported_by(support)})")
    return issues


NEVER: Version = (1 << 30,)  # the minimum version of a file some field of which no release has


def keys_used(rule: AlertRule) -> frozenset[tuple[str, str]]:
    """The distinct (`group` | `rule`, rule-file key) pairs of `fields_used(rule)`, cheaply."""
    keys = {
        ("group", key) for group in rule.spec.groups for name, key in _GROUP_KEYS if getattr(group, name) is not None
    }
    keys |= {
        ("rule", key)
        for group in rule.spec.groups
        for item in group.rules
        for name, key in _RULE_KEYS
        if getattr(item, name) is not None
    }
    return frozenset(keys)


def minimum_versions(keys: Iterable[tuple[str, str]]) -> tuple[tuple[str, Version], ...]:
    """Per evaluator type, the first release that loads every (`group` | `rule`, key) in `keys` (NEVER:
    none does), so a plan compares one version per file and names the fields only for the files it
    refuses."""
    keys = set(keys)
    minimums = []
    for evaluator_type in NAMES:
        need = _ALWAYS
        for kind, key in keys:
            support = TABLES[kind].get(key)
            since = support.since(evaluator_type) if support else None
            need = NEVER if since is None else max(need, since)
        minimums.append((evaluator_type, need))
    return tuple(minimums)


def loads(minimum: Version, version: Version | None) -> bool:
    """Whether an evaluator of `version` (None: the newest) loads a file needing `minimum`."""
    if minimum == NEVER:
        return False
    return version is None or (*version, 0, 0, 0)[: max(3, len(version))] >= minimum


def evaluator_issues(rule: AlertRule, evaluator_type: str, version: Version | None) -> list[str]:
    """Why an evaluator of this type and version would refuse `rule`'s rule file, field by field;
    empty when it loads it. For example `spec.groups[0].query_offset: vmalert 1.79.5 has no
    query_offset (Prometheus >= 2.53.0 only)`."""
    return field_issues(fields_used(rule), evaluator_type, version)


_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str | None) -> Version | None:
    """`2.42.0+ds`, `v1.79.5`, `vmalert-20230407-...-tags-v1.90.0-0-g...` → (2, 42, 0), ...; None when
    there is no version in the text (vmalert built without one reports an empty string)."""
    if not text:
        return None
    tagged = re.search(r"v(\d+)\.(\d+)\.(\d+)", text)  # vmalert's long form: the tag, not the date
    found = tagged or _VERSION.search(text)
    if found is None:
        return None
    return tuple(int(part) for part in found.groups(default="0"))


def evaluator_version(evaluator: RuleEvaluator, probed: str | None) -> Version | None:
    """The version whose fields to render for: the evaluator's `version` when set, else the probed one,
    else None (the newest release)."""
    return parse_version(evaluator.version) or parse_version(probed)


def metricsql_deferrable(issues: Sequence[ValidationIssue]) -> bool:
    """Whether every issue is promql-parser refusing a rule's `expr` (`render.validation`'s "invalid
    PromQL: ..." on `spec.groups[i].rules[j].expr`). vmalert evaluates MetricsQL, a superset of PromQL,
    so such an AlertRule is valid for a vmalert evaluator when vmalert's own dry run accepts its file
    (and only then: without the tool the promql-parser verdict stands)."""
    return bool(issues) and all(
        issue.field.endswith(".expr")
        and issue.field.startswith("spec.groups[")
        and issue.message.startswith("invalid PromQL")
        for issue in issues
    )
