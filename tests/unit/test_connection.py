"""`clients.connection`: the operator's credentials, read as client-go reads them, without the
kubernetes package. Kubeconfigs are real files (merged from several paths, relative paths resolved
against the file that names them, inline data decoded); a pod's service account is a real directory
with a token file that is re-read; an exec plugin runs for real through the kubernetes package's own
loader; requests go to a local HTTP server with the header the connection gives."""

from __future__ import annotations

import base64
import json
import stat
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from alertagent.clients import connection as connection_module
from alertagent.clients.connection import ApiError, ConfigError, Connection, from_kubeconfig, in_cluster
from alertagent.clients.kube import Kube
from alertagent.handlers.lifecycle import kopf_credentials

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _kubeconfig(path: Path, current: str | None, contexts: list[Any], clusters: list[Any], users: list[Any]) -> Path:
    document: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "contexts": contexts}
    document |= {"clusters": clusters, "users": users}
    if current is not None:
        document["current-context"] = current
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_kubeconfig_merged_from_two_files_resolves_relative_paths_and_decodes_ca_data(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "me.crt").write_text("certificate")
    (tmp_path / "certs" / "me.key").write_text("key")
    ca_data = base64.b64encode(CA_PEM.encode()).decode()
    first = _kubeconfig(
        tmp_path / "first",
        "dev",
        [{"name": "dev", "context": {"cluster": "c", "user": "u", "namespace": "team"}}],
        [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443/", "certificate-authority-data": ca_data}}],
        [],
    )
    # The first file's cluster wins over the second's; the user is only in the second, whose relative
    # paths are relative to the second file.
    second = _kubeconfig(
        tmp_path / "certs" / "second",
        "other",
        [{"name": "other", "context": {"cluster": "c", "user": "u"}}],
        [{"name": "c", "cluster": {"server": "https://elsewhere"}}],
        [{"name": "u", "user": {"client-certificate": "me.crt", "client-key": "me.key"}}],
    )

    found = from_kubeconfig(env={"KUBECONFIG": f"{first}:{second}"})
    assert found.server == "https://10.0.0.1:6443"
    assert found.ca_data == CA_PEM and found.ca_file is None
    assert (found.cert_file, found.key_file) == (str(tmp_path / "certs" / "me.crt"), str(tmp_path / "certs" / "me.key"))
    assert found.default_namespace == "team"
    assert found.authorization() is None


def test_inline_client_certificates_become_files_only_we_can_read(tmp_path: Path) -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    encoded = base64.b64encode(pem).decode()
    path = _kubeconfig(
        tmp_path / "config",
        "x",
        [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        [{"name": "c", "cluster": {"server": "https://k"}}],
        [{"name": "u", "user": {"client-certificate-data": encoded, "client-key-data": encoded}}],
    )
    found = from_kubeconfig(str(path), env={})
    assert found.cert_file and found.key_file
    for name in (found.cert_file, found.key_file):
        assert Path(name).read_bytes() == pem
        assert stat.S_IMODE(Path(name).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("current", "contexts", "clusters", "message"),
    [
        (None, [], [], "the kubeconfig sets no current-context"),
        ("missing", [], [], "context 'missing' is not in the kubeconfig"),
        (
            "x",
            [{"name": "x", "context": {"cluster": "gone", "user": "u"}}],
            [],
            "cluster 'gone' is not in the kubeconfig",
        ),
        ("x", [{"name": "x", "context": {"cluster": "c"}}], [{"name": "c", "cluster": {}}], "has no server"),
        ("x", [{"name": "x", "context": {"cluster": "c", "user": "ghost"}}], [{"name": "c", "cluster": {}}], "'ghost'"),
        ("x", [{"name": "x", "context": {"cluster": "c"}}], [{"name": "c", "cluster": "https://k"}], "not a mapping"),
    ],
)
def test_an_unusable_kubeconfig_says_why(
    tmp_path: Path, current: str | None, contexts: list[Any], clusters: list[Any], message: str
) -> None:
    path = _kubeconfig(tmp_path / "config", current, contexts, clusters, [])
    with pytest.raises(ConfigError, match=message):
        from_kubeconfig(str(path), env={})


@pytest.mark.parametrize(
    ("cluster", "user", "message"),
    [
        (
            {"certificate-authority": "/nonexistent/ca.crt"},
            {},
            "certificate-authority: file /nonexistent/ca.crt does not",
        ),
        ({}, {"client-certificate": "nope.crt"}, "client-certificate: file "),
        ({}, {"tokenFile": "/nonexistent/tok"}, "tokenFile: file /nonexistent/tok does not exist"),
        ({"certificate-authority-data": "aGVsbG8gd29ybGQ="}, {}, "certificate-authority-data: not PEM"),
        ({}, {"client-certificate-data": "%%%"}, "client-certificate-data: not base64"),
        ({"proxy-url": "socks5://127.0.0.1:1080"}, {}, "only http and https proxies"),
    ],
)
def test_credentials_that_cannot_be_used_are_refused_when_read(
    tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any], message: str
) -> None:
    # Found by a tester: these surfaced as tracebacks (FileNotFoundError, ssl.SSLError) at the first request.
    path = _kubeconfig(
        tmp_path / "config",
        "x",
        [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        [{"name": "c", "cluster": {"server": "https://k", **cluster}}],
        [{"name": "u", "user": user}],
    )
    with pytest.raises(ConfigError, match=message):
        from_kubeconfig(str(path), env={})


def test_ca_data_wins_over_a_ca_file(tmp_path: Path) -> None:
    # client-go's precedence; Kopf refuses credentials with both (its login failed forever).
    (tmp_path / "ca.crt").write_text(CA_PEM)
    ca_data = base64.b64encode(CA_PEM.encode()).decode()
    cluster = {"server": "https://k", "certificate-authority": "ca.crt", "certificate-authority-data": ca_data}
    path = _kubeconfig(
        tmp_path / "config",
        "x",
        [{"name": "x", "context": {"cluster": "c"}}],
        [{"name": "c", "cluster": cluster}],
        [],
    )
    found = from_kubeconfig(str(path), env={})
    assert (found.ca_file, found.ca_data) == (None, CA_PEM)
    info = kopf_credentials(found)
    assert info.ca_path is None and info.ca_data == CA_PEM


def test_a_failing_exec_plugin_is_refused(tmp_path: Path) -> None:
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/nonexistent/plugin"}}
    user["exec"]["interactiveMode"] = "Never"
    path = _kubeconfig(
        tmp_path / "config",
        "x",
        [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        [{"name": "c", "cluster": {"server": "https://k:6443"}}],
        [{"name": "u", "user": user}],
    )
    with pytest.raises(ConfigError, match="gave no credentials"):
        from_kubeconfig(str(path), env={})


def test_no_kubeconfig_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no kubeconfig"):
        from_kubeconfig(env={"KUBECONFIG": str(tmp_path / "absent")})
    (tmp_path / "broken").write_text("clusters: [\n")
    with pytest.raises(ConfigError, match="broken, line 2, column 1: invalid YAML: while parsing a flow node"):
        from_kubeconfig(env={"KUBECONFIG": str(tmp_path / "broken")})


def test_the_service_account_token_is_read_again_once_its_period_passed_and_after_forget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_module, "SERVICE_ACCOUNT", tmp_path)
    (tmp_path / "token").write_text("one\n")
    (tmp_path / "ca.crt").write_text(CA_PEM)
    (tmp_path / "namespace").write_text("monitoring")
    assert in_cluster({"KUBERNETES_SERVICE_HOST": "10.96.0.1"}) is None  # no port: not in a pod
    found = in_cluster({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"})
    assert found is not None
    assert (found.server, found.ca_file, found.default_namespace) == (
        "https://[fd00::1]:443",
        str(tmp_path / "ca.crt"),
        "monitoring",
    )
    assert found.authorization() == "Bearer one"
    (tmp_path / "token").write_text("two\n")  # the kubelet rotated it
    assert found.authorization() == "Bearer one"  # within the period: kept
    found.forget_token()  # a 401
    assert found.authorization() == "Bearer two"
    monkeypatch.setattr(connection_module, "TOKEN_REREAD_SECONDS", 0.0)
    (tmp_path / "token").write_text("three\n")
    assert found.authorization() == "Bearer three"


def test_basic_auth_and_kopf_credentials() -> None:
    basic = Connection(server="https://k", username="admin", password="pw")
    assert basic.authorization() == "Basic " + base64.b64encode(b"admin:pw").decode()
    info = kopf_credentials(basic)
    assert (info.username, info.password, info.token) == ("admin", "pw", None)
    bearer = Connection(server="https://k", token="t0k", ca_data=CA_PEM, insecure=True, default_namespace="ns")
    info = kopf_credentials(bearer, trust_env=True)
    assert (info.server, info.scheme, info.token, info.username) == ("https://k", "Bearer", "t0k", None)
    assert (info.insecure, info.default_namespace, info.trust_env) == (True, "ns", True)


def test_an_exec_plugin_user_runs_through_the_kubernetes_loader(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.py"
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"}
    credential["status"] = {"token": "from-the-plugin"}  # type: ignore[assignment]
    plugin.write_text(f"import json; print(json.dumps({credential!r}))\n")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable, "args": [str(plugin)]}}
    user["exec"]["interactiveMode"] = "Never"
    path = _kubeconfig(
        tmp_path / "config",
        "x",
        [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "team"}}],
        [{"name": "c", "cluster": {"server": "https://k:6443", "insecure-skip-tls-verify": True}}],
        [{"name": "u", "user": user}],
    )
    found = from_kubeconfig(str(path), env={})
    assert found.server == "https://k:6443" and found.insecure
    assert found.authorization() == "Bearer from-the-plugin"
    assert found.default_namespace == "team"


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, str, bytes]]] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Recorder.seen.append((self.command, self.path, self.headers.get("Authorization", ""), body))
        status = 404 if "missing" in self.path else 200
        payload = json.dumps({"kind": "Status", "code": 404} if status == 404 else {"ok": True}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = _answer  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_kube_sends_the_connections_credentials_query_and_json_and_raises_api_errors(server: str) -> None:
    kube = Kube(Connection(server=server, token="abc"), request_timeout_seconds=5)
    assert kube.request("PATCH", "/x", {"a": 1}, query={"dryRun": "All", "watch": False}) == {"ok": True}
    with pytest.raises(ApiError) as missing:
        kube.request("GET", "/missing")
    assert missing.value.status == 404 and json.loads(missing.value.body)["code"] == 404
    assert kube.read_config_map("ns", "missing") is None  # a 404 on read: none
    assert _Recorder.seen[0] == ("PATCH", "/x?dryRun=All&watch=false", "Bearer abc", b'{"a":1}')


def test_the_typed_api_sends_the_connections_token(server: str, tmp_path: Path) -> None:
    # The sidecar's typed CoreV1Api is made from the same connection: its token file, re-read.
    token = tmp_path / "token"
    token.write_text("sa-token\n")
    kube = Kube(Connection(server=server, token_file=str(token)), request_timeout_seconds=5)
    kube.core.list_namespaced_config_map("ns", label_selector="a=b", _preload_content=False)
    assert _Recorder.seen == [("GET", "/api/v1/namespaces/ns/configmaps?labelSelector=a%3Db", "Bearer sa-token", b"")]
