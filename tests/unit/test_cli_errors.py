"""Every entry point that needs a cluster fails in one line, with no traceback, when there is none,
when its port is taken or when the API server does not answer: the commands run as a user runs
them (a subprocess), with HOME an empty folder and KUBECONFIG pointing at a missing file, at a
kubeconfig whose server nothing listens on, or unset. All of them start at once (each spends most of
its second importing), in one module-scoped fixture; each test checks its own."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from alertagent.clients.startup import StartupError, check_listen, describe
from alertagent.settings import Settings
from alertagent_sidecar.main import DEFAULT_PORT, parse_args

OPERATOR = [sys.executable, "-m", "alertagent.cli"]
SIDECAR = [sys.executable, "-m", "alertagent_sidecar.main", "--namespace", "monitoring"]
TARGET = ["--target-url", "http://127.0.0.1:9"]

CLUSTER_COMMANDS = {
    "run": [*OPERATOR, "run"],
    "graph --live": [*OPERATOR, "graph", "--live"],
    "rules history": [*OPERATOR, "rules", "history", "api"],
    "rules diff": [*OPERATOR, "rules", "diff", "api", "--from", "1", "--to", "2"],
    "rules rollback": [*OPERATOR, "rules", "rollback", "api", "--to", "1"],
    "sidecar (rules)": [*SIDECAR, "--selector", "alertagent.io/cluster=main", "--rules-dir", "{tmp}/rules", *TARGET],
    "sidecar (alertmanager)": [*SIDECAR, "--alertmanager-secret", "am", "--config-file", "{tmp}/am.yml", *TARGET],
}
# The other ports are free ones: a default port (8080, 8081) may be taken on the machine running the tests.
PORT_FLAGS = {
    "--http-port": [*OPERATOR, "run", "--http-port", "{busy}", "--metrics-port", "{free1}"],
    "--metrics-port": [*OPERATOR, "run", "--metrics-port", "{busy}", "--http-port", "{free1}"],
    "--webhook-port": [
        *OPERATOR,
        "run",
        "--webhook-port",
        "{busy}",
        "--http-port",
        "{free1}",
        "--metrics-port",
        "{free2}",
        "--webhook-cert",
        "c.pem",
        "--webhook-key",
        "k",
    ],
    "--listen": [*CLUSTER_COMMANDS["sidecar (rules)"], "--listen", "127.0.0.1:{busy}"],
}
UNREACHABLE = {
    "graph --live": CLUSTER_COMMANDS["graph --live"],
    "rules history": CLUSTER_COMMANDS["rules history"],
    "run": [*OPERATOR, "run", "--http-port", "{free1}", "--metrics-port", "{free2}"],  # only the API can fail
    "sidecar": [*CLUSTER_COMMANDS["sidecar (rules)"], "--listen", "127.0.0.1:{free3}"],
}


@dataclass(frozen=True)
class Scenarios:
    tmp: Path
    busy: int  # a port something listens on
    server: str  # a kubeconfig's API server, where nothing listens
    missing: Path  # KUBECONFIG pointing here: no such file
    broken: Path  # a kubeconfig without a current context
    done: dict[tuple[str, str], subprocess.CompletedProcess[str]]  # (scenario, command) → what it did


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: '{server}', insecure-skip-tls-verify: true}}}}]\n"
        "users: [{name: u, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    return path


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenarios]:
    tmp = tmp_path_factory.mktemp("cli-errors")
    (tmp / "home").mkdir()  # HOME: no ~/.kube/config
    server = f"https://127.0.0.1:{_closed_port()}"
    unreachable = _kubeconfig(tmp / "unreachable", server)
    broken = tmp / "broken"
    broken.write_text("apiVersion: v1\nkind: Config\n")
    missing = tmp / "missing" / "kubeconfig"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        fill = {"{tmp}": str(tmp), "{busy}": str(port)} | {f"{{free{i}}}": str(_closed_port()) for i in (1, 2, 3)}
        runs: dict[tuple[str, str], tuple[list[str], Path | None]] = {}
        runs |= {("no cluster", name): (argv, missing) for name, argv in CLUSTER_COMMANDS.items()}
        runs |= {("no kubeconfig", name): (CLUSTER_COMMANDS[name], None) for name in ("run", "sidecar (rules)")}
        runs[("broken", "rules history")] = (CLUSTER_COMMANDS["rules history"], broken)
        # The kubeconfig loads (nothing listens at its server): the port is what stops the command.
        runs |= {("port in use", flag): (argv, unreachable) for flag, argv in PORT_FLAGS.items()}
        same = [*OPERATOR, "run", "--http-port", "{free1}", "--metrics-port", "{free1}"]
        runs[("same ports", "run")] = (same, unreachable)
        runs |= {("unreachable", name): (argv, unreachable) for name, argv in UNREACHABLE.items()}
        procs = {
            key: _start([_fill(a, fill) for a in argv], tmp, kubeconfig) for key, (argv, kubeconfig) in runs.items()
        }
        done = {}
        for key, proc in procs.items():
            out, err = proc.communicate(timeout=60)
            done[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    yield Scenarios(tmp, port, server, missing, broken, done)


def _fill(arg: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        arg = arg.replace(key, value)
    return arg


def _start(argv: list[str], tmp: Path, kubeconfig: Path | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "KUBECONFIG"))}  # not in a pod
    env["HOME"] = str(tmp / "home")
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _lines(scenarios: Scenarios, scenario: str, exit_code: int) -> dict[str, str]:
    """Command → the one line each command of the scenario printed on stderr (nothing on stdout, no
    traceback), after checking each exited with `exit_code`."""
    lines = {}
    for (name, command), done in scenarios.done.items():
        if name != scenario:
            continue
        assert "Traceback" not in done.stderr, (command, done.stderr)
        assert (command, done.stdout, done.returncode) == (command, "", exit_code), done.stderr
        assert len(done.stderr.splitlines()) == 1, (command, done.stderr)
        assert done.stderr.startswith("error: ")
        lines[command] = done.stderr.rstrip("\n")
    return lines


def test_no_cluster_is_one_line_naming_the_kubeconfig_and_the_demo(scenarios: Scenarios) -> None:
    lines = _lines(scenarios, "no cluster", 2)
    assert lines.keys() == CLUSTER_COMMANDS.keys()
    for command, line in lines.items():
        assert (command, line) == (
            command,
            f"error: no Kubernetes cluster found: KUBECONFIG={scenarios.missing} (no such file), not in a "
            "cluster; try `./demo.sh` for a local one",
        )


def test_no_kubeconfig_at_all_names_the_default_location(scenarios: Scenarios) -> None:
    lines = _lines(scenarios, "no kubeconfig", 2)
    assert len(lines) == 2
    for line in lines.values():
        assert "KUBECONFIG unset, ~/.kube/config missing, not in a cluster" in line


def test_an_unusable_kubeconfig_says_why(scenarios: Scenarios) -> None:
    [line] = _lines(scenarios, "broken", 2).values()
    assert f"kubeconfig {scenarios.broken} cannot be used: " in line and "current-context" in line


def test_a_port_in_use_names_the_port_and_the_flag(scenarios: Scenarios) -> None:
    lines = _lines(scenarios, "port in use", 2)
    assert lines == {
        flag: f"error: port {scenarios.busy} is already in use: change it with {flag}" for flag in PORT_FLAGS
    }


def test_two_operator_ports_the_same_are_refused(scenarios: Scenarios) -> None:
    [line] = _lines(scenarios, "same ports", 2).values()
    assert line.startswith("error: --http-port and --metrics-port are both ")
    assert line.endswith(": give each its own port")


def test_an_unreachable_api_server_is_one_line_naming_its_url(scenarios: Scenarios) -> None:
    lines = _lines(scenarios, "unreachable", 1)
    assert lines.keys() == UNREACHABLE.keys()
    for command, line in lines.items():
        assert line.startswith(f"error: cannot reach the Kubernetes API server at {scenarios.server}: "), command
        assert "connection refused" in line.lower(), line


def test_api_errors_are_described_in_one_line() -> None:
    body = (
        '{"kind":"Status","message":"alertmanagerclusters.alertagent.io is forbidden: User \\"dev\\" cannot '
        'list resource \\"alertmanagerclusters\\"\\nin API group \\"alertagent.io\\" at the cluster scope",'
        '"reason":"Forbidden","code":403}'
    )
    forbidden = ApiException(status=403, reason="Forbidden")
    forbidden.body = body
    assert describe(forbidden, "https://k8s:6443") == (
        'forbidden: alertmanagerclusters.alertagent.io is forbidden: User "dev" cannot list resource '
        '"alertmanagerclusters" in API group "alertagent.io" at the cluster scope'
    )
    unauthorized = ApiException(status=401, reason="Unauthorized")
    assert describe(unauthorized, "https://k8s:6443") == (
        "unauthorized: the API server at https://k8s:6443 refused the kubeconfig's credentials"
    )


def test_the_sidecar_default_port_is_not_one_of_the_operators() -> None:
    settings = Settings()
    argv = ["--namespace", "m", "--selector", "a=b", "--rules-dir", "/tmp/r", "--target-url", "http://x"]
    assert parse_args(argv).listen == f"0.0.0.0:{DEFAULT_PORT}"
    assert DEFAULT_PORT not in {settings.http_port, settings.metrics_port}


def test_a_port_out_of_range_is_one_line_naming_the_flag() -> None:
    with pytest.raises(StartupError, match=r"^port 99999 is not a TCP port \(1-65535\): change it with --http-port$"):
        check_listen("127.0.0.1", 99999, "--http-port")


def test_graph_of_a_chart_folder_with_a_namespace(tmp_path: Path) -> None:
    """`alertagent graph -f DIR -n shop` as a user runs it, on `helm template` output next to the chart's
    own files: the objects without a namespace join `shop` (the edge web → api is found), a trailing
    tab is no error, and each file that holds no object is one warning line, not a failure."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 1.0.0\n")
    (tmp_path / "values.yaml").write_text("kind: Deployment\nreplicas: 2\n")
    (tmp_path / "templates" / "api.yaml").write_text("metadata:\n  name: {{ .Release.Name }}-api\n")
    (tmp_path / "rendered.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop}\nspec: {selector: {app: api}}\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\t\nspec:\n  template:\n    spec:\n"
        "      containers: [{name: web, env: [{name: API_URL, value: 'http://api:8080'}]}]\n"
    )
    done = subprocess.run(
        [*OPERATOR, "graph", "-f", str(tmp_path), "-n", "shop"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    graph = json.loads(done.stdout)
    assert [(e["from"], e["to"]) for e in graph["edges"]] == [("shop/deployment/web", "shop/api")]
    assert graph["unresolved"] == []
    assert done.stderr.splitlines() == [
        f"warning: {tmp_path / 'Chart.yaml'}: skipped: not a Kubernetes object (no kind)",
        f"warning: {tmp_path / 'templates' / 'api.yaml'}: skipped: invalid YAML (line 2, column 28): while parsing "
        "a block mapping: expected <block end>, but found '<scalar>' (an unrendered template? render it first, "
        "e.g. with `helm template`)",
        f"warning: {tmp_path / 'values.yaml'}: skipped: not a Kubernetes object (no apiVersion)",
        "2 nodes, 1 edges (1 selected), 0 unresolved addresses, 0 cycles",
    ]


def test_graph_of_files_without_any_object_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: shop\n")
    done = subprocess.run(
        [*OPERATOR, "graph", "-f", str(tmp_path / "Chart.yaml")], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        f"warning: {tmp_path / 'Chart.yaml'}: skipped: not a Kubernetes object (no kind)",
        f"error: no Kubernetes objects in {tmp_path / 'Chart.yaml'}",
    ]
