"""Addresses (pure): the Kubernetes Services a string from a workload may point at. The one place the
address rules live.

`parse_addresses` reads an env var value, a ConfigMap value (possibly a whole config file) or a command
line and returns every host[:port] in it that could name a Service, in order of first appearance. Host
forms, each with an optional `:port` (numeric; named ports only inside URLs):

    svc                                  svc in the caller's namespace
    svc.ns                               svc in ns, or a public domain (see "Public names")
    svc.ns.svc[.cluster.local][.]        svc in ns; any cluster domain may follow `.svc`
    pod-0.svc[.ns[.svc[.cluster.local]]] the headless Service of a StatefulSet pod

Anything longer (api.github.com) is an external domain. Kubernetes `$(VAR)` references are expanded from
`env` first; `$$(VAR)`, unknown `$(VAR)` and shell `$VAR`/`${VAR}` poison the token they are in.

**References are not connections.** A URL that names a document gives no address at all: the value of
a key that says so, as JSON `"key": v`, YAML `key: v`, `key=v` or an XML attribute (JSON Schema `$schema`,
`$id`, `$ref`; JSON-LD `@context`, `@id`; XML `xmlns`, `xmlns:*`; and any key whose last word, after a
trailing url/uri/link/href/location/page, is schema, homepage, documentation, docs, doc, license,
licence, help, wiki, runbook, website, changelog or readme: `homepage`, `help_url`, `docsUrl`,
`xsi:schemaLocation`, OpenTelemetry's `schema_url`, but not `license_server` or
`schema_registry_url`); and a URL whose path names a schema document (ending `.xsd`, `.dtd`,
`.schema.json`, or `.json` under a `/schema/` or `/schemas/` segment). Links in prose and comments are
almost always on public domains, which the next rule covers. `is_reference_key` applies the key rule to
an env var or ConfigMap key name.

**Connection strings** (`key=value;key=value`: ADO.NET SqlClient, Npgsql, MySQL Connector, ODBC, JDBC
properties after `jdbc:sqlserver://`, DB2, Cassandra): a run of `;`-separated pairs, with at least one
`;`, in which a key (case-insensitive, spaces collapsed) is a host key: Server, Host, HostName,
ServerName, Data Source, Address, Addr, Network Address, Contact Points or Failover Partner. Its value
is read as a host list: `,` separates hosts, except that a number after a host is its port (SqlClient's
`tcp:host,1433`); `tcp:` prefixes, `\\instance` and `/service` suffixes are dropped (named pipes and shared
memory give nothing); an Oracle descriptor gives its `(HOST=..)(PORT=..)`. A Port or PortNumber key is
the port of every host that has none. Hosts found so are explicit, hence certain (unless public).
Pairs whose key names a credential (Password, Pwd, User Id, Uid, AccountKey, token, secret, ...) and the
host and port pairs are removed before tokenising, so credentials are never read as addresses (a run
with credentials but no host key only loses those); other pairs are tokenised as usual. Junk before the
first key is skipped (`ConnectionStrings__Main=Server=x;...`, `Connection: Server=x;...`). A single
pair without `;` is `KEY=value` below.

**Everything else**: URLs of any scheme (credentials dropped, `host1:p,host2:p` lists split), Go DSNs
(`user:pw@tcp(host:port)/db`), and otherwise tokens split on whitespace, quotes, `=`, `,`, `;` and
brackets, so flags, `KEY=value`, shell commands and JSON/YAML/properties/nginx files all work.

**Certain**: an address is `certain` when its form says "in-cluster Service": a `.svc` suffix, a URL
scheme, a DSN, a connection string or a port of 80 and up. Certain addresses that resolve to nothing are reported to
users, so certainty is withheld where the form is often something else: ports below 80 outside URLs
(`postgres:16` is far more often an image than a Service on port 16), and public names.

**Public names.** `svc.ns` (and `pod-0.svc.ns`) whose `ns`, or `svc.ns` itself, is a suffix on the
Public Suffix List (the `publicsuffixlist` package's bundled snapshot, ICANN and private sections, no
network access) is a public domain name: `flagd.dev`, `example.com`, `api.prod`, `db.data`. Such an
address is never certain (a miss is an external site, not a missing Service), and it is `public`, i.e.
external unless stronger evidence says otherwise, when nothing in its form says "service": no port
other than 80/443 (`http`/`https`), no scheme other than the web and source-control ones (http(s),
ws(s), ftp(s), ssh, git), not a DSN, not a connection string. `https://flagd.dev`, `example.com` and
`api.prod` are public; `api.prod:8080`, `grpc://api.prod` and `Host=db.data` are not (still not
certain). The graph resolves a public address only on evidence stronger than its form: a named key (an
env var, a configMapKeyRef, the dependencies annotation), never a mounted file, envFrom or args. Many
namespace names are public suffixes (app, dev, prod, data, shop, store, web, ml, ai, qa, ci, cloud,
...), hence the port and scheme exceptions.

DNS caveat: a pod's resolver (`ndots: 5`, search path `<ns>.svc.cluster.local svc.cluster.local
cluster.local`) tries a name with fewer than five dots against the search path first, so `flagd.dev`
really does reach Service `flagd` in namespace `dev` when one exists, and the public site otherwise. The
rule above is about evidence, not resolution: a public name only counts when the evidence says it is
connected to. (A trailing dot, `flagd.dev.`, skips the search path; it gets no special reading here,
since sentences end in dots too.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache

from publicsuffixlist import PublicSuffixList


@dataclass(frozen=True, order=True)
class ServiceRef:
    name: str  # Service name (DNS-1035 label, lower case)
    namespace: str | None  # explicit namespace, or None meaning "the caller's own namespace"


@dataclass(frozen=True, order=True)
class Address:
    text: str  # host[:port] as written, without scheme, credentials, path or query
    refs: tuple[ServiceRef, ...]  # interpretations, most likely first
    certain: bool  # the form itself says "in-cluster Service": a miss is worth reporting
    public: bool = False  # a public domain name with nothing saying "service": external by default


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
# Schemes used with public sites: with one of these (or none), a public name stays public.
_WEB_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "ftps", "ssh", "git", "git+ssh", "git+https"})
_WEB_PORTS = frozenset({"80", "443", "http", "https"})

# --- references -----------------------------------------------------------------------------------------
# `key: value`, `"key": "value"`, `key=value` or `key="value"`; the callback decides by the key.
_REFERENCE_RE = re.compile(
    r"(?<![\w$@.:-])(?P<key>[$@]?[A-Za-z_][\w.:-]{0,80})[\"']?[ \t]*[:=][ \t]*"
    r"(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s\"'`<>,;]+)"
)
_REFERENCE_KEYS = frozenset({"$schema", "$id", "$ref", "@context", "@id", "xmlns"})
_REFERENCE_WORDS = frozenset(
    {
        "schema",
        "homepage",
        "documentation",
        "docs",
        "doc",
        "license",
        "licence",
        "help",
        "wiki",
        "runbook",
        "website",
        "changelog",
        "readme",
    }
)
_LINK_WORDS = frozenset({"url", "uri", "link", "href", "location", "page"})
# Every reference key contains one of these once lower-cased: a cheap test before the reference pass.
_REFERENCE_HINTS = tuple(sorted(_REFERENCE_KEYS | _REFERENCE_WORDS))
_KEY_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")  # camelCase, snake_case, kebab-case, a.b
_REFERENCE_PATH_RE = re.compile(r"\.(?:xsd|dtd|schema\.json)\Z|/schemas?/(?:[^/]*/)*[^/]*\.json\Z", re.IGNORECASE)

# --- connection strings ---------------------------------------------------------------------------------
_CS_KEY = r"[A-Za-z]\w{0,63}+(?:[ \t]+[A-Za-z]\w{0,63}+){0,3}"
_CS_VALUE = r"\"(?:[^\"\n]|\"\")*\"|'(?:[^'\n]|'')*'|[^;\"'`\r\n]*"
_CS_PAIR = rf"{_CS_KEY}[ \t]*=[ \t]*(?:{_CS_VALUE})"
# A run of pairs with at least one `;`; it starts at a word boundary.
_CS_RE = re.compile(rf"(?<!\w)(?:{_CS_PAIR}[ \t]*;[ \t]*)+(?:{_CS_PAIR})?")
_CS_KEY_RE = re.compile(_CS_KEY)
_CS_PAIR_RE = re.compile(rf"(?P<key>{_CS_KEY})[ \t]*=[ \t]*(?P<value>{_CS_VALUE})")
_CS_HOST_KEYS = frozenset(
    {
        "server",
        "host",
        "hostname",
        "host name",
        "servername",
        "server name",
        "data source",
        "datasource",
        "address",
        "addr",
        "network address",
        "contact points",
        "failover partner",
    }
)
_CS_PORT_KEYS = frozenset({"port", "portnumber", "port number"})
# Credential keys (whole key, normalised): Password, Pwd, User Id, Uid, AccountKey, SharedAccessKey, ...
_CS_SECRET_RE = re.compile(
    r".*(?:pass|passwd|password|pwd|secret|token|key|signature|sig)|(?:.*[\W_])?(?:user ?(?:id|name)?|uid|login)"
)
_TNS_ADDRESS_RE = re.compile(r"\(\s*host\s*=\s*([^()\s]+)\s*\)(?:\s*\(\s*port\s*=\s*(\d+)\s*\))?")


def parse_addresses(value: str, env: Mapping[str, str] | None = None) -> list[Address]:
    """Every address found in value, deduplicated, in order of first appearance."""
    if "://" in value and _may_hold_reference(value):
        value = _REFERENCE_RE.sub(_drop_reference, value)
    if "$" in value:
        value = _expand(value, env or {})
    connection: list[tuple[int, Address]] = []
    if ";" in value and "=" in value:
        value, connection = _connection_strings(value)
    found: dict[str, Address] = {}
    for m in _ITEM_RE.finditer(value):
        if connection and connection[0][0] < m.start():
            # Connection-string addresses go in at their place in the text.
            _keep(found, [a for start, a in connection if start < m.start()])
            connection = [(start, a) for start, a in connection if start >= m.start()]
        if (token := m["token"]) is not None:
            # Inlined _keep: most items are tokens.
            if (address := _token(token)) is not None and (
                (seen := found.get(address.text)) is None
                or (address.certain, seen.public) > (seen.certain, address.public)
            ):
                found[address.text] = address
        elif m["scheme"] is not None:
            _keep(found, _url(m["scheme"], m["rest"]))
        elif m["proto"] != "unix":
            _keep(found, _hostports(m["dsn"].lower(), service=True))
    _keep(found, [a for _, a in connection])
    return list(found.values())


def _keep(found: dict[str, Address], addresses: Iterable[Address]) -> None:
    """A repeat keeps its first place; the strongest reading of any occurrence counts (certain first,
    then not public)."""
    for address in addresses:
        seen = found.get(address.text)
        if seen is None or (address.certain, seen.public) > (seen.certain, address.public):
            found[address.text] = address


@lru_cache(maxsize=4096)
def is_reference_key(key: str) -> bool:
    """Whether a key (JSON/YAML/XML/properties key, env var or ConfigMap key name) holds a reference to
    a document rather than an address to connect to: `$schema`, `xmlns:xsi`, `help_url`, `LICENSE_URL`,
    `schemaLocation` (see the module docstring)."""
    lowered = key.lower()
    if lowered in _REFERENCE_KEYS or lowered.startswith("xmlns:"):
        return True
    words = [w.lower() for w in _KEY_WORD_RE.findall(key)]
    while words and words[-1] in _LINK_WORDS:
        words.pop()
    return bool(words) and words[-1] in _REFERENCE_WORDS


def _may_hold_reference(value: str) -> bool:
    """A cheap test before the reference pass: a reference key could be in the value."""
    lowered = value.lower()
    return any(hint in lowered for hint in _REFERENCE_HINTS)


def _drop_reference(m: re.Match[str]) -> str:
    if "://" in m["value"] and is_reference_key(m["key"]):
        return m[0][: m.start("value") - m.start()] + " "
    return m[0]


def _connection_strings(value: str) -> tuple[str, list[tuple[int, Address]]]:
    """The addresses of the connection strings in value (with their offsets), and value with their
    host, port and credential pairs blanked out (same length, so offsets still hold)."""
    found: list[tuple[int, Address]] = []
    blanks: list[tuple[int, int]] = []
    for run in _CS_RE.finditer(value):
        pairs = []
        for i, pair in enumerate(_CS_PAIR_RE.finditer(run[0])):
            key, text = _cs_pair(pair["key"], pair["value"], first=i == 0)
            role = _cs_role(key)
            if role is not None:
                pairs.append((role, text, run.start() + pair.start(), run.start() + pair.end()))
        if not any(role in ("host", "secret") for role, *_ in pairs):
            continue
        port = next((text for role, text, *_ in pairs if role == "port" and _PORT_RE.fullmatch(text)), None)
        for role, text, start, end in pairs:
            blanks.append((start, end))
            if role == "host":
                found += [(start, address) for address in _cs_hosts(text, port)]
    if not blanks:
        return value, found
    parts, last = [], 0
    for start, end in blanks:
        parts += [value[last:start], " " * (end - start)]
        last = end
    parts.append(value[last:])
    return "".join(parts), found


def _cs_pair(key: str, value: str, first: bool) -> tuple[str, str]:
    """(normalised key, value) of a pair; the first pair of a run may start with junk: words before
    the key (`Connection: Server=x`) or another `key=` (`ConnectionStrings__Main=Server=x`)."""
    key = " ".join(key.lower().split())
    value = value.strip()
    while first:
        words = key.split(" ")
        known = next((k for i in range(len(words)) if _cs_role(k := " ".join(words[i:])) is not None), None)
        if known is not None:
            return known, value
        inner, equals, rest = value.partition("=")
        if not equals or not _CS_KEY_RE.fullmatch(inner := inner.strip()):
            break
        key, value = " ".join(inner.lower().split()), rest.strip()
    return key, value


@lru_cache(maxsize=1024)
def _cs_role(key: str) -> str | None:
    if key in _CS_HOST_KEYS:
        return "host"
    if key in _CS_PORT_KEYS:
        return "port"
    return "secret" if _CS_SECRET_RE.fullmatch(key) else None


def _cs_hosts(value: str, port: str | None) -> list[Address]:
    """The addresses of a host key's value; `port` is the run's Port key, for hosts without one."""
    value = value.lower()
    if value[:1] in ('"', "'"):
        value = value[1:-1]
    if value.lstrip().startswith("("):
        hostports = [(host, own or None) for host, own in _TNS_ADDRESS_RE.findall(value)]  # Oracle descriptor
    else:
        hostports = []
        for item in map(str.strip, value.split(",")):
            if item.isdigit() and hostports and hostports[-1][1] is None:
                hostports[-1] = (hostports[-1][0], item)  # SqlClient `host,port`
            elif (hostport := _cs_host(item)) is not None:
                hostports.append(hostport)
    addresses = []
    for host, own in hostports:
        number = own or port
        if number is not None and not (_PORT_RE.fullmatch(number) and int(number) <= 65535):
            number = None
        address = _address(f"{host}:{number}" if number else host, host, explicit=True, service=True)
        if address is not None:
            addresses.append(address)
    return addresses


def _cs_host(item: str) -> tuple[str, str | None] | None:
    """(host, port or None) of one host list item: `tcp:` dropped, and `\\instance` (SqlClient) and
    `/service` (Oracle EZConnect) suffixes; None for a named pipe, shared memory or admin connection."""
    protocol, colon, rest = item.partition(":")
    if colon and protocol in ("np", "lpc", "admin"):
        return None
    if colon and protocol == "tcp":
        item = rest
    host, _, own = item.removeprefix("//").partition("/")[0].partition("\\")[0].partition(":")
    return host, own or None


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
        return _address(token, host, explicit=False, service=False)
    port = port.removesuffix(".")  # the end of a sentence
    if _PORT_RE.fullmatch(port) and (number := int(port)) <= 65535:
        explicit = number >= 80
        return _address(f"{host}:{port}", host, explicit, service=explicit and port not in _WEB_PORTS)
    return None  # `key:value`, `image:tag`, a YAML key (`host:`) or IPv6


def _url(scheme: str, rest: str) -> list[Address]:
    schemes = scheme[:-3].lower().split(":")
    if not _NON_NETWORK_SCHEMES.isdisjoint(schemes):
        return []
    end_match = _AUTHORITY_END_RE.search(rest)
    end = end_match.start() if end_match else len(rest)
    if "@" in rest[end:]:
        # An `@` past the authority: a password with an unencoded `/`, `?`, `#` or `;` ends the authority
        # early, so what looks like the host may be part of it. Dropping the URL is the safe reading.
        return []
    if rest[end : end + 1] == "/" and _is_schema_path(rest[end:].partition("?")[0].partition("#")[0]):
        return []  # a schema document: a reference, not a connection
    authority = rest[:end].lower()
    return _hostports(authority[authority.rfind("@") + 1 :], service=_WEB_SCHEMES.isdisjoint(schemes))


def _is_schema_path(path: str) -> bool:
    return path[-4:].lower() in (".xsd", ".dtd", "json") and _REFERENCE_PATH_RE.search(path) is not None


def _hostports(hosts: str, service: bool) -> list[Address]:
    """Comma-separated host[:port] from a URL authority or a DSN: explicit, and named ports allowed.
    service: the scheme or form says "service" whatever the port."""
    addresses = []
    for hostport in hosts.split(","):
        host, _, port = hostport.partition(":")
        if not port:
            address = _address(host, host, explicit=True, service=service)
        elif (_PORT_RE.fullmatch(port) and int(port) <= 65535) or _NAMED_PORT_RE.fullmatch(port):
            address = _address(hostport, host, explicit=True, service=service or port not in _WEB_PORTS)
        else:
            continue
        if address is not None:
            addresses.append(address)
    return addresses


@lru_cache(maxsize=16384)
def _address(text: str, host: str, explicit: bool, service: bool) -> Address | None:
    """explicit: a scheme, DSN, connection string or port of 80 and up says the host is meant to be
    connected to. service: a port other than 80/443, a scheme other than the web ones, a DSN or a
    connection string says it is a service rather than a web site (so a public name is not public)."""
    interpreted = _interpret(host, explicit)
    if interpreted is None:
        return None
    refs, in_cluster, public_name = interpreted
    return Address(text, refs, in_cluster or (explicit and not public_name), public_name and not service)


@lru_cache(maxsize=8192)
def _interpret(host: str, explicit: bool) -> tuple[tuple[ServiceRef, ...], bool, bool] | None:
    """The Services a lower-case host may name, most likely first; whether its form is in-cluster
    (a `.svc` suffix); whether it is a public domain name (its last two labels are under a public
    suffix)."""
    if not _HOST_RE.fullmatch(host):
        return None
    labels = host.removesuffix(".").split(".")
    count = len(labels)
    if count >= 3 and labels[2] == "svc":
        refs = _ref(labels[0], labels[1])
        return (refs, True, False) if refs else None
    if count >= 4 and labels[3] == "svc" and _is_pod(labels[0]):
        refs = _ref(labels[1], labels[2])
        return (refs, True, False) if refs else None
    if count > 3 or labels[-1].isdigit():
        return None  # an external domain; or a version or IPv4 address: no TLD or namespace is a number
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
    return refs, False, count > 1 and _public_suffixes().publicsuffix(".".join(labels[-2:])) is not None


@cache
def _public_suffixes() -> PublicSuffixList:
    """The Public Suffix List snapshot bundled with `publicsuffixlist` (loaded on first use, ~40 ms).
    accept_unknown=False: a name under no listed suffix (`postgres.cache`) has none, rather than the
    algorithm's implicit `*` rule making every last label a suffix."""
    return PublicSuffixList(accept_unknown=False)


def _ref(name: str, namespace: str | None) -> tuple[ServiceRef, ...]:
    """The reference if name can be a Service name: DNS-1035 (starts with a letter), not a keyword."""
    if "a" <= name[0] <= "z" and name not in _NOT_NAMES:
        return (ServiceRef(name, namespace),)
    return ()


def _is_pod(label: str) -> bool:
    """StatefulSet pod hostnames end in -<ordinal>."""
    _, dash, ordinal = label.rpartition("-")
    return bool(dash) and ordinal.isdigit()
