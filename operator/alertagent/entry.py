"""The `alertagent` command (the console script): for `alertagent run`, the read-ahead of the files the
operator imports starts first (`common/readahead.py`), before the command line module loads YAML and
the rest; then `cli.main` runs the command."""

from __future__ import annotations

import sys

from .common import readahead


def main() -> int:
    if sys.argv[1:2] == ["run"]:
        readahead.start()
    from .cli import main as run_command  # noqa: PLC0415 - imported once the read-ahead is under way

    return run_command()


if __name__ == "__main__":
    sys.exit(main())
