"""HTTP clients for the monitoring targets (Alertmanager, Prometheus, vmalert, the gateway).

Building a TLS context costs ~10 ms of CPU (it loads the CA bundle); the operator makes a client for
every probe and every step that talks to a target, so they share one context, built on first use
(the same one httpx builds by default: certifi's CA bundle, SSL_CERT_FILE/SSL_CERT_DIR honoured)."""

from __future__ import annotations

import ssl
from functools import lru_cache

import httpx


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def http_client(timeout_seconds: float) -> httpx.Client:
    """A blocking client (use it as a context manager)."""
    return httpx.Client(timeout=timeout_seconds, verify=tls_context())


def async_http_client(timeout_seconds: float) -> httpx.AsyncClient:
    """An asyncio client (use it as an async context manager)."""
    return httpx.AsyncClient(timeout=timeout_seconds, verify=tls_context())
