"""Generates CustomResourceDefinitions from the pydantic models.

Pydantic's JSON schema is turned into a Kubernetes structural schema: `$ref`s inlined, optional
`anyOf [X, null]` collapsed to X, titles and `additionalProperties: false` dropped (the API server
prunes unknown fields instead), and every property must carry a description. Anything this converter
does not know raises, so a model can never silently produce a schema the API server reads differently.
"""

from __future__ import annotations

from typing import Any

from ..common.yamlout import dump_yaml
from .alertmanagercluster import AlertmanagerCluster
from .alertrule import AlertRule
from .base import GROUP, VERSION
from .common import Resource
from .incident import Incident
from .notificationchannel import NotificationChannel
from .suppressionpolicy import SuppressionPolicy

RESOURCES: tuple[type[Resource], ...] = (
    AlertRule,
    AlertmanagerCluster,
    NotificationChannel,
    SuppressionPolicy,
    Incident,
)

# Keys copied unchanged from pydantic's schema into the structural schema.
_PASSTHROUGH = {
    "type",
    "description",
    "default",
    "enum",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "required",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
}
_DROPPED = {"title", "additionalProperties"}


class SchemaError(ValueError):
    """The model uses a JSON schema construct a CRD cannot express (or lacks a description)."""


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline a `$ref` (keeping the referring field's own keys, which win) and collapse Optional."""
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    if "anyOf" in node:
        variants = [v for v in node["anyOf"] if v.get("type") != "null"]
        if len(variants) != 1:
            raise SchemaError(f"unions other than Optional[X] are not supported: {node['anyOf']}")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        node = {**_resolve(variants[0], defs), **rest}
    return node


def _without_nulls(value: Any) -> Any:
    """A default as the API server wants it: unset optional fields absent rather than null."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _structural(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    node = _resolve(node, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description":
            out[key] = " ".join(value.split())  # docstrings wrap lines; descriptions are one paragraph
        elif key in _PASSTHROUGH:
            out[key] = value
        elif key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out["properties"] = {name: _structural(prop, defs, f"{path}.{name}") for name, prop in value.items()}
        elif key == "items":
            out["items"] = _structural(value, defs, f"{path}[]")
        elif key not in _DROPPED:
            raise SchemaError(f"{path}: unsupported schema keyword {key!r}")
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):  # dict[str, X] maps; `false` from extra="forbid" is dropped
        out["additionalProperties"] = _structural(additional, defs, f"{path}{{}}")
    if "default" in out:
        out["default"] = _without_nulls(out["default"])
        if out["default"] is None:
            del out["default"]  # Optional fields default to "absent", not to null
    if "type" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        if "enum" in out:
            out["type"] = "string"
        else:
            raise SchemaError(f"{path}: no type")
    for name, prop in out.get("properties", {}).items():
        if not prop.get("description"):
            raise SchemaError(f"{path}.{name}: missing description (add a docstring under the field)")
    if "format" in out and out["format"] not in {"date-time", "int64", "int32", "double"}:
        out.pop("format")
    return out


def openapi_schema(resource: type[Resource]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of one resource (spec and status from the models)."""
    raw = resource.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema = _structural(raw, defs, resource.names.kind)
    props = schema["properties"]
    props["metadata"] = {"type": "object"}  # the API server forbids anything else here
    for key in ("apiVersion", "kind"):  # plain strings on the wire; the API server checks them
        props[key] = {"type": "string", "description": props[key]["description"]}
    schema["required"] = ["spec"]
    return schema


def crd(resource: type[Resource]) -> dict[str, Any]:
    """The CustomResourceDefinition of one resource."""
    names = resource.names
    schema = openapi_schema(resource)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{names.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": names.kind,
                "listKind": f"{names.kind}List",
                "plural": names.plural,
                "singular": names.singular,
                "shortNames": list(names.short_names),
                "categories": list(names.categories),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [c.as_crd() for c in names.columns],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def crd_filename(resource: type[Resource]) -> str:
    return f"{GROUP}_{resource.names.plural}.yaml"


def all_crd_files() -> dict[str, str]:
    """File name → YAML text for every CRD, as checked in under crds/."""
    return {crd_filename(r): dump_yaml(crd(r)) for r in RESOURCES}
