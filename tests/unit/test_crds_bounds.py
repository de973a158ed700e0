"""Numeric bounds in the CRDs as the API server reads them.

The API server keeps `minimum`/`maximum` as float64 and compares an integer value with `int64(bound)`
(kube-openapi `validate.MaximumNativeType`): a bound is read as written only when it is an integer that
float64 holds exactly, within int64's range. `maximum: 9223372036854775807` became 2**63, wrapped to
-2**63, and the API server refused every Telegram channel ("should be less than or equal to
-9223372036854775808") while `alertagent render` accepted them. tests/integration/test_crds_api.py
applies every channel type to the real API server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
import yaml
from pydantic import Field, ValidationError

from alertagent.api.base import Model
from alertagent.api.crd import SchemaError, _structural, crd
from alertagent.api.notificationchannel import NotificationChannel, TelegramConfig

REPO = Path(__file__).resolve().parents[2]
FOLDERS = [REPO / "crds", REPO / "charts" / "alertagent" / "crds"]


def read_as_api_server(bound: int | float) -> int:
    """What the API server compares an integer value with: the bound as float64, then as Go's int64
    (out of range, amd64 gives -2**63)."""
    as_float = float(bound)
    return int(as_float) if -(2**63) <= as_float < 2**63 else -(2**63)


def safe(bound: Any) -> bool:
    return (
        isinstance(bound, int | float)
        and not isinstance(bound, bool)
        and float(bound).is_integer()
        and read_as_api_server(bound) == bound
    )


def bounds(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(field path, keyword, value) for every numeric bound keyword in a schema."""
    if isinstance(node, dict):
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if key in node:
                yield path, key, node[key]
        for key, value in node.items():
            yield from bounds(value, f"{path}.{key}" if key not in ("properties", "items") else path)
    elif isinstance(node, list):
        for item in node:
            yield from bounds(item, path)


def checked_in_bounds() -> list[tuple[str, str, str, Any]]:
    found = []
    for folder in FOLDERS:
        for path in sorted(folder.glob("*.yaml")):
            schema = yaml.safe_load(path.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            found += [(f"{folder.parent.name}/{path.name}", where, key, value) for where, key, value in bounds(schema)]
    return found


def test_the_rule_matches_what_the_api_server_was_seen_doing() -> None:
    assert read_as_api_server(2**63 - 1) == -(2**63)  # the refused-everything maximum
    assert read_as_api_server(2**53 + 1) == 2**53  # a value up to the bound is refused
    assert [safe(b) for b in (2**63 - 1, 2**53 + 1, 0.5, True)] == [False, False, False, False]
    assert [safe(b) for b in (0, 1.0, -(2**63), 2**63 - 1024, 2**53, 1000000)] == [True] * 6


def test_every_bound_of_every_crd_is_read_as_written() -> None:
    found = checked_in_bounds()
    assert len(found) >= 40  # the walk reaches the bounds (5 CRDs, both folders)
    unsafe = [f for f in found if f[2] in ("minimum", "maximum") and not safe(f[3])]
    assert unsafe == []
    # OpenAPI v3: exclusiveMinimum/Maximum are booleans next to minimum/maximum, not numbers.
    assert [f for f in found if f[2].startswith("exclusive") and not isinstance(f[3], bool)] == []


def test_telegram_chat_id_is_int64_without_a_schema_bound() -> None:
    schema = crd(NotificationChannel)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    chat_id = schema["properties"]["spec"]["properties"]["telegram"]["properties"]["chatId"]
    assert (chat_id["type"], chat_id["format"]) == ("integer", "int64")
    assert "maximum" not in chat_id and "minimum" not in chat_id


@pytest.mark.parametrize("chat_id", [12345, -1001234567890, 2**63 - 1, -(2**63)])
def test_telegram_chat_ids_of_int64_are_accepted(chat_id: int) -> None:
    config = TelegramConfig.model_validate({"botToken": {"name": "tg", "key": "token"}, "chatId": chat_id})
    assert config.chat_id == chat_id


@pytest.mark.parametrize("chat_id", [2**63, -(2**63) - 1])
def test_telegram_chat_ids_beyond_int64_are_refused(chat_id: int) -> None:
    # The API server refuses them too: beyond int64 its JSON decoder makes a float ("must be of type integer").
    with pytest.raises(ValidationError, match="must be a 64-bit integer"):
        TelegramConfig.model_validate({"botToken": {"name": "tg", "key": "token"}, "chatId": chat_id})


def _schema(annotation: Any) -> dict[str, Any]:
    class Bounded(Model):
        value: Annotated[annotation, Field(description="A bounded value.")]  # type: ignore[valid-type]

    return Bounded.model_json_schema(by_alias=True)


@pytest.mark.parametrize(
    ("annotation", "keyword"),
    [
        (Annotated[int, Field(le=2**63 - 1)], "maximum 9223372036854775807"),
        (Annotated[int, Field(ge=-(2**63) - 1)], "minimum -9223372036854775809"),
        (Annotated[int, Field(le=2**53 + 1)], "maximum 9007199254740993"),
        (Annotated[float, Field(ge=0.5)], "minimum 0.5"),
        (Annotated[int, Field(lt=2**63)], "maximum 9223372036854775808"),
    ],
    ids=["int64-max", "below-int64", "beyond-float64-precision", "fraction", "exclusive-2**63"],
)
def test_generator_refuses_a_bound_the_api_server_reads_differently(annotation: Any, keyword: str) -> None:
    with pytest.raises(SchemaError, match=f"X.value: {keyword} is not an integer float64 holds exactly"):
        _structural(_schema(annotation), {}, "X")


def test_generator_keeps_exact_bounds_and_writes_exclusive_ones_the_openapi_v3_way() -> None:
    out = _structural(_schema(Annotated[int, Field(ge=-(2**63), le=2**63 - 1024)]), {}, "X")
    assert (out["properties"]["value"]["minimum"], out["properties"]["value"]["maximum"]) == (-(2**63), 2**63 - 1024)
    out = _structural(_schema(Annotated[float, Field(gt=0, lt=2)]), {}, "X")
    value = out["properties"]["value"]
    assert (value["minimum"], value["exclusiveMinimum"], value["maximum"], value["exclusiveMaximum"]) == (
        0,
        True,
        2,
        True,
    )
