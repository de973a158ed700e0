"""Field docstrings become CRD descriptions when a schema is generated, not at class creation (which
would read every model's source at every start of the operator and the CLI), with pydantic's
`use_attribute_docstrings` rules."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from pydantic import Field

from alertagent.api.alertrule import AlertRuleSpec
from alertagent.api.base import Model
from alertagent.api.crd import field_docstring, json_schema


class _Parent(Model):
    """A parent."""

    inherited: int = 0
    """From the parent."""
    redeclared: int = 0
    """The parent's, hidden by the child's redeclaration."""


class _Child(_Parent):
    """A child."""

    redeclared: int = 1
    own: str = Field(default="", description="Explicit wins")
    """Not used: the explicit description wins."""
    nested: _Parent | None = None
    """A nested model."""


def _props(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return schema["$defs"][name]["properties"] if name in schema.get("$defs", {}) else schema["properties"]


def test_models_do_not_read_docstrings_at_class_creation() -> None:
    assert Model.model_config.get("use_attribute_docstrings") is not True
    assert AlertRuleSpec.model_fields["groups"].description is None
    assert AlertRuleSpec.model_json_schema()["properties"]["groups"].get("description") is None
    assert json_schema(AlertRuleSpec)["properties"]["groups"]["description"].startswith("Rule groups")


def test_docstrings_follow_pydantics_rules() -> None:
    schema = json_schema(_Child)
    child, parent = _props(schema, "_Child"), _props(schema, "_Parent")
    assert child["inherited"]["description"] == "From the parent."
    assert "description" not in child["redeclared"]  # a redeclaration without a docstring has none
    assert child["own"]["description"] == "Explicit wins"
    assert child["nested"]["description"] == "A nested model."
    assert parent["redeclared"]["description"] == "The parent's, hidden by the child's redeclaration."
    assert field_docstring(_Child, "inherited") == "From the parent."
    assert field_docstring(_Child, "missing") is None


def test_same_schemas_as_use_attribute_docstrings() -> None:
    """Every model's JSON schema (both modes) equals pydantic's own with `use_attribute_docstrings=True`
    as its default before the models are defined (in a fresh interpreter)."""
    ours, theirs = _schemas(reference=False), _schemas(reference=True)
    assert len(ours) > 50
    assert sum(text.count('"description"') for text in ours.values()) > 3000  # the docstrings are there
    assert ours == theirs


_DUMP = """
import importlib, json, pkgutil, sys
if sys.argv[1] == "reference":  # pydantic's default for every model defined next (none is yet)
    from pydantic._internal._config import config_defaults
    assert "alertagent.api" not in sys.modules and config_defaults["use_attribute_docstrings"] is False
    config_defaults["use_attribute_docstrings"] = True
import alertagent.api
import alertagent.api.base as base
from alertagent.api.crd import DocumentedSchema
for module in pkgutil.iter_modules(alertagent.api.__path__):
    importlib.import_module(f"alertagent.api.{module.name}")
def subclasses(cls):
    return [s for sub in cls.__subclasses__() for s in (sub, *subclasses(sub))]
generator = {} if sys.argv[1] == "reference" else {"schema_generator": DocumentedSchema}
print(json.dumps({
    f"{m.__module__}.{m.__qualname__} {mode}": json.dumps(m.model_json_schema(by_alias=True, mode=mode, **generator))
    for m in subclasses(base.Model) for mode in ("validation", "serialization")
}))
"""


def _schemas(*, reference: bool) -> dict[str, str]:
    """Model and mode -> JSON schema text, computed in a fresh interpreter."""
    argv = [sys.executable, "-c", _DUMP, "reference" if reference else "ours"]
    result = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    assert isinstance(result, dict)
    return result
