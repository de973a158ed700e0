"""The safety net's search: culprits found by bisection with few checks, interactions named as none,
and Secret values scrubbed from tool messages."""

from __future__ import annotations

from collections.abc import Sequence

from alertagent.common.culprits import find_culprits, scrub


def checker(bad: set[int], calls: list[int]) -> object:
    def error_of(part: Sequence[int]) -> str | None:
        calls.append(len(part))
        found = sorted(bad & set(part))
        return f"bad items {found}" if found else None

    return error_of


def test_one_culprit_among_500_takes_a_logarithmic_number_of_checks() -> None:
    calls: list[int] = []
    culprits = find_culprits(list(range(500)), checker({137}, calls))  # type: ignore[arg-type]
    assert culprits == {137: "bad items [137]"}
    assert len(calls) <= 2 * 9 + 1  # two halves per level, log2(500) < 9 levels, plus the whole


def test_several_culprits_are_each_named_with_their_own_message() -> None:
    calls: list[int] = []
    assert find_culprits(list(range(64)), checker({3, 40, 41}, calls)) == {  # type: ignore[arg-type]
        3: "bad items [3]",
        40: "bad items [40]",
        41: "bad items [41]",
    }


def test_a_failure_that_needs_two_items_together_names_no_culprit() -> None:
    def error_of(part: Sequence[str]) -> str | None:
        return "duplicate receiver" if {"a", "b"} <= set(part) else None

    assert find_culprits(["a", "b", "c", "d"], error_of) == {}
    assert find_culprits([], error_of) == {}


def test_secret_values_are_scrubbed_longest_first() -> None:
    message = 'parse "hooks.slack.example/two": invalid URI; token abc in abcdef'
    assert scrub(message, {"hooks.slack.example/two", "abc", "abcdef", ""}) == (
        'parse "<secret>": invalid URI; token <secret> in <secret>'
    )
