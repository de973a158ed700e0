"""`alertagent demo`: AlertAgent doing its job on a real local stack, with no cluster and no Docker.

It starts the control plane (etcd, kube-apiserver, kube-controller-manager), Alertmanager, a small
exporter of the example shop's metrics, Prometheus (scraping it, alerting to Alertmanager), vmalert,
local notification receivers that print what arrives, a local robot (DingTalk-, WeCom- or Feishu-like,
`devstack.robots`) per gateway channel that prints each message as the group would see it, the
AlertAgent gateway (its channels Secret mounted as the kubelet would, `devstack.mounts`; its incident
engine on the control plane's kubeconfig), the operator and one sidecar per target, all on free
loopback ports in one temporary folder; installs the CRDs and applies `examples/` with the local URLs
filled in (`local_overlay`, pure); then drives a scripted incident (a bad rollout of the shop's
database StatefulSet crash-loops its pod and the database goes down, and the api and frontend above it
fail because of it) and shows dependency suppression turn the three alerts into one notification, and
the incident engine turn them into one Incident (printed with `kubectl get incidents -A` and
`alertagent incidents show`) whose DingTalk message names the root and the impacted services and
carries the built-in analysis (the crash-looping pod, the rollout before the first alert). Ctrl-C (or
SIGTERM, or an error) stops every process and removes the folder.

There is no kubelet: the StatefulSet controller (kube-controller-manager) makes the database's pods and
replaces them on the rollout, and the demo writes their state through the status subresource as a
kubelet would (Running and Ready at start-up, CrashLoopBackOff after the rollout, with the kubelet's
Warning BackOff Event; `running_status`, `crash_loop_status`, `backoff_event`, pure).
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import copy
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, cast

import httpx
import yaml

from ..api.alertmanagercluster import AlertmanagerCluster
from ..api.crd import all_crd_files
from ..manifests import load_manifests
from ..plans.alertmanager import secret_name
from ..plans.gateway import channels_secret_name
from .agents import BIN, eventually, start_alertmanager_sidecar, start_gateway, start_operator, start_sidecar
from .controlplane import ControlPlane, binary, install_crds, start_control_plane
from .monitoring import AlertmanagerTarget, RuleTarget, start_alertmanager, start_prometheus, start_vmalert
from .mounts import SecretMount
from .processes import Process, free_port, serve_http, stop_http
from .receivers import Received, webhook_receiver
from .robots import Robot, RobotType

REPO_EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SHOP_NAMESPACE = "shop"
GATEWAY_TYPES = ("dingtalk", "wecom", "feishu")
# The three alerts of examples/discovery/alertrules.yaml: the database's, and its two dependants'.
ROOT_ALERT, DEPENDANT_ALERTS = "DatabaseDown", ("APIHighErrorRate", "FrontendSlow")
# The database's Service (graph node `<namespace>/<name>`): the root of the scripted outage's Incident.
ROOT_SERVICE = f"{SHOP_NAMESPACE}/database"
# Longest group_wait of the example routes (the root route's default, 30 s) and a margin: after it,
# every notification the incident causes has been sent (the incident's hold is 30 s too).
SETTLE_SECONDS = 35.0
GATEWAY_POD = "alertagent-gateway-demo"  # the gateway's pod name: the incidents Lease's holder
RECOVER_AFTER_SECONDS = 90.0
# The shop's database StatefulSet (examples/discovery/app.yaml), whose pods the demo plays the kubelet
# for, and the image of the bad rollout that starts the outage (its pod crash-loops, OOMKilled).
DATABASE_STATEFULSET = "database"
BAD_IMAGE = "postgres:17"
CRASH_RESTARTS = 3  # the crash-looping container's restarts when the demo writes its state
KUBELET_TIMEOUT = 30.0  # seconds to wait for the StatefulSet controller's pod (it takes under 1 s here)


# --- the overlay (pure) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalUrls:
    """Where the demo's stack listens: Alertmanager, each rule evaluator by type (`prometheus`,
    `vmalert`), the base URL of the local receivers, the gateway's base URL, and each gateway channel's
    local robot (`<namespace>/<name>` → the robot's webhook URL, with its token)."""

    alertmanager: str
    evaluators: Mapping[str, str]
    receiver: str
    gateway: str = ""
    robots: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RobotChannel:
    """A dingtalk, wecom or feishu channel of the examples: its key `<namespace>/<name>`, type, and the
    signing secret its Secret holds (None when it signs nothing)."""

    key: str
    type: str
    sign_secret: str | None


def _secret_value(objects: Sequence[Mapping[str, Any]], namespace: str, ref: Mapping[str, Any]) -> str | None:
    """The value of a Secret key among `objects` (`stringData`, else base64 `data`); None when absent."""
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") != "Secret" or (meta.get("namespace", "default"), meta.get("name")) != (
            namespace,
            ref.get("name"),
        ):
            continue
        if ref.get("key") in (obj.get("stringData") or {}):
            return str(obj["stringData"][ref["key"]])
        if ref.get("key") in (obj.get("data") or {}):
            return base64.b64decode(obj["data"][ref["key"]]).decode()
    return None


def robot_channels(objects: Sequence[Mapping[str, Any]]) -> list[RobotChannel]:
    """The gateway channels (dingtalk, wecom, feishu) of `objects`, sorted by key, each with its signing
    secret read from the Secret among `objects` that its `signSecret` names (DingTalk and Feishu; a
    missing Secret counts as none): the demo starts one local robot per channel, checking that secret."""
    out = []
    for obj in objects:
        spec = obj.get("spec") or {}
        if obj.get("kind") != "NotificationChannel" or spec.get("type") not in GATEWAY_TYPES:
            continue
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace", "default")
        ref = (spec.get(spec["type"]) or {}).get("signSecret")
        secret = _secret_value(objects, namespace, ref) if ref else None
        out.append(RobotChannel(f"{namespace}/{meta.get('name')}", str(spec["type"]), secret))
    return sorted(out, key=lambda c: c.key)


def receiver_path(channel_type: str, namespace: str, name: str) -> str:
    """The local receiver's path for one channel: `/<type>/<namespace>/<name>` (Slack's under `/slack`,
    which the receiver checks as Slack's incoming webhook)."""
    return f"/{channel_type}/{namespace}/{name}"


def local_overlay(objects: Sequence[Mapping[str, Any]], urls: LocalUrls) -> list[dict[str, Any]]:
    """The objects (as `load_manifests` returns them: namespace set) with the URLs of a real cluster
    replaced by the demo's, as a kustomize overlay would, the inputs untouched:

    - AlertmanagerCluster: `spec.alertmanager.url`, each `spec.ruleEvaluators[].url` by its type, and
      `spec.gateway.url` (when it has one and `urls.gateway` is set);
    - NotificationChannel of type webhook: `webhook.url` (or the Secret key `webhook.urlSecret` names),
      of type slack: the Secret key `slack.apiUrl` names, set to the local receiver's `receiver_path`;
      of type dingtalk, wecom or feishu: the Secret key its `webhookUrl` names, set to the channel's
      robot in `urls.robots` (signing secrets are kept: the local robot checks the example's own);
    - Namespace: its (defaulted) `metadata.namespace` removed, it has none.

    Other channel types (and gateway channels without a robot in `urls.robots`) are left as they are.
    Raises ValueError for an evaluator type the demo does not run."""
    out = [copy.deepcopy(dict(obj)) for obj in objects]
    secret_urls: dict[tuple[str, str, str], str] = {}
    for obj in out:
        meta = obj.setdefault("metadata", {})
        namespace, name = meta.get("namespace", "default"), meta.get("name", "")
        spec = obj.get("spec") or {}
        if obj.get("kind") == "Namespace":
            meta.pop("namespace", None)
        elif obj.get("kind") == "AlertmanagerCluster":
            spec.setdefault("alertmanager", {})["url"] = urls.alertmanager
            for evaluator in spec.get("ruleEvaluators") or []:
                if evaluator.get("type") not in urls.evaluators:
                    raise ValueError(
                        f"AlertmanagerCluster {namespace}/{name}: the demo runs no {evaluator.get('type')} "
                        f"(it runs {', '.join(sorted(urls.evaluators))})"
                    )
                evaluator["url"] = urls.evaluators[evaluator["type"]]
            if urls.gateway and spec.get("gateway"):
                spec["gateway"]["url"] = urls.gateway
        elif obj.get("kind") == "NotificationChannel":
            local = urls.receiver + receiver_path(str(spec.get("type")), namespace, name)
            if spec.get("type") == "webhook":
                hook = spec["webhook"]
                if hook.get("urlSecret"):
                    secret_urls[(namespace, hook["urlSecret"]["name"], hook["urlSecret"]["key"])] = local
                else:
                    hook["url"] = local
            elif spec.get("type") == "slack" and (spec.get("slack") or {}).get("apiUrl"):
                ref = spec["slack"]["apiUrl"]
                secret_urls[(namespace, ref["name"], ref["key"])] = local
            elif spec.get("type") in GATEWAY_TYPES and f"{namespace}/{name}" in urls.robots:
                ref = spec[spec["type"]]["webhookUrl"]
                secret_urls[(namespace, ref["name"], ref["key"])] = urls.robots[f"{namespace}/{name}"]
    for obj in out:
        if obj.get("kind") != "Secret":
            continue
        meta = obj["metadata"]
        for (namespace, name, key), url in secret_urls.items():
            if (meta.get("namespace", "default"), meta.get("name")) == (namespace, name):
                (obj.get("data") or {}).pop(key, None)
                obj.setdefault("stringData", {})[key] = url
    return out


# --- the shop's metrics ---------------------------------------------------------------------------


class ShopExporter:
    """The metrics the example rules read, for the shop's three Services, at `/metrics/<service>`:
    `http_requests_total{code}` for the api and frontend, a latency histogram
    `http_request_duration_seconds` for the frontend, and a gauge for the database. Prometheus adds `up`
    per scrape. `database_down` makes the database's scrape fail (503, so `up == 0`); `degraded` makes
    80 % of the api's requests fail and 60 % of the frontend's take 3 s, as when the database is gone."""

    services = ("frontend", "api", "database")

    def __init__(self) -> None:
        self.database_down = False
        self.degraded = False
        self._lock = threading.Lock()
        self._counts = {"api_ok": 0.0, "api_err": 0.0, "fe_fast": 0.0, "fe_slow": 0.0}
        self._last = time.monotonic()
        self._server: ThreadingHTTPServer | None = None

    def _advance(self) -> None:
        now = time.monotonic()
        elapsed, self._last = now - self._last, now
        rates = (
            {"api_ok": 4.0, "api_err": 16.0, "fe_fast": 4.0, "fe_slow": 6.0}
            if self.degraded
            else {"api_ok": 20.0, "api_err": 0.05, "fe_fast": 10.0, "fe_slow": 0.0}
        )
        for key, rate in rates.items():
            self._counts[key] += rate * elapsed

    def metrics(self, service: str) -> str | None:
        """The exposition text of one service; None while it is down (the scrape fails)."""
        with self._lock:
            self._advance()
            c = dict(self._counts)
        if service == "database":
            return None if self.database_down else "# TYPE database_connections gauge\ndatabase_connections 12\n"
        if service == "api":
            return (
                "# TYPE http_requests_total counter\n"
                f'http_requests_total{{code="200"}} {int(c["api_ok"])}\n'
                f'http_requests_total{{code="500"}} {int(c["api_err"])}\n'
            )
        fast, slow = int(c["fe_fast"]), int(c["fe_slow"])
        buckets = [("0.05", 0), ("0.1", fast), ("0.5", fast), ("1", fast), ("2.5", fast), ("5", fast + slow)]
        lines = ["# TYPE http_request_duration_seconds histogram"]
        lines += [f'http_request_duration_seconds_bucket{{le="{le}"}} {n}' for le, n in buckets]
        lines += [
            f'http_request_duration_seconds_bucket{{le="+Inf"}} {fast + slow}',
            f"http_request_duration_seconds_sum {fast * 0.08 + slow * 3.0}",
            f"http_request_duration_seconds_count {fast + slow}",
            "# TYPE http_requests_total counter",
            f'http_requests_total{{code="200"}} {fast + slow}',
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> str:
        """Serve on a free loopback port; returns `host:port`."""
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service = self.path.removeprefix("/metrics/")
                body = exporter.metrics(service) if service in exporter.services else None
                self.send_response(200 if body is not None else 503)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write((body or "unavailable\n").encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = serve_http(Handler)
        return f"127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            stop_http(self._server)

    def scrape_configs(self, address: str) -> list[dict[str, object]]:
        """One Prometheus job per service, labelled with the Service it measures."""
        return [
            {
                "job_name": service,
                "metrics_path": f"/metrics/{service}",
                "static_configs": [{"targets": [address], "labels": {"namespace": SHOP_NAMESPACE, "service": service}}],
            }
            for service in self.services
        ]


# --- the kubelet's part (pure): there is none here, the demo writes what it would -----------------


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _container_names(pod: Mapping[str, Any]) -> list[str]:
    return [str(c["name"]) for c in (pod.get("spec") or {}).get("containers") or []]


def _image_of(pod: Mapping[str, Any], container: str) -> str:
    found = [c for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name") == container]
    return str(found[0].get("image", "")) if found else ""


def _running(pod: Mapping[str, Any], container: str, at: datetime) -> dict[str, Any]:
    return {
        "name": container,
        "image": _image_of(pod, container),
        "imageID": "",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": _timestamp(at)}},
    }


def running_status(pod: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The status patch (a JSON merge patch of `pods/status`) a kubelet writes once every container of
    `pod` (a Pod as the API returns it) runs and is ready: phase Running, conditions Initialized,
    ContainersReady and Ready True, one running container status per container. `now`: aware."""
    at = _timestamp(now)
    return {
        "status": {
            "phase": "Running",
            "startTime": at,
            "conditions": [
                {"type": kind, "status": "True", "lastTransitionTime": at}
                for kind in ("Initialized", "ContainersReady", "Ready")
            ],
            "containerStatuses": [_running(pod, name, now) for name in _container_names(pod)],
        }
    }


def crash_loop_status(pod: Mapping[str, Any], container: str, now: datetime, restarts: int) -> dict[str, Any]:
    """The status patch a kubelet writes while `container` of `pod` crash-loops after being OOMKilled
    (the kubelet's wording): phase Running, Ready and ContainersReady False (ContainersNotReady), the
    container waiting in CrashLoopBackOff with its back-off (10 s doubling per restart, at most 5 min),
    `restarts` restarts, last terminated OOMKilled (exit code 137); other containers running."""
    at = _timestamp(now)
    meta = pod.get("metadata") or {}
    where = f"{meta.get('name')}_{meta.get('namespace')}({meta.get('uid')})"
    backoff = duration_text(min(300, 10 * 2 ** max(0, restarts - 1)))
    crashing = {
        "name": container,
        "image": _image_of(pod, container),
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": restarts,
        "state": {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {backoff} restarting failed container={container} pod={where}",
            }
        },
        "lastState": {
            "terminated": {
                "reason": "OOMKilled",
                "exitCode": 137,
                "startedAt": _timestamp(now - timedelta(seconds=1)),
                "finishedAt": at,
            }
        },
    }
    unready = f"containers with unready status: [{container}]"
    return {
        "status": {
            "phase": "Running",
            "startTime": at,
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": at},
                *(
                    {
                        "type": kind,
                        "status": "False",
                        "reason": "ContainersNotReady",
                        "message": unready,
                        "lastTransitionTime": at,
                    }
                    for kind in ("ContainersReady", "Ready")
                ),
            ],
            "containerStatuses": [
                crashing if name == container else _running(pod, name, now) for name in _container_names(pod)
            ],
        }
    }


def backoff_event(pod: Mapping[str, Any], container: str, now: datetime, count: int) -> dict[str, Any]:
    """The Warning `BackOff` Event a kubelet records about a crash-looping container (core/v1, named
    `<pod>.<hex nanoseconds>` as client-go's recorder names them; `now`: aware)."""
    meta = pod.get("metadata") or {}
    name, namespace, uid = meta.get("name"), meta.get("namespace"), meta.get("uid")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{int(now.timestamp() * 1e9):x}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "fieldPath": f"spec.containers{{{container}}}",
        },
        "reason": "BackOff",
        "type": "Warning",
        "message": f"Back-off restarting failed container {container} in pod {name}_{namespace}({uid})",
        "count": count,
        "firstTimestamp": _timestamp(now),
        "lastTimestamp": _timestamp(now),
        "source": {"component": "kubelet"},
    }


def duration_text(seconds: int) -> str:
    """Go's time.Duration text for whole seconds, as the kubelet prints back-offs: `40s`, `5m0s`."""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


# --- output ---------------------------------------------------------------------------------------


@dataclass
class Console:
    """Timestamped lines on stdout (the receivers print from their own threads)."""

    start: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    phases: dict[str, float] = field(default_factory=dict)

    def say(self, text: str = "") -> None:
        with self.lock:
            for line in text.splitlines() or [""]:
                print(f"[{time.monotonic() - self.start:6.1f}s] {line}" if line else "", flush=True)

    def block(self, text: str) -> None:
        """Text as it is (tables, graphs), indented."""
        with self.lock:
            print("\n".join(f"    {line}" for line in text.rstrip().splitlines()), flush=True)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        yield
        self.phases[name] = round(time.monotonic() - began, 1)
        self.say(f"{name}: {self.phases[name]:.1f}s")


def describe_notification(path: str, payload: Mapping[str, Any]) -> str:
    """One line per notification: receiver, status, alert names and labels."""
    parts = path.strip("/").split("/")
    channel = "/".join(parts[1:3]) if len(parts) >= 3 else path
    if parts[0] == "slack":
        attachments = payload.get("attachments") or [{}]
        status = {"good": "resolved", "danger": "firing"}.get(str(attachments[0].get("color")), "?")
        title = attachments[0].get("title") or payload.get("text", "")
        return f"notification -> {channel} (slack): {status}: {title}"
    alerts = []
    for alert in payload.get("alerts") or []:
        labels = dict(alert.get("labels") or {})
        name = labels.pop("alertname", "?")
        rest = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        alerts.append(f"{name} {{{rest}}}")
    return f"notification -> {channel} (webhook): {payload.get('status')}: {'; '.join(alerts)}"


def _markdown_as_shown(text: str) -> list[str]:
    """Markdown as a DingTalk or WeCom client shows it, in plain text: headings and bold as their text,
    list items with bullets, links as `text <url>`, font tags and `<@userid>` mentions as their text.
    No-break spaces after a list mark are kept: the incident tree indents its levels with them."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = re.sub(r"^#{1,6}\s*", "", raw)
        line = re.sub(r"^([ \t]*)[-*][ \t]+", r"\1• ", line)
        line = re.sub(r"\*\*(.+?)\*\*", r"\1", line)
        line = re.sub(r"\[([^\]]*)\]\(([^)]*)\)", r"\1 <\2>", line)
        line = re.sub(r"<font[^>]*>(.*?)</font>", r"\1", line)
        line = re.sub(r"<@([^>]+)>", r"@\1", line)
        if line.strip() or (lines and lines[-1]):  # one blank line between paragraphs
            lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    return lines


def robot_view(robot_type: str, body: Mapping[str, Any]) -> str:
    """A robot message (the JSON body the gateway posted) as the group sees it, framed: the title the
    chat list and the notification show, the message, and who it @-mentions (DingTalk `at`, WeCom
    `mentioned_*`). Feishu cards and other message types are shown as their JSON."""
    title, lines, mentions = "", [], []
    kind = body.get("msgtype")
    if robot_type == "dingtalk" and kind == "markdown":
        title = str(body["markdown"].get("title", ""))
        lines = _markdown_as_shown(str(body["markdown"].get("text", "")))
    elif robot_type in ("dingtalk", "wecom") and kind == "text":
        lines = str(body["text"].get("content", "")).splitlines()
    elif robot_type == "wecom" and kind in ("markdown", "markdown_v2"):
        lines = _markdown_as_shown(str(body[kind].get("content", "")))
    else:
        lines = json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True).splitlines()
    at = body.get("at") or {}
    text = body.get("text") or {}
    mentions += [f"@{m}" for m in (at.get("atMobiles") or []) + (at.get("atUserIds") or [])]
    mentions += [f"@{m}" for m in (text.get("mentioned_mobile_list") or []) + (text.get("mentioned_list") or [])]
    if at.get("isAtAll"):
        mentions.append("@all")
    rule = "─" * 72
    framed = [f"┌{rule}"]
    if title:
        framed += [f"│ {title}", f"├{rule}"]
    framed += [f"│ {line}".rstrip() for line in lines]
    framed.append(f"└{rule}")
    if mentions:
        framed.append(f"  mentions (notified): {', '.join(dict.fromkeys(mentions))}")
    return "\n".join(framed)


@dataclass(eq=False)
class ShowingRobot(Robot):
    """A robot stand-in (it checks signatures and limits as the real robot does) that also hands each
    message it accepted to `on_message(robot, body)` and keeps the signature query of each
    (`timestamp`, `sign`: DingTalk's are URL query parameters), for the demo's result."""

    channel: str = ""
    on_message: Callable[[ShowingRobot, dict[str, Any]], None] | None = None
    signatures: list[dict[str, str]] = field(default_factory=list)

    def handle(self, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        status, answer = super().handle(path, raw)
        if status == 200 and answer.get("errcode", answer.get("code")) == 0:
            query = dict(part.split("=", 1) for part in path.partition("?")[2].split("&") if "=" in part)
            self.signatures.append({k: v for k, v in query.items() if k in ("timestamp", "sign")})
            if self.on_message is not None:
                self.on_message(self, json.loads(raw))
        return status, answer


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Stack:
    """What runs: the control plane, the targets, the shop's exporter and the operator's HTTP port."""

    plane: ControlPlane
    alertmanager: AlertmanagerTarget
    prometheus: RuleTarget
    vmalert: RuleTarget
    exporter: ShopExporter
    exporter_address: str
    operator_namespace: str
    operator_http_port: int
    workdir: Path
    processes: list[Process] = field(default_factory=list)
    gateway_url: str | None = None
    robots: Mapping[str, ShowingRobot] = field(default_factory=dict)
    database_pods: list[str] = field(default_factory=list)  # the pods the demo plays the kubelet for

    def ports(self) -> list[int]:
        urls = (self.alertmanager.url, self.prometheus.url, self.vmalert.url, self.plane.url, self.gateway_url)
        return sorted({int(u.rsplit(":", 1)[1]) for u in urls if u} | {self.operator_http_port})

    def pids(self) -> list[int]:
        targets = (self.alertmanager.process, self.prometheus.process, self.vmalert.process)
        return sorted(p.popen.pid for p in (*self.plane.processes, *targets, *self.processes))


def _ready_conditions(plane: ControlPlane) -> dict[str, bool]:
    """`kind namespace/name` → Ready is True, for every AlertAgent object."""
    items = json.loads(plane.kubectl("get", "alertagent", "-A", "-o", "json").stdout)["items"]
    ready = {}
    for item in items:
        conditions = (item.get("status") or {}).get("conditions") or []
        key = f"{item['kind']} {item['metadata']['namespace']}/{item['metadata']['name']}"
        ready[key] = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return ready


def _am_alerts(am_url: str) -> dict[str, dict[str, Any]]:
    """Alertmanager's view, by alert name: {state: `suppressed` when every alert of that name is,
    else `active`; inhibitedBy: the names of the alerts inhibiting them}."""
    alerts = httpx.get(f"{am_url}/api/v2/alerts", timeout=5).json()
    by_fingerprint = {a["fingerprint"]: a["labels"].get("alertname", "?") for a in alerts}
    out: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        seen = out.setdefault(alert["labels"].get("alertname", "?"), {"state": "suppressed", "inhibitedBy": []})
        if alert["status"]["state"] != "suppressed":
            seen["state"] = "active"
        inhibitors = {by_fingerprint.get(f, f) for f in alert["status"].get("inhibitedBy") or []}
        seen["inhibitedBy"] = sorted(inhibitors | set(seen["inhibitedBy"]))
    return out


def _notified(received: Received, robots: Mapping[str, ShowingRobot]) -> dict[str, list[str]]:
    """Receiver path → the alert names (webhook) or titles (Slack) of each firing notification; for a
    gateway channel, `/<type>/<namespace>/<name>` → the incident's alert names each robot message
    names."""
    with received.lock:
        posts = {path: list(items) for path, items in received.posts.items()}
    out: dict[str, list[str]] = {}
    for key, robot in sorted(robots.items()):
        for text in robot.texts():
            named = [name for name in (ROOT_ALERT, *DEPENDANT_ALERTS) if name in text]
            out.setdefault(receiver_path(robot.type, *key.split("/", 1)), []).extend(named)
    for path, items in sorted(posts.items()):
        for payload in items:
            if path.startswith("/slack"):
                att = (payload.get("attachments") or [{}])[0]
                if att.get("color") != "good":
                    out.setdefault(path, []).append(str(att.get("title")))
            elif payload.get("status") == "firing":
                out.setdefault(path, []).extend(a["labels"]["alertname"] for a in payload["alerts"])
    return out


def _robot_result(robots: Mapping[str, ShowingRobot]) -> dict[str, Any]:
    """Per gateway channel: the messages its robot accepted (JSON bodies), their signature query
    parameters, and what it refused (by the robot's error code)."""
    out = {}
    for key, robot in sorted(robots.items()):
        with robot._lock:
            messages = [a.body for a in robot.arrivals]
            refused = {str(code): n for code, n in sorted(robot.refused.items())}
        out[key] = {"type": robot.type, "messages": messages, "signatures": list(robot.signatures), "refused": refused}
    return out


def _incidents(plane: ControlPlane) -> list[dict[str, Any]]:
    """Every Incident object: `{namespace, name, status}`, sorted by namespace and name."""
    items = json.loads(plane.kubectl("get", "incidents", "-A", "-o", "json").stdout)["items"]
    found = [
        {"namespace": i["metadata"]["namespace"], "name": i["metadata"]["name"], "status": i.get("status") or {}}
        for i in items
    ]
    return sorted(found, key=lambda i: (i["namespace"], i["name"]))


def _root_incident(plane: ControlPlane, notified: bool) -> dict[str, Any] | None:
    """The scripted outage's Incident (root `ROOT_SERVICE`, firing, every shop service in it) once it
    is written; with `notified`, once its status also counts the notification sent."""
    for incident in _incidents(plane):
        status = incident["status"]
        root = status.get("root") or {}
        if (
            f"{root.get('namespace')}/{root.get('name')}" == ROOT_SERVICE
            and status.get("state") == "Firing"
            and status.get("services") == 1 + len(DEPENDANT_ALERTS)
            and (not notified or (status.get("notifications") or {}).get("sent"))
        ):
            return incident
    return None


def _alertagent(plane: ControlPlane, *args: str) -> str:
    """`alertagent ARGS` against the control plane, as a user runs it; its output (or its errors)."""
    done = subprocess.run(
        [str(BIN / "alertagent"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(plane.kubeconfig)},
        timeout=60,
        check=False,
    )
    return done.stdout or done.stderr


# --- the database's pods: no kubelet here, the demo writes their state as a kubelet would ---------


def _json(plane: ControlPlane, *args: str) -> Any:
    return json.loads(plane.kubectl(*args, "-o", "json").stdout)


def _statefulset_pods(plane: ControlPlane, namespace: str, name: str) -> list[dict[str, Any]]:
    """The pods the StatefulSet `namespace/name` controls (by owner reference), by ordinal."""
    items = _json(plane, "-n", namespace, "get", "pods")["items"]
    mine = [
        p
        for p in items
        if any(
            (o.get("kind"), o.get("name"), o.get("controller")) == ("StatefulSet", name, True)
            for o in p["metadata"].get("ownerReferences") or []
        )
    ]
    return sorted(mine, key=lambda p: int(p["metadata"]["name"].rsplit("-", 1)[1]))


def _patch_status(plane: ControlPlane, pod: Mapping[str, Any], patch: Mapping[str, Any]) -> None:
    meta = pod["metadata"]
    plane.kubectl(
        "-n", meta["namespace"], "patch", "pod", meta["name"], "--subresource=status", "--type=merge",
        "-p", json.dumps(patch),
    )  # fmt: skip


def _database_running(console: Console, plane: ControlPlane, docs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Act as the kubelet for the shop's database StatefulSet (when `docs`, the applied examples, have
    it): mark each pod its controller creates Running and Ready (with the default OrderedReady policy
    it creates `database-1` only once `database-0` is ready, and rolls nothing out while a pod is not).
    The pods' names; none (and a warning) when the controller made no pod within KUBELET_TIMEOUT."""
    namespace, name = SHOP_NAMESPACE, DATABASE_STATEFULSET
    key = ("StatefulSet", namespace, name)
    if not any((d.get("kind"), d["metadata"].get("namespace"), d["metadata"].get("name")) == key for d in docs):
        return []
    names = []
    with console.phase("the database's pod Running and Ready"):
        try:
            replicas = int(_json(plane, "-n", namespace, "get", "statefulset", name)["spec"].get("replicas", 1))
            for ordinal in range(replicas):
                pod = eventually(
                    functools.partial(lambda n: _json(plane, "-n", namespace, "get", "pod", n), f"{name}-{ordinal}"),
                    KUBELET_TIMEOUT,
                    interval=0.2,
                    what=f"pod {name}-{ordinal} created by the StatefulSet controller",
                )
                _patch_status(plane, pod, running_status(pod, datetime.now(UTC)))
                names.append(pod["metadata"]["name"])
        except (AssertionError, RuntimeError) as err:
            console.say(f"warning: the database's pods could not be marked Running ({err})")
            return []
        console.say(
            "no kubelet here: the demo writes the pod's state as a kubelet would: "
            f"{', '.join(names)} (StatefulSet {namespace}/{name}) Running and Ready"
        )
    return names


def _bad_rollout(console: Console, plane: ControlPlane) -> dict[str, str]:
    """The outage's cause: roll the database StatefulSet out to BAD_IMAGE (`kubectl set image`); its
    controller deletes the highest-ordinal pod (it has no node, so the API server deletes it at once)
    and creates it again at the new revision; the demo then writes that pod's state as a kubelet would
    for a container OOMKilled at start-up (CrashLoopBackOff) and records the kubelet's Warning BackOff
    Event. Returns `{statefulset, image, previous, revision, pod}` (revisions: ControllerRevision
    names). Raises AssertionError when the controller made no new pod within KUBELET_TIMEOUT."""
    namespace, name = SHOP_NAMESPACE, DATABASE_STATEFULSET
    sts = _json(plane, "-n", namespace, "get", "statefulset", name)
    previous = str(sts["status"].get("updateRevision") or sts["status"].get("currentRevision") or "")
    container = str(sts["spec"]["template"]["spec"]["containers"][0]["name"])
    old = {p["metadata"]["uid"] for p in _statefulset_pods(plane, namespace, name)}
    console.say(
        f"incident: a bad rollout of the shop's database: kubectl -n {namespace} set image statefulset/{name} "
        f"{container}={BAD_IMAGE}"
    )
    plane.kubectl("-n", namespace, "set", "image", f"statefulset/{name}", f"{container}={BAD_IMAGE}")

    def replaced() -> tuple[str, dict[str, Any]] | None:
        revision = str(_json(plane, "-n", namespace, "get", "statefulset", name)["status"].get("updateRevision"))
        new = [
            p
            for p in _statefulset_pods(plane, namespace, name)
            if p["metadata"]["uid"] not in old and p["metadata"]["labels"].get("controller-revision-hash") == revision
        ]
        return (revision, new[-1]) if revision != previous and new else None

    revision, pod = eventually(replaced, KUBELET_TIMEOUT, interval=0.2, what=f"the new pod of StatefulSet {name}")
    pod_name = pod["metadata"]["name"]
    console.say(
        f"the StatefulSet controller replaced {pod_name}: deleted (it has no node, so at once) and created again "
        f"at revision {revision} (from {previous})"
    )
    now = datetime.now(UTC)
    _patch_status(plane, pod, crash_loop_status(pod, container, now, CRASH_RESTARTS))
    plane.kubectl("create", "-f", "-", input=json.dumps(backoff_event(pod, container, now, CRASH_RESTARTS)))
    console.say(
        f"no kubelet here: the demo writes the pod's state as a kubelet would: {pod_name} crash-loops "
        f"(CrashLoopBackOff, {CRASH_RESTARTS} restarts, last OOMKilled), with the kubelet's Warning BackOff Event"
    )
    selector = ",".join(f"{k}={v}" for k, v in sorted(sts["spec"]["selector"]["matchLabels"].items()))
    console.say(f"kubectl -n {namespace} get pods -l {selector}")
    console.block(plane.kubectl("-n", namespace, "get", "pods", "-l", selector).stdout)
    return {
        "statefulset": f"{namespace}/{name}",
        "image": BAD_IMAGE,
        "previous": previous,
        "revision": revision,
        "pod": pod_name,
    }


def _incident(console: Console, stack: Stack, received: Received) -> dict[str, Any]:
    exporter, am_url, robots = stack.exporter, stack.alertmanager.url, stack.robots
    began = time.monotonic()
    rollout: dict[str, str] = {}
    if stack.database_pods:  # the cause the built-in analysis is to find: a rollout whose pod crash-loops
        try:
            rollout = _bad_rollout(console, stack.plane)
        except (AssertionError, RuntimeError) as err:
            console.say(f"warning: the bad rollout could not be simulated ({err}); the outage goes on without it")
    console.say("incident: the shop's database goes down (its scrape fails, so up{job='database'} == 0)")
    exporter.database_down = True
    eventually(lambda: ROOT_ALERT in _am_alerts(am_url), 90, what=f"{ROOT_ALERT} in Alertmanager")
    root_at = time.monotonic()
    console.say(f"{ROOT_ALERT} fires in Alertmanager; now the api and frontend fail because of it")
    exporter.degraded = True

    def dependants_inhibited() -> bool:
        alerts = _am_alerts(am_url)
        return all(alerts.get(name, {}).get("state") == "suppressed" for name in DEPENDANT_ALERTS)

    eventually(dependants_inhibited, 120, what=f"{' and '.join(DEPENDANT_ALERTS)} inhibited")
    console.say(f"{' and '.join(DEPENDANT_ALERTS)} fire too, and are inhibited: dependency suppression")
    if stack.gateway_url:
        console.say("the gateway's incident engine groups them into one Incident, and holds the DingTalk message")
        console.say("for the cascade to gather (spec.incidents.hold: 30s after the first alert)")
    time.sleep(max(10.0, SETTLE_SECONDS - (time.monotonic() - root_at)))  # every route's group_wait passed
    recorded = None
    if stack.gateway_url:
        try:  # the Incident's status counts the notification with its next write (at most one per 10 s)
            recorded = eventually(lambda: _root_incident(stack.plane, notified=bool(robots)), 60, what="the Incident")
        except AssertionError as err:
            console.say(f"warning: {err}")
    alerts, notified = _am_alerts(am_url), _notified(received, robots)
    console.say(f"incident observed in {time.monotonic() - began:.0f}s:")
    for name in (ROOT_ALERT, *DEPENDANT_ALERTS):
        to = [path for path, names in notified.items() if name in names]
        fate = f"notified -> {', '.join(to)}" if to else f"inhibited by {', '.join(alerts[name]['inhibitedBy'])}"
        console.block(f"{name:<18} {alerts[name]['state']:<11} {fate}")
    n_notified = sum(1 for name in (ROOT_ALERT, *DEPENDANT_ALERTS) if any(name in v for v in notified.values()))
    console.say(f"3 alerts firing, {n_notified} notified, {3 - n_notified} inhibited")
    if recorded is not None:
        status = recorded["status"]
        impacted = ", ".join(f"{i['namespace']}/{i['name']}" for i in status.get("impacted") or [])
        sent = (status.get("notifications") or {}).get("sent", 0)
        console.say(
            f"one Incident: {recorded['namespace']}/{recorded['name']}, root {ROOT_SERVICE}, impacted {impacted}; "
            f"{sent} incident notification sent"
        )
        console.say("kubectl get incidents -A")
        console.block(stack.plane.kubectl("get", "incidents", "-A").stdout)
        console.say(f"alertagent incidents show {recorded['name']} -n {recorded['namespace']}")
        console.block(_alertagent(stack.plane, "incidents", "show", recorded["name"], "-n", recorded["namespace"]))
    return {
        "alerts": alerts,
        "notified": notified,
        "robots": _robot_result(robots),
        "incidents": _incidents(stack.plane) if stack.gateway_url else [],
        "rollout": rollout,
        "seconds": round(time.monotonic() - began, 1),
    }


def _roll_back(console: Console, plane: ControlPlane, rollout: Mapping[str, str]) -> None:
    """The on-call follows the analysis: `kubectl rollout undo` of the bad rollout, then deletes the
    crash-looping pod, as a StatefulSet's forced rollback needs (with the default OrderedReady policy
    the controller waits for the broken pod to become Ready before it reverts it: the Kubernetes
    StatefulSet documentation, "Forced rollback"); the controller creates it again at the previous
    revision, and the demo, as its kubelet, writes it Running and Ready. A failure is a warning."""
    namespace, name = rollout["statefulset"].split("/", 1)
    pod_name = rollout["pod"]
    console.say(f"the on-call follows the analysis: kubectl -n {namespace} rollout undo statefulset/{name}")
    try:
        old = _json(plane, "-n", namespace, "get", "pod", pod_name)["metadata"]["uid"]
        plane.kubectl("-n", namespace, "rollout", "undo", f"statefulset/{name}")
        console.say(
            f"and deletes {pod_name} (kubectl -n {namespace} delete pod {pod_name}): a StatefulSet waits for its "
            "broken pod to become Ready before it reverts it (Kubernetes' forced rollback)"
        )
        plane.kubectl("-n", namespace, "delete", "pod", pod_name, "--wait=false")

        def restored() -> dict[str, Any] | None:
            pod: dict[str, Any] = _json(plane, "-n", namespace, "get", "pod", pod_name)
            labels = pod["metadata"].get("labels") or {}
            fresh = pod["metadata"]["uid"] != old and labels.get("controller-revision-hash") == rollout["previous"]
            return pod if fresh else None

        pod = eventually(restored, KUBELET_TIMEOUT, interval=0.2, what=f"{pod_name} at revision {rollout['previous']}")
        _patch_status(plane, pod, running_status(pod, datetime.now(UTC)))
    except (AssertionError, RuntimeError) as err:
        console.say(f"warning: the rollback could not be simulated ({err})")
        return
    console.say(
        f"the StatefulSet controller created {pod_name} again at revision {rollout['previous']}; no kubelet here: "
        "the demo writes it Running and Ready as a kubelet would"
    )


def _recover(console: Console, stack: Stack, rollout: Mapping[str, str]) -> None:
    """The database comes back (after `_roll_back` of the bad `rollout`, when there was one).
    Alertmanager's inhibition ends with its source alert, so dependants still firing when the
    database's alert resolves would page after all: the demo lets the api and frontend heal first
    (their error rate and latency windows drain), then the database's check. With a gateway, the
    Incident then resolves (and its channels get one message saying so)."""
    exporter, am_url = stack.exporter, stack.alertmanager.url
    if rollout:
        _roll_back(console, stack.plane, rollout)
    console.say("the database is back: the api and frontend heal first (their alerts stay inhibited)")
    exporter.degraded = False

    def dependants_resolved() -> bool:
        alerts = _am_alerts(am_url)
        return not any(name in alerts for name in DEPENDANT_ALERTS)

    eventually(dependants_resolved, 600, interval=2, what=f"{' and '.join(DEPENDANT_ALERTS)} resolved")
    exporter.database_down = False
    console.say(
        f"{' and '.join(DEPENDANT_ALERTS)} resolved; now {ROOT_ALERT} resolves (its resolved notification follows)"
    )
    if not stack.gateway_url:
        return

    def resolved() -> bool:
        found = _incidents(stack.plane)
        return bool(found) and all(i["status"].get("state") == "Resolved" for i in found)

    try:
        eventually(resolved, 180, interval=2, what="the Incident resolved")
    except AssertionError as err:
        console.say(f"warning: {err}")
        return
    console.say("the Incident resolved (kubectl get incidents -A); its DingTalk group gets one message saying so")
    console.block(stack.plane.kubectl("get", "incidents", "-A").stdout)


def _overview(console: Console, stack: Stack) -> None:
    plane = stack.plane
    console.say("kubectl get alertagent -A")
    console.block(plane.kubectl("get", "alertagent", "-A").stdout)
    graph = _alertagent(plane, "graph", "--live", "-n", stack.operator_namespace, "--format", "mermaid")
    console.say("the service graph discovery built (alertagent graph --live --format mermaid)")
    console.block(graph)
    kubectl_dir = Path(binary("kubectl")).parent
    api = f"http://127.0.0.1:{stack.operator_http_port}/api/v1/graph"
    gateway = [f"gateway       {stack.gateway_url}/api/v1/channels   (queued, delivered, last error)"]
    gateway += [
        f"robot         http://127.0.0.1:{robot.port}   (a local {robot.type} robot for {key}: prints what arrives)"
        for key, robot in sorted(stack.robots.items())
    ]
    test_robot = next(iter(sorted(stack.robots)), None)
    console.say("everything is up:")
    console.block(
        f"Prometheus    {stack.prometheus.url}   (scrapes the shop's exporter at {stack.exporter_address})\n"
        f"Alertmanager  {stack.alertmanager.url}\n"
        f"vmalert       {stack.vmalert.url}/vmalert/groups\n"
        f"graph API     {api}\n"
        + "".join(f"{line}\n" for line in (gateway if stack.gateway_url else []))
        + f"logs          {stack.workdir / 'logs'}\n"
        "\n"
        "In another terminal:\n"
        f"  export KUBECONFIG={plane.kubeconfig}\n"
        f"  export PATH={kubectl_dir}:{BIN}:$PATH\n"
        "  kubectl get alertagent -A\n"
        "  kubectl -n shop edit alertrule shop            # edit a rule: watch Revision and Synced change\n"
        "  kubectl -n shop annotate nc oncall alertagent.io/test-send=$(date +%s) --overwrite\n"
        "                                                  # test-send a channel: it arrives here\n"
        + (
            f"  kubectl -n {test_robot.split('/')[0]} annotate nc {test_robot.split('/')[1]} "
            "alertagent.io/test-send=$(date +%s) --overwrite\n"
            "                                                  # test-send through the gateway: the robot's\n"
            "                                                  # answer goes to status.lastTest\n"
            if test_robot
            else ""
        )
        + (
            "  kubectl get incidents -A                        # the outage as one Incident, once it starts\n"
            "  alertagent incidents show NAME -n shop          # its impacted services as a tree, its timeline,\n"
            "                                                  # the built-in analysis\n"
            if stack.gateway_url
            else ""
        )
        + (
            "  kubectl -n shop get pods -l app=database\n"
            "                                                  # the database's pods (their state written by\n"
            "                                                  # the demo, as a kubelet would)\n"
            if stack.database_pods
            else ""
        )
        + f"  curl '{api}?format=mermaid'   # the graph API\n"
        "  alertagent graph --live --format dot"
    )


def _bring_up(
    console: Console,
    cleanup: ExitStack,
    workdir: Path,
    objects: list[dict[str, Any]],
    receiver: str,
    robots: Mapping[str, ShowingRobot],
) -> Stack:
    """Start everything, apply the examples and wait until they are Ready; every process started is
    registered on `cleanup` at once, so a failure halfway stops what already runs. `robots`: the local
    robot of each gateway channel (`<namespace>/<name>`), already running."""
    logs = workdir / "logs"
    # Stopped in two waves, each in parallel (a process may take seconds to stop): first the operator
    # and the sidecars (LIFO), then the targets and the control plane they were talking to.
    infrastructure: list[Callable[[], None]] = []
    agents: list[Process] = []
    cleanup.callback(_in_parallel, infrastructure)
    cleanup.callback(lambda: _in_parallel([p.stop for p in agents]))
    with console.phase("control plane (etcd, kube-apiserver, kube-controller-manager)"):
        plane = start_control_plane(workdir / "controlplane")
        infrastructure.append(plane.stop)
    with console.phase("CRDs installed"):
        crds = workdir / "crds"
        crds.mkdir()
        for name, text in all_crd_files().items():
            (crds / name).write_text(text)
        install_crds(plane, crds)
    with console.phase("Alertmanager, exporter, Prometheus, vmalert"):
        alertmanager = start_alertmanager(workdir)
        infrastructure.append(alertmanager.stop)
        exporter = ShopExporter()
        exporter_address = exporter.start()
        infrastructure.append(exporter.stop)
        prometheus = start_prometheus(workdir, alertmanager.url, exporter.scrape_configs(exporter_address))
        infrastructure.append(prometheus.stop)
        # vmalert evaluates the same rules as Prometheus: without its `alertgroup` label, its alerts are
        # the same alerts to Alertmanager (one fingerprint), not copies notified twice.
        vmalert = start_vmalert(prometheus.url, alertmanager.url, workdir, ("-disableAlertgroupLabel",))
        infrastructure.append(vmalert.stop)
    clusters = [AlertmanagerCluster.model_validate(d) for d in objects if d["kind"] == "AlertmanagerCluster"]
    gateway_port = free_port() if any(c.spec.gateway for c in clusters) else None
    gateway_url = f"http://127.0.0.1:{gateway_port}" if gateway_port else None
    urls = LocalUrls(
        alertmanager.url,
        {"prometheus": prometheus.url, "vmalert": vmalert.url},
        receiver,
        gateway_url or "",
        {key: robot.url for key, robot in robots.items()},
    )
    docs = local_overlay(objects, urls)
    namespaces = sorted({d["metadata"]["namespace"] for d in docs if d["kind"] != "Namespace"})
    operator_namespace = "default" if "default" in namespaces else namespaces[0]
    namespaces = [operator_namespace, *(ns for ns in namespaces if ns != operator_namespace)]
    with console.phase("namespaces, operator and sidecars"):
        plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([d for d in docs if d["kind"] == "Namespace"]))
        http_port = free_port()

        def operator() -> tuple[Process, int]:
            return start_operator(
                plane,
                logs,
                tuple(namespaces),  # the first one is where the service graph is published
                http_port=http_port,
                env={"ALERTAGENT_HEALTH_INTERVAL_SECONDS": "5"},
            )

        sidecars = _sidecar_starters(plane, logs, docs, {"prometheus": prometheus, "vmalert": vmalert}, alertmanager)
        gateway = _gateway_starter(plane, cleanup, workdir, clusters, gateway_port) if gateway_port else []
        _start_in_parallel([operator, *sidecars, *gateway], agents)
    with console.phase("examples applied and Ready"):
        plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([d for d in docs if d["kind"] != "Namespace"]))
        try:
            eventually(lambda: (ready := _ready_conditions(plane)) and all(ready.values()), 120, what="all Ready")
        except AssertionError:
            console.say("warning: not every example is Ready (see the Reason column below)")
        graph_api = f"http://127.0.0.1:{http_port}/api/v1/graph"
        eventually(lambda: httpx.get(graph_api, timeout=5).status_code == 200, 60, what="the service graph published")
    return Stack(
        plane,
        alertmanager,
        prometheus,
        vmalert,
        exporter,
        exporter_address,
        operator_namespace,
        http_port,
        workdir,
        agents,
        gateway_url,
        robots,
        _database_running(console, plane, docs),
    )


def run_demo(examples: Path, exit_after_incident: bool = False, keep_workdir: bool = False) -> int:
    """Run the demo until Ctrl-C or SIGTERM (or, with `exit_after_incident`, until the incident was
    observed; then a `demo-result: {json}` line sums it up). Returns the exit code: 0, or 1 on an error."""
    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="alertagent-demo-"))
    (workdir / "logs").mkdir()
    console.say(f"AlertAgent demo, in {workdir} ({'kept' if keep_workdir else 'removed'} on exit)")

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Ctrl-C, SIGTERM and SIGHUP (terminal closed, SSH dropped) all stop the stack and clean up; SIGINT
    # is set explicitly, as a shell that started us in the background may have left it ignored.
    stopping = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, on_signal) for signum in stopping}
    cleanup = ExitStack()
    try:
        objects = load_manifests([examples])
        receiver, received = cleanup.enter_context(
            webhook_receiver(lambda path, payload: console.say(describe_notification(path, payload)))
        )
        robots = cleanup.enter_context(_local_robots(console, objects))
        stack = _bring_up(console, cleanup, workdir, objects, receiver, robots)
        result: dict[str, Any] = {
            "workdir": str(workdir),
            "phases": dict(console.phases),
            "up_seconds": round(time.monotonic() - console.start, 1),
            "ready": _ready_conditions(stack.plane),
            "urls": {"alertmanager": stack.alertmanager.url, "prometheus": stack.prometheus.url},
            "ports": stack.ports(),
            "pids": stack.pids(),
        }
        console.say(f"everything up in {result['up_seconds']:.1f}s")
        _overview(console, stack)
        result["incident"] = _incident(console, stack, received)
        if exit_after_incident:
            console.say("demo-result: " + json.dumps(result, sort_keys=True))
            return 0
        console.say(f"the database comes back in {RECOVER_AFTER_SECONDS:.0f}s; Ctrl-C stops everything")
        time.sleep(RECOVER_AFTER_SECONDS)
        _recover(console, stack, result["incident"]["rollout"])
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.say("stopping")
        return 0
    except Exception as err:
        console.say(f"error: {err}")
        console.say(f"logs: {workdir / 'logs'}" if keep_workdir else "(run with --keep-workdir to keep the logs)")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        try:
            cleanup.close()
            if not keep_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            console.say("stopped every process" + ("" if keep_workdir else f", removed {workdir}"))
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _gateway_starter(
    plane: ControlPlane, cleanup: ExitStack, workdir: Path, clusters: Sequence[AlertmanagerCluster], port: int
) -> list[Callable[[], tuple[Process, int]]]:
    """Mount each cluster's channels Secret in a folder as the kubelet mounts a Secret volume (the
    chart's `gateway.channelsSecrets`), kept up to date from now on; returns the function that starts
    the gateway on `port` with those folders (it re-reads them when they change)."""
    folders = []
    for cluster in (c for c in clusters if c.spec.gateway):
        namespace = cluster.metadata.namespace or "default"
        folder = workdir / "gateway" / "channels" / f"{namespace}-{cluster.metadata.name}"
        mount = SecretMount(plane, namespace, channels_secret_name(cluster), folder)
        cleanup.callback(mount.stop)  # stopped before the control plane (LIFO)
        mount.start()
        folders.append(folder)
    queue = workdir / "gateway" / "queue.db"
    # The incident engine needs Kubernetes access (the incidents Lease, Incident objects, the service
    # graph ConfigMap): the control plane's admin kubeconfig, as the operator has here (the chart gives
    # the gateway's ServiceAccount only those), and a pod name as the Lease's holder identity.
    namespace = next((c.metadata.namespace or "default" for c in clusters if c.spec.gateway), "default")
    args = (
        *("--poll-interval", "0.5", "--kubeconfig", str(plane.kubeconfig)),
        *("--pod-name", GATEWAY_POD, "--pod-namespace", namespace),
    )
    return [functools.partial(start_gateway, workdir / "logs", folders, queue, port, args)]


@contextlib.contextmanager
def _local_robots(console: Console, objects: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, ShowingRobot]]:
    """One local robot per gateway channel of the examples, of its type, checking the signing secret
    of the channel's own Secret; each prints the messages it accepts as the group would see them."""

    def show(robot: ShowingRobot, body: dict[str, Any]) -> None:
        signed = ", signature verified" if robot.secret else ""
        console.say(f"robot message -> {robot.channel} ({robot.type}{signed}), as the group sees it:")
        console.block(robot_view(robot.type, body))

    started: dict[str, ShowingRobot] = {}
    try:
        for channel in robot_channels(objects):
            robot = ShowingRobot(
                type=cast(RobotType, channel.type), secret=channel.sign_secret, channel=channel.key, on_message=show
            )
            robot.start()
            started[channel.key] = robot
        yield started
    finally:
        for robot in started.values():
            robot.stop()


def _sidecar_starters(
    plane: ControlPlane,
    logs: Path,
    docs: Sequence[Mapping[str, Any]],
    evaluators: Mapping[str, RuleTarget],
    alertmanager: AlertmanagerTarget,
) -> list[Callable[[], tuple[Process, int]]]:
    """One sidecar per target of every AlertmanagerCluster: one per rule evaluator (by its type) and
    one next to Alertmanager (its config Secret); each a function that starts it and waits until live."""
    starters: list[Callable[[], tuple[Process, int]]] = []
    for doc in docs:
        if doc["kind"] != "AlertmanagerCluster":
            continue
        cluster = AlertmanagerCluster.model_validate(doc)
        namespace, name = doc["metadata"]["namespace"], doc["metadata"]["name"]
        for evaluator in cluster.spec.rule_evaluators or []:
            target = evaluators[evaluator.type]
            starters.append(
                functools.partial(
                    start_sidecar, plane, logs, namespace, name, evaluator.name, target.rules_dir, target.url
                )
            )
        starters.append(
            functools.partial(
                start_alertmanager_sidecar,
                plane,
                logs,
                namespace,
                secret_name(cluster),
                alertmanager.config_path,
                alertmanager.url,
            )
        )
    return starters


def _start_in_parallel(starters: Sequence[Callable[[], tuple[Process, int]]], started: list[Process]) -> None:
    """Run the starters at once (each waits for its process to be live: Python's start-up dominates);
    every process that started goes to `started`, even when another failed; then the first error."""
    errors: list[BaseException] = []
    with concurrent.futures.ThreadPoolExecutor(len(starters) or 1) as pool:
        for future in [pool.submit(start) for start in starters]:
            try:
                started.append(future.result()[0])
            except Exception as err:
                errors.append(err)
    if errors:
        raise errors[0]


def _in_parallel(stops: Sequence[Callable[[], None]]) -> None:
    with concurrent.futures.ThreadPoolExecutor(len(stops) or 1) as pool:
        for future in [pool.submit(stop) for stop in stops]:
            with contextlib.suppress(Exception):
                future.result()
