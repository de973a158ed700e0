"""The read-ahead of the files a start imports (`common/readahead.py`): its manifest is in step with
what `alertagent run` imports, and it asks for exactly the files the imports read."""

from __future__ import annotations

import _json
import importlib.machinery
import importlib.util
import json
import json.decoder
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pydantic_core._pydantic_core
import pytest

import alertagent.operator  # noqa: F401 - the modules the manifest lists are imported here
from alertagent import cli
from alertagent.common import readahead

REGENERATE = "python -m alertagent.common.readahead > operator/alertagent/common/startup_modules.txt"


def _generated() -> list[tuple[str, str]]:
    run = subprocess.run(
        [sys.executable, "-m", "alertagent.common.readahead"], capture_output=True, text=True, check=True, timeout=120
    )
    return readahead.parse(run.stdout)


def test_the_manifest_lists_every_module_of_alertagent_a_start_imports_and_nearly_all_others() -> None:
    shipped = set(readahead.parse(readahead.MANIFEST.read_text(encoding="utf-8")))
    generated = _generated()
    ours = [pair for pair in generated if pair[1].split(".")[0] == "alertagent"]
    assert len(ours) > 50
    missing = [f"{kind} {name}" for kind, name in ours if (kind, name) not in shipped]
    assert not missing, f"the start imports these and the manifest misses them; regenerate: {REGENERATE}"
    stale = [f"{kind} {name}" for kind, name in shipped if name.split(".")[0] == "alertagent"]
    assert not [line for line in stale if tuple(line.split(" ", 1)) not in set(ours)], f"stale lines: {REGENERATE}"
    # Other packages' modules follow the installed releases: a new release may import a few more, and
    # those are read on demand; most of the list going stale means it needs writing again.
    others = [pair for pair in generated if pair not in set(ours)]
    covered = sum(pair in shipped for pair in others) / len(others)
    assert covered >= 0.9, f"{covered:.0%} of the other modules a start imports are listed; regenerate: {REGENERATE}"


def test_the_manifest_names_the_files_the_imports_read() -> None:
    """Each listed module imported here resolves to the file it was imported from (its bytecode, or
    its extension module), whether or not that bytecode was ever written (PYTHONDONTWRITEBYTECODE)."""
    pairs = readahead.parse(readahead.MANIFEST.read_text(encoding="utf-8"))
    roots = readahead.top_level_roots(sys.path, readahead.imported_top_levels())
    checked = []
    for kind, name in pairs:
        module = sys.modules.get(name)
        if module is None:
            continue
        expected = module.__file__ if kind == readahead.EXTENSION else module.__cached__
        assert expected in [path for path, _always in readahead.files([(kind, name)], roots)], name
        checked.append(name)
    assert {"aiohttp.connector", "pydantic_core._pydantic_core", "alertagent.cli", "alertagent.operator"} <= set(
        checked
    )
    assert len(checked) >= len(pairs) * 0.9


def test_kinds_of_modules() -> None:
    assert readahead.kind_of(json) == readahead.PACKAGE
    assert readahead.kind_of(json.decoder) == readahead.MODULE
    assert readahead.kind_of(pydantic_core._pydantic_core) == readahead.EXTENSION
    assert readahead.kind_of(sys) is None  # built in: no file
    assert readahead.kind_of(_json) in (None, readahead.EXTENSION)  # built in or lib-dynload, per build
    frozen = SimpleNamespace(__spec__=importlib.machinery.ModuleSpec("os", importlib.machinery.FrozenImporter))
    assert readahead.kind_of(frozen) is None  # type: ignore[arg-type]


def test_parse_skips_comments_blank_lines_and_unknown_kinds() -> None:
    text = "# header\n\np json\nm json.decoder\nx future.kind\ne _socket\nm\n"
    assert readahead.parse(text) == [("p", "json"), ("m", "json.decoder"), ("e", "_socket")]


def test_roots_follow_the_path_order_and_imported_packages_win() -> None:
    listing = {
        "/first": ["yaml", "six.py", "_cffi_backend" + importlib.machinery.EXTENSION_SUFFIXES[0]],
        "/second": ["yaml", "attr", "six.py"],
    }

    def listdir(entry: str) -> list[str]:
        if entry not in listing:
            raise FileNotFoundError(entry)
        return listing[entry]

    roots = readahead.top_level_roots(
        ["/missing", "/first", "/second"],
        {"alertagent": "/src/operator/alertagent/__init__.py", "single": "/lib/single.py"},
        listdir=listdir,
    )
    assert roots == {
        "yaml": "/first",
        "six": "/first",
        "_cffi_backend": "/first",
        "attr": "/second",
        "alertagent": "/src/operator",
        "single": "/lib",
    }


def test_bytecode_is_always_read_ahead_extension_modules_when_cold() -> None:
    roots = {"pkg": "/site"}
    items = list(readahead.files([("p", "pkg"), ("m", "pkg.mod"), ("e", "pkg._speedups"), ("m", "absent.mod")], roots))
    assert items == [
        (importlib.util.cache_from_source("/site/pkg/__init__.py"), True),
        (importlib.util.cache_from_source("/site/pkg/mod.py"), True),
        *((f"/site/pkg/_speedups{suffix}", False) for suffix in importlib.machinery.EXTENSION_SUFFIXES),
    ]


def test_the_manifest_lists_extension_modules_with_their_kind() -> None:
    lines = readahead.manifest_lines([("json", json), ("pydantic_core._pydantic_core", pydantic_core._pydantic_core)])
    assert lines == ["p json", "e pydantic_core._pydantic_core"]


def test_read_ahead_asks_for_bytecode_always_and_for_an_extension_module_only_when_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {name: tmp_path / name for name in ("a.pyc", "warm.so", "cold.so")}
    for path in files.values():
        path.write_bytes(b"x" * 10_000)
    cold_fds: set[int] = set()
    real_open = os.open

    def open_(path: str, flags: int) -> int:
        fd = real_open(path, flags)
        if path.endswith("cold.so"):
            cold_fds.add(fd)
        return fd

    asked: list[int] = []
    monkeypatch.setattr(readahead.os, "open", open_)
    monkeypatch.setattr(readahead, "cached", lambda fd: fd not in cold_fds)
    monkeypatch.setattr(readahead.os, "posix_fadvise", lambda fd, offset, length, advice: asked.append(fd))
    items = [(str(files["a.pyc"]), True), (str(tmp_path / "missing.pyc"), True)]
    items += [(str(files["warm.so"]), False), (str(files["cold.so"]), False)]
    assert readahead.read_ahead(items) == 2
    assert len(asked) == 2 and asked[1] in cold_fds


@pytest.mark.skipif(not hasattr(os, "RWF_NOWAIT"), reason="RWF_NOWAIT is Linux's")
def test_a_file_just_read_is_cached() -> None:
    fd = os.open(readahead.MANIFEST, os.O_RDONLY)
    try:
        os.read(fd, 4096)  # its first page is in the page cache now
        assert readahead.cached(fd)
    finally:
        os.close(fd)


def test_start_reads_the_manifest_on_a_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "startup_modules.txt"
    manifest.write_text("# test\nm json.decoder\n")
    asked: list[list[str]] = []
    monkeypatch.setattr(readahead, "_started", [])
    monkeypatch.setattr(readahead, "read_ahead", lambda paths: asked.append(list(paths)) or 0)
    thread = readahead.start(manifest, environ={}.get)
    assert isinstance(thread, threading.Thread) and thread.daemon
    thread.join(10)
    assert asked == [[(importlib.util.cache_from_source(json.decoder.__file__), True)]]


@pytest.mark.parametrize("value", ["0", "false", "No"])
def test_the_switch_turns_it_off(value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readahead, "_started", [])
    manifest = tmp_path / "startup_modules.txt"
    manifest.write_text("m json.decoder\n")
    assert readahead.start(manifest, environ={readahead.SWITCH: value}.get) is None


def test_no_manifest_no_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readahead, "_started", [])
    assert readahead.start(tmp_path / "absent.txt", environ={}.get) is None


ENTRY = """
import sys
from alertagent.common import readahead
seen = []
readahead.start = lambda: seen.append(sorted(m for m in ("alertagent.cli", "yaml", "kopf") if m in sys.modules))
sys.argv = ["alertagent", *sys.argv[1:]]
from alertagent.entry import main
try:
    main()
except SystemExit:
    pass
print(seen)
"""


@pytest.mark.parametrize(("argv", "started"), [(["run", "--help"], "[[]]"), (["render", "--help"], "[]")])
def test_the_command_starts_the_read_ahead_for_run_alone_before_anything_else_loads(
    argv: list[str], started: str
) -> None:
    """`alertagent run` asks for the files before the command line module (and YAML, Kopf) loads."""
    run = subprocess.run([sys.executable, "-c", ENTRY, *argv], capture_output=True, text=True, check=True, timeout=120)
    assert run.stdout.strip().splitlines()[-1] == started


def test_start_runs_once_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "startup_modules.txt"
    manifest.write_text("m json.decoder\n")
    monkeypatch.setattr(readahead, "_started", [])
    monkeypatch.setattr(readahead, "read_ahead", lambda paths: len(list(paths)))
    first = readahead.start(manifest, environ={}.get)
    assert first is not None
    assert readahead.start(manifest, environ={}.get) is first


def test_cli_run_starts_the_read_ahead_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m alertagent.cli run` (no entry module): `_run` starts it before importing the operator."""
    calls: list[str] = []
    monkeypatch.setattr(readahead, "start", lambda: calls.append("read-ahead"))
    monkeypatch.setattr(cli, "_start", lambda args: calls.append("start") or 0)
    assert cli._run(SimpleNamespace()) == 0  # type: ignore[arg-type]
    assert calls == ["read-ahead", "start"]
