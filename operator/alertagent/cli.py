"""The `alertagent` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .api.crd import all_crd_files
from .manifests import ManifestError, load_manifests
from .render.offline import render_manifests

EXIT_INVALID, EXIT_USAGE = 1, 2


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


def _render(args: argparse.Namespace) -> int:
    try:
        objects = load_manifests(args.file)
    except ManifestError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    result = render_manifests(objects)
    out = Path(args.output)
    for relative, text in sorted(result.files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for report in result.reports:
        if not report.valid:
            print(f"{report.kind} {report.namespace}/{report.name}: {'; '.join(report.errors)}")
    if args.report_json:
        report_doc = {"objects": [r.as_json() for r in result.reports]}
        Path(args.report_json).write_text(json.dumps(report_doc, indent=2, sort_keys=True) + "\n")
    print(f"rendered {len(result.files)} rule files from {len(result.reports)} objects into {out}", file=sys.stderr)
    return 0 if result.all_valid else EXIT_INVALID


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alertagent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    crds = commands.add_parser("crds", help="print the CustomResourceDefinitions (or write them to a folder)")
    crds.add_argument("-o", "--output", metavar="DIR", help="write one file per CRD into DIR")
    crds.set_defaults(func=_crds)

    render = commands.add_parser(
        "render",
        help="render AlertRules for the AlertmanagerClusters in manifests (offline, for CI and GitOps checks)",
        description="Writes OUTDIR/<cluster-namespace>/<cluster>/<evaluator>/<rule-namespace>-<rule>.yaml for every "
        "valid AlertRule each AlertmanagerCluster selects. Exit 0: all valid; 1: some invalid; 2: usage error.",
    )
    render.add_argument("-f", "--file", action="append", required=True, metavar="PATH",
                        help="YAML file or folder (recursive, multi-document); repeatable")  # fmt: skip
    render.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder to write rule files into")
    render.add_argument("--report-json", metavar="FILE", help="also write a JSON report of every object")
    render.set_defaults(func=_render)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
