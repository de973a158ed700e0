"""AlertAgent beside prometheus-operator v0.93.1 on one local API server (issue 15, point 1).

Both operators run as processes against the same kube-apiserver, each in its own namespace and
watching only it, with the same rule groups (500 objects of 2 rules each: AlertRules for AlertAgent,
PrometheusRules for prometheus-operator). AlertAgent runs at its product defaults (1 s debounce,
30 s health interval) with its sidecar next to a real Prometheus; prometheus-operator has a
`Prometheus` selecting every PrometheusRule and writes its `prometheus-main-rulefiles-N` ConfigMaps
(no kubelet here, so its StatefulSet never runs: both are measured up to the ConfigMap write).

Each run, on fresh namespaces and freshly started operators (the one going first alternates):
  1. bulk: 500 objects applied with `kubectl apply --server-side` → every rule in the ConfigMaps,
     the writes it caused (ConfigMaps, the rule objects), the operator's CPU until it is quiet;
  2. idle: CPU over a quiet period with the 500 objects present (and any writes);
  3. single changes, interleaved (AlertAgent, prometheus-operator, ...) every 2.7 s: one object's
     alert renamed → the new name in a ConfigMap (a watch, timestamped on arrival), and for
     AlertAgent → loaded in Prometheus (its rules API, polled every 50 ms); CPU and writes per change;
  4. peak RSS with child processes: the operator's VmHWM plus that of each child running then
     (AlertAgent's rule checker); the operator's own VmHWM; and the most RSS seen at once every 25 ms
     since ready, short-lived tool runs (amtool, promtool) included when a sample caught one; then a
     restart with nothing changed: SIGTERM, start again, time and CPU to ready, writes in the 15 s
     after the start;
  5. an API server restart: as soon as its /healthz answers, one object of each is changed; time
     from "server back" to the change in the ConfigMap.
Writes are the API server's audit log entries by each operator's user (see benchmarks/harness.py).
An operator's CPU includes its child processes, running (the rule checker) or done (promtool runs).

    .venv/bin/python -m benchmarks.bench_side_by_side --quick       (1 run, 8 changes: ~3 minutes)
    .venv/bin/python -m benchmarks.bench_side_by_side               (3 runs, 24 changes each)
    .venv/bin/python -m benchmarks.bench_side_by_side --alertagent-pythonpath /tmp/aa-baseline/operator
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import yaml

from alertagent.devstack.monitoring import RuleTarget, start_alertmanager, start_prometheus
from benchmarks.harness import (
    IMPORT_FLOOR,
    OPERATOR_IMPORTS,
    OPERATOR_USER,
    SIDECAR_USER,
    AlertAgent,
    ConfigMapWatch,
    Operator,
    PrometheusOperator,
    TestBed,
    Write,
    by_resource,
    changed_objects,
    compile_bytecode,
    cpu_seconds,
    env_pairs,
    groups,
    import_floor,
    loadavg,
    machine,
    machine_busy,
    namespaced_kinds,
    object_versions,
    own_cpu,
    prometheus_operator_binary,
    prometheus_operator_crds,
    quantile,
    start_sidecar,
    stopping,
    wait_for,
    wait_quiet,
)

OBJECTS, RULES_PER_OBJECT = 500, 2
SPACING = 2.7  # seconds between two changes (of either operator): not a divisor of the 30 s timers
RESTART_WINDOW = 15.0  # seconds after a restart in which writes are counted
RESTART_TIMEOUT = 180.0  # an operator not ready by then is recorded as such
AA, PO = "AlertAgent", "prometheus-operator"
SLOW = 1.5  # a single change slower than this (s) is listed with its time, to find it in the logs


@dataclass
class Side:
    """One operator in one run: where it works and what was measured."""

    name: str
    operator: Operator
    namespace: str
    api_version: str
    kind: str
    plural: str
    watch: ConfigMapWatch | None = None
    figures: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    loaded: list[float] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    slow: list[str] = field(default_factory=list)
    broken: str = ""  # why the operator could not be measured further in this run

    def path(self, i: int) -> str:
        group, version = self.api_version.split("/")
        return f"/apis/{group}/{version}/namespaces/{self.namespace}/{self.plural}/rule-{i:03d}"

    def manifest(self, i: int, first_alert: str) -> dict[str, Any]:
        meta = {"name": f"rule-{i:03d}"}
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": meta,
            "spec": {"groups": groups(i, first_alert)},
        }

    def mine(self, writes: list[Write]) -> list[Write]:
        return [w for w in writes if w.user == self.operator.user]

    def rule_writes(self, writes: list[Write]) -> list[Write]:
        return [w for w in self.mine(writes) if w.resource.split("/")[0] == self.plural]


@dataclass
class Run:
    number: int
    order: tuple[str, str]
    sides: dict[str, Side]
    background: str = ""


def alert_loaded(prometheus: RuleTarget, name: str) -> bool:
    return f'"name":"{name}"' in httpx.get(f"{prometheus.url}/api/v1/rules?type=alert", timeout=10).text


def bulk(bed: TestBed, side: Side, run: int) -> None:
    assert side.watch is not None
    manifest = bed.work / f"bulk-{side.kind}-{run}.yaml"
    manifest.write_text(yaml.safe_dump_all([side.manifest(i, f"Down{i}") for i in range(OBJECTS)]))
    expected = {f"Down{i}" for i in range(OBJECTS)} | {f"Slow{i}" for i in range(OBJECTS)}
    cpu, mark, watch_mark = side.operator.cpu(), bed.audit.mark(), side.watch.mark()
    started = time.monotonic()
    bed.kubectl("-n", side.namespace, "apply", "--server-side", "-f", str(manifest))
    client = time.monotonic() - started
    done = side.watch.wait_names(expected, 600) - started
    settle = wait_quiet(side.operator, bed.audit)
    writes = bed.audit.writes(mark)
    mine = side.mine(writes)
    side.figures.update(
        bulk_s=done,
        bulk_client_s=client,
        bulk_cpu=side.operator.cpu() - cpu,
        bulk_cm_writes=sum(1 for w in mine if w.resource == "configmaps" and w.name in side.watch.names()),
        bulk_all_cm_writes=sum(1 for w in mine if w.resource == "configmaps"),
        bulk_cm_events=side.watch.writes_since(watch_mark),
        bulk_rule_writes=len(side.rule_writes(writes)),
        bulk_writes=len(mine),
        shards=len(side.watch.data),
        bulk_settle_s=settle,
    )
    side.details["bulk writes"] = by_resource(mine)


def idle(bed: TestBed, sides: list[Side], seconds: float) -> None:
    cpu = {s.name: s.operator.cpu() for s in sides}
    mark, started = bed.audit.mark(), time.monotonic()
    time.sleep(seconds)
    elapsed, writes = time.monotonic() - started, bed.audit.writes(mark)
    for side in sides:
        side.figures["idle_cpu"] = (side.operator.cpu() - cpu[side.name]) / elapsed * 60
        side.figures["idle_writes"] = len(side.mine(writes))
        side.details["idle writes"] = by_resource(side.mine(writes))


def changes(bed: TestBed, run: Run, count: int, prometheus: RuleTarget) -> None:
    sides = [run.sides[name] for name in run.order]
    cpu = {s.name: s.operator.cpu() for s in sides}
    mark, started = bed.audit.mark(), time.monotonic()
    for k in range(2 * count):
        slot = started + k * SPACING
        time.sleep(max(0.0, slot - time.monotonic()))
        side, index = sides[k % 2], k // 2
        assert side.watch is not None
        i = (index * 37 + 11) % OBJECTS
        name = f"Chg{run.number}x{index:03d}"
        watch_mark = side.watch.mark()
        wall, sent = datetime.now().strftime("%H:%M:%S.%f")[:-3], time.monotonic()
        bed.api.merge_patch(side.path(i), {"spec": {"groups": groups(i, name)}})
        latency = side.watch.wait_text(name, watch_mark, 120) - sent
        side.latencies.append(latency)
        if latency > SLOW:
            side.slow.append(f"slow change {latency:.2f} s: rule-{i:03d} -> {name}, sent {wall}")
        if side.name == AA:
            wait_for(partial(alert_loaded, prometheus, name), 120, 0.05, f"{name} loaded in Prometheus")
            side.loaded.append(time.monotonic() - sent)
    for side in sides:  # the trailing work of the last changes (status writes) belongs to them
        side.figures["change_settle_s"] = wait_quiet(side.operator, bed.audit, 300)
    elapsed, writes = time.monotonic() - started, bed.audit.writes(mark)
    for side in sides:
        net = side.operator.cpu() - cpu[side.name] - side.figures["idle_cpu"] / 60 * elapsed
        side.figures.update(
            change_median=statistics.median(side.latencies),
            change_p95=quantile(side.latencies, 0.95),
            change_max=max(side.latencies),
            change_cpu=net / count,
            change_rule_writes=len(side.rule_writes(writes)) / count,
            change_writes=len(side.mine(writes)) / count,
        )
        side.details["writes for the changes"] = by_resource(side.mine(writes))
        if side.loaded:
            side.figures.update(loaded_median=statistics.median(side.loaded), loaded_p95=quantile(side.loaded, 0.95))


def restart(bed: TestBed, side: Side, kinds: str) -> None:
    wait_quiet(side.operator, bed.audit, 300)
    before = object_versions(bed, side.namespace, kinds)
    side.figures["peak_rss"] = side.operator.peak_rss_mib()
    side.figures["peak_rss_own"] = side.operator.own_peak_rss_mib()
    side.figures["peak_rss_sampled"] = side.operator.sampled_peak_rss_mib()
    side.details["peak RSS of each child process"] = side.operator.children_peaks() or "none running"
    mark = bed.audit.mark()
    side.operator.stop()
    at_stop = side.mine(bed.audit.writes(mark))
    mark = bed.audit.mark()
    try:
        started = side.operator.start(timeout=RESTART_TIMEOUT)
    except (TimeoutError, RuntimeError) as err:  # recorded, and the run goes on without this operator
        side.broken = f"not ready {RESTART_TIMEOUT:.0f} s after its restart: {str(err).splitlines()[0]}"
        side.slow.append(side.broken)
        return
    time.sleep(max(0.0, started.at + RESTART_WINDOW - time.monotonic()))
    writes = side.mine(bed.audit.writes(mark))
    changed = changed_objects(before, object_versions(bed, side.namespace, kinds))
    side.figures.update(
        restart_ready_s=started.seconds,
        restart_cpu=started.cpu,
        restart_disk_mib=started.disk_mib,
        restart_writes=len(writes),
        restart_changed=len(changed),
        stop_writes=len(at_stop),
    )
    side.details["restart writes"] = by_resource(writes)
    side.details["restart: objects changed"] = ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "") or "none"
    if at_stop:
        side.details["writes while stopping"] = by_resource(at_stop)


def apiserver_restart(bed: TestBed, run: Run) -> None:
    sides = [run.sides[name] for name in run.order if not run.sides[name].broken]
    marks = {s.name: s.watch.mark() for s in sides if s.watch}
    name, i = f"Api{run.number}x000", 499
    back = bed.restart_apiserver()
    back_wall = datetime.now()

    def patch(side: Side) -> bool:
        bed.api.merge_patch(side.path(i), {"spec": {"groups": groups(i, name)}})
        return True

    for side in sides:  # the API server may refuse the first requests: retried every 20 ms
        wait_for(partial(patch, side), 60, 0.02, "a patch after the API server restart")
    for side in sides:
        assert side.watch is not None
        try:
            side.figures["apiserver_s"] = latency = side.watch.wait_text(name, marks[side.name], 120) - back
        except TimeoutError:
            side.slow.append("API server restart: the change never reached the ConfigMap within 120 s")
            continue
        side.slow.append(
            f"API server restart: /healthz 200 at {back_wall:%H:%M:%S.%f}"[:-3]
            + f", change in the ConfigMap {latency:.2f} s later"
        )


def one_run(bed: TestBed, number: int, args: argparse.Namespace, po_binary: Path, kinds: str, am_url: str) -> Run:
    order = (AA, PO) if number % 2 else (PO, AA)
    namespaces = {AA: f"aa-{number}", PO: f"po-{number}"}
    for namespace in namespaces.values():
        bed.kubectl("create", "namespace", namespace)
    load_before, cp_before, busy_before, own_before = loadavg(), bed.control_plane_cpu(), machine_busy(), own_cpu(bed)
    began = time.monotonic()
    with stopping() as stack:
        prometheus = start_prometheus(bed.work)
        stack.append(prometheus)
        cluster = {
            "apiVersion": "alertagent.io/v1alpha1",
            "kind": "AlertmanagerCluster",
            "metadata": {"name": "main"},
            "spec": {
                "alertmanager": {"url": am_url, "reloadMode": "None"},
                "ruleEvaluators": [{"name": "prometheus", "type": "prometheus", "url": prometheus.url}],
            },
        }
        prom_cr = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": {"name": "main"},
            "spec": {"ruleSelector": {}, "ruleNamespaceSelector": {}},
        }
        bed.kubectl("-n", namespaces[AA], "apply", "-f", "-", input=yaml.safe_dump(cluster))
        bed.kubectl("-n", namespaces[PO], "apply", "-f", "-", input=yaml.safe_dump(prom_cr))
        aa = AlertAgent(
            bed.work,
            namespaces[AA],
            bed.kubeconfigs[OPERATOR_USER],
            args.alertagent_pythonpath,
            env=env_pairs(args.alertagent_env),
        )
        po = PrometheusOperator(bed.work, namespaces[PO], bed.plane, po_binary)
        run = Run(
            number,
            order,
            {
                AA: Side(AA, aa, namespaces[AA], "alertagent.io/v1alpha1", "AlertRule", "alertrules"),
                PO: Side(PO, po, namespaces[PO], "monitoring.coreos.com/v1", "PrometheusRule", "prometheusrules"),
            },
        )
        sidecar = start_sidecar(
            bed.work,
            namespaces[AA],
            "main",
            prometheus.rules_dir,
            prometheus.url,
            bed.kubeconfigs[SIDECAR_USER],
            args.alertagent_pythonpath,
        )
        stack.append(sidecar)
        for name in order:
            stack.append(run.sides[name].operator)
            run.sides[name].operator.start()
        selectors = {AA: "alertagent.io/component=rules", PO: "prometheus-name=main"}
        for name, side in run.sides.items():
            side.watch = ConfigMapWatch(bed.api, side.namespace, selectors[name])
            stack.append(side.watch)
        print(f"run {number}: {order[0]} first; bulk ...", flush=True)
        for name in order:
            bulk(bed, run.sides[name], number)
        print(f"run {number}: idle {args.idle_seconds:.0f} s ...", flush=True)
        idle(bed, [run.sides[name] for name in order], args.idle_seconds)
        print(f"run {number}: {args.changes} changes each ...", flush=True)
        changes(bed, run, args.changes, prometheus)
        print(f"run {number}: restarts ...", flush=True)
        for name in order:
            restart(bed, run.sides[name], kinds)
        print(f"run {number}: API server restart ...", flush=True)
        apiserver_restart(bed, run)
        cp_after = bed.control_plane_cpu()
        operators = sum(s.operator.total_cpu() for s in run.sides.values())
        helpers = cpu_seconds(sidecar.popen.pid) + cpu_seconds(prometheus.process.popen.pid)
    elapsed = time.monotonic() - began
    apiserver = cp_after.get("kube-apiserver", 0) - cp_before.get("kube-apiserver", 0)
    etcd = cp_after.get("etcd", 0) - cp_before.get("etcd", 0)
    busy, bench = machine_busy() - busy_before, own_cpu(bed) - own_before
    other = busy - apiserver - etcd - operators - helpers - bench
    run.background = (
        f"run {number} ({order[0]} first, {elapsed:.0f} s): loadavg {load_before} -> {loadavg()}; "
        f"CPU-s: kube-apiserver {apiserver:.1f}, etcd {etcd:.1f}, operators {operators:.1f}, "
        f"sidecar+Prometheus {helpers:.1f}, benchmark {bench:.1f}, other processes {other:.1f} "
        f"(machine busy {busy:.0f} CPU-s of {elapsed * (os.cpu_count() or 1):.0f})"
    )
    if other > 0.2 * elapsed:
        run.background += (
            f"\n  NOTE: high background load: other processes used {other / elapsed:.2f} cores on average "
            "during this run (read its figures with care)"
        )
    return run


# --- the report ---------------------------------------------------------------------------------

Target = tuple[str, float] | None
ROWS: list[tuple[str, str, str, Target]] = [
    ("change_median", "single change -> ConfigMap, median (s, 1,000 rules present)", "{:.2f}", ("ratio", 1.0)),
    ("change_p95", "single change -> ConfigMap, p95 (s)", "{:.2f}", ("ratio", 1.0)),
    ("change_max", "single change -> ConfigMap, max (s)", "{:.2f}", None),
    ("bulk_s", "500 objects applied -> all 1,000 rules in ConfigMaps (s)", "{:.1f}", ("ratio", 1.0)),
    ("bulk_client_s", "  of which kubectl apply itself (s)", "{:.1f}", None),
    ("bulk_settle_s", "  operator still busy after that for (s, until quiet)", "{:.1f}", None),
    ("bulk_cm_writes", "rule ConfigMap writes for the 500", "{:.0f}", ("per_shard", 2.0)),
    ("bulk_all_cm_writes", "  ConfigMap writes of any kind (with the service graph's)", "{:.0f}", None),
    ("shards", "  rule ConfigMaps (shards)", "{:.0f}", None),
    ("bulk_rule_writes", "writes to the rule objects for the 500", "{:.0f}", ("max", OBJECTS)),
    ("bulk_writes", "writes of any kind for the 500", "{:.0f}", None),
    ("bulk_cpu", "operator CPU for the 500 (CPU-s, until quiet)", "{:.2f}", ("ratio", 1.0)),
    ("change_cpu", "operator CPU per change (CPU-s, idle subtracted)", "{:.3f}", ("ratio", 1.0)),
    ("change_settle_s", "  after the last change, operator busy for (s)", "{:.1f}", None),
    ("change_rule_writes", "writes to the rule objects per change", "{:.2f}", ("max", 1.0)),
    ("change_writes", "writes of any kind per change", "{:.2f}", None),
    ("idle_cpu", "idle CPU with the 500 objects (CPU-s/min)", "{:.3f}", ("ratio", 1.0)),
    ("idle_writes", "writes while idle", "{:.0f}", ("max", 0.0)),
    ("peak_rss", "peak RSS (MiB, VmHWM, with running child processes)", "{:.0f}", ("ratio", 1.2)),
    ("peak_rss_own", "  of which the operator process alone", "{:.0f}", None),
    ("peak_rss_sampled", "  most RSS seen at once, tool runs included (every 25 ms)", "{:.0f}", None),
    (
        "restart_writes",
        f"restart, nothing changed: writes in {RESTART_WINDOW:.0f} s after start",
        "{:.0f}",
        ("max", 0.0),
    ),
    ("restart_changed", "  objects changed in the namespace (any writer)", "{:.0f}", ("max", 0.0)),
    ("stop_writes", "  writes while stopping (SIGTERM)", "{:.0f}", None),
    ("restart_ready_s", "restart: process start -> ready (s)", "{:.2f}", ("max", 1.5)),
    ("restart_cpu", "restart: CPU-s to ready", "{:.2f}", ("max", 1.5)),
    ("restart_disk_mib", "  MiB read from the disk to ready (the files a cold page cache lacked)", "{:.1f}", None),
    ("apiserver_s", "after an API server restart: change -> ConfigMap (s from /healthz 200)", "{:.2f}", ("max", 2.0)),
    ("loaded_median", "single change -> loaded in Prometheus, median (s)", "{:.2f}", None),
    ("loaded_p95", "single change -> loaded in Prometheus, p95 (s)", "{:.2f}", None),
]


def median_of(runs: list[Run], side: str, key: str) -> float | None:
    values = [r.sides[side].figures[key] for r in runs if key in r.sides[side].figures]
    return statistics.median(values) if values else None


def target_text(target: Target, shards: float | None) -> str:
    if target is None:
        return ""
    kind, value = target
    if kind == "ratio":
        return f"ratio <= {value:g}"
    if kind == "per_shard":
        return f"AA <= {value:g}/shard" + (f" ({value * shards:g})" if shards else "")
    return f"AA <= {value:g}"


def met(target: Target, aa: float | None, ratio: float | None, shards: float | None) -> str:
    if target is None or aa is None:
        return ""
    kind, value = target
    if kind == "ratio":
        return "" if ratio is None else ("yes" if ratio <= value else "NO")
    limit = value * (shards or 1) if kind == "per_shard" else value
    return "yes" if aa <= limit + 1e-9 else "NO"


def report(runs: list[Run], floor: tuple[float, float], args: argparse.Namespace, notes: list[str]) -> None:
    def fmt(spec: str, value: float | None) -> str:
        return "n/a" if value is None else spec.format(value)

    print("\n== per run (values of run 1, 2, ...) ==")
    for key, label, spec, _ in ROWS:
        cells = []
        for side in (AA, PO):
            values = [fmt(spec, r.sides[side].figures.get(key)) for r in runs]
            cells.append(f"{side} {' '.join(values)}")
        print(f"{label}: {' | '.join(cells)}")
    print("\n== background load ==")
    for run in runs:
        print(run.background)

    print("\n== details (last run) ==")
    last = runs[-1]
    for side in (AA, PO):
        for what, text in last.sides[side].details.items():
            print(f"{side}, {what}: {text}")
    for run in runs:
        for side in (AA, PO):
            for slow in run.sides[side].slow:
                print(f"run {run.number}, {side}: {slow} (log {run.sides[side].operator.log_path()})")

    shards = median_of(runs, AA, "shards")
    print(f"\n== medians of {len(runs)} run(s): AlertAgent / prometheus-operator ==")
    header = ("figure", "AlertAgent", "prometheus-operator", "ratio", "target", "met?")
    table = [header]
    for key, label, spec, target in ROWS:
        aa, po = median_of(runs, AA, key), median_of(runs, PO, key)
        shown_po = None if po is None else float(fmt(spec, po))
        ratio = aa / po if aa is not None and po and shown_po else None  # no ratio against a shown 0
        po_text = fmt(spec, po) if not key.startswith("loaded") else "n/a (see below)"
        table.append(
            (
                label,
                fmt(spec, aa),
                po_text,
                fmt("{:.2f}", ratio),
                target_text(target, shards),
                met(target, aa, ratio, shards),
            )
        )
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    for n, row in enumerate(table):
        print("| " + " | ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print(
        f"\nfloor: `python -c '{IMPORT_FLOOR}'` takes {floor[0]:.2f} s and "
        f"{floor[1]:.2f} CPU-s here (part of AlertAgent's restart figures)."
    )
    for note in notes:
        print(note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--changes", type=int, default=24, help="single changes per operator and run")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="1 run, 8 changes, 15 s idle")
    parser.add_argument("--alertagent-pythonpath", metavar="DIR", help="run AlertAgent's code from DIR (PYTHONPATH)")
    parser.add_argument(
        "--alertagent-env", action="append", metavar="KEY=VALUE", help="add to the operator's environment"
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep etcd's data too (logs are always kept)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.changes, args.idle_seconds = 1, 8, 15.0
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    code = args.alertagent_pythonpath or "the working tree (installed package)"
    if args.alertagent_env:
        code += f", environment added: {env_pairs(args.alertagent_env)} (not the product defaults)"
    print(f"machine: {machine()}; loadavg {loadavg()}")
    print(
        f"AlertAgent code: {code}; operator at product defaults (debounce 1.0 s, health interval 30 s), "
        "sidecar debounce 0.5 s; prometheus-operator v0.93.1"
    )
    print(
        f"{args.runs} run(s), {OBJECTS} objects x {RULES_PER_OBJECT} rules, {args.changes} changes per operator "
        f"every {2 * SPACING:.1f} s (interleaved, {SPACING} s apart), idle {args.idle_seconds:.0f} s; work dir {work}",
        flush=True,
    )
    print(compile_bytecode(args.alertagent_pythonpath), flush=True)
    po_binary = prometheus_operator_binary()
    crds = prometheus_operator_crds()
    floor = import_floor(args.alertagent_pythonpath)
    imports = import_floor(args.alertagent_pythonpath, statement=OPERATOR_IMPORTS)
    runs: list[Run] = []
    try:
        with stopping() as stack:
            bed = TestBed.start(work, crds)
            stack.append(bed)
            alertmanager = start_alertmanager(work)
            stack.append(alertmanager)
            kinds = namespaced_kinds(bed)
            for number in range(1, args.runs + 1):
                runs.append(one_run(bed, number, args, po_binary, kinds, alertmanager.url))
    finally:
        if not args.keep_workdir:
            shutil.rmtree(work / "etcd-data", ignore_errors=True)
    aa_ready = runs[0].sides[AA].operator
    notes = [
        f"ready: AlertAgent = {getattr(aa_ready, 'readiness', '/readyz')}; prometheus-operator = "
        f"{PrometheusOperator.readiness}.",
        "writes: write requests in the API server's audit log by the operator's own user (AlertAgent's "
        "sidecar is another user, not counted); an update that changes nothing still counts.",
        "prometheus-operator has no 'loaded in Prometheus' figure here: its config-reloader (and the "
        "StatefulSet it runs in) is not part of this comparison; AlertAgent's is through its sidecar "
        "to a real Prometheus.",
        f"imports: `python -c '{OPERATOR_IMPORTS}'` (the floor included) takes {imports[0]:.2f} s and "
        f"{imports[1]:.2f} CPU-s here.",
        f"logs: {work}",
    ]
    report(runs, floor, args, notes)


if __name__ == "__main__":
    main()
