"""Everything `alertagent render` writes, and every golden rule file, passes the real `promtool check rules`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from alertagent.cli import main
from alertagent.devstack.monitoring import debian_binary
from alertagent.render.receivers import MIN_VERSION, parse_version

REPO = Path(__file__).resolve().parents[2]


def _promtool_check(files: list[Path]) -> None:
    assert files
    result = subprocess.run(
        [debian_binary("promtool"), "check", "rules", *map(str, files)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_rendered_rule_files_pass_promtool(tmp_path: Path) -> None:
    main(
        ["render", "-f", str(REPO / "tests" / "fixtures" / "render"), "-f", str(REPO / "examples"), "-o", str(tmp_path)]
    )
    _promtool_check(sorted(p for p in tmp_path.rglob("*.yaml") if p.name != "alertmanager.yaml"))


def test_golden_rule_files_pass_promtool() -> None:
    _promtool_check(sorted((REPO / "tests" / "unit" / "golden" / "rules").glob("*.yaml")))


def _amtool_check(files: list[Path]) -> None:
    assert files
    for path in files:
        result = subprocess.run(
            [debian_binary("amtool"), "check-config", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{path}: {result.stdout}{result.stderr}"
        assert "SUCCESS" in result.stdout


def test_rendered_alertmanager_configs_pass_amtool(tmp_path: Path) -> None:
    main(["render", "-f", str(REPO / "tests" / "fixtures"), "-f", str(REPO / "examples"), "-o", str(tmp_path)])
    _amtool_check(sorted(tmp_path.rglob("alertmanager.yaml")))


def _amtool_version() -> tuple[int, int]:
    out = subprocess.run([debian_binary("amtool"), "--version"], capture_output=True, text=True, check=True)
    return parse_version((out.stdout + out.stderr).split("version ", 1)[1].split()[0])


def test_golden_alertmanager_configs_pass_amtool() -> None:
    """Every golden file passes the installed amtool, except a receiver type newer than it: that one
    is refused for exactly that type (which is why AlertAgent gates types by the target's version)."""
    installed = _amtool_version()
    newer = {f"receiver-{kind}.yaml": kind for kind, since in MIN_VERSION.items() if since > installed}
    goldens = sorted((REPO / "tests" / "unit" / "golden" / "alertmanager").glob("*.yaml"))
    _amtool_check([p for p in goldens if p.name not in newer])
    for path in (p for p in goldens if p.name in newer):
        result = subprocess.run(
            [debian_binary("amtool"), "check-config", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode != 0 and f"field {newer[path.name]}_configs not found" in result.stdout, path
