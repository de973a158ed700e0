"""Read the bytecode the operator's start imports ahead of the imports, for a cold page cache.

Why: `alertagent run` imports about 620 modules from bytecode files (Kopf, aiohttp, pydantic, the
Kubernetes client, AlertAgent; ~11 MiB). When the page cache no longer holds them (a node short of
memory; a restart long after the last one), every import waits for its own reads, one after another,
while the CPU idles. `start` asks the kernel for all of them at once, in import order
(`posix_fadvise(POSIX_FADV_WILLNEED)`, which queues the reads and returns), from a daemon thread: the
disk then works while Python unmarshals and runs what is already read. Each listed file is read in
full by its import, so nothing is read that the start would not read. Extension modules are left out:
the loader maps them and touches a part (pydantic-core's 4.9 MB, promql-parser's 4.8 MB), and reading
them whole was measured to cost more than it saved when the cache was only partly cold (9-10 MiB read
instead of 1.5, a restart 1.4 → 3.3 s). With the files cached it is ~620 cheap system calls on that
thread. `ALERTAGENT_READAHEAD=0` turns it off.

`entry.main` starts it for `alertagent run` before the command line module loads; `cli._run` starts it
too, for `python -m alertagent.cli run` (once per process). The list is `startup_modules.txt` beside
this module: one `KIND MODULE` line per module, in the order `alertagent.cli` and `alertagent.operator`
load them after `alertagent.entry`; KIND is `p` (a package's `__init__`) or `m` (a module). It is
written by `python -m alertagent.common.readahead > operator/alertagent/common/startup_modules.txt`
(the image writes it again for the releases it installs) and kept in step by
tests/unit/test_readahead.py. A listed module that is not installed is skipped; an imported one the
list misses is read on demand, as it would be without this.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

#: The module list shipped with the package.
MANIFEST = Path(__file__).with_name("startup_modules.txt")

#: The variable that turns the read-ahead off (`0`, `false`, `no`).
SWITCH = "ALERTAGENT_READAHEAD"

PACKAGE, MODULE, EXTENSION = "p", "m", "e"


def kind_of(module: ModuleType) -> str | None:
    """The manifest kind of an imported module (`p`, `m`, `e`), or None when no file of its own is
    read to import it (built-in, frozen, namespace package, bytecode without source)."""
    spec = getattr(module, "__spec__", None)
    if spec is None or not spec.has_location or not isinstance(spec.origin, str):
        return None
    if isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        return EXTENSION
    if not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
        return None
    return PACKAGE if spec.submodule_search_locations is not None else MODULE


def manifest_lines(modules: Iterable[tuple[str, ModuleType]]) -> list[str]:
    """`KIND NAME` for each `(name, module)` imported from bytecode (a package or a module), in the
    given order; extension modules are left out (see the module's docstring)."""
    return [f"{kind} {name}" for name, module in modules if (kind := kind_of(module)) in (PACKAGE, MODULE)]


def parse(text: str) -> list[tuple[str, str]]:
    """The `(kind, module)` pairs of a manifest's text; blank lines and `#` comments are skipped, as
    is a line of another kind (a manifest of another version)."""
    pairs = []
    for line in text.splitlines():
        kind, _, name = line.strip().partition(" ")
        if kind in (PACKAGE, MODULE) and name:
            pairs.append((kind, name.strip()))
    return pairs


def top_level_roots(
    path: Sequence[str], imported: dict[str, str] | None = None, listdir: Callable[[str], list[str]] = os.listdir
) -> dict[str, str]:
    """Top-level name → the directory it is imported from: for a name in `imported` (top-level name →
    its file, for packages already imported: an editable install's are found by a path hook), that;
    else the first `sys.path` entry that has it, as the path finder searches: a directory `name`, a
    `name.py` or an extension `name<suffix>`."""
    suffixes = (".py", *importlib.machinery.EXTENSION_SUFFIXES)
    roots: dict[str, str] = {}
    for top, file in (imported or {}).items():
        # `root/top/__init__.py` for a package, `root/top.py` for a module
        roots[top] = (
            os.path.dirname(os.path.dirname(file))
            if os.path.basename(file).startswith("__init__.")
            else os.path.dirname(file)
        )
    for entry in path:
        try:
            names = listdir(entry or ".")
        except OSError:  # a missing entry or a zip file: nothing to read ahead there
            continue
        for name in names:
            top = next((name[: -len(s)] for s in suffixes if name.endswith(s)), name)
            roots.setdefault(top, entry or ".")
    return roots


def files(pairs: Iterable[tuple[str, str]], roots: dict[str, str]) -> Iterator[str]:
    """The bytecode file each `(kind, module)` is imported from (`importlib.util.cache_from_source` of
    its package `__init__.py` or its module file). Modules whose top-level name is not on the path are
    skipped. Pure: no file is looked at."""
    for kind, name in pairs:
        root = roots.get(name.partition(".")[0])
        if root is None or kind not in (PACKAGE, MODULE):
            continue
        base = os.path.join(root, *name.split("."))
        source = os.path.join(base, "__init__.py") if kind == PACKAGE else base + ".py"
        yield importlib.util.cache_from_source(source)


def read_ahead(paths: Iterable[str]) -> int:
    """Ask the kernel to read each existing file into the page cache (it queues the reads); the number
    of files asked for. Files that do not exist or cannot be opened are skipped."""
    asked = 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            asked += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return asked


_started: list[threading.Thread] = []  # the process's read-ahead, once started


def start(manifest: Path = MANIFEST, environ: Callable[[str], str | None] = os.environ.get) -> threading.Thread | None:
    """Start reading the manifest's files ahead on a daemon thread (once per process: later calls
    return the same thread); None when switched off, when the platform has no `posix_fadvise`, or
    when there is no manifest."""
    if _started:
        return _started[0]
    if (environ(SWITCH) or "").strip().lower() in {"0", "false", "no"} or not hasattr(os, "posix_fadvise"):
        return None
    try:
        pairs = parse(manifest.read_text(encoding="utf-8"))
    except OSError:
        return None
    path = list(sys.path)
    imported = {
        name: file
        for name, module in list(sys.modules.items())
        if "." not in name and isinstance(file := getattr(module, "__file__", None), str)
    }

    def run() -> None:
        read_ahead(files(pairs, top_level_roots(path, imported)))

    thread = threading.Thread(target=run, name="read-ahead", daemon=True)
    thread.start()
    _started.append(thread)
    return thread


def startup_manifest(loaded_first: Sequence[str], imports: Sequence[str]) -> str:
    """A manifest of the modules importing `imports` loads once `loaded_first` are loaded, in import
    order (module names, imported here: run it in a fresh interpreter, as `python -m ...` does)."""
    for name in loaded_first:
        importlib.import_module(name)
    before = set(sys.modules)
    for name in imports:
        importlib.import_module(name)
    loaded = [(name, module) for name, module in list(sys.modules.items()) if name not in before]
    lines = manifest_lines((name, module) for name, module in loaded if name not in ("__main__", "__mp_main__"))
    return "\n".join([HEADER, *lines]) + "\n"


#: What `alertagent run` has loaded when it starts the read-ahead (`entry.main`), and what it imports then.
LOADED_FIRST, IMPORTED = ("alertagent.entry",), ("alertagent.cli", "alertagent.operator")
HEADER = "# written by `python -m alertagent.common.readahead`: the modules `alertagent run` imports (readahead.py)"

if __name__ == "__main__":
    sys.stdout.write(startup_manifest(LOADED_FIRST, IMPORTED))
