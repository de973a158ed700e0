"""The optional validating admission webhook: rejects an invalid AlertRule at `kubectl apply` time
with the same messages `status.validationErrors` would carry (PromQL, label names, the templates of
labels and annotations: `render.validation.parse_alert_rule`). GitOps users may prefer status alone
(an invalid object is still left out alone). failurePolicy is Ignore: an operator that is down never
blocks applies."""

from __future__ import annotations

from collections.abc import Mapping
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
        if (message := refusal(dict(body))) is not None:
            raise kopf.AdmissionError(message, code=422)


def refusal(body: Mapping[str, Any]) -> str | None:
    """Why the webhook refuses an AlertRule manifest (None: admitted): every issue of
    `parse_alert_rule` (schema, PromQL, label names, templates), the lines `status.validationErrors` and
    `alertagent render` show, joined with `; `."""
    issues = parse_alert_rule(dict(body))[1]
    return "; ".join(describe(i) for i in issues) if issues else None
