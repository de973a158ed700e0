"""`alertagent convert` output is accepted by the real API server (our CRDs installed, `kubectl apply
--dry-run=server` with the real kubectl), and its AlertRules go through the operator's renderer and
the real `promtool check rules`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alertagent.cli import main
from alertagent.convert import convert_manifests
from alertagent.devstack.controlplane import ControlPlane
from alertagent.devstack.monitoring import debian_binary
from alertagent.manifests import load_manifests

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "convert"


def _converted() -> list[dict[str, Any]]:
    return convert_manifests(load_manifests([FIXTURES], warn=lambda _: None)).objects


def test_converted_objects_pass_server_side_dry_run(
    installed_crds: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """Every converted object, moved into the test namespace, passes the API server's validation (the
    CRDs' OpenAPI schemas and CEL rules); the same dry run refuses a broken object, so it does validate."""
    objects = _converted()
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
    manifest = tmp_path / "converted.yaml"
    manifest.write_text(yaml.safe_dump_all(objects, sort_keys=True))
    result = installed_crds.kubectl("apply", "--dry-run=server", "-f", str(manifest), check=False)
    assert result.returncode == 0, result.stderr
    created = set(re.findall(r"^(\S+) created \(server dry run\)$", result.stdout, re.MULTILINE))
    plural = {
        "AlertRule": "alertrule",
        "NotificationChannel": "notificationchannel",
        "SuppressionPolicy": "suppressionpolicy",
    }
    assert created == {f"{plural[o['kind']]}.alertagent.io/{o['metadata']['name']}" for o in objects}
    assert len(objects) == 22  # 3 AlertRules, 17 NotificationChannels (8 of multi-integration/), 2 SuppressionPolicies

    channel = next(o for o in objects if o["kind"] == "NotificationChannel" and o["spec"]["type"] == "slack")
    broken = {**channel, "spec": {**channel["spec"], "type": "webhook"}}
    refused = installed_crds.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(broken), check=False)
    assert refused.returncode != 0
    assert "type webhook requires the webhook block" in refused.stderr


def _promtool_version() -> tuple[int, int]:
    out = subprocess.run([debian_binary("promtool"), "--version"], capture_output=True, text=True, check=True)
    major, minor = re.search(r"version (\d+)\.(\d+)", out.stdout + out.stderr).groups()  # type: ignore[union-attr]
    return int(major), int(minor)


def test_converted_rules_render_and_pass_promtool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The converted AlertRules go through `alertagent render` (the operator's renderer, promtool as its
    judge) and every rule file it writes passes `promtool check rules`. The kubelet rules use
    `query_offset`, which only Prometheus >= 2.53 loads: with an older promtool that file alone is
    refused, with promtool's own message."""
    converted = tmp_path / "converted.yaml"
    assert main(["convert", "-f", str(FIXTURES / "prometheusrules"), "-o", str(tmp_path / "objects")]) == 1
    converted.write_text(
        "".join(p.read_text() + "---\n" for p in sorted((tmp_path / "objects").rglob("alertrule-*.yaml")))
        + yaml.safe_dump(
            {
                "apiVersion": "alertagent.io/v1alpha1",
                "kind": "AlertmanagerCluster",
                "metadata": {"name": "main", "namespace": "monitoring"},
                "spec": {
                    "alertmanager": {"url": "http://alertmanager:9093"},
                    "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": "http://prometheus:9090"}],
                },
            }
        )
    )
    out = tmp_path / "rendered"
    code = main(["render", "-f", str(converted), "-o", str(out)])
    files = sorted((out / "monitoring" / "main" / "prometheus").glob("*.yaml"))
    expected = {"monitoring_kubernetes-apps.yaml", "monitoring_node-exporter-rules.yaml"}
    if _promtool_version() >= (2, 53):
        assert code == 0
        expected.add("monitoring_kubernetes-system-kubelet.yaml")
    else:
        assert code == 1
        assert "AlertRule monitoring/kubernetes-system-kubelet: monitoring/main/prometheus: promtool check rules: " in (
            report := capsys.readouterr().out
        )
        assert "field query_offset not found" in report
    assert {p.name for p in files} == expected
    result = subprocess.run(
        [debian_binary("promtool"), "check", "rules", *map(str, files)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)
