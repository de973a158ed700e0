"""AlertAgent at scale (issue 15, point 3): up to 10,000 AlertRules (20,000 rules) in 200 namespaces,
50 per namespace, on the local test bed; each size on a fresh control plane, so growth can be seen.

For each size: the objects applied in chunks by 4 kubectl processes (`--server-side`; the client's
time is reported apart from the operator's catch-up) → every rule in the ConfigMaps; the writes it
caused (audit log, by the operator's user), its CPU until quiet; steady-state RSS and idle CPU; one
change → ConfigMap latency (median of `--changes`); a restart with nothing changed (time and CPU to
ready, writes). Then growth between sizes, per object, so super-linear costs show.

AlertAgent runs with `-A` at its product defaults; its evaluator is a real (idle) Prometheus with
`reloadMode: None` (the operator writes the ConfigMaps and stops there: no sidecar, and Prometheus
does not evaluate 20,000 rules on a 2-core machine during the measurement).
With `--with-prometheus-operator`, prometheus-operator v0.93.1 is measured the same way afterwards
(PrometheusRules with the same groups in the same namespaces, AlertAgent stopped by then).

    .venv/bin/python -m benchmarks.bench_scale --sizes 2500,10000
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alertagent.devstack.monitoring import start_alertmanager, start_prometheus
from benchmarks.harness import (
    OPERATOR_USER,
    AlertAgent,
    ConfigMapWatch,
    Operator,
    PrometheusOperator,
    TestBed,
    apply_parallel,
    by_resource,
    compile_bytecode,
    cpu_seconds,
    env_pairs,
    groups,
    loadavg,
    machine,
    machine_busy,
    own_cpu,
    prometheus_operator_binary,
    prometheus_operator_crds,
    stopping,
    wait_quiet,
)

PER_NAMESPACE = 50
CLUSTER_NAMESPACE = "monitoring"
RESTART_WINDOW = 15.0


@dataclass
class Subject:
    """One operator at one size."""

    name: str
    operator: Operator
    api_version: str
    kind: str
    plural: str
    cm_namespace: str
    selector: str
    figures: dict[str, float] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)

    def manifest(self, namespace: str, i: int, first_alert: str) -> dict[str, Any]:
        meta = {"name": f"rule-{i:05d}", "namespace": namespace}
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": meta,
            "spec": {"groups": groups(i, first_alert)},
        }

    def path(self, namespace: str, i: int) -> str:
        group, version = self.api_version.split("/")
        return f"/apis/{group}/{version}/namespaces/{namespace}/{self.plural}/rule-{i:05d}"


def namespace_of(i: int) -> str:
    return f"team-{i // PER_NAMESPACE:03d}"


def write_manifests(bed: TestBed, subject: Subject, size: int) -> list[Path]:
    """One file per namespace, PER_NAMESPACE objects each; object i's alerts are Down<i> and Slow<i>."""
    folder = bed.work / f"objects-{subject.kind}"
    folder.mkdir(exist_ok=True)
    files = []
    for start in range(0, size, PER_NAMESPACE):
        path = folder / f"{namespace_of(start)}.yaml"
        objects = [subject.manifest(namespace_of(i), i, f"Down{i}") for i in range(start, start + PER_NAMESPACE)]
        path.write_text(yaml.safe_dump_all(objects))
        files.append(path)
    return files


def bulk_apply(bed: TestBed, subject: Subject, watch: ConfigMapWatch, size: int, workers: int) -> None:
    op, files = subject.operator, write_manifests(bed, subject, size)
    expected = {f"Down{i}" for i in range(size)} | {f"Slow{i}" for i in range(size)}
    cpu, mark, started = op.cpu(), bed.audit.mark(), time.monotonic()
    client = apply_parallel(bed, files, workers)
    done = watch.wait_names(expected, 3600) - started
    settle = wait_quiet(op, bed.audit, 1800)
    mine = [w for w in bed.audit.writes(mark) if w.user == op.user]
    subject.figures.update(
        apply_s=done,
        client_s=client,
        catch_up_s=max(0.0, done - client),
        settle_s=settle,
        bulk_cpu=op.cpu() - cpu,
        cm_writes=sum(1 for w in mine if w.resource == "configmaps" and w.name in watch.names()),
        shards=len(watch.data),
        rule_writes=sum(1 for w in mine if w.resource.split("/")[0] == subject.plural),
        writes=len(mine),
    )
    subject.details["bulk writes"] = by_resource(mine)


def steady(bed: TestBed, subject: Subject, seconds: float) -> None:
    op = subject.operator
    cpu, mark, began = op.cpu(), bed.audit.mark(), time.monotonic()
    time.sleep(seconds)
    subject.figures.update(
        idle_cpu=(op.cpu() - cpu) / (time.monotonic() - began) * 60,
        idle_writes=sum(1 for w in bed.audit.writes(mark) if w.user == op.user),
        rss=op.rss_mib(),
        peak_rss=op.peak_rss_mib(),
    )


def single_changes(bed: TestBed, subject: Subject, watch: ConfigMapWatch, size: int, args: argparse.Namespace) -> None:
    op, latencies = subject.operator, []
    cpu, mark, began = op.cpu(), bed.audit.mark(), time.monotonic()
    for k in range(args.changes):
        time.sleep(max(0.0, began + k * args.spacing - time.monotonic()))
        i = (k * 7919 + 13) % size
        name = f"Chg{k:03d}"
        watch_mark, sent = watch.mark(), time.monotonic()
        bed.api.merge_patch(subject.path(namespace_of(i), i), {"spec": {"groups": groups(i, name)}})
        latencies.append(watch.wait_text(name, watch_mark, 600) - sent)
    settle = wait_quiet(op, bed.audit, 600)
    elapsed = time.monotonic() - began
    mine = [w for w in bed.audit.writes(mark) if w.user == op.user]
    subject.figures.update(
        change_median=statistics.median(latencies),
        change_max=max(latencies),
        change_settle_s=settle,
        change_cpu=(op.cpu() - cpu - subject.figures["idle_cpu"] / 60 * elapsed) / args.changes,
        change_writes=len(mine) / args.changes,
    )
    subject.details["writes for the changes"] = by_resource(mine)


def restart(bed: TestBed, subject: Subject) -> None:
    op = subject.operator
    mark = bed.audit.mark()
    op.stop()
    stop_writes = sum(1 for w in bed.audit.writes(mark) if w.user == op.user)
    mark = bed.audit.mark()
    again = op.start(timeout=1800)
    started_wall = time.time() - (time.monotonic() - again.at)
    quiet = wait_quiet(op, bed.audit, 1800)  # from ready
    time.sleep(max(0.0, again.at + RESTART_WINDOW - time.monotonic()))
    mine = [w for w in bed.audit.writes(mark) if w.user == op.user]
    subject.figures.update(
        stop_writes=stop_writes,
        restart_ready_s=again.seconds,
        restart_cpu=again.cpu,
        restart_writes_15s=sum(1 for w in mine if w.at <= started_wall + RESTART_WINDOW),
        restart_writes=len(mine),
        restart_busy_s=again.seconds + quiet,
        restart_rss=op.rss_mib(),
        restart_peak_rss=op.peak_rss_mib(),
    )
    subject.details["restart writes (until quiet)"] = by_resource(mine)


def measure(bed: TestBed, subject: Subject, size: int, args: argparse.Namespace) -> None:
    """Bulk apply, steady state, single changes and a restart of one operator at one size."""
    subject.operator.start(timeout=600)
    watch = ConfigMapWatch(bed.api, subject.cm_namespace, subject.selector)
    try:
        bulk_apply(bed, subject, watch, size, args.workers)
        steady(bed, subject, args.idle_seconds)
        single_changes(bed, subject, watch, size, args)
        restart(bed, subject)
    finally:
        watch.stop()
        subject.operator.stop()


ROWS: list[tuple[str, str, str, str]] = [
    # key, label, format, how it is normalised for growth ("object": per object, "": as is)
    ("apply_s", "apply -> all rules in ConfigMaps (s)", "{:.1f}", "object"),
    ("client_s", "  kubectl apply itself, 4 processes (s)", "{:.1f}", "object"),
    ("catch_up_s", "  operator catch-up after the client finished (s)", "{:.1f}", "object"),
    ("settle_s", "  then busy until quiet (s)", "{:.1f}", "object"),
    ("bulk_cpu", "operator CPU for the apply, until quiet (CPU-s)", "{:.1f}", "object"),
    ("cm_writes", "rule ConfigMap writes for the apply", "{:.0f}", ""),
    ("shards", "  rule ConfigMaps (shards)", "{:.0f}", ""),
    ("rule_writes", "writes to the rule objects for the apply", "{:.0f}", "object"),
    ("writes", "writes of any kind for the apply", "{:.0f}", "object"),
    ("rss", "steady-state RSS (MiB)", "{:.0f}", "object"),
    ("peak_rss", "peak RSS (MiB)", "{:.0f}", "object"),
    ("idle_cpu", "idle CPU (CPU-s/min)", "{:.3f}", "object"),
    ("idle_writes", "writes while idle", "{:.0f}", ""),
    ("change_median", "one change -> ConfigMap, median (s)", "{:.2f}", ""),
    ("change_max", "one change -> ConfigMap, max (s)", "{:.2f}", ""),
    ("change_cpu", "operator CPU per change, idle subtracted (CPU-s)", "{:.3f}", ""),
    ("change_writes", "writes per change", "{:.1f}", ""),
    ("restart_ready_s", "restart: process start -> ready (s)", "{:.1f}", "object"),
    ("restart_cpu", "restart: CPU-s to ready", "{:.1f}", "object"),
    ("restart_writes_15s", f"restart: writes in {RESTART_WINDOW:.0f} s after start", "{:.0f}", ""),
    ("restart_writes", "restart: writes until quiet", "{:.0f}", ""),
    ("restart_busy_s", "restart: process start -> quiet (s)", "{:.1f}", "object"),
    ("restart_rss", "  RSS after the restart, once quiet (MiB)", "{:.0f}", "object"),
    ("restart_peak_rss", "  peak RSS of the restarted process (MiB)", "{:.0f}", "object"),
    ("stop_writes", "writes while stopping (SIGTERM)", "{:.0f}", ""),
]


def report(results: dict[int, list[Subject]]) -> None:
    sizes = sorted(results)
    names = [s.name for s in results[sizes[0]]]
    for name in names:
        by_size = {size: next(s for s in results[size] if s.name == name) for size in sizes}
        print(f"\n== {name}: sizes {', '.join(f'{n:,} objects ({2 * n:,} rules)' for n in sizes)} ==")
        header = ("figure", *[f"{n:,}" for n in sizes], *[f"per 1,000 objects @{n:,}" for n in sizes])
        table = [header]
        for key, label, spec, norm in ROWS:
            values = [by_size[n].figures.get(key) for n in sizes]
            cells = ["n/a" if v is None else spec.format(v) for v in values]
            per = [
                "" if v is None or norm != "object" else f"{v / n * 1000:.3g}"
                for v, n in zip(values, sizes, strict=True)
            ]
            table.append((label, *cells, *per))
        widths = [max(len(row[c]) for row in table) for c in range(len(header))]
        for n, row in enumerate(table):
            print("| " + " | ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)) + " |")
            if n == 0:
                print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        if len(sizes) > 1:
            first, last = sizes[0], sizes[-1]
            factor = last / first
            print(f"\ngrowth {first:,} -> {last:,} objects (x{factor:g}); per-object cost ratio > 1.3 is super-linear:")
            for key, label, _spec, norm in ROWS:
                a, b = by_size[first].figures.get(key), by_size[last].figures.get(key)
                if norm != "object" or not a or b is None:
                    continue
                ratio = b / a
                flag = "  <- super-linear" if ratio / factor > 1.3 else ""
                print(f"  {label.strip()}: x{ratio:.2f} (per object x{ratio / factor:.2f}){flag}")
        for size in sizes:
            for what, text in by_size[size].details.items():
                print(f"{name} @{size:,}, {what}: {text}")


def setup(
    bed: TestBed,
    stack: list[Any],
    work: Path,
    args: argparse.Namespace,
    po_binary: Path | None,
    alertmanager_url: str,
    prometheus_url: str,
) -> list[Subject]:
    """The AlertmanagerCluster (and Prometheus) objects, and the operators to measure (not started)."""
    evaluator = {"name": "prometheus", "type": "prometheus", "url": prometheus_url, "reloadMode": "None"}
    cluster = {
        "apiVersion": "alertagent.io/v1alpha1",
        "kind": "AlertmanagerCluster",
        "metadata": {"name": "main"},
        "spec": {
            "alertmanager": {"url": alertmanager_url, "reloadMode": "None"},
            "ruleEvaluators": [evaluator],
        },
    }
    bed.kubectl("-n", CLUSTER_NAMESPACE, "apply", "-f", "-", input=yaml.safe_dump(cluster))
    aa = AlertAgent(
        work,
        "*",
        bed.kubeconfigs[OPERATOR_USER],
        args.alertagent_pythonpath,
        CLUSTER_NAMESPACE,
        env_pairs(args.alertagent_env),
    )
    stack.append(aa)
    subjects = [
        Subject(
            "AlertAgent",
            aa,
            "alertagent.io/v1alpha1",
            "AlertRule",
            "alertrules",
            CLUSTER_NAMESPACE,
            "alertagent.io/component=rules",
        )
    ]
    if po_binary is not None:
        prom_cr = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": {"name": "main"},
            "spec": {"ruleSelector": {}, "ruleNamespaceSelector": {}},
        }
        bed.kubectl("-n", f"{CLUSTER_NAMESPACE}-po", "apply", "-f", "-", input=yaml.safe_dump(prom_cr))
        po = PrometheusOperator(work, "*", bed.plane, po_binary)
        stack.append(po)
        subjects.append(
            Subject(
                "prometheus-operator",
                po,
                "monitoring.coreos.com/v1",
                "PrometheusRule",
                "prometheusrules",
                f"{CLUSTER_NAMESPACE}-po",
                "prometheus-name=main",
            )
        )
    return subjects


def background(size: int, began: float, load: float | str, busy: float, bed: TestBed, bench: float, ours: float) -> str:
    """The run's background load: loadavg, CPU-s of the control plane, the benchmark, the operators
    and helpers (`ours`), and of every other process on the machine."""
    cp, elapsed, busy = bed.control_plane_cpu(), time.monotonic() - began, machine_busy() - busy
    other = busy - sum(cp.values()) - bench - ours
    text = (
        f"size {size:,}: {elapsed:.0f} s; loadavg {load} -> {loadavg()}; CPU-s: kube-apiserver "
        f"{cp.get('kube-apiserver', 0):.0f}, etcd {cp.get('etcd', 0):.0f}, benchmark {bench:.0f}, operators and "
        f"Prometheus/Alertmanager {ours:.0f}, other processes {other:.0f} (machine busy {busy:.0f} CPU-s of "
        f"{elapsed * (os.cpu_count() or 1):.0f})"
    )
    if other > 0.2 * elapsed:
        text += f"\n  NOTE: high background load ({other / elapsed:.2f} cores used by other processes): read with care"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2500,5000,10000", help="numbers of AlertRules, comma-separated")
    parser.add_argument("--changes", type=int, default=10, help="single changes per size")
    parser.add_argument("--spacing", type=float, default=3.0, help="seconds between two changes")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=4, help="kubectl processes applying at once")
    parser.add_argument("--alertagent-pythonpath", metavar="DIR", help="run AlertAgent's code from DIR (PYTHONPATH)")
    parser.add_argument(
        "--alertagent-env", action="append", metavar="KEY=VALUE", help="add to the operator's environment"
    )
    parser.add_argument("--with-prometheus-operator", action="store_true", help="measure prometheus-operator too")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"machine: {machine()}; loadavg {loadavg()}")
    print(
        f"AlertAgent code: {args.alertagent_pythonpath or 'the working tree (installed package)'}; "
        f"environment added: {env_pairs(args.alertagent_env) or 'none (product defaults)'}",
        flush=True,
    )
    print(compile_bytecode(args.alertagent_pythonpath), flush=True)
    po_binary = prometheus_operator_binary() if args.with_prometheus_operator else None
    crds = prometheus_operator_crds() if args.with_prometheus_operator else None
    results: dict[int, list[Subject]] = {}
    for size in sizes:
        work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
        namespaces = sorted({namespace_of(i) for i in range(size)})
        print(f"size {size:,}: {len(namespaces)} namespaces, work dir {work} ...", flush=True)
        load, busy = loadavg(), machine_busy()
        began = time.monotonic()
        try:
            with stopping() as stack:
                bed = TestBed.start(work, crds)
                stack.append(bed)
                alertmanager, prometheus = start_alertmanager(work), start_prometheus(work)
                stack += [alertmanager, prometheus]
                own = own_cpu(bed)
                all_ns = [CLUSTER_NAMESPACE, f"{CLUSTER_NAMESPACE}-po", *namespaces]
                items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in all_ns]
                ns_list = {"apiVersion": "v1", "kind": "List", "items": items}
                bed.kubectl("apply", "-f", "-", input=yaml.safe_dump(ns_list))
                subjects = setup(bed, stack, work, args, po_binary, alertmanager.url, prometheus.url)
                for subject in subjects:
                    measure(bed, subject, size, args)
                    print(f"size {size:,}: {subject.name} done", flush=True)
                results[size] = subjects
                helpers = cpu_seconds(prometheus.process.popen.pid) + cpu_seconds(alertmanager.process.popen.pid)
                operators = sum(s.operator.total_cpu() for s in subjects)
                print(background(size, began, load, busy, bed, own_cpu(bed) - own, operators + helpers), flush=True)
        finally:
            shutil.rmtree(work / "etcd-data", ignore_errors=True)
    report(results)


if __name__ == "__main__":
    main()
