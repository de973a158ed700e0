"""Fixtures for the real test bed: one control plane per session, one namespace per test, and real
Prometheus / Alertmanager / vmalert processes per test."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from kubernetes import client, config

from alertagent.api.base import GROUP, VERSION
from alertagent.api.crd import RESOURCES
from alertagent.devstack.controlplane import ControlPlane, install_crds, start_control_plane
from alertagent.devstack.monitoring import (
    AlertmanagerTarget,
    RuleTarget,
    Target,
    start_alertmanager,
    start_prometheus,
    start_vmalert,
)

T = TypeVar("T", bound=Target)
REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    workdir = Path(tempfile.mkdtemp(prefix="alertagent-testbed-"))
    plane = start_control_plane(workdir)
    try:
        yield plane
    finally:
        plane.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def api_client(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def installed_crds(control_plane: ControlPlane) -> ControlPlane:
    """The four CRDs from crds/, applied and Established."""
    install_crds(control_plane, REPO / "crds")
    # Established comes before the OpenAPI v3 document (what `kubectl explain` reads) has every kind;
    # the group's document is rebuilt CRD by CRD, so wait until one document holds all four.
    wanted = {f"io.alertagent.{VERSION}.{r.names.kind}" for r in RESOURCES}
    deadline = time.monotonic() + 60
    while True:
        raw = control_plane.kubectl("get", "--raw", f"/openapi/v3/apis/{GROUP}/{VERSION}", check=False)
        if raw.returncode == 0 and wanted <= json.loads(raw.stdout)["components"]["schemas"].keys():
            break
        assert time.monotonic() < deadline, f"OpenAPI v3 never listed {wanted}"
        time.sleep(0.5)
    return control_plane


@pytest.fixture
def namespace(request: pytest.FixtureRequest, api_client: client.ApiClient) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name)


def _running(target: T) -> Iterator[T]:
    try:
        yield target
    finally:
        target.stop()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[RuleTarget]:
    yield from _running(start_prometheus(tmp_path))


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[AlertmanagerTarget]:
    yield from _running(start_alertmanager(tmp_path))


@pytest.fixture
def vmalert(tmp_path: Path, prometheus: RuleTarget, alertmanager: AlertmanagerTarget) -> Iterator[RuleTarget]:
    yield from _running(start_vmalert(prometheus.url, alertmanager.url, tmp_path))


@contextmanager
def extra_namespaces(api_client: client.ApiClient, names: tuple[str, ...]) -> Iterator[None]:
    """Create these namespaces for the length of a test, then delete them."""
    core = client.CoreV1Api(api_client)
    for name in names:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield
    finally:
        for name in names:
            core.delete_namespace(name)


@pytest.fixture
def tenant_namespaces(api_client: client.ApiClient, namespace: str) -> Iterator[tuple[str, str]]:
    """Two tenant namespaces beside the test's own (the cluster's): `<namespace>-a` and `<namespace>-b`."""
    names = (f"{namespace[:50]}-a", f"{namespace[:50]}-b")
    with extra_namespaces(api_client, names):
        yield names


@pytest.fixture
def alerting_prometheus(tmp_path: Path, alertmanager: AlertmanagerTarget) -> Iterator[RuleTarget]:
    """A Prometheus that sends the alerts its rules fire to the test's Alertmanager."""
    yield from _running(start_prometheus(tmp_path, alertmanager_url=alertmanager.url))
