"""The steps of one cluster reconcile. Each reads what is deployed, asks a pure plan what to change,
applies it with the clients, records the outcome in the operator state and returns a `StepResult`.
All are blocking: the reconciler runs them in threads. A step that raises is reported by the caller
as a retryable failure (see `queue` for the contract).

Inputs are taken from Kopf's indexes on the event loop (`ClusterInputs`), so no step reads an index
while Kopf changes it."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from secrets import token_urlsafe
from typing import Any

import httpx

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.base import API_VERSION
from ..api.common import SecretKeyRef
from ..api.notificationchannel import ConfigMapKeyRef, NotificationChannel
from ..api.suppressionpolicy import SuppressionPolicy
from ..clients.alertmanager import expire_silence, list_silences, post_silence
from ..clients.connection import ApiError
from ..clients.http import http_client
from ..clients.probe import gateway_config_errors
from ..clients.tools import amtool_check
from ..common.culprits import scrub
from ..common.hashing import content_hash
from ..common.identity import ObjectRef
from ..common.labels import rule_shard_labels
from ..discovery.snapshot import Graph
from ..metrics import RULE_DISTRIBUTION_TOTAL, SILENCES_RECREATED_TOTAL
from ..plans.alertmanager import (
    AlertmanagerPlan,
    IndexedObject,
    deployed_config,
    deployed_text,
    plan_alertmanager_config,
    secret_name,
    select,
)
from ..plans.gateway import ConfigMapResolver, GatewayPlan, channels_secret_name, incident_settings, plan_gateway
from ..plans.placement import World
from ..plans.rules import IndexedRule, RulesPlan, plan_rules
from ..plans.silences import desired_silences, expiries_on_delete, plan_silences, unreachable_error
from ..render.checked import render_checked
from ..render.receivers import MissingSecretError, SecretResolver
from ..render.rules import selects_rule
from .queue import StepResult
from .state import OperatorState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterInputs:
    """What one reconcile of a cluster works from, copied from the indexes on the event loop."""

    key: str  # "namespace/name"
    body: dict[str, Any]  # the AlertmanagerCluster manifest
    # Every AlertRule's entry, copied only for a run that reads them (the rules step, or the first
    # status flush after a start): empty otherwise (with thousands of rules, a copy per probe costs).
    rules: tuple[IndexedRule, ...]
    channels: tuple[IndexedObject, ...]
    policies: tuple[IndexedObject, ...]
    namespace_labels: Mapping[str, Mapping[str, str]]
    graph: Graph | None  # the published service graph (dependency suppression)
    world: World | None = None  # the clusters there are and namespace labels (for member statuses)
    rules_seq: int = 0  # the rule index's `rule_seq` when `rules` was copied

    @property
    def cluster(self) -> AlertmanagerCluster:
        return AlertmanagerCluster.model_validate(self.body)

    @property
    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = self.body["metadata"]
        return meta


@dataclass(frozen=True)
class Outcome:
    """A step's result and the objects whose status it changed (to be rewritten by the status step)."""

    result: StepResult
    refresh: frozenset[ObjectRef] = frozenset()


def rules_step(state: OperatorState, inputs: ClusterInputs) -> Outcome:
    """Write the rule shards of every evaluator whose content changed; delete surplus shards. Each
    evaluator gets the files its type and version (its `version`, else the probed one) can load, checked
    with its tool (promtool, vmalert's dry run; only files not checked before); a file it cannot load
    is rejected for it alone. Returns the writes made and the AlertRules whose rejections changed;
    raises ApiError."""
    cluster, meta = inputs.cluster, inputs.meta
    record = state.cluster(inputs.key)
    record.evaluator_types = frozenset(ev.type for ev in cluster.spec.rule_evaluators or [])
    deployed = {
        ev.name: state.kube.list_config_maps(meta["namespace"], rule_shard_labels(meta["name"], ev.name))
        for ev in cluster.spec.rule_evaluators or []
    }
    plan = _plan_rules(state, inputs, deployed)
    record.rules_checked_seq = max(record.rules_checked_seq, inputs.rules_seq)
    writes = sum(state.kube.apply_config_maps(e.config_maps) for e in plan.evaluators)
    RULE_DISTRIBUTION_TOTAL.labels(inputs.key, "written").inc(writes)
    if written := plan.shard_hashes_written:
        record.shards_written, record.shards_written_at = written, time.monotonic()
    if writes:
        log.info("rule ConfigMaps of %s: %d writes (%s rules)", inputs.key, writes, plan.rule_counts)
    changed_files: set[str] = set()
    for evaluator, rejected in plan.rejected.items():
        changed_files |= state.rejections.update(inputs.key, evaluator, rejected)
    record.rule_counts = plan.rule_counts
    record.operator_mode = plan.operator_mode
    by_file = {r.file_name: r.ref for r in inputs.rules}
    left_out = {
        f"{by_file.get(name, name)} for evaluator {evaluator}": why
        for evaluator, rejected in plan.rejected.items()
        for name, why in rejected.items()
    }
    left_out |= {  # invalid for every evaluator: the plan skips them (their status lists the errors)
        f"{r.ref} for every evaluator": "invalid: " + "; ".join(f"{i.field}: {i.message}" for i in r.issues)
        for r in inputs.rules
        if r.rule is not None
        and not r.valid
        and not r.metricsql_candidate
        and selects_rule(cluster, r.rule, inputs.namespace_labels.get(r.ref.namespace))
    }
    for what, why in state.left_out.update(inputs.key, "rules", left_out).items():
        log.warning("%s: rules of %s left out: %s", inputs.key, what, _flat(why))
    return Outcome(StepResult("rules", writes=writes), frozenset(by_file[f] for f in changed_files if f in by_file))


def check_rules_ahead(state: OperatorState, inputs: ClusterInputs) -> None:
    """While a burst of changes holds the rules step back: check the files of the AlertRules in
    `inputs.rules` (those indexed since the cluster last planned its rules) with the evaluators' tools,
    whose verdicts are remembered, so that the step after the burst checks only the files changed
    since (the tool's run over 500 new files is ~0.25 s between the burst's last change and its
    ConfigMap). Plans those rules alone, as if nothing were deployed (a file deployed unchanged is
    known to the checker, but after a restart: one file more in the tool's run): no API call, nothing
    written; nothing before the cluster's first rules step, which checks every file anyway."""
    record = state.cluster(inputs.key)
    if record.rule_counts is not None:
        with contextlib.suppress(ValueError):  # a clash of evaluators: the rules step reports it
            _plan_rules(state, inputs, {})
        record.rules_checked_seq = max(record.rules_checked_seq, inputs.rules_seq)


def _plan_rules(
    state: OperatorState, inputs: ClusterInputs, deployed: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> RulesPlan:
    record = state.cluster(inputs.key)
    probed = {t.name: t.version for t in record.health or [] if t.type in ("prometheus", "vmalert")}
    return plan_rules(
        inputs.cluster,
        inputs.meta,
        inputs.rules,
        inputs.namespace_labels,
        deployed,
        probed_versions=probed,
        check=state.rule_checks,
    )


def _reader(read: Callable[[str, str], dict[str, Any] | None], kind: str) -> Callable[[str, str], dict[str, Any]]:
    """`read(namespace, name)` once per object per reconcile. Raises MissingSecretError (the object is
    left out alone, or keeps its last-known-good version) when it is missing or cannot be read
    (401/403); other API errors propagate, so the step fails and is retried."""
    cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    def get(namespace: str, name: str) -> dict[str, Any]:
        if (namespace, name) not in cache:
            try:
                cache[namespace, name] = read(namespace, name)
            except ApiError as err:
                if err.status not in (401, 403):
                    raise  # the API server is unwell: the step fails and is retried
                raise MissingSecretError(
                    f"{kind} {namespace}/{name} cannot be read ({err.status} {err.reason})"
                ) from None
        found = cache[namespace, name]
        if found is None:
            raise MissingSecretError(f"{kind} {namespace}/{name} not found")
        return found

    return get


def _secret_resolver(state: OperatorState, seen: set[str]) -> SecretResolver:
    """Reads each referenced Secret once per reconcile; the values it hands out are added to `seen`
    (to scrub them from tool messages) and never logged or stored. A missing key is None (the
    renderer names it); a missing or unreadable Secret raises MissingSecretError."""
    get = _reader(state.kube.read_secret, "secret")

    def resolve(namespace: str, ref: SecretKeyRef) -> str | None:
        try:
            secret = get(namespace, ref.name)
        except MissingSecretError as err:
            raise MissingSecretError(f"{err} (key {ref.key})") if str(err).endswith("not found") else err from None
        value = (secret.get("data") or {}).get(ref.key)
        if value is None:
            return None
        text = base64.b64decode(value).decode()
        seen.add(text)
        return text

    return resolve


def _config_map_resolver(state: OperatorState) -> ConfigMapResolver:
    """Reads each referenced ConfigMap once per reconcile (an edit is picked up at the next one); a
    missing or unreadable one raises MissingSecretError, like a Secret; a missing key is None."""
    get = _reader(state.kube.read_config_map, "configmap")

    def resolve(namespace: str, ref: ConfigMapKeyRef) -> str | None:
        value: str | None = (get(namespace, ref.name).get("data") or {}).get(ref.key)
        return value

    return resolve


MESSAGE_LIMIT = 2000  # characters of a tool's message kept in a status
VERDICTS_KEPT = 4096  # tool verdicts remembered by output hash; more than a reconcile ever asks for


def _checked(state: OperatorState, text: str) -> str | None:
    """amtool's verdict on a config text, remembered by hash: a reconcile that changed nothing runs no tool."""
    digest = content_hash({"alertmanager.yaml": text})
    if digest not in state.verdicts:
        if len(state.verdicts) >= VERDICTS_KEPT:
            state.verdicts.clear()
        state.verdicts[digest] = amtool_check(text)
    return state.verdicts[digest]


def alertmanager_step(state: OperatorState, inputs: ClusterInputs) -> Outcome:
    """Render the cluster's alertmanager.yaml, check it with amtool, write its Secret when it changed.

    When amtool refuses the merged file, the objects responsible are found by checking parts alone
    (bisection, verdicts cached by hash) and left out with amtool's message, so every other object
    is still written; a refusal no object explains alone keeps the previous file. Tool messages are
    scrubbed of Secret values. Bad input is a failed, not retried, result (it waits for a change).
    Returns the channels and policies whose membership changed and every selected policy; raises
    ApiError."""
    cluster, meta = inputs.cluster, inputs.meta
    selectors = cluster.spec.selectors
    channels = select(
        cluster, NotificationChannel, inputs.channels, selectors.notification_channels, inputs.namespace_labels
    )
    policies = select(
        cluster, SuppressionPolicy, inputs.policies, selectors.suppression_policies, inputs.namespace_labels
    )
    if inputs.graph is None and state.settings.discovery and any(p.spec.dependency_suppression for p in policies):
        # Rendered now, the dependency inhibit rules would vanish from the live file until the graph is
        # built (a second or two after a start): the file stays as it is; the graph's publication
        # makes this step run again.
        log.info("%s: alertmanager.yaml waits for the service graph (dependency suppression)", inputs.key)
        return Outcome(StepResult("alertmanager"))
    record = state.cluster(inputs.key)
    probed = next((t.version for t in record.health or [] if t.type == "alertmanager" and t.version), None)
    version = cluster.spec.alertmanager.version or probed
    secrets: set[str] = set()
    resolve = _secret_resolver(state, secrets)

    last_good = state.last_good.setdefault(inputs.key, {})
    # The gateway learns a channel's token before Alertmanager sends it: the channels file goes first.
    gateway = _gateway_channels(state, cluster, meta, channels, resolve, inputs.namespace_labels)
    current = state.kube.read_secret(meta["namespace"], secret_name(cluster))
    if (live := deployed_text(cluster, current)) is not None:  # amtool passed it before it was written:
        state.verdicts.setdefault(content_hash({"alertmanager.yaml": live}), None)  # a restart runs no amtool
    checked = render_checked(
        cluster,
        channels,
        policies,
        resolve,
        lambda text: _checked(state, text),
        last_good,
        version=version,
        graph=inputs.graph,
        deployed=deployed_config(cluster, current),
        gateway_tokens=gateway.tokens if gateway else None,
    )
    rendered, check_error = checked.rendered, checked.error
    last_known_good = {str(ref): why for ref, why in rendered.last_known_good.items()}
    if newly := state.left_out.update(inputs.key, "last known good", last_known_good):
        log.warning(
            "%s: on their last-known-good receiver: %s",
            inputs.key,
            "; ".join(f"{o}: {_flat(w)}" for o, w in newly.items()),
        )
    refuses = f"Alertmanager {version} refuses it" if version else "Alertmanager refuses it"
    for ref, message in checked.culprits.items():
        kept = "; its last good version stays live" if ref in checked.kept else ""
        said = scrub(message, secrets)[:MESSAGE_LIMIT]  # scrubbed whole, then cut: no half secrets
        rendered.problems.setdefault(ref, []).append(f"{refuses} (amtool): {said}{kept}")
    if check_error is None:  # what this file renders is the last good version of each selected object
        fresh: dict[ObjectRef, NotificationChannel | SuppressionPolicy] = {ObjectRef.of(c): c for c in channels}
        fresh |= {ObjectRef.of(p): p for p in policies}
        state.last_good[inputs.key] = {
            ref: (last_good[ref] if ref in checked.kept else model)
            for ref, model in fresh.items()
            if ref in checked.kept or not rendered.problems.get(ref)
        }
    if check_error is not None:
        check_error = scrub(check_error, secrets)[:MESSAGE_LIMIT]
    plan = plan_alertmanager_config(cluster, meta, channels, policies, rendered, check_error, current)
    if gateway is not None and gateway.error:
        plan = dataclasses.replace(plan, cluster_problems=(*plan.cluster_problems, f"spec.gateway: {gateway.error}"))
    if plan.secret is not None:
        state.kube.put_secret(meta["namespace"], plan.secret, plan.secret_exists)
        log.info("alertmanager config of %s written (%s)", inputs.key, plan.config_hash)
    record.config = plan
    _log_left_out(state, inputs.key, plan)
    changed = state.memberships.record(inputs.key, plan.members, plan.generated, plan.last_known_good)
    if (refused := _refusals(state, cluster)) is not None:
        changed |= state.memberships.record_refusals(inputs.key, refused)
    # Active windows move with time: every selected policy's status is checked again.
    refresh = changed | {ObjectRef.of(p) for p in policies}
    result = StepResult("alertmanager", error=plan.error, retry=False, writes=int(plan.secret is not None))
    return Outcome(result, frozenset(refresh))


def _gateway_channels(
    state: OperatorState,
    cluster: AlertmanagerCluster,
    meta: Mapping[str, Any],
    channels: list[NotificationChannel],
    resolve: SecretResolver,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> GatewayPlan | None:
    """With `spec.gateway` set, write the gateway's channels Secret (with the incident engine's
    settings) when it changed and return its plan (each channel's token); None without a gateway.
    Raises ApiError."""
    if cluster.spec.gateway is None:
        return None
    current = state.kube.read_secret(meta["namespace"], channels_secret_name(cluster))
    incidents = incident_settings(cluster, state.settings.operator_namespace, namespace_labels)
    gateway = plan_gateway(
        cluster, meta, channels, resolve, current, lambda: token_urlsafe(32), _config_map_resolver(state), incidents
    )
    if gateway.secret is not None:
        state.kube.put_secret(meta["namespace"], gateway.secret, gateway.secret_exists)
        log.info("gateway channels of %s written (%d channels)", ObjectRef.of(cluster).key, len(gateway.file.channels))
    analysis = gateway.file.incidents.analysis if gateway.file.incidents is not None else None
    problem = analysis.llm.problem if analysis is not None and analysis.llm is not None else ""
    key = ObjectRef.of(cluster).key
    for _, why in state.left_out.update(key, "analysis LLM", {"key": problem} if problem else {}).items():
        log.warning("%s: incident analysis by LLM is skipped until its key is readable: %s", key, why)
    return gateway


def _refusals(state: OperatorState, cluster: AlertmanagerCluster) -> dict[ObjectRef, str] | None:
    """The channels whose robot refuses their configuration, as the cluster's gateway reports them;
    none without a gateway; None (what is known stays) when it cannot be read (its health target
    then says why)."""
    if cluster.spec.gateway is None:
        return {}
    try:
        with http_client(state.settings.target_timeout_seconds) as http:
            return gateway_config_errors(http, cluster.spec.gateway.url)
    except httpx.HTTPError as err:
        log.debug("gateway channels of %s not read: %s", ObjectRef.of(cluster).key, err)
        return None


def _log_left_out(state: OperatorState, key: str, plan: AlertmanagerPlan) -> None:
    """Log what the cluster's alertmanager.yaml leaves out (objects amtool refuses among them), and a
    whole file refused, each once per reason (see `LeftOut`): the statuses say it on every change."""
    left_out = {str(ref): why for ref, why in plan.members.items() if why}
    if plan.cluster_problems:
        left_out[f"parts of AlertmanagerCluster {key}"] = "; ".join(plan.cluster_problems)
    for what, why in state.left_out.update(key, "alertmanager.yaml", left_out).items():
        log.warning("%s: %s left out of alertmanager.yaml: %s", key, what, _flat(why))
    refused = {"alertmanager.yaml": plan.error} if plan.error else {}
    for _, why in state.left_out.update(key, "alertmanager.yaml file", refused).items():
        log.warning("%s: alertmanager.yaml not written: %s", key, _flat(why))


def _flat(text: str) -> str:
    """A tool's or parser's message on one log line (they can span several)."""
    return " ".join(text.split())


def silences_step(state: OperatorState, inputs: ClusterInputs) -> Outcome:
    """Make this cluster's silences in Alertmanager match the one-off windows of its selected policies
    (`plans.silences`: only its own silences are touched; legacy ones are adopted). A silence of its own
    that someone expired or deleted is created again, logged, counted
    (`alertagent_silences_recreated_total`) and announced by a Warning Event `SilenceRecreated` on the
    policy. Notes in the cluster's record whether there was anything to keep in line (health probes
    skip the step while there is not). Returns the policies whose silence ids changed. An
    Alertmanager that does not answer (a transport error or HTTP 5xx) is a retried failure that the
    cluster's status shows under the Alertmanager target (`plans.silences.unreachable_error`); a
    refusal (4xx) raises httpx.HTTPError."""
    record = state.cluster(inputs.key)
    record.silences_idle_for = None
    if record.config is None:
        return Outcome(StepResult("silences", error="waiting for the first Alertmanager config", retry=True))
    planned_for = record.config.policies
    cluster = inputs.cluster
    url = cluster.spec.alertmanager.url.rstrip("/")
    policies = {f"{p.metadata.namespace}/{p.metadata.name}": p for p in record.config.policies}
    desired = desired_silences(cluster, policies.values(), datetime.now(UTC))
    known = dict(state.memberships.silences.get(inputs.key, {}))  # the ids recorded by its last run
    try:
        with http_client(state.settings.target_timeout_seconds) as http:
            plan = plan_silences(inputs.key, desired, list_silences(http, url), policies.keys(), known)
            ids = dict(plan.keep)
            for want in plan.create:
                ids[want.marker] = post_silence(http, url, want.body())
            for silence_id, want in plan.update:
                ids[want.marker] = post_silence(http, url, want.body(silence_id))
            for silence_id in plan.expire:
                expire_silence(http, url, silence_id)
    except httpx.HTTPStatusError as err:
        if err.response.status_code < 500:
            raise  # Alertmanager refuses what it was sent: a failure of this step (RenderFailed)
        return _unreachable(state, inputs.key, f"HTTP {err.response.status_code} from {url}")
    except httpx.TransportError as err:
        return _unreachable(state, inputs.key, f"{err.__class__.__name__}: {err}")
    state.left_out.update(inputs.key, "silences", {})
    if plan.create or plan.update or plan.expire:
        log.info(
            "%s: silences created for %s, updated %s, expired %s",
            inputs.key,
            [d.marker for d in plan.create],
            [silence_id for silence_id, _ in plan.update],
            plan.expire,
        )
    if plan.adopted:
        log.info("%s: adopted silences made before they named their cluster: %s", inputs.key, ", ".join(plan.adopted))
    for marker, before in sorted(plan.recreated.items()):
        _silence_recreated(state, inputs.key, policies, marker, before, ids.get(marker, ""))
    writes = len(plan.create) + len(plan.update) + len(plan.expire)
    if not desired and not ids and not writes:
        record.silences_idle_for = planned_for
    return Outcome(StepResult("silences", writes=writes), frozenset(state.memberships.record_silences(inputs.key, ids)))


def expire_deleted_cluster_silences(key: str, body: Mapping[str, Any], seconds: float) -> bool:
    """Expire the silences of AlertmanagerCluster `key` (`namespace/name`, manifest `body`) as it is
    deleted (`plans.silences.expiries_on_delete`: only those naming it), spending at most about
    `seconds` on it (each request's timeout is what is left). Best effort: returns False, with a
    warning that names what stays, when Alertmanager does not answer or refuses in time; True when
    every one is expired (or there were none)."""
    deadline = time.monotonic() + seconds
    left: list[str] | None = None
    try:
        url = AlertmanagerCluster.model_validate(body).spec.alertmanager.url.rstrip("/")
        with http_client(seconds) as http:
            left = expiries_on_delete(key, list_silences(http, url))
            while left:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise httpx.TimeoutException(f"no time left after {seconds:g} s")
                http.timeout = httpx.Timeout(remaining)
                expire_silence(http, url, left[0])
                left.pop(0)
    except (httpx.HTTPError, ValueError) as err:
        log.warning(
            "%s: deleted, but its silences were not all expired (%s); left to end by themselves: %s",
            key,
            _flat(f"{err.__class__.__name__}: {err}"),
            ", ".join(left) if left else "unknown (listing them failed)",
        )
        return False
    return True


def _unreachable(state: OperatorState, key: str, detail: str) -> Outcome:
    """The silences step's result when Alertmanager does not answer (retried; logged once per reason)."""
    error = unreachable_error(detail)
    for _, why in state.left_out.update(key, "silences", {"Alertmanager": error}).items():
        log.warning("%s: silences not synced, will retry: %s", key, why)
    return Outcome(StepResult("silences", error=error, retry=True))


def _silence_recreated(
    state: OperatorState, key: str, policies: Mapping[str, SuppressionPolicy], marker: str, before: str, now: str
) -> None:
    """Say that the silence of window `marker` was expired or deleted outside AlertAgent and created
    again: a log line, the counter and a Warning Event on the policy (the window is in its spec, so
    the silence comes back until the window is removed or ends)."""
    parts = marker.split("/", 2)  # namespace, policy, window
    policy_key, window = "/".join(parts[:2]), parts[-1]
    message = (
        f"the silence {before} of window {window} in AlertmanagerCluster {key} was expired or deleted outside "
        f"AlertAgent; created again as {now} (remove the window from the policy to end it early)"
    )
    log.warning("%s: %s", policy_key, message)
    SILENCES_RECREATED_TOTAL.labels(key).inc()
    policy = policies.get(policy_key)
    if policy is None:
        return
    meta = policy.metadata
    about = {
        "apiVersion": API_VERSION,
        "kind": "SuppressionPolicy",
        "metadata": {"name": meta.name, "namespace": meta.namespace, "uid": (meta.model_extra or {}).get("uid")},
    }
    try:
        state.kube.post_event(about, "Warning", "SilenceRecreated", message)
    except ApiError as err:  # the log line and the counter say it all the same
        log.warning("Event SilenceRecreated on %s not posted: %s", policy_key, err)
