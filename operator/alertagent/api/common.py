"""Types shared by several custom resources."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationInfo, field_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from ..common.regex import re2_error
from .base import Model

# Prometheus duration syntax (as in prometheus-operator's Duration type), e.g. 30s, 5m, 1h30m.
DURATION_PATTERN = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
Duration = Annotated[str, Field(pattern=DURATION_PATTERN, min_length=1, max_length=64)]
LABEL_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
LabelName = Annotated[str, Field(pattern=LABEL_NAME_PATTERN, max_length=128)]
# Kubernetes object names (RFC 1123 subdomain).
K8S_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
K8sName = Annotated[str, Field(pattern=K8S_NAME_PATTERN, min_length=1, max_length=253)]
# What a value these patterns refuse should have been, for error messages: pydantic's own message
# ("String should match pattern '^(0|(([0-9]+)y)?...'") names only the regular expression.
PATTERN_MEANINGS: Final[dict[str, str]] = {
    DURATION_PATTERN: (
        'a duration: whole numbers, each with its unit (y, w, d, h, m, s, ms) once, largest first ("30s", "1h30m", "0")'
    ),
    LABEL_NAME_PATTERN: 'a label name: letters, digits and "_", not beginning with a digit',
    K8S_NAME_PATTERN: (
        'a Kubernetes name: lowercase letters, digits, "-" and ".", beginning and ending with a letter or digit'
    ),
}


def pattern_mismatch(value: object, pattern: str) -> str:
    """`"5x" is not a duration: ...`: what a value refused by one of `PATTERN_MEANINGS`' patterns should
    have been. KeyError for a pattern it has no meaning for."""
    return f"{json.dumps(value, ensure_ascii=False)} is not {PATTERN_MEANINGS[pattern]}"


@dataclass(frozen=True)
class ListMapKey:
    """Annotation making a list of objects a map keyed by one field: the API server rejects duplicate
    keys (and server-side apply merges items by key); pydantic rejects them too."""

    key: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._unique, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [self.key]})
        return json_schema

    def _unique(self, items: list[Any]) -> list[Any]:
        seen: set[Any] = set()
        for index, item in enumerate(items):
            value = getattr(item, self.key)
            if value in seen:
                raise ValueError(f"[{index}]: Duplicate value: {self.key}={value!r}")
            seen.add(value)
        return items


class SecretKeyRef(Model):
    """A key of a Secret in the same namespace as the object that references it."""

    name: K8sName
    """Name of the Secret (always in the referencing object's own namespace)."""
    key: Annotated[str, Field(min_length=1, max_length=253)]
    """Key inside the Secret's data whose value is used."""


class Matcher(Model):
    """A label matcher, as in Alertmanager's `name="value"` syntax."""

    name: LabelName
    """Label name to match."""
    match_type: Literal["=", "!=", "=~", "!~"] = "="
    """Equality (`=`, `!=`) or RE2 regular expression match (`=~`, `!~`, fully anchored)."""
    value: Annotated[str, Field(max_length=1024)] = ""
    """Label value, or the regular expression for `=~` and `!~`."""

    @field_validator("value")
    @classmethod
    def _regex_compiles(cls, value: str, info: ValidationInfo) -> str:
        """Alertmanager compiles a regex matcher as Go's `regexp.Compile("^(?:" + value + ")$")`
        (pkg/labels/matcher.go NewMatcher, v0.25-v0.28) and refuses the whole file when it fails."""
        if info.data.get("match_type") in ("=~", "!~") and (error := re2_error(value)) is not None:
            raise ValueError(error)
        return value


def go_quote(text: str) -> str:
    """Go's `%q` of a string (close enough for messages: JSON's escaping, non-ASCII kept)."""
    return json.dumps(text, ensure_ascii=False)


_URL_HOST_OK = frozenset("!$&'()*+,;=:[]<>\"-_.~%")


def _unescape_error(text: str, host: bool) -> str | None:
    """Go net/url `unescape`: bad `%` escapes, and in a host the characters it refuses."""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "%":
            code = text[i + 1 : i + 3]
            if len(code) < 2 or any(h not in "0123456789abcdefABCDEF" for h in code):
                return f"invalid URL escape {go_quote(text[i : i + 3])}"
            if host and int(code[0], 16) < 8 and code != "25":
                return f"invalid URL escape {go_quote(text[i : i + 3])}"
            i += 3
            continue
        if host and ord(c) < 0x80 and not c.isalnum() and c not in _URL_HOST_OK:
            return f"invalid character {go_quote(c)} in host name"
        i += 1
    return None


def _valid_port(port: str) -> bool:
    return port == "" or (port[0] == ":" and all(c in "0123456789" for c in port[1:]))


def _go_url_parse(raw: str) -> tuple[str, str, str | None]:
    """(scheme, host, error) as Go's `url.Parse` (net/url, Go 1.19-1.22) sees an absolute URL."""
    rest, _, fragment = raw.partition("#")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in rest):
        return "", "", "net/url: invalid control character in URL"
    scheme = ""
    for i, c in enumerate(rest):
        if c.isascii() and (c.isalpha() or (i and (c.isdigit() or c in "+-."))):
            continue
        if c == ":":
            if i == 0:
                return "", "", "missing protocol scheme"
            scheme, rest = rest[:i].lower(), rest[i + 1 :]
        break
    rest = rest.partition("?")[0]
    host = ""
    if scheme and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        userinfo, at, host = authority.rpartition("@")
        if host.startswith("["):
            close = host.rfind("]")
            if close < 0:
                return scheme, "", "missing ']' in host"
            if not _valid_port(host[close + 1 :]):
                return scheme, "", f"invalid port {go_quote(host[close + 1 :])} after host"
        elif (colon := host.rfind(":")) >= 0 and not _valid_port(host[colon:]):
            return scheme, "", f"invalid port {go_quote(host[colon:])} after host"
        if error := _unescape_error(host, host=True):
            return scheme, "", error
        if at and any(not (c.isascii() and c.isalnum()) and c not in "-._:~!$&'()*+,;=%@" for c in userinfo):
            return scheme, "", "net/url: invalid userinfo"
    if error := _unescape_error(rest, host=False) or _unescape_error(fragment, host=False):
        return scheme, host, error
    return scheme, host, None


def url_error(raw: str, redact: bool = False) -> str | None:
    """Alertmanager's error for a URL field (config/config.go `parseURL`, used by URL and SecretURL,
    v0.25-v0.28): Go's `url.Parse`, then scheme http or https and a host. None when valid. With
    `redact` (the value comes from a Secret) the message quotes nothing of the value. Raises nothing."""
    scheme, host, error = _go_url_parse(raw)
    if error is not None:
        if redact:  # the quoted parts (port, escape, character) are pieces of the secret
            return "parse <secret value>: " + re.sub(r' "(?:[^"\\]|\\.)*"', "", error)
        return f"parse {go_quote(raw.partition('#')[0])}: {error}"
    if scheme not in ("http", "https"):
        if redact:
            return "unsupported scheme for URL (only http and https)"
        return f"unsupported scheme {go_quote(scheme)} for URL"
    if not host:
        return "missing host for URL"
    return None


def http_url(value: str) -> str:
    """Pydantic check of a plain URL field with Alertmanager's rules (`url_error`)."""
    if (error := url_error(value)) is not None:
        raise ValueError(error)
    return value


class LabelSelectorRequirement(Model):
    """One requirement of a label selector, as in Kubernetes' LabelSelectorRequirement."""

    key: Annotated[str, Field(min_length=1, max_length=317)]
    """Label key the requirement applies to."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """How the key relates to the values."""
    values: list[Annotated[str, Field(max_length=63)]] | None = None
    """Values for In and NotIn; must be empty for Exists and DoesNotExist."""


class LabelSelector(Model):
    """A Kubernetes label selector; an empty selector matches everything."""

    match_labels: dict[str, str] | None = None
    """Labels that must all be present with exactly these values."""
    match_expressions: list[LabelSelectorRequirement] | None = None
    """Set-based requirements; all must hold."""


class Condition(Model):
    """A kstatus-compliant condition (type, status, reason, message, observedGeneration). Every kind
    carries `Ready` (True once the object is live as its spec says), `Reconciling` (True while the
    operator works towards that) and `Stalled` (True when it cannot get there without a change), each
    with the generation it describes."""

    type: Annotated[str, Field(max_length=316)]
    """Condition type: `Ready`, `Reconciling` or `Stalled` (kstatus), or a kind's own (`Degraded`, `Resolved`)."""
    status: Literal["True", "False", "Unknown"]
    """Whether the condition holds."""
    reason: Annotated[str, Field(max_length=1024)] | None = None
    """One CamelCase word saying why the condition has this status."""
    message: Annotated[str, Field(max_length=32768)] | None = None
    """Human-readable details."""
    last_transition_time: datetime | None = None
    """When the status last changed."""
    observed_generation: int | None = None
    """metadata.generation of the spec this condition describes."""


# -- kstatus ---------------------------------------------------------------------------------------
# kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, v0.37, `Compute`), which Flux's health checks and
# `kpt live status` apply, reads an object as: Terminating when deletionTimestamp is set; InProgress
# when status.observedGeneration differs from metadata.generation; else the first condition in the
# list that is `Reconciling` True (InProgress) or `Stalled` True (Failed); else `Ready` True (Current)
# or False (InProgress); else Current. The "abnormal-true" conditions are set False when they do not
# hold (kstatus reads absent and False alike): every object then shows all three, `kubectl wait
# --for=condition=Stalled=false` works, and a status written before them is recognisably old.
KStatus = Literal["Current", "Reconciling", "Stalled"]
CURRENT: Final = "Current"
RECONCILING: Final = "Reconciling"
STALLED: Final = "Stalled"

KSTATUS: dict[str, dict[str, KStatus]] = {
    # The one table of what each Ready reason of each kind means to kstatus: Current (Ready True),
    # Reconciling (Ready False, on its way: the operator needs no one's help) or Stalled (Ready False,
    # it cannot get there without a change by someone: to the object, a Secret, a cluster, a target).
    # A Stalled object comes back to Current by itself once that change is made (kstatus' Failed is
    # not terminal), so "a cluster not created yet" is Stalled until it is.
    "AlertRule": {
        "Synced": CURRENT,  # loaded by every target
        "Suspended": CURRENT,  # spec.enabled false: removed everywhere, as asked
        "Pending": RECONCILING,  # written, waiting for a cluster to write it or a sidecar to load it
        "Invalid": STALLED,  # the spec must change
        "UnknownTarget": STALLED,  # spec.targets names no AlertmanagerCluster
        "NotSelected": STALLED,  # no cluster selects it: loaded nowhere until a selector or label changes
        "SyncFailed": STALLED,  # a target refused the file (or it is too large for it)
        "Stalled": STALLED,  # no sidecar report past the bound: kstatus' "insufficient progress"
    },
    "AlertmanagerCluster": {
        "Healthy": CURRENT,
        "Probing": RECONCILING,  # before the first health probe
        "RenderFailed": STALLED,  # a reconcile step, the render or the sidecar failed: the error is shown
        "TargetsUnhealthy": STALLED,  # a target does not answer its probe (still probed: clears itself)
    },
    "NotificationChannel": {
        "Rendered": CURRENT,
        "Pending": RECONCILING,  # a selecting cluster has not rendered it yet
        "Invalid": STALLED,
        "RobotRefused": STALLED,  # the robot refuses its token, secret or keyword (not retried)
        "LastKnownGood": STALLED,  # its Secret is gone or unreadable: the last good receiver runs
        "UnknownTarget": STALLED,
        "NotSelected": STALLED,
    },
    "SuppressionPolicy": {
        "Rendered": CURRENT,
        "Pending": RECONCILING,
        "Invalid": STALLED,
        "UnknownTarget": STALLED,
        "NotSelected": STALLED,
    },
    # Written by the gateway, which owns no desired state but the record itself: once its status is
    # written it is current (Firing and Resolved alike; `Resolved` is a condition of its own).
    "Incident": {"Tracked": CURRENT},
}


def kstatus_of(kind: str, reason: str) -> KStatus:
    """What the Ready `reason` of a `kind` means to kstatus (`KSTATUS`). Raises KeyError for a reason
    the table does not name (a new reason must be placed in it)."""
    return KSTATUS[kind][reason]


class ObjectMeta(Model):
    """The parts of Kubernetes ObjectMeta AlertAgent reads; everything else is kept as is."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    """Object name."""
    namespace: str | None = None
    """Object namespace."""
    labels: dict[str, str] | None = None
    """Object labels."""
    annotations: dict[str, str] | None = None
    """Object annotations."""
    generation: int | None = None
    """Spec generation, set by the API server."""


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: Literal["string", "integer", "number", "boolean", "date"] = "string"
    description: str = ""
    priority: int = 0

    def as_crd(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "jsonPath": self.json_path, "type": self.type}
        if self.description:
            column["description"] = self.description
        if self.priority:
            column["priority"] = self.priority
        return column


READY_COLUMN = PrinterColumn(
    "Ready", '.status.conditions[?(@.type=="Ready")].status', description="Whether the object is ready"
)
# Why an object is or is not ready, in one word (Synced, NotSelected, UnknownTarget, LastKnownGood, ...).
REASON_COLUMN = PrinterColumn(
    "Reason", '.status.conditions[?(@.type=="Ready")].reason', description="Why the object is or is not ready"
)
AGE_COLUMN = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class CrdNames:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    columns: tuple[PrinterColumn, ...] = field(default=())
    categories: tuple[str, ...] = ("alertagent",)

    @property
    def singular(self) -> str:
        return self.kind.lower()


class Resource(Model):
    """Base of the four custom resources: apiVersion, kind, metadata, spec, status."""

    model_config = ConfigDict(extra="ignore")  # the API server adds metadata fields we do not model
    names: ClassVar[CrdNames]

    api_version: Literal["alertagent.io/v1alpha1"] = "alertagent.io/v1alpha1"
    """APIVersion defines the versioned schema of this representation of an object."""
    kind: str
    """Kind is a string value representing the REST resource this object represents."""
    metadata: ObjectMeta = ObjectMeta()
    """Standard object metadata."""
