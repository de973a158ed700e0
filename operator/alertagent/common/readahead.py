"""Read the files the operator's start imports ahead of the imports, for a cold page cache.

Why: `alertagent run` imports about 670 modules from files (Kopf, aiohttp, pydantic, the Kubernetes
client, AlertAgent: ~11 MiB of bytecode, ~31 MiB of extension modules). When the page cache no longer
holds them (a node short of memory; a restart long after the last one), every import waits for its
own reads, one after another, and an extension module is paged in by faults of 64-128 KiB each, while
the CPU idles. `start` asks the kernel for them at once, in import order
(`posix_fadvise(POSIX_FADV_WILLNEED)`, which queues the reads and returns), from a daemon thread: the
disk then works while Python unmarshals and runs what is already read. `ALERTAGENT_READAHEAD=0` turns
it off.

- Bytecode is always asked for: each listed file is read in full by its import anyway.
- An extension module is asked for only when its first page is not cached (`preadv` with
  `RWF_NOWAIT`): the loader maps it and touches a part, so when a recent start left it partly cached,
  reading it whole would read more than the start needs.

Measured on a VM that pages out file pages idle for a minute (5-10 ms a cold read): after 200 s idle,
importing the operator took 8.9 s without, 2.9 s with everything asked for; bytecode alone made no
difference (6.5 against 6.5 s: the extension modules are most of the bytes); and a restart whose
cache was only partly cold read 9-10 MiB with every extension module asked for, against the
1.5-6.7 MiB it needs (3.3 s once), which the cold check avoids.

`entry.main` starts it for `alertagent run` before the command line module loads; `cli._run` starts it
too, for `python -m alertagent.cli run` (once per process). The list is `startup_modules.txt` beside
this module: one `KIND MODULE` line per module, in the order `alertagent.cli` and `alertagent.operator`
load them after `alertagent.entry`; KIND is `p` (a package's `__init__`), `m` (a module) or `e` (an
extension module). It is written by
`python -m alertagent.common.readahead > operator/alertagent/common/startup_modules.txt` (the image
writes it again for the releases it installs) and kept in step by tests/unit/test_readahead.py. A
listed module that is not installed is skipped; an imported one the list misses is read on demand,
as it would be without this.
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
    """`KIND NAME` for each `(name, module)` with a file of its own, in the given order."""
    return [f"{kind} {name}" for name, module in modules if (kind := kind_of(module)) is not None]


def parse(text: str) -> list[tuple[str, str]]:
    """The `(kind, module)` pairs of a manifest's text; blank lines and `#` comments are skipped, as
    is a line of another kind (a manifest of another version)."""
    pairs = []
    for line in text.splitlines():
        kind, _, name = line.strip().partition(" ")
        if kind in (PACKAGE, MODULE, EXTENSION) and name:
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


def files(pairs: Iterable[tuple[str, str]], roots: dict[str, str]) -> Iterator[tuple[str, bool]]:
    """`(path, always)` for the file each `(kind, module)` is imported from: the cached bytecode of a
    package or module (`importlib.util.cache_from_source`; always read ahead), each possible file of
    an extension module (read ahead only when cold). Modules whose top-level name is not on the path
    are skipped. Pure: no file is looked at."""
    for kind, name in pairs:
        root = roots.get(name.partition(".")[0])
        if root is None:
            continue
        base = os.path.join(root, *name.split("."))
        if kind == EXTENSION:
            yield from ((base + suffix, False) for suffix in importlib.machinery.EXTENSION_SUFFIXES)
        else:
            source = os.path.join(base, "__init__.py") if kind == PACKAGE else base + ".py"
            yield importlib.util.cache_from_source(source), True


def cached(fd: int) -> bool:
    """Whether the file's first page is in the page cache (a read that may not wait succeeds); True
    where the check is not available, so the file is then left to be paged in on demand."""
    if not hasattr(os, "RWF_NOWAIT"):
        return True
    try:
        os.preadv(fd, [bytearray(1)], 0, os.RWF_NOWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


def read_ahead(items: Iterable[tuple[str, bool]]) -> int:
    """Ask the kernel to read each existing file of `(path, always)` into the page cache (it queues
    the reads): always, or when `cached` says its first page is not. Returns the number of files asked
    for; files that do not exist or cannot be opened are skipped."""
    asked = 0
    for path, always in items:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            if always or not cached(fd):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
                asked += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return asked


def imported_top_levels() -> dict[str, str]:
    """Top-level name → file of each top-level module already imported (for `top_level_roots`)."""
    return {
        name: file
        for name, module in list(sys.modules.items())
        if "." not in name and isinstance(file := getattr(module, "__file__", None), str)
    }


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
    path, imported = list(sys.path), imported_top_levels()

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
