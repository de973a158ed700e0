"""The `alertagent` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .api.crd import all_crd_files


def _crds(args: argparse.Namespace) -> int:
    files = all_crd_files()
    if args.output is None:
        sys.stdout.write("---\n".join(files[name] for name in sorted(files)))
        return 0
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items()):
        (out / name).write_text(text)
        print(f"wrote {out / name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alertagent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    crds = commands.add_parser("crds", help="print the CustomResourceDefinitions (or write them to a folder)")
    crds.add_argument("-o", "--output", metavar="DIR", help="write one file per CRD into DIR")
    crds.set_defaults(func=_crds)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
