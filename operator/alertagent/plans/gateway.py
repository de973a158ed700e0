"""The gateway's channels file (pure): what the AlertAgent gateway knows of a cluster's dingtalk, wecom
and feishu channels, and whether its Secret must be written.

The operator resolves each channel's robot URL and signing secret and writes them, with a bearer token
per channel, into the Secret `<cluster>-gateway-channels` (key `channels.json`, a `ChannelsFile`) in
the cluster's namespace, owned by the cluster; the gateway mounts it, so it never reads tenants'
Secrets. A token is generated once (`new_token`, e.g. `secrets.token_urlsafe(32)`) and read back from
that Secret afterwards, so it stays stable across reconciles and operator restarts; Alertmanager sends
it (render/receivers.py `gateway_config`) and the gateway checks it.

A channel whose Secret is missing or unreadable follows the last-known-good rule of
render/alertmanager.py: its entry in the deployed file stays (noted in `last_known_good`); without one
it is left out (`problems`), as its receiver is. A `templateConfigMap` is resolved the same way (through
a `ConfigMapResolver`, once per reconcile, so an edited ConfigMap is picked up at the next one); a
missing ConfigMap or key is treated as a missing Secret."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.base import API_VERSION
from ..api.notificationchannel import ConfigMapKeyRef, NotificationChannel
from ..common.hashing import content_hash
from ..common.identity import ObjectRef, owner_reference
from ..common.labels import CLUSTER_LABEL, COMPONENT_LABEL, CONTENT_HASH_ANNOTATION, MANAGED_BY
from ..render.receivers import GATEWAY_TYPES, MissingSecretError, SecretResolver, Secrets
from ..render.robots.models import (
    AnalysisSettings,
    ChannelsFile,
    GatewayChannel,
    IncidentSettings,
    LlmSettings,
    Mentions,
)
from ..render.selection import matches
from .gateway_native import native_gateway_channel

# (namespace, ref) → the key's value; None for a missing ConfigMap or key. Raises MissingSecretError
# for one that cannot be read.
ConfigMapResolver = Callable[[str, ConfigMapKeyRef], str | None]

CHANNELS_KEY = "channels.json"
GATEWAY_COMPONENT = "gateway-channels"


def channels_secret_name(cluster: AlertmanagerCluster) -> str:
    """`<cluster>-gateway-channels`."""
    return f"{cluster.metadata.name}-gateway-channels"


def channels_text(file: ChannelsFile) -> str:
    """The `channels.json` text: compact JSON, keys sorted, so equal files are equal bytes (a file
    without an incidents section has no such key, as files written before it)."""
    doc = file.model_dump(mode="json", exclude={"incidents"} if file.incidents is None else None)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNIT_SECONDS = {"y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def duration_seconds(text: str) -> float:
    """A Prometheus duration (`1h30m`, `500ms`, `0`; api/common.py DURATION_PATTERN) in seconds, as
    Prometheus' model.ParseDuration reads it (a year is 365 days). Raises ValueError otherwise."""
    if text == "0":
        return 0.0
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def selected_namespaces(
    cluster: AlertmanagerCluster, namespace_labels: Mapping[str, Mapping[str, str]]
) -> list[str] | None:
    """The namespaces whose AlertRules the cluster includes, by its `selectors.alertRules` namespaces
    and namespaceSelector (`namespace_labels`: every namespace known, with its labels), sorted; None
    when it includes every namespace."""
    selector = cluster.spec.selectors.alert_rules
    if selector.namespaces is None and selector.namespace_selector is None:
        return None
    names = selector.namespaces if selector.namespaces is not None else namespace_labels
    return sorted(
        name
        for name in set(names)
        if selector.namespace_selector is None or matches(selector.namespace_selector, namespace_labels.get(name))
    )


def incident_settings(
    cluster: AlertmanagerCluster, operator_namespace: str, namespace_labels: Mapping[str, Mapping[str, str]]
) -> IncidentSettings | None:
    """The channels file's incidents section: None when the cluster has no gateway or
    `spec.incidents.enabled` is false. `operator_namespace` holds the service graph ConfigMap."""
    options = cluster.spec.incidents
    if cluster.spec.gateway is None or not options.enabled:
        return None
    return IncidentSettings(
        alertmanager_url=cluster.spec.alertmanager.url,
        window=duration_seconds(options.window),
        hold=duration_seconds(options.hold),
        update_interval=duration_seconds(options.update_interval),
        poll_interval=duration_seconds(options.poll_interval),
        retention=duration_seconds(options.retention),
        service_label=options.service_label,
        namespace_label=cluster.spec.namespace_label,
        namespaces=selected_namespaces(cluster, namespace_labels),
        graph_namespace=operator_namespace,
        analysis=analysis_settings(cluster),
    )


def analysis_settings(cluster: AlertmanagerCluster) -> AnalysisSettings | None:
    """The incidents section's analysis settings, the LLM's key still unresolved (`with_llm_key`);
    None when neither the built-in report nor an LLM is on."""
    options = cluster.spec.incidents.analysis
    if not options.builtin and options.llm is None:
        return None
    llm = options.llm
    return AnalysisSettings(
        builtin=options.builtin,
        lookback=duration_seconds(options.lookback),
        rollout_window=duration_seconds(options.rollout_window),
        llm=None
        if llm is None
        else LlmSettings(
            type=llm.type,
            url=llm.url,
            model=llm.model or "",
            dify_mode=llm.dify_mode,
            auth_header=llm.auth_header,
            temperature=llm.temperature,
            max_tokens=llm.max_tokens,
            timeout=duration_seconds(llm.timeout),
            max_steps=llm.max_steps,
            anonymize=llm.anonymize,
        ),
        max_per_hour=options.max_per_hour,
        max_tokens_per_day=options.max_tokens_per_day,
        evaluators=sorted(e.url for e in cluster.spec.rule_evaluators or [] if e.type == "prometheus"),
    )


def with_llm_key(
    cluster: AlertmanagerCluster, incidents: IncidentSettings | None, secret: Secrets
) -> IncidentSettings | None:
    """`incidents` with the LLM's API key read through `secret` (the cluster's namespace); a missing or
    unreadable Secret leaves the key out and says so in `llm.problem` (the analysis then reports it
    and the built-in report still runs)."""
    llm = cluster.spec.incidents.analysis.llm
    analysis = incidents.analysis if incidents is not None else None
    if incidents is None or analysis is None or analysis.llm is None or llm is None or llm.api_key is None:
        return incidents
    try:
        key, problem = secret(llm.api_key), ""
    except MissingSecretError as err:
        key, problem = None, f"spec.incidents.analysis.llm.apiKey: {err}"
    settings = analysis.llm.model_copy(update={"api_key": key, "problem": problem})
    return incidents.model_copy(update={"analysis": analysis.model_copy(update={"llm": settings})})


def deployed_channels(cluster: AlertmanagerCluster, secret: Mapping[str, Any] | None) -> ChannelsFile | None:
    """The channels file in the cluster's channels Secret now; None when there is none, it is not this
    cluster's, or it does not parse (its tokens are then generated anew)."""
    labels = ((secret or {}).get("metadata") or {}).get("labels") or {}
    encoded = ((secret or {}).get("data") or {}).get(CHANNELS_KEY)
    if encoded is None or labels.get(CLUSTER_LABEL) != cluster.metadata.name:
        return None
    try:
        return ChannelsFile.model_validate_json(base64.b64decode(encoded))
    except (binascii.Error, ValueError, ValidationError):
        return None


def _no_config_maps(namespace: str, ref: ConfigMapKeyRef) -> str | None:
    return None


def gateway_channel(
    channel: NotificationChannel,
    token: str,
    secret: Secrets,
    config_map: ConfigMapResolver = _no_config_maps,
) -> GatewayChannel:
    """One channel as the gateway knows it, its Secrets resolved through `secret` and its
    templateConfigMap through `config_map`. Raises MissingSecretError for a missing robot URL or
    signing secret Secret, or a missing template ConfigMap or key."""
    spec, ref = channel.spec, ObjectRef.of(channel)
    key, kind = ref.key, spec.type
    if kind not in GATEWAY_TYPES:  # Alertmanager's own types with spec.delivery Gateway
        return native_gateway_channel(channel, token, secret, config_map)
    block = getattr(spec, kind)
    template = block.template
    if block.template_config_map is not None:
        cm = block.template_config_map
        template = config_map(ref.namespace, cm)
        if template is None:
            raise MissingSecretError(f"configmap {ref.namespace}/{cm.name} key {cm.key} not found (message template)")
    url = secret(block.webhook_url)
    if url is None:  # never: a missing value raises in `secret`
        raise MissingSecretError(f"{key}: no robot URL")
    sign_secret = secret(getattr(block, "sign_secret", None))
    if kind == "dingtalk":
        mentions = Mentions(mobiles=block.at_mobiles or [], user_ids=block.at_user_ids or [], all=block.at_all)
    elif kind == "wecom":
        users = block.mentioned_list or []
        mentions = Mentions(
            mobiles=block.mentioned_mobile_list or [],
            user_ids=[u for u in users if u != "@all"],
            all="@all" in users,
        )
    else:
        mentions = Mentions()
    return GatewayChannel(
        key=key,
        type=kind,
        webhook_url=url,
        sign_secret=sign_secret or None,
        token=token,
        message_type=block.message_type,
        mentions=mentions,
        language=block.language,
        time_zone=block.time_zone,
        template=template,
    )


@dataclass(frozen=True)
class GatewayPlan:
    """`file` is the channels file wanted; `tokens` each selected gateway channel's bearer token (what
    the receivers are rendered with); `secret` the Secret body to write (None: it is current);
    `problems` the channels left out of the file and why; `last_known_good` those whose deployed entry
    stays and why; `error` why the Secret cannot be written (another owner's)."""

    file: ChannelsFile
    tokens: Mapping[str, str]
    secret: dict[str, Any] | None
    secret_exists: bool
    problems: Mapping[ObjectRef, str] = field(default_factory=dict)
    last_known_good: Mapping[ObjectRef, str] = field(default_factory=dict)
    error: str | None = None


def plan_gateway(
    cluster: AlertmanagerCluster,
    owner: Mapping[str, Any],
    channels: Iterable[NotificationChannel],
    resolve_secret: SecretResolver,
    current: Mapping[str, Any] | None,
    new_token: Callable[[], str],
    resolve_config_map: ConfigMapResolver = _no_config_maps,
    incidents: IncidentSettings | None = None,
) -> GatewayPlan:
    """The channels file of `channels` (the cluster's selected channels; other types are ignored) and
    its Secret. `owner` is the cluster's metadata (name, namespace, uid); `current` the channels Secret
    there now (None: none yet); `resolve_config_map` reads templateConfigMap keys (by default none
    exist); `incidents` the incident engine's section (`incident_settings`). Raises nothing: a missing
    Secret or template ConfigMap is a problem of its channel."""
    cluster_key = ObjectRef.of(cluster).key
    labels = ((current or {}).get("metadata") or {}).get("labels") or {}
    if current is not None and labels.get(CLUSTER_LABEL) != owner["name"]:
        name = f"{owner['namespace']}/{channels_secret_name(cluster)}"
        error = f"Secret {name} exists and is not AlertAgent's for this cluster: gateway channels get no token"
        return GatewayPlan(ChannelsFile(cluster=cluster_key, channels={}), {}, None, True, error=error)
    deployed = deployed_channels(cluster, current)
    before = deployed.channels if deployed else {}
    entries: dict[str, GatewayChannel] = {}
    tokens: dict[str, str] = {}
    problems: dict[ObjectRef, str] = {}
    last_known_good: dict[ObjectRef, str] = {}
    for channel in sorted(channels, key=ObjectRef.of):
        if channel.spec.delivery_mode() != "Gateway":
            continue
        ref = ObjectRef.of(channel)
        live = before.get(ref.key)
        token = tokens[ref.key] = live.token if live is not None else new_token()
        try:
            entries[ref.key] = gateway_channel(
                channel, token, Secrets(resolve_secret, ref.namespace, False), resolve_config_map
            )
        except MissingSecretError as err:
            if live is None:
                problems[ref] = str(err)
            else:  # a Secret or ConfigMap gone or unreadable never takes a working robot away
                entries[ref.key] = live
                last_known_good[ref] = f"{err}: its last delivered gateway entry stays live"
    incidents = with_llm_key(cluster, incidents, Secrets(resolve_secret, cluster_key.partition("/")[0], False))
    file = ChannelsFile(cluster=cluster_key, channels=entries, incidents=incidents)
    text = channels_text(file)
    digest = content_hash({CHANNELS_KEY: text})
    annotations = ((current or {}).get("metadata") or {}).get("annotations") or {}
    secret = None
    if current is None or annotations.get(CONTENT_HASH_ANNOTATION) != digest:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": channels_secret_name(cluster),
                "namespace": owner["namespace"],
                "labels": {**MANAGED_BY, COMPONENT_LABEL: GATEWAY_COMPONENT, CLUSTER_LABEL: owner["name"]},
                "annotations": {CONTENT_HASH_ANNOTATION: digest},
                "ownerReferences": [owner_reference(API_VERSION, "AlertmanagerCluster", owner)],
            },
            "data": {CHANNELS_KEY: base64.b64encode(text.encode()).decode()},
        }
    return GatewayPlan(file, tokens, secret, current is not None, problems, last_known_good)
