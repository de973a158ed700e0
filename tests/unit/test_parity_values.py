"""Parity with the targets' own validation, value by value: what Alertmanager (config, timeinterval,
pkg/labels) and Prometheus (promql/parser) refuse, AlertAgent refuses, with the target's message;
what they accept, AlertAgent accepts. Each table names the upstream source it mirrors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from alertagent.api import AlertmanagerCluster, NotificationChannel, SuppressionPolicy
from alertagent.api.alertmanagercluster import GlobalConfig
from alertagent.api.common import SecretKeyRef, url_error
from alertagent.api.suppressionpolicy import MaintenanceWindow, RecurringSchedule, zone
from alertagent.render.receivers import Secrets, parse_version, receiver
from alertagent.render.regex import promql_regex_issues, re2_error
from alertagent.render.windows import window_active

# --- RE2, as Go's regexp compiles `^(?:RE)$` (regexp/syntax/parse.go; Alertmanager pkg/labels/matcher.go,
# Prometheus model/labels/regexp.go) ---------------------------------------------------------------

RE2_CASES: list[tuple[str, str | None]] = [
    ("^(?!Watchdog|InfoInhibitor).*", "error parsing regexp: invalid or unsupported Perl syntax: `(?!`"),
    ("(?=a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"),
    ("(?<=a)b", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"),
    ("(?<name>a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"),  # Go < 1.22
    (r"(a)\1", "error parsing regexp: invalid escape sequence: `\\1`"),
    (r"\C", "error parsing regexp: invalid escape sequence: `\\C`"),
    (r"\Z", "error parsing regexp: invalid escape sequence: `\\Z`"),
    ("a**", "error parsing regexp: invalid nested repetition operator: `**`"),
    ("a++", "error parsing regexp: invalid nested repetition operator: `++`"),
    ("x{1001}", "error parsing regexp: invalid repeat count: `{1001}`"),
    ("(x{100}){100}", "error parsing regexp: invalid repeat count: `{100}`"),
    ("*", "error parsing regexp: missing argument to repetition operator: `*`"),
    ("[z-a]", "error parsing regexp: invalid character class range: `z-a`"),
    ("[[:foo:]]", "error parsing regexp: invalid character class range: `[:foo:]`"),
    ("(a", "error parsing regexp: missing closing ): `^(?:(a)$`"),
    ("(?P<é>a)", "error parsing regexp: invalid named capture: `(?P<é>`"),
    # Valid in Go, some of them not in Python's re or Rust's regex:
    ("a)|(b", None),  # valid once anchored: ^(?:a)|(b)$
    ("5..", None),
    (r"\Q.*\E", None),
    (r"\\C", None),
    ("(?P<name>a)", None),
    ("(?i)watchdog|(?s:.)", None),
    (r"\pL{1000}", None),  # RE2's compile budget, not Go's limit
    ("", None),
    ("[]a]", None),
    ("[(?<]", None),
]


@pytest.mark.parametrize(("pattern", "message"), RE2_CASES)
def test_re2_as_go_compiles_it(pattern: str, message: str | None) -> None:
    assert re2_error(pattern) == message


def _matchers(value: str) -> list[dict[str, str]]:
    return [{"name": "alertname", "matchType": "=~", "value": value}]


# Every place a Matcher reaches Alertmanager: (kind, spec, field path pydantic names).
MATCHER_PLACES: list[tuple[type[pydantic.BaseModel], dict[str, Any], tuple[Any, ...]]] = [
    (
        NotificationChannel,
        {"type": "webhook", "webhook": {"url": "http://x"}, "route": {"matchers": _matchers("(?!W)")}},
        ("spec", "route", "matchers", 0, "value"),
    ),
    (SuppressionPolicy, {"matchers": _matchers("(?!W)")}, ("spec", "matchers", 0, "value")),
    (
        SuppressionPolicy,
        {"inhibitRules": [{"sourceMatchers": _matchers("(?!W)"), "targetMatchers": _matchers("a")}]},
        ("spec", "inhibitRules", 0, "sourceMatchers", 0, "value"),
    ),
    (
        SuppressionPolicy,
        {"dependencySuppression": {"sourceMatchers": _matchers("a"), "targetMatchers": _matchers("(?!W)")}},
        ("spec", "dependencySuppression", "targetMatchers", 0, "value"),
    ),
]


@pytest.mark.parametrize(("kind", "spec", "loc"), MATCHER_PLACES)
def test_every_matcher_is_checked_with_re2(kind: type[pydantic.BaseModel], spec: dict, loc: tuple) -> None:
    with pytest.raises(pydantic.ValidationError) as err:
        kind.model_validate({"metadata": {"name": "x", "namespace": "a"}, "spec": spec})
    (error,) = err.value.errors()
    assert error["loc"] == loc
    assert "error parsing regexp: invalid or unsupported Perl syntax: `(?!`" in error["msg"]


def test_equality_matchers_are_not_regexes() -> None:
    spec = {"matchers": [{"name": "a", "matchType": "!=", "value": "(?!W)"}]}
    assert SuppressionPolicy.model_validate({"spec": spec}).spec.matchers


# Prometheus promql/parser: a bad label regex is `<line>:<col>: parse error: <Go's error>` at the label.
PROMQL_CASES: list[tuple[str, list[str]]] = [
    (
        'up{alertname=~"^(?!Watchdog).*"}',
        ["1:4: parse error: error parsing regexp: invalid or unsupported Perl syntax: `(?!`"],
    ),
    ('sum(rate(x{code=~"5..", b!~"c|d"}[5m]))', []),
    ('x{a=~"a)|(b"}', []),
    (
        'x\n  + y{job="a",\n  instance!~"[z-a]"}',
        ["3:3: parse error: error parsing regexp: invalid character class range: `z-a`"],
    ),
    ('x # y{a=~"(?!"} in a comment\n', []),
    (r"{a=~'\\C'}", ["1:2: parse error: error parsing regexp: invalid escape sequence: `\\C`"]),
    ("{a=~`(?<n>x)`}", ["1:2: parse error: error parsing regexp: invalid or unsupported Perl syntax: `(?<`"]),
    (
        'label_replace(up, "dst", "$1", "src", "(.*")',
        ["invalid regular expression in label_replace(): (.* (error parsing regexp: missing closing ): `^(?:(.*)$`)"],
    ),
    ('label_replace(up, "dst", "$1", "src", "(.*)")', []),
    # MetricsQL promql-parser cannot parse: the lexical scan still finds the matchers.
    (
        'sum(rate(x{a=~"(?!b)"}[5m])) keep_metric_names',
        ["1:12: parse error: error parsing regexp: invalid or unsupported Perl syntax: `(?!`"],
    ),
]


@pytest.mark.parametrize(("expr", "issues"), PROMQL_CASES)
def test_promql_regexes(expr: str, issues: list[str]) -> None:
    assert promql_regex_issues(expr) == issues


# --- Time intervals: prometheus/alertmanager timeinterval/timeinterval.go (v0.25.0 = v0.28.0) ----------

TIME_INTERVAL_CASES: list[tuple[str, str, str | None]] = [
    ("weekdays", "monday:friday", None),
    ("weekdays", "Monday:FRIDAY", None),
    ("weekdays", "saturday:sunday", "start day cannot be before end day"),
    ("weekdays", "funday", "funday is not a valid weekday"),
    ("weekdays", "monday:friday:sunday", None),  # schema pattern refuses it first (one colon at most)
    ("daysOfMonth", "1:31", None),
    ("daysOfMonth", "-1", None),
    ("daysOfMonth", "-7:-1", None),
    ("daysOfMonth", "20:-1", None),
    ("daysOfMonth", "+5", None),
    ("daysOfMonth", "0", "0 is not a valid day of the month: out of range"),
    ("daysOfMonth", "32", "32 is not a valid day of the month: out of range"),
    ("daysOfMonth", "1:-32", "-32 is not a valid day of the month: out of range"),
    ("daysOfMonth", "-1:5", "end day must be negative if start day is negative"),
    ("daysOfMonth", "30:-1", "end day -1 is always before start day 30"),
    ("daysOfMonth", "-1:-7", "end day -7 is always before start day -1"),
    ("daysOfMonth", "99999999999999999999", 'strconv.Atoi: parsing "99999999999999999999": value out of range'),
    ("months", "january:march", None),
    ("months", "January", None),
    ("months", "1:3", None),
    ("months", "13", None),  # Alertmanager does not range-check month numbers
    ("months", "march:1", "end month january is before start month march"),
    ("months", "december:january", "end month january is before start month december"),
    ("months", "smarch", "smarch is not a valid month"),
    ("years", "2026:2027", None),
    ("years", "20261", None),
    ("years", "2027:2026", "end year 2026 is before start year 2027"),
]


@pytest.mark.parametrize(("field", "value", "message"), TIME_INTERVAL_CASES)
def test_time_interval_ranges(field: str, value: str, message: str | None) -> None:
    if value.count(":") > 1:
        with pytest.raises(pydantic.ValidationError, match="should match pattern"):
            RecurringSchedule.model_validate({field: [value]})
        return
    if message is None:
        RecurringSchedule.model_validate({field: ["1", value] if field != "weekdays" else [value]})
        return
    with pytest.raises(pydantic.ValidationError) as err:
        RecurringSchedule.model_validate({field: [value]})
    (error,) = err.value.errors()
    assert error["loc"] == (field, 0)
    assert error["msg"].removeprefix("Value error, ").startswith(message)


TIMES_CASES: list[tuple[str, str, str | None]] = [
    ("00:00", "24:00", None),
    ("23:59", "24:00", None),
    ("09:00", "09:00", "start time cannot be equal or greater than end time"),
    ("18:00", "09:00", "start time cannot be equal or greater than end time"),
    ("09:00", "24:30", "should match pattern"),  # validTime: ^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)
    ("9:00", "10:00", "should match pattern"),
    ("24:00", "24:00", "start time cannot be equal or greater than end time"),
]


@pytest.mark.parametrize(("start", "end", "message"), TIMES_CASES)
def test_times(start: str, end: str, message: str | None) -> None:
    value = {"times": [{"startTime": start, "endTime": end}]}
    if message is None:
        RecurringSchedule.model_validate(value)
    else:
        with pytest.raises(pydantic.ValidationError, match=message):
            RecurringSchedule.model_validate(value)


# Go's time.LoadLocation over the IANA database shipped in the tzdata package.
LOCATION_CASES: list[tuple[str, str | None]] = [
    ("Asia/Shanghai", None),
    ("UTC", None),
    ("", None),
    ("Local", None),
    ("US/Pacific", None),  # a backward link, in the database
    ("Etc/GMT+8", None),
    ("Asia/Beijing", "unknown time zone Asia/Beijing"),
    ("asia/shanghai", "unknown time zone asia/shanghai"),
    ("Europe/../Asia/Shanghai", "time: invalid location name"),
    ("/etc/localtime", "time: invalid location name"),
]


@pytest.mark.parametrize(("location", "message"), LOCATION_CASES)
def test_locations(location: str, message: str | None) -> None:
    if message is None:
        RecurringSchedule.model_validate({"location": location})
        zone(location)
    else:
        with pytest.raises(pydantic.ValidationError, match=message):
            RecurringSchedule.model_validate({"location": location})


def test_unknown_time_zone_is_refused_and_status_never_raises() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown time zone Asia/Beijing"):
        MaintenanceWindow.model_validate({"name": "w", "recurring": {"location": "Asia/Beijing"}})
    # A model that skipped validation (or a zone gone from the database) makes the window inactive.
    bad = MaintenanceWindow.model_construct(
        name="w", recurring=RecurringSchedule.model_construct(location="Asia/Beijing")
    )
    assert window_active(bad, datetime(2026, 11, 22, tzinfo=UTC)) is False
    broken = RecurringSchedule.model_construct(location="UTC", weekdays=["funday"], times=None)
    assert window_active(MaintenanceWindow.model_construct(name="w", recurring=broken), datetime.now(UTC)) is False


def test_one_off_windows_need_a_time_zone_offset() -> None:
    with pytest.raises(pydantic.ValidationError, match="timezone"):
        MaintenanceWindow.model_validate({"name": "w", "start": "2026-12-01T01:00:00", "end": "2026-12-01T03:00:00"})


ACTIVE_CASES: list[tuple[dict[str, Any], datetime, bool]] = [
    ({"weekdays": ["Saturday"]}, datetime(2026, 11, 21, 12, tzinfo=UTC), True),
    ({"daysOfMonth": ["31"]}, datetime(2026, 11, 30, tzinfo=UTC), False),  # begins after the month's end
    ({"daysOfMonth": ["25:31"]}, datetime(2026, 2, 28, tzinfo=UTC), True),  # clamped to the month
    ({"daysOfMonth": ["-31:-1"]}, datetime(2026, 2, 1, tzinfo=UTC), True),
    ({"months": ["13"]}, datetime(2026, 12, 1, tzinfo=UTC), False),
    ({"times": [{"startTime": "23:00", "endTime": "24:00"}]}, datetime(2026, 11, 22, 23, 59, tzinfo=UTC), True),
    ({"location": "Local", "times": [{"startTime": "00:00", "endTime": "01:00"}]}, datetime(2026, 1, 1), True),
]


@pytest.mark.parametrize(("recurring", "now", "active"), ACTIVE_CASES)
def test_contains_time(recurring: dict[str, Any], now: datetime, active: bool) -> None:
    window = MaintenanceWindow.model_validate({"name": "w", "recurring": recurring})
    assert window_active(window, now) is active


# --- URLs: Alertmanager config/config.go parseURL (URL and SecretURL) over Go's net/url ----------------

URL_CASES: list[tuple[str, str | None]] = [
    ("https://hooks.slack.com/services/T/B/X", None),
    ("http://[::1]:9093/api", None),
    ("HTTP://example.com", None),  # Go lower-cases the scheme
    ("ftp://example.com", 'unsupported scheme "ftp" for URL'),
    ("hooks.slack.com/services/T/B/X", 'unsupported scheme "" for URL'),
    ("http://", "missing host for URL"),
    ("http:example.com", "missing host for URL"),
    ("http://user@", "missing host for URL"),
    ("http://[::1", "parse \"http://[::1\": missing ']' in host"),
    ("http://host:80a/", 'parse "http://host:80a/": invalid port ":80a" after host'),
    ("http://ho%zzst/", 'parse "http://ho%zzst/": invalid URL escape "%zz"'),
    ("http://a b/", 'parse "http://a b/": invalid character " " in host name'),
    ("http://h/%zz", 'parse "http://h/%zz": invalid URL escape "%zz"'),
    ("http://h/\n", 'parse "http://h/\\n": net/url: invalid control character in URL'),
]


@pytest.mark.parametrize(("url", "message"), URL_CASES)
def test_urls(url: str, message: str | None) -> None:
    assert url_error(url) == message


def test_url_fields_of_channels_use_alertmanagers_rules() -> None:
    with pytest.raises(pydantic.ValidationError, match="invalid port"):
        NotificationChannel.model_validate({"spec": {"type": "webhook", "webhook": {"url": "http://h:x/"}}})


# --- Receivers: config/notifiers.go and config/config.go at v0.25.0, v0.26.0, v0.27.0 ------------------

REF = {"name": "creds", "key": "k"}


def _channel(kind: str, block: dict[str, Any]) -> NotificationChannel:
    return NotificationChannel.model_validate(
        {"metadata": {"name": "c", "namespace": "team"}, "spec": {"type": kind, kind: block}}
    )


def _render(
    channel: NotificationChannel, g: GlobalConfig | None, version: tuple[int, int] = (0, 25), value: str = "v"
) -> dict[str, Any]:
    secrets = Secrets(lambda ns, ref: value, "team", placeholders=False)
    return receiver(channel, version, None, secrets, global_=g)


GLOBAL_CASES: list[tuple[str, dict[str, Any], dict[str, Any], tuple[int, int], str]] = [
    ("slack", {}, {"slackApiUrl": REF}, (0, 25), "no global Slack API URL set either inline or in a file"),
    ("slack", {}, {"slackApiUrl": REF}, (0, 30), "no Slack API URL nor App token set either inline or in a file"),
    ("opsgenie", {}, {"opsgenieApiKey": REF}, (0, 25), "no global OpsGenie API Key set either inline or in a file"),
    (
        "wechat",
        {"agentId": "1", "corpId": "corp"},
        {"wechatApiSecret": REF},
        (0, 25),
        "no global Wechat ApiSecret set",
    ),
    (
        "wechat",
        {"agentId": "1", "corpId": "corp"},
        {"wechatApiSecret": REF},
        (0, 31),
        "no global Wechat Api Secret set either inline or in a file",
    ),
    ("wechat", {"agentId": "1", "apiSecret": REF}, {"wechatApiCorpId": "corp"}, (0, 25), "no global Wechat CorpID set"),
    (
        "email",
        {"to": "a@example.com", "from": "am@example.com"},
        {"smtp": {"smarthost": "smtp:25"}},
        (0, 25),
        "no global SMTP smarthost set",
    ),
    (
        "email",
        {"to": "a@example.com", "smarthost": "smtp:25"},
        {"smtp": {"from": "am@example.com"}},
        (0, 25),
        "no global SMTP from set",
    ),
    (
        "email",
        {"to": "a@example.com", "from": "", "smarthost": "smtp:25"},
        {"smtp": {"from": "am@example.com"}},
        (0, 25),
        "no global SMTP from set",  # an empty value is unset, as in Go
    ),
]


@pytest.mark.parametrize(("kind", "block", "global_block", "version", "message"), GLOBAL_CASES)
def test_values_only_the_global_block_can_supply(
    kind: str, block: dict[str, Any], global_block: dict[str, Any], version: tuple[int, int], message: str
) -> None:
    channel = _channel(kind, block)
    for missing in (None, GlobalConfig()):
        with pytest.raises(ValueError, match=f"^{message}$"):
            _render(channel, missing, version)
    rendered = _render(channel, GlobalConfig.model_validate(global_block), version)
    assert rendered["name"] == "team/c"


def test_issue_input_4_slack_without_url_is_refused_alone() -> None:
    slack = _channel("slack", {"channel": "#team-a"})
    with pytest.raises(ValueError, match="no global Slack API URL set"):
        _render(slack, None)
    # Callers that do not pass the cluster's global block get no global check (the old behaviour).
    assert receiver(slack, (0, 25), None, Secrets(lambda ns, ref: "v", "team", False))["slack_configs"]
    webhook = _channel("webhook", {"url": "http://hooks.team-b:8080"})
    assert _render(webhook, None)["webhook_configs"][0]["url"] == "http://hooks.team-b:8080"


def test_url_defaults_come_from_alertmanager() -> None:
    # pagerduty_url, opsgenie_api_url, telegram_api_url, webex_api_url, wechat_api_url: DefaultGlobalConfig.
    _render(_channel("pagerduty", {"routingKey": REF}), None)
    _render(_channel("opsgenie", {"apiKey": REF}), None)
    _render(_channel("telegram", {"botToken": REF, "chatId": 1}), None)
    _render(_channel("webex", {"botToken": REF, "roomId": "r"}), None)


VERSION_FIELD_CASES: list[tuple[tuple[int, int], str | None]] = [
    ((0, 26), "msteams.summary: Alertmanager 0.26 has no such field (needs >= 0.27"),
    ((0, 27), None),
    ((0, 28), None),
]


@pytest.mark.parametrize(("version", "message"), VERSION_FIELD_CASES)
def test_fields_the_version_lacks(version: tuple[int, int], message: str | None) -> None:
    teams = _channel("msteams", {"webhookUrl": REF, "summary": "s"})
    if message is None:
        assert _render(teams, None, version, value="https://teams.example.com/hook")["msteams_configs"]
    else:
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            _render(teams, None, version, value="https://teams.example.com/hook")
    assert _render(_channel("msteams", {"webhookUrl": REF}), None, (0, 26), value="https://t.example.com")


SECRET_VALUE_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("slack", {"apiUrl": REF}, "xoxb-not-a-url", "slack.api_url: unsupported scheme for URL"),
    ("webhook", {"urlSecret": REF}, "http://h:tok3n/", "webhook.url: parse <secret value>: invalid port after host"),
    ("discord", {"webhookUrl": REF}, "", "discord.webhook_url: unsupported scheme for URL"),
    ("telegram", {"botToken": REF, "chatId": 1}, "", "missing bot_token on telegram_config"),
    ("pagerduty", {"serviceKey": REF}, "", "missing service or routing key in PagerDuty config"),
]


@pytest.mark.parametrize(("kind", "block", "value", "message"), SECRET_VALUE_CASES)
def test_secret_values_alertmanager_refuses_never_leak(kind: str, block: dict, value: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        _render(_channel(kind, block), None, (0, 25), value=value)
    assert str(err.value).startswith(message)
    assert not value or value not in str(err.value)


CHANNEL_MODEL_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("telegram", {"botToken": REF, "chatId": 0}, "missing chat_id on telegram_config"),
    ("telegram", {"botToken": REF, "chatId": 2**63}, "less than or equal to 9223372036854775807"),
    ("telegram", {"botToken": REF, "chatId": -(2**63)}, None),
    ("webex", {"botToken": REF, "roomId": ""}, "missing room_id on webex_config"),
    ("email", {"to": "a", "headers": {"Subject": "x", "subject": "y"}}, 'duplicate header "Subject" in email config'),
    ("email", {"to": "a", "headers": {"X-A b": "x", "x-a B": "y"}}, None),  # not tokens: left as they are
    ("email", {"to": "a", "smarthost": "[::1]:25"}, None),
    ("email", {"to": "a", "smarthost": "smtp:submission"}, None),
    ("email", {"to": "a", "smarthost": "smtp"}, "should match pattern"),  # missing port in address
    ("email", {"to": "a", "smarthost": "a:b:25"}, "should match pattern"),  # too many colons in address
    ("email", {"to": "a", "smarthost": "smtp:"}, "should match pattern"),  # port cannot be empty
]


@pytest.mark.parametrize(("kind", "block", "message"), CHANNEL_MODEL_CASES)
def test_channel_fields(kind: str, block: dict[str, Any], message: str | None) -> None:
    if message is None:
        _channel(kind, block)
    else:
        with pytest.raises(pydantic.ValidationError, match=message):
            _channel(kind, block)


@pytest.mark.parametrize(
    ("text", "version"), [("v0.27.0", (0, 27)), ("0.25.0+ds", (0, 25)), ("0.26", (0, 26)), (None, (0, 27))]
)
def test_versions(text: str | None, version: tuple[int, int]) -> None:
    assert parse_version(text) == version


def test_cluster_global_model_is_what_receiver_takes() -> None:
    cluster = AlertmanagerCluster.model_validate(
        {"spec": {"alertmanager": {"url": "http://am:9093"}, "global": {"slackApiUrl": REF}}}
    )
    slack = _channel("slack", {})
    assert _render(slack, cluster.spec.global_)["slack_configs"] == [{"send_resolved": True}]


def test_secret_key_ref_is_the_resolvers_key() -> None:
    assert SecretKeyRef.model_validate(REF).key == "k"


def test_deep_expressions_never_reach_promql_parser() -> None:
    # promql-parser kills the process (SIGSEGV) on `up` + `+up` * 5000; the lexical scan still runs.
    deep = 'label_replace(up{a=~"(?!x)"}, "a", "$1", "b", "(")' + "+up" * 5000
    assert promql_regex_issues(deep) == [
        "1:18: parse error: error parsing regexp: invalid or unsupported Perl syntax: `(?!`"
    ]
