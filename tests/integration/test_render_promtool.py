"""Everything `alertagent render` writes, and every golden rule file, passes the real `promtool check rules`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from alertagent.cli import main
from tests.testbed.monitoring import debian_binary

REPO = Path(__file__).resolve().parents[2]


def _promtool_check(files: list[Path]) -> None:
    assert files
    result = subprocess.run([debian_binary("promtool"), "check", "rules", *map(str, files)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_rendered_rule_files_pass_promtool(tmp_path: Path) -> None:
    main(
        ["render", "-f", str(REPO / "tests" / "fixtures" / "render"), "-f", str(REPO / "examples"), "-o", str(tmp_path)]
    )
    _promtool_check(sorted(tmp_path.rglob("*.yaml")))


def test_golden_rule_files_pass_promtool() -> None:
    _promtool_check(sorted((REPO / "tests" / "unit" / "golden" / "rules").glob("*.yaml")))
