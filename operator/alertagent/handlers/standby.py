"""What a standby replica (leader election, not the leader) runs in Kopf: the admission webhook
alone. Validation is pure (`admission`), so a standby answers the API server exactly as the leader
would; it watches nothing, writes nothing and never manages the ValidatingWebhookConfiguration (the
leader does when `--webhook-ca` is given)."""

from __future__ import annotations

from typing import Any

import kopf

from ..clients.connection import load_connection
from ..settings import Settings
from .lifecycle import kopf_credentials, webhook_server


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    operator = settings  # Kopf passes its own `settings` to startup handlers

    @kopf.on.login(registry=registry, id="login")
    def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo | None:
        """In cluster, the service account; else the kubeconfig (what `alertagent run` loads for
        itself too)."""
        return kopf_credentials(load_connection(), settings.networking.trust_env)

    @kopf.on.startup(registry=registry, id="configure")
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False  # no Events: a standby writes nothing
        settings.scanning.disabled = True  # one scan at start (the served resources); no CRD watch
        settings.networking.error_backoffs = (0.5,) + (1.0,) * 120
        if operator.webhook_port:
            settings.admission.server = webhook_server(operator)
            settings.admission.managed = None  # the leader's (with --webhook-ca) or the chart's
