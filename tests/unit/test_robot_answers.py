"""The robots' answers classified (render/robots/answers.py): each documented code of DingTalk, WeCom and
Feishu/Lark to ok / rate_limited / retry / config_error, and messages scrubbed of URLs and keys."""

from __future__ import annotations

import json

import pytest

from alertagent.render.robots.answers import LIMITS, Answer, classify


def j(**fields: object) -> str:
    return json.dumps(fields)


TABLE = [
    # DingTalk: HTTP 200, errcode
    ("dingtalk", 200, j(errcode=0, errmsg="ok"), "ok", 0),
    ("dingtalk", 200, j(errcode=310000, errmsg="sign not match"), "config_error", 310000),
    ("dingtalk", 200, j(errcode=310000, errmsg="keywords not in content"), "config_error", 310000),
    ("dingtalk", 200, j(errcode=300001, errmsg="token is not exist"), "config_error", 300001),
    ("dingtalk", 200, j(errcode=130101, errmsg="send too fast, exceed 20 times per minute"), "rate_limited", 130101),
    ("dingtalk", 200, j(errcode=410100, errmsg="send too fast"), "rate_limited", 410100),
    ("dingtalk", 200, j(errcode=-1, errmsg="system busy"), "retry", -1),
    ("dingtalk", 502, "<html>bad gateway</html>", "retry", None),
    # WeCom: HTTP 200, errcode
    ("wecom", 200, j(errcode=0, errmsg="ok"), "ok", 0),
    ("wecom", 200, j(errcode=45009, errmsg="api freq out of limit"), "rate_limited", 45009),
    ("wecom", 200, j(errcode=93000, errmsg="invalid webhook url"), "config_error", 93000),
    ("wecom", 200, j(errcode=40008, errmsg="invalid message type"), "config_error", 40008),
    ("wecom", 200, j(errcode=-1, errmsg="system busy"), "retry", -1),
    # Feishu/Lark: code (older bots StatusCode)
    ("feishu", 200, j(code=0, msg="success", data={}), "ok", 0),
    ("feishu", 200, j(StatusCode=0, StatusMessage="success"), "ok", 0),
    ("feishu", 200, j(code=19021, msg="sign match fail or timestamp is not within one hour"), "config_error", 19021),
    ("feishu", 200, j(code=19024, msg="Key Words Not Found"), "config_error", 19024),
    ("feishu", 200, j(code=11232, msg="frequency limited"), "rate_limited", 11232),
    ("feishu", 429, j(code=99991400, msg="request trigger frequency limit"), "rate_limited", 99991400),
    ("feishu", 400, j(code=99991400, msg="request trigger frequency limit"), "rate_limited", 99991400),
    ("feishu", 400, j(code=9499, msg="Bad Request"), "config_error", 9499),
    # HTTP level, any robot
    ("feishu", 429, "", "rate_limited", None),
    ("wecom", 503, "", "retry", None),
    ("wecom", 408, "", "retry", None),
    ("dingtalk", 0, "", "retry", None),  # no answer: refused or timed out
    ("dingtalk", 200, "not json", "retry", None),
    ("dingtalk", 404, "not found", "config_error", None),
    ("wecom", 403, "", "config_error", None),
]


@pytest.mark.parametrize(("kind", "status", "body", "expected", "code"), TABLE)
def test_classification(kind: str, status: int, body: str, expected: str, code: int | None) -> None:
    answer = classify(kind, status, body)
    assert (answer.kind, answer.code) == (expected, code)
    assert answer.ok == (expected == "ok")


def test_the_robots_own_message_is_kept() -> None:
    assert classify("dingtalk", 200, j(errcode=310000, errmsg="sign not match")) == Answer(
        "config_error", 310000, "sign not match"
    )
    assert classify("wecom", 502, "").message == "HTTP 502"
    assert classify("wecom", 0, "").message == "no answer"


def test_messages_never_carry_urls_or_keys() -> None:
    wecom = j(
        errcode=93000,
        errmsg="invalid webhook url, hint: [1714557600_1], from ip: 10.0.0.1, more info at "
        "https://open.work.weixin.qq.com/devtool/query?e=93000 key=wc-secret-key",
    )
    message = classify("wecom", 200, wecom).message
    assert message.startswith("invalid webhook url")
    assert "https://" not in message and "wc-secret-key" not in message
    assert "access_token" not in classify("dingtalk", 200, j(errcode=300001, errmsg="access_token=abc bad")).message
    assert len(classify("feishu", 200, j(code=1, msg="x" * 1000)).message) == 200


def test_documented_limits() -> None:
    assert (LIMITS["dingtalk"].per_minute, LIMITS["wecom"].per_minute) == (20, 20)
    assert (LIMITS["feishu"].per_minute, LIMITS["feishu"].per_second) == (100, 5)
    assert (LIMITS["wecom"].max_bytes, LIMITS["wecom"].text_max_bytes) == (4096, 2048)
    assert LIMITS["feishu"].max_bytes <= 20 * 1024 and LIMITS["feishu"].measure == "body"
