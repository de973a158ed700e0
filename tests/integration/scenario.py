"""Helpers shared by the chart's integration tests: the real `helm` against the test bed's API server,
and an identity that calls the API server with a ServiceAccount's token (TokenRequest) alone."""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from alertagent.devstack.controlplane import ControlPlane, binary

CHART = Path(__file__).resolve().parents[2] / "charts" / "alertagent"
MERGE = "application/merge-patch+json"


def helm(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    """`helm ARGS` on the test bed's kubeconfig; fails the test with helm's stderr on an error."""
    result = subprocess.run(
        [binary("helm"), f"--kubeconfig={plane.kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


def set_args(values: dict[str, Any]) -> list[str]:
    """`--set-json KEY=JSON` for each value (lists of objects included)."""
    return [arg for key, value in values.items() for arg in ("--set-json", f"{key}={json.dumps(value)}")]


@contextmanager
def installed_chart(plane: ControlPlane, release: str, namespace: str, values: dict[str, Any]) -> Iterator[None]:
    """`helm install` the chart (CRDs already there; its pods never run: there is no kubelet), then
    `helm uninstall` it."""
    helm(plane, "install", release, str(CHART), "-n", namespace, "--skip-crds", "--wait=false", *set_args(values))
    try:
        yield
    finally:
        helm(plane, "uninstall", release, "-n", namespace)


@dataclass(frozen=True)
class Identity:
    """A ServiceAccount as the API server sees it: its kubeconfig (a TokenRequest token, nothing else)
    for the processes, and raw requests with the same token for what they must not do."""

    plane: ControlPlane
    namespace: str
    name: str
    kubeconfig: Path

    @classmethod
    def of(cls, plane: ControlPlane, namespace: str, name: str) -> Identity:
        """A token from the TokenRequest API (`POST .../serviceaccounts/NAME/token`, 2 h)."""
        return cls(plane, namespace, name, plane.service_account_kubeconfig(namespace, name))

    @property
    def token(self) -> str:
        config = yaml.safe_load(self.kubeconfig.read_text())
        return str(config["users"][0]["user"]["token"])

    def status(self, method: str, path: str, body: Any = None) -> int:
        """The HTTP status the API server answers this request with (a PATCH is a JSON merge patch)."""
        content_type = MERGE if method == "PATCH" else "application/json"
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": content_type}
        verify = ssl.create_default_context(cafile=str(self.plane.ca_file))
        with httpx.Client(verify=verify, timeout=10) as http:
            data = None if body is None else json.dumps(body)
            return http.request(method, f"{self.plane.url}{path}", content=data, headers=headers).status_code
