"""`alertagent-sidecar`: keeps a Prometheus or vmalert rules directory in sync with the operator's rule
ConfigMaps (or Alertmanager's config file with the cluster's Secret), reloads the target and reports
what it loaded.

Threads: the watcher (list + watch), the sync loop (debounce, write, reload with backoff, verify,
report) and the HTTP server (/healthz, /readyz, /metrics)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubernetes import client
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alertagent import __version__
from alertagent.clients.startup import (
    PLAIN_LOG_FORMAT,
    StartupError,
    check_api,
    check_listen,
    connect,
    listen_error,
)

from .alertmanager import AlertmanagerSyncer
from .sync import Syncer
from .watcher import ShardWatcher

log = logging.getLogger("alertagent.sidecar")

# Not the operator's 8080 (HTTP) or 8081 (metrics): both can run on one host (a laptop, a test bed).
DEFAULT_PORT = 8082


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="alertagent-sidecar", description=__doc__)
    parser.add_argument("--namespace", required=True, help="namespace of the ConfigMaps or Secret")
    rules = parser.add_argument_group("next to Prometheus or vmalert")
    rules.add_argument("--selector", help="label selector of the rule ConfigMaps, e.g. alertagent.io/cluster=main")
    rules.add_argument("--rules-dir", type=Path, help="the target's rules directory (its rule_files glob)")
    am = parser.add_argument_group("next to Alertmanager")
    am.add_argument("--alertmanager-secret", metavar="NAME", help="the cluster's config Secret")
    am.add_argument("--secret-key", default="alertmanager.yaml", help="key of the Secret holding the file")
    am.add_argument("--config-file", type=Path, help="Alertmanager's --config.file")
    parser.add_argument("--target-url", required=True, help="base URL of Prometheus, vmalert or Alertmanager")
    parser.add_argument("--target-name", default="prometheus", help="name for metrics and messages")
    parser.add_argument(
        "--listen",
        default=f"0.0.0.0:{DEFAULT_PORT}",
        metavar="HOST:PORT",
        help=f"address of /healthz, /readyz and /metrics (default 0.0.0.0:{DEFAULT_PORT})",
    )
    parser.add_argument("--debounce", type=float, default=0.5, help="seconds to coalesce changes")
    parser.add_argument("--watch-timeout", type=int, default=60, help="seconds per watch request")
    parser.add_argument("--verify-timeout", type=float, default=30, help="seconds to wait for the target to load")
    parser.add_argument("--log-format", choices=["json", "plain"], default="json")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--listen {args.listen!r}: expected HOST:PORT, e.g. 0.0.0.0:{DEFAULT_PORT}")
    if args.alertmanager_secret and not args.config_file:
        parser.error("--alertmanager-secret needs --config-file")
    if not args.alertmanager_secret and not (args.selector and args.rules_dir):
        parser.error("give --selector and --rules-dir (rules), or --alertmanager-secret and --config-file")
    return args


def serve(listen: str, watcher: ShardWatcher, syncer: Syncer | AlertmanagerSyncer) -> ThreadingHTTPServer:
    """Serve the endpoints on `listen` (HOST:PORT) in a thread. Raises StartupError (one line naming
    the port and --listen) when it cannot listen there."""
    host, port = listen.rsplit(":", 1)
    host = host.strip("[]")  # [::]:8082

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                stale = watcher.stale()
                self._send(503 if stale else 200, b"watch stale\n" if stale else b"ok\n")
            elif self.path == "/readyz":
                ready = syncer.synced_once
                self._send(200 if ready else 503, b"ok\n" if ready else b"not synced yet\n")
            elif self.path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    try:
        server = ThreadingHTTPServer((host, int(port)), Handler)
    except OSError as err:
        raise StartupError(listen_error(host, int(port), "--listen", err)) from None
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


def sync_loop(
    watcher: ShardWatcher, syncer: Syncer | AlertmanagerSyncer, wake: threading.Event, debounce: float
) -> None:
    """Wait for changes, coalesce them, sync; on failure retry with backoff (0.5 s doubling to 30 s)."""
    backoff = 0.5
    while not watcher.stopping.is_set():
        if not wake.wait(timeout=1):
            continue
        watcher.stopping.wait(debounce)
        wake.clear()
        try:
            syncer.sync(watcher.snapshot())
            backoff = 0.5
            log.info("synced %d objects into the target", len(watcher.snapshot()))
        except Exception as err:
            log.warning("sync failed, retrying in %.1fs: %s", backoff, err)
            watcher.stopping.wait(backoff)
            backoff = min(backoff * 2, 30)
            wake.set()


def _list_watched(core: client.CoreV1Api, args: argparse.Namespace, timeout: float) -> object:
    """The list the watcher starts with (at most one item): what the sidecar's RBAC must allow."""
    if args.alertmanager_secret:
        selector = f"metadata.name={args.alertmanager_secret}"
        return core.list_namespaced_secret(args.namespace, field_selector=selector, limit=1, _request_timeout=timeout)
    return core.list_namespaced_config_map(
        args.namespace, label_selector=args.selector, limit=1, _request_timeout=timeout
    )


def main(argv: list[str] | None = None) -> int:
    """Exit 0 after SIGTERM/SIGINT; else one line on stderr and exit 2 (no cluster; --listen's port
    cannot be listened on) or 1 (the API server unreachable, or refusing the list the watch needs)."""
    args = parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if args.log_format == "json" else logging.Formatter(PLAIN_LOG_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        return _run(args)
    except StartupError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code


def _run(args: argparse.Namespace) -> int:
    kube = connect()
    host, port = args.listen.rsplit(":", 1)
    check_listen(host.strip("[]"), int(port), "--listen")  # before the API: a local fix comes first
    check_api(kube, lambda probe, timeout: _list_watched(probe.core, args, timeout))
    core = kube.core
    wake = threading.Event()
    url = args.target_url.rstrip("/")
    syncer: Syncer | AlertmanagerSyncer
    if args.alertmanager_secret:
        selector = f"metadata.name={args.alertmanager_secret}"
        watcher = ShardWatcher(core, args.namespace, selector, wake.set, args.watch_timeout, secrets=True)
        syncer = AlertmanagerSyncer(core, args.namespace, args.config_file, args.secret_key, url, args.verify_timeout)
    else:
        args.rules_dir.mkdir(parents=True, exist_ok=True)
        watcher = ShardWatcher(core, args.namespace, args.selector, wake.set, args.watch_timeout)
        syncer = Syncer(core, args.namespace, args.rules_dir, url, args.target_name, args.verify_timeout)
    server = serve(args.listen, watcher, syncer)
    what = f"Secret {args.alertmanager_secret}" if args.alertmanager_secret else f"ConfigMaps {args.selector}"
    log.info(
        "alertagent-sidecar %s starting: %s in namespace %s into %s (%s); listening on %s; API server %s",
        __version__,
        what,
        args.namespace,
        args.config_file or args.rules_dir,
        url,
        "{}:{}".format(*server.server_address[:2]),
        kube.connection.server,
    )
    threading.Thread(target=watcher.run, name="watch", daemon=True).start()
    worker = threading.Thread(target=sync_loop, args=(watcher, syncer, wake, args.debounce), name="sync")
    worker.start()

    def stop(signum: int, _frame: Any) -> None:
        if not watcher.stopping.is_set():  # a second signal (e.g. to the whole process group) changes nothing
            log.info("received signal %d, stopping", signum)
        watcher.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.join()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
