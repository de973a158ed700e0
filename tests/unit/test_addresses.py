"""Address parsing (pure): which Services a string from a workload may point at, and how sure that is."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertagent.discovery.addresses import (
    _FILE_EXTENSIONS,
    _NOT_NAMES,
    Address,
    ServiceRef,
    is_reference_key,
    parse_addresses,
)


def ref(name: str, namespace: str | None = None) -> ServiceRef:
    return ServiceRef(name, namespace)


def found(value: str, env: dict[str, str] | None = None) -> list[tuple[str, tuple[ServiceRef, ...], bool]]:
    return [(a.text, a.refs, a.certain) for a in parse_addresses(value, env)]


REDIS = (ref("redis"),)
# Namespaces that are not public suffixes (`shop`, `data`, `prod`, `web` are: see PUBLIC below).
ENV = {"NS": "staging", "REDIS_HOST": "redis.cache", "URL": "http://api.orders:8080/v1"}

ACCEPTED = [
    # Bare DNS label: a candidate, certain only with a port.
    ("redis", [("redis", REDIS, False)]),
    ("redis:6379", [("redis:6379", REDIS, True)]),
    ("redis-0", [("redis-0", (ref("redis-0"),), False)]),
    # svc.ns: could be example.com without a port or scheme.
    ("redis.cache", [("redis.cache", (ref("redis", "cache"),), False)]),
    ("redis.cache:6379", [("redis.cache:6379", (ref("redis", "cache"),), True)]),
    ("log.level", [("log.level", (ref("log", "level"),), False)]),
    # .svc suffixes, any cluster domain, a trailing dot.
    ("redis.cache.svc", [("redis.cache.svc", (ref("redis", "cache"),), True)]),
    ("redis.cache.svc:6379", [("redis.cache.svc:6379", (ref("redis", "cache"),), True)]),
    ("redis.cache.svc.cluster.local", [("redis.cache.svc.cluster.local", (ref("redis", "cache"),), True)]),
    ("redis.cache.svc.cluster.local.:6379", [("redis.cache.svc.cluster.local.:6379", (ref("redis", "cache"),), True)]),
    ("redis.cache.svc.k8s.corp.internal", [("redis.cache.svc.k8s.corp.internal", (ref("redis", "cache"),), True)]),
    ("kubernetes.default.svc:443", [("kubernetes.default.svc:443", (ref("kubernetes", "default"),), True)]),
    # Headless StatefulSet pods.
    ("a-0.b", [("a-0.b", (ref("a-0", "b"), ref("b")), False)]),
    ("db-0.db:5432", [("db-0.db:5432", (ref("db-0", "db"), ref("db")), True)]),
    ("a-0.b.c", [("a-0.b.c", (ref("b", "c"),), False)]),
    ("a-0.b.c:80", [("a-0.b.c:80", (ref("b", "c"),), True)]),
    ("pod-0.svc.ns.svc", [("pod-0.svc.ns.svc", (ref("svc", "ns"),), True)]),
    ("pod-0.svc.ns.svc.cluster.local:5432", [("pod-0.svc.ns.svc.cluster.local:5432", (ref("svc", "ns"),), True)]),
    # URLs: any scheme, host lower-cased, credentials, path and query dropped.
    ("http://api:8080/v1", [("api:8080", (ref("api"),), True)]),
    ("https://api.orders", [("api.orders", (ref("api", "orders"),), True)]),
    (
        "grpcs://Backend.Shop.SVC.cluster.local:443",
        [("backend.shop.svc.cluster.local:443", (ref("backend", "shop"),), True)],
    ),
    ("grpc://api.orders:grpc", [("api.orders:grpc", (ref("api", "orders"),), True)]),
    ("wss://events:8443/stream", [("events:8443", (ref("events"),), True)]),
    ("redis://:hunter2@redis:6379/0", [("redis:6379", REDIS, True)]),
    ("rediss://default:hunter2@redis.cache.svc:6380", [("redis.cache.svc:6380", (ref("redis", "cache"),), True)]),
    (
        "postgres://user:p%40ss@db.billing:5432/app?sslmode=disable",
        [("db.billing:5432", (ref("db", "billing"),), True)],
    ),
    ("postgresql://db:5432/app", [("db:5432", (ref("db"),), True)]),
    ("mysql://root:hunter2@mysql:3306/shop", [("mysql:3306", (ref("mysql"),), True)]),
    (
        "amqp://guest:hunter2@rabbitmq.mq.svc.cluster.local:5672/vhost",
        [("rabbitmq.mq.svc.cluster.local:5672", (ref("rabbitmq", "mq"),), True)],
    ),
    (
        "mongodb://u:hunter2@mongo-0.mongo:27017,mongo-1.mongo:27017/db?replicaSet=rs0",
        [
            ("mongo-0.mongo:27017", (ref("mongo-0", "mongo"), ref("mongo")), True),
            ("mongo-1.mongo:27017", (ref("mongo-1", "mongo"), ref("mongo")), True),
        ],
    ),
    ("mongodb+srv://mongo.db.svc.cluster.local/app", [("mongo.db.svc.cluster.local", (ref("mongo", "db"),), True)]),
    ("jdbc:postgresql://postgres.data.svc:5432/orders", [("postgres.data.svc:5432", (ref("postgres", "data"),), True)]),
    ("jdbc:mysql://mysql:3306/app?useSSL=false", [("mysql:3306", (ref("mysql"),), True)]),
    ("jdbc:sqlserver://mssql:1433;databaseName=app;user=sa;password=hunter2", [("mssql:1433", (ref("mssql"),), True)]),
    ("nats://nats:4222", [("nats:4222", (ref("nats"),), True)]),
    ("kafka://kafka-0.kafka:9092", [("kafka-0.kafka:9092", (ref("kafka-0", "kafka"), ref("kafka")), True)]),
    ("memcached://memcached:11211", [("memcached:11211", (ref("memcached"),), True)]),
    ("zookeeper://zk:2181 etcd://etcd:2379", [("zk:2181", (ref("zk"),), True), ("etcd:2379", (ref("etcd"),), True)]),
    (
        "tcp://collector:4317 udp://statsd:8125",
        [("collector:4317", (ref("collector"),), True), ("statsd:8125", (ref("statsd"),), True)],
    ),
    (
        "clickhouse://ch:9000 elasticsearch://es:9200",
        [("ch:9000", (ref("ch"),), True), ("es:9200", (ref("es"),), True)],
    ),
    ("http://a:80,http://b:80", [("a:80", (ref("a"),), True), ("b:80", (ref("b"),), True)]),
    # A public suffix is never certain, even with a scheme (more in PUBLIC below).
    ("https://example.com", [("example.com", (ref("example", "com"),), False)]),
    # Go DSNs; a unix socket is no address.
    ("user:hunter2@tcp(mysql.db:3306)/app?parseTime=true", [("mysql.db:3306", (ref("mysql", "db"),), True)]),
    ("tcp(mysql)/app", [("mysql", (ref("mysql"),), True)]),
    ("user:hunter2@unix(/var/run/mysqld/mysqld.sock)/app", []),
    # Host lists.
    (
        "kafka-0.kafka:9092,kafka-1.kafka:9092",
        [
            ("kafka-0.kafka:9092", (ref("kafka-0", "kafka"), ref("kafka")), True),
            ("kafka-1.kafka:9092", (ref("kafka-1", "kafka"), ref("kafka")), True),
        ],
    ),
    (
        "zk-0.zk:2181;zk-1.zk:2181",
        [
            ("zk-0.zk:2181", (ref("zk-0", "zk"), ref("zk")), True),
            ("zk-1.zk:2181", (ref("zk-1", "zk"), ref("zk")), True),
        ],
    ),
    ("redis:6379 memcached:11211", [("redis:6379", REDIS, True), ("memcached:11211", (ref("memcached"),), True)]),
    # Embedded in commands, flags and KEY=value.
    # A client command's host argument or flag: read with its port (see test_address_context.py).
    (
        "until nc -z postgres 5432; do sleep 1; done",
        [(w, (ref(w),), False) for w in ("until", "nc")]
        + [("postgres:5432", (ref("postgres"),), True)]
        + [(w, (ref(w),), False) for w in ("do", "sleep", "done")],
    ),
    ("--upstream=http://api.orders:8080", [("api.orders:8080", (ref("api", "orders"),), True)]),
    ("-redis-addr=redis:6379", [("redis:6379", REDIS, True)]),
    ("DB_HOST=postgres.data.svc", [("postgres.data.svc", (ref("postgres", "data"),), True)]),
    ("connect to redis:6379.", [(w, (ref(w),), False) for w in ("connect", "to")] + [("redis:6379", REDIS, True)]),
    # Config files in ConfigMap values.
    (
        "spring.datasource.url=jdbc:postgresql://postgres.data.svc:5432/orders\nspring.datasource.username=app\n",
        [("postgres.data.svc:5432", (ref("postgres", "data"),), True), ("app", (ref("app"),), False)],
    ),
    ('{"cache": "redis://redis:6379"}', [("cache", (ref("cache"),), False), ("redis:6379", REDIS, True)]),
    (
        '{\\"cache\\":\\"redis.cache.svc:6379\\"}',
        [("cache", (ref("cache"),), False), ("redis.cache.svc:6379", (ref("redis", "cache"),), True)],
    ),
    ("upstream: http://inventory:8080/v1", [("inventory:8080", (ref("inventory"),), True)]),
    (
        "server:\n  port: 8080\ncache:\n  url: redis://redis.cache:6379\n",
        [("redis.cache:6379", (ref("redis", "cache"),), True)],
    ),
    (
        "location / { proxy_pass http://api:8080; }",
        [("location", (ref("location"),), False), ("api:8080", (ref("api"),), True)],
    ),
    # Deduplicated in order of first appearance; any certain occurrence makes the address certain.
    ("redis redis:6379 redis", [("redis", REDIS, False), ("redis:6379", REDIS, True)]),
    ("api http://api", [("api", (ref("api"),), True)]),
    # $(VAR) expansion from the container's other env vars: one pass, $$ escapes, unknown stays inert.
    ("redis.$(NS):6379", [("redis.staging:6379", (ref("redis", "staging"),), True)]),
    ("$(REDIS_HOST):6379", [("redis.cache:6379", (ref("redis", "cache"),), True)]),
    ("--upstream=$(URL)", [("api.orders:8080", (ref("api", "orders"),), True)]),
    ("redis.$$(NS):6379", []),
    ("$$(redis)", []),
    ("http://$(UNKNOWN):8080 $(unknown)", []),
    ("${REDIS_HOST}:6379 $REDIS_HOST:6379 redis-$ENV", []),
]


@pytest.mark.parametrize(("value", "expected"), ACCEPTED)
def test_accepted(value: str, expected: list[tuple[str, tuple[ServiceRef, ...], bool]]) -> None:
    assert found(value, ENV) == expected


@pytest.mark.parametrize(
    "value",
    [
        "redis://:hunter2@redis:6379/0",
        "mysql://root:hunter2@mysql:3306/shop",
        "user:hunter2@tcp(mysql.db:3306)/app",
        "jdbc:sqlserver://mssql:1433;password=hunter2",
        "root:hunter2@redis:6379",
        # An unencoded `/` or `@` in a password: the whole URL is dropped rather than misread.
        "redis://u:hunter2/x@redis:6379",
        "redis://u:hunter2@x@redis:6379",
        "redis://u:6379/hunter2@redis",
    ],
)
def test_credentials_never_in_output(value: str) -> None:
    result = parse_addresses(value)
    assert "hunter2" not in repr(result)
    assert all(a.refs and "@" not in a.text for a in result)


REJECTED = [
    # Numbers, booleans, null words, durations, sizes.
    "8080",
    "1.5",
    "1e3",
    "-1",
    "0.25",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "null",
    "none",
    "nan",
    "inf",
    "30s",
    "5m",
    "1h30m",
    "512Mi",
    "2Gi",
    "100m",
    # File paths and file names.
    "/etc/x",
    "./a",
    "../a/b",
    "a/b/c",
    "C:\\x",
    "file.txt",
    "config.json",
    "values.yaml",
    "app.properties",
    "tls.crt",
    "run.sh",
    "schema.sql",
    "app.db",
    # IP addresses, with and without ports.
    "10.0.0.1",
    "10.0.0.1:8080",
    "::1",
    "[::1]:8080",
    "fe80::1",
    "2001:db8::1",
    "http://10.0.0.1:8080/",
    "http://[::1]:8080/",
    "localhost:8080",
    "http://localhost:8080",
    "0.0.0.0:9090",
    # External domains.
    "api.github.com",
    "foo.bar.example.com",
    "https://hooks.slack.com/x",
    "smtp.gmail.com:587",
    # Emails, versions, image tags, Java classes.
    "ops@example.com",
    "mailto:ops@example.com",
    "v1.2.3",
    "1.2.3",
    "v1.2",
    "nginx:1.25",
    "busybox:latest",
    "ghcr.io/org/app:1.2",
    "com.example.Main",
    "org.postgresql.driver",
    # Upper case is never a Service name; key:value is not an address.
    "Redis",
    "REDIS_HOST",
    "Redis:6379",
    "key:value",
    "host:",
    "image:tag",
    # Non-network URL schemes, shell and unknown variables.
    "s3://bucket/key",
    "file:///etc/x",
    "unix:///var/run/docker.sock",
    "$HOME",
    "${HOST}",
    "$(HOST):80",
    "",
    "   ",
    ";;",
    "-",
    "--verbose",
    ":8080",
]


@pytest.mark.parametrize("value", REJECTED)
def test_rejected(value: str) -> None:
    assert parse_addresses(value) == []


@pytest.mark.parametrize(
    "value", ["postgres:16", "node:20", "dns:53", "retries:3", "https://example.com", "https://api.io:443"]
)
def test_often_something_else_is_never_certain(value: str) -> None:
    # Small ports outside URLs are mostly image tags; public TLDs are mostly external sites.
    assert [a.certain for a in parse_addresses(value)] == [False]


def test_interface() -> None:
    a = Address("redis:6379", (ServiceRef("redis", None),), True)
    assert a == parse_addresses("redis:6379")[0] and not a.public
    assert sorted([ServiceRef("b", "x"), ServiceRef("a", "y")])[0] == ServiceRef("a", "y")
    assert len({a, parse_addresses("redis:6379")[0]}) == 1
    with pytest.raises(AttributeError):
        a.text = "x"  # type: ignore[misc]


# --- connection strings (key=value;key=value) ----------------------------------------------------------

SQLDATA = (ref("sqldata"),)
CONNECTION_STRINGS = [
    # The inputs: Npgsql and ADO.NET SqlClient, as env var values. Other pairs are tokens as before.
    (
        "Host=postgresql;Username=u;Password=p;Database=x",
        [("postgresql", (ref("postgresql"),), True), ("x", (ref("x"),), False)],
    ),
    ("Server=sqldata;Database=y", [("sqldata", SQLDATA, True), ("y", (ref("y"),), False)]),
    # Junk before the first key: a .env line, a shell assignment, a YAML or properties line.
    (
        'DB_CONNECTION_STRING="Host=postgresql;Database=x"',
        [("postgresql", (ref("postgresql"),), True), ("x", (ref("x"),), False)],
    ),
    ("ConnectionStrings__Main=Server=sqldata;Database=y", [("sqldata", SQLDATA, True), ("y", (ref("y"),), False)]),
    ("ConnectionString: Server=sqldata;Database=y\n", [("sqldata", SQLDATA, True), ("y", (ref("y"),), False)]),
    # ASP.NET appsettings.json mounted from a ConfigMap.
    (
        '{"ConnectionStrings": {"Main": "Server=sqldata;Database=y"}, "Redis": "redis:6379"}',
        [("sqldata", SQLDATA, True), ("y", (ref("y"),), False), ("redis:6379", REDIS, True)],
    ),
    # SqlClient: tcp: prefix, `host,port`, named instance; keys are case-insensitive, hosts lower-cased.
    (
        "Data Source=tcp:sqldata,1433;Initial Catalog=orders",
        [("sqldata:1433", SQLDATA, True), ("orders", (ref("orders"),), False)],
    ),
    ("server=tcp:SqlData,1433;", [("sqldata:1433", SQLDATA, True)]),
    ("SERVER=sqldata\\SQLEXPRESS;", [("sqldata", SQLDATA, True)]),
    ("Address=sqldata.db;", [("sqldata.db", (ref("sqldata", "db"),), True)]),
    ("Network Address = sqldata , 1433 ;", [("sqldata:1433", SQLDATA, True)]),
    ("Failover Partner=mirror;Server=sqldata;", [("mirror", (ref("mirror"),), True), ("sqldata", SQLDATA, True)]),
    # Npgsql: a host list, ports per host, Port for the others.
    (
        "Host=postgres-0.postgres,postgres-1.postgres:5433;Port=5432",
        [
            ("postgres-0.postgres:5432", (ref("postgres-0", "postgres"), ref("postgres")), True),
            ("postgres-1.postgres:5433", (ref("postgres-1", "postgres"), ref("postgres")), True),
        ],
    ),
    # MySQL Connector, ODBC, DB2, JDBC properties after a host-less URL, Cassandra, Oracle.
    ("Server=mysql;Port=3306;Database=shop;", [("mysql:3306", (ref("mysql"),), True), ("shop", (ref("shop"),), False)]),
    ("Driver={PostgreSQL};Servername=pg;Port=5432;", [("pg:5432", (ref("pg"),), True)]),
    (
        "HOSTNAME=db2;PORT=50000;PROTOCOL=TCPIP;",
        [("db2:50000", (ref("db2"),), True)],
    ),
    ("jdbc:sqlserver://;serverName=mssql;portNumber=1433", [("mssql:1433", (ref("mssql"),), True)]),
    ("Contact Points=cassandra;Port=9042", [("cassandra:9042", (ref("cassandra"),), True)]),
    (
        "Data Source=(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=oracle)(PORT=1521))(CONNECT_DATA=(SID=x)));",
        [("oracle:1521", (ref("oracle"),), True)],
    ),
    # No network address: local server, named pipe, socket directory; external domains stay external.
    ("Server=(local);Server=.;", []),
    ("Server=np:\\\\.\\pipe\\sql\\query;", []),
    ("Host=/var/run/postgresql;", []),
    ("Server=sql.example.com,1433;", []),
]


@pytest.mark.parametrize(("value", "expected"), CONNECTION_STRINGS)
def test_connection_strings(value: str, expected: list[tuple[str, tuple[ServiceRef, ...], bool]]) -> None:
    assert found(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # One pair and no `;` is `KEY=value`, read as before.
        ("Server=sqldata", [("sqldata", SQLDATA, False)]),
        # `;`-separated shell assignments are no connection string unless a key is a connection-string key.
        (
            "export DB_HOST=postgres; exec app",
            [(w, (ref(w),), False) for w in ("export", "postgres", "exec", "app")],
        ),
        (
            "export AUTH_URL=http://auth:8080; exec app",
            [("export", (ref("export"),), False), ("auth:8080", (ref("auth"),), True)]
            + [(w, (ref(w),), False) for w in ("exec", "app")],
        ),
    ],
)
def test_not_connection_strings(value: str, expected: list[tuple[str, tuple[ServiceRef, ...], bool]]) -> None:
    assert found(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "Host=postgresql;Username=alice;Password=hunter2;Database=x",
        "Server=sqldata;User Id=alice;Password=hunter2.x",  # would read as the Service hunter2 in ns x
        "Server=sqldata;UID=alice;PWD=hunter2:8080",  # would read as a certain address
        'Server=sqldata;User ID="alice";Password="hunter2;x=y"',  # a quoted value may hold `;`
        "Server=sqldata;user=alice;password='hunter2'",
        "jdbc:sqlserver://mssql:1433;databaseName=app;user=alice;password=hunter2.x",
        "HOSTNAME=db2;UID=alice;PWD=hunter2;",
        "Endpoint=sb://bus;SharedAccessKeyName=alice;SharedAccessKey=hunter2.x=",
        "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=hunter2.x==;BlobEndpoint=http://azurite:10000/dev;",
        "export DB_PASSWORD=hunter2.x; exec app",
    ],
)
def test_connection_string_credentials_never_in_output(value: str) -> None:
    result = parse_addresses(value)
    assert "hunter2" not in repr(result) and "alice" not in repr(result)
    assert result  # the host is still found


# --- references: URLs that are not connections -------------------------------------------------------

REFERENCES = [
    # The input: a JSON Schema reference in a mounted flagd file.
    '{"$schema": "https://flagd.dev/schema/v0/flags.json"}',
    # By key, whatever the host and path.
    '{"$schema": "http://schemas:8080/flags"}',
    "$schema: http://schemas:8080/flags",
    '{"$id": "http://schemas:8080/x", "$ref": "http://schemas:8080/defs#/a"}',
    '{"@context": "http://vocab:8080/"}',
    '<cfg xmlns="http://cfg:8080/ns" xmlns:x="http://x.ns/v1"/>',
    '<cfg xsi:schemaLocation="http://cfg:8080/ns http://cfg:8080/ns/cfg"/>',
    '{"license": "http://licenses:8080/MIT"}',
    "license_url: http://licenses:8080/MIT",
    "help_url: http://docs:8080/help",
    "documentationUrl=http://docs:8080",
    'homepage = "http://site:8080"',
    "runbook_url: http://wiki:8080/runbooks/db",
    "schema_url: http://otel:8080/schemas/1.9.0",
    "DOCS_URL=http://docs:8080",
    # By path: a schema document, whatever the key.
    "url: https://flagd.dev/schema/v0/flags.json",
    "http://cfg:8080/cfg.xsd",
    "http://cfg:8080/cfg.dtd",
    "http://cfg:8080/cfg.schema.json",
    "http://cfg:8080/schemas/v1/cfg.json?x=1",
]


@pytest.mark.parametrize("value", REFERENCES)
def test_references_are_not_addresses(value: str) -> None:
    assert [a for a in parse_addresses(value) if a.certain or any(r.namespace for r in a.refs)] == []
    assert not any(":" in a.text for a in parse_addresses(value))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # Keys and paths that only look like references.
        ("license_server: http://flexlm:27000", "flexlm:27000"),
        ("schema_registry_url: http://schema-registry:8081", "schema-registry:8081"),
        ("url: http://api:8080/schema", "api:8080"),  # a GraphQL endpoint
        ("url: http://config:8888/app/default.json", "config:8888"),
        ('{"$schema": "https://flagd.dev/schema/v0/flags.json", "upstream": "http://api:8080"}', "api:8080"),
        ('<cfg xmlns="http://cfg:8080/ns"><url>http://api:8080</url></cfg>', "api:8080"),
    ],
)
def test_connections_next_to_references_are_found(value: str, text: str) -> None:
    assert [a.text for a in parse_addresses(value) if a.certain] == [text]


def test_reference_keys() -> None:
    yes = [
        "$schema",
        "$id",
        "$ref",
        "@context",
        "xmlns",
        "xmlns:xsi",
        "xsi:schemaLocation",
        "noNamespaceSchemaLocation",
    ]
    yes += ["homepage", "HELP_URL", "docsUrl", "documentation", "license", "LICENSE_URL", "runbook_url", "schema_url"]
    no = ["url", "DATABASE_URL", "license_server", "SCHEMA_REGISTRY_URL", "docker_host", "helper", "id", "ref"]
    assert [k for k in yes if not is_reference_key(k)] == []
    assert [k for k in no if is_reference_key(k)] == []


# --- public names --------------------------------------------------------------------------------------

PUBLIC = [
    # (value, text, certain, public). Public: the last labels are a public suffix and nothing says
    # "service"; never certain either way.
    ("flagd.dev", "flagd.dev", False, True),
    ("https://flagd.dev/docs", "flagd.dev", False, True),
    ("example.com", "example.com", False, True),
    ("https://example.com:443", "example.com:443", False, True),
    ("http://example.com:80/x", "example.com:80", False, True),
    ("wss://foo.io", "foo.io", False, True),
    ("api.app", "api.app", False, True),
    ("api.prod", "api.prod", False, True),
    ("https://api.prod", "api.prod", False, True),
    ("postgres.data", "postgres.data", False, True),  # .data is a delegated gTLD
    ("co.uk", "co.uk", False, True),  # the name itself is a suffix
    ("web-0.web", "web-0.web", False, True),
    ("a-0.b.com", "a-0.b.com", False, True),  # `pod.svc.ns` whose ns is a TLD
    ("foo.museum", "foo.museum", False, True),  # from the list, not a hand-kept one
    # A service port, a service scheme, a DSN or a connection string: not public, still not certain.
    ("api.prod:8080", "api.prod:8080", False, False),
    ("https://api.prod:8443/v1", "api.prod:8443", False, False),
    ("grpc://api.prod", "api.prod", False, False),
    ("postgres://u:pw@db.data/app", "db.data", False, False),
    ("u:pw@tcp(db.data:3306)/app", "db.data:3306", False, False),
    ("Host=db.data;Port=5432;", "db.data:5432", False, False),
    ("web-0.web:8080", "web-0.web:8080", False, False),
    # Not under a public suffix, or an in-cluster form.
    ("postgres.cache", "postgres.cache", False, False),
    ("postgres.cache:5432", "postgres.cache:5432", True, False),
    ("https://redis.kafka", "redis.kafka", True, False),
    ("api.prod.svc:8080", "api.prod.svc:8080", True, False),
    ("flagd.dev.svc.cluster.local", "flagd.dev.svc.cluster.local", True, False),
    ("flagd", "flagd", False, False),
]


@pytest.mark.parametrize(("value", "text", "certain", "public"), PUBLIC)
def test_public_names(value: str, text: str, certain: bool, public: bool) -> None:
    [address] = parse_addresses(value)
    assert (address.text, address.certain, address.public) == (text, certain, public)
    assert address.refs  # the reading as svc.ns is kept, for the graph to weigh


def test_the_strongest_reading_of_a_repeat_counts() -> None:
    [address] = parse_addresses("https://api.prod grpc://api.prod")
    assert (address.text, address.public) == ("api.prod", False)


# --- properties ---------------------------------------------------------------------------------------

SCHEMES = [
    "http",
    "https",
    "grpc",
    "grpcs",
    "ws",
    "wss",
    "redis",
    "rediss",
    "amqp",
    "amqps",
    "mongodb",
    "mongodb+srv",
    "postgres",
    "postgresql",
    "mysql",
    "jdbc:postgresql",
    "jdbc:mysql",
    "jdbc:sqlserver",
    "nats",
    "kafka",
    "memcached",
    "zookeeper",
    "etcd",
    "tcp",
    "udp",
    "clickhouse",
    "elasticsearch",
    "HTTP",
]
LOWER = "abcdefghijklmnopqrstuvwxyz"
LABEL_CHARS = LOWER + "0123456789-"


def _labels(first: str) -> st.SearchStrategy[str]:
    """DNS labels (at most 15 characters) whose first character is from first."""
    rest = st.tuples(st.text(LABEL_CHARS, max_size=13), st.sampled_from(LOWER + "0123456789")).map("".join)
    return st.tuples(st.sampled_from(first), st.just("") | rest).map("".join)


names = _labels(LOWER).filter(lambda n: n not in _NOT_NAMES)
namespaces = _labels(LOWER + "0123456789").filter(lambda n: not n.isdigit() and n not in _FILE_EXTENSIONS)
# Passwords start with an upper-case letter: nothing in the (lower-case) output can contain one by chance.
# `/?#;` would end the authority early (tested above: the URL is dropped); `$` would start a variable.
passwords = st.text("ABCXYZabcxyz0123456789._~%!&*+,=:-", min_size=3, max_size=16).map(lambda p: "P" + p)


@st.composite
def addresses(draw: st.DrawFn) -> tuple[str, str, ServiceRef, bool | None, str | None]:
    """(string, expected text, expected ref, expected certainty or None when it depends, password)."""
    name = draw(names)
    namespace = draw(st.none() | namespaces)
    suffix = draw(st.sampled_from(["", ".svc", ".svc.cluster.local", ".svc.cluster.local."]))
    if namespace is None:
        host, suffix = name, ""
    else:
        host = f"{name}.{namespace}{suffix}"
    as_url = draw(st.booleans())
    port = draw(st.integers(1, 65535) if as_url else st.integers(80, 65535))
    if not as_url:
        with_port = namespace is None or draw(st.booleans())
        text = f"{host}:{port}" if with_port else host
        certain = True if suffix or (with_port and namespace is None) else None
        return text, text, ServiceRef(name, namespace), certain, None
    password = draw(st.none() | passwords)
    creds = "" if password is None else f"{draw(st.text(LOWER, max_size=6))}:{password}@"
    text = f"{host}:{port}" if draw(st.booleans()) else host
    path = draw(st.sampled_from(["", "/", "/v1/items", "/db?sslmode=disable&x=1", "?a=b", "#frag"]))
    scheme = draw(st.sampled_from(SCHEMES))
    certain = True if namespace is None or suffix else None
    return f"{scheme}://{creds}{text}{path}", text, ServiceRef(name, namespace), certain, password


def _check_found(result: list[Address], text: str, expected: ServiceRef, certain: bool | None) -> None:
    matches = [a for a in result if a.text == text]
    assert len(matches) == 1, result
    assert expected in matches[0].refs
    if certain is not None:
        assert matches[0].certain is certain


@settings(max_examples=200, deadline=None)
@given(addresses())
def test_every_form_names_its_service(case: tuple[str, str, ServiceRef, bool | None, str | None]) -> None:
    value, text, expected, certain, password = case
    result = parse_addresses(value)
    _check_found(result, text, expected, certain)
    if password is not None:
        assert password not in repr(result)


words = st.text("abcxyzABC0123456789_.:-", max_size=10)
separators = st.sampled_from([" ", "\n", "\t", "  ", "; ", ", ", '"', "'", " = ", "\n- "])


@settings(max_examples=200, deadline=None)
@given(addresses(), st.lists(words, max_size=4), st.lists(words, max_size=4), separators, separators)
def test_embedded_addresses_are_found(
    case: tuple[str, str, ServiceRef, bool | None, str | None],
    before: list[str],
    after: list[str],
    left: str,
    right: str,
) -> None:
    value, text, expected, _, password = case
    result = parse_addresses(left.join([*before, value]) + right + right.join(after))
    # Surrounding words may repeat the address with a port or scheme, so only presence is checked.
    matches = [a for a in result if a.text == text]
    assert len(matches) == 1 and expected in matches[0].refs, result
    if password is not None:
        assert password not in repr(result)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.dictionaries(st.text("ABC_", min_size=1, max_size=3), st.text(max_size=20)))
def test_never_raises_and_is_deterministic(value: str, env: dict[str, str]) -> None:
    first = parse_addresses(value, env)
    assert first == parse_addresses(value, env)
    assert len({a.text for a in first}) == len(first)
    assert all(a.refs for a in first)
    assert not any(a.public and a.certain for a in first)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.integers().map(str),
        st.floats().map(repr),
        st.floats().map(str),
        st.booleans().map(str),
        st.booleans().map(lambda b: str(b).lower()),
        st.ip_addresses(v=4).map(str),
        st.tuples(st.ip_addresses(v=4), st.integers(1, 65535)).map(lambda t: f"{t[0]}:{t[1]}"),
        st.tuples(st.ip_addresses(v=6), st.integers(1, 65535)).map(lambda t: f"[{t[0]}]:{t[1]}"),
        st.ip_addresses().map(lambda ip: f"http://{ip}:8080/"),
    )
)
def test_numbers_booleans_and_ips_are_never_certain(value: str) -> None:
    assert not any(a.certain for a in parse_addresses(value))


CS_FORMS = [
    # (template, whether a port is written into it): SqlClient, Npgsql, MySQL, DB2, JDBC properties.
    ("Data Source=tcp:{host},{port};Initial Catalog=app;User Id=sa;Password={pw}", True),
    ("Host={host};Port={port};Username=app;Password={pw};Database=app", True),
    ("Server={host};Database=app;Uid=root;Pwd={pw};", False),
    ("HOSTNAME={host};PORT={port};PROTOCOL=TCPIP;UID=app;PWD={pw};", True),
    ("jdbc:sqlserver://;serverName={host};portNumber={port};user=sa;password={pw}", True),
]


@settings(max_examples=200, deadline=None)
@given(
    names,
    st.none() | namespaces,
    st.integers(1, 65535),
    passwords,
    st.sampled_from(CS_FORMS),
    st.sampled_from([str, str.lower, str.upper]),
)
def test_connection_strings_name_their_service(
    name: str,
    namespace: str | None,
    port: int,
    password: str,
    form: tuple[str, bool],
    case: Callable[[str], str],
) -> None:
    template, with_port = form
    host = name if namespace is None else f"{name}.{namespace}"
    # Keys in any case; the password as written (it must never show).
    value = case(template.replace("{host}", "\0").replace("{port}", "\1").replace("{pw}", "\2"))
    value = value.replace("\0", host).replace("\1", str(port)).replace("\2", password)
    result = parse_addresses(value)
    text = f"{host}:{port}" if with_port else host
    [address] = [a for a in result if a.text == text]
    assert ServiceRef(name, namespace) in address.refs and not address.public
    assert address.certain or namespace is not None  # a public suffix as namespace is never certain
    assert password not in repr(result)
