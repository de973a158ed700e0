"""The optional validating admission webhook: rejects an invalid AlertRule at `kubectl apply` time
with the same messages `status.validationErrors` would carry. GitOps users may prefer status alone
(an invalid object is still left out alone). failurePolicy is Ignore: an operator that is down never
blocks applies."""

from __future__ import annotations

from typing import Any

import kopf

from ..api.base import GROUP, VERSION
from ..render.validation import describe, parse_alert_rule
from ..settings import Settings


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    @kopf.on.validate(
        GROUP,
        VERSION,
        "alertrules",
        id="alertrules",
        ignore_failures=True,
        operations=["CREATE", "UPDATE"],
        registry=registry,
    )
    def validate_alert_rule(body: kopf.Body, **_: Any) -> None:
        issues = parse_alert_rule(dict(body))[1]
        if issues:
            raise kopf.AdmissionError("; ".join(describe(i) for i in issues), code=422)
