"""Reading Kubernetes manifests from files and folders as `kubectl apply -f` reads them.

kubectl decodes YAML with sigs.k8s.io/yaml: go-yaml v2 (YAML 1.1, go.yaml.in/yaml/v2) parses the text,
the result is converted to JSON and decoded as an unstructured object. `ManifestLoader` is PyYAML's
safe loader changed to give the same values (checked against kubectl v1.34 `apply --dry-run=client`):

- tabs: a tab after a token (`name: a<TAB>`, `key:<TAB>value`, `|<TAB>` after a block scalar indicator)
  and between words of a plain scalar is whitespace, as go-yaml's scanner has it; a tab used as
  indentation stays an error, and inside a block scalar a tab is content;
- plain scalars resolve as go-yaml v2 `resolve` does: `y`/`n` too are booleans (YAML 1.1), dates and
  times stay strings, `1:30` (YAML 1.1 base 60) is a string, `1e3` and `09` are numbers, `0o17` is 15,
  `=` is a string; `!!binary` is the decoded text; unknown tags (`!foo`, `!!set`, `!!omap`) are ignored;
- the JSON step: map keys become strings (`true`, `8080`, floats as Go formats a float32), a whole
  float is an integer (`1.0` → 1), integers beyond int64 are floats, NaN and infinities are errors.

A file whose first non-blank character is `{` is a stream of JSON objects, as kubectl reads it."""

from __future__ import annotations

import json
import math
import re
import struct
import sys
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.scanner import ScannerError
from yaml.tokens import TagToken

from .common.identity import DEFAULT_NAMESPACE

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

# Built-in cluster-scoped kinds by (API group, kind): `kubectl api-resources --namespaced=false` on
# Kubernetes v1.34 with every API group enabled. kubectl drops `metadata.namespace` from these.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        ("", "ComponentStatus"),
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("authentication.k8s.io", "SelfSubjectReview"),
        ("authentication.k8s.io", "TokenReview"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectRulesReview"),
        ("authorization.k8s.io", "SubjectAccessReview"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("internal.apiserver.k8s.io", "StorageVersion"),
        ("networking.k8s.io", "IPAddress"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("node.k8s.io", "RuntimeClass"),
        ("policy", "PodSecurityPolicy"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("resource.k8s.io", "DeviceClass"),
        ("resource.k8s.io", "ResourceSlice"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("storagemigration.k8s.io", "StorageVersionMigration"),
    }
)


class ManifestError(ValueError):
    pass


_BREAKS = "\r\n\x85\u2028\u2029"
_BREAKS_Z = "\0" + _BREAKS
_STR, _BOOL, _INT, _FLOAT, _NULL, _MERGE, _TIMESTAMP, _BINARY = (
    f"tag:yaml.org,2002:{name}" for name in ("str", "bool", "int", "float", "null", "merge", "timestamp", "binary")
)


class ManifestLoader(yaml.SafeLoader):
    """PyYAML's safe loader reading YAML as Kubernetes does (go-yaml v2 through sigs.k8s.io/yaml): its
    tab rules and its resolution of plain scalars (see the module docstring). Give its documents to
    `to_json` for the JSON step."""

    def scan_to_next_token(self) -> None:
        """go-yaml's `yaml_parser_scan_to_next_token`: tabs are whitespace in flow context and where no
        simple key may start (after a key's `:`, a scalar, a `]`), not at the start of a line or after
        `-`, `?` and a complex key's `:` (PyYAML allows only spaces)."""
        if self.index == 0 and self.peek() == "\ufeff":
            self.forward()
        while True:
            while self.peek() == " " or (self.peek() == "\t" and (self.flow_level or not self.allow_simple_key)):
                self.forward()
            if self.peek() == "#":
                while self.peek() not in _BREAKS_Z:
                    self.forward()
            if not self._line_break():
                return
            if not self.flow_level:
                self.allow_simple_key = True

    def scan_plain_spaces(self, indent: int, start_mark: Mark) -> list[str] | None:
        """go-yaml's `yaml_parser_scan_plain_scalar` blanks: tabs are whitespace inside a plain scalar
        and on its continuation lines, except a tab left of the scalar's indentation ("found a tab
        character that violates indentation"). Same folding as PyYAML's."""
        length = 0
        while self.peek(length) in " \t":
            length += 1
        whitespaces = self.prefix(length)
        self.forward(length)
        if self.peek() not in _BREAKS:
            return [whitespaces] if whitespaces else []
        line_break = self._line_break()
        self.allow_simple_key = True
        if self._at_document_marker():
            return None
        breaks = []
        while self.peek() in " \t" + _BREAKS:
            if self.peek() == "\t" and self.column < indent:
                raise ScannerError(
                    "while scanning a plain scalar",
                    start_mark,
                    "found a tab character that violates indentation",
                    self.get_mark(),
                )
            if self.peek() in " \t":
                self.forward()
                continue
            breaks.append(self._line_break())
            if self._at_document_marker():
                return None
        chunks = [line_break] if line_break != "\n" else ([] if breaks else [" "])
        return chunks + breaks

    def _line_break(self) -> str:
        return str(self.scan_line_break())  # type: ignore[no-untyped-call]  # PyYAML's stubs leave it untyped

    def _at_document_marker(self) -> bool:
        return self.prefix(3) in ("---", "...") and self.peek(3) in "\0 \t" + _BREAKS

    def scan_tag(self) -> TagToken:
        """A tag (`!!str`, `!foo`, `!<uri>`, `!`) ends at a space, a tab or a line end, as in go-yaml's
        `yaml_parser_scan_tag` (PyYAML wants a space or a line end)."""
        start_mark = self.get_mark()
        blank_or_end = "\0 \t" + _BREAKS
        handle: str | None = None
        if self.peek(1) == "<":
            self.forward(2)
            suffix = self.scan_tag_uri("tag", start_mark)
            if self.peek() != ">":
                raise ScannerError(
                    "while parsing a tag", start_mark, f"expected '>', but found {self.peek()!r}", self.get_mark()
                )
            self.forward()
        elif self.peek(1) in blank_or_end:
            suffix = "!"
            self.forward()
        else:
            length = 1
            while self.peek(length) not in blank_or_end + "!":
                length += 1
            if self.peek(length) == "!":
                handle = self.scan_tag_handle("tag", start_mark)  # type: ignore[no-untyped-call]
            else:
                handle = "!"
                self.forward()
            suffix = self.scan_tag_uri("tag", start_mark)
        if self.peek() not in blank_or_end:
            raise ScannerError(
                "while scanning a tag", start_mark, f"expected ' ', but found {self.peek()!r}", self.get_mark()
            )
        return TagToken((handle, suffix), start_mark, self.get_mark())

    def scan_block_scalar_indicators(self, start_mark: Mark) -> tuple[bool | None, int | None]:
        """The chomping (`+`/`-`) and indentation (1-9) indicators after `|` or `>`, in either order;
        what follows them is left to `scan_block_scalar_ignored_line` (PyYAML wants a space here)."""
        chomping: bool | None = None
        increment: int | None = None
        for _ in range(2):
            ch = self.peek()
            if ch in ("+", "-") and chomping is None:
                chomping = ch == "+"
            elif ch.isascii() and ch.isdigit() and increment is None:
                if ch == "0":
                    raise ScannerError(
                        "while scanning a block scalar",
                        start_mark,
                        "expected indentation indicator in the range 1-9, but found 0",
                        self.get_mark(),
                    )
                increment = int(ch)
            else:
                break
            self.forward()
        return chomping, increment

    def scan_block_scalar_indentation(self) -> tuple[list[str], int, Mark]:
        """The leading empty lines of a block scalar without an indentation indicator and the spaces
        that set its indentation; as go-yaml's `yaml_parser_scan_block_scalar_breaks`, a tab among
        them is an error (PyYAML would take it as the first character of the content)."""
        chunks: list[str] = []
        max_indent = 0
        end_mark = self.get_mark()
        while True:
            while self.peek() == " ":
                self.forward()
                max_indent = max(max_indent, self.column)
            if self.peek() == "\t":
                raise ScannerError(
                    "while scanning a block scalar",
                    None,
                    "found a tab character where an indentation space is expected",
                    self.get_mark(),
                )
            if self.peek() not in _BREAKS:
                return chunks, max_indent, end_mark
            chunks.append(self._line_break())
            end_mark = self.get_mark()

    def scan_block_scalar_ignored_line(self, start_mark: Mark) -> None:
        """After `|` or `>` and their indicators, go-yaml skips spaces and tabs (PyYAML only spaces)."""
        while self.peek() in " \t":
            self.forward()
        if self.peek() == "#":
            while self.peek() not in _BREAKS_Z:
                self.forward()
        if self.peek() not in _BREAKS_Z:
            raise ScannerError(
                "while scanning a block scalar",
                start_mark,
                f"expected a comment or a line break, but found {self.peek()!r}",
                self.get_mark(),
            )
        self._line_break()

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and implicit[0]:
            return _go_resolve(value)[0]
        return str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]


# go-yaml v2 resolve.go: the plain scalars looked up by their whole text, and the first characters of
# any plain scalar that may resolve to something other than a string.
_GO_CONSTANTS: dict[str, tuple[str, Any]] = {
    **{text: (_BOOL, True) for text in ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")},
    **{text: (_BOOL, False) for text in ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")},
    **{text: (_NULL, None) for text in ("", "~", "null", "Null", "NULL")},
    **{text: (_FLOAT, math.nan) for text in (".nan", ".NaN", ".NAN")},
    **{text: (_FLOAT, math.inf) for text in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{text: (_FLOAT, -math.inf) for text in ("-.inf", "-.Inf", "-.INF")},
    "<<": (_MERGE, "<<"),
}
_GO_HINTS = frozenset("+-0123456789yYnNtTfFoO~.")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")  # go-yaml's yamlStyleFloat
_GO_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")  # what Go's ParseFloat takes after a leading "."
_JSON_SPACE = re.compile(r"[ \t\r\n]*")
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdef"}
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def _go_int(text: str) -> int | None:
    """Go's `strconv.ParseInt(text, 0, 64)`, then `ParseUint(text, 0, 64)`: decimal, `0x`, `0o`, `0b`,
    a leading `0` for octal; None when neither takes it (not a number, or out of range)."""
    sign, body = (text[0], text[1:]) if text[:1] in ("+", "-") else ("", text)
    base, digits = 10, body
    if len(body) > 1 and body[0] == "0":
        base, digits = {"x": (16, body[2:]), "o": (8, body[2:]), "b": (2, body[2:])}.get(body[1].lower(), (8, body[1:]))
    if not digits or any(c not in _DIGITS[base] for c in digits.lower()):
        return None
    value = -int(digits, base) if sign == "-" else int(digits, base)
    if _INT64_MIN <= value <= _INT64_MAX or (not sign and 0 <= value <= _UINT64_MAX):
        return value
    return None


def _go_resolve(text: str) -> tuple[str, Any]:
    """(tag, value) of a plain scalar as go-yaml v2's `resolve("", text)`. Timestamps are left out: they
    decode to the string itself, and no timestamp is also a number."""
    if text in _GO_CONSTANTS:  # `<<` too: go-yaml's decoder takes an untagged `<<` key as a merge
        return _GO_CONSTANTS[text]
    if text[0] not in _GO_HINTS:
        return _STR, text
    if text[0] == ".":
        if _GO_DOT_FLOAT.fullmatch(text) and math.isfinite(number := float(text)):
            return _FLOAT, number
    elif text[0] in "+-0123456789":
        plain = text.replace("_", "")
        integer = _go_int(plain)
        if integer is not None:
            return _INT, integer
        if _GO_FLOAT.fullmatch(plain) and math.isfinite(number := float(plain)):  # Go fails on overflow
            return _FLOAT, number
    return _STR, text


def _construct_resolved(loader: ManifestLoader, node: ScalarNode) -> Any:
    """A scalar tagged (implicitly or explicitly) bool, int, float or null, as go-yaml decodes it: an
    explicit tag the text does not fit is an error (`!!int abc`), an int is accepted as `!!float`."""
    text = loader.construct_scalar(node)
    tag, value = _go_resolve(text)
    if tag == node.tag:
        return value
    if node.tag == _FLOAT and tag == _INT:
        return float(value)
    short = {t: "!!" + t.rsplit(":", 1)[1] for t in (tag, node.tag)}
    raise ConstructorError(None, None, f"cannot decode {short[tag]} `{text}` as a {short[node.tag]}", node.start_mark)


def _construct_timestamp(loader: ManifestLoader, node: ScalarNode) -> str:
    """go-yaml v2 decodes a timestamp into an interface as the text itself."""
    return str(loader.construct_scalar(node))


def _construct_binary(loader: ManifestLoader, node: ScalarNode) -> str:
    """go-yaml decodes `!!binary` into the bytes as a Go string; JSON then replaces invalid UTF-8."""
    data: bytes = loader.construct_yaml_binary(node)
    return data.decode("utf-8", errors="replace")


def _construct_untagged(loader: ManifestLoader, node: Node) -> Any:
    """go-yaml ignores tags it does not know (and `!!set`, `!!omap`, `!!pairs`): the node's own shape."""
    if isinstance(node, MappingNode):
        return loader.construct_yaml_map(node)
    if isinstance(node, SequenceNode):
        return loader.construct_yaml_seq(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _tag in (_BOOL, _INT, _FLOAT, _NULL):
    ManifestLoader.add_constructor(_tag, _construct_resolved)
ManifestLoader.add_constructor(_TIMESTAMP, _construct_timestamp)
ManifestLoader.add_constructor(_BINARY, _construct_binary)
for _untagged in ("tag:yaml.org,2002:set", "tag:yaml.org,2002:omap", "tag:yaml.org,2002:pairs", None):
    ManifestLoader.add_constructor(_untagged, _construct_untagged)


def _go_float32(value: float) -> str:
    """Go's `strconv.FormatFloat(value, 'g', -1, 32)`: the shortest digits that read back as the same
    float32, in exponent form below 1e-4 and from 1e6 (sigs.k8s.io/yaml's float map keys)."""
    try:
        single = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:  # beyond float32: Go rounds to an infinity
        single = math.copysign(math.inf, value)
    if math.isnan(single) or math.isinf(single):
        return "NaN" if math.isnan(single) else ("+Inf" if single > 0 else "-Inf")
    for digits in range(1, 10):
        text = f"{single:.{digits - 1}e}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == single:
            break
    exponent = int(text.partition("e")[2])
    if -4 <= exponent < 6:
        return format(Decimal(text), "f")
    return text


def _json_key(key: Any) -> str:
    """A YAML map key as sigs.k8s.io/yaml's `convertToJSONableObject` makes it a JSON key."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int) and _INT64_MIN <= key <= _INT64_MAX:
        return str(key)
    if isinstance(key, float):
        return {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}.get(text := _go_float32(key), text)
    raise ValueError(f"unsupported map key {key!r}")


def to_json(doc: Any, *, from_yaml: bool = True, budget: int = 5_000_000) -> Any:
    """A parsed document as Kubernetes' JSON step leaves it: string keys (`_json_key`), integers beyond
    int64 as floats (the unstructured decoder's json.Number), and from YAML a whole float as an
    integer (Go's JSON writes 1.0 as `1`). Aliases are copied, as the JSON text copies them.

    Raises ValueError for what JSON cannot hold: a NaN or infinite float, an unsupported key, an
    anchor that contains itself, or more than `budget` values (an alias bomb)."""
    active: set[int] = set()
    count = 0

    def convert(value: Any) -> Any:
        nonlocal count
        count += 1
        if count > budget:
            raise ValueError("excessive aliasing")
        if isinstance(value, dict | list):
            if id(value) in active:
                raise ValueError("an anchor contains itself")
            active.add(id(value))
            out: Any = (
                {_json_key(k): convert(v) for k, v in value.items()}
                if isinstance(value, dict)
                else [convert(v) for v in value]
            )
            active.discard(id(value))
            return out
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int):
            return value if _INT64_MIN <= value <= _INT64_MAX else float(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"unsupported value {value}")
            return int(value) if from_yaml and value.is_integer() and abs(value) < 1e21 else value
        raise ValueError(f"unsupported value of type {type(value).__name__}")

    return convert(doc)


def parse_documents(text: str) -> list[Any]:
    """The documents of a manifest file as kubectl decodes them (`to_json` applied): a stream of JSON
    values when the text starts with `{`, else YAML documents (`ManifestLoader`); an empty document
    is None. Raises yaml.YAMLError, json.JSONDecodeError or ValueError."""
    text = text.removeprefix("\ufeff")
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return [to_json(doc) for doc in yaml.load_all(text, Loader=ManifestLoader)]

    def no_constant(name: str) -> Any:
        raise ValueError(f"invalid JSON value {name}")

    decoder, docs, position = json.JSONDecoder(parse_constant=no_constant), [], len(text) - len(stripped)
    while position < len(text):
        doc, position = decoder.raw_decode(text, position)
        docs.append(to_json(doc, from_yaml=False))
        space = _JSON_SPACE.match(text, position)
        position = space.end() if space else position
    return docs


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The files named (`-`: standard input; pipes such as `<(helm template ...)` too), and the .yaml,
    .yml and .json files of the folders named (recursively), in name order."""
    for raw in paths:
        path = Path(raw)
        if str(raw) == "-":
            yield path
        elif path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
        elif path.exists():
            yield path
        else:
            raise ManifestError(f"{path}: no such file or directory")


def _describe_parse_error(err: Exception, text: str) -> str:
    """One line: where and why, and a hint when the text holds `{{` (a Helm chart's templates)."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        where = f"line {err.problem_mark.line + 1}, column {err.problem_mark.column + 1}"
        context = f"{err.context}: " if err.context else ""
        reason = f"invalid YAML ({where}): {context}{err.problem}"
    elif isinstance(err, json.JSONDecodeError):
        reason = f"invalid JSON (line {err.lineno}, column {err.colno}): {err.msg}"
    else:
        reason = f"invalid {'YAML' if isinstance(err, yaml.YAMLError) else 'manifest'}: {err}".replace("\n", " ")
    if "{{" in text:
        reason += " (an unrendered template? render it first, e.g. with `helm template`)"
    return reason


def _not_an_object(doc: Any) -> str | None:
    """Why a decoded document is not a Kubernetes object (kubectl requires apiVersion and kind), or None."""
    if not isinstance(doc, dict):
        shape = {list: "a list", str: "a string", bool: "a boolean"}.get(type(doc), "a number")
        return f"not a Kubernetes object ({shape})"
    missing = [field for field in ("apiVersion", "kind") if not isinstance(doc.get(field), str) or not doc[field]]
    if missing:
        return f"not a Kubernetes object (no {' and no '.join(missing)})"
    if not isinstance(doc.get("metadata") or {}, dict):
        return "not a Kubernetes object (metadata is not a mapping)"
    return None


def _objects(doc: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The objects of one document (a `List`'s items unwrapped) and why any part of it was left out."""
    if doc is None:
        return [], []
    reason = _not_an_object(doc)
    if reason:
        return [], [reason]
    kind = doc["kind"]
    if kind == "List" or (kind.endswith("List") and isinstance(doc.get("items"), list)):
        objects, reasons = [], []
        for number, item in enumerate(doc.get("items") or [], start=1):
            found, why = _objects(item)
            objects += found
            reasons += [f"item {number}: {r}" for r in why]
        return objects, reasons
    return [doc], []


def _group(obj: dict[str, Any]) -> str:
    api_version: str = obj["apiVersion"]
    return api_version.rpartition("/")[0]


def _cluster_scoped(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """`CLUSTER_SCOPED_KINDS` and the kinds of the CustomResourceDefinitions in the input with
    `scope: Cluster` (other custom kinds are taken as namespaced, the usual scope)."""
    kinds = set(CLUSTER_SCOPED_KINDS)
    for obj in objects:
        if obj["kind"] == "CustomResourceDefinition" and _group(obj) == "apiextensions.k8s.io":
            spec = obj.get("spec") or {}
            if isinstance(spec, dict) and spec.get("scope") == "Cluster":
                kinds.add((str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))))
    return kinds


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def load_manifests(
    paths: Iterable[str | Path],
    namespace: str | None = None,
    warn: Callable[[str], None] | None = None,
    unreadable: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Every Kubernetes object in the files and folders (folders recursively: their .yaml, .yml and
    .json files), in file order, multi-document YAML and `List`s unwrapped, read as kubectl reads them
    (`parse_documents`).

    Namespaces, as `kubectl apply -f PATHS -n NAMESPACE`: an object without `metadata.namespace` (or
    with an empty one) gets `namespace` (None: `default`); a cluster-scoped kind
    (`CLUSTER_SCOPED_KINDS`, and the kinds of cluster-scoped CustomResourceDefinitions in the input)
    has its namespace removed. Unlike kubectl, which refuses an object whose own namespace differs
    from `-n`, such an object keeps its own: Helm output sets a namespace on some objects only, and
    a chart may place some of them elsewhere on purpose.

    Anything else is skipped with one line per file, `<path>: skipped: <reason>`, given to `warn`
    (None: printed to stderr): a file that does not parse (an unrendered Helm template among them),
    is not UTF-8 or cannot be read, holds no documents, or holds a document that is not an object
    (no `apiVersion` and `kind`: `Chart.yaml`, `values.yaml`, a JSON Schema, `package.json`; the
    reasons of several are joined with `; `). A file named in `paths` is treated the same (kubectl
    would stop at it). Empty documents between objects (as `helm template` writes them) are no reason.
    `unreadable` (None: `warn`) gets the lines of files that cannot be read or do not parse, which a CI
    gate counts as errors (`alertagent render`), apart from files that merely hold no object.

    Raises ManifestError when a path does not exist, or when nothing at all was loaded (kubectl's
    "no objects passed to apply")."""
    paths = list(paths)
    report = warn or _stderr
    broken = unreadable or report
    objects: list[dict[str, Any]] = []
    for path in _files(paths):
        try:
            text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            broken(f"{path}: skipped: not UTF-8 text")
            continue
        except OSError as err:
            broken(f"{path}: skipped: {err.strerror or err}")
            continue
        try:
            docs = parse_documents(text)
        except (yaml.YAMLError, ValueError, RecursionError) as err:
            broken(f"{path}: skipped: {_describe_parse_error(err, text)}")
            continue
        reasons: list[str] = []
        found: list[dict[str, Any]] = []
        for number, doc in enumerate(docs, start=1):
            in_doc, why = _objects(doc)
            found += in_doc
            reasons += [f"document {number}: {r}" if len(docs) > 1 else r for r in why]
        if not found and not reasons:
            reasons = ["no documents"]
        if reasons:
            report(f"{path}: skipped: {'; '.join(reasons)}")
        objects += found
    if not objects:
        raise ManifestError(f"no Kubernetes objects in {', '.join(str(p) for p in paths)}")
    cluster_scoped = _cluster_scoped(objects)
    for obj in objects:
        metadata = obj.get("metadata") or {}
        obj["metadata"] = metadata
        if (_group(obj), obj["kind"]) in cluster_scoped:
            metadata.pop("namespace", None)
        elif not metadata.get("namespace"):
            metadata["namespace"] = namespace or DEFAULT_NAMESPACE
    return objects
