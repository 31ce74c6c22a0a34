"""The trigger rule language of a plan's `when:` field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from warroom.domain.rules import (
    BaselineRule,
    HealthRule,
    RuleSyntaxError,
    ThresholdRule,
    parse_rule,
)

ACCEPTED_DURATIONS = "h, m, s or ms"


# ---------------------------------------------------------------- the three forms


def test_threshold_with_percent_is_divided_by_100() -> None:
    rule = parse_rule("error_rate > 1% for 2m")
    assert rule == ThresholdRule(
        metric="error_rate", op=">", value=0.01, percent=True, hold=timedelta(minutes=2)
    )


def test_threshold_with_plain_number_is_kept_as_is() -> None:
    rule = parse_rule("p99_ms >= 1500 for 90s")
    assert rule == ThresholdRule(
        metric="p99_ms", op=">=", value=1500.0, percent=False, hold=timedelta(seconds=90)
    )


def test_threshold_with_decimal_percent_and_compound_duration() -> None:
    rule = parse_rule("http.errors < 2.5% for 1h30m")
    assert isinstance(rule, ThresholdRule)
    assert rule.metric == "http.errors"
    assert rule.value == pytest.approx(0.025)
    assert rule.percent is True
    assert rule.hold == timedelta(hours=1, minutes=30)


def test_baseline_rule_keeps_the_factor() -> None:
    rule = parse_rule("p99_ms > 2x baseline for 2m")
    assert rule == BaselineRule(metric="p99_ms", op=">", factor=2.0, hold=timedelta(minutes=2))


def test_baseline_rule_with_fractional_factor() -> None:
    rule = parse_rule("rps < 0.5x baseline for 30s")
    assert rule == BaselineRule(metric="rps", op="<", factor=0.5, hold=timedelta(seconds=30))


def test_health_rule_counts_checks() -> None:
    assert parse_rule("health failing for 3 checks") == HealthRule(checks=3)


def test_keywords_are_case_insensitive() -> None:
    assert parse_rule("Health FAILING For 5 Checks") == HealthRule(checks=5)
    rule = parse_rule("p99_ms > 3x BASELINE FOR 1m")
    assert rule == BaselineRule("p99_ms", ">", 3.0, timedelta(minutes=1))


def test_metric_called_health_is_a_threshold_rule() -> None:
    rule = parse_rule("health < 1 for 1m")
    assert rule == ThresholdRule("health", "<", 1.0, False, timedelta(minutes=1))


@pytest.mark.parametrize("op", [">", ">=", "<", "<=", "==", "!="])
def test_every_operator_parses_with_and_without_spaces(op: str) -> None:
    spaced = parse_rule(f"latency {op} 5 for 1m")
    tight = parse_rule(f"latency{op}5 for 1m")
    baseline = parse_rule(f"latency {op} 2x baseline for 1m")
    assert isinstance(spaced, ThresholdRule) and spaced.op == op
    assert tight == spaced
    assert isinstance(baseline, BaselineRule) and baseline.op == op


@pytest.mark.parametrize(
    "text",
    [
        "error_rate > 1% for 2m",
        "p99_ms > 2x baseline for 2m",
        "health failing for 3 checks",
        "cpu <= 1.5% for 1m30s",
        "queue_depth != 0 for 45s",
    ],
)
def test_describe_round_trips(text: str) -> None:
    rule = parse_rule(text)
    assert parse_rule(rule.describe()) == rule


def test_describe_shows_the_rule_as_written() -> None:
    assert parse_rule("error_rate > 1% for 2m").describe() == "error_rate > 1% for 2m"
    assert parse_rule("p99_ms > 2x baseline for 120s").describe() == "p99_ms > 2x baseline for 2m"
    assert parse_rule("health failing for 3 checks").describe() == "health failing for 3 checks"


# ---------------------------------------------------------------- errors


def _error(text: str) -> RuleSyntaxError:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(text)
    return info.value


def test_missing_threshold_points_at_what_came_instead() -> None:
    err = _error("error_rate > for 2m")
    assert err.column == 14  # the 'for'
    assert "expected a number, a percentage or Nx baseline" in err.message
    assert "'for'" in err.message


def test_missing_comparison() -> None:
    err = _error("error_rate 1% for 2m")
    assert err.column == 12
    assert "expected a comparison (> >= < <= == !=)" in err.message


def test_missing_for_at_the_end_points_past_the_last_character() -> None:
    err = _error("error_rate > 1%")
    assert err.column == 16
    assert err.message == "expected 'for', got the end"


def test_end_column_ignores_trailing_spaces() -> None:
    assert _error("error_rate > 1%    ").column == 16


def test_missing_for_before_a_duration() -> None:
    err = _error("error_rate > 1% 2m")
    assert err.column == 17
    assert err.message == "expected 'for', got '2m'"


def test_missing_baseline_keyword() -> None:
    err = _error("p99_ms > 2x for 2m")
    assert err.column == 13
    assert "expected 'baseline'" in err.message


def test_bad_duration_quotes_what_was_written_and_says_what_is_accepted() -> None:
    err = _error("error_rate > 1% for 10 minutes")
    assert err.column == 21  # the '10'
    assert "bad duration '10 minutes'" in err.message
    assert ACCEPTED_DURATIONS in err.message


def test_duration_without_unit() -> None:
    err = _error("error_rate > 1% for 10")
    assert err.column == 21
    assert "bad duration '10'" in err.message
    assert ACCEPTED_DURATIONS in err.message


def test_missing_duration() -> None:
    err = _error("error_rate > 1% for")
    assert err.column == 20
    assert err.message == "expected a duration such as 2m, got the end"


def test_trailing_junk() -> None:
    err = _error("error_rate > 1% for 2m please")
    assert err.column == 24
    assert err.message == "expected the end of the rule, got 'please'"


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_empty_rule(text: str) -> None:
    err = _error(text)
    assert err.column == 1
    assert err.message == "the rule is empty"


@pytest.mark.parametrize("count", ["0", "00", "2.5"])
def test_health_needs_at_least_one_whole_check(count: str) -> None:
    err = _error(f"health failing for {count} checks")
    assert err.column == 20
    assert err.message == "the number of checks must be 1 or more"


def test_health_missing_checks_keyword() -> None:
    err = _error("health failing for 3")
    assert err.column == 21
    assert "expected 'checks'" in err.message


@pytest.mark.parametrize(
    ("text", "column", "char"),
    [
        ("error_rate $ 1% for 2m", 12, "$"),
        ("error_rate ≥ 1% for 2m", 12, "≥"),
        ("error_rate > 1% for 2m;", 23, ";"),
        ("error_rate > -1 for 2m", 14, "-"),
    ],
)
def test_unknown_character(text: str, column: int, char: str) -> None:
    err = _error(text)
    assert err.column == column
    assert err.message == f"unexpected {char!r}"


def test_error_text_names_the_column_and_keeps_the_rule() -> None:
    err = _error("error_rate > for 2m")
    assert str(err) == f"column 14: {err.message}"
    assert err.text == "error_rate > for 2m"
    assert isinstance(err, ValueError)


# ---------------------------------------------------------------- holds


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (">", (False, False, True)),
        (">=", (False, True, True)),
        ("<", (True, False, False)),
        ("<=", (True, True, False)),
        ("==", (False, True, False)),
        ("!=", (True, False, True)),
    ],
)
def test_threshold_holds_for_every_operator(op: str, expected: tuple[bool, bool, bool]) -> None:
    rule = parse_rule(f"latency {op} 5 for 1m")
    assert isinstance(rule, ThresholdRule)
    assert (rule.holds(4.0), rule.holds(5.0), rule.holds(6.0)) == expected


def test_threshold_percent_compares_against_a_fraction() -> None:
    rule = parse_rule("error_rate > 1% for 2m")
    assert isinstance(rule, ThresholdRule)
    assert rule.holds(0.012) is True
    assert rule.holds(0.009) is False
    assert rule.holds(0.5) is True  # 50% is above 1%, not compared to the number 1


def test_threshold_ignores_the_baseline() -> None:
    rule = parse_rule("latency > 5 for 1m")
    assert isinstance(rule, ThresholdRule)
    assert rule.holds(6.0, baseline=100.0) is True
    assert rule.holds(4.0, baseline=1.0) is False


def test_baseline_rule_compares_against_factor_times_baseline() -> None:
    rule = parse_rule("p99_ms > 2x baseline for 2m")
    assert isinstance(rule, BaselineRule)
    assert rule.holds(250.0, baseline=100.0) is True
    assert rule.holds(200.0, baseline=100.0) is False
    assert rule.holds(150.0, baseline=100.0) is False
    assert rule.holds(150.0, baseline=50.0) is True


def test_baseline_rule_without_a_baseline_raises() -> None:
    rule = parse_rule("p99_ms > 2x baseline for 2m")
    assert isinstance(rule, BaselineRule)
    with pytest.raises(ValueError, match="no baseline"):
        rule.holds(250.0)


def test_a_zero_hold_duration_is_refused() -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule("error_rate > 1% for 0s")
    assert info.value.column == 21
    assert "more than zero" in info.value.message
