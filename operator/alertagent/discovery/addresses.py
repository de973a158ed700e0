"""Addresses (pure): the Kubernetes Services a string from a workload may point at.

`parse_addresses` reads an env var value, a ConfigMap value (possibly a whole config file) or a command
line and returns every host[:port] in it that could name a Service. Host forms, each with an optional
`:port` (numeric; named ports only inside URLs):

    svc                                  svc in the caller's namespace
    svc.ns                               svc in ns (or an external domain such as example.com)
    svc.ns.svc[.cluster.local][.]        svc in ns; any cluster domain may follow `.svc`
    pod-0.svc[.ns[.svc[.cluster.local]]] the headless Service of a StatefulSet pod

Anything longer (api.github.com) is an external domain. Where hosts are found: URLs of any scheme
(credentials dropped, `host1:p,host2:p` lists split), Go DSNs (`user:pw@tcp(host:port)/db`), and
otherwise tokens split on whitespace, quotes, `=`, `,`, `;` and brackets, so flags, `KEY=value`, shell
commands and JSON/YAML/properties/nginx files all work. Kubernetes `$(VAR)` references are expanded from
`env` first; `$$(VAR)`, unknown `$(VAR)` and shell `$VAR`/`${VAR}` poison the token they are in.

An address is `certain` when its form says "in-cluster Service": a `.svc` suffix, a URL scheme, a DSN
or a port. Certain addresses that resolve to nothing are reported to users, so certainty is withheld
where the form is often something else: a public top-level domain (https://example.com), and ports
below 80 outside URLs (`postgres:16` is far more often an image than a Service on port 16).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, order=True)
class ServiceRef:
    name: str  # Service name (DNS-1035 label, lower case)
    namespace: str | None  # explicit namespace, or None meaning "the caller's own namespace"


@dataclass(frozen=True, order=True)
class Address:
    text: str  # host[:port] as written, without scheme, credentials, path or query
    refs: tuple[ServiceRef, ...]  # interpretations, most likely first
    certain: bool  # the form itself says "in-cluster Service"


_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*(?::[A-Za-z][A-Za-z0-9+.\-]*)*://"
# Token separators; `/`, `@`, `:` and `\` stay inside tokens so paths, emails and `C:\x` are rejected whole.
_SEP = r"\s\"'`=,;()\[\]{}<>|&!*#?"
_ITEM_RE = re.compile(
    # A URL runs to whitespace or a quote; a comma ends it only where the next URL starts (mongodb host
    # lists keep theirs). Its path and query are consumed so nothing in them is read as an address.
    rf"(?P<scheme>{_SCHEME})(?P<rest>(?:[^\s\"'`<>\\,]|,(?!{_SCHEME}))*)"
    # Go DSN: credentials up to the last `@` of the run, then tcp(address) or unix(socket), then /db?params.
    rf"|(?:(?:[^{_SEP}@]*+@)++)?(?P<proto>tcp6?|unix)\((?P<dsn>[^()\s]*)\)[^\s\"'`]*"
    rf"|(?P<token>[^{_SEP}]+)"
)
_AUTHORITY_END_RE = re.compile(r"[/?#;)\]}|]")
_HOST_RE = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?")
_PORT_RE = re.compile(r"[1-9][0-9]{0,4}")
_NAMED_PORT_RE = re.compile(r"(?=[a-z0-9-]{1,15}\Z)[a-z0-9-]*[a-z][a-z0-9-]*")  # IANA service name
_VAR_RE = re.compile(r"\$(\$?)\(([^()]*)\)|\$\{[^}]*\}|\$\w+")

_NOT_NAMES = frozenset({"true", "false", "yes", "no", "on", "off", "null", "none", "nil", "nan", "inf", "localhost"})
# Two-label names ending like a file (`app.yaml`) are files unless a port or scheme says otherwise.
_FILE_EXTENSIONS = frozenset(
    {
        "txt",
        "json",
        "yaml",
        "yml",
        "conf",
        "cfg",
        "log",
        "sh",
        "py",
        "jar",
        "war",
        "pem",
        "crt",
        "cer",
        "key",
        "p12",
        "jks",
        "properties",
        "xml",
        "ini",
        "toml",
        "sql",
        "db",
        "env",
        "html",
        "js",
        "csv",
        "md",
        "lock",
        "pid",
        "sock",
        "gz",
        "tgz",
        "zip",
        "tar",
    }
)
# A name ending in one of these is a public domain more often than svc.ns, so never certain.
_PUBLIC_TLDS = frozenset(
    {
        "com",
        "net",
        "org",
        "io",
        "co",
        "ai",
        "gov",
        "edu",
        "mil",
        "int",
        "info",
        "biz",
        "me",
        "tv",
        "cc",
        "us",
        "uk",
        "eu",
        "de",
        "fr",
        "nl",
        "ru",
        "cn",
        "jp",
        "in",
        "br",
        "au",
        "ca",
        "ch",
        "se",
        "es",
        "it",
        "pl",
        "xyz",
        "cloud",
        "tech",
        "online",
        "site",
    }
)
# Hosts under these schemes are buckets, files or images, not Services.
_NON_NETWORK_SCHEMES = frozenset(
    {
        "file",
        "unix",
        "s3",
        "s3a",
        "s3n",
        "gs",
        "gcs",
        "sqlite",
        "sqlite3",
        "docker",
        "oci",
        "az",
        "abfs",
        "abfss",
        "wasb",
        "wasbs",
    }
)


def parse_addresses(value: str, env: Mapping[str, str] | None = None) -> list[Address]:
    """Every address found in value, deduplicated, in order of first appearance."""
    if "$" in value:
        value = _expand(value, env or {})
    found: dict[str, Address] = {}
    for m in _ITEM_RE.finditer(value):
        if (token := m["token"]) is not None:
            address = _token(token)
            addresses: Iterable[Address] = () if address is None else (address,)
        elif m["scheme"] is not None:
            addresses = _url(m["scheme"], m["rest"])
        elif m["proto"] != "unix":
            addresses = _hostports(m["dsn"].lower())
        else:
            continue
        for address in addresses:
            seen = found.get(address.text)
            # A repeat keeps its first place; certainty from any occurrence counts.
            if seen is None or (address.certain and not seen.certain):
                found[address.text] = address
    return list(found.values())


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion in one pass; everything else that refers to a variable becomes a
    lone `$`, which no host may contain."""

    def replace(m: re.Match[str]) -> str:
        if m[2] is not None and not m[1] and m[2] in env:
            return env[m[2]]
        return "$"

    return _VAR_RE.sub(replace, value)


def expand_references(value: str, env: Mapping[str, str]) -> str:
    """A value as the kubelet leaves it: `$(VAR)` replaced from `env`, `$$(VAR)` unescaped to `$(VAR)`,
    an unknown `$(VAR)` kept literally (k8s.io/kubernetes third_party/forked/golang/expansion)."""

    def replace(m: re.Match[str]) -> str:
        if m[2] is None:
            return m[0]  # shell syntax: not Kubernetes', left as written
        if m[1]:
            return f"$({m[2]})"
        return env.get(m[2], m[0])

    return _VAR_RE.sub(replace, value)


# Cached: the same words and host:ports recur across the containers and ConfigMaps of a cluster.
@lru_cache(maxsize=16384)
def _token(token: str) -> Address | None:
    token = token.strip("\\")  # what is left of JSON-escaped quotes
    if "/" in token or "@" in token:
        return None  # a path, an email, or credentials
    host, colon, port = token.partition(":")
    if not colon:
        return _address(token, host, False)
    port = port.removesuffix(".")  # the end of a sentence
    if _PORT_RE.fullmatch(port) and (number := int(port)) <= 65535:
        return _address(f"{host}:{port}", host, number >= 80)
    return None  # `key:value`, `image:tag`, a YAML key (`host:`) or IPv6


def _url(scheme: str, rest: str) -> list[Address]:
    if not _NON_NETWORK_SCHEMES.isdisjoint(scheme[:-3].lower().split(":")):
        return []
    end_match = _AUTHORITY_END_RE.search(rest)
    end = end_match.start() if end_match else len(rest)
    if "@" in rest[end:]:
        # An `@` past the authority: a password with an unencoded `/`, `?`, `#` or `;` ends the authority
        # early, so what looks like the host may be part of it. Dropping the URL is the safe reading.
        return []
    authority = rest[:end].lower()
    return _hostports(authority[authority.rfind("@") + 1 :])


def _hostports(hosts: str) -> list[Address]:
    """Comma-separated host[:port] from a URL authority or a DSN: explicit, and named ports allowed."""
    addresses = []
    for hostport in hosts.split(","):
        host, _, port = hostport.partition(":")
        if not port:
            address = _address(host, host, True)
        elif (_PORT_RE.fullmatch(port) and int(port) <= 65535) or _NAMED_PORT_RE.fullmatch(port):
            address = _address(hostport, host, True)
        else:
            continue
        if address is not None:
            addresses.append(address)
    return addresses


def _address(text: str, host: str, explicit: bool) -> Address | None:
    """explicit: a scheme, DSN or service-like port says the host is meant to be connected to."""
    interpreted = _interpret(host, explicit)
    return None if interpreted is None else Address(text, *interpreted)


@lru_cache(maxsize=8192)
def _interpret(host: str, explicit: bool) -> tuple[tuple[ServiceRef, ...], bool] | None:
    """The Services a lower-case host may name, most likely first, and whether it is certain."""
    if not _HOST_RE.fullmatch(host):
        return None
    labels = host.removesuffix(".").split(".")
    count = len(labels)
    in_cluster = True
    if count >= 3 and labels[2] == "svc":
        refs = _ref(labels[0], labels[1])
    elif count >= 4 and labels[3] == "svc" and _is_pod(labels[0]):
        refs = _ref(labels[1], labels[2])
    elif count > 3 or labels[-1].isdigit():
        return None  # an external domain; or a version or IPv4 address: no TLD or namespace is a number
    else:
        in_cluster = False
        if count == 1:
            refs = _ref(labels[0], None)
        elif count == 3:
            refs = _ref(labels[1], labels[2]) if _is_pod(labels[0]) else ()
        elif explicit or labels[1] not in _FILE_EXTENSIONS:
            # pod-0.svc reads as the Service pod-0 in namespace svc first, then as a headless pod.
            refs = _ref(labels[0], labels[1]) + (_ref(labels[1], None) if _is_pod(labels[0]) else ())
        else:
            return None
    if not refs:
        return None
    public = count > 1 and labels[-1] in _PUBLIC_TLDS
    return refs, in_cluster or (explicit and not public)


def _ref(name: str, namespace: str | None) -> tuple[ServiceRef, ...]:
    """The reference if name can be a Service name: DNS-1035 (starts with a letter), not a keyword."""
    if "a" <= name[0] <= "z" and name not in _NOT_NAMES:
        return (ServiceRef(name, namespace),)
    return ()


def _is_pod(label: str) -> bool:
    """StatefulSet pod hostnames end in -<ordinal>."""
    _, dash, ordinal = label.rpartition("-")
    return bool(dash) and ordinal.isdigit()
