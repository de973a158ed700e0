"""Generates CustomResourceDefinitions from the pydantic models.

Pydantic's JSON schema is turned into a Kubernetes structural schema: `$ref`s inlined, optional
`anyOf [X, null]` collapsed to X, titles and `additionalProperties: false` dropped (the API server
prunes unknown fields instead), and every property must carry a description. Anything this converter
does not know raises, so a model can never silently produce a schema the API server reads differently.

The descriptions are the fields' docstrings, read from the models' source by `DocumentedSchema` while
a schema is generated (the models themselves do not carry them: see `base.Model`).
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import sys
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

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


def _attribute_docstrings(body: list[ast.stmt]) -> dict[str, str]:
    """Field name → docstring in one class body: a string literal right after `name: T [= v]` (PEP 257's
    attribute docstrings, pydantic's `use_attribute_docstrings` rule), indentation cleaned."""
    docs: dict[str, str] = {}
    for stmt, following in itertools.pairwise(body):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[stmt.target.id] = inspect.cleandoc(following.value.value)
    return docs


@functools.cache
def _module_docstrings(module: str) -> dict[str, dict[str, str]]:
    """Class `__qualname__` → its attribute docstrings, for every class in a module's source (one parse
    per module). Empty when the source is not available."""
    try:
        tree = ast.parse(inspect.getsource(sys.modules[module]))
    except (KeyError, OSError, TypeError):
        return {}
    classes: dict[str, dict[str, str]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                classes[prefix + node.name] = _attribute_docstrings(node.body)
                visit(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(node.body, f"{prefix}{node.name}.<locals>.")

    visit(tree.body, "")
    return classes


def field_docstring(model: type[BaseModel], name: str) -> str | None:
    """The docstring of a model's field, from the class that declares it (a subclass redeclaring a
    field without one has none, as with pydantic's `use_attribute_docstrings`); None without one."""
    for cls in model.__mro__:
        if name in inspect.get_annotations(cls):
            return _module_docstrings(cls.__module__).get(cls.__qualname__, {}).get(name)
    return None


class DocumentedSchema(GenerateJsonSchema):
    """Pydantic's JSON schema with each field's docstring as its description (`Field(description=...)`
    wins), exactly as `ConfigDict(use_attribute_docstrings=True)` would put it there; the docstrings are
    read now instead of at every class creation. Use as `Model.model_json_schema(schema_generator=...)`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._models: list[type[BaseModel]] = []  # the model whose fields are being generated, innermost last

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        self._models.append(schema["cls"])
        try:
            return super().model_schema(schema)
        finally:
            self._models.pop()

    def model_fields_schema(self, schema: core_schema.ModelFieldsSchema) -> JsonSchemaValue:
        fields = dict(schema["fields"])
        for name, field in fields.items():
            if (doc := field_docstring(self._models[-1], name)) is not None:
                # Where pydantic keeps a field's description: its core metadata's JSON schema updates.
                metadata: dict[str, Any] = dict(field.get("metadata") or {})
                metadata["pydantic_js_updates"] = {"description": doc, **(metadata.get("pydantic_js_updates") or {})}
                fields[name] = {**field, "metadata": metadata}
        return super().model_fields_schema({**schema, "fields": fields})


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Pydantic's JSON schema of a model (validation mode, camel-case aliases), fields described by their
    docstrings: what `openapi_schema` converts."""
    return model.model_json_schema(by_alias=True, mode="validation", schema_generator=DocumentedSchema)


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


def _numeric_bounds(out: dict[str, Any], path: str) -> None:
    """Bounds as the API server reads them, or SchemaError. It keeps `minimum`/`maximum` as float64 and
    compares an integer value with the bound converted to int64 (kube-openapi `validate.MaximumNativeType`:
    `int64(max)`), so a bound must be an integer that float64 holds exactly within int64's range: 2**63 - 1
    becomes 2**63, which wraps to -2**63 and refuses every value; 0.5 becomes 0 for the value `0`. Pydantic's
    `gt`/`lt` (JSON Schema's numeric exclusiveMinimum/Maximum) become OpenAPI v3's bound plus `true`."""
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(exclusive)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if bound in out:
                raise SchemaError(f"{path}: both {bound} and {exclusive}: keep one")
            out[bound], out[exclusive] = value, True
    for bound in ("minimum", "maximum"):
        value = out.get(bound)
        exact = value is None or (float(value) == value and float(value).is_integer() and -(2**63) <= value < 2**63)
        if not exact:
            raise SchemaError(
                f"{path}: {bound} {value!r} is not an integer float64 holds exactly within int64 (the API server "
                "compares integers with int64(bound)); use such a bound, a CEL invariant, or no bound"
            )


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
    _numeric_bounds(out, path)
    return out


def openapi_schema(resource: type[Resource]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of one resource (spec and status from the models)."""
    raw = json_schema(resource)
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
