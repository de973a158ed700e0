"""The long-lived rule checker (operator/rulecheck, clients.rulecheck_process): it says what the
installed promtool says, file for file and word for word, over a corpus of every kind of fault; it is
started once and reused; a dead or stuck checker costs one promtool run, not a verdict; and RuleChecks
prefers it to promtool unless it is older. The checker is the one `devstack/setup.sh` builds and links
beside the test environment's Python (the test command runs that set-up)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from alertagent.clients.rulecheck import (
    RuleChecks,
    ToolError,
    checked_by_process,
    go_release,
    promtool_check,
    tool_version,
)
from alertagent.clients.rulecheck_process import MAX_REQUEST_BYTES, NAME, CheckerError, RuleCheckProcess, find_checker

PROMTOOL = shutil.which("promtool")
CHECKER = find_checker()


def _rule_file(rule: str, group: str = "  interval: 1m\n") -> str:
    return f"groups:\n- name: g\n{group}  rules:\n{rule}"


ALERT = "  - alert: A\n    expr: up == 0\n"
# One file per kind of fault promtool 2.42 reports, and files it accepts.
CORPUS: dict[str, str] = {
    "good.yaml": _rule_file(
        ALERT + "    for: 5m\n    labels: {severity: page}\n    annotations: {summary: '{{ $value }}'}\n"
    ),
    "record.yaml": _rule_file("  - record: job:up:sum\n    expr: sum by (job) (up)\n"),
    "empty.yaml": "",
    "no-groups.yaml": "groups: []\n",
    "unicode.yaml": _rule_file(ALERT + "    annotations: {summary: 'Datenbank ausgefallen ☠ {{ $labels.job }}'}\n"),
    "yaml-syntax.yaml": "groups: [}",
    "yaml-tabs.yaml": "groups:\n\t- name: g\n",
    "unknown-field.yaml": _rule_file(ALERT + "    severity: page\n"),
    "unknown-group-field.yaml": _rule_file(ALERT, "  query_offset: 1m\n"),
    "bad-expr.yaml": _rule_file("  - alert: A\n    expr: rate((up[5m])\n"),
    "bad-function.yaml": _rule_file('  - alert: A\n    expr: sort_by_label(up, "job")\n'),
    "empty-expr.yaml": _rule_file("  - alert: A\n    expr: ''\n"),
    "bad-duration.yaml": _rule_file(ALERT + "    for: 5x\n"),
    "bad-interval.yaml": _rule_file(ALERT, "  interval: often\n"),
    "no-name.yaml": _rule_file("  - expr: up\n"),
    "both-names.yaml": _rule_file("  - alert: A\n    record: r\n    expr: up\n"),
    "record-with-for.yaml": _rule_file("  - record: r\n    expr: up\n    for: 1m\n"),
    "record-annotations.yaml": _rule_file("  - record: r\n    expr: up\n    annotations: {a: b}\n"),
    "bad-record-name.yaml": _rule_file("  - record: 'not a metric'\n    expr: up\n"),
    "bad-label-name.yaml": _rule_file(ALERT + "    labels: {'0bad': x}\n"),
    "bad-template.yaml": _rule_file(ALERT + "    annotations: {summary: '{{ $label.job }}'}\n"),
    "unclosed-template.yaml": _rule_file(ALERT + "    labels: {team: '{{ .Labels.team'}\n"),
    "duplicate-group.yaml": "groups:\n- name: g\n  rules:\n" + ALERT + "- name: g\n  rules:\n" + ALERT,
    "no-group-name.yaml": "groups:\n- name: ''\n  rules:\n" + ALERT,
    "many-faults.yaml": _rule_file("  - alert: A\n    expr: up ==\n    for: x\n  - record: 'a b'\n    expr: (\n"),
    "duplicate-rules.yaml": _rule_file("  - record: r\n    expr: up\n  - record: r\n    expr: up\n"),
    # What Go decides, and a Go release other than promtool's decides differently (a tester's finds: a
    # go1.26 build accepted the first three and worded the last two otherwise).
    "go-else-with.yaml": _rule_file(
        ALERT + "    annotations: {s: '{{with $labels.a}}x{{else with $labels.b}}y{{end}}'}\n"
    ),
    "go-unicode-15-name.yaml": _rule_file(ALERT + "    annotations: {s: '{{ $labels.\ua7c0 }}'}\n"),
    "go-unicode-script.yaml": _rule_file("  - alert: A\n    expr: 'up{job=~\"\\\\p{Toto}+\"} == 0'\n"),
    "go-stray-paren.yaml": _rule_file(ALERT + "    annotations: {s: '{{ $labels.job ) }}'}\n"),
    "go-else-if-with.yaml": _rule_file(
        ALERT + "    annotations: {s: '{{ if 1 }}{{ else if 2 }}{{ else with 3 }}{{ end }}'}\n"
    ),
    # A YAML value cut inside a UTF-8 character in promtool's message (its stderr is not valid UTF-8).
    "cut-utf8.yaml": "groups: aa\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\n",
    # promtool's lint: reported on stderr, never a failure; each identity once, sorted, labels listed.
    "duplicate-alerts.yaml": "groups:\n- name: g1\n  rules:\n"
    + (ALERT + "    labels: {severity: page, team: db}\n") * 3
    + "  - alert: '0'\n    expr: up\n- name: g2\n  rules:\n  - alert: '0'\n    expr: down\n"
    + ALERT
    + "    labels: {severity: page}\n",
}
FAULTY = sorted(
    name
    for name in CORPUS
    if name
    not in {
        "good.yaml",
        "record.yaml",
        "empty.yaml",
        "no-groups.yaml",
        "unicode.yaml",
        "duplicate-rules.yaml",
        "duplicate-alerts.yaml",
    }
)


def test_the_checker_is_installed_beside_the_test_environment() -> None:
    """The test command's set-up builds it: a missing checker is a failure, not a skip."""
    assert CHECKER is not None, f"{NAME} not found: run operator/alertagent/devstack/setup.sh"
    assert PROMTOOL is not None, "promtool not found: run operator/alertagent/devstack/setup.sh"
    process = RuleCheckProcess(CHECKER, 30)
    try:
        # The same release as promtool: the Dockerfile builds both from Prometheus 2.42, by Go 1.19.8.
        assert process.start() == tool_version(PROMTOOL)
        promtool_go = subprocess.run([PROMTOOL, "--version"], capture_output=True, text=True, check=True).stdout
        assert process.go is not None and f"go version:       {process.go}\n" in promtool_go
    finally:
        process.close()


@pytest.fixture(scope="module")
def process() -> Iterator[RuleCheckProcess]:
    assert CHECKER is not None
    checker = RuleCheckProcess(CHECKER, 30)
    yield checker
    checker.close()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_file_gets_promtools_own_verdict_word_for_word(process: RuleCheckProcess, name: str) -> None:
    files = {name: CORPUS[name]}
    expected = promtool_check(files)
    assert (expected is not None) == (name in FAULTY), expected  # the corpus holds what it says it holds
    assert checked_by_process(process, None, 30)(files) == expected


def test_a_set_of_files_gets_promtools_verdict_word_for_word(process: RuleCheckProcess) -> None:
    check = checked_by_process(process, None, 30)
    assert check(CORPUS) == promtool_check(CORPUS)
    accepted = {name: text for name, text in CORPUS.items() if name not in FAULTY}
    assert check(accepted) is None and promtool_check(accepted) is None


def test_it_is_started_once_and_answers_many_checks(process: RuleCheckProcess) -> None:
    process({"good.yaml": CORPUS["good.yaml"]})
    starts = process.starts
    for n in range(50):
        code, stderr = process({f"f{n}.yaml": CORPUS["bad-expr.yaml"] if n % 2 else CORPUS["good.yaml"]})
        assert (code, bool(stderr)) == ((1, True) if n % 2 else (0, False))
        assert (f"f{n}.yaml: " in stderr) == bool(n % 2)
    assert process.starts == starts


def test_a_large_set_is_sent_in_parts_and_answered_as_one_promtool_run(process: RuleCheckProcess) -> None:
    """500 files of 20 rules (~0.6 MB): several requests, joined in name order into what one promtool
    run over the 500 says (two faulty files in different parts)."""
    rules = "".join(f'  - alert: A{i}\n    expr: rate(x{{job="j"}}[5m]) > {i}\n    for: 5m\n' for i in range(20))
    files = {f"f{n:03}.yaml": _rule_file(rules) for n in range(500)}
    files["f010.yaml"], files["f490.yaml"] = CORPUS["bad-expr.yaml"], CORPUS["many-faults.yaml"]
    assert sum(map(len, files.values())) > 2 * MAX_REQUEST_BYTES
    exchanges = process.exchanges
    code, stderr = process(files)
    assert process.exchanges - exchanges >= 3
    assert code == 1 and stderr.count("FAILED") == 2 and stderr.index("f010.yaml") < stderr.index("f490.yaml")
    assert checked_by_process(process, None, 30)(files) == promtool_check(files)


def test_a_checker_that_died_is_started_again_for_the_next_check() -> None:
    assert CHECKER is not None
    process = RuleCheckProcess(CHECKER, 30)
    check = checked_by_process(process, None, 30)
    try:
        assert check({"good.yaml": CORPUS["good.yaml"]}) is None
        assert process._process is not None
        os.kill(process._process.pid, signal.SIGKILL)
        process._process.wait()
        files = {"bad-expr.yaml": CORPUS["bad-expr.yaml"]}
        assert check(files) == promtool_check(files)
        assert process.starts == 2
    finally:
        process.close()


def test_a_checker_that_dies_during_a_check_costs_one_promtool_run(tmp_path: Path) -> None:
    """It reads the request, then exits without an answer: promtool answers that check."""
    dying = _script(tmp_path / NAME, 'print(json.dumps({"version": "2.42.0"}), flush=True)\nsys.stdin.readline()\n')
    process = RuleCheckProcess(dying, 30)
    try:
        files = {"bad-expr.yaml": CORPUS["bad-expr.yaml"]}
        assert checked_by_process(process, PROMTOOL, 30, tool_version(PROMTOOL or ""))(files) == promtool_check(files)
        assert process.starts == 1 and process._process is None
        with pytest.raises(CheckerError, match="exited with 0"):
            process(files)
    finally:
        process.close()


def test_an_older_promtool_does_not_stand_in_for_the_checker(tmp_path: Path) -> None:
    """A checker that cannot answer is no verdict when the promtool beside it is older (it would refuse
    what the checker's newer parser accepts)."""
    dying = _script(tmp_path / NAME, 'print(json.dumps({"version": "2.53.0"}), flush=True)\nsys.stdin.readline()\n')
    process = RuleCheckProcess(dying, 30)
    try:
        process.start()
        with pytest.raises(ToolError, match="exited with 0"):
            checked_by_process(process, PROMTOOL, 30, (2, 42, 0))({"a.yaml": CORPUS["good.yaml"]})
    finally:
        process.close()


def test_a_timeout_covers_the_whole_set_not_each_part(tmp_path: Path) -> None:
    """Each part answered after 0.4 s, a timeout of 1 s, five parts: no answer in time, after ~1 s."""
    slow = _script(
        tmp_path / NAME,
        'print(json.dumps({"version": "2.42.0"}), flush=True)\n'
        "for line in sys.stdin:\n"
        '    time.sleep(0.4)\n    print(json.dumps({"code": 0, "stderr": ""}), flush=True)\n',
    )
    process = RuleCheckProcess(slow, 1.0)
    try:
        process.start()
        files = {f"f{n}.yaml": "#" * MAX_REQUEST_BYTES for n in range(5)}
        started = time.monotonic()
        with pytest.raises(CheckerError, match="no answer in time"):
            process(files)
        assert time.monotonic() - started < 2
    finally:
        process.close()


def _script(path: Path, body: str) -> str:
    path.write_text(f"#!{sys.executable}\nimport sys, json, time\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_stuck_checker_is_ended_at_the_timeout_and_promtool_answers_instead(tmp_path: Path) -> None:
    stuck = _script(tmp_path / NAME, 'print(json.dumps({"version": "2.42.0"}), flush=True)\ntime.sleep(3600)\n')
    process = RuleCheckProcess(stuck, 0.5)
    try:
        assert process.start() == (2, 42, 0)
        child = process._process
        assert child is not None
        started = time.monotonic()
        with pytest.raises(CheckerError, match="no answer in time"):
            process({"a.yaml": CORPUS["good.yaml"]})
        assert time.monotonic() - started < 5
        assert child.poll() is not None  # ended, not left behind
        files = {"bad-expr.yaml": CORPUS["bad-expr.yaml"]}
        promtool = checked_by_process(process, PROMTOOL, 30, tool_version(PROMTOOL or ""))
        assert promtool(files) == promtool_check(files)
        assert process.starts == 2  # started again for that check, stuck again, ended again
        assert process._process is None
        with pytest.raises(ToolError, match="no answer in time"):  # no promtool: no verdict (RuleChecks logs it)
            checked_by_process(process, None, 0.5)(files)
    finally:
        process.close()


def test_a_checker_that_cannot_start_is_a_checker_error(tmp_path: Path) -> None:
    silent = _script(tmp_path / "silent", "sys.exit(3)\n")
    with pytest.raises(CheckerError, match="did not start"):
        RuleCheckProcess(silent, 5).start()
    with pytest.raises(CheckerError, match="could not start"):
        RuleCheckProcess(str(tmp_path / "absent"), 5).start()


def test_it_is_found_on_path_then_beside_python_and_can_be_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = _script(tmp_path / NAME, "")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_checker() == on_path
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_checker() == str(Path(sys.executable).parent / NAME)  # where setup.sh links it
    monkeypatch.setenv("ALERTAGENT_RULECHECK", "off")
    assert find_checker() is None


def _promtool_stub(directory: Path, version: str) -> Path:
    """A promtool that prints `version` and records every check it is asked for."""
    calls = directory / "promtool-calls"
    _script(
        directory / "promtool",
        f"if sys.argv[1:] == ['--version']:\n    print('promtool, version {version} (branch: x)')\n    sys.exit(0)\n"
        f"open({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\nsys.exit(0)\n",
    )
    return calls


def test_rule_checks_ask_the_checker_and_not_promtool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert CHECKER is not None
    calls = _promtool_stub(tmp_path, "2.42.0")
    os.symlink(CHECKER, tmp_path / NAME)
    monkeypatch.setenv("PATH", str(tmp_path))
    checks = RuleChecks()
    found = checks("prometheus", (2, 42, 0), {"a.yaml": CORPUS["good.yaml"], "b.yaml": CORPUS["bad-expr.yaml"]})
    assert found is not None and set(found) == {"b.yaml"} and "unclosed left parenthesis" in found["b.yaml"]
    assert not calls.exists()  # the stub would have passed everything: the checker judged
    assert checks.versions["prometheus"] == (2, 42, 0)


def test_warming_starts_the_checker_that_then_judges_the_first_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert CHECKER is not None
    calls = _promtool_stub(tmp_path, "2.42.0")
    os.symlink(CHECKER, tmp_path / NAME)
    monkeypatch.setenv("PATH", str(tmp_path))
    made: list[RuleCheckProcess] = []
    made_one = RuleCheckProcess.__init__

    def made_and_kept(self: RuleCheckProcess, *args: Any, **kwargs: Any) -> None:
        made_one(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(RuleCheckProcess, "__init__", made_and_kept)
    checks = RuleChecks()
    with caplog.at_level("WARNING"):
        checks.warm(["prometheus", "vmalert"])
    assert [(p.starts, p.exchanges) for p in made] == [(1, 0)]  # started, nothing asked yet
    assert "vmalert not found: vmalert rule files are written unchecked" in caplog.text  # as a check would say
    found = checks("prometheus", (2, 42, 0), {"b.yaml": CORPUS["bad-expr.yaml"]})
    assert found is not None and "unclosed left parenthesis" in found["b.yaml"]
    assert [(p.starts, p.exchanges) for p in made] == [(1, 1)]  # the warmed process judged, not started again
    assert not calls.exists() and checks.runs == 1  # promtool was asked for its version alone


def test_a_checker_older_than_promtool_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _promtool_stub(tmp_path, "2.53.0")
    _script(tmp_path / NAME, 'print(json.dumps({"version": "2.42.0"}), flush=True)\nsys.stdin.read()\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    checks = RuleChecks()
    assert checks("prometheus", (2, 53, 0), {"a.yaml": CORPUS["good.yaml"]}) == {}
    assert calls.read_text() == "check rules a.yaml\n"  # promtool, the newer parser, judged
    assert checks.versions["prometheus"] == (2, 53, 0)


def test_a_checker_built_by_another_go_release_than_promtool_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Go decides part of promtool's verdicts (templates, regexes, Unicode): a checker of the same
    Prometheus release built by Go 1.26 is not promtool's equal when promtool was built by Go 1.19."""
    calls = tmp_path / "promtool-calls"
    _script(
        tmp_path / "promtool",
        "if sys.argv[1:] == ['--version']:\n"
        "    print('promtool, version 2.42.0+ds (branch: debian/sid)')\n"
        "    print('  go version:       go1.19.8')\n    sys.exit(0)\n"
        f"open({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n",
    )
    _script(
        tmp_path / NAME, 'print(json.dumps({"go": "go1.26.8", "version": "2.42.0"}), flush=True)\nsys.stdin.read()\n'
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    with caplog.at_level("WARNING"):
        assert RuleChecks()("prometheus", (2, 42, 0), {"a.yaml": CORPUS["good.yaml"]}) == {}
    assert calls.read_text() == "check rules a.yaml\n"
    assert "was built by Go 1.26, promtool by Go 1.19: promtool checks the rule files" in caplog.text


def test_go_releases_are_read_from_promtool_and_the_checker() -> None:
    assert go_release("go1.19.8") == (1, 19) and go_release("devel go1.26-abc") == (1, 26)
    assert go_release(None) is None and go_release("") is None


def _check_each(process: RuleCheckProcess, files: Mapping[str, str]) -> list[str | None]:
    check = checked_by_process(process, None, 30)
    return [check({name: text}) for name, text in sorted(files.items())]


def test_turned_off_promtool_judges_the_same(monkeypatch: pytest.MonkeyPatch, process: RuleCheckProcess) -> None:
    monkeypatch.setenv("ALERTAGENT_RULECHECK", "off")
    checks = RuleChecks()
    found = checks("prometheus", (2, 42, 0), CORPUS)
    assert found is not None
    assert sorted(found) == FAULTY
    assert [found.get(name) for name in sorted(CORPUS)] == _check_each(process, CORPUS)


def test_a_relative_path_from_path_still_starts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """It runs in /, so a relative PATH entry (`PATH=.venv/bin:...`) must not leave it unfound."""
    assert CHECKER is not None
    monkeypatch.chdir(Path(CHECKER).parent)
    process = RuleCheckProcess(f"./{NAME}", 30)
    try:
        assert process.start() == (2, 42, 0)
    finally:
        process.close()
