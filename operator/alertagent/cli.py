"""The `alertagent` command line."""

from __future__ import annotations

import argparse
import difflib
import gc
import json
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .common import readahead
from .manifests import ManifestError, load_manifests

if TYPE_CHECKING:
    from .clients.kube import Kube
    from .discovery.snapshot import Graph

EXIT_INVALID, EXIT_USAGE = 1, 2


def _on_cluster(work: Callable[[Kube], int]) -> int:
    """Run `work` with a client of the current cluster (in-cluster, else the kubeconfig). The expected
    failures print one line to stderr, never a traceback: no cluster (exit 2), and an API server that
    cannot be reached or refuses a request (exit 1)."""
    from urllib3.exceptions import HTTPError, InsecureRequestWarning  # noqa: PLC0415 - only cluster commands

    from .clients.connection import ApiError  # noqa: PLC0415
    from .clients.startup import StartupError, connect, describe  # noqa: PLC0415

    # One line per failure: urllib3's "Retrying ..." log lines and its warning about a kubeconfig that
    # skips TLS verification (the user's choice) would add more.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    warnings.simplefilter("ignore", InsecureRequestWarning)
    try:
        kube = connect()
    except StartupError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    try:
        return work(kube)
    except (ApiError, HTTPError) as err:
        print(f"error: {describe(err, kube.connection.server)}", file=sys.stderr)
        return EXIT_INVALID


def _crds(args: argparse.Namespace) -> int:
    # Imported here: every model and their schema code (~0.2 s) is more than `--help` should pay.
    from .api.crd import all_crd_files  # noqa: PLC0415

    files = all_crd_files()
    if args.output is None:
        sys.stdout.write("---\n".join(files[name] for name in sorted(files)))
        return 0
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items()):
        (out / name).write_text(text)
        print(f"wrote {out / name}")
    return 0


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


def _render(args: argparse.Namespace) -> int:
    unreadable: list[str] = []  # a file that does not parse fails the gate (kubectl would stop at it)
    try:
        objects = load_manifests(args.file, namespace=args.namespace, warn=_warn, unreadable=unreadable.append)
    except ManifestError as err:
        print("\n".join(f"error: {line}" for line in [*unreadable, str(err)]), file=sys.stderr)
        return EXIT_USAGE
    # Imported here: the models and renderers (~0.2 s) are more than `--help` should pay.
    from .clients.rulecheck import RuleChecks  # noqa: PLC0415
    from .clients.tools import amtool_check  # noqa: PLC0415
    from .plans.offline import render_manifests  # noqa: PLC0415

    result = render_manifests(objects, check_config=amtool_check, check_rules=RuleChecks())
    out = Path(args.output)
    for relative, text in sorted(result.files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for report in result.reports:
        if not report.valid:
            print(f"{report.kind} {report.namespace}/{report.name}: {'; '.join(report.errors)}")
        for warning in report.warnings:
            print(f"warning: {report.kind} {report.namespace}/{report.name}: {warning}", file=sys.stderr)
    if args.report_json:
        report_doc = {"objects": [r.as_json() for r in result.reports]}
        Path(args.report_json).write_text(json.dumps(report_doc, indent=2, sort_keys=True) + "\n")
    for line in unreadable:
        print(f"error: {line}", file=sys.stderr)
    print(f"rendered {len(result.files)} files from {len(result.reports)} objects into {out}", file=sys.stderr)
    return 0 if result.all_valid and not unreadable else EXIT_INVALID


def _convert(args: argparse.Namespace) -> int:
    from .convert import convert_manifests  # noqa: PLC0415 - only this command needs it

    unreadable: list[str] = []
    try:
        objects = load_manifests(args.file, namespace=args.namespace, warn=unreadable.append)
    except ManifestError as err:
        objects, unreadable = [], [*unreadable, str(err)]
    result = convert_manifests(objects)
    if args.output is None:
        sys.stdout.write(result.yaml())
    else:
        for relative, text in result.files().items():
            path = Path(args.output) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for line in [*result.report_lines(), *(f"error: {u}" for u in unreadable)]:
        print(line, file=sys.stderr)
    return EXIT_USAGE if unreadable else 0 if result.all_mapped else EXIT_INVALID


def _run(args: argparse.Namespace) -> int:
    # Everything the start allocates (modules, then the first listing's objects) lives as long as the
    # process: the collector walking it again and again was about a sixth of a restart. `operator.run`
    # turns it on again once every cluster has reconciled (`operator.collect_when_primed`).
    gc.disable()
    readahead.start()  # the files the imports below read, asked of the disk at once
    try:
        return _start(args)
    finally:
        gc.enable()


def _start(args: argparse.Namespace) -> int:
    from .clients.startup import StartupError  # noqa: PLC0415
    from .operator import lease_options, run  # noqa: PLC0415 - Kopf is only needed for this command
    from .settings import Settings  # noqa: PLC0415

    if args.webhook_port and not (args.webhook_cert and args.webhook_key):
        print("error: --webhook-port needs --webhook-cert and --webhook-key", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = Settings.from_environ(
            namespaces=() if args.all_namespaces else tuple(args.namespace or ()),
            http_port=args.http_port,
            metrics_port=args.metrics_port,
            debounce_seconds=args.debounce,
            log_format=args.log_format,
            discovery=False if args.no_discovery else None,
            network_policies_enforced=True if args.network_policies_enforced else None,
            operator_namespace=args.operator_namespace,
            webhook_port=args.webhook_port,
            webhook_host=args.webhook_host if args.webhook_port else None,
            webhook_cert=args.webhook_cert,
            webhook_key=args.webhook_key,
            webhook_ca=args.webhook_ca,
            leader_elect=True if args.leader_elect else None,
            leader_election_id=args.leader_election_id,
            leader_election_namespace=args.leader_election_namespace,
            lease_duration_seconds=args.lease_duration,
            renew_deadline_seconds=args.renew_deadline,
            retry_period_seconds=args.retry_period,
        )
        if settings.leader_elect:
            lease_options(settings)  # the timings must hold together
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        run(settings)
    except StartupError as err:  # no cluster, a port taken, the API server unreachable or refusing
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


def _graph(args: argparse.Namespace) -> int:
    from .discovery.confidence import EdgeSelection  # noqa: PLC0415
    from .discovery.graph import ServiceGraph  # noqa: PLC0415

    if args.live:
        return _on_cluster(lambda kube: _live_graph(kube, args))
    try:
        objects = load_manifests(args.file, namespace=args.namespace, warn=_warn)
    except ManifestError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    selection = EdgeSelection(enforce_network_policies=args.network_policies_enforced)
    graph = ServiceGraph.from_objects(objects).snapshot(selection)
    return _print_graph(graph, args)


def _live_graph(kube: Kube, args: argparse.Namespace) -> int:
    from .clients.graph import read_live_graph  # noqa: PLC0415 - needs the Kubernetes client
    from .discovery.snapshot import Graph  # noqa: PLC0415

    try:
        graph = Graph.from_json(json.loads(read_live_graph(kube, args.namespace)))
    except LookupError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
    return _print_graph(graph, args)


def _print_graph(graph: Graph, args: argparse.Namespace) -> int:
    from .discovery.explain import explain  # noqa: PLC0415
    from .discovery.export import render  # noqa: PLC0415

    if args.explain:
        try:
            sys.stdout.write(explain(graph, *args.explain))
        except LookupError as err:
            print(f"error: {err.args[0]}", file=sys.stderr)
            return EXIT_USAGE
        return 0
    sys.stdout.write(render(graph, args.format))
    sys.stdout.flush()  # the summary below goes to stderr: keep the two apart on a terminal
    print(
        f"{len(graph.nodes)} nodes, {len(graph.edges)} edges ({sum(map(graph.selected, graph.edges))} selected), "
        f"{len(graph.unresolved)} unresolved addresses, {len(graph.cycles)} cycles",
        file=sys.stderr,
    )
    return 0


def _rules(args: argparse.Namespace) -> int:
    return _on_cluster(lambda kube: _rules_on(kube, args))


def _rules_on(kube: Kube, args: argparse.Namespace) -> int:
    from .clients import revisions  # noqa: PLC0415 - only cluster commands need it

    try:
        history = revisions.list_revisions(kube, args.namespace, args.name)
        if args.rules_command == "history":
            if not history:
                print(f"AlertRule {args.namespace}/{args.name} has no revisions", file=sys.stderr)
                return 1
            print(f"{'REVISION':<10}{'CREATED':<27}{'GROUPS':<8}{'RULES':<7}SPEC HASH")
            for rev in history:
                groups = rev.spec.get("groups") or []
                rules = sum(len(g.get("rules") or []) for g in groups)
                print(f"{rev.revision:<10}{rev.created:<27}{len(groups):<8}{rules:<7}{rev.spec_hash}")
            return 0
        if args.rules_command == "diff":
            by_number = {r.revision: r for r in history}
            missing = [n for n in (args.from_, args.to) if n not in by_number]
            if missing:
                print(f"error: AlertRule {args.namespace}/{args.name} has no revision {missing[0]}", file=sys.stderr)
                return EXIT_USAGE
            old, new = (
                yaml.safe_dump(by_number[n].spec, sort_keys=True).splitlines(keepends=True)
                for n in (args.from_, args.to)
            )
            sys.stdout.writelines(difflib.unified_diff(old, new, f"revision {args.from_}", f"revision {args.to}"))
            return 0
        target = revisions.rollback(kube, args.namespace, args.name, args.to)
        print(f"alertrule.alertagent.io/{args.name} rolled back to revision {target.revision}")
        return 0
    except LookupError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _demo(args: argparse.Namespace) -> int:
    from .devstack.demo import REPO_EXAMPLES, run_demo  # noqa: PLC0415 - only the demo starts a local stack

    examples = Path(args.examples) if args.examples else REPO_EXAMPLES
    if not examples.is_dir():
        print(f"error: no examples folder at {examples} (pass --examples DIR)", file=sys.stderr)
        return EXIT_USAGE
    return run_demo(examples, exit_after_incident=args.exit_after_incident, keep_workdir=args.keep_workdir)


def _gateway(args: argparse.Namespace) -> int:
    from .gateway.delivery import Options  # noqa: PLC0415 - only this command runs the gateway
    from .gateway.ratelimit import Window  # noqa: PLC0415
    from .gateway.server import Config, GatewayStartupError, parse_listen, run  # noqa: PLC0415

    try:
        host, port = parse_listen(args.listen)
        overrides: dict[str, tuple[Window, ...]] = {}
        for spec in args.rate_limit or ():
            kind, _, rate = spec.partition("=")
            count, _, seconds = rate.partition("/")
            if kind not in ("dingtalk", "wecom", "feishu") or not count.isdigit() or int(count) < 1:
                raise ValueError(f"--rate-limit {spec!r}: use TYPE=COUNT/SECONDS, e.g. dingtalk=20/60")
            overrides[kind] = (*overrides.get(kind, ()), Window(int(count), float(seconds or 60)))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    options = Options(
        queue_max=args.queue_max,
        backoff_base=args.backoff_base,
        backoff_max=args.backoff_max,
        config_error_retry=args.config_error_retry,
        rate_overrides=overrides,
        poll_interval=args.poll_interval,
    )
    config = Config(
        channels_files=[Path(p) for p in args.channels_file],
        host=host,
        port=port,
        store=args.store,
        redis_url=args.redis_url,
        db=Path(args.db),
        durable=args.durable,
        shutdown_grace=args.shutdown_grace,
        options=options,
        incidents=not args.no_incidents,
        kubeconfig=args.kubeconfig,
        # unset: $POD_NAME / $POD_NAMESPACE (the chart sets them), else the host name and pid
        **{k: v for k, v in (("pod_name", args.pod_name), ("pod_namespace", args.pod_namespace)) if v},
    )
    try:
        run(config)
    except GatewayStartupError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one flat list of subcommands
    parser = argparse.ArgumentParser(prog="alertagent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    crds = commands.add_parser("crds", help="print the CustomResourceDefinitions (or write them to a folder)")
    crds.add_argument("-o", "--output", metavar="DIR", help="write one file per CRD into DIR")
    crds.set_defaults(func=_crds)

    render = commands.add_parser(
        "render",
        help="render what the operator would write for the AlertmanagerClusters in manifests (offline, for CI "
        "and GitOps checks)",
        description="Writes OUTDIR/<cluster-namespace>/<cluster>/<evaluator>/<rule-namespace>_<rule>.yaml for every "
        "valid AlertRule each AlertmanagerCluster selects, and OUTDIR/<cluster-namespace>/<cluster>/alertmanager.yaml "
        "from its NotificationChannels and SuppressionPolicies, with the operator's own renderer. Services, Ingresses, "
        "ConfigMaps, Deployments, StatefulSets and DaemonSets in the same input build the service dependency graph "
        "(as the operator's discovery does) that dependencySuppression turns into inhibit rules. "
        "Exit 0: all valid; 1: some invalid; 2: usage error.",
    )
    render.add_argument(
        "-f",
        "--file",
        action="append",
        required=True,
        metavar="PATH",
        help="YAML file or folder (recursive, multi-document): AlertAgent objects, Namespaces, Secrets and the "
        "application manifests; repeatable. Files that hold no Kubernetes object (Chart.yaml, values.yaml, "
        "unrendered templates) are skipped with a warning",
    )
    render.add_argument(
        "-n",
        "--namespace",
        metavar="NS",
        help="namespace of the objects that carry none, as kubectl apply -n (default: default); objects with "
        "their own namespace keep it",
    )
    render.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder to write the files into")
    render.add_argument("--report-json", metavar="FILE", help="also write a JSON report of every object")
    render.set_defaults(func=_render)

    convert = commands.add_parser(
        "convert",
        help="convert prometheus-operator PrometheusRules and AlertmanagerConfigs into AlertAgent objects",
        description="PrometheusRule (monitoring.coreos.com/v1) becomes an AlertRule; AlertmanagerConfig "
        "(v1alpha1, v1beta1) becomes NotificationChannels (one per receiver integration) and a SuppressionPolicy "
        "(time intervals, inhibit rules). The objects go to stdout as multi-document YAML (or -o DIR), sorted; "
        "every field that does not map goes to stderr as `<kind> <ns>/<name>: <field path>: <reason>`. "
        "Exit 0: all mapped; 1: something did not map (the rest is still written); 2: unreadable input.",
    )
    convert.add_argument(
        "-f",
        "--file",
        action="append",
        required=True,
        metavar="PATH",
        help="YAML or JSON file, folder (recursive: *.yaml, *.yml, *.json) or - for stdin; repeatable",
    )
    convert.add_argument("-n", "--namespace", metavar="NS", help="namespace of objects without one (default: default)")
    convert.add_argument("-o", "--output", metavar="DIR", help="write DIR/<namespace>/<kind>-<name>.yaml instead")
    convert.set_defaults(func=_convert)

    rules = commands.add_parser("rules", help="revision history, diff and rollback of an AlertRule (against a cluster)")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    history = rules_commands.add_parser("history", help="list the revisions of an AlertRule")
    diff = rules_commands.add_parser("diff", help="show how two revisions differ")
    diff.add_argument("--from", dest="from_", type=int, required=True, metavar="A", help="older revision")
    diff.add_argument("--to", type=int, required=True, metavar="B", help="newer revision")
    rollback = rules_commands.add_parser("rollback", help="restore the spec of an earlier revision")
    rollback.add_argument("--to", type=int, required=True, metavar="N", help="revision to restore")
    for sub in (history, diff, rollback):
        sub.add_argument("name", help="AlertRule name")
        sub.add_argument("-n", "--namespace", default="default", help="namespace (default: default)")
        sub.set_defaults(func=_rules)

    graph = commands.add_parser(
        "graph", help="print the service dependency graph of manifests (-f) or of the running cluster (--live)"
    )
    source = graph.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "-f",
        "--file",
        action="append",
        metavar="PATH",
        help="YAML file or folder (recursive, repeatable), read as kubectl apply -f reads it; files that hold no "
        "Kubernetes object (Chart.yaml, values.yaml, unrendered templates) are skipped with a warning",
    )
    source.add_argument("--live", action="store_true", help="read the graph the operator published (kubeconfig)")
    graph.add_argument("--format", choices=["json", "dot", "mermaid"], default="json", help="output (default json)")
    graph.add_argument(
        "-n",
        "--namespace",
        metavar="NS",
        help="with -f: namespace of the objects that carry none, as kubectl apply -n (default: default; objects "
        "with their own namespace keep it); with --live: the operator's namespace (default: found by label)",
    )
    graph.add_argument(
        "--explain",
        nargs=2,
        metavar=("FROM", "TO"),
        help="why there is (or is not) an edge FROM -> TO: its evidence, confidence, class, NetworkPolicy "
        "verdict and whether dependency suppression uses it (node ids, or Service names when unambiguous)",
    )
    graph.add_argument(
        "--network-policies-enforced",
        action="store_true",
        help="with -f: NetworkPolicies are enforced, so edges they forbid are not selected (as the operator's flag)",
    )
    graph.set_defaults(func=_graph)

    run = commands.add_parser("run", help="run the operator (Kopf) against the current kubeconfig or in-cluster")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    run.add_argument("--http-port", type=int, help="/healthz and /api/v1/graph on :PORT (default 8080)")
    run.add_argument("--metrics-port", type=int, help="Prometheus metrics at :PORT/metrics (default 8081)")
    run.add_argument("--debounce", type=float, metavar="SECONDS", help="coalesce changes for this long (default 1)")
    run.add_argument("--log-format", choices=["json", "plain"], help="log format (default json)")
    run.add_argument("--no-discovery", action="store_true", help="do not build the service dependency graph")
    run.add_argument(
        "--network-policies-enforced",
        action="store_true",
        help="the network plugin enforces NetworkPolicies: graph edges they forbid leave suppression and cycles",
    )
    run.add_argument(
        "--operator-namespace",
        metavar="NS",
        help="where the service graph is published (default: $POD_NAMESPACE or in-cluster)",
    )
    hook = run.add_argument_group("admission webhook (optional: rejects invalid AlertRules at apply time)")
    hook.add_argument("--webhook-port", type=int, help="serve the validating webhook on this port")
    hook.add_argument(
        "--webhook-host", default="127.0.0.1", help="host name the API server calls (cert SAN; with --webhook-ca)"
    )
    hook.add_argument("--webhook-cert", help="serving certificate (PEM)")
    hook.add_argument("--webhook-key", help="serving key (PEM)")
    hook.add_argument(
        "--webhook-ca",
        help="CA of the serving certificate: with it the operator creates and keeps the ValidatingWebhookConfiguration "
        "alertagent.io (its caBundle) itself (dev, demo); without it, it only serves TLS and the configuration is "
        "managed elsewhere (the Helm chart)",
    )
    elect = run.add_argument_group(
        "leader election (several replicas: only the holder of a coordination.k8s.io/v1 Lease writes)"
    )
    elect.add_argument(
        "--leader-elect", action="store_true", help="stand by until this replica holds the Lease, then operate"
    )
    elect.add_argument("--leader-election-id", metavar="NAME", help="the Lease's name (default alertagent)")
    elect.add_argument(
        "--leader-election-namespace",
        metavar="NS",
        help="the Lease's namespace (default: the operator's, $POD_NAMESPACE or in-cluster)",
    )
    elect.add_argument(
        "--lease-duration",
        type=float,
        metavar="SECONDS",
        help="a standby takes over a Lease not renewed for this long (default 15)",
    )
    elect.add_argument(
        "--renew-deadline",
        type=float,
        metavar="SECONDS",
        help="a leader that could not renew for this long exits (default 10)",
    )
    elect.add_argument(
        "--retry-period", type=float, metavar="SECONDS", help="renew, and try to acquire, this often (default 2)"
    )
    run.set_defaults(func=_run)

    demo = commands.add_parser(
        "demo",
        help="run AlertAgent on a real local stack (control plane, Prometheus, Alertmanager, vmalert) with the "
        "examples and a scripted incident, until Ctrl-C",
        description="Needs the binaries ./demo.sh (or tests/run.sh) sets up. Starts everything on free loopback "
        "ports in a temporary folder, applies the examples with local URLs filled in, takes the example shop's "
        "database down and prints every notification that arrives. Ctrl-C stops every process and removes the "
        "folder.",
    )
    demo.add_argument("--examples", metavar="DIR", help="the examples to apply (default: the repository's)")
    demo.add_argument(
        "--exit-after-incident",
        action="store_true",
        help="exit once the scripted incident was observed, with a `demo-result: {json}` line (for tests)",
    )
    demo.add_argument("--keep-workdir", action="store_true", help="keep the temporary folder (logs) on exit")
    demo.set_defaults(func=_demo)

    _gateway_parser(commands)
    _incidents_parser(commands)
    return parser


def _incidents(args: argparse.Namespace) -> int:
    return _on_cluster(lambda kube: _incidents_on(kube, args))


def _incidents_on(kube: Kube, args: argparse.Namespace) -> int:
    from .api.base import GROUP, VERSION  # noqa: PLC0415
    from .incidents.present import incident_report, incident_table  # noqa: PLC0415

    base = f"/apis/{GROUP}/{VERSION}"
    if args.incidents_command == "show":
        namespace = args.namespace
        found = kube.get_object("incidents", namespace, args.name)
        if found is None:
            print(f"error: incident {namespace}/{args.name} not found", file=sys.stderr)
            return EXIT_INVALID
        sys.stdout.write(incident_report(found))
        return 0
    scope = "" if args.all_namespaces else f"/namespaces/{args.namespace}"
    items = (kube.request("GET", f"{base}{scope}/incidents") or {}).get("items") or []
    if args.state:
        items = [i for i in items if (i.get("status") or {}).get("state") == args.state]
    if not items:
        print("no incidents", file=sys.stderr)
        return 0
    sys.stdout.write(incident_table(items))
    return 0


def _incidents_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    incidents = commands.add_parser(
        "incidents", help="list the incidents (cascading outages) or show one with its impacted services as a tree"
    )
    which = incidents.add_subparsers(dest="incidents_command", required=True, metavar="COMMAND")
    listing = which.add_parser("list", help="one line per incident, newest first")
    scope = listing.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", default="default", help="this namespace (default: default)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    listing.add_argument("--state", choices=["Firing", "Resolved"], help="only incidents in this state")
    show = which.add_parser("show", help="one incident: root, impacted services as a tree, timeline")
    show.add_argument("name")
    show.add_argument("-n", "--namespace", default="default", help="its namespace (default: default)")
    incidents.set_defaults(func=_incidents)


def _gateway_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gw = commands.add_parser(
        "gateway",
        help="run the gateway: Alertmanager's webhook in, DingTalk, WeCom and Feishu/Lark robots out",
        description="Receives Alertmanager's webhook for each dingtalk, wecom and feishu channel, persists it "
        "(SQLite, replayed on start), and delivers it to the robot at its rate limit, signed, split and retried. "
        "Channels come from the channels files the operator writes (a Secret's channels.json).",
    )
    gw.add_argument(
        "--channels-file",
        action="append",
        required=True,
        metavar="PATH",
        help="channels file or folder of them (JSON; re-read when it changes); repeatable, one per cluster",
    )
    gw.add_argument("--listen", default="0.0.0.0:8083", metavar="HOST:PORT", help="API and /metrics (default :8083)")
    gw.add_argument(
        "--store",
        choices=["sqlite", "memory", "redis"],
        default="sqlite",
        help="queue store (default sqlite; redis: shared by all replicas, with the rate limits)",
    )
    gw.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        metavar="URL",
        help="Redis of --store redis (redis://[:PASSWORD@]HOST:PORT/DB or rediss://)",
    )
    gw.add_argument("--db", default="gateway-queue.db", metavar="PATH", help="SQLite file of the queue")
    gw.add_argument("--durable", action="store_true", help="fsync every commit (survives power loss; slower)")
    gw.add_argument("--queue-max", type=int, default=10_000, help="messages queued before answering 503")
    gw.add_argument("--backoff-base", type=float, default=1.0, metavar="SECONDS", help="first retry delay")
    gw.add_argument("--backoff-max", type=float, default=60.0, metavar="SECONDS", help="longest retry delay")
    gw.add_argument(
        "--config-error-retry",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="retry a channel the robot refused (bad signature/token) after this, or when its credentials change",
    )
    gw.add_argument(
        "--rate-limit",
        action="append",
        metavar="TYPE=COUNT/SECONDS",
        help="override a robot type's limit (repeatable; default: the robots' documented limits)",
    )
    gw.add_argument("--poll-interval", type=float, default=2.0, metavar="SECONDS", help="channels files re-read")
    gw.add_argument("--shutdown-grace", type=float, default=10.0, metavar="SECONDS", help="wait for sends in flight")
    gw.add_argument(
        "--no-incidents",
        action="store_true",
        help="run no incident engine (by default one per cluster whose channels file has an incidents section)",
    )
    gw.add_argument(
        "--pod-name",
        metavar="NAME",
        help="this replica's name, the incidents Lease's holder identity (default: $POD_NAME, else host name and pid)",
    )
    gw.add_argument("--pod-namespace", metavar="NAMESPACE", help="this replica's namespace (default: $POD_NAMESPACE)")
    gw.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="Kubernetes access of the incident engine (default: in-cluster, else $KUBECONFIG or ~/.kube/config)",
    )
    gw.set_defaults(func=_gateway)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
