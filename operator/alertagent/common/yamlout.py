"""Deterministic YAML output: sorted keys, block style, no line wrapping, libyaml when available
(about ten times faster than the pure-Python emitter, same text); and YAML input through libyaml's
safe loader when available (the same objects as `yaml.safe_load`, about ten times faster)."""

from __future__ import annotations

from typing import Any

import yaml

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def dump_yaml(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=10_000, allow_unicode=True)


def load_yaml(text: str) -> Any:
    """`yaml.safe_load(text)`; raises yaml.YAMLError."""
    return yaml.load(text, Loader=_Loader)
