"""Address context (issue 16, discovery precision): credentials are never read, keys that name the
workload hold no address, a bare word counts by its own key inside a structured value, and client
commands (wait-for loops, health checks) name their hosts."""

from __future__ import annotations

from typing import Any

import pytest

from alertagent.discovery.addresses import (
    is_credential_key,
    is_identity_key,
    parse_addresses,
    scrub_credentials,
)
from alertagent.discovery.export import to_json
from alertagent.discovery.facts import addresses_in, addresses_in_args, names_an_address
from alertagent.discovery.graph import ServiceGraph

from .test_discovery import configmap, service, workload

# --- 1. credentials ----------------------------------------------------------------------------------

# Secrets shaped like addresses: hosts no Service has (a leak would be an unresolved entry, which publishes
# the text) or hosts named after Services that exist (a leak would be a false edge).
SECRETS = ("zx81kq", "zq8xk", "zz9top", "qq7zeta")
DECOYS = ("oracle", "mongo", "db2", "elastic", "pg-missing")
CALLEES = ("pg-primary", "redis", "sqldata", "mysql")

CREDENTIALS: list[tuple[str, str, str, set[str]]] = [
    # (where, key or file name, value, callees expected): libpq keyword/value (dbname is not a host).
    ("env", "DATABASE_URL", "host=pg-primary port=5432 user=app password=zx81kq:4432 dbname=orders", {"pg-primary"}),
    ("env", "DATABASE_URL", "host=pg-primary port=5432 user=app password=oracle:1521 dbname=mongo", {"pg-primary"}),
    # Mounted files: YAML, properties, JSON, redis.conf, StackExchange.Redis, Hibernate XML, pgbouncer.ini.
    ("file", "config.yaml", "db:\n  host: pg-primary\n  password: zq8xk:1521\n", {"pg-primary"}),
    ("file", "config.yaml", "db:\n  password: |\n    zq8xk:1521\n  port: 5432\n", set()),
    ("file", "config.yaml", "credentials:\n  orders: zq8xk:1521\n", set()),
    (
        "file",
        "application.properties",
        "spring.datasource.url=jdbc:postgresql://pg-primary:5432/x\nspring.datasource.password=zq8xk:1521\n",
        {"pg-primary"},
    ),
    ("file", "appsettings.json", '{"Db": {"Host": "pg-primary", "Password": "zq8xk:1521"}}', {"pg-primary"}),
    ("file", "settings.json", '{\\"Password\\":\\"zq8xk:1521\\"}', set()),  # JSON inside a JSON string
    ("file", "redis.conf", "port 6379\nmasterauth zq8xk:6379\nrequirepass zq8xk:6379\n", set()),
    ("file", "app.json", '{"Redis": "redis:6379,password=zz9top:6379,ssl=False"}', {"redis"}),
    (
        "file",
        "hibernate.cfg.xml",
        '<property name="connection.url">jdbc:mysql://mysql:3306/x</property>\n'
        '<property name="connection.password">oracle:1521</property>\n'
        '<bean><property name="password" value="zq8xk:1521"/></bean>\n',
        {"mysql"},
    ),
    (
        "file",
        "pgbouncer.ini",
        "[databases]\norders = host=pg-primary port=5432 password=qq7zeta:5432\n",
        {"pg-primary"},
    ),
    ("file", "wait.sh", "PGPASSWORD=zq8xk:5432 psql -h pg-primary -c 'select 1'\n", {"pg-primary"}),
    # Command lines.
    ("args", "", "-Dspring.datasource.password=zq8xk:5672", set()),
    ("args", "", "sqlcmd -S sqldata,1433 -P db2:50000", {"sqldata"}),
    ("args", "", 'psql "host=pg-primary password=elastic:9200"', {"pg-primary"}),
    ("args", "", "mysql -h mysql -pzq8xk:3306 orders", {"mysql"}),
    ("args", "", "redis-cli -h redis -a zz9top:6379 ping", {"redis"}),
    ("args", "", "app --password zq8xk:5432 --api-key=zz9top:80", set()),
    ("args", "", "curl -u admin:zq8xk:8080 http://redis:8080/", {"redis"}),
    # Env vars and ConfigMap keys named as credentials: nothing at all.
    ("env", "DB_PASSWORD", "pg-missing:5432", set()),
    ("env", "AUTH_TOKEN", "pg-missing:5432", set()),
    ("env", "REDIS_AUTH", "pg-missing:5432", set()),
    ("env", "AWS_SECRET_ACCESS_KEY", "pg-missing:5432", set()),
    ("envFrom", "DB_PASSWORD", "pg-missing:5432", set()),
    ("envFrom", "masterauth", "pg-missing:5432", set()),
    ("file", "credentials.json", '{"db": "pg-missing:5432"}', set()),
]


def consuming(where: str, key: str, value: str) -> list[dict[str, Any]]:
    """A workload `app` reading value as an env var, through envFrom, as a mounted file or as args."""
    if where == "env":
        return [workload("app", env={key: value})]
    if where == "args":
        return [workload("app", args=[value])]
    cm = configmap("cfg", {key: value})
    if where == "envFrom":
        return [cm, workload("app", envFrom=[{"configMapRef": {"name": "cfg"}}])]
    return [cm, workload("app", volumes=[{"name": "c", "configMap": {"name": "cfg"}}])]


@pytest.mark.parametrize(("where", "key", "value", "expected"), CREDENTIALS)
def test_credentials_never_reach_the_graph(where: str, key: str, value: str, expected: set[str]) -> None:
    objects = [service("app"), *(service(name) for name in DECOYS + CALLEES), *consuming(where, key, value)]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert {e.callee for e in graph.edges} == {f"shop/{name}" for name in expected}
    assert graph.unresolved == ()
    published = to_json(graph)
    assert not [secret for secret in SECRETS if secret in published]


@pytest.mark.parametrize(
    ("where", "key", "value", "expected"), [case for case in CREDENTIALS if not is_credential_key(case[1])]
)
def test_the_scrub_applies_to_every_caller_of_parse_addresses(
    where: str, key: str, value: str, expected: set[str]
) -> None:
    # Without any key rule, a value holding a credential never yields it.
    texts = " ".join(a.text for a in parse_addresses(value))
    assert not [secret for secret in SECRETS + DECOYS if secret in texts]


def test_the_scrub_blanks_values_and_keeps_the_rest() -> None:
    value = "user=app password=s3:1 host=db\nDB_PASSWORD=x:1 psql -h db\n"
    scrubbed = scrub_credentials(value)
    assert "s3:1" not in scrubbed and "x:1" not in scrubbed
    assert "host=db" in scrubbed and "psql -h db" in scrubbed and len(scrubbed) == len(value)
    # nginx `proxy_pass` names an upstream; a token endpoint is an address.
    assert [a.text for a in parse_addresses("location / { proxy_pass http://api:8080; }") if a.certain] == ["api:8080"]
    assert [a.text for a in parse_addresses("TOKEN_URL=http://auth:8080/token")] == ["auth:8080"]


def test_credential_keys() -> None:
    yes = ["password", "DB_PASSWORD", "PGPASSWORD", "passwd", "DB_PASS", "pwd", "MYSQL_PWD", "client_secret"]
    yes += ["secrets", "token", "AUTH_TOKEN", "apiKey", "api_key", "x-api-key", "AccessKey", "AWS_SECRET_ACCESS_KEY"]
    yes += ["private_key", "credentials", "masterauth", "requirepass", "REDIS_AUTH", "BASIC_AUTH", "auth"]
    yes += ["SECRET_KEY_BASE", "-Dspring.datasource.password", "--password", "connection.password", "Authorization"]
    no = ["AUTH_URL", "TOKEN_URL", "AUTH_SERVICE_HOST", "SECRET_STORE_ADDR", "proxy_pass", "fastcgi_pass", "key"]
    no += ["DB_HOST", "author", "keycloak_url", "PASSWORD_RESET_URL", "username", "user"]
    assert [k for k in yes if not is_credential_key(k)] == []
    assert [k for k in no if is_credential_key(k)] == []


# --- 2. keys that name the workload itself ------------------------------------------------------------

IDENTITY = ["OTEL_SERVICE_NAME", "SERVICE_NAME", "DD_SERVICE", "SERVICE_ACCOUNT", "JAEGER_SERVICE_NAME"]
IDENTITY += ["APP_NAME", "SPRING_APPLICATION_NAME", "SERVICE_VERSION", "SERVICE_NAMESPACE", "POD_NAME"]
IDENTITY += ["HOSTNAME", "NODE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "serviceAccountName", "service.name"]


def test_identity_keys() -> None:
    assert [k for k in IDENTITY if not is_identity_key(k)] == []
    # Addresses, not identity: Kubernetes' service links, a peer, an agent's host, a file's `hostname:`.
    addresses = ["ORDERS_SERVICE_HOST", "peer.service", "DD_AGENT_HOST", "hostname", "database.hostname"]
    assert [k for k in addresses if is_identity_key(k) or not names_an_address(k)] == []
    assert [k for k in IDENTITY if names_an_address(k)] == []


@pytest.mark.parametrize("key", IDENTITY)
def test_identity_env_vars_give_no_edge(key: str) -> None:
    value = "service.name=orders,service.namespace=shop" if key == "OTEL_RESOURCE_ATTRIBUTES" else "orders"
    objects = [service("app"), service("orders"), service("shop"), workload("app", env={key: value})]
    graph = ServiceGraph.from_objects(objects).snapshot()
    assert graph.edges == () and graph.unresolved == ()


def test_identity_keys_inside_files_give_no_edge() -> None:
    otel = "resource:\n  attributes:\n    service.name: orders\nexporters:\n  otlp:\n    endpoint: collector:4317\n"
    assert [a.text for a in addresses_in(otel, "otel-config.yaml")] == ["collector:4317"]


# --- 3. the bare-word rule follows the key a word sits under -------------------------------------------

CATALOG = '{"a":{"addr":"a","port":9090},"b":{"addr":"b","port":9090},"c-db":{"addr":"c-db","port":27017}}'

KEYED = [
    # (ConfigMap key or file name, value, bare words kept)
    ("config.yaml", "db: {host: mongo, port: 27017}", ["mongo"]),
    ("config.yaml", "db:\n  host: mongo\n  port: 27017\n", ["mongo"]),
    ("app.env", "DB_HOST=mongo\nLOG_LEVEL=info\n", ["mongo"]),
    ("app.env", "DB_HOST: mongo", ["mongo"]),
    ("application.properties", "spring.data.mongodb.host=mongo\nspring.application.name=orders\n", ["mongo"]),
    ("services.yaml", "owner: mongo", []),
    ("service-config.json", CATALOG, ["a", "b", "c-db"]),
    ("catalog.json", CATALOG, ["a", "b", "c-db"]),
    ("upstreams.yaml", "upstreams:\n  - orders\n  - payments\nowner: team\n", ["orders", "payments"]),
    ("upstreams.yaml", "upstreams:\n- orders\nteam: mongo\n", ["orders"]),
    ("peers.json", '{\n  "hosts": [\n    "a",\n    "b"\n  ],\n  "name": "c"\n}', ["a", "b"]),
    ("app.xml", "<cfg><host>mongo</host><owner>team</owner></cfg>", ["mongo"]),
    ("app.xml", '<bean><property name="redis.host" value="redis"/><property name="x" value="y"/></bean>', ["redis"]),
    ("settings.ini", "[db]\nserver = sqldata\nowner = team\n", ["sqldata"]),
    ("config.yaml", "# host: old-db\nlevel: info\n", []),  # comments count for nothing
    # No pairs at all: the key (file name) decides, as for an env var.
    ("brokers", "kafka-a kafka-b", ["kafka-a", "kafka-b"]),
    ("owners", "team-a team-b", []),
]


@pytest.mark.parametrize(("key", "value", "kept"), KEYED)
def test_a_bare_word_counts_by_its_own_key(key: str, value: str, kept: list[str]) -> None:
    bare = [a.text for a in addresses_in(value, key) if not a.certain and not any(r.namespace for r in a.refs)]
    assert bare == kept


def test_a_bare_word_in_a_mounted_file_gives_an_edge_by_its_key_not_the_file_name() -> None:
    def edges(data: dict[str, str]) -> set[str]:
        objects = [
            configmap("cfg", data),
            workload("app", volumes=[{"name": "c", "configMap": {"name": "cfg"}}]),
            service("app"),
            service("mongo"),
        ]
        return {e.callee for e in ServiceGraph.from_objects(objects).snapshot().edges}

    assert edges({"config.yaml": "db: {host: mongo, port: 27017}"}) == {"shop/mongo"}
    assert edges({"app.env": "DB_HOST: mongo"}) == {"shop/mongo"}
    assert edges({"application.properties": "spring.data.mongodb.host=mongo"}) == {"shop/mongo"}
    assert edges({"services.yaml": "owner: mongo"}) == set()


def test_flags_and_shell_assignments_are_keys_too() -> None:
    assert [a.text for a in addresses_in("--db-host=postgres --log-level=info")] == ["postgres"]
    assert [a.text for a in addresses_in("export DB_HOST=postgres; exec app")] == ["postgres"]
    # $(VAR) references are expanded before the key is looked up.
    assert [a.text for a in addresses_in("-Ddb.host=$(DB)", env={"DB": "postgres"})] == ["postgres"]


# --- 4. client commands: wait-for loops and health checks -------------------------------------------

COMMANDS = [
    # (command line, (address, certain) expected): a port makes it certain.
    ("until nc -z mysql 3306; do sleep 1; done", [("mysql:3306", True)]),
    ("while ! nc -zv -w 2 mysql 3306; do sleep 1; done", [("mysql:3306", True)]),
    ("until ncat mysql 3306 </dev/null; do sleep 1; done", [("mysql:3306", True)]),
    ("telnet mysql 3306", [("mysql:3306", True)]),
    ("pg_isready -h pg-primary -p 5432", [("pg-primary:5432", True)]),
    ("/usr/bin/pg_isready --host=pg-primary --port=5432 -U app", [("pg-primary:5432", True)]),
    ("psql -h pg-0,pg-1 -p 5432,5433 -c 'select 1'", [("pg-0:5432", True), ("pg-1:5433", True)]),
    ("redis-cli -h redis ping", [("redis", False)]),
    ("redis-cli -h redis -p 6380 ping", [("redis:6380", True)]),
    ("mysqladmin ping -h mysql", [("mysql", False)]),
    ("mysqladmin ping -hmysql -P3306 --silent", [("mysql:3306", True)]),
    ("mongosh --host rs0/mongo-0:27017,mongo-1:27017 --quiet", [("mongo-0:27017", True), ("mongo-1:27017", True)]),
    ("sqlcmd -S tcp:sqldata,1433 -Q 'select 1'", [("sqldata:1433", True)]),
    ("cqlsh cassandra 9042 -e 'describe keyspaces'", [("cassandra:9042", True)]),
    ("rabbitmqadmin -H rabbitmq -P 15672 list queues", [("rabbitmq:15672", True)]),
    ("nslookup mydb", [("mydb", False)]),
    ("timeout 1 bash -c 'cat < /dev/null > /dev/tcp/db/5432'", [("db:5432", True)]),
    ("app --host api --port 8080", [("api:8080", True)]),
    # `-h` is help (or something else) for other tools, and needs a plausible host after it.
    ("du -h data", []),
    ("grep -h mysql /etc/hosts", []),
    ("pg_isready -h", []),
    ("pg_isready -h /var/run/postgresql", []),
    ("redis-cli -h localhost ping", []),
    ("nc -l 8080", []),
]


@pytest.mark.parametrize(("line", "expected"), COMMANDS)
def test_client_commands_name_their_hosts(line: str, expected: list[tuple[str, bool]]) -> None:
    assert [(a.text, a.certain) for a in addresses_in(line)] == expected
    assert all(a.named for a in addresses_in(line))


def test_a_wait_for_init_container_gives_an_edge() -> None:
    app = workload("app")
    wait = {"name": "wait", "image": "busybox", "command": ["sh", "-c", "until nc -z mysql 3306; do sleep 1; done"]}
    app["spec"]["template"]["spec"]["initContainers"] = [wait]
    graph = ServiceGraph.from_objects([app, service("app"), service("mysql")]).snapshot()
    assert {(e.caller, e.callee) for e in graph.edges} == {("shop/app", "shop/mysql")}


def test_exec_form_arguments_are_read_as_one_command_line() -> None:
    args = ["sqlcmd", "-S", "sqldata,1433", "-P", "db2:50000"]
    assert [(arg, a.text) for arg, a in addresses_in_args(args)] == [("sqldata,1433", "sqldata:1433")]
    args = ["pg_isready", "-h", "$(DB_HOST)", "-p", "5432"]
    assert [(arg, a.text) for arg, a in addresses_in_args(args, {"DB_HOST": "pg"})] == [("$(DB_HOST)", "pg:5432")]
    assert [a.text for _, a in addresses_in_args(["app", "--host", "api", "--port", "8080"])] == ["api:8080"]
