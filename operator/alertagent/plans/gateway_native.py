"""The channels-file entry of a channel of Alertmanager's own types with `spec.delivery: Gateway`
(slack, webhook, discord, telegram; pure): render/gateway_targets.py `gateway_target` with the
message template resolved (`gatewayMessage.template` or its ConfigMap), for plans/gateway.py."""

from __future__ import annotations

from collections.abc import Callable

from ..api.notificationchannel import ConfigMapKeyRef, NotificationChannel
from ..common.identity import ObjectRef
from ..render.gateway_targets import gateway_target
from ..render.receivers import MissingSecretError, Secrets
from ..render.robots.models import GatewayChannel

# plans/gateway.py `ConfigMapResolver`: (namespace, ref) → the key's value, None when missing.
TemplateResolver = Callable[[str, ConfigMapKeyRef], str | None]


class GatewayEntryError(MissingSecretError):
    """The channel cannot have a gateway entry (a setting the gateway cannot deliver). plan_gateway
    treats it as a missing Secret: the entry is left out, or its last delivered one stays, while the
    channel's receiver is refused for the same reason (render/receivers.py `gateway_config`)."""


def native_gateway_channel(
    channel: NotificationChannel, token: str, secret: Secrets, config_map: TemplateResolver
) -> GatewayChannel:
    """The entry of `channel`, its Secrets resolved through `secret` and its gatewayMessage
    templateConfigMap through `config_map`. Raises MissingSecretError for a missing Secret, template
    ConfigMap or key, and GatewayEntryError (one) for a setting the gateway cannot deliver."""
    ref = ObjectRef.of(channel)
    message = channel.spec.gateway_message
    template = message.template if message else None
    if message is not None and message.template_config_map is not None:
        cm = message.template_config_map
        template = config_map(ref.namespace, cm)
        if template is None:
            raise MissingSecretError(f"configmap {ref.namespace}/{cm.name} key {cm.key} not found (message template)")
    try:
        return gateway_target(channel, token, secret, template)
    except MissingSecretError:
        raise
    except ValueError as err:
        raise GatewayEntryError(str(err)) from err
