"""Tenant isolation of rule files (pure): the enforced tenant label and, opt-in, scoped selectors.

Under `namespaceIsolation: OnNamespace` every rule of an AlertRule outside the cluster's exempt
namespaces (`spec.tenancy.exemptNamespaces`, by default the cluster's own) is rendered with the label
`<namespaceLabel>: <the AlertRule's namespace>`, replacing what the rule's `labels` say, and with the
test-send label emptied (so no tenant's alert can take a channel's test-send route). This mirrors
prometheus-operator's `enforcedNamespaceLabel` (pkg/operator/rules.go: each rule of a PrometheusRule
outside `excludedFromEnforcement` gets `labels[<label>] = <namespace>`).

A rule label is enough for routing because both evaluators set each rule label on every result,
over the series' own label of that name: Prometheus for alerts (rules/alerting.go, `Eval`: `lb.Set`
for each rule label) and for recorded series (rules/recording.go, `Eval`: "Labels to add or overwrite
before storing the result"); vmalert likewise (app/vmalert/rule: alerting `toLabels`, recording
`toTimeSeries`; recent releases keep the series' overridden value on an alert as `exported_<label>`).
So an alert of a tenant's rule always carries the tenant's own namespace, whatever its expression
returns, and the channels' `<namespaceLabel>="<namespace>"` route matchers deliver it to that tenant
alone.

Scoping the selectors (`spec.tenancy.scopeSelectors`, off by default) also confines what the rule
reads: every vector and range selector gets `<label>="<namespace>"`, and any matcher on that label is
dropped first, as prom-label-proxy's `injectproxy.PromQLEnforcer` does for prometheus-operator
(errorOnReplace false). It is done on promql-parser's AST and printed back with its printer; the
printed expression is parsed again and must equal the rewritten AST exactly, and each selector must be
the original one with only the tenant matcher changed, or the expression is refused (`ScopeError`)
rather than rewritten into something else. An expression promql-parser cannot parse (MetricsQL) cannot
be scoped."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import promql_parser

from ..api.alertmanagercluster import AlertmanagerCluster
from ..common.identity import ObjectRef
from ..common.labels import TEST_LABEL
from .regex import MAX_PARSE_DEPTH, promql_depth_bound


class ScopeError(ValueError):
    """An expression whose selectors cannot be scoped; the message names the rule's field."""


@dataclass(frozen=True)
class Tenant:
    """What a cluster enforces on the rule files of one namespace: the label and its value, and
    whether the selectors are scoped too."""

    label: str
    value: str
    scope_selectors: bool = False


def exempt_namespaces(cluster: AlertmanagerCluster) -> frozenset[str]:
    """The namespaces whose AlertRules keep their own tenant label: `spec.tenancy.exemptNamespaces`,
    or the cluster's own namespace when that is unset."""
    exempt = cluster.spec.tenancy.exempt_namespaces
    return frozenset(exempt) if exempt is not None else frozenset({ObjectRef.of(cluster).namespace})


def tenant_of(cluster: AlertmanagerCluster, namespace: str) -> Tenant | None:
    """What `cluster` enforces on the AlertRules of `namespace`; None when nothing (isolation off, or
    an exempt namespace)."""
    if cluster.spec.namespace_isolation != "OnNamespace" or namespace in exempt_namespaces(cluster):
        return None
    return Tenant(cluster.spec.namespace_label, namespace, cluster.spec.tenancy.scope_selectors)


def enforce_tenant(groups: Sequence[Mapping[str, Any]], tenant: Tenant) -> list[dict[str, Any]]:
    """Rule groups (as rendered: rule-file keys) with the tenant label set on every rule, alerting and
    recording alike, and with scoped selectors when the tenant says so. Raises ScopeError naming the
    rule (`spec.groups[0].rules[1].expr`) whose expression cannot be scoped."""
    enforced = []
    for g, group in enumerate(groups):
        rules = []
        for r, given in enumerate(group.get("rules") or []):
            labels = {**(given.get("labels") or {}), tenant.label: tenant.value}
            if "alert" in given:  # an empty rule label removes the label from the alert, whatever the
                labels[TEST_LABEL] = ""  # series say: no tenant's alert takes a channel's test-send route
            rule = {**given, "labels": labels}
            if tenant.scope_selectors:
                try:
                    rule["expr"] = scope_selectors(rule["expr"], tenant.label, tenant.value)
                except ScopeError as err:
                    raise ScopeError(f"spec.groups[{g}].rules[{r}].expr: {err}") from None
            rules.append(rule)
        enforced.append({**group, "rules": rules})
    return enforced


_MATCH_OPS = (
    (promql_parser.MatchOp.Equal, "="),
    (promql_parser.MatchOp.NotEqual, "!="),
    (promql_parser.MatchOp.Re, "=~"),
    (promql_parser.MatchOp.NotRe, "!~"),
)
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}

Matcher = tuple[str, str, str]  # (operator text, label name, value)


def _quote(value: str) -> str:
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def _op(op: Any) -> str:
    return next(text for known, text in _MATCH_OPS if op == known)  # MatchOp is not hashable


def _matchers(node: Any) -> list[Matcher]:
    return [(_op(m.op), m.name, m.value) for m in node.matchers.matchers]


def _modifiers(printed: str, name: str | None) -> str:
    """The ` @ ...` / ` offset ...` suffix of a selector as promql-parser prints it (`name{...}` then
    the modifiers): read by skipping the name and the braces, strings included, never by reading the
    modifiers' attributes (promql-parser panics on some `@` values)."""
    i = len(name) if name and printed.startswith(name) else 0
    if i < len(printed) and printed[i] == "{":
        i += 1
        while i < len(printed) and printed[i] != "}":
            if printed[i] in "\"'`":
                quote, i = printed[i], i + 1
                while i < len(printed) and printed[i] != quote:
                    i += 2 if printed[i] == "\\" and quote != "`" else 1
            i += 1
        i += 1
    return printed[i:]


def _offset_and_at(selector: Any) -> str:
    """A vector selector's `offset` and `at` as promql-parser holds them (its debug form, whose
    top-level fields are the lines indented by 8; matcher values are escaped on their own lines)."""
    text = repr(selector)
    at = text.find("\n        offset:")
    return text[at:] if at >= 0 else text  # a form not known here never compares equal by accident


def _selector(name: str | None, matchers: Sequence[Matcher], modifiers: str) -> Any:
    """A vector selector with exactly these name, matchers and modifiers, parsed from its text; the
    name goes in front when it reads back as the name (not a keyword such as `sum`), else as a
    `__name__` matcher."""
    block = "{" + ",".join(f"{label}{op}{_quote(value)}" for op, label, value in matchers) + "}"
    if name and _METRIC_NAME.fullmatch(name):
        try:
            parsed = promql_parser.parse(f"{name}{block}{modifiers}")
        except ValueError:
            parsed = None
        if isinstance(parsed, promql_parser.VectorSelector) and parsed.name == name:
            return parsed
    if name:
        block = "{" + ",".join(
            f"{label}{op}{_quote(value)}" for op, label, value in [("=", "__name__", name), *matchers]
        )
        block += "}"
    return promql_parser.parse(f"{block}{modifiers}")


Selector = tuple[str | None, tuple[Matcher, ...], str]  # (metric name, matchers sorted, modifiers)


def _normal(name: str | None, matchers: Sequence[Matcher], modifiers: str) -> Selector:
    """A selector in one form: a `__name__="x"` matcher is the name `x`, as Prometheus reads it."""
    named = [m for m in matchers if m[:2] == ("=", "__name__")]
    if name is None and len(named) == 1:
        return named[0][2], tuple(sorted(m for m in matchers if m != named[0])), modifiers
    return name, tuple(sorted(matchers)), modifiers


def _selectors(ast: Any) -> list[Selector]:
    """Every selector of an AST, in one form, sorted."""
    found: list[Selector] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(_normal(node.name, _matchers(node), _modifiers(node.prettify(), node.name)))

    promql_parser.walk(ast, pre_visit=visit)
    return sorted(found, key=repr)


def _one_line(pretty: str) -> str:
    """promql-parser's multi-line layout of a long expression on one line, as written by people; the
    result is parsed again and compared, so a string a line break fell in cannot slip through."""
    lines = [line.strip() for line in pretty.split("\n")]
    text = lines[0]
    for line in lines[1:]:
        text += line if text.endswith("(") or line.startswith(")") else " " + line
    return text


def scope_selectors(expr: str, label: str, value: str, op: Literal["=", "=~"] = "=") -> str:
    """`expr` with `label="value"` on every vector and range selector (matchers on `label` dropped
    first), printed by promql-parser; with `op="=~"` the matcher is `label=~"value"`, value a regex
    (PromQL anchors it: `^(?:value)$`), e.g. `a|b` for several namespaces. Raises ScopeError when the
    expression cannot be parsed or scoped faithfully, or for another operator."""
    if op not in ("=", "=~"):
        raise ScopeError(f"cannot scope selectors with the operator {op!r}")
    if promql_depth_bound(expr) > MAX_PARSE_DEPTH:  # promql-parser would crash the process on it
        raise ScopeError("nested too deeply to scope its selectors")
    try:
        ast = promql_parser.parse(expr)
    except ValueError as err:
        raise ScopeError(f"its selectors cannot be scoped: promql-parser cannot parse it ({err})") from None
    tenant: Matcher = (op, label, value)
    expected: list[Selector] = []

    def scope(node: Any) -> Any:
        if not isinstance(node, promql_parser.VectorSelector):
            return None
        if node.matchers.or_matchers:
            raise ScopeError(f"a selector with `or` between matchers cannot be scoped: {node.prettify()}")
        printed = node.prettify()
        matchers = [m for m in _matchers(node) if m[1] != label] + [tenant]
        modifiers = _modifiers(printed, node.name)
        expected.append(_normal(node.name, matchers, modifiers))
        replacement = _selector(node.name, matchers, modifiers)
        replacement = promql_parser.parse(replacement.prettify())  # matchers in the printer's order
        if _offset_and_at(replacement) != _offset_and_at(node):  # e.g. `x @ -100` prints as `x @ 0.000`
            raise ScopeError(f"promql-parser cannot print the selector {printed} back faithfully")
        return replacement

    try:
        scoped = promql_parser.transform(ast, pre_visit=scope)
        text = _one_line(scoped.prettify())
        again = promql_parser.parse(text)
    except ScopeError:
        raise
    except ValueError as err:
        raise ScopeError(f"its selectors cannot be scoped: {err}") from None
    # The printed text must read back as exactly the rewritten tree, and each selector must be an
    # original one with only the tenant matcher changed (printer or rewrite faults end here, refused).
    if repr(again) != repr(scoped) or _selectors(again) != sorted(expected, key=repr):
        raise ScopeError("promql-parser cannot print it back faithfully, so its selectors cannot be scoped")
    return text
