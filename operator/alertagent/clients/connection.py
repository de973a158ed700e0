"""Where the API server is and how to prove who we are, read as client-go reads it, without the
kubernetes client package: the operator process never imports it (with what it pulls in, requests,
oauthlib, websocket and its own modules, it is ~14 MiB of the operator's memory), and Kopf, the
operator's `Kube` and its `AsyncApi` all connect with one `Connection`.

- In a pod: the service account (`KUBERNETES_SERVICE_HOST`/`_PORT`, its token file re-read every
  `TOKEN_REREAD_SECONDS` as client-go does, since the kubelet rotates it, and its CA).
- Else the kubeconfig (`KUBECONFIG`, each of its paths, the first value of a key winning; else
  `~/.kube/config`) and its current context: server, CA (file or data), client certificate and key
  (files or data), bearer token (or tokenFile), basic auth, `insecure-skip-tls-verify`,
  `tls-server-name`, `proxy-url`. Relative paths are relative to the kubeconfig that names them.
- A user with an `exec` plugin or an `auth-provider` is handed to the kubernetes client's own loader
  (imported then, only then), whose refresh hook gives the current token.

Errors: `ConfigError` (no cluster, or a kubeconfig that cannot be used), with one line to print."""

from __future__ import annotations

import atexit
import base64
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_SECONDS = 60.0  # client-go's cachingTokenSource period for a service account token file


class ConfigError(RuntimeError):
    """No cluster to talk to, or a kubeconfig that cannot be used; `str()` is the reason."""


class ApiError(Exception):
    """The API server answered with a status outside 2xx: `status`, `reason` and the answer's `body`
    (the API's Status JSON as text)."""

    def __init__(self, status: int, reason: str = "", body: str = "") -> None:
        super().__init__(status, reason, body)
        self.status, self.reason, self.body = status, reason, body

    def __str__(self) -> str:
        return f"({self.status}) Reason: {self.reason}" + (f"\nHTTP response body: {self.body}" if self.body else "")


def http_status(err: BaseException) -> int | None:
    """The HTTP status of an API error, ours (`ApiError`) or the kubernetes package's `ApiException`
    (the sidecar's typed calls), both with `status`; None for any other error (the server not reached)."""
    status = getattr(err, "status", None)
    return status if isinstance(status, int) else None


@dataclass
class Connection:
    """One API server and the credentials to use with it. `authorization()` gives the Authorization
    header's value (None: none): a static token, the token file (re-read every
    `TOKEN_REREAD_SECONDS`), an exec plugin's token (`refresh`), or basic auth."""

    server: str
    ca_file: str | None = None
    ca_data: str | None = None  # PEM
    insecure: bool = False
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    token_file: str | None = None
    username: str | None = None
    password: str | None = None
    tls_server_name: str | None = None
    proxy: str | None = None
    default_namespace: str | None = None
    refresh: Callable[[], str | None] | None = None  # the Authorization value, from the kubernetes client
    _token_read: tuple[float, str | None] = field(default=(float("-inf"), None), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def authorization(self) -> str | None:
        """The Authorization header's value, or None."""
        if self.refresh is not None:
            return self.refresh()
        token = self.token
        if self.token_file:
            with self._lock:
                read_at, cached = self._token_read
                if time.monotonic() - read_at >= TOKEN_REREAD_SECONDS:
                    cached = Path(self.token_file).read_text().strip() or None
                    self._token_read = (time.monotonic(), cached)
                token = cached or token
        if token:
            return f"Bearer {token}"
        if self.username is not None and self.password is not None:
            return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return None

    def forget_token(self) -> None:
        """Read the token file again at the next request (after a 401: it may have been rotated)."""
        with self._lock:
            self._token_read = (float("-inf"), None)

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for `server` (https): its CA, our client certificate, verification."""
        context = ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_data)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        if self.insecure:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return context


def load_connection(kubeconfig: str | None = None, env: Mapping[str, str] | None = None) -> Connection:
    """The in-cluster service account, else the kubeconfig (`kubeconfig`, else `KUBECONFIG`, else
    ~/.kube/config). Raises ConfigError."""
    env = os.environ if env is None else env
    if kubeconfig is None:
        found = in_cluster(env)
        if found is not None:
            return found
    return from_kubeconfig(kubeconfig, env)


def in_cluster(env: Mapping[str, str]) -> Connection | None:
    """The pod's service account (client-go's `rest.InClusterConfig`), or None outside a pod."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    token_file = SERVICE_ACCOUNT / "token"
    if not host or not port or not token_file.is_file():
        return None
    host = f"[{host}]" if ":" in host else host
    ca_file = SERVICE_ACCOUNT / "ca.crt"
    namespace_file = SERVICE_ACCOUNT / "namespace"
    return Connection(
        server=f"https://{host}:{port}",
        ca_file=str(ca_file) if ca_file.is_file() else None,
        token_file=str(token_file),
        default_namespace=namespace_file.read_text().strip() if namespace_file.is_file() else None,
    )


def kubeconfig_paths(kubeconfig: str | None, env: Mapping[str, str]) -> list[Path]:
    """The kubeconfig files to read, in order."""
    if kubeconfig is not None:
        return [Path(kubeconfig).expanduser()]
    raw = env.get("KUBECONFIG")
    if raw is None:
        return [Path("~/.kube/config").expanduser()]
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def from_kubeconfig(kubeconfig: str | None = None, env: Mapping[str, str] | None = None) -> Connection:
    """The current context of the kubeconfig files (merged: the first value of a key wins). Raises
    ConfigError when there is none or it cannot be used."""
    env = os.environ if env is None else env
    paths = [p for p in kubeconfig_paths(kubeconfig, env) if p.is_file()]
    if not paths:
        raise ConfigError("no kubeconfig")
    current: str | None = None
    named: dict[str, dict[str, tuple[dict[str, Any], Path]]] = {"contexts": {}, "clusters": {}, "users": {}}
    for path in paths:
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except yaml.MarkedYAMLError as err:  # its mark would name "<unicode string>", not the file
            where = (
                f", line {err.problem_mark.line + 1}, column {err.problem_mark.column + 1}" if err.problem_mark else ""
            )
            raise ConfigError(f"{path}{where}: invalid YAML: {err.context or ''} {err.problem or ''}".strip()) from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise ConfigError(f"{path}: {' '.join(str(err).split())}") from None
        if not isinstance(document, dict):
            raise ConfigError(f"{path}: not a kubeconfig (a mapping)")
        current = current or (str(document["current-context"]) if document.get("current-context") else None)
        for section, entries in named.items():
            for item in document.get(section) or []:
                if isinstance(item, dict) and item.get("name") is not None:
                    value = item.get(section[:-1]) or {}
                    if not isinstance(value, dict):
                        raise ConfigError(f"{path}: {section[:-1]} {str(item['name'])!r} is not a mapping")
                    entries.setdefault(str(item["name"]), (value, path))
    if not current:
        raise ConfigError("the kubeconfig sets no current-context")
    context, _ = _entry(named["contexts"], current, "context")
    cluster, cluster_file = _entry(named["clusters"], str(context.get("cluster")), "cluster")
    # client-go refuses a context naming a user the files lack; a context with no user is anonymous.
    user, user_file = _entry(named["users"], str(context["user"]), "user") if context.get("user") else ({}, paths[0])
    namespace = str(context["namespace"]) if context.get("namespace") else None
    if user.get("exec") or user.get("auth-provider"):
        return _via_kubernetes_client(kubeconfig, current, namespace)
    if not cluster.get("server"):
        raise ConfigError(f"cluster {context.get('cluster')!r} has no server")
    proxy = cluster.get("proxy-url")
    if proxy and not str(proxy).startswith(("http://", "https://")):
        raise ConfigError(f"proxy-url {proxy}: only http and https proxies are supported")
    token = user.get("token")
    ca_data = _data(cluster, "certificate-authority-data", pem=True)
    return Connection(
        server=str(cluster["server"]).rstrip("/"),
        # client-go: certificate-authority-data wins over certificate-authority.
        ca_file=None if ca_data else _file(cluster, "certificate-authority", cluster_file),
        ca_data=ca_data,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        cert_file=_file(user, "client-certificate", user_file) or _data_file(user, "client-certificate-data"),
        key_file=_file(user, "client-key", user_file) or _data_file(user, "client-key-data"),
        token=str(token) if token else None,
        token_file=_file(user, "tokenFile", user_file) if not token else None,
        username=user.get("username"),
        password=user.get("password"),
        tls_server_name=cluster.get("tls-server-name"),
        proxy=str(proxy) if proxy else None,
        default_namespace=namespace,
    )


def _entry(entries: dict[str, tuple[dict[str, Any], Path]], name: str, what: str) -> tuple[dict[str, Any], Path]:
    if name not in entries:
        raise ConfigError(f"{what} {name!r} is not in the kubeconfig")
    return entries[name]


def _file(section: Mapping[str, Any], key: str, relative_to: Path) -> str | None:
    """The file a key names (relative to the kubeconfig naming it); ConfigError when it is missing."""
    value = section.get(key)
    if not value:
        return None
    path = relative_to.parent / Path(str(value)).expanduser()
    if not path.is_file():
        raise ConfigError(f"{key}: file {path} does not exist")
    return str(path)


def _data(section: Mapping[str, Any], key: str, pem: bool = True) -> str | None:
    """Inline base64 data, decoded; ConfigError when it is not base64 or (`pem`) not PEM."""
    value = section.get(key)
    if not value:
        return None
    try:
        text = base64.b64decode(str(value), validate=True).decode()
    except ValueError as err:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ConfigError(f"{key}: not base64: {err}") from None
    if pem and "-----BEGIN " not in text:
        raise ConfigError(f"{key}: not PEM (no -----BEGIN line)")
    return text


def _data_file(section: Mapping[str, Any], key: str) -> str | None:
    """Inline certificate or key data as a file (TLS loads a client certificate from files only),
    readable by us alone and removed at exit, as the kubernetes client does."""
    data = _data(section, key)
    if data is None:
        return None
    with tempfile.NamedTemporaryFile("w", prefix="alertagent-", suffix=".pem", delete=False) as handle:
        handle.write(data)
    _TEMPORARY.append(handle.name)
    return handle.name


_TEMPORARY: list[str] = []


@atexit.register
def _remove_temporary() -> None:
    for name in _TEMPORARY:
        Path(name).unlink(missing_ok=True)


def _via_kubernetes_client(kubeconfig: str | None, context: str, namespace: str | None) -> Connection:
    """A kubeconfig user the kubernetes client's loader must run (an exec plugin, an auth provider).
    ConfigError when the loader fails or the plugin gives no credentials."""
    from kubernetes import client, config  # noqa: PLC0415 - only for exec plugins and auth providers

    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        connection = of_client_configuration(configuration)
        connection.default_namespace = namespace
        given = connection.authorization()
    except Exception as err:  # whatever the loader raises (YAML, the plugin): the file is unusable
        raise ConfigError(" ".join(str(err).split())) from None
    if given is None:  # the loader logs the plugin's failure and goes on without credentials
        raise ConfigError(f"context {context!r}: its exec plugin or auth provider gave no credentials")
    return connection


def of_client_configuration(configuration: Any) -> Connection:
    """The connection a kubernetes client `Configuration` describes (an embedding's own client, or the
    kubernetes loader's answer for an exec plugin): its token comes from the configuration's refresh
    hook at each use."""

    def authorization() -> str | None:
        bearer = configuration.auth_settings().get("BearerToken") or {}
        if bearer.get("value"):
            return str(bearer["value"])
        return str(configuration.get_basic_auth_token()) if configuration.username else None

    return Connection(
        server=configuration.host,
        ca_file=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        tls_server_name=getattr(configuration, "tls_server_name", None) or None,
        proxy=configuration.proxy or None,
        refresh=authorization,
    )
