"""Test-bed plumbing shared by `bench_side_by_side` and `bench_scale`: a control plane that keeps an
audit log of every write (so writes are counted by who made them), the two operators as processes
with their CPU and memory read from /proc, and a ConfigMap watch that timestamps each change as it
arrives.

Who is who in the audit log: the API server authenticates AlertAgent's operator, its sidecar and the
benchmark itself with static tokens (users `alertagent-operator`, `alertagent-sidecar`, `bench`, all in
`system:masters`); prometheus-operator only takes a client certificate (`--cert-file`), so it is the
`admin` user of the control plane's certificate, which nothing else uses once it runs.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import re
import resource
import secrets
import signal
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import yaml

from alertagent.devstack.controlplane import ControlPlane, binary, install_crds, start_control_plane
from alertagent.devstack.processes import Process, free_port

REPO = Path(__file__).resolve().parents[1]
DEVSTACK = REPO / "operator" / "alertagent" / "devstack"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
CLK_TCK = os.sysconf("SC_CLK_TCK")
OPERATOR_USER, SIDECAR_USER, BENCH_USER, PO_USER = "alertagent-operator", "alertagent-sidecar", "bench", "admin"
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],  # one event per request, when its response is complete
    "rules": [{"level": "Metadata", "verbs": sorted(WRITE_VERBS)}, {"level": "None"}],
}
ALERT_NAME = re.compile(r"alert: ['\"]?([A-Za-z_][A-Za-z0-9_]*)")


# --- the machine and processes, from /proc -------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU-s of a process and its waited-for children (utime+stime+cutime+cstime of /proc/PID/stat);
    0 when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 3, utime field 14
    return sum(int(v) for v in fields[11:15]) / CLK_TCK


def children_of(pid: int) -> list[int]:
    """The running children of `pid`, made by any of its threads (/proc/PID/task/TID/children)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    """The running processes descended from `pid` (children, theirs, ...)."""
    found, todo = [], [pid]
    while todo:
        kids = children_of(todo.pop())
        found += kids
        todo += kids
    return found


class TreeRssSampler:
    """The largest sum of VmRSS over a process and its children seen while it runs (polled every
    `interval` seconds): catches a short-lived child (a promtool run) that VmHWM of the living
    processes at the end cannot."""

    def __init__(self, pid: int, interval: float = 0.025) -> None:
        self.pid, self.interval, self.peak_mib = pid, interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mib = max(self.peak_mib, tree_status_mib(self.pid, "VmRSS"))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def tree_cpu_seconds(pid: int) -> float:
    """CPU-s of a process with its running descendants (a long-lived helper such as AlertAgent's rule
    checker is not in the parent's cutime until it exits) and its waited-for children."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in descendants(pid))


def tree_status_mib(pid: int, key: str) -> float:
    """`status_mib` summed over a process and its running descendants: for VmHWM an upper bound of
    their peak together (each one's peak, whenever it was)."""
    return status_mib(pid, key) + sum(status_mib(child, key) for child in descendants(pid))


def disk_read_mib(pid: int) -> float:
    """MiB a process has had read from the storage device so far (`read_bytes` of /proc/PID/io: what
    a cold page cache costs it); 0 when gone or not readable."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("read_bytes:"):
                return int(line.split()[1]) / 2**20
    return 0.0


def status_mib(pid: int, key: str) -> float:
    """A `kB` line of /proc/PID/status (VmHWM: peak RSS, VmRSS: RSS) in MiB; 0 when gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    """`N cores, CPU model, RAM GiB, kernel` of this machine."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")), "?")
    mem_kib = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in ln)
    return f"{os.cpu_count()} cores ({model}), {mem_kib / 1024**2:.1f} GiB RAM, Linux {os.uname().release}"


#: Python, Kopf and the Kubernetes client as every start of the operator imports them: `alertagent`
#: first (its import finder defers the client's unused subpackages, common/lazyimports.py), then the
#: client modules the operator uses. Importing Kopf first would bypass the finder and cost more.
IMPORT_FLOOR = "import alertagent, kopf, kubernetes.client, kubernetes.config, kubernetes.watch"

#: Everything `alertagent run` imports before it does anything: the floor and AlertAgent's own modules.
OPERATOR_IMPORTS = "import alertagent.cli, alertagent.operator"


def compile_bytecode(pythonpath: str | None) -> str:
    """Byte-compile the AlertAgent code the benchmark runs (the packages under `pythonpath`, else the
    installed `alertagent` and `alertagent_sidecar`), as the image has it: its pip install compiles
    every module. A developer's editable install under PYTHONDONTWRITEBYTECODE=1 has no .pyc of its
    own, and every start would compile its ~170 modules (~0.35 CPU-s of the restart figures). Returns
    what it did, for the report. Raises OSError when a directory cannot be written."""
    if pythonpath:
        roots = [Path(p) for p in pythonpath.split(os.pathsep) if p]
    else:
        import alertagent  # noqa: PLC0415 (the installed code, wherever it lives)
        import alertagent_sidecar  # noqa: PLC0415

        roots = [Path(alertagent.__file__).parent, Path(alertagent_sidecar.__file__).parent]
    for root in roots:
        if not compileall.compile_dir(root, quiet=1, workers=0):
            raise OSError(f"cannot byte-compile {root}")
    why = ""
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        why = " (PYTHONDONTWRITEBYTECODE is set here: Python would not write them)"
    return f"byte-compiled {', '.join(map(str, roots))}, as the image has them{why}"


def import_floor(pythonpath: str | None, repeats: int = 3, statement: str = IMPORT_FLOOR) -> tuple[float, float]:
    """Median (seconds, CPU-s) of `python -c STATEMENT`, `IMPORT_FLOOR` by default: what any start of
    the operator pays before it does anything."""
    env = {**os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", statement], env=env, check=True)
        walls.append(time.monotonic() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def quantile(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank (p95 of 24 values is the 23rd smallest)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as err:
            last = err
        else:
            if last:
                return last
        time.sleep(interval)
    raise TimeoutError(f"{what} not met within {timeout:.0f} s; last: {last!r}"[:2000])


# --- the audit log ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """One write request, as the API server's audit log records it."""

    user: str
    verb: str
    resource: str  # "configmaps", "alertrules/status", ...
    namespace: str
    name: str
    code: int
    at: float  # when the response was complete (epoch seconds)


class AuditLog:
    """The API server's audit log of write requests (create, update, patch, delete; access reviews
    left out: they store nothing); `mark()` then `writes(mark)` reads the requests made since. A
    request counts whether or not it changed anything (an update with the same content is a write
    the API server turns into a no-op)."""

    def __init__(self, path: Path):
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def writes(self, start: int, end: int | None = None, settle: float = 0.3) -> list[Write]:
        time.sleep(settle)  # the last responses of the window are logged as they complete
        out = []
        with self.path.open("rb") as handle:
            handle.seek(start)
            data = handle.read() if end is None else handle.read(max(0, end - start))
        for line in data.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("verb") not in WRITE_VERBS or event.get("stage") != "ResponseComplete":
                continue
            ref = event.get("objectRef") or {}
            if ref.get("resource", "").endswith("reviews"):
                continue  # access and token reviews: questions to the API server, nothing stored
            kind = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            out.append(
                Write(
                    user=event.get("user", {}).get("username", "?"),
                    verb=event["verb"],
                    resource=kind,
                    namespace=ref.get("namespace", ""),
                    name=ref.get("name", ""),
                    code=int((event.get("responseStatus") or {}).get("code", 0)),
                    at=datetime.fromisoformat(event["stageTimestamp"]).timestamp(),
                )
            )
        return out


def by_resource(writes: Iterable[Write]) -> str:
    """`configmaps 3, alertrules/status 500` (sorted by resource), or `none`."""
    counts = Counter(w.resource for w in writes)
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


# --- the control plane --------------------------------------------------------------------------


class Api:
    """The benchmark's own client (user `bench`, its own User-Agent): plain HTTPS requests."""

    def __init__(self, url: str, ca_file: Path, token: str):
        self.url = url
        self.ssl = ssl.create_default_context(cafile=str(ca_file))
        self.headers = {"Authorization": f"Bearer {token}", "User-Agent": "alertagent-bench"}
        self.client = httpx.Client(base_url=url, verify=self.ssl, headers=self.headers, timeout=30)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, path, **kwargs)
        response.raise_for_status()
        return response

    def merge_patch(self, path: str, body: dict[str, Any]) -> None:
        self.request("PATCH", path, json=body, headers={"Content-Type": "application/merge-patch+json"})

    def stream(self, path: str, params: dict[str, str]) -> Any:
        return httpx.stream(
            "GET",
            f"{self.url}{path}",
            params=params,
            verify=self.ssl,
            headers=self.headers,
            timeout=httpx.Timeout(None),
        )


@dataclass
class TestBed:
    """etcd + kube-apiserver (no controller manager) with an audit log and static tokens; the CRDs of
    both operators installed."""

    work: Path
    plane: ControlPlane
    audit: AuditLog
    tokens: dict[str, str]
    kubeconfigs: dict[str, Path]
    api: Api
    cpu_of_stopped: dict[str, float] = field(default_factory=dict)  # CPU-s of replaced API servers
    kubectl_cpu: float = 0.0  # CPU-s of the benchmark's kubectl commands

    @classmethod
    def start(cls, work: Path, prometheus_operator_crds: Path | None = None, wait_served: bool = True) -> TestBed:
        """Start it; with `wait_served`, return once every CRD's storage is ready (its list answers
        200, not 429 "storage is (re)initializing"), as on a cluster where they were installed before."""
        users = (OPERATOR_USER, SIDECAR_USER, BENCH_USER)
        tokens = {user: secrets.token_hex(16) for user in users}
        token_file = work / "tokens.csv"
        token_file.write_text("".join(f'{tokens[u]},{u},{u},"system:masters"\n' for u in users))
        policy = work / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY))
        audit_path = work / "audit.log"
        plane = start_control_plane(
            work,
            with_controller_manager=False,
            apiserver_args=(
                f"--token-auth-file={token_file}",
                f"--audit-policy-file={policy}",
                f"--audit-log-path={audit_path}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
            ),
        )
        try:
            kubeconfigs = {}
            base = yaml.safe_load(plane.kubeconfig.read_text())
            for user in users:
                base["users"] = [{"name": "admin", "user": {"token": tokens[user]}}]
                kubeconfigs[user] = work / f"{user}.kubeconfig"
                kubeconfigs[user].write_text(yaml.safe_dump(base))
            install_crds(plane, REPO / "crds")
            if prometheus_operator_crds is not None:
                plane.kubectl("apply", "--server-side", "-f", str(prometheus_operator_crds))
                plane.kubectl("wait", "--for=condition=Established", "crd/prometheusrules.monitoring.coreos.com")
                plane.kubectl("wait", "--for=condition=Established", "crd/prometheuses.monitoring.coreos.com")
        except BaseException:
            plane.stop()
            raise
        api = Api(plane.url, plane.ca_file, tokens[BENCH_USER])
        bed = cls(work, plane, AuditLog(audit_path), tokens, kubeconfigs, api)
        if wait_served:
            bed.wait_crds_served()
        return bed

    def wait_crds_served(self, timeout: float = 120) -> None:
        template = "{.spec.group}/{.spec.versions[?(@.storage==true)].name}/{.spec.names.plural}"
        out = self.kubectl("get", "crd", "-o", f"jsonpath={{range .items[*]}}{template}{{'\\n'}}{{end}}")

        def served(path: str) -> bool:
            return self.api.client.get(path, params={"limit": "1"}).status_code == 200

        for line in out.split():
            wait_for(partial(served, f"/apis/{line}"), timeout, 0.1, f"/apis/{line} served")

    def kubectl(self, *args: str, input: str | None = None) -> str:
        """kubectl as the `bench` user."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run(
            [binary("kubectl"), f"--kubeconfig={self.kubeconfigs[BENCH_USER]}", *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=600,
            check=False,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.kubectl_cpu += after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr.strip()[:2000]}")
        return result.stdout

    def control_plane_cpu(self) -> dict[str, float]:
        """CPU-s used so far by etcd and kube-apiserver (API servers replaced by a restart included)."""
        return {p.name: cpu_seconds(p.popen.pid) + self.cpu_of_stopped.get(p.name, 0.0) for p in self.plane.processes}

    def restart_apiserver(self) -> float:
        """Stop kube-apiserver and start it again with the same flags (as ControlPlane.restart_apiserver
        does), returning the monotonic time its /healthz answered 200 again (polled every 20 ms)."""
        index, old = next((i, p) for i, p in enumerate(self.plane.processes) if p.name == "kube-apiserver")
        cpu = cpu_seconds(old.popen.pid)
        old.stop()
        self.cpu_of_stopped[old.name] = self.cpu_of_stopped.get(old.name, 0.0) + cpu
        new = Process(old.name, old.argv, self.plane.workdir)
        self.plane.processes[index] = new
        back = httpx.Client(verify=self.api.ssl, headers=self.api.headers, timeout=1)

        def healthy() -> bool:
            if new.popen.poll() is not None:
                raise RuntimeError(f"kube-apiserver exited:\n{new.log_tail()}")
            return back.get(f"{self.plane.url}/healthz").status_code == 200

        wait_for(healthy, 120, 0.02, "kube-apiserver /healthz after its restart")
        return time.monotonic()

    def stop(self) -> None:
        self.plane.stop()


# --- the ConfigMap watch ------------------------------------------------------------------------


class ConfigMapWatch:
    """A watch on the ConfigMaps of one namespace matching a label selector, in a thread: the latest
    data of each, and every change with the monotonic time it arrived. Re-lists and watches again
    when the connection drops (API server restart)."""

    def __init__(self, api: Api, namespace: str, selector: str):
        self.api, self.namespace, self.selector = api, namespace, selector
        self.data: dict[str, dict[str, str]] = {}  # ConfigMap name → data
        self.events: list[tuple[float, str, str, str]] = []  # (arrival, type, name, raw JSON line)
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"watch-{namespace}", daemon=True)
        self.synced = threading.Event()
        self.thread.start()
        if not self.synced.wait(30):
            raise TimeoutError(f"no ConfigMap list in {namespace}")

    def _run(self) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/configmaps"
        while not self.stopping.is_set():
            try:
                listed = self.api.client.get(path, params={"labelSelector": self.selector}).json()
                version = listed["metadata"]["resourceVersion"]
                now = time.monotonic()
                with self.changed:
                    fresh = {i["metadata"]["name"]: i.get("data") or {} for i in listed["items"]}
                    for name, data in fresh.items():
                        if self.data.get(name) != data:
                            self.events.append((now, "LISTED", name, json.dumps(data)))
                    self.data = fresh
                    self.changed.notify_all()
                self.synced.set()
                params = {"labelSelector": self.selector, "watch": "1", "resourceVersion": version}
                params["allowWatchBookmarks"] = "true"
                with self.api.stream(path, params) as response:
                    for line in response.iter_lines():
                        arrived = time.monotonic()
                        if self.stopping.is_set():
                            return
                        event = json.loads(line)
                        kind, obj = event["type"], event["object"]
                        if kind == "BOOKMARK":
                            continue
                        if kind == "ERROR":
                            break  # 410 Gone and the like: list again
                        name = obj["metadata"]["name"]
                        with self.changed:
                            if kind == "DELETED":
                                self.data.pop(name, None)
                            else:
                                self.data[name] = obj.get("data") or {}
                            self.events.append((arrived, kind, name, line))
                            self.changed.notify_all()
            except Exception:
                if self.stopping.is_set():
                    return
                time.sleep(0.05)

    def mark(self) -> int:
        with self.changed:
            return len(self.events)

    def names(self) -> set[str]:
        """Every ConfigMap this watch has seen (the operator's rule ConfigMaps)."""
        with self.changed:
            return {e[2] for e in self.events} | set(self.data)

    def writes_since(self, mark: int) -> int:
        with self.changed:
            return sum(1 for e in self.events[mark:] if e[1] in ("ADDED", "MODIFIED", "DELETED"))

    def wait_text(self, text: str, since: int, timeout: float) -> float:
        """Arrival time of the first change after event `since` whose content holds `text`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            seen = since
            while True:
                for arrived, _kind, _name, raw in self.events[seen:]:
                    if text in raw:
                        return arrived
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{text!r} never reached a ConfigMap in {self.namespace}")
                self.changed.wait(left)

    def alert_names(self) -> set[str]:
        with self.changed:
            return {m for data in self.data.values() for text in data.values() for m in ALERT_NAME.findall(text)}

    def wait_names(self, names: set[str], timeout: float) -> float:
        """Arrival time of the change after which every name in `names` is in the ConfigMaps."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                if names <= self.alert_names():
                    return self.events[-1][0] if self.events else time.monotonic()
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = len(names - self.alert_names())
                    raise TimeoutError(f"{missing} of {len(names)} alerts never reached a ConfigMap")
                self.changed.wait(min(left, 1.0))

    def stop(self) -> None:
        self.stopping.set()


# --- the two operators --------------------------------------------------------------------------


@dataclass
class Started:
    """One start of an operator: when the process started (monotonic), process start → ready
    (seconds), CPU-s used by then, MiB read from the disk by then."""

    at: float
    seconds: float
    cpu: float
    disk_mib: float = 0.0


class Operator:
    """An operator process: start (timed to ready), stop, CPU-s and memory."""

    label = "?"
    user = "?"
    process: Process | None = None

    def argv_env(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def __init__(self, work: Path, namespace: str):
        self.work, self.namespace = work, namespace
        self.ports: tuple[int, int] = (0, 0)
        self.cpu_of_stopped = 0.0  # CPU-s of the earlier processes (before a restart)
        self.rss_sampler: TreeRssSampler | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.popen.pid

    def start(self, timeout: float = 180) -> Started:
        """Start and wait until ready (polled every 20 ms)."""
        self.ports = (free_port(), free_port())
        argv, env = self.argv_env()
        started = time.monotonic()
        self.process = Process(f"{self.label}-{self.namespace}-{self.ports[0]}", argv, self.work, env)
        process = self.process

        def ready() -> bool:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited {process.popen.returncode}:\n{process.log_tail()}")
            return self.is_ready()

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    break
            except RuntimeError:
                raise
            except Exception:
                pass
            time.sleep(0.02)
        else:
            raise TimeoutError(f"{process.name} not ready after {timeout:.0f} s:\n{process.log_tail()}")
        pid = process.popen.pid
        if self.rss_sampler is None:  # the first start's process: the one whose peak is reported
            self.rss_sampler = TreeRssSampler(pid)
        reads = disk_read_mib(pid) + sum(disk_read_mib(child) for child in descendants(pid))
        return Started(started, time.monotonic() - started, tree_cpu_seconds(pid), reads)

    def cpu(self) -> float:
        """CPU-s of the operator process and its running child processes."""
        return tree_cpu_seconds(self.pid)

    def total_cpu(self) -> float:
        """CPU-s of every process of this operator so far (restarts included)."""
        return self.cpu_of_stopped + (self.cpu() if self.process and self.process.popen.poll() is None else 0.0)

    def peak_rss_mib(self) -> float:
        """Peak RSS of the operator with its running child processes: its VmHWM plus each running
        child's (AlertAgent's rule checker)."""
        return tree_status_mib(self.pid, "VmHWM")

    def sampled_peak_rss_mib(self) -> float:
        """The largest sum of RSS of the operator and all its children seen every 25 ms since it was
        ready: short-lived tool runs (amtool, promtool) included when a sample caught them."""
        return self.rss_sampler.peak_mib if self.rss_sampler is not None else 0.0

    def children_peaks(self) -> str:
        """Each running child process's name and peak RSS: "alertagent-rul 14 MiB"."""
        peaks = []
        for child in descendants(self.pid):
            with contextlib.suppress(OSError):
                name = Path(f"/proc/{child}/comm").read_text().strip()
                peaks.append(f"{name} {status_mib(child, 'VmHWM'):.0f} MiB")
        return ", ".join(peaks)

    def own_peak_rss_mib(self) -> float:
        """Peak RSS of the operator process alone (VmHWM)."""
        return status_mib(self.pid, "VmHWM")

    def rss_mib(self) -> float:
        return tree_status_mib(self.pid, "VmRSS")

    def stop(self) -> None:
        if self.rss_sampler is not None and self.process is not None and self.rss_sampler.pid == self.pid:
            self.rss_sampler.stop()
        if self.process is not None and self.process.popen.poll() is None:
            cpu = self.cpu()
            self.process.stop(grace=30)
            self.cpu_of_stopped += cpu

    def log_path(self) -> Path | None:
        return self.process.log_path if self.process else None


def _metric(port: int, name: str, labels: dict[str, str], client: httpx.Client) -> float | None:
    text = client.get(f"http://127.0.0.1:{port}/metrics").text
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in "{ ") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else None


class AlertAgent(Operator):
    """`alertagent run -n NAMESPACE` (`-A` for namespace "*") with the product's defaults (1 s
    debounce, 30 s health interval) as the user `alertagent-operator`; with `pythonpath`, that code
    instead of the installed one. Ready: `/readyz` answers 200 (every AlertmanagerCluster reconciled
    once since start); code that has no /readyz (404) is ready at its first AlertmanagerCluster
    reconcile (its metric)."""

    label, user = "alertagent", OPERATOR_USER

    def __init__(
        self,
        work: Path,
        namespace: str,
        kubeconfig: Path,
        pythonpath: str | None,
        operator_namespace: str = "",
        env: dict[str, str] | None = None,
    ):
        super().__init__(work, "all" if namespace == "*" else namespace)
        self.scope = ["-A"] if namespace == "*" else ["-n", namespace]
        self.operator_namespace = operator_namespace or namespace
        self.kubeconfig, self.pythonpath, self.env = kubeconfig, pythonpath, env or {}
        self.http = httpx.Client(timeout=2)
        self.readiness = "/readyz"

    def argv_env(self) -> tuple[list[str], dict[str, str]]:
        argv = [
            str(Path(sys.executable).parent / "alertagent"),
            "run",
            *self.scope,
            "--operator-namespace",
            self.operator_namespace,
            "--http-port",
            str(self.ports[0]),
            "--metrics-port",
            str(self.ports[1]),
            "--debounce",
            "1.0",
        ]
        env = {"KUBECONFIG": str(self.kubeconfig), "ALERTAGENT_HEALTH_INTERVAL_SECONDS": "30"}
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        return argv, {**env, **self.env}

    def is_ready(self) -> bool:
        response = self.http.get(f"http://127.0.0.1:{self.ports[0]}/readyz")
        if response.status_code != 404:
            return response.status_code == 200
        self.readiness = "first AlertmanagerCluster reconcile (no /readyz in this code)"
        value = _metric(self.ports[1], "alertagent_reconcile_total", {"kind": "AlertmanagerCluster"}, self.http)
        return bool(value)


class PrometheusOperator(Operator):
    """prometheus-operator v0.93.1 out of cluster, watching one namespace (every one for "*"), with
    the control plane's admin certificate. Ready: its first Prometheus reconcile has finished
    (`prometheus_operator_reconcile_duration_seconds_count{controller="prometheus"}` ≥ 1)."""

    label, user = "prometheus-operator", PO_USER
    readiness = 'first Prometheus reconcile done (reconcile_duration_seconds_count{controller="prometheus"})'

    def __init__(self, work: Path, namespace: str, plane: ControlPlane, binary_path: Path):
        super().__init__(work, "all" if namespace == "*" else namespace)
        self.plane, self.binary_path = plane, binary_path
        self.http = httpx.Client(timeout=2)

    def argv_env(self) -> tuple[list[str], dict[str, str]]:
        pki = self.plane.ca_file.parent
        argv = [
            str(self.binary_path),
            f"--apiserver={self.plane.url}",
            f"--ca-file={self.plane.ca_file}",
            f"--cert-file={pki / 'admin.crt'}",
            f"--key-file={pki / 'admin.key'}",
            *([] if self.namespace == "all" else [f"--namespaces={self.namespace}"]),
            f"--web.listen-address=127.0.0.1:{self.ports[0]}",
        ]
        return argv, {}

    def is_ready(self) -> bool:
        value = _metric(
            self.ports[0],
            "prometheus_operator_reconcile_duration_seconds_count",
            {"controller": "prometheus"},
            self.http,
        )
        return bool(value)


def prometheus_operator_binary() -> Path:
    """The cached prometheus-operator binary (built once by build-prometheus-operator.sh)."""
    out = subprocess.run(
        ["bash", str(DEVSTACK / "build-prometheus-operator.sh")], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    return Path(out.strip().splitlines()[-1])


def prometheus_operator_crds() -> Path:
    """The CRDs of that version, from its module in the Go module cache."""
    module = "github.com/prometheus-operator/prometheus-operator"
    wrapper = DEVSTACK / "tools" / "prometheus-operator"
    lines = [ln.split() for ln in (wrapper / "go.mod").read_text().splitlines()]
    version = next(parts[parts.index(module) + 1] for parts in lines if module in parts)
    info = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        cwd=wrapper,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(json.loads(info)["Dir"]) / "example" / "prometheus-operator-crd"


@contextlib.contextmanager
def stopping(*things: Any) -> Iterator[list[Any]]:
    """Stops everything appended to the yielded list (last first), also on errors and Ctrl-C."""
    started: list[Any] = list(things)
    previous = signal.getsignal(signal.SIGTERM)

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield started
    finally:
        for thing in reversed(started):
            with contextlib.suppress(Exception):
                thing.stop()
        signal.signal(signal.SIGTERM, previous)


def start_sidecar(
    work: Path, namespace: str, cluster: str, rules_dir: Path, target_url: str, kubeconfig: Path, pythonpath: str | None
) -> Process:
    """The config-sync sidecar next to Prometheus at its product defaults (0.5 s debounce), as the user
    `alertagent-sidecar`; with `pythonpath`, that code (and its sibling `sidecar/` folder, when there)."""
    port = free_port()
    argv = [
        str(Path(sys.executable).parent / "alertagent-sidecar"),
        "--namespace",
        namespace,
        "--selector",
        f"alertagent.io/cluster={cluster},alertagent.io/evaluator=prometheus",
        "--rules-dir",
        str(rules_dir),
        "--target-url",
        target_url,
        "--target-name",
        "prometheus",
        "--listen",
        f"127.0.0.1:{port}",
    ]
    env = {"KUBECONFIG": str(kubeconfig)}
    if pythonpath:
        sibling = Path(pythonpath).parent / "sidecar"
        env["PYTHONPATH"] = pythonpath + (f":{sibling}" if sibling.is_dir() else "")
    process = Process(f"sidecar-{namespace}-{port}", argv, work, env)
    return process.ready_or_stopped(
        lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200, 60, "live"
    )


def object_versions(bed: TestBed, namespace: str, kinds: str) -> dict[tuple[str, str], str]:
    """(kind, name) → resourceVersion of every object of `kinds` (comma-separated) in a namespace."""
    out = bed.kubectl(
        "-n",
        namespace,
        "get",
        kinds,
        "--no-headers",
        "--ignore-not-found",
        "-o",
        "custom-columns=K:.kind,N:.metadata.name,V:.metadata.resourceVersion",
    )
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return {(r[0], r[1]): r[2] for r in rows if len(r) == 3}


def namespaced_kinds(bed: TestBed) -> str:
    """Every namespaced kind that can be listed, comma-separated for `kubectl get`."""
    out = bed.kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name")
    return ",".join(sorted(name for name in out.split() if name))


def changed_objects(before: dict[tuple[str, str], str], after: dict[tuple[str, str], str]) -> list[str]:
    """`Kind/name` of what was created, changed or deleted between two object_versions."""
    return sorted(f"{k}/{n}" for (k, n) in set(before) | set(after) if before.get((k, n)) != after.get((k, n)))


def machine_busy() -> float:
    """CPU-s the whole machine has been busy since boot (all cores; /proc/stat minus idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


def own_cpu(bed: TestBed) -> float:
    """CPU-s of this benchmark process and its kubectl commands (not of the processes it started and
    stopped: those are counted as what they are)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime + bed.kubectl_cpu


def env_pairs(pairs: list[str] | None) -> dict[str, str]:
    """`["KEY=VALUE", ...]` (the --alertagent-env options) as a dict."""
    return dict(pair.split("=", 1) for pair in pairs or [])


# --- shared by both benchmarks ------------------------------------------------------------------


def groups(i: int, first_alert: str) -> list[dict[str, Any]]:
    """The rule groups of object i: the same `spec.groups` in an AlertRule and a PrometheusRule."""
    job = f'job="svc{i}"'
    return [
        {
            "name": f"g{i}",
            "rules": [
                {"alert": first_alert, "expr": f"up{{{job}}} == 0", "for": "5m", "labels": {"severity": "critical"}},
                {
                    "alert": f"Slow{i}",
                    "expr": f"histogram_quantile(0.99, sum by (le) (rate(latency_bucket{{{job}}}[5m]))) > 1",
                    "labels": {"severity": "warning"},
                },
            ],
        }
    ]


def wait_quiet(operator: Operator, audit: AuditLog, limit: float = 60.0) -> float:
    """Wait until the operator has been quiet for two consecutive seconds: under 0.03 CPU-s and no
    write request in the audit log in each (CPU alone is not enough: an operator waiting on a busy
    API server uses little CPU while its writes are still going). At most `limit` s; returns the
    seconds until that quiet began."""
    started, last, mark = time.monotonic(), operator.cpu(), audit.mark()
    calm_since: float | None = None
    while time.monotonic() - started < limit:
        time.sleep(1.0)
        now, new_mark = operator.cpu(), audit.mark()
        wrote = new_mark > mark and any(w.user == operator.user for w in audit.writes(mark, new_mark, settle=0))
        if now - last >= 0.03 or wrote:
            calm_since = None
        elif calm_since is None:
            calm_since = time.monotonic() - 1.0
        elif time.monotonic() - calm_since >= 2.0:
            break
        last, mark = now, new_mark
    return (calm_since or time.monotonic()) - started


def apply_parallel(bed: TestBed, files: list[Path], workers: int = 4) -> float:
    """`kubectl apply --server-side` of `files` by `workers` kubectl processes at once (as the user
    `bench`); returns the seconds it took."""
    chunks = [files[w::workers] for w in range(workers) if files[w::workers]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [binary("kubectl"), f"--kubeconfig={bed.kubeconfigs[BENCH_USER]}", "apply", "--server-side"]
            + [arg for f in chunk for arg in ("-f", str(f))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for chunk in chunks
    ]
    outputs = [(p, p.communicate()[1]) for p in procs]
    errors = [err for p, err in outputs if p.returncode != 0]
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    bed.kubectl_cpu += after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if errors:
        raise RuntimeError(f"kubectl apply failed: {errors[0][:2000]}")
    return elapsed
