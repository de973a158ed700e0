"""Address parsing (pure): which Services a string from a workload may point at, and how sure that is."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertagent.discovery.addresses import _FILE_EXTENSIONS, _NOT_NAMES, Address, ServiceRef, parse_addresses


def ref(name: str, namespace: str | None = None) -> ServiceRef:
    return ServiceRef(name, namespace)


def found(value: str, env: dict[str, str] | None = None) -> list[tuple[str, tuple[ServiceRef, ...], bool]]:
    return [(a.text, a.refs, a.certain) for a in parse_addresses(value, env)]


REDIS = (ref("redis"),)
ENV = {"NS": "prod", "REDIS_HOST": "redis.cache", "URL": "http://api.shop:8080/v1"}

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
    ("web-0.web:8080", [("web-0.web:8080", (ref("web-0", "web"), ref("web")), True)]),
    ("a-0.b.c", [("a-0.b.c", (ref("b", "c"),), False)]),
    ("a-0.b.c:80", [("a-0.b.c:80", (ref("b", "c"),), True)]),
    ("pod-0.svc.ns.svc", [("pod-0.svc.ns.svc", (ref("svc", "ns"),), True)]),
    ("pod-0.svc.ns.svc.cluster.local:5432", [("pod-0.svc.ns.svc.cluster.local:5432", (ref("svc", "ns"),), True)]),
    # URLs: any scheme, host lower-cased, credentials, path and query dropped.
    ("http://api:8080/v1", [("api:8080", (ref("api"),), True)]),
    ("https://api.shop", [("api.shop", (ref("api", "shop"),), True)]),
    (
        "grpcs://Backend.Shop.SVC.cluster.local:443",
        [("backend.shop.svc.cluster.local:443", (ref("backend", "shop"),), True)],
    ),
    ("grpc://api.shop:grpc", [("api.shop:grpc", (ref("api", "shop"),), True)]),
    ("wss://events:8443/stream", [("events:8443", (ref("events"),), True)]),
    ("redis://:hunter2@redis:6379/0", [("redis:6379", REDIS, True)]),
    ("rediss://default:hunter2@redis.cache.svc:6380", [("redis.cache.svc:6380", (ref("redis", "cache"),), True)]),
    ("postgres://user:p%40ss@db.data:5432/app?sslmode=disable", [("db.data:5432", (ref("db", "data"),), True)]),
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
    # A public TLD is never certain, even with a scheme.
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
    (
        "until nc -z postgres 5432; do sleep 1; done",
        [(word, (ref(word),), False) for word in ("until", "nc", "postgres", "do", "sleep", "done")],
    ),
    ("--upstream=http://api.shop:8080", [("api.shop:8080", (ref("api", "shop"),), True)]),
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
    ("redis.$(NS):6379", [("redis.prod:6379", (ref("redis", "prod"),), True)]),
    ("$(REDIS_HOST):6379", [("redis.cache:6379", (ref("redis", "cache"),), True)]),
    ("--upstream=$(URL)", [("api.shop:8080", (ref("api", "shop"),), True)]),
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
    assert a == parse_addresses("redis:6379")[0]
    assert sorted([ServiceRef("b", "x"), ServiceRef("a", "y")])[0] == ServiceRef("a", "y")
    assert len({a, parse_addresses("redis:6379")[0]}) == 1
    with pytest.raises(AttributeError):
        a.text = "x"  # type: ignore[misc]


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
