"""Base classes shared by every CRD model.

Each model is the single source of truth for one part of a CRD schema: field docstrings become the
OpenAPI descriptions `kubectl explain` shows (read by `crd.DocumentedSchema` when the CRDs are
generated, not at class creation), and each `Invariant` is enforced twice from one
declaration: as a CEL rule by the API server and as a pydantic check for offline use (`alertagent
render`), so both reject the same objects with the same message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

GROUP = "alertagent.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


@dataclass(frozen=True)
class Invariant:
    """A rule a schema alone cannot express: `cel` for the API server, `holds` for Python."""

    cel: str
    message: str
    holds: Callable[[Any], bool]
    field_path: str | None = None

    def as_validation(self) -> dict[str, str]:
        rule = {"rule": self.cel, "message": self.message}
        if self.field_path:
            rule["fieldPath"] = self.field_path
        return rule


def _add_invariants(schema: dict[str, Any], cls: type[Any]) -> None:
    invariants: tuple[Invariant, ...] = getattr(cls, "__invariants__", ())
    if invariants:
        schema["x-kubernetes-validations"] = [inv.as_validation() for inv in invariants]


class Model(BaseModel):
    """Camel-case aliases on the wire, unknown fields rejected.

    Field docstrings are the CRD's descriptions, but pydantic's `use_attribute_docstrings` would read
    every model's source at class creation (~85 ms CPU at every start of the operator and the CLI):
    `crd.DocumentedSchema` reads them only when a schema is generated. Validators are built on a
    model's first use (`defer_build`): building all of them at import took ~90 ms of every start,
    where a restart with only AlertRules and an AlertmanagerCluster uses ~15 ms of them.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        json_schema_extra=_add_invariants,
        defer_build=True,
    )

    __invariants__: ClassVar[tuple[Invariant, ...]] = ()

    @model_validator(mode="after")
    def _check_invariants(self) -> Self:
        for invariant in type(self).__invariants__:
            if not invariant.holds(self):
                where = f"{invariant.field_path}: " if invariant.field_path else ""
                raise ValueError(f"{where}{invariant.message}")
        return self

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server stores it: aliases, no unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
