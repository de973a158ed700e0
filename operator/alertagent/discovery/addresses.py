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

**Credentials are never read.** Before anything is tokenised, `scrub_credentials` blanks out every value
held by a credential key (see "Keys" below): `key=value` (properties, .env, libpq, `--password=x`,
`-Dspring.datasource.password=x`, StackExchange.Redis `redis:6379,password=x`), `key: value` (YAML, to the
line's end; a block scalar `password: |` and a section `credentials:` whole, but for its own address
keys), `"key": value` (JSON, also escaped inside a JSON string, PHP `=>`), a shell assignment
`PGPASSWORD=x psql ...` (to the blank), a directive at a line's start (redis.conf `masterauth x`,
`requirepass x`), an XML element `<password>x</password>` or `<property name="connection.password">x
</property>` and `<property name="password" value="x"/>`, a `--password x` / `--api-key x` flag, and the
password flags of known clients (sqlcmd and bcp `-P x`, mysql `-px`, redis-cli `-a x`, mongo tools and
cqlsh and rabbitmqadmin `-p x`, sshpass `-p x`, curl `-u user:x`). URL and DSN credentials are dropped
by their own forms below, and `;` connection strings drop their credential pairs. What the scrub
misses (a password with blanks in a flow mapping, or in a JSON object under a credential key) may still
be tokenised, but the key rule below keeps bare words under credential keys out of the graph.

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

**libpq keyword/value strings** (`host=pg-0,pg-1 port=5432 dbname=x user=u`, in an env var, a psql
argument or a pgbouncer.ini `[databases]` line): a blank-separated run of at least two pairs whose
lower-case keywords are libpq's (or pgbouncer's database options), with `host` or `hostaddr` among them.
`host` is a host list, `port` one port for all or one per host; the hosts are explicit, hence certain
(unless public). The whole run is removed before tokenising: no other keyword names a host (`dbname`,
`user`, `application_name` are not addresses), and `password` is a credential.

**Client commands** (initContainer wait-for loops, probes, scripts), read per simple command (up to `;`,
`&`, `|`, a newline, a backtick or a parenthesis): `nc`/`ncat`/`netcat`/`telnet HOST PORT` (skipping
options that take a value; none with `-l`), `nslookup HOST`, `cqlsh HOST PORT`; the host and port flags
of PostgreSQL tools (`pg_isready`, `psql`, `pg_dump`, ...: `-h/--host`, `-p/--port`), MySQL/MariaDB
tools (`-h/--host`, `-P/--port`, also attached: `-hdb -P3306`), redis-cli (`-h`, `-p`), mongo tools
(`-h/--host`, `--port`; `rs0/h1:p,h2:p`), clickhouse-client, rabbitmqadmin (`-H`, `-P`), wait-for-it
(`-h`, `-p`), sqlcmd and bcp (`-S [tcp:]host[\\instance][,port]`), bash's `/dev/tcp/HOST/PORT`, and
`--host`/`--hostname` with `--port` for any command. `-h` counts only for these clients (it is "help"
for most tools) and only before a plausible host (not a flag, a path or `localhost`). The host is
`named`: a bare word counts whatever key the command line sits under, and with a port it is certain.

**Everything else**: URLs of any scheme (credentials dropped, `host1:p,host2:p` lists split), Go DSNs
(`user:pw@tcp(host:port)/db`), and otherwise tokens split on whitespace, quotes, `=`, `,`, `;` and
brackets, so flags, `KEY=value`, shell commands and JSON/YAML/properties/nginx files all work.

**Certain**: an address is `certain` when its form says "in-cluster Service": a `.svc` suffix, a URL
scheme, a DSN, a connection string (`;` or libpq), a client command's port or a port of 80 and up.
Certain addresses that resolve to nothing are reported to users, so certainty is withheld where the form
is often something else: ports below 80 outside URLs (`postgres:16` is far more often an image than a
Service on port 16), and public names.

**Keys** (env var names, ConfigMap keys and file names, keys inside values, flags), by their words
(camelCase, snake_case, kebab-case and dotted keys split; `-D` and leading dashes dropped):

- a *credential* key: its last word ends with password, passwd, passphrase, pwd, pass, secret(s),
  token(s), credential(s), creds, auth, authorization, signature, sig or key (after a qualifier or in one
  word: `api_key`, `SharedAccessKey`, `apikey`; a bare `key` is not one), or any word is one of password,
  passwd, passphrase, pwd, secret(s), token, credential(s), creds, auth or apikey and the key names no
  address (`SECRET_KEY_BASE`, but not `TOKEN_URL`, `AUTH_SERVICE_HOST`, `SECRET_STORE_ADDR`). nginx's
  `proxy_pass` (and `fastcgi_pass`, `uwsgi_pass`, `scgi_pass`, `grpc_pass`, `memcached_pass`) name an
  upstream, not a password. `is_credential_key`.
- an *identity* key names the workload itself: a last word name, version, account, namespace, id or
  instance after a word service, svc, app, application, pod, node, container, component, agent,
  deployment or workload (`OTEL_SERVICE_NAME`, `JAEGER_SERVICE_NAME`, `SERVICE_ACCOUNT`,
  `serviceAccountName`, `SERVICE_VERSION`, `APP_NAME`, `SPRING_APPLICATION_NAME`, `POD_NAME`,
  `NODE_NAME`, OpenTelemetry's `service.name`), Datadog's `DD_SERVICE`/`DD_ENV`/`DD_VERSION`/`DD_TAGS`,
  `*_RESOURCE_ATTRIBUTES`, and the env var `HOSTNAME` (upper case only: a `hostname:` inside a file may
  name a server, as Debezium's `database.hostname` does). `is_identity_key`.
- a *reference* key (above). `is_reference_key`.
- an *address* key has host, addr, url, uri, endpoint, server, service, svc, upstream, backend, broker,
  dsn, target, peer, gateway or proxy in its name and is none of the above (`DB_HOST`, `REDIS_ADDR`,
  `ORDERS_SERVICE_HOST`, `peer.service`, `-Ddb.host`). `key_names_address`.

`discovery.facts.addresses_in` applies them: an env var or ConfigMap key that is a credential, identity
or reference key gives no address at all. Otherwise certain, named and `svc.ns` addresses are kept,
and a bare word (`mongo`: no port, scheme or namespace) counts only when *its own* key is an address
key. Inside a structured value (`key: v`, `key=v`, `"key": v`, `<key>v</key>`, `name="k" value="v"`)
a word's key is the nearest key before it on its line (a value ends at `;`, `&` or `|`, and a
shell-style `KEY=v` at a blank), else the key of the line that opens the YAML block, list or
pretty-printed JSON object it is indented under; comment lines count for nothing. Only a value with no
pairs at all (a plain list, one word) falls back to the env var name or ConfigMap key (file name). So
`db: {host: mongo}` in `config.yaml` and `spring.data.mongodb.host=mongo` count, `owner: mongo` in
`services.yaml` and `LOG_LEVEL=info` do not.

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
from dataclasses import dataclass, replace
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
    named: bool = False  # a host flag or argument of a client command names it a host, whatever the key


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

# --- keys: what a key's name says about its value -------------------------------------------------------
# A key with one of these in its name (anywhere, any case) names an address, unless it is a reference,
# credential or identity key.
_ADDRESS_KEY_RE = re.compile(
    r"host|addr|url|uri|endpoint|server|service|svc|upstream|backend|broker|dsn|target|peer|gateway|proxy",
    re.IGNORECASE,
)
# A key whose last word ends with one of these holds a credential (`DB_PASSWORD`, `PGPASSWORD`, `masterauth`,
# `requirepass`, `AUTH_TOKEN`, `client_secret`); so does one with a word in _CREDENTIAL_WORDS anywhere
# that names no address (`SECRET_KEY_BASE`, but not `TOKEN_URL` or `AUTH_SERVICE_HOST`).
_CREDENTIAL_ENDINGS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "pass",
    "secret",
    "secrets",
    "token",
    "tokens",
    "credential",
    "credentials",
    "creds",
    "auth",
    "authorization",
    "signature",
    "sig",
)
_CREDENTIAL_WORDS = frozenset(
    {"password", "passwd", "passphrase", "pwd", "secret", "secrets", "token", "credential", "credentials", "creds"}
    | {"auth", "apikey"}
)
_NOT_CREDENTIALS = frozenset({"bypass", "compass"})
# nginx's `proxy_pass` and its kin name an upstream, not a password.
_UPSTREAM_DIRECTIVES = frozenset({"proxy", "fastcgi", "uwsgi", "scgi", "grpc", "memcached"})
# Identity: `<subject> <attribute>` keys name the workload itself (OTEL_SERVICE_NAME, SERVICE_ACCOUNT,
# serviceAccountName, POD_NAME, SPRING_APPLICATION_NAME, service.version), and a few vendor keys.
_IDENTITY_SUBJECTS = frozenset(
    {"service", "svc", "app", "application", "pod", "node", "container", "component", "agent", "deployment"}
    | {"workload"}
)
_IDENTITY_ATTRIBUTES = frozenset({"name", "version", "account", "namespace", "id", "instance"})
_IDENTITY_ENDINGS = frozenset(
    {("dd", "service"), ("dd", "env"), ("dd", "version"), ("dd", "tags"), ("resource", "attributes")}
)
# Any credential key contains one of these once lower-cased: a cheap test (on the lower-cased value)
# before the scrub.
_CREDENTIAL_HINT = r"(?i:pass|pwd|secret|token|key|cred|auth|sig)"
_CREDENTIAL_HINT_RE = re.compile(r"pass|pwd|secret|token|key|cred|auth|sig")

# --- the credential scrub -------------------------------------------------------------------------------
_SCRUB_RE = re.compile(
    # A shell or .env assignment `DB_PASSWORD=x` (upper case, no blanks around `=`): the value ends at a
    # blank, so `PGPASSWORD=x psql -h db` keeps its command.
    r"(?:^[ \t]*)?(?<![^\s;&|(`\"'])(?P<ekey>(?=[A-Z_])[A-Z0-9_]{0,100}?(?:PASS|PWD|SECRET|TOKEN|KEY|CRED|AUTH|SIG)"
    r"[A-Z0-9_]{0,100})=(?P<evalue>\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|[^\s;&|)`'\"]*)"
    # key=value, key = value, key: value (YAML: a blank or the line's end after the colon), "key": value,
    # 'key' => value, \"key\": value (JSON in a JSON string), --flag=value, -Dprop=value. At a line's start
    # the value runs to its end (properties, YAML, .env), else to a blank, quote or `,;)}]` (libpq, flags,
    # StackExchange.Redis `host,password=x`, YAML flow).
    r"|(?P<start>^(?P<indent>[ \t]*)(?:-[ \t]+|export[ \t]+)?)?"
    rf"(?:(?P<q>\\?[\"'])(?P<qkey>[^\"'\n]{{0,100}}?{_CREDENTIAL_HINT}[^\"'\n]{{0,100}}?)(?P=q)[ \t]*(?:=>|[:=])[ \t]*"
    rf"|(?<![^\s{{,;(\[?&])(?P<key>[-$@]{{0,2}}[\w.$@-]{{0,100}}?{_CREDENTIAL_HINT}[\w.-]{{0,100}})"
    r"(?:[ \t]*=>?[ \t]*|:(?:[ \t]+|(?=\n|\Z))))"
    r"(?P<value>\\\"(?:[^\"\\\n]|\\[^\"\n])*\\\"|\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|\[[^\]\n]*\]"
    # A block under a credential key at a line's start: its indented lines (a block scalar `key: |`, or a
    # section `auth:` whose own address keys, `url:` or `host:`, are kept).
    r"|(?(start)(?:(?P<block>(?:[|>][-+0-9]*)?[ \t]*(?:\n(?P=indent)[ \t]+[^\n]*|\n[ \t]*(?=\n))+)"
    r"|(?:\S++|[ \t]++(?![\w.-]++[ \t]*=|#|\s|\Z))*+)|[^\s,;)}\]\"'<>`]*))"
    # `directive value` at a line's start (redis.conf `masterauth x`, `requirepass x`).
    rf"|^[ \t]*(?P<dkey>(?=[A-Za-z_])[\w.-]{{0,100}}?{_CREDENTIAL_HINT}[\w.-]{{0,100}})[ \t]+(?![=:\s])"
    r"(?P<dvalue>\"[^\"\n]*\"|'[^'\n]*'|[^\s#]+)"
    # `--password value`, `-token value` on a command line.
    rf"|(?<![^\s;&|(`\"'])(?P<flag>--?(?=[A-Za-z])[\w.-]{{0,100}}?{_CREDENTIAL_HINT}[\w.-]{{0,100}})[ \t]+(?!-)"
    r"(?P<fvalue>\"[^\"\n]*\"|'[^'\n]*'|[^\s;&|)`'\"]+)",
    re.MULTILINE,
)
# XML: <password>x</password>, <property name="connection.password">x</property>, and
# <property name="password" value="x"/> (Spring, Hibernate, Tomcat).
_XML_ELEMENT_RE = re.compile(r"<(?P<tag>[A-Za-z_][\w.:-]*)(?P<attrs>[^<>]*)>(?P<text>[^<]*)</(?P=tag)[ \t]*>")
_XML_NAME_RE = re.compile(r"(?<![\w:-])(?:name|key)[ \t]*=[ \t]*[\"']([^\"']*)[\"']")
_XML_VALUE_ATTR_RE = re.compile(
    r"(?<![\w:-])(?:name|key)[ \t]*=[ \t]*[\"'](?P<key>[^\"']*)[\"'][^<>]*?(?<![\w:-])value[ \t]*=[ \t]*"
    r"(?P<value>\"[^\"]*\"|'[^']*')"
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _flags(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- libpq keyword/value connection strings -------------------------------------------------------------
# https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS, plus pgbouncer.ini's
# database options.
_LIBPQ_KEYWORDS = _words(
    "hostaddr host port dbname user password passfile require_auth channel_binding connect_timeout"
    " client_encoding options application_name fallback_application_name keepalives keepalives_idle"
    " keepalives_interval keepalives_count tcp_user_timeout replication gssencmode sslmode requiressl"
    " sslnegotiation sslcompression sslcert sslkey sslpassword sslcertmode sslrootcert sslcrl sslcrldir sslsni"
    " requirepeer ssl_min_protocol_version ssl_max_protocol_version krbsrvname gsslib gssdelegation service"
    " target_session_attrs load_balance_hosts auth_user auth_dbname auth_query pool_size min_pool_size"
    " reserve_pool pool_mode max_db_connections max_db_client_connections datestyle timezone connect_query"
)
_LIBPQ_PAIR = rf"(?:{'|'.join(_LIBPQ_KEYWORDS)})[ \t]*=[ \t]*(?:'(?:[^'\\\n]|\\.)*'|[^\s'\"\\;]*)(?![^\s'\"])"
# At least two pairs separated by blanks; keywords are lower case (libpq's are case-sensitive).
_LIBPQ_RE = re.compile(rf"(?<![\w.$@-]){_LIBPQ_PAIR}(?:[ \t]+{_LIBPQ_PAIR})+")
_LIBPQ_PAIR_RE = re.compile(r"(?P<key>[a-z_]+)[ \t]*=[ \t]*(?P<value>'(?:[^'\\\n]|\\.)*'|[^\s'\"\\;]*)")


# --- client commands --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Client:
    """The flags of a client command: which name a host, a port or a password."""

    hosts: frozenset[str] = frozenset()
    ports: frozenset[str] = frozenset()
    passwords: frozenset[str] = frozenset()  # the value follows (or is attached with `=`)
    attached_passwords: frozenset[str] = frozenset()  # the value is attached only (mysql `-pSECRET`)
    attached: bool = False  # short host/port flags may carry their value (mysql `-hdb -P3306`)
    servers: frozenset[str] = frozenset()  # sqlcmd `-S [tcp:]host[\instance][,port]`
    positional: int = 0  # leading arguments: 1 host, 2 host and port
    options: frozenset[str] = frozenset()  # flags with a value, skipped when reading arguments
    listen: frozenset[str] = frozenset()  # flags that make the arguments local (nc -l)


_PG = _Client(hosts=_flags("-h --host"), ports=_flags("-p --port"))
_MYSQL = _Client(hosts=_flags("-h --host"), ports=_flags("-P --port"), attached_passwords=_flags("-p"), attached=True)
_REDIS = _Client(hosts=_flags("-h"), ports=_flags("-p"), passwords=_flags("-a"))
_MONGO = _Client(hosts=_flags("-h --host"), ports=_flags("--port"), passwords=_flags("-p"))
_SQLCMD = _Client(servers=_flags("-S"), passwords=_flags("-P"), attached=True)
_NETCAT = _Client(
    positional=2,
    options=_flags("-w -i -p -s -q -x -X -e -c -g -G -I -O -T -V -W -P -m -M -b"),
    listen=_flags("-l --listen"),
)
_CLIENTS = {
    **dict.fromkeys(
        _words(
            "psql pg_isready pg_dump pg_dumpall pg_restore pg_basebackup pgbench createdb dropdb vacuumdb reindexdb"
            " clusterdb"
        ),
        _PG,
    ),
    **dict.fromkeys(
        _words(
            "mysql mysqladmin mysqldump mysqlcheck mysqlshow mysqlimport mysqlpump mariadb mariadb-admin mariadb-dump"
            " mariadb-check"
        ),
        _MYSQL,
    ),
    **dict.fromkeys(_words("redis-cli valkey-cli keydb-cli"), _REDIS),
    **dict.fromkeys(_words("mongo mongosh mongodump mongorestore mongoexport mongoimport mongostat mongotop"), _MONGO),
    **dict.fromkeys(_words("sqlcmd bcp"), _SQLCMD),
    **dict.fromkeys(_words("nc ncat netcat"), _NETCAT),
    "telnet": _Client(positional=2, options=_flags("-l -e -n -b -X -S")),
    "nslookup": _Client(positional=1),
    "cqlsh": _Client(positional=2, passwords=_flags("-p"), options=_flags("-u -k -f -e --cqlshrc")),
    "clickhouse-client": _Client(hosts=_flags("-h --host"), ports=_flags("--port")),
    "rabbitmqadmin": _Client(hosts=_flags("-H --host"), ports=_flags("-P --port"), passwords=_flags("-p")),
    **dict.fromkeys(
        _words("wait-for-it wait-for-it.sh"), _Client(hosts=_flags("-h --host"), ports=_flags("-p --port"))
    ),
    "curl": _Client(passwords=_flags("-u --user -U --proxy-user")),
    "sshpass": _Client(passwords=_flags("-p")),
}
# Any other command: long host flags only (`-h` is "help" for most tools).
_ANY_COMMAND = _Client(hosts=_flags("--host --hostname"), ports=_flags("--port"))
_COMMAND_HINT_RE = re.compile(
    rf"(?<![\w.-])(?:{'|'.join(re.escape(name) for name in sorted(_CLIENTS, key=len, reverse=True))})(?=[ \t])"
    r"|--host|/dev/(?:tcp|udp)/"
)
_SEGMENT_RE = re.compile(r"[^;&|\n`()]+")  # one simple command of a shell line
_ARG_RE = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'|[^\s\"']+")
_DEV_TCP_RE = re.compile(r"/dev/(?:tcp|udp)/(?P<host>[^/\s\"']+)/(?P<port>\d+)")  # bash `> /dev/tcp/db/5432`


def parse_addresses(value: str, env: Mapping[str, str] | None = None) -> list[Address]:
    """Every address found in value, deduplicated, in order of first appearance. Credentials are removed
    before anything is read (see "Credentials" in the module docstring)."""
    if "://" in value and _may_hold_reference(value):
        value = _REFERENCE_RE.sub(_drop_reference, value)
    if "$" in value:
        value = _expand(value, env or {})
    commands = _COMMAND_HINT_RE.search(value) is not None
    value = _scrub(value, commands)
    # Forms read whole (client commands, libpq and `;` connection strings): their addresses go in at their
    # place in the text, and their hosts are blanked so the tokeniser does not read them again.
    placed: list[tuple[int, Address]] = []
    if commands:
        value, placed = _commands(value)
    if "=" in value:
        if "host" in value:
            value, libpq = _libpq(value)
            placed += libpq
        if ";" in value:
            value, connection = _connection_strings(value)
            placed += connection
        placed.sort(key=lambda item: item[0])
    found: dict[str, Address] = {}
    next_placed = 0
    for m in _ITEM_RE.finditer(value):
        if next_placed < len(placed) and placed[next_placed][0] < m.start():
            first = next_placed
            while next_placed < len(placed) and placed[next_placed][0] < m.start():
                next_placed += 1
            _keep(found, [a for _, a in placed[first:next_placed]])
        if (token := m["token"]) is not None:
            # Inlined _keep: most items are tokens (never named).
            if (address := _token(token)) is not None and (
                (seen := found.get(address.text)) is None
                or (address.certain, seen.public) > (seen.certain, address.public)
            ):
                found[address.text] = address
        elif m["scheme"] is not None:
            _keep(found, _url(m["scheme"], m["rest"]))
        elif m["proto"] != "unix":
            _keep(found, _hostports(m["dsn"].lower(), service=True))
    _keep(found, [a for _, a in placed[next_placed:]])
    return list(found.values())


def _keep(found: dict[str, Address], addresses: Iterable[Address]) -> None:
    """A repeat keeps its first place; the strongest reading of any occurrence counts (certain first,
    then named, then not public)."""
    for address in addresses:
        seen = found.get(address.text)
        if seen is None or (address.certain, address.named, seen.public) > (seen.certain, seen.named, address.public):
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


def _key_words(key: str) -> list[str]:
    """The lower-case words of a key: `-Dspring.datasource.password` → spring, datasource, password."""
    key = key.strip("\\\"'")
    if key.startswith("-D"):
        key = key[2:]
    return [w.lower() for w in _KEY_WORD_RE.findall(key)]


@lru_cache(maxsize=4096)
def is_credential_key(key: str) -> bool:
    """Whether a key (env var, ConfigMap key, a key inside a value, a flag) holds a credential:
    `DB_PASSWORD`, `PGPASSWORD`, `masterauth`, `requirepass`, `AUTH_TOKEN`, `api_key`, `AccountKey`,
    `client_secret`, `-Dspring.datasource.password`, `--password`; not `TOKEN_URL`, `AUTH_SERVICE_HOST`,
    `proxy_pass` (see the module docstring)."""
    words = _key_words(key)
    if not words or words == ["key"]:
        return False  # a bare `key` (`<entry key=...>`, `key: value` lists) says nothing
    last = words[-1]
    if last in _NOT_CREDENTIALS or (last == "pass" and len(words) > 1 and words[-2] in _UPSTREAM_DIRECTIVES):
        return False
    if last.endswith(_CREDENTIAL_ENDINGS) or last.endswith("key"):
        return True  # `key` after a qualifier (api_key, SharedAccessKey) or ending a word (apikey)
    return _ADDRESS_KEY_RE.search(key) is None and not _CREDENTIAL_WORDS.isdisjoint(words)


@lru_cache(maxsize=4096)
def is_identity_key(key: str) -> bool:
    """Whether a key names the workload itself rather than something it calls: `OTEL_SERVICE_NAME`,
    `SERVICE_NAME`, `DD_SERVICE`, `SERVICE_ACCOUNT`, `serviceAccountName`, `SERVICE_VERSION`, `APP_NAME`,
    `POD_NAME`, `NODE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `service.name`, and the env var `HOSTNAME`."""
    words = _key_words(key)
    if not words:
        return False
    if tuple(words[-2:]) in _IDENTITY_ENDINGS:
        return True
    if words in (["hostname"], ["host", "name"]) and key.isupper():
        return True  # the env var a pod gets; a `hostname:` inside a file may well name a server
    return words[-1] in _IDENTITY_ATTRIBUTES and not _IDENTITY_SUBJECTS.isdisjoint(words[:-1])


@lru_cache(maxsize=4096)
def key_holds_no_address(key: str) -> bool:
    """A reference, credential or identity key: its value is never read for addresses."""
    return is_reference_key(key) or is_credential_key(key) or is_identity_key(key)


@lru_cache(maxsize=4096)
def key_names_address(key: str) -> bool:
    """Whether a key says its value is an address (`DB_HOST`, `REDIS_ADDR`, `upstream`, `baseUrl`,
    `-Ddb.host`), so that a bare word under it counts."""
    return _ADDRESS_KEY_RE.search(key) is not None and not key_holds_no_address(key)


def scrub_credentials(value: str) -> str:
    """value with every credential blanked out (replaced by spaces, lines kept): values of credential keys
    as `key=value`, `key: value`, `"key": value`, XML elements and `name=/value=` attributes, line-start
    directives (`masterauth x`), `--password x` flags, and client commands' password flags (`sqlcmd -P x`,
    `mysql -px`, `redis-cli -a x`, `curl -u user:x`). Applied by parse_addresses before anything is read."""
    return _scrub(value, _COMMAND_HINT_RE.search(value) is not None)


def _scrub(value: str, commands: bool) -> str:
    """scrub_credentials; commands: value may hold a client command."""
    if _CREDENTIAL_HINT_RE.search(value.lower()) is None:
        return _scrub_commands(value) if commands else value
    value = _SCRUB_RE.sub(_scrub_pair, value)
    if "<" in value:
        value = _XML_ELEMENT_RE.sub(_scrub_element, value)
        if "value" in value:
            value = _XML_VALUE_ATTR_RE.sub(_scrub_value_attribute, value)
    return _scrub_commands(value) if commands else value


def _scrub_commands(value: str) -> str:
    spans = [span for command in _command_lines(value) for span in command.passwords]
    return _blank(value, spans) if spans else value


def _blanked(text: str) -> str:
    return "".join("\n" if c == "\n" else " " for c in text)


def _blank(value: str, spans: Iterable[tuple[int, int]]) -> str:
    """value with the (start, end) spans replaced by spaces (same length, so offsets still hold)."""
    parts, last = [], 0
    for start, end in sorted(spans):
        begin = max(start, last)
        parts += [value[last:begin], _blanked(value[begin:end])]
        last = max(last, end)
    parts.append(value[last:])
    return "".join(parts)


def _scrub_pair(m: re.Match[str]) -> str:
    for key, group in (("ekey", "evalue"), ("qkey", "value"), ("key", "value"), ("dkey", "dvalue"), ("flag", "fvalue")):
        if m[key] is not None:
            if not is_credential_key(m[key]):
                return m[0]
            start, end = m.start(group) - m.start(), m.end(group) - m.start()
            if m["block"] is not None and m["block"].lstrip(" \t")[:1] not in ("|", ">"):
                return m[0][:start] + _scrub_section(m[0][start:end])
            return m[0][:start] + _blanked(m[0][start:end]) + m[0][end:]
    return m[0]


_SECTION_KEY_RE = re.compile(r"[ \t]*(?:-[ \t]+)?[\"']?([\w.$@-]+)[\"']?[ \t]*[:=]")


def _scrub_section(lines: str) -> str:
    """The lines of a credential section (`auth:`, `credentials:`) blanked, but for those whose own key
    names an address (`url: http://keycloak:8080`); a credential among them is scrubbed on its own."""
    kept = []
    for line in lines.split("\n"):
        key = _SECTION_KEY_RE.match(line)
        kept.append(line if key and key_names_address(key[1]) else _blanked(line))
    return "\n".join(kept)


def _scrub_element(m: re.Match[str]) -> str:
    named = _XML_NAME_RE.search(m["attrs"])
    key = named[1] if named else m["tag"].rpartition(":")[2]
    if not m["text"].strip() or not is_credential_key(key):
        return m[0]
    start, end = m.start("text") - m.start(), m.end("text") - m.start()
    return m[0][:start] + _blanked(m[0][start:end]) + m[0][end:]


def _scrub_value_attribute(m: re.Match[str]) -> str:
    if not is_credential_key(m["key"]):
        return m[0]
    start, end = m.start("value") - m.start(), m.end("value") - m.start()
    return m[0][:start] + _blanked(m[0][start:end]) + m[0][end:]


@dataclass
class _CommandLine:
    """What the flags of one client command say: hosts and ports as (start, end, text), password spans."""

    client: _Client
    hosts: list[tuple[int, int, str]]
    ports: list[tuple[int, int, str]]
    servers: list[tuple[int, int, str]]
    passwords: list[tuple[int, int]]


def _command_lines(value: str) -> list[_CommandLine]:
    """The client commands in value (a shell line or script), each read up to the end of its simple
    command (`;`, `&`, `|`, a newline, a backtick or a parenthesis)."""
    commands = []
    for segment in _SEGMENT_RE.finditer(value):
        text = segment[0]
        if _COMMAND_HINT_RE.search(text) is None:
            continue
        base = segment.start()
        args = [(base + m.start(), base + m.end(), m[0]) for m in _ARG_RE.finditer(text)]
        index = next((i for i, (_, _, arg) in enumerate(args) if arg.rpartition("/")[2] in _CLIENTS), None)
        if index is not None:
            client = _CLIENTS[args[index][2].rpartition("/")[2]]
        elif any(arg.partition("=")[0] in _ANY_COMMAND.hosts for _, _, arg in args):
            client, index = _ANY_COMMAND, -1
        else:
            continue
        commands.append(_read_command(client, args[index + 1 :]))
    return commands


def _read_command(client: _Client, args: list[tuple[int, int, str]]) -> _CommandLine:
    command = _CommandLine(client, [], [], [], [])
    targets = {"hosts": client.hosts, "ports": client.ports, "servers": client.servers}
    positionals: list[tuple[int, int, str]] = []
    listening = False
    i = 0
    while i < len(args):
        start, end, arg = args[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            positionals.append((start, end, arg.strip("\"'")))
            continue
        flag, equals, attached = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if not arg.startswith("--") and len(arg) > 2:
            if arg[:2] in client.attached_passwords:
                command.passwords.append((start + 2, end))
                continue
            if client.attached and any(arg[:2] in flags for flags in targets.values()):
                flag, equals, attached = arg[:2], "=", arg[2:]
        if flag in client.passwords:
            if equals:
                command.passwords.append((end - len(attached), end))
            elif i < len(args) and not args[i][2].startswith("--"):
                command.passwords.append(args[i][:2])
                i += 1
            continue
        kind = next((name for name, flags in targets.items() if flag in flags), None)
        if kind is not None:
            if equals:
                getattr(command, kind).append((end - len(attached), end, attached.strip("\"'")))
            elif i < len(args) and not args[i][2].startswith("-"):
                getattr(command, kind).append((args[i][0], args[i][1], args[i][2].strip("\"'")))
                i += 1
        elif flag in client.options and not equals:
            i += 1  # its value is no argument
        elif flag in client.listen:
            listening = True
    if client.positional and positionals and not listening:
        command.hosts.append(positionals[0])
        if client.positional > 1 and len(positionals) > 1 and positionals[1][2].isdigit():
            command.ports.append(positionals[1])
    return command


def _commands(value: str) -> tuple[str, list[tuple[int, Address]]]:
    """The hosts that client commands in value name (with their offsets), and value with them blanked:
    `-h/--host HOST` with `-p/--port PORT` (per client: pg, mysql, redis, mongo, clickhouse, rabbitmqadmin,
    wait-for-it; `--host` for any command), sqlcmd `-S`, `nc/telnet HOST PORT`, `nslookup HOST`, `cqlsh
    HOST PORT`, and bash's `/dev/tcp/HOST/PORT`."""
    found: list[tuple[int, Address]] = []
    blanks: list[tuple[int, int]] = []
    for command in _command_lines(value):
        ports = [port for _, _, text in command.ports for port in text.split(",")]
        for start, end, text in command.hosts:
            addresses = _host_list(text, ports, explicit=False)
            if addresses:
                found += [(start, replace(a, named=True)) for a in addresses]
                blanks += [(start, end), *((s, e) for s, e, _ in command.ports)]
        for start, end, text in command.servers:
            addresses = _cs_hosts(text, None)
            if addresses:
                found += [(start, replace(a, named=True)) for a in addresses]
                blanks.append((start, end))
    for m in _DEV_TCP_RE.finditer(value):
        found += [(m.start(), replace(a, named=True)) for a in _host_list(m["host"], [m["port"]], explicit=True)]
    return _blank(value, blanks) if blanks else value, found


def _host_list(value: str, ports: list[str], explicit: bool) -> list[Address]:
    """The addresses of a host flag's or keyword's value: `h`, `h:p`, `h1,h2` (with one port for all, or one
    per host), mongo's `replicaSet/h1:p,h2:p`. A port makes an address explicit (certain); explicit: it
    already is (libpq). Nothing for a URL, a path or a variable."""
    value = value.strip("\"'").lower()
    if "://" in value or "$" in value:
        return []
    name, slash, rest = value.partition("/")
    if slash and name and ":" not in name and "," not in name:
        value = rest  # mongo's replica set name
    items = [item.strip() for item in value.split(",") if item.strip()]
    addresses = []
    for k, item in enumerate(items):
        host, colon, port = item.partition(":")
        if not colon:
            port = ports[k] if len(ports) == len(items) else ports[0] if len(ports) == 1 else ""
        if port and not (_PORT_RE.fullmatch(port) and int(port) <= 65535):
            if colon:
                continue
            port = ""
        text = f"{host}:{port}" if port else host
        if (address := _address(text, host, explicit or bool(port), service=True)) is not None:
            addresses.append(address)
    return addresses


def _libpq(value: str) -> tuple[str, list[tuple[int, Address]]]:
    """The addresses of libpq keyword/value strings in value (`host=h1,h2 port=5432 dbname=x`, also
    pgbouncer.ini's `[databases]` lines), and value with those strings blanked out (no other keyword holds
    an address: `dbname`, `user`, `application_name` are not hosts)."""
    found: list[tuple[int, Address]] = []
    blanks: list[tuple[int, int]] = []
    for run in _LIBPQ_RE.finditer(value):
        pairs = {m["key"]: m["value"].strip("'") for m in _LIBPQ_PAIR_RE.finditer(run[0])}
        hosts = pairs.get("host") or pairs.get("hostaddr")
        if hosts is None:
            continue
        ports = [port.strip() for port in pairs.get("port", "").split(",") if port.strip()]
        found += [(run.start(), a) for a in _host_list(hosts, ports, explicit=True)]
        blanks.append(run.span())
    return (_blank(value, blanks) if blanks else value), found


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
    return (_blank(value, blanks) if blanks else value), found


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
