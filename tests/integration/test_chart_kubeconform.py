"""The rendered chart passes `kubeconform -strict` against schemas generated from the test bed API
server's own OpenAPI (/openapi/v2: the built-in kinds of this Kubernetes version, and AlertAgent's
CRDs as the API server publishes them), for the default values and for everything enabled.

The schemas are made the way openapi2jsonschema (kubeconform's companion) makes its strict ones: one
standalone file per kind (the kind's definition and every definition it reaches), objects closed
with additionalProperties: false, IntOrString and Quantity accepting strings and numbers.
ServiceMonitor (prometheus-operator's CRD, not installed on the test bed) is skipped with
`-skip ServiceMonitor`, not given an invented schema."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alertagent.devstack.controlplane import ControlPlane, binary
from tests.integration.test_chart_values import CHART, EVERYTHING

LOOSE = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
}


def _strict(node: Any) -> Any:
    """Close every object that lists its properties (kubeconform -strict's schemas do the same)."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if out.get("format") == "int-or-string":
        return LOOSE["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def write_schemas(openapi: dict[str, Any], kinds: set[tuple[str, str, str]], out: Path) -> None:
    """One `<group>-<version>-<kind lowercased>.json` per (group, version, kind) wanted, with every
    definition the kind reaches (JSON Schema `#/definitions/...` references stay inside the file)."""
    definitions = {name: LOOSE.get(name, _strict(d)) for name, d in openapi["definitions"].items()}
    for name, definition in openapi["definitions"].items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            key = (gvk["group"], gvk["version"], gvk["kind"])
            if key not in kinds:
                continue
            reached, todo = set(), {name}
            while todo:
                current = todo.pop()
                reached.add(current)
                todo |= _refs(definitions[current]) - reached
            schema = {"$ref": f"#/definitions/{name}", "definitions": {n: definitions[n] for n in sorted(reached)}}
            # kubeconform's {{ .Group }} of a core kind (apiVersion v1) is the version itself.
            (out / f"{key[0] or key[1]}-{key[1]}-{key[2].lower()}.json").write_text(json.dumps(schema))


def _render(tmp_path: Path, values: dict[str, Any] | None) -> str:
    files = []
    if values is not None:
        (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
        files = ["-f", str(tmp_path / "values.yaml")]
    result = subprocess.run(
        [binary("helm"), "template", "aa", str(CHART), "-n", "mon", *files],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout


@pytest.mark.parametrize("values", [None, EVERYTHING], ids=["defaults", "everything"])
def test_rendered_chart_passes_kubeconform_strict(
    installed_crds: ControlPlane, tmp_path: Path, values: dict[str, Any] | None
) -> None:
    rendered = _render(tmp_path, values)
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    kinds = set()
    for doc in docs:
        group, _, version = doc["apiVersion"].rpartition("/")
        kinds.add((group, version, doc["kind"]))
    openapi = json.loads(installed_crds.kubectl("get", "--raw", "/openapi/v2").stdout)
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    write_schemas(openapi, kinds, schemas)
    (tmp_path / "rendered.yaml").write_text(rendered)
    result = subprocess.run(
        [
            binary("kubeconform"),
            "-strict",
            "-summary",
            "-output",
            "json",
            "-schema-location",
            str(schemas) + "/{{ .Group }}-{{ .ResourceAPIVersion }}-{{ .ResourceKind }}.json",
            "-skip",
            "ServiceMonitor",
            str(tmp_path / "rendered.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)["summary"]
    skipped = sum(d["kind"] == "ServiceMonitor" for d in docs)
    assert summary == {"valid": len(docs) - skipped, "invalid": 0, "errors": 0, "skipped": skipped}
    assert ("alertagent.io", "v1alpha1", "AlertRule") in kinds  # our CRDs' schemas took part too
    if values is EVERYTHING:
        assert skipped == 2 and ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration") in kinds


def test_the_generated_schemas_refuse_an_unknown_field(installed_crds: ControlPlane, tmp_path: Path) -> None:
    """The strictness is real: a misspelt field in a Deployment fails."""
    openapi = json.loads(installed_crds.kubectl("get", "--raw", "/openapi/v2").stdout)
    write_schemas(openapi, {("apps", "v1", "Deployment")}, tmp_path)
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "securityContex": {}}]},
            },
        },
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    result = subprocess.run(
        [
            binary("kubeconform"),
            "-strict",
            "-schema-location",
            str(tmp_path) + "/{{ .Group }}-{{ .ResourceAPIVersion }}-{{ .ResourceKind }}.json",
            str(tmp_path / "bad.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1 and "securityContex" in result.stdout, result.stdout + result.stderr
