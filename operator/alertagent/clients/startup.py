"""What every entry point that talks to a cluster (`alertagent run`, `graph --live`, `rules`,
`alertagent-sidecar`) checks before it starts, each failure as one line a person can act on: a
cluster to talk to, an API server that answers and lets us in, free ports to serve on.

Every check raises `StartupError`; its `str()` is the line to print and `exit_code` the process's
exit status (2: nothing to talk to or nowhere to listen, fix the invocation; 1: the cluster is there
but did not answer or refused us)."""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import ssl
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import InsecureRequestWarning

from ..api.base import GROUP, VERSION
from .connection import ConfigError, http_status, load_connection
from .kube import Kube

# How a person gets a cluster to try AlertAgent on (the repository's one-command local stack).
DEMO_HINT = "try `./demo.sh` for a local one"
# `--log-format plain` of the operator and the sidecar: time, level, logger, message.
PLAIN_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
EXIT_ENVIRONMENT, EXIT_REFUSED = 2, 1


class StartupError(RuntimeError):
    """An expected condition that stops a command before it does anything; `str()` is one line."""

    def __init__(self, message: str, exit_code: int = EXIT_ENVIRONMENT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def no_cluster_message(env: Mapping[str, str] | None = None, detail: str | None = None) -> str:
    """One line saying where a kubeconfig was looked for: KUBECONFIG (each of its paths) or
    ~/.kube/config, and the in-cluster service account. `detail` is the loader's complaint about a
    kubeconfig that exists but cannot be used."""
    env = os.environ if env is None else env
    raw = env.get("KUBECONFIG")
    paths = ["~/.kube/config"] if raw is None else [p for p in raw.split(os.pathsep) if p]
    existing = [p for p in paths if Path(p).expanduser().is_file()]
    if existing and detail:
        return f"kubeconfig {', '.join(existing)} cannot be used: {detail}; {DEMO_HINT}"
    if raw is None:
        where = "KUBECONFIG unset, ~/.kube/config missing"
    elif not paths:
        where = "KUBECONFIG is empty"
    else:
        where = f"KUBECONFIG={raw} (no such file)"
    return f"no Kubernetes cluster found: {where}, not in a cluster; {DEMO_HINT}"


def connect(pool_size: int = 10, timeout_seconds: float = 30.0) -> Kube:
    """A client from the in-cluster service account, else the kubeconfig (KUBECONFIG or
    ~/.kube/config), keeping up to `pool_size` connections (give the number of threads that share
    it). Raises StartupError (exit 2) when neither is there or the kubeconfig is unusable."""
    try:
        connection = load_connection()
        return Kube(connection, request_timeout_seconds=timeout_seconds, pool_size=pool_size)
    except ConfigError as err:
        detail = None if str(err) == "no kubeconfig" else " ".join(str(err).split())
        raise StartupError(no_cluster_message(detail=detail)) from None
    except (ssl.SSLError, OSError) as err:  # a certificate or key TLS cannot load
        raise StartupError(no_cluster_message(detail=f"its TLS credentials do not load: {err}")) from None


def describe(err: BaseException, server: str) -> str:
    """One line for an error talking to `server` (the API server's URL): unreachable, unauthorized,
    forbidden, or another status with the API's own message (`ApiError`, or the kubernetes
    package's `ApiException` of a typed call: both carry `status`, `reason` and `body`)."""
    status = http_status(err)
    if status is not None:
        message = _api_message(err)
        if status == 401:
            return f"unauthorized: the API server at {server} refused the kubeconfig's credentials"
        if status == 403:
            return f"forbidden: {message}"
        return f"the API server at {server} answered {status} {getattr(err, 'reason', '')}: {message}"
    reason = getattr(err, "reason", None) or err  # urllib3's MaxRetryError wraps the last failure
    text = str(reason)
    # "HTTPSConnection(host='…', port=1): Failed to establish a new connection: [Errno 111] Connection
    # refused" (or "<… object at 0x…>: …"): the server is already named, the errno says why.
    text = re.sub(r"^(<[^>]*>|\w+\([^)]*\)): ", "", text)
    text = re.sub(r"^Failed to establish a new connection: ", "", text)
    return f"cannot reach the Kubernetes API server at {server}: {_one_line(text)}"


Access = Callable[[Kube, float], object]  # one request a command needs (a client, timeout)


def check_api(kube: Kube, access: Access | None = None, timeout: float = 10.0) -> None:
    """The API server answers (`/version`) and lets us make the request `access` makes (a list the
    command needs; a 404 passes: a resource not installed yet is waited for, not refused). One
    attempt each, no retries. Raises StartupError (exit 1) naming the server, or saying what is
    forbidden."""
    server = kube.connection.server
    probe = Kube(kube.connection, request_timeout_seconds=timeout, pool_size=1, retries=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureRequestWarning)  # the kubeconfig asked for it
            probe.request("GET", "/version")
            if access is not None:
                try:
                    access(probe, timeout)
                except Exception as err:
                    if http_status(err) != 404:
                        raise
    except Exception as err:
        if http_status(err) is None and not isinstance(err, (TransportError, OSError)):
            raise
        raise StartupError(describe(err, server), EXIT_REFUSED) from None
    finally:
        probe.close()


def list_clusters(namespaces: tuple[str, ...]) -> Access:
    """The operator's access check: list AlertmanagerClusters in the first watched namespace, or in
    every namespace when it watches all."""

    def access(kube: Kube, timeout: float) -> object:
        where = f"/namespaces/{namespaces[0]}" if namespaces else ""
        path = f"/apis/{GROUP}/{VERSION}{where}/alertmanagerclusters"
        return kube.request("GET", path, query={"limit": 1}, timeout=timeout)

    return access


def check_ports(ports: Mapping[str, int | None], host: str = "0.0.0.0") -> None:
    """Each port (flag → port; None: not served) is free to listen on at `host`, and no two flags
    share one. Raises StartupError (exit 2) naming the port and the flag that changes it."""
    given = {flag: port for flag, port in ports.items() if port}
    by_port: dict[int, list[str]] = {}
    for flag, port in given.items():
        by_port.setdefault(port, []).append(flag)
    for port, flags in sorted(by_port.items()):
        if len(flags) > 1:
            raise StartupError(f"{' and '.join(flags)} are both {port}: give each its own port")
    for flag, port in given.items():
        check_listen(host, port, flag)


def check_listen(host: str, port: int, flag: str) -> None:
    """Whether a server could listen on host:port now (a listener there already fails it; a socket
    in TIME_WAIT does not, as servers set SO_REUSEADDR). Raises StartupError naming `flag`."""
    if not 0 < port < 65536:
        raise StartupError(f"port {port} is not a TCP port (1-65535): change it with {flag}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            probe.listen(1)
        except OSError as err:
            raise StartupError(listen_error(host, port, flag, err)) from None


def listen_error(host: str, port: int, flag: str, err: OSError) -> str:
    """One line for a failure to listen on host:port, naming the flag that changes it."""
    if err.errno == errno.EADDRINUSE:
        return f"port {port} is already in use: change it with {flag}"
    if err.errno == errno.EACCES:
        return f"port {port} needs privileges to listen on: change it with {flag}"
    return f"cannot listen on {host}:{port}: {err.strerror or err}; change it with {flag}"


def _api_message(err: BaseException) -> str:
    raw = getattr(err, "body", None)
    try:
        body = json.loads(raw or "")
        message = body.get("message") if isinstance(body, dict) else None
    except ValueError:
        message = None
    return _one_line(str(message or getattr(err, "reason", None) or raw or getattr(err, "status", "")))


def _one_line(text: str) -> str:
    return " ".join(text.split())
