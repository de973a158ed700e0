"""Operator settings: built once at start (flags over environment over defaults), then passed to
whatever needs them. Nothing reads the environment at import time."""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

_SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def own_namespace(env: Mapping[str, str]) -> str:
    """Where the operator runs: POD_NAMESPACE (downward API), the service account's, or `default`."""
    if namespace := env.get("POD_NAMESPACE"):
        return namespace
    try:
        with open(_SERVICE_ACCOUNT_NAMESPACE) as handle:
            return handle.read().strip() or "default"
    except OSError:
        return "default"


def own_identity(env: Mapping[str, str]) -> str:
    """This replica's name as a Lease holder: POD_NAME (downward API), else `<host name>_<pid>`."""
    return env.get("POD_NAME") or f"{socket.gethostname()}_{os.getpid()}"


@dataclass(frozen=True)
class Settings:
    """Everything the operator's behaviour depends on. Durations are in seconds."""

    namespaces: tuple[str, ...] = ()  # empty: all namespaces
    http_port: int = 8080  # /healthz and /api/v1/graph
    metrics_port: int = 8081  # /metrics
    debounce_seconds: float = 1.0  # a change with none before it for this long reconciles at once
    burst_quiet_seconds: float = 0.15  # a burst of changes reconciles once none came for this long
    debounce_max_seconds: float = 30.0  # longest a burst of changes can hold a reconcile back
    burst_prepare_seconds: float = 1.0  # while a burst lasts, the rule files it brought are checked this often
    # AlertRule statuses are written in batches: this long after the first change of a batch, and after
    # the reconciles it caused (waiting at most status_batch_max_seconds), so an object and its ConfigMap
    # make one write rather than two, and a burst of objects one write each.
    status_batch_seconds: float = 0.3
    status_batch_max_seconds: float = 30.0
    # A rule whose new file its sidecar has not reported on yet waits this long for the report before
    # its status says Pending (the report comes within a second or so: one write, Synced, not two).
    status_sync_hold_seconds: float = 5.0
    health_interval_seconds: float = 30.0  # target probes (and a periodic re-check of Secrets and windows)
    rules_resync_seconds: float = 600.0  # a probe re-renders the rules this often (repairs hand-edited shards)
    retry_base_seconds: float = 1.0  # first retry of a failed reconcile step; doubles per attempt
    retry_max_seconds: float = 60.0  # the longest wait between retries
    retry_jitter: float = 0.2  # +-20 % of each retry delay, so clusters failing together spread out
    probe_timeout_seconds: float = 5.0  # one health probe request
    target_timeout_seconds: float = 10.0  # one request to Alertmanager's API (silences, test-send)
    verify_timeout_seconds: float = 10.0  # operator-driven reload: how long to wait for the rules to load
    worker_threads: int = 32  # threads for blocking calls (they wait on the API server, not the CPU)
    kube_timeout_seconds: float = 30.0  # one Kubernetes API request of the reconcile steps
    api_connections: int = 4  # connections of the status writer's client (clients.asyncapi): writes in flight
    pending_warn_seconds: float = 120.0  # a rule shard waiting this long for its sidecar: status says which
    priming_max_seconds: float = 120.0  # after a start, member statuses wait at most this long for every
    # cluster's first reconcile (a cluster that cannot reconcile must not hold every status back)
    log_format: str = "json"
    operator_namespace: str = "default"  # where the service graph is published
    discovery: bool = True  # build the service graph (needs read access to workloads)
    # The network plugin enforces NetworkPolicies, so a path they forbid is not used: such graph edges
    # leave the selection (otherwise policies only confirm edges).
    network_policies_enforced: bool = False
    # Watch Secrets labelled alertagent.io/watch=true (list/watch on Secrets of the watched namespaces):
    # a change to one re-renders in seconds. Unlabelled ones are re-read every health interval.
    watch_secrets: bool = True
    # Admission webhook (optional): off unless a port is set.
    webhook_port: int | None = None
    webhook_host: str = "127.0.0.1"  # how the API server reaches the operator (a Service DNS name in-cluster)
    webhook_cert: str | None = None  # PEM files; the CA goes into the webhook's caBundle
    webhook_key: str | None = None
    webhook_ca: str | None = None
    # Leader election (client-go's, through a coordination.k8s.io/v1 Lease): only the holder writes.
    leader_elect: bool = False
    leader_election_id: str = "alertagent"  # the Lease's name
    leader_election_namespace: str | None = None  # the Lease's namespace (None: operator_namespace)
    leader_identity: str = ""  # the holder identity (from_environ: POD_NAME, else host name and pid)
    lease_duration_seconds: float = 15.0  # a standby takes over a Lease seen unchanged this long
    renew_deadline_seconds: float = 10.0  # a leader that could not renew this long exits
    retry_period_seconds: float = 2.0  # the leader renews, and a standby retries, this often

    def __post_init__(self) -> None:
        """Raises ValueError, naming the environment variable, for a duration that is negative or not
        a finite number (a negative or NaN quiet time would run every change of a burst on its own)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_seconds") and isinstance(value, float | int) and not 0 <= value < math.inf:
                raise ValueError(
                    f"ALERTAGENT_{f.name.upper()}={value!r}: must be a finite number of seconds, 0 or more"
                )
        if self.api_connections < 1:  # the status writer's writes in flight (`AsyncApi.each`)
            raise ValueError(f"ALERTAGENT_API_CONNECTIONS={self.api_connections!r}: must be 1 or more")
        # 0 would check a burst's files back to back, holding the event loop (see `WorkQueue.get`).
        if not self.burst_prepare_seconds > 0:
            raise ValueError(
                f"ALERTAGENT_BURST_PREPARE_SECONDS={self.burst_prepare_seconds!r}: must be more than 0 seconds"
            )

    @classmethod
    def from_environ(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, then `ALERTAGENT_<FIELD>` environment variables (e.g. ALERTAGENT_DEBOUNCE_SECONDS),
        then `overrides` (command-line flags; None means "not given"). Raises ValueError on a value
        of the wrong type."""
        env = os.environ if env is None else env
        values: dict[str, object] = {"operator_namespace": own_namespace(env), "leader_identity": own_identity(env)}
        for f in fields(cls):
            raw = env.get(f"ALERTAGENT_{f.name.upper()}")
            parse = _PARSERS.get(str(f.type))
            if raw is None or parse is None:
                continue
            try:
                values[f.name] = parse(raw)
            except ValueError as err:
                raise ValueError(f"ALERTAGENT_{f.name.upper()}={raw!r}: {err}") from err
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _boolean(raw: str) -> bool:
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise ValueError("expected true or false")


_PARSERS: dict[str, Callable[[str], object]] = {
    "int": int,
    "int | None": int,
    "float": float,
    "bool": _boolean,
    "str": str,
    "str | None": str,
}
