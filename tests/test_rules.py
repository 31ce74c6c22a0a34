"""The trigger rule language of a plan's `when:` field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from warroom.domain.rules import (
    BaselineRule,
    HealthRule,
    Rule,
    RuleSyntaxError,
    ThresholdRule,
    parse_rule,
)

ACCEPTED_DURATIONS = (
    "use a number with a unit h, m, s or ms, combined largest first, like 90s, 10m or 1h30m"
)


# ---------------------------------------------------------------- the three forms


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # A percentage is divided by 100; a plain number is kept as it is.
        (
            "error_rate > 1% for 2m",
            ThresholdRule("error_rate", ">", 0.01, True, timedelta(minutes=2)),
        ),
        (
            "p99_ms >= 1500 for 90s",
            ThresholdRule("p99_ms", ">=", 1500.0, False, timedelta(seconds=90)),
        ),
        ("p99_ms > 2x baseline for 2m", BaselineRule("p99_ms", ">", 2.0, timedelta(minutes=2))),
        ("rps < 0.5x baseline for 30s", BaselineRule("rps", "<", 0.5, timedelta(seconds=30))),
        ("health failing for 3 checks", HealthRule(checks=3)),
        # Keywords are case-insensitive.
        ("Health FAILING For 5 Checks", HealthRule(checks=5)),
        ("p99_ms > 3x BASELINE FOR 1m", BaselineRule("p99_ms", ">", 3.0, timedelta(minutes=1))),
        # A metric called health is a threshold rule.
        ("health < 1 for 1m", ThresholdRule("health", "<", 1.0, False, timedelta(minutes=1))),
    ],
)
def test_each_form_parses_to_its_rule(text: str, rule: Rule) -> None:
    assert parse_rule(text) == rule


def test_threshold_with_decimal_percent_and_compound_duration() -> None:
    rule = parse_rule("http.errors < 2.5% for 1h30m")
    assert isinstance(rule, ThresholdRule)
    assert rule.metric == "http.errors"
    assert rule.value == pytest.approx(0.025)
    assert rule.percent is True
    assert rule.hold == timedelta(hours=1, minutes=30)


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


# The column points at what came instead of what was expected (past the last
# character at the end, trailing spaces aside).
RULE_ERRORS = [
    ("error_rate > for 2m", 14, "expected a number, a percentage or Nx baseline, got 'for'"),
    ("error_rate 1% for 2m", 12, "expected a comparison (> >= < <= == !=), got '1%'"),
    ("error_rate > 1%", 16, "expected 'for', got the end"),
    ("error_rate > 1%    ", 16, "expected 'for', got the end"),
    ("error_rate > 1% 2m", 17, "expected 'for', got '2m'"),
    ("p99_ms > 2x for 2m", 13, "expected 'baseline', got 'for'"),
    ("error_rate > 1% for 10 minutes", 21, f"bad duration '10 minutes': {ACCEPTED_DURATIONS}"),
    ("error_rate > 1% for 10", 21, f"bad duration '10': {ACCEPTED_DURATIONS}"),
    ("error_rate > 1% for", 20, "expected a duration such as 2m, got the end"),
    ("error_rate > 1% for 0s", 21, "the duration must be more than zero"),
    ("error_rate > 1% for 2m please", 24, "expected the end of the rule, got 'please'"),
    ("", 1, "the rule is empty"),
    ("   ", 1, "the rule is empty"),
    ("\t", 1, "the rule is empty"),
    ("health failing for 3", 21, "expected 'checks', got the end"),
    ("health failing for 0 checks", 20, "the number of checks must be 1 or more"),
    ("health failing for 00 checks", 20, "the number of checks must be 1 or more"),
    ("health failing for 2.5 checks", 20, "the number of checks must be 1 or more"),
    ("error_rate $ 1% for 2m", 12, "unexpected '$'"),
    ("error_rate ≥ 1% for 2m", 12, "unexpected '≥'"),
    ("error_rate > 1% for 2m;", 23, "unexpected ';'"),
    ("error_rate > -1 for 2m", 14, "unexpected '-'"),
]


@pytest.mark.parametrize(
    ("text", "column", "message"), RULE_ERRORS, ids=[repr(row[0]) for row in RULE_ERRORS]
)
def test_a_bad_rule_is_refused_at_its_column(text: str, column: int, message: str) -> None:
    err = _error(text)
    assert (err.column, err.message) == (column, message)


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


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (118.978, "119"),  # a p99 from Prometheus: milliseconds, not thousandths of them
        (240.0, "240"),
        (1834.6, "1835"),
        (42.46, "42.5"),
        (3.14159, "3.14"),
        (0.0031416, "0.00314"),
        (0.0, "0"),
        (-12.34, "-12.3"),
    ],
)
def test_a_chart_shows_a_measured_value_as_people_read_it(value: float, shown: str) -> None:
    from warroom.domain.charts import show_value

    assert show_value(parse_rule("p99_ms > 800 for 1m"), value) == shown
