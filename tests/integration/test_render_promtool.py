"""Everything `alertagent render` writes, and every golden rule file, passes the real `promtool check rules`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from alertagent.cli import main
from tests.testbed.monitoring import debian_binary

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


def test_golden_alertmanager_configs_pass_amtool() -> None:
    _amtool_check(sorted((REPO / "tests" / "unit" / "golden" / "alertmanager").glob("*.yaml")))
