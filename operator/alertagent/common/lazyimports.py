"""Defer the parts of the Kubernetes client that AlertAgent never runs (import-time memory and CPU).

Why: `import kubernetes` (checked against kubernetes 37.0.2, the pinned `>=37,<38`) runs a package
`__init__` that eagerly imports every subpackage: `client`, `config`, `watch`, but also `dynamic`,
`stream` (websocket-client, requests), `informer`, `leaderelection` and all of `utils`; and
`kubernetes.config.kube_config` imports requests-oauthlib (requests, oauthlib's ~70 modules) for the
OIDC token refresh only. AlertAgent uses the client as a JSON transport (`ApiClient`, `Configuration`,
`rest`, `exceptions`, `config`, `watch`); Kopf logs in through `kubernetes.config`. The client's
models and API classes are already lazy in 37.x (PEP 562 in `kubernetes.client`), so they need nothing.
Measured here after `import alertagent.operator`: 941 -> 753 modules, VmHWM 73.4 -> 67.9 MiB, and about
70 ms less CPU at every start of a process that uses the client (the operator, the gateway).

What `install()` does, with an import finder placed before the normal ones:

- a package whose `__init__` is only constants and `from . import sub` / `from .sub import name`
  (`kubernetes`) gets a module `__getattr__` (PEP 562) that imports each submodule or name on first
  use, instead of running those imports;
- while `kubernetes.config.kube_config` executes, `requests_oauthlib` and `oauthlib.oauth2` are
  stand-ins: its `OAuth2Session` imports the real requests-oauthlib when first called (which also
  imports `oauthlib.oauth2`, which its `except` clause then names). The stand-ins are removed from
  `sys.modules` as soon as that module has run, so any other importer gets the real packages.

Robust by construction: each rewrite applies only when the installed source has exactly the expected
shape (parsed with `ast`, or the two import lines found verbatim); otherwise, or when a module is
already imported, the normal import runs. `ALERTAGENT_EAGER_IMPORTS=1` turns it all off.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import os
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

#: Packages whose `__init__` only imports its submodules, imported on first use instead. (kubernetes.utils
#: re-exports `create_from_yaml` over its submodule of that name, so `lazy_exports` leaves it eager.)
LAZY_PACKAGES = ("kubernetes",)

#: The module importing requests-oauthlib for the OIDC refresh alone, and the two lines it does so with.
KUBE_CONFIG = "kubernetes.config.kube_config"
_OAUTH_LINES = ("import oauthlib.oauth2\n", "from requests_oauthlib import OAuth2Session\n")

#: Kopf's module that imports the kubernetes package's model classes, to recognise them in `kopf.adopt()`
#: and owner references: AlertAgent passes dicts, and that import alone is ~6 MiB (the client's name
#: tables), so Kopf runs it with the package hidden (it then treats no object as a kubernetes model).
KOPF_THIRDPARTY = "kopf._cogs.helpers.thirdparty"

#: The variable that turns the finder off (`1`, `true`, `yes`).
OPT_OUT = "ALERTAGENT_EAGER_IMPORTS"


def lazy_exports(source: str) -> dict[str, tuple[str, str | None]] | None:
    """The exports of a package `__init__` made only of constants and relative imports, else None.

    Returns `{name: (submodule, attribute or None for the submodule itself)}`; None when the body has
    anything else (a statement with effects, an alias, a star) or re-exports a name that is also a
    submodule's, so the caller imports it normally.
    The constants (`__version__`, ...) are found with `constants`.
    """
    exports: dict[str, tuple[str, str | None]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # the docstring
            continue
        if _constant_assignment(node) is not None:
            continue
        if not isinstance(node, ast.ImportFrom) or node.level != 1:
            return None
        for alias in node.names:
            if alias.asname is not None or alias.name == "*":
                return None
            exports[alias.name] = (alias.name, None) if node.module is None else (node.module, alias.name)
    # A name that is also a submodule's (`from .m import m`, kubernetes.utils' create_from_yaml) would be
    # bound to the submodule by whichever import loads that first: leave such a package eager.
    submodules = {sub for sub, _ in exports.values()}
    if any(inner is not None and name in submodules for name, (_, inner) in exports.items()):
        return None
    return exports


def constants(source: str) -> dict[str, Any]:
    """The `NAME = literal` assignments of a module's top level (`__version__`, `__all__`), in order."""
    found: dict[str, Any] = {}
    for node in ast.parse(source).body:
        pair = _constant_assignment(node)
        if pair is not None:
            found[pair[0]] = pair[1]
    return found


def _constant_assignment(node: ast.stmt) -> tuple[str, Any] | None:
    """`NAME = literal` (a string, number, or a list of them such as `__all__`) as a pair, else None."""
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
        return None
    try:
        return node.targets[0].id, ast.literal_eval(node.value)
    except ValueError:
        return None


class _LazyPackageLoader:
    """Runs a package `__init__` as its constants plus a PEP 562 `__getattr__` over its exports.

    A loader by protocol (`create_module`, `exec_module`): `importlib.abc` costs 9 ms to import.
    """

    def __init__(self, values: dict[str, Any], exports: dict[str, tuple[str, str | None]]) -> None:
        self._values = values
        self._exports = exports

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        vars(module).update(self._values)
        exports = self._exports
        name = module.__name__

        def __getattr__(attr: str) -> Any:  # noqa: N807  # PEP 562's name
            if attr not in exports:
                raise AttributeError(f"module {name!r} has no attribute {attr!r}")
            submodule, inner = exports[attr]
            value = importlib.import_module(f"{name}.{submodule}")
            if inner is not None:
                value = getattr(value, inner)
            setattr(module, attr, value)
            return value

        def __dir__() -> list[str]:  # noqa: N807  # PEP 562's name
            return sorted(set(vars(module)) | set(exports))

        # Without an `__all__` of its own, `from package import *` then imports everything, as the eager
        # `__init__` did.
        public = sorted({*exports, *(key for key in self._values if not key.startswith("_"))})
        vars(module).setdefault("__all__", public)
        vars(module).update(__getattr__=__getattr__, __dir__=__dir__)


class _HiddenKubernetesLoader:
    """Runs Kopf's optional-library module as if the kubernetes package were not installed (unless
    something imported it already)."""

    def __init__(self, real: importlib.machinery.SourceFileLoader) -> None:
        self._real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        if "kubernetes" in sys.modules:
            self._real.exec_module(module)
            return
        sys.modules["kubernetes"] = None  # type: ignore[assignment]  # `import kubernetes` raises ImportError
        try:
            self._real.exec_module(module)
        finally:
            if sys.modules.get("kubernetes", 0) is None:
                del sys.modules["kubernetes"]


class _DeferredOAuthLoader:
    """Runs `kubernetes.config.kube_config` with stand-ins for requests-oauthlib and oauthlib.oauth2."""

    def __init__(self, real: importlib.machinery.SourceFileLoader) -> None:
        self._real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        stand_ins = {"requests_oauthlib": _oauth_stand_in(), "oauthlib.oauth2": types.ModuleType("oauthlib.oauth2")}
        placed = [name for name in stand_ins if name not in sys.modules]
        for name in placed:
            sys.modules[name] = stand_ins[name]
        try:
            self._real.exec_module(module)
        finally:
            for name in placed:
                if sys.modules.get(name) is stand_ins[name]:
                    del sys.modules[name]


def _oauth_stand_in() -> types.ModuleType:
    stand_in = types.ModuleType("requests_oauthlib")

    def OAuth2Session(*args: Any, **kwargs: Any) -> Any:  # noqa: N802  # the name it stands for
        return importlib.import_module("requests_oauthlib").OAuth2Session(*args, **kwargs)

    stand_in.OAuth2Session = OAuth2Session  # type: ignore[attr-defined]
    return stand_in


class LazyImportFinder:
    """Finds the modules above through the normal path finder and swaps in the deferring loaders."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in LAZY_PACKAGES and fullname not in (KUBE_CONFIG, KOPF_THIRDPARTY):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)  # only path hooks: no recursion
        if spec is None or spec.origin is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        if fullname == KOPF_THIRDPARTY:
            spec.loader = _HiddenKubernetesLoader(spec.loader)  # type: ignore[assignment]  # see _LazyPackageLoader
            return spec
        source = _read(spec.origin)
        if source is None:
            return None
        if fullname == KUBE_CONFIG:
            if not all(line in source for line in _OAUTH_LINES):
                return None
            spec.loader = _DeferredOAuthLoader(spec.loader)  # type: ignore[assignment]  # see _LazyPackageLoader
            return spec
        try:
            exports = lazy_exports(source)
        except SyntaxError:
            return None
        if exports is None or spec.submodule_search_locations is None:
            return None  # not the expected shape: import it normally
        spec.loader = _LazyPackageLoader(constants(source), exports)  # type: ignore[assignment]
        return spec


def _read(origin: str) -> str | None:
    try:
        with open(origin, encoding="utf-8") as file:
            return file.read()
    except OSError:
        return None


_installed: list[LazyImportFinder] = []


def install(environ: Callable[[str], str | None] = os.environ.get) -> bool:
    """Place the finder first on `sys.meta_path` (once); True when it is in place.

    Does nothing when the opt-out variable is set, and has no effect on modules already imported.
    """
    if (environ(OPT_OUT) or "").strip().lower() in {"1", "true", "yes"}:
        return False
    if not _installed:
        finder = LazyImportFinder()
        sys.meta_path.insert(0, finder)
        _installed.append(finder)
    return True
