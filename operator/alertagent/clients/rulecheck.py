"""Rule files checked with the evaluators' own tools before they are written (blocking): `promtool
check rules` for Prometheus evaluators, `vmalert -dryRun` (rule parsing, MetricsQL and template
validation, as at startup) for vmalert evaluators.

Both tools judge each file on its own: promtool checks and reports file by file
(`cmd/promtool/main.go` checkRules), and vmalert parses every file separately with group names unique
per file (`parse` in `app/vmalert/config/config.go`, v1.79.5 ... v1.129.1); so a set of files passes
exactly when each of its files passes. `RuleChecks` relies on that: it remembers each file's verdict by
content hash, runs the tool once over the files it has no verdict for, and when that run fails finds the
files responsible: those the tool's message names are checked alone (for their own message) and the
rest once more together; a failure no named file explains is found by halving the set. An unchanged
set runs no tool.

The tools run in an empty environment (vmalert substitutes `%{ENV_VAR}` in rule files: the operator's
variables must not leak into a message) in a temporary directory whose path is scrubbed from their
output, so messages name only the rule files."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..common.culprits import find_culprits
from ..render.evaluators import Version, format_version, parse_version
from .rulecheck_process import CheckerError, RuleCheckProcess, find_checker

log = logging.getLogger(__name__)

TOOLS: Mapping[str, str] = {"prometheus": "promtool", "vmalert": "vmalert"}
DEFAULT_TIMEOUT_SECONDS = 120.0
# Both tools are Go programs run for a fraction of a second: their garbage collector waits until the
# heap nears 128 MiB (about a quarter less CPU per run; a large check still collects, and stays bounded).
TOOL_ENV: Mapping[str, str] = {"GOGC": "off", "GOMEMLIMIT": "128MiB"}
MAX_MESSAGE = 2000

Runner = Callable[[Mapping[str, str]], str | None]


class ToolError(RuntimeError):
    """The tool could not give a verdict (it could not start, timed out or was killed)."""


def _fold(text: str) -> str:
    return " ".join(text.split())[:MAX_MESSAGE]


def _run(argv: Sequence[str], files: Mapping[str, str], timeout: float) -> tuple[int, str, str, str]:
    """Write `files` into a fresh temporary directory and run `argv` there (file names relative):
    (exit code, stdout, stderr, the directory's path)."""
    with tempfile.TemporaryDirectory(prefix="alertagent-rules-") as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text)
        try:
            result = subprocess.run(
                list(argv),
                cwd=tmp,
                env=dict(TOOL_ENV),
                capture_output=True,
                text=True,
                errors="replace",  # a tool may quote a YAML value cut inside a UTF-8 character
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as err:
            raise ToolError(f"{Path(argv[0]).name}: {err.__class__.__name__}: {err}") from err
    if result.returncode < 0:
        raise ToolError(f"{Path(argv[0]).name} was killed by signal {-result.returncode}")
    return result.returncode, result.stdout, result.stderr, tmp


def _scrub(text: str, tmp: str) -> str:
    return text.replace(tmp + "/", "").replace(tmp, ".")


def promtool_check(
    files: Mapping[str, str], binary: str | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> str | None:
    """`promtool check rules` over rule files (name → text): None when promtool accepts them all or is
    not installed, else its message (whitespace folded, at most 2000 characters). Raises ToolError when
    promtool cannot give a verdict."""
    binary = binary or shutil.which("promtool")
    if binary is None or not files:
        return None
    code, stdout, stderr, tmp = _run([binary, "check", "rules", *sorted(files)], files, timeout)
    return promtool_verdict(code, _scrub(stderr or stdout, tmp))


def promtool_verdict(code: int, output: str) -> str | None:
    """What `promtool check rules` exiting with `code` and writing `output` (its stderr, else its stdout)
    says: None (accepted) or its message, "FAILED:" markers dropped and whitespace folded."""
    if code == 0:
        return None
    return _fold(output.replace("FAILED:", "")) or f"promtool exited with {code}"


def _go_version_line(text: str) -> str | None:
    """The Go release on promtool's `go version:` line ("go1.19.8"), or None."""
    found = _GO_VERSION.search(text)
    return found[1] if found else None


def _why_not_checker(
    checker: Version | None,
    checker_go: tuple[int, int] | None,
    promtool: Version | None,
    promtool_go: tuple[int, int] | None,
) -> str | None:
    """Why the long-lived checker must not stand in for the installed promtool, or None: it must be
    of the same or a later Prometheus release (major.minor), and built by the same Go release (major.minor)
    when both tell theirs: Go's templates, regexes and Unicode tables decide part of promtool's verdicts
    (Go 1.23 accepts `{{else with}}`, Go 1.21 `\\p{Kawi}`, which promtool 2.42 built by Go 1.19 refuses)."""
    if promtool is not None and (checker is None or checker[:2] < promtool[:2]):
        return f"is older than promtool {format_version(promtool)}"
    if checker_go is not None and promtool_go is not None and checker_go != promtool_go:
        return f"was built by Go {checker_go[0]}.{checker_go[1]}, promtool by Go {promtool_go[0]}.{promtool_go[1]}"
    return None


def checked_by_process(
    process: RuleCheckProcess, promtool: str | None, timeout: float, promtool_version: Version | None = None
) -> Runner:
    """A runner that asks the long-lived checker, and runs promtool for a check the checker gave no
    answer to (it is started again for the next): when promtool is installed and not older
    (major.minor) than the checker, whose newer syntax it would wrongly refuse; else ToolError."""

    def run(files: Mapping[str, str]) -> str | None:
        if not files:
            return None
        try:
            code, stderr = process(files)
        except CheckerError as err:
            checker_version = process.version
            older = promtool_version and checker_version and promtool_version[:2] < checker_version[:2]
            if promtool is None or older:
                raise ToolError(str(err)) from err
            log.warning("%s; promtool checks these files", err)
            return promtool_check(files, promtool, timeout)
        return promtool_verdict(code, stderr)

    return run


_VM_LOG_PREFIX = re.compile(r"^\S+\t(?:fatal|panic|error|warn)\t\S+\t", re.MULTILINE)
_VM_PARSE_PREFIX = re.compile(r"^failed to parse \[[^\]]*\]: (?:errors\(\d+\): )?")


def vmalert_check(
    files: Mapping[str, str], binary: str | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> str | None:
    """`vmalert -dryRun -rule=FILE ...` over rule files (name → text): None when vmalert accepts them
    all or is not installed, else its message without the log prefix (whitespace folded, at most 2000
    characters). Raises ToolError when vmalert cannot give a verdict."""
    binary = binary or shutil.which("vmalert")
    if binary is None or not files:
        return None
    argv = [binary, "-dryRun", "-loggerLevel=ERROR", *(f"-rule={name}" for name in sorted(files))]
    code, stdout, stderr, tmp = _run(argv, files, timeout)
    if code == 0:
        return None
    message = _VM_PARSE_PREFIX.sub("", _VM_LOG_PREFIX.sub("", _scrub(stderr or stdout, tmp)).strip())
    return _fold(message) or f"vmalert exited with {code}"


CHECKS: Mapping[str, Callable[..., str | None]] = {"prometheus": promtool_check, "vmalert": vmalert_check}


def _version_text(binary: str) -> str:
    """What a tool prints for its version (`promtool --version`, `vmalert -version`); "" when it
    cannot run."""
    flag = "--version" if Path(binary).name == "promtool" else "-version"
    try:
        result = subprocess.run(
            [binary, flag], env={}, capture_output=True, text=True, errors="replace", timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout + result.stderr


def tool_version(binary: str) -> Version | None:
    """The version a tool prints (`promtool --version`, `vmalert -version`); None when it prints none
    (Debian's vmalert prints an empty line) or cannot run."""
    return parse_version(_version_text(binary).split("\n", 1)[0])


_GO_VERSION = re.compile(r"^\s*go version:\s*(go\S+)", re.MULTILINE)


def go_release(text: str | None) -> tuple[int, int] | None:
    """The Go major.minor of a version such as "go1.19.8" found in `text` (promtool's --version, the
    checker's handshake); None when there is none."""
    found = re.search(r"go(\d+)\.(\d+)", text or "")
    return (int(found[1]), int(found[2])) if found else None


def _key(dialect: str, name: str, text: str) -> str:
    digest = hashlib.sha256(f"{dialect}\0{name}\0".encode())
    digest.update(text.encode())
    return digest.hexdigest()


@dataclass
class RuleChecks:
    """The checker `plans.rules.plan_rules` calls, and the verdicts it remembers (owned by the caller:
    the operator keeps one for its lifetime). Safe to use from several threads.

    `runners` maps an evaluator type to a function that checks a set of files (None: accepted, else the
    tool's message; ToolError: no verdict); by default the installed promtool and vmalert, found on first
    use (a missing tool is logged once and its files go unchecked)."""

    runners: dict[str, Runner] | None = None
    versions: dict[str, Version | None] = field(default_factory=dict)  # evaluator type → the tool's version
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    max_entries: int = 200_000
    verdicts: dict[str, str | None] = field(default_factory=dict)  # content key → None (passes) or message
    runs: int = 0  # tool runs so far
    _found: dict[str, Runner | None] = field(default_factory=dict, repr=False)
    _logged: set[str] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # verdicts, runs, _logged
    _finding: threading.Lock = field(default_factory=threading.Lock, repr=False)  # _found

    def _runner(self, dialect: str) -> Runner | None:
        if self.runners is not None:
            return self.runners.get(dialect)
        if dialect in self._found:
            return self._found[dialect]
        with self._finding:  # not `_lock`: a tool's first start (seconds) holds back no other tool's checks
            if dialect not in self._found:
                self._found[dialect] = self._find(dialect)
            return self._found[dialect]

    def _find(self, dialect: str) -> Runner | None:
        """The installed tool's runner (call with `_finding` held; once per evaluator type, at its first
        check or `warm`): for Prometheus the long-lived checker when it is installed, starts and is not
        older than promtool; else the tool run per check. A checker that does not start at first use is
        not tried again (logged): promtool checks for the process's lifetime."""
        binary = shutil.which(TOOLS[dialect]) if dialect in TOOLS else None
        text = _version_text(binary) if binary is not None else ""
        version = parse_version(text.split("\n", 1)[0])
        checker = find_checker() if dialect == "prometheus" else None
        if checker is not None:
            process = RuleCheckProcess(checker, self.timeout)
            try:
                checker_version = process.start()
            except CheckerError as err:
                log.warning("%s; promtool checks the rule files", err)
            else:
                why_not = _why_not_checker(
                    checker_version, go_release(process.go), version, go_release(_go_version_line(text))
                )
                if binary is None or why_not is None:
                    self.versions.setdefault(dialect, checker_version)
                    return checked_by_process(process, binary, self.timeout, version)
                process.close()
                log.warning("%s %s: promtool checks the rule files", checker, why_not)
        if binary is None:
            return None
        check, timeout = CHECKS[dialect], self.timeout

        def run(files: Mapping[str, str]) -> str | None:
            return check(files, binary, timeout)

        self.versions.setdefault(dialect, version)
        return run

    def warm(self, dialects: Iterable[str]) -> None:
        """Find (and start, for the long-lived checker) the tools of these evaluator types now, as
        their first check would: blocking, for a thread. Found before a first change needs them, a
        change right after a start waits on no tool start (a cold promtool `--version` and checker
        start took 0.1-0.8 s here on a busy node). An unknown or absent tool is logged as at a check."""
        for dialect in sorted(set(dialects)):
            self.usable(dialect, None)

    def _once(self, key: str, message: str) -> None:
        with self._lock:
            if key in self._logged:
                return
            self._logged.add(key)
        log.warning(message)

    def usable(self, dialect: str, version: Version | None) -> bool:
        """Whether this evaluator type's tool can judge files for an evaluator of `version`: it is
        installed and not known to be older (major.minor) than the evaluator, whose newer fields and
        functions it would wrongly refuse."""
        if self._runner(dialect) is None:
            tool = TOOLS.get(dialect, dialect)
            self._once(f"absent:{dialect}", f"{tool} not found: {dialect} rule files are written unchecked")
            return False
        tool_version = self.versions.get(dialect)
        if tool_version is not None and version is not None and tool_version[:2] < version[:2]:
            tool = TOOLS.get(dialect, dialect)
            self._once(
                f"old:{dialect}:{version}",
                f"{tool} {format_version(tool_version)} is older than {dialect} {format_version(version)}: "
                "its rule files are written unchecked",
            )
            return False
        return True

    def __call__(self, dialect: str, version: Version | None, files: Mapping[str, str]) -> dict[str, str] | None:
        """The files of `files` (name → text) the tool refuses, with its message for each (empty: all
        pass); None when they cannot be checked (no usable tool, or the tool gave no verdict)."""
        if not self.usable(dialect, version):
            return None
        keys = {name: _key(dialect, name, text) for name, text in files.items()}
        with self._lock:
            unknown = sorted(name for name, key in keys.items() if key not in self.verdicts)
        if unknown:
            run = self._runner(dialect)
            assert run is not None  # usable() said so
            try:
                found = self._isolate(run, {name: files[name] for name in unknown})
            except ToolError as err:
                log.warning("%s rule files not checked: %s", dialect, err)
                return None
            with self._lock:
                self.verdicts.update({keys[name]: message for name, message in found.items()})
                self._trim()
        with self._lock:
            return {name: message for name, key in keys.items() if (message := self.verdicts.get(key)) is not None}

    def _check(self, run: Runner, files: Mapping[str, str]) -> str | None:
        with self._lock:
            self.runs += 1
        return run(files)

    def _isolate(self, run: Runner, files: Mapping[str, str]) -> dict[str, str | None]:
        """Each file's verdict. One run over all of them; when it fails, the files its message names
        (both tools name every file they refuse) are checked alone, and the others together once more.
        Whatever still fails without a culprit named is bisected (`common.culprits.find_culprits`): a
        part that passes clears its files, a failing single file is a culprit."""
        verdicts: dict[str, str | None] = dict.fromkeys(files)
        message = self._check(run, files)
        if message is None or len(files) == 1:
            return {name: message for name in files}
        names = sorted(files)
        suspects = [name for name in names if name in message]
        for name in suspects:
            verdicts[name] = self._check(run, {name: files[name]})
        rest = [name for name in names if name not in suspects]
        if any(verdicts[name] is not None for name in suspects):  # culprits found: do the others pass?
            message = self._check(run, {name: files[name] for name in rest}) if rest else None
            if message is None:
                return verdicts
        elif suspects:  # none of the named files fails alone: the failure is among the others
            message = None
        if not rest:
            log.warning("%s pass alone although their set failed: kept", ", ".join(names))
            return verdicts
        found = find_culprits(rest, lambda part: self._check(run, {n: files[n] for n in part}), message)
        if not found:
            log.warning("%s: each passes alone although its set failed: kept", ", ".join(rest))
        verdicts.update(found)
        return verdicts

    def _trim(self) -> None:
        """Forget the oldest half of the verdicts once there are more than `max_entries` (call locked)."""
        if len(self.verdicts) > self.max_entries:
            for key in list(self.verdicts)[: len(self.verdicts) // 2]:
                del self.verdicts[key]
