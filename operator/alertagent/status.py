"""Composing status objects (pure): kstatus conditions and the AlertRule status from its parts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .api.alertmanagercluster import ObjectCounts, TargetHealth
from .api.alertrule import RuleTargetStatus, ValidationIssue
from .api.common import CURRENT, RECONCILING, STALLED, Condition, kstatus_of


@dataclass(frozen=True)
class Placement:
    """Where an object should be live: the clusters (`namespace/name`) that include it, and the
    `spec.targets` entries that name no AlertmanagerCluster."""

    selecting: tuple[str, ...] = ()
    unknown_targets: tuple[str, ...] = ()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def comparable(status: Mapping[str, Any]) -> dict[str, Any]:
    """A status without the condition timestamps, to decide whether anything really changed."""
    conditions = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []]
    return {**status, "conditions": conditions}


def kstatus_conditions(
    kind: str, reason: str, message: str, generation: int | None, previous: Iterable[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """[Ready, Reconciling, Stalled] of an object of `kind` whose Ready reason is `reason`, as the
    `api.common.KSTATUS` table places it: Ready True when Current; Reconciling or Stalled True (with
    Ready's reason and message) when it is so, else False with Ready's reason and no message. All
    carry `generation`; each keeps its lastTransitionTime while its status holds. Ready comes first
    (the Warning Event and the printer columns read it). Raises KeyError for a reason not in the table.

    The abnormal conditions derive from Ready's reason alone, so they change only when Ready does:
    they never cause a status write of their own."""
    state = kstatus_of(kind, reason)
    previous = list(previous or [])
    return [
        condition("Ready", state == CURRENT, reason, message, generation, previous),
        condition(
            RECONCILING, state == RECONCILING, reason, message if state == RECONCILING else "", generation, previous
        ),
        condition(STALLED, state == STALLED, reason, message if state == STALLED else "", generation, previous),
    ]


def condition(
    kind: str,
    true: bool,
    reason: str,
    message: str,
    generation: int | None,
    previous: Iterable[Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """A condition of type `kind`; lastTransitionTime is kept when its status did not change."""
    status = "True" if true else "False"
    transition = now()
    for old in previous or []:
        if old.get("type") == kind and old.get("status") == status and old.get("lastTransitionTime"):
            transition = datetime.fromisoformat(old["lastTransitionTime"].replace("Z", "+00:00"))
    result = Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=generation,
    )
    return result.to_wire()


@dataclass(frozen=True)
class ShardReport:
    """What a rule ConfigMap says about one rule file: where it goes and whether it is loaded."""

    cluster: str  # namespace/name
    evaluator: str
    file_hash: str
    shard_hash: str
    loaded_hash: str | None
    loaded_time: str | None
    error: str | None
    shard: str = ""  # the ConfigMap, namespace/name
    # The file's hash in the shard version the target loaded, when known: a file a new version of its
    # shard did not change stays loaded while the target catches up (its status does not flip).
    loaded_file_hash: str | None = None
    seen_at: float | None = None  # when the operator first saw this version of the shard (monotonic s)

    @property
    def pending(self) -> bool:
        return self.loaded_hash != self.shard_hash and not self.error

    def awaiting_load(self, now: float, hold_seconds: float) -> bool:
        """This file is new in a shard version seen less than `hold_seconds` ago that its target has
        not reported on yet: its sidecar normally reports within a second, so a status written now
        would say Pending only to be rewritten as Synced."""
        fresh = self.seen_at is not None and now - self.seen_at < hold_seconds
        return fresh and self.pending and self.loaded_file_hash != self.file_hash

    def target_status(self, stalled_after: float | None = None) -> RuleTargetStatus:
        """The target's state; `stalled_after` (seconds) says the shard has been pending that long, so
        the message names the ConfigMap and the sidecar that would report on it."""
        if self.loaded_hash == self.shard_hash or (not self.error and self.loaded_file_hash == self.file_hash):
            state, message = "Synced", None
        elif self.error:
            state, message = "Failed", self.error
        elif stalled_after is None:
            # Not the ConfigMap's name: files move between shards as rules come and go, and a message
            # naming the shard would rewrite the status of every rule that moved.
            state, message = "Pending", f"waiting for the sidecar of evaluator {self.evaluator} to load the new rules"
        else:
            state, message = "Stalled", self._stalled_message(stalled_after)
        return RuleTargetStatus(
            cluster=self.cluster,
            evaluator=self.evaluator,
            state=state,
            config_hash=self.file_hash,
            last_sync_time=datetime.fromisoformat(self.loaded_time) if state == "Synced" and self.loaded_time else None,
            message=message,
        )

    def _stalled_message(self, seconds: float) -> str:
        namespace, _, _name = self.shard.partition("/")
        cluster = self.cluster.partition("/")[2]
        if self.loaded_hash is None:
            return (
                f"ConfigMap {self.shard} has had no report from a sidecar for over {seconds:.0f}s: run "
                f"`alertagent-sidecar --namespace {namespace} --selector alertagent.io/cluster={cluster},"
                f"alertagent.io/evaluator={self.evaluator} --rules-dir <its rules dir> --target-url <its URL>` "
                f"next to evaluator {self.evaluator} (or set its reloadMode: Operator or None)"
            )
        return (
            f"the sidecar of ConfigMap {self.shard} still reports an older version after {seconds:.0f}s: "
            "see its /healthz and logs"
        )


def alert_rule_status(
    body: Mapping[str, Any],
    issues: list[ValidationIssue],
    targets: list[RuleTargetStatus],
    revision: int | None = None,
    placement: Placement | None = None,
) -> dict[str, Any]:
    """The operator-owned part of an AlertRule's status. `placement` says which clusters include the
    rule and which `spec.targets` name no cluster (None: not known, so neither is claimed)."""
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    generation = (body.get("metadata") or {}).get("generation")
    rule_count = sum(len(g.get("rules") or []) for g in spec.get("groups") or [])
    targets = one_per_target(targets)
    synced = sum(t.state == "Synced" for t in targets)
    failed = [t for t in targets if t.state == "Failed"]
    if issues:
        reason, message = "Invalid", "; ".join(f"{i.field}: {i.message}" for i in issues)
    elif not spec.get("enabled", True):
        reason, message = "Suspended", "spec.enabled is false: removed from every target"
    elif placement is not None and placement.unknown_targets:
        reason, message = "UnknownTarget", unknown_targets_message(placement)
    elif not targets and (placement is None or not placement.selecting):
        reason, message = "NotSelected", "no AlertmanagerCluster selects this rule: it is loaded nowhere"
    elif failed:
        reason = "SyncFailed"
        message = "; ".join(f"{t.cluster}/{t.evaluator}: {t.message}" for t in failed)
    elif unwritten := sorted(set(placement.selecting if placement else ()) - {t.cluster for t in targets}):
        reason = "Pending"
        message = f"waiting for AlertmanagerCluster {', '.join(unwritten)} to write the rules"
    elif synced < len(targets):
        # Stalled (no sidecar report past the bound) is not on its way to Ready: a reason of its own,
        # so it gets a Warning Event where Pending gets none.
        reason = "Stalled" if any(t.state == "Stalled" for t in targets) else "Pending"
        waiting = "; ".join(f"{t.cluster}/{t.evaluator}: {t.message}" for t in targets if t.state != "Synced")
        message = f"{synced}/{len(targets)} targets loaded the rules; {waiting}"
    else:
        reason, message = "Synced", f"loaded by {synced}/{len(targets)} targets"
    return {
        "observedGeneration": generation,
        "revision": revision if revision is not None else status.get("revision"),
        "ruleCount": rule_count,
        "synced": f"{synced}/{len(targets)}",
        "targets": _keep_sync_times([t.to_wire() for t in targets], status.get("targets") or []),
        "validationErrors": [i.to_wire() for i in issues],
        "conditions": kstatus_conditions("AlertRule", reason, message, generation, status.get("conditions")),
    }


# The least advanced state first: it is the one that says what is still to be done.
STATE_ORDER = {"Failed": 0, "Stalled": 1, "Pending": 2, "Synced": 3}


def one_per_target(targets: Iterable[RuleTargetStatus]) -> list[RuleTargetStatus]:
    """One entry per (cluster, evaluator), sorted by them. A rule file can have several: the tool
    refused the new file (Failed) while the shard still holds, and the target still loads, the last
    good one (Synced); or the file is moving between two shards of one evaluator. The least advanced
    state stands for the target (Failed, Stalled, Pending, Synced), the first given on a tie, so
    `synced` counts evaluators out of all that should load the rule (`2/2`), never files."""
    best: dict[tuple[str, str], RuleTargetStatus] = {}
    for target in targets:
        key = (target.cluster, target.evaluator)
        if key not in best or STATE_ORDER.get(target.state, 0) < STATE_ORDER.get(best[key].state, 0):
            best[key] = target
    return [best[key] for key in sorted(best)]


def _keep_sync_times(targets: list[dict[str, Any]], before: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A target that had this very file loaded keeps the time it loaded it: a reload of its shard for
    another file's sake does not change this object's status."""
    old = {(t.get("cluster"), t.get("evaluator")): t for t in before if isinstance(t, Mapping)}
    for target in targets:
        was = old.get((target["cluster"], target["evaluator"]), {})
        same = target.get("configHash") == was.get("configHash") and target["state"] == was.get("state") == "Synced"
        if same and was.get("lastSyncTime"):
            target["lastSyncTime"] = was["lastSyncTime"]
    return targets


def _keep_check_times(targets: list[dict[str, Any]], before: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A target the probe finds as it was keeps its `lastCheckTime`: a probe that finds nothing new
    writes nothing (the time says since when the target has been as the status shows it)."""
    old = {t.get("name"): t for t in before if isinstance(t, Mapping)}
    for target in targets:
        was = dict(old.get(target["name"], {}))
        now = {k: v for k, v in target.items() if k != "lastCheckTime"}
        if was.get("lastCheckTime") and {k: v for k, v in was.items() if k != "lastCheckTime"} == now:
            target["lastCheckTime"] = was["lastCheckTime"]
    return targets


def status_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """What `alert_rule_status` and an Event about the object read of an AlertRule, and no more (the
    operator keeps one per AlertRule between events): apiVersion, kind, the metadata that names it,
    its generation and resourceVersion, `spec.enabled`, how many rules each group has (as empty
    entries) and the status."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    kept = ("name", "namespace", "uid", "generation", "resourceVersion")
    groups: list[dict[str, Any]] = [
        {"rules": [{}] * len(g.get("rules") or [])} for g in spec.get("groups") or [] if isinstance(g, dict)
    ]
    view: dict[str, Any] = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind", "AlertRule"),
        "metadata": {k: meta[k] for k in kept if k in meta},
        "spec": {"enabled": spec.get("enabled", True), "groups": groups},
    }
    if "status" in body:
        view["status"] = body["status"]
    return view


def cluster_status(
    body: Mapping[str, Any],
    health: list[TargetHealth],
    rules_per_evaluator: Mapping[str, int],
    last_error: str | None,
    config_counts: Mapping[str, int] | None = None,
    config_hash: str | None = None,
    loaded: tuple[str | None, str | None] = (None, None),
    last_known_good: Mapping[str, str] | None = None,
    target_problems: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The operator-owned part of an AlertmanagerCluster's status. `last_known_good` maps each object
    (`Kind namespace/name`) whose last delivered version runs instead of its spec to why: the cluster
    is then Degraded (Ready says whether the config is live, Degraded whether all of it is current).
    `target_problems` maps a target's name to what failed talking to it outside its probe (the
    silences API of an Alertmanager that does not answer): added to its message, and it counts as
    unhealthy. Ready's reason: `TargetsUnhealthy` (each target named with its URL) when a target is
    unhealthy, whatever else failed (`last_error` is then added to the message: it is often a
    consequence); else `RenderFailed` with `last_error`; `Probing` before the first probe; `Healthy`."""
    generation = (body.get("metadata") or {}).get("generation")
    loaded_hash, loaded_time = loaded
    reloaded = datetime.fromisoformat(loaded_time) if loaded_time else None
    problems = target_problems or {}
    targets = [
        t.model_copy(update={"config_hash": loaded_hash, "last_reload_time": reloaded})
        if t.type == "alertmanager"
        else t
        if t.type == "gateway"
        else t.model_copy(update={"rules": rules_per_evaluator.get(t.name, 0)})
        for t in health
    ]
    targets = [
        t.model_copy(update={"message": "; ".join(m for m in (t.message, problems[t.name]) if m)})
        if t.name in problems
        else t
        for t in targets
    ]
    reachable = sum(bool(t.reachable) for t in targets)
    urls = target_urls(body)
    unhealthy = [
        f"{t.name}{f' ({urls[t.name]})' if t.name in urls else ''}: {t.message or 'unreachable'}"
        for t in targets
        if not t.reachable or t.name in problems
    ]
    if unhealthy:
        reason, message = "TargetsUnhealthy", "; ".join(unhealthy)
        if last_error:
            message += f"; also: {last_error}"
    elif last_error:
        reason, message = "RenderFailed", last_error
    elif not targets:
        reason, message = "Probing", "waiting for the first health probe"
    else:
        reason, message = "Healthy", f"{reachable}/{len(targets)} targets healthy"
    old = body.get("status") or {}
    stale = dict(sorted((last_known_good or {}).items()))
    if stale:
        degraded = (True, "LastKnownGood", f"{len(stale)} object(s) on their last-known-good version: ")
        degraded_message = degraded[2] + "; ".join(f"{ref}: {why}" for ref, why in stale.items())
    else:
        degraded, degraded_message = (False, "Current", ""), "every rendered object is its current version"
    degraded_condition = condition(
        "Degraded", degraded[0], degraded[1], degraded_message, generation, old.get("conditions")
    )
    return {
        "observedGeneration": generation,
        "targets": _keep_check_times([t.to_wire() for t in targets], old.get("targets") or []),
        "healthy": f"{reachable}/{len(targets)}",
        "lastError": last_error or "",
        # Every evaluator gets the same rules (bar files too large for one of them): count them once.
        "counts": ObjectCounts(
            rules=max(rules_per_evaluator.values(), default=0),
            receivers=(config_counts or {}).get("receivers", 0),
            routes=(config_counts or {}).get("routes", 0),
            inhibit_rules=(config_counts or {}).get("inhibitRules", 0),
            last_known_good=len(stale),
        ).to_wire(),
        "configHash": config_hash,
        "configHashShort": config_hash[:12] if config_hash else None,
        "lastReloadTime": reloaded.isoformat().replace("+00:00", "Z") if reloaded else None,
        "conditions": [
            *kstatus_conditions("AlertmanagerCluster", reason, message, generation, old.get("conditions")),
            degraded_condition,
        ],
    }


def target_urls(body: Mapping[str, Any]) -> dict[str, str]:
    """Target name (`alertmanager`, `gateway`, each evaluator's name) → the URL its spec gives."""
    spec = body.get("spec") or {}
    pairs: list[tuple[Any, Any]] = [("alertmanager", (spec.get("alertmanager") or {}).get("url"))]
    pairs += [(e.get("name"), e.get("url")) for e in spec.get("ruleEvaluators") or [] if isinstance(e, Mapping)]
    pairs.append(("gateway", (spec.get("gateway") or {}).get("url")))
    return {str(name): str(url) for name, url in pairs if name and url}


def unknown_targets_message(placement: Placement) -> str:
    names = ", ".join(placement.unknown_targets)
    return f"spec.targets names {names}, which is no AlertmanagerCluster (a typo, or a cluster not created yet)"


def _membership_conditions(
    kind: str,
    body: Mapping[str, Any],
    clusters: Mapping[str, str | None],
    schema_errors: list[str],
    placement: Placement | None = None,
    stale: Mapping[str, str] | None = None,
    refused: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    generation = (body.get("metadata") or {}).get("generation")
    problems = list(schema_errors) + [f"{c}: {p}" for c, p in sorted(clusters.items()) if p]
    unwritten = sorted(set(placement.selecting if placement else ()) - set(clusters))
    if problems:
        reason, message = "Invalid", "; ".join(problems)
    elif refused:  # rendered, but the robot refuses what it is sent (reported by the gateway, not retried)
        reason = "RobotRefused"
        message = "; ".join(
            f"{c}: the robot refuses this channel's configuration: {m}" for c, m in sorted(refused.items())
        )
    elif stale:
        reason = "LastKnownGood"
        message = "; ".join(f"{c}: {why}" for c, why in sorted(stale.items()))
    elif placement is not None and placement.unknown_targets:
        reason, message = "UnknownTarget", unknown_targets_message(placement)
    elif not clusters and not unwritten:
        reason = "NotSelected"
        message = "no AlertmanagerCluster selects this object: it is in no configuration"
    elif unwritten:
        reason = "Pending"
        message = f"waiting for AlertmanagerCluster {', '.join(unwritten)} to render it"
    else:
        reason, message = "Rendered", f"in the configuration of {len(clusters)} cluster(s)"
    old = (body.get("status") or {}).get("conditions")
    return kstatus_conditions(kind, reason, message, generation, old)


def channel_status(
    body: Mapping[str, Any],
    clusters: Mapping[str, str | None],
    schema_errors: list[str],
    delivery: str | None,
    placement: Placement | None = None,
    stale: Mapping[str, str] | None = None,
    refused: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """NotificationChannel status: delivery, the clusters including it, Ready (lastTest untouched).
    `stale` maps each cluster where its last-known-good receiver runs to why; `refused` each cluster
    whose gateway's robot refuses the channel's configuration to the robot's message."""
    return {
        "observedGeneration": (body.get("metadata") or {}).get("generation"),
        "delivery": delivery,
        "clusters": sorted(clusters),
        "conditions": _membership_conditions(
            "NotificationChannel", body, clusters, schema_errors, placement, stale, refused
        ),
    }


def policy_status(
    body: Mapping[str, Any],
    clusters: Mapping[str, str | None],
    schema_errors: list[str],
    windows: list[str],
    active: list[str],
    inhibit_rules: int,
    placement: Placement | None = None,
) -> dict[str, Any]:
    """SuppressionPolicy status: windows, which are active now, inhibit rules, Ready."""
    return {
        "observedGeneration": (body.get("metadata") or {}).get("generation"),
        "windowCount": len(windows),
        "activeWindows": active,
        "activeCount": len(active),
        "inhibitRuleCount": inhibit_rules,
        "conditions": _membership_conditions("SuppressionPolicy", body, clusters, schema_errors, placement),
    }
