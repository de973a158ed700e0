"""The rule-file safety net (clients.rulecheck): promtool and vmalert's dry run as installed here, the
field table against them, and culprit isolation with its cache (fake tools)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from alertagent.api import AlertRule
from alertagent.clients.rulecheck import RuleChecks, ToolError, promtool_check, tool_version, vmalert_check
from alertagent.render.evaluators import Version, evaluator_issues, parse_version
from alertagent.render.rules import render_rule_file
from tests.unit.test_evaluators import KEEP_FIRING_FOR, LIMIT, PLAIN, QUERY_OFFSET

PROMTOOL, VMALERT = shutil.which("promtool"), shutil.which("vmalert")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
needs_vmalert = pytest.mark.skipif(VMALERT is None, reason="vmalert is not installed")

GOOD = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum(rate(x[5m])) > 0\n    for: 1m\n"
QUERY_OFFSET_FILE = "groups:\n- name: g\n  query_offset: 1m\n  rules:\n  - alert: B\n    expr: up == 0\n"
METRICSQL = "groups:\n- name: g\n  rules:\n  - alert: C\n    expr: sum(rate(x)) by (job) > 0 default 0\n"
BAD_TEMPLATE = (
    "groups:\n- name: g\n  rules:\n  - alert: D\n    expr: up == 0\n"
    "    annotations:\n      summary: '%{ALERTAGENT_TEST_SECRET} {{ $label.instance }} is down'\n"
)


@needs_promtool
@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"team-a_good.yaml": GOOD}, None),
        (
            {"team-a_good.yaml": GOOD, "team-a_offset.yaml": QUERY_OFFSET_FILE},
            "team-a_offset.yaml: yaml: unmarshal errors: line 3: field query_offset not found in type "
            "rulefmt.RuleGroup",
        ),
        ({"team-a_mql.yaml": METRICSQL}, 'parse error: unexpected identifier "default"'),
        ({"team-a_tmpl.yaml": BAD_TEMPLATE}, 'undefined variable "$label"'),
    ],
)
def test_promtool_check_returns_none_or_its_message_naming_the_file(
    files: Mapping[str, str], expected: str | None
) -> None:
    message = promtool_check(files)
    if expected is None:
        assert message is None
    else:
        assert message is not None and expected in message
        assert "/tmp" not in message and "alertagent-rules-" not in message and "FAILED" not in message


@needs_vmalert
@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"team-a_good.yaml": GOOD}, None),
        ({"team-a_mql.yaml": METRICSQL}, None),  # MetricsQL: vmalert accepts what promtool refuses
        (
            {"team-a_good.yaml": GOOD, "team-a_offset.yaml": QUERY_OFFSET_FILE},
            'invalid group "g" in file "team-a_offset.yaml": unknown fields in group "g": query_offset',
        ),
        ({"team-a_tmpl.yaml": BAD_TEMPLATE}, 'undefined variable "$label"'),
    ],
)
def test_vmalert_dry_run_returns_none_or_its_message_naming_the_file(
    files: Mapping[str, str], expected: str | None
) -> None:
    message = vmalert_check(files)
    if expected is None:
        assert message is None
    else:
        assert message is not None and expected in message
        assert message.startswith('invalid group "g" in file "team-a_')  # log prefix and "failed to parse" gone
        assert "/tmp" not in message and "alertagent-rules-" not in message and "fatal" not in message


@needs_vmalert
def test_the_tools_never_see_the_operators_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """vmalert substitutes %{VAR} in rule files: an operator variable must not reach a message."""
    monkeypatch.setenv("ALERTAGENT_TEST_SECRET", "s3cr3t-value")
    message = vmalert_check({"team-a_tmpl.yaml": BAD_TEMPLATE})
    assert message is not None and "%{ALERTAGENT_TEST_SECRET}" in message and "s3cr3t-value" not in message


def test_a_tool_not_installed_is_skipped_and_one_that_cannot_run_is_no_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert promtool_check({"a.yaml": "groups: [}"}) is None
    assert vmalert_check({"a.yaml": "groups: [}"}) is None
    assert promtool_check({}, binary="/nonexistent/promtool") is None  # nothing to check: no run
    with pytest.raises(ToolError, match="promtool"):
        promtool_check({"a.yaml": GOOD}, binary="/nonexistent/promtool")


def _installed_vmalert_version() -> Version | None:
    if VMALERT is None:
        return None
    reported = tool_version(VMALERT)
    if reported is not None:
        return reported
    dpkg = shutil.which("dpkg-query")  # Debian's vmalert reports no version: its package does
    if dpkg is None:
        return None
    query = [dpkg, "-W", "-f=${Version}", "victoria-metrics"]
    result = subprocess.run(query, capture_output=True, text=True, check=False)
    return parse_version(result.stdout) if result.returncode == 0 else None


RECORDING = AlertRule.model_validate(
    {"metadata": {"name": "r"}, "spec": {"groups": [{"name": "g", "rules": [{"record": "a:b", "expr": "up"}]}]}}
)
SAMPLES = {"query_offset": QUERY_OFFSET, "keep_firing_for": KEEP_FIRING_FOR, "limit": LIMIT, "plain": PLAIN}
SAMPLES["recording"] = RECORDING


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("evaluator_type", ["prometheus", "vmalert"])
def test_the_field_table_agrees_with_the_installed_tools(evaluator_type: str, sample: str) -> None:
    """Parity: at the installed version, the table refuses a field exactly when the real tool does
    (here Debian's Prometheus 2.42 and vmalert 1.79.5: query_offset refused by both, keep_firing_for by
    vmalert only, limit by neither)."""
    binary = PROMTOOL if evaluator_type == "prometheus" else VMALERT
    version = tool_version(binary) if evaluator_type == "prometheus" and binary else _installed_vmalert_version()
    if binary is None or version is None:
        pytest.skip(f"no {evaluator_type} tool with a known version here")
    check = promtool_check if evaluator_type == "prometheus" else vmalert_check
    rule = SAMPLES[sample]
    refused_by_tool = check({"team-a_x.yaml": render_rule_file(rule)}) is not None
    assert bool(evaluator_issues(rule, evaluator_type, version)) is refused_by_tool


# --- RuleChecks: isolation and cache, with a fake tool ------------------------------------------------


class FakeTool:
    """A tool that refuses every file whose text contains "BAD", naming them (or, when `named` is
    false, in a message that names no file, or `misleading`: naming the wrong one); records each run."""

    def __init__(self, named: bool = True, misleading: bool = False) -> None:
        self.runs: list[list[str]] = []
        self.named, self.misleading = named, misleading

    def __call__(self, files: Mapping[str, str]) -> str | None:
        self.runs.append(sorted(files))
        bad = sorted(name for name, text in files.items() if "BAD" in text)
        if not bad:
            return None
        if self.misleading and len(files) > 1:
            return f"{min(set(files) - set(bad), default=bad[0])}: something is wrong"
        if not self.named and len(files) > 1:
            return "a file is BAD"
        return "; ".join(f"{name}: BAD found" for name in bad)


def many(n: int, bad: set[int]) -> dict[str, str]:
    return {f"ns_r{i:03}.yaml": f"groups: [{i}{' BAD' if i in bad else ''}]" for i in range(n)}


@pytest.mark.parametrize(
    ("n", "bad"),
    [(1, {0}), (2, {1}), (16, {0}), (16, {15}), (16, {3, 12}), (500, {137}), (500, {0, 250, 499}), (7, set())],
)
@pytest.mark.parametrize(
    "tool",
    [FakeTool, lambda: FakeTool(named=False), lambda: FakeTool(misleading=True)],
    ids=["named", "unnamed", "misleading"],
)
def test_culprits_are_isolated_alone_with_their_own_message(n: int, bad: set[int], tool: Any) -> None:
    tool = tool()
    checks = RuleChecks(runners={"prometheus": tool})
    files = many(n, bad)
    refused = checks("prometheus", None, files)
    assert refused == {f"ns_r{i:03}.yaml": f"ns_r{i:03}.yaml: BAD found" for i in bad}
    for name in refused:
        assert [name] in tool.runs  # each culprit was checked alone
    if bad and tool.named and not tool.misleading:  # the files the message names, then the rest once
        assert len(tool.runs) == (1 if n == 1 else 1 + len(bad) + (n > len(bad)))
    elif bad:  # halving: O(k log n) runs, not n
        assert len(tool.runs) <= 2 + 2 * len(bad) * max(1, n.bit_length())
    else:
        assert len(tool.runs) == 1


def test_a_set_that_fails_although_each_file_passes_alone_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    def tool(files: Mapping[str, str]) -> str | None:
        return "flaky" if len(files) > 1 else None

    checks = RuleChecks(runners={"prometheus": tool})
    with caplog.at_level(logging.WARNING, logger="alertagent.clients.rulecheck"):
        assert checks("prometheus", None, many(4, set())) == {}
    assert "passes alone although its set failed" in caplog.text


def test_a_second_check_of_the_same_files_runs_no_tool_and_a_change_runs_it_on_that_file_alone() -> None:
    tool = FakeTool()
    checks = RuleChecks(runners={"vmalert": tool})
    files = many(100, {42})
    first = checks("vmalert", None, files)
    runs = len(tool.runs)
    assert checks("vmalert", None, files) == first and len(tool.runs) == runs  # nothing changed: no run
    files["ns_r007.yaml"] += " edited"
    assert checks("vmalert", None, files) == first
    assert tool.runs[runs:] == [["ns_r007.yaml"]]
    assert checks.runs == len(tool.runs)


def test_verdicts_are_per_evaluator_type() -> None:
    prom, vm = FakeTool(), FakeTool()
    checks = RuleChecks(runners={"prometheus": prom, "vmalert": vm})
    files = many(3, {1})
    checks("prometheus", None, files)
    checks("vmalert", None, files)
    assert len(prom.runs) > 0 and len(vm.runs) > 0


def test_no_tool_gives_no_verdict_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    checks = RuleChecks(runners={})
    with caplog.at_level(logging.WARNING, logger="alertagent.clients.rulecheck"):
        assert checks("prometheus", None, many(3, {1})) is None
        assert checks("prometheus", None, many(4, {1})) is None
    assert [r.getMessage() for r in caplog.records] == [
        "promtool not found: prometheus rule files are written unchecked"
    ]


def test_a_tool_older_than_the_evaluator_is_not_used() -> None:
    tool = FakeTool()
    checks = RuleChecks(runners={"prometheus": tool}, versions={"prometheus": (2, 42, 0)})
    assert checks("prometheus", (2, 53, 0), many(3, {1})) is None  # it would refuse 2.53's new fields
    assert checks("prometheus", (2, 42, 1), many(3, {1})) == {"ns_r001.yaml": "ns_r001.yaml: BAD found"}
    assert checks("prometheus", None, many(3, {1})) is not None  # unknown: the tool is the best judge


def test_a_tool_that_gives_no_verdict_checks_nothing_and_caches_nothing() -> None:
    calls = []

    def broken(files: Mapping[str, str]) -> str | None:
        calls.append(files)
        raise ToolError("promtool timed out")

    checks = RuleChecks(runners={"prometheus": broken})
    assert checks("prometheus", None, many(3, set())) is None
    assert checks("prometheus", None, many(3, set())) is None
    assert len(calls) == 2 and not checks.verdicts


def test_the_cache_is_bounded() -> None:
    checks = RuleChecks(runners={"prometheus": FakeTool()}, max_entries=10)
    for i in range(5):
        checks("prometheus", None, {f"f{i}-{j}.yaml": f"{i}-{j}" for j in range(4)})
    assert len(checks.verdicts) <= 10


@needs_promtool
def test_the_real_promtool_isolates_one_bad_file_among_forty() -> None:
    files = {f"ns_r{i:02}.yaml": GOOD.replace("alert: A", f"alert: A{i}") for i in range(40)}
    files["ns_r17.yaml"] = QUERY_OFFSET_FILE
    checks = RuleChecks()
    refused = checks("prometheus", None, files)
    assert refused is not None and refused.keys() == {"ns_r17.yaml"}
    assert "field query_offset not found" in refused["ns_r17.yaml"]
    runs = checks.runs
    assert checks("prometheus", None, files) == refused and checks.runs == runs


def test_a_tool_being_found_holds_back_no_check_with_another_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Warming finds vmalert (a `-version` run of up to the timeout) while a Prometheus check comes."""
    finding, release = threading.Event(), threading.Event()

    def find(self: RuleChecks, dialect: str) -> Any:
        if dialect == "vmalert":
            finding.set()
            release.wait(10)
            return None
        return lambda files: None

    monkeypatch.setattr(RuleChecks, "_find", find)
    checks = RuleChecks()
    assert checks("prometheus", None, {"a.yaml": "groups: []"}) == {}  # its tool found at its first check
    warming = threading.Thread(target=checks.warm, args=(["vmalert"],))
    warming.start()
    try:
        assert finding.wait(10)
        answers: list[dict[str, str] | None] = []
        checked = threading.Event()

        def check() -> None:
            answers.append(checks("prometheus", None, {"b.yaml": "groups: []"}))
            checked.set()

        threading.Thread(target=check).start()
        assert checked.wait(10) and answers == [{}]  # answered while vmalert is still being found
        assert checks.runs == 2
    finally:
        release.set()
        warming.join(10)
