"""Manifests read as `kubectl apply -f` reads them: `-n` for the objects that carry no namespace, YAML
as go-yaml v2 (through sigs.k8s.io/yaml) reads it, and files that hold no object skipped with one
warning each. The expected values are what kubectl v1.34 `apply --dry-run=client -o json` printed for
the same text (checked against the test bed's kubectl and API server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alertagent.cli import main
from alertagent.discovery.graph import ServiceGraph
from alertagent.manifests import ManifestError, load_manifests, parse_documents

# `helm template shop ./shop -n shop` output: templates that use .Release.Namespace carry it, the
# others carry none; a disabled template leaves an empty document.
HELM_OUTPUT = """\
---
# Source: shop/templates/api.yaml
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: shop
spec:
  selector: {app: api}
  ports: [{port: 8080}]
---
# Source: shop/templates/web.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web:1
        env:
        - {name: API_URL, value: "http://api:8080"}
---
# Source: shop/templates/disabled.yaml
---
# Source: shop/templates/monitor.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: dashboards
  namespace: monitoring
---
# Source: shop/templates/rbac.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: shop-reader
  namespace: shop
"""


def _load(tmp_path: Path, files: dict[str, str | bytes], **kwargs: Any) -> tuple[list[dict[str, Any]], list[str]]:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    warnings: list[str] = []
    return load_manifests([tmp_path], warn=warnings.append, **kwargs), warnings


def _namespaces(objects: list[dict[str, Any]]) -> dict[str, str | None]:
    return {f"{o['kind']}/{o['metadata']['name']}": o["metadata"].get("namespace") for o in objects}


def test_namespace_goes_to_the_objects_that_carry_none(tmp_path: Path) -> None:
    objects, warnings = _load(tmp_path, {"shop.yaml": HELM_OUTPUT}, namespace="shop")
    assert warnings == []  # the empty document of a disabled template is no reason to warn
    assert _namespaces(objects) == {
        "Service/api": "shop",
        "Deployment/web": "shop",  # had none
        "ConfigMap/dashboards": "monitoring",  # its own, kept (kubectl -n shop would refuse the file)
        "ClusterRole/shop-reader": None,  # cluster-scoped: kubectl drops the namespace
    }


def test_without_a_namespace_objects_that_carry_none_are_in_default(tmp_path: Path) -> None:
    objects, _ = _load(tmp_path, {"shop.yaml": HELM_OUTPUT})
    assert _namespaces(objects)["Deployment/web"] == "default"
    assert _namespaces(objects)["Service/api"] == "shop"


def test_with_the_namespace_the_mixed_helm_output_keeps_its_edge(tmp_path: Path) -> None:
    """Without `-n`, `web` lands in `default` and `api` is looked up there: the edge is lost and an
    unresolved address invented. With `-n shop` both are where Helm installs them."""
    (tmp_path / "shop.yaml").write_text(HELM_OUTPUT)
    wrong = ServiceGraph.from_objects(load_manifests([tmp_path])).snapshot()
    right = ServiceGraph.from_objects(load_manifests([tmp_path], namespace="shop")).snapshot()
    assert [(e.caller, e.callee) for e in wrong.edges] == []
    assert [u.caller for u in wrong.unresolved] == ["default/deployment/web"]  # `api` looked up in default
    assert [(e.caller, e.callee) for e in right.edges] == [("shop/deployment/web", "shop/api")]
    assert right.unresolved == ()


def test_a_cluster_scoped_custom_kind_is_known_from_its_definition_in_the_input(tmp_path: Path) -> None:
    crd = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: issuers.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {kind: ClusterIssuer, plural: issuers}
---
apiVersion: example.com/v1
kind: ClusterIssuer
metadata: {name: letsencrypt, namespace: shop}
---
apiVersion: other.example.com/v1
kind: ClusterIssuer
metadata: {name: other}
"""
    objects, _ = _load(tmp_path, {"crd.yaml": crd}, namespace="shop")
    assert [o["metadata"].get("namespace") for o in objects] == [None, None, "shop"]  # other group: namespaced


def test_a_trailing_tab_after_a_key_or_a_value_parses(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\t\nkind: ConfigMap\nmetadata:\t\n  name: a\t\n  labels:\t# why\n"
        '    app:\tshop\n    tier: "web"\t\ndata:\n  list: [a,\tb]\t\n  words: a\tb\t\n'
    )
    objects, warnings = _load(tmp_path, {"cm.yaml": text})
    assert warnings == []
    assert objects[0]["metadata"] == {"name": "a", "labels": {"app": "shop", "tier": "web"}, "namespace": "default"}
    assert objects[0]["data"] == {"list": ["a", "b"], "words": "a\tb"}


def test_a_trailing_tab_inside_a_block_scalar_is_content() -> None:
    text = "k: |\t\n  line\t\n  two \t\nf: >-\n  folded\t\n  more\nt: !!str\t5\n"
    assert parse_documents(text) == [{"k": "line\t\ntwo \t\n", "f": "folded\t more", "t": "5"}]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a:\n\tb: 1\n", "found character '\\t' that cannot start any token"),  # a tab as indentation
        ("a: x\n\ty\n", "found a tab character that violates indentation"),  # continuing a plain scalar
        ("a:\n-\tb\n", "found character '\\t' that cannot start any token"),  # after `-`: go-yaml too
        ("a: |\n  x\n\ty\n", "found character '\\t' that cannot start any token"),  # in a block's indentation
    ],
)
def test_tabs_as_indentation_stay_errors(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    (tmp_path / "good.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\n")
    warnings: list[str] = []
    assert [o["metadata"]["name"] for o in load_manifests([tmp_path], warn=warnings.append)] == ["good"]
    [warning] = warnings
    assert warning.startswith(f"{tmp_path / 'bad.yaml'}: skipped: invalid YAML (line ")
    assert warning.endswith(problem)


def test_plain_scalars_resolve_as_go_yaml_v2_resolves_them() -> None:
    text = """\
date: 2024-01-02
time: 2024-01-02T10:00:00Z
base60: 1:30
short: y
no: n
yes: Yes
"on": off
exp: 1e3
leading0: 09
octal: 0o17
hex: 0x1F
under: 1_000
whole: 1.0
half: .5
big: 123456789012345678901234567890
eq: =
tilde: ~
"""
    assert parse_documents(text) == [
        {
            "date": "2024-01-02",
            "time": "2024-01-02T10:00:00Z",
            "base60": "1:30",
            "short": True,
            "false": False,  # `no` is a boolean key, made "false" by the JSON step
            "true": True,
            "on": False,
            "exp": 1000,
            "leading0": 9,
            "octal": 15,
            "hex": 31,
            "under": 1000,
            "whole": 1,
            "half": 0.5,
            "big": 1.2345678901234568e29,
            "eq": "=",
            "tilde": None,
        }
    ]


def test_keys_tags_and_merges_as_kubernetes_reads_them() -> None:
    text = """\
keys: {8080: p, 1.5: a, 3.14159265358979: b, 1000000.0: c, 0.00001: d, -7: e, true: f}
base: &base {x: 1, z: 2}
over: {<<: *base, z: 3}
binary: !!binary aGVsbG8=
custom: !foo bar
custom-map: !foo {a: 1}
set: !!set {a, b}
"""
    assert parse_documents(text) == [
        {
            "keys": {"8080": "p", "1.5": "a", "3.1415927": "b", "1e+06": "c", "1e-05": "d", "-7": "e", "true": "f"},
            "base": {"x": 1, "z": 2},
            "over": {"x": 1, "z": 3},
            "binary": "hello",
            "custom": "bar",
            "custom-map": {"a": 1},
            "set": {"a": None, "b": None},
        }
    ]


def test_a_json_stream_is_read_as_json() -> None:
    text = '{"kind": "A",\n\t"n": 1.0, "e": 1e3}\n{"kind": "B"}\n'
    assert parse_documents(text) == [{"kind": "A", "n": 1.0, "e": 1000.0}, {"kind": "B"}]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("v: .nan\n", "unsupported value nan"),  # Go's JSON refuses NaN
        ("a: &a [*a]\n", "an anchor contains itself"),
        ("~: x\n", "unsupported map key None"),
    ],
)
def test_what_json_cannot_hold_is_an_error(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_documents(text)


def test_a_chart_folder_loads_its_objects_and_skips_the_rest_with_one_line_each(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "Chart.yaml": "apiVersion: v2\nname: shop\nversion: 1.0.0\n",
        "values.yaml": "kind: DaemonSet\nreplicas: 2\nimage: {tag: '1.0'}\n",  # a chart's own `kind` setting
        "values.schema.json": '{"$schema": "https://json-schema.org/draft-07/schema#", "type": "object"}',
        "package.json": '{\n\t"name": "ui",\n\t"version": "1.0.0"\n}\n',
        "templates/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        '  name: {{ include "shop.fullname" . }}\n',
        "templates/NOTES.txt": "not read: not a manifest suffix",
        "empty.yaml": "# nothing here\n",
        "list.yaml": "- a\n- b\n",
        "latin1.yaml": "name: caf\xe9\n".encode("latin-1"),
        "rendered/shop.yaml": HELM_OUTPUT,
        "rendered/mixed.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\nfoo: bar\n",
    }
    objects, warnings = _load(tmp_path, files, namespace="shop")
    assert sorted(_namespaces(objects)) == [
        "ClusterRole/shop-reader",
        "ConfigMap/c",
        "ConfigMap/dashboards",
        "Deployment/web",
        "Service/api",
    ]
    skipped = {line.split(": skipped: ")[0]: line.split(": skipped: ")[1] for line in warnings}
    assert len(skipped) == len(warnings)  # one line per file
    assert skipped == {
        f"{tmp_path / 'Chart.yaml'}": "not a Kubernetes object (no kind)",
        f"{tmp_path / 'empty.yaml'}": "no documents",
        f"{tmp_path / 'latin1.yaml'}": "not UTF-8 text",
        f"{tmp_path / 'list.yaml'}": "not a Kubernetes object (a list)",
        f"{tmp_path / 'package.json'}": "not a Kubernetes object (no apiVersion and no kind)",
        f"{tmp_path / 'rendered/mixed.yaml'}": "document 2: not a Kubernetes object (no apiVersion and no kind)",
        f"{tmp_path / 'templates/deployment.yaml'}": "invalid YAML (line 4, column 10): while constructing a "
        "mapping: found unhashable key (an unrendered template? render it first, e.g. with `helm template`)",
        f"{tmp_path / 'values.schema.json'}": "not a Kubernetes object (no apiVersion and no kind)",
        f"{tmp_path / 'values.yaml'}": "not a Kubernetes object (no apiVersion)",
    }


def test_a_list_item_that_is_not_an_object_is_named(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: a}}\n- {name: b}\n"
    objects, warnings = _load(tmp_path, {"list.yaml": text})
    assert [o["metadata"]["name"] for o in objects] == ["a"]
    assert warnings == [
        f"{tmp_path / 'list.yaml'}: skipped: item 2: not a Kubernetes object (no apiVersion and no kind)"
    ]


def test_a_file_named_explicitly_is_skipped_too_but_nothing_at_all_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: shop\n")
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    warnings: list[str] = []
    loaded = load_manifests([tmp_path / "Chart.yaml", tmp_path / "cm.yaml"], warn=warnings.append)
    assert [o["metadata"]["name"] for o in loaded] == ["c"]
    assert warnings == [f"{tmp_path / 'Chart.yaml'}: skipped: not a Kubernetes object (no kind)"]
    with pytest.raises(ManifestError, match=r"^no Kubernetes objects in .*Chart\.yaml$"):
        load_manifests([tmp_path / "Chart.yaml"], warn=warnings.append)
    with pytest.raises(ManifestError, match="no such file or directory"):
        load_manifests([tmp_path / "missing.yaml"])


def test_render_takes_the_namespace_too(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "objects.yaml").write_text(
        """\
apiVersion: alertagent.io/v1alpha1
kind: AlertmanagerCluster
metadata: {name: main}
spec:
  alertmanager: {url: "http://alertmanager:9093"}
  ruleEvaluators: [{name: prom, type: prometheus, url: "http://prometheus:9090"}]
---
apiVersion: alertagent.io/v1alpha1
kind: AlertRule
metadata: {name: api}
spec:
  groups: [{name: g, rules: [{alert: Down, expr: "up == 0"}]}]
"""
    )
    (tmp_path / "in" / "Chart.yaml").write_text("apiVersion: v2\nname: shop\n")
    out = tmp_path / "out"
    assert (
        main(["render", "-f", str(tmp_path / "in"), "-n", "shop", "-o", str(out), "--report-json", str(tmp_path / "r")])
        == 0
    )
    report = json.loads((tmp_path / "r").read_text())
    assert sorted((o["kind"], o["namespace"]) for o in report["objects"]) == [
        ("AlertRule", "shop"),
        ("AlertmanagerCluster", "shop"),
    ]
    assert (out / "shop" / "main" / "prom" / "shop_api.yaml").is_file()
