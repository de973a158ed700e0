"""Deterministic YAML output: sorted keys, block style, no line wrapping, libyaml when available
(about ten times faster than the pure-Python emitter, same text)."""

from __future__ import annotations

from typing import Any

import yaml

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump_yaml(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=10_000, allow_unicode=True)
