"""The import finder of `alertagent.common.lazyimports`: after `import alertagent.operator` no module of the
kubernetes package is loaded (the operator does without it; Kopf's model check runs with it hidden), and
once something imports it, its websocket, dynamic, informer and OAuth parts are not loaded, and everything
that uses the client
(Kopf's login and model checks, typed deserialization by class name, kubeconfig loading, watch, the OIDC
refresh's OAuth2Session) still gets the real thing. The operator's imports run in a fresh interpreter,
as they do at a start, once with the finder and once with it turned off."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alertagent.common import lazyimports

# Run in a fresh interpreter: prints what the import loaded, then exercises the client.
PROBE = textwrap.dedent(
    """
    import json, sys
    import alertagent.operator

    loaded = sorted(sys.modules)
    out = {
        "models": [m for m in loaded if m.startswith("kubernetes.client.models.")],
        "apis": [m for m in loaded if m.startswith("kubernetes.client.api.")],
        "deferred": [m for m in ("requests", "requests_oauthlib", "oauthlib.oauth2", "websocket",
                                 "kubernetes.dynamic", "kubernetes.stream", "kubernetes.informer",
                                 "kubernetes.leaderelection") if m in sys.modules],
        "modules": len(loaded),
        "kubernetes": [m for m in loaded if m.split(".")[0] == "kubernetes"],
    }

    import kubernetes
    from kubernetes import client, config, watch
    from kopf._cogs.helpers import thirdparty
    from kopf._core.intents import piggybacking
    import kopf

    # Kopf's optional-library checks see the real model classes.
    out["kopf_meta"] = thirdparty.V1ObjectMetaSync is client.V1ObjectMeta
    out["kopf_model"] = isinstance(client.V1ConfigMap(), thirdparty.KubernetesModelSync)

    # Kopf's login through the client library reads the kubeconfig.
    info = piggybacking.login_via_client(logger=__import__("logging").getLogger("t"),
                                         settings=kopf.OperatorSettings())
    out["login"] = [info.server, info.token]

    # Typed deserialization looks the class up by name in kubernetes.client.models.
    cm = client.ApiClient().deserialize(
        json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}),
        "V1ConfigMap", "application/json")
    out["deserialized"] = [type(cm).__name__, cm.metadata.name, cm.data]
    out["api_class"] = client.CoreV1Api.__name__
    out["watch"] = type(watch.Watch()).__name__

    # The OIDC refresh's session is requests-oauthlib's, and its except clause names oauthlib's error.
    import kubernetes.config.kube_config as kube_config
    session = kube_config.OAuth2Session(client_id="id")
    import requests_oauthlib
    out["oauth"] = [type(session) is requests_oauthlib.OAuth2Session,
                    kube_config.oauthlib.oauth2.rfc6749.errors.InvalidClientIdError.__name__]

    # The deferred subpackages are still there, by attribute and by star import.
    namespace = {}
    exec("from kubernetes import *", namespace)
    out["subpackages"] = [kubernetes.dynamic.DynamicClient.__name__, kubernetes.stream.portforward.func.__name__,
                          kubernetes.informer.SharedInformer.__name__, sorted(namespace["utils"].__all__)[:1],
                          "leaderelection" in namespace, kubernetes.__version__]
    print(json.dumps(out))
    """
)

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: secret-token}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
"""


def _probe(tmp: Path, **env: str) -> dict[str, Any]:
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    environ = {k: v for k, v in os.environ.items() if k not in {lazyimports.OPT_OUT, "KUBERNETES_SERVICE_HOST"}}
    environ.update(KUBECONFIG=str(kubeconfig), HOME=str(tmp), **env)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=environ, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return {
        "lazy": _probe(tmp_path_factory.mktemp("lazy")),
        "eager": _probe(tmp_path_factory.mktemp("eager"), **{lazyimports.OPT_OUT: "1"}),
    }


def test_operator_import_loads_few_client_models_and_no_deferred_parts(probes: dict[str, dict[str, Any]]) -> None:
    lazy = probes["lazy"]
    # The operator talks to the API server without the package (clients/connection.py), and Kopf's
    # optional-library check runs with it hidden: not one of its modules is loaded.
    assert lazy["kubernetes"] == []
    assert lazy["models"] == [] and lazy["apis"] == [] and lazy["deferred"] == []


def test_turning_the_finder_off_imports_the_client_package_eagerly(probes: dict[str, dict[str, Any]]) -> None:
    eager, lazy = probes["eager"], probes["lazy"]
    assert set(eager["deferred"]) >= {"requests", "requests_oauthlib", "oauthlib.oauth2", "kubernetes.stream"}
    assert eager["modules"] - lazy["modules"] >= 100  # what the finder saves, ~190 with kubernetes 37.0.2


@pytest.mark.parametrize("mode", ["lazy", "eager"])
def test_the_client_works_the_same_with_and_without_the_finder(probes: dict[str, dict[str, Any]], mode: str) -> None:
    probe = probes[mode]
    # Kopf recognises the package's V1ObjectMeta only when it was importable at Kopf's import (AlertAgent
    # hands Kopf dicts, never the package's models).
    assert probe["kopf_meta"] is (mode == "eager")
    assert probe["kopf_model"] is True
    assert probe["login"] == ["https://127.0.0.1:6443", "secret-token"]
    assert probe["deserialized"] == ["V1ConfigMap", "x", {"a": "b"}]
    assert probe["api_class"] == "CoreV1Api"
    assert probe["watch"] == "Watch"
    assert probe["oauth"] == [True, "InvalidClientIdError"]
    dynamic, stream, informer, utils_all, leaderelection, version = probe["subpackages"]
    assert (dynamic, stream, informer, utils_all, leaderelection) == (
        "DynamicClient",
        "_websocket_request",
        "SharedInformer",
        ["Backoff"],
        True,
    )
    assert version.startswith("37.")


# The finder on a package of our own: lazy when the `__init__` has the expected shape, normal otherwise.


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "lazyfake"
    root.mkdir()
    (root / "heavy.py").write_text("LOADED = True\nVALUE = 42\nheavy = 'the name'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(lazyimports, "LAZY_PACKAGES", ("lazyfake",))
    monkeypatch.setattr(sys, "meta_path", [lazyimports.LazyImportFinder(), *sys.meta_path])
    yield root
    for name in [m for m in sys.modules if m == "lazyfake" or m.startswith("lazyfake.")]:
        del sys.modules[name]


def test_an_init_of_constants_and_relative_imports_runs_lazily(fake_package: Path) -> None:
    (fake_package / "__init__.py").write_text(
        '"""Doc."""\n__version__ = "1.0"\nfrom . import heavy\nfrom .heavy import VALUE\n'
    )
    lazyfake = importlib.import_module("lazyfake")

    assert lazyfake.__version__ == "1.0"
    assert "lazyfake.heavy" not in sys.modules
    assert lazyfake.VALUE == 42
    assert lazyfake.heavy.LOADED is True
    assert sorted(lazyfake.__all__) == ["VALUE", "heavy"]
    with pytest.raises(AttributeError):
        _ = lazyfake.missing


@pytest.mark.parametrize(
    "init",
    [
        "from . import heavy\nprint('side effect')\n",  # a statement with effects
        "from . import heavy as h\n",  # an alias
        "from .heavy import heavy\n",  # a name that is also a submodule's (kubernetes.utils' shape)
    ],
)
def test_any_other_init_is_imported_normally(fake_package: Path, init: str) -> None:
    (fake_package / "__init__.py").write_text(init)
    lazyfake = importlib.import_module("lazyfake")

    assert not isinstance(lazyfake.__loader__, lazyimports._LazyPackageLoader)
    assert "lazyfake.heavy" in sys.modules


def test_the_opt_out_variable_leaves_the_import_system_alone() -> None:
    assert lazyimports.install({lazyimports.OPT_OUT: "1"}.get) is False
