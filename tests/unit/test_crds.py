"""The generated CRDs: up to date, structural, documented, and faithful to the models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from alertagent.api.base import Model
from alertagent.api.crd import RESOURCES, SchemaError, _structural, all_crd_files, crd, json_schema
from alertagent.cli import main

CRDS = Path(__file__).resolve().parents[2] / "crds"


@pytest.mark.parametrize("folder", [CRDS, CRDS.parent / "charts" / "alertagent" / "crds"], ids=["crds", "chart"])
def test_checked_in_crds_are_up_to_date(folder: Path) -> None:
    generated = all_crd_files()
    on_disk = {p.name: p.read_text() for p in folder.glob("*.yaml")}
    hint = f"run `alertagent crds -o {folder.relative_to(CRDS.parent)}`"
    assert on_disk.keys() == generated.keys(), f"{folder} has missing or extra files: {hint}"
    for name, text in generated.items():
        assert on_disk[name] == text, f"{folder}/{name} is stale: {hint}"


def test_cli_writes_one_file_per_crd_and_prints_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds", "-o", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(all_crd_files())
    capsys.readouterr()
    assert main(["crds"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("kind: CustomResourceDefinition") == len(RESOURCES) == 5


def _walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)]
    for name, prop in schema.get("properties", {}).items():
        found += _walk(prop, f"{path}.{name}")
    if "items" in schema:
        found += _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _walk(schema["additionalProperties"], f"{path}{{}}")
    return found


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.names.kind)
def test_schema_is_structural_and_documented(resource: Any) -> None:
    schema = crd(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert "type" in node, f"{path} has no type"
        assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
        if path.count(".") >= 1 and not path.endswith(("[]", "{}")) and path != ".metadata":
            assert node.get("description"), f"{path} has no description"
        if node.get("additionalProperties") is False:
            pytest.fail(f"{path}: additionalProperties false is not structural")


def test_crd_metadata() -> None:
    by_kind = {r.names.kind: crd(r) for r in RESOURCES}
    short = {k: c["spec"]["names"]["shortNames"] for k, c in by_kind.items()}
    assert short == {
        "AlertRule": ["ar"],
        "AlertmanagerCluster": ["amc"],
        "NotificationChannel": ["nc"],
        "SuppressionPolicy": ["sp"],
        "Incident": ["inc"],
    }
    for c in by_kind.values():
        version = c["spec"]["versions"][0]
        assert c["spec"]["group"] == "alertagent.io" and version["name"] == "v1alpha1"
        assert c["spec"]["scope"] == "Namespaced"
        assert c["spec"]["names"]["categories"] == ["alertagent"]
        assert version["subresources"] == {"status": {}}
        columns = [col["name"] for col in version["additionalPrinterColumns"]]
        assert columns[-1] == "Age"
        if c["spec"]["names"]["kind"] != "Incident":  # written by AlertAgent: its State says it all
            assert columns[columns.index("Ready") + 1] == "Reason"
    columns = lambda kind: [c["name"] for c in by_kind[kind]["spec"]["versions"][0]["additionalPrinterColumns"]]  # noqa: E731
    assert columns("AlertRule") == ["Rules", "Synced", "Revision", "Ready", "Reason", "Age"]
    assert columns("AlertmanagerCluster") == [
        "Alertmanager",
        "Healthy",
        "Rules",
        "Receivers",
        "Config hash",
        "Last reload",
        "Ready",
        "Reason",
        "Degraded",
        "Age",
    ]
    assert columns("NotificationChannel") == ["Type", "Delivery", "Clusters", "Last test", "Ready", "Reason", "Age"]
    assert columns("SuppressionPolicy") == ["Windows", "Active", "Inhibit rules", "Ready", "Reason", "Age"]
    assert columns("Incident") == ["Root", "Severity", "Services", "Alerts", "State", "Age"]


def test_cel_rules_come_from_model_invariants() -> None:
    schema = crd(RESOURCES[0])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rule = schema["properties"]["spec"]["properties"]["groups"]["items"]["properties"]["rules"]["items"]
    assert {"rule": "has(self.alert) != has(self.record)", "message": "exactly one of alert or record must be set"} in (
        rule["x-kubernetes-validations"]
    )


class _Undocumented(Model):
    """A model with a field lacking a docstring."""

    documented: int = 0
    """Has one."""
    bare: int = 0


class _Union(BaseModel):
    value: int | str
    """Either."""


def test_converter_refuses_missing_descriptions_and_unions() -> None:
    with pytest.raises(SchemaError, match="bare: missing description"):
        _structural(json_schema(_Undocumented), {}, "X")
    with pytest.raises(SchemaError, match="unions"):
        _structural(_Union.model_json_schema(), {}, "X")
