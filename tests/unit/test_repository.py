"""Repository-level promises: the kind config the README describes, and CI running the README's command."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_kind_config_has_one_control_plane_one_worker_and_the_readme_ports() -> None:
    config = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker"]
    mapped = {m["hostPort"] for n in config["nodes"] for m in n.get("extraPortMappings", [])}
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Trying it on kind", 1)[1].split("\n## ", 1)[0]
    promised = {int(p) for p in re.findall(r"\b(30\d{3})\b", section)}
    assert promised and promised == mapped


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    command = readme.split("## Test command", 1)[1].split("```sh\n", 1)[1].split("\n", 1)[0].strip()
    assert command == "./tests/run.sh"
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(rf"^{re.escape(command)}\s*$", ci, re.MULTILINE)


def test_package_is_not_named_operator() -> None:
    packages = {p.name for p in (REPO / "operator").iterdir() if (p / "__init__.py").exists()}
    assert packages == {"alertagent"}
