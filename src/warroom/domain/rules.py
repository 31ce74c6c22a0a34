"""The trigger rule language of a plan's `when:` field.

Three forms, deliberately small (Prometheus alerting is the model):

    METRIC OP VALUE[%] for DURATION        error_rate > 1% for 2m
    METRIC OP Nx baseline for DURATION     p99_ms > 2x baseline for 2m
    health failing for N checks            health failing for 3 checks

OP is one of > >= < <= == !=. A percentage is divided by 100, so `1%`
compares against a fraction such as `error_rate: 0.012`. DURATION uses the
plan's duration syntax (`90s`, `2m`, `1h30m`). Errors name the column.

A plan's trigger entry may add `RuleOptions` beside its `when:` (how a
rule treats missing data and broken probes, how long it keeps firing,
whether it only tries itself out); domain/triggers.py gives them meaning.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from warroom.domain.durations import format_duration, parse_duration
from warroom.domain.limits import MAX_CHECKS

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class RuleSyntaxError(ValueError):
    """A `when:` that does not parse; `column` is 1-based."""

    def __init__(self, text: str, column: int, message: str) -> None:
        self.text = text
        self.column = column
        self.message = message
        super().__init__(f"column {column}: {message}")


@dataclass(frozen=True)
class ThresholdRule:
    metric: str
    op: str
    value: float
    percent: bool
    hold: timedelta

    def holds(self, observed: float, baseline: float | None = None) -> bool:
        return OPERATORS[self.op](observed, self.value)

    def describe(self) -> str:
        shown = f"{self.value * 100:g}%" if self.percent else f"{self.value:g}"
        return f"{self.metric} {self.op} {shown} for {format_duration(self.hold)}"


@dataclass(frozen=True)
class BaselineRule:
    metric: str
    op: str
    factor: float
    hold: timedelta

    def holds(self, observed: float, baseline: float | None = None) -> bool:
        if baseline is None:
            raise ValueError("no baseline")
        return OPERATORS[self.op](observed, self.factor * baseline)

    def describe(self) -> str:
        return f"{self.metric} {self.op} {self.factor:g}x baseline for {format_duration(self.hold)}"


@dataclass(frozen=True)
class HealthRule:
    checks: int

    def describe(self) -> str:
        return f"health failing for {self.checks} checks"


Rule = ThresholdRule | BaselineRule | HealthRule


class NoData(StrEnum):
    """What a sample the rule cannot judge means (`no_data:` in a plan)."""

    IGNORE = "ignore"  # it breaks the streak, and says why (the default)
    BREACH = "breach"  # it counts as the condition holding
    INCONCLUSIVE = "inconclusive"  # after `inconclusive_after` in a row: ask the release manager


DEFAULT_INCONCLUSIVE_AFTER = 3


@dataclass(frozen=True)
class RuleOptions:
    """How a rule is evaluated, beyond its condition (all optional in a plan).

    - `keep_firing_for`: once firing, the condition counts as cleared only
      after it has stayed clear this long (Prometheus' keep_firing_for), so a
      flapping metric fires once instead of resolving and firing again.
    - `no_data` and `inconclusive_after`: see NoData.
    - `dry_run`: evaluated and shown, but it never holds a deploy, never
      raises the banner, never notifies, and needs no acknowledgement.
    - `error_limit`: with a cap, probes that get no answer are measurement
      errors, not missing data: up to `error_limit` in a row are tolerated
      (the streak goes on), one more makes the rule inconclusive
      ("measurement failing") — a broken measurement is not a failing
      service (Argo Rollouts' consecutiveErrorLimit). Without one they are
      no data like any other.
    """

    keep_firing_for: timedelta | None = None
    no_data: NoData = NoData.IGNORE
    inconclusive_after: int = DEFAULT_INCONCLUSIVE_AFTER
    dry_run: bool = False
    error_limit: int | None = None

    def describe(self) -> str:
        """The options that differ from the defaults, as a plan writes them."""
        parts = []
        if self.keep_firing_for:
            parts.append(f"keep_firing_for {format_duration(self.keep_firing_for)}")
        if self.no_data is NoData.INCONCLUSIVE:
            parts.append(f"no_data inconclusive after {self.inconclusive_after}")
        elif self.no_data is not NoData.IGNORE:
            parts.append(f"no_data {self.no_data}")
        if self.error_limit is not None:
            parts.append(f"error_limit {self.error_limit}")
        if self.dry_run:
            parts.append("dry run")
        return ", ".join(parts)


_TOKEN = re.compile(
    r"\s*(?:(?P<op>>=|<=|==|!=|>|<)"
    r"|(?P<factor>\d+(?:\.\d+)?x(?![A-Za-z0-9_]))"
    r"|(?P<number>\d+(?:\.\d+)?%?)(?![A-Za-z0-9_.])"
    r"|(?P<duration>\d[0-9hms]*)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)"
    r"|(?P<junk>\S))"
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    column: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:  # only trailing whitespace left
            break
        kind = match.lastgroup
        start = match.start(kind)
        if kind == "junk":
            raise RuleSyntaxError(text, start + 1, f"unexpected {match.group(kind)!r}")
        tokens.append(_Tok(kind, match.group(kind), start + 1))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def _peek(self) -> _Tok | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _end_column(self) -> int:
        return len(self.text.rstrip()) + 1

    def _fail(self, expected: str) -> RuleSyntaxError:
        tok = self._peek()
        if tok is None:
            return RuleSyntaxError(
                self.text, self._end_column(), f"expected {expected}, got the end"
            )
        return RuleSyntaxError(self.text, tok.column, f"expected {expected}, got {tok.text!r}")

    def _take(self, kind: str, expected: str) -> _Tok:
        tok = self._peek()
        if tok is None or tok.kind != kind:
            raise self._fail(expected)
        self.index += 1
        return tok

    def _keyword(self, word: str) -> None:
        tok = self._peek()
        if tok is None or tok.kind != "word" or tok.text.lower() != word:
            raise self._fail(f"'{word}'")
        self.index += 1

    def _duration(self) -> timedelta:
        tok = self._peek()
        if tok is None or tok.kind not in {"duration", "number"}:
            raise self._fail("a duration such as 2m")
        self.index += 1
        written = tok.text
        unit = self._peek()
        if tok.kind == "number" and unit is not None and unit.kind == "word":
            # "for 10 minutes": quote what was written, not just the number.
            written = self.text[tok.column - 1 : unit.column - 1 + len(unit.text)]
        try:
            hold = parse_duration(written)
        except ValueError as exc:
            raise RuleSyntaxError(self.text, tok.column, str(exc)) from None
        if not hold:
            raise RuleSyntaxError(self.text, tok.column, "the duration must be more than zero")
        return hold

    def _done(self) -> None:
        if self._peek() is not None:
            raise self._fail("the end of the rule")

    def parse(self) -> Rule:
        first = self._take("word", "a metric name or 'health'")
        nxt = self._peek()
        if first.text.lower() == "health" and nxt is not None and nxt.text.lower() == "failing":
            self.index += 1
            self._keyword("for")
            count = self._take("number", "a number of checks")
            digits = count.text.lstrip("0")
            if not count.text.isdigit() or not digits:
                raise RuleSyntaxError(
                    self.text, count.column, "the number of checks must be 1 or more"
                )
            # Compare the length first: int() refuses very long digit strings.
            if len(digits) > len(str(MAX_CHECKS)) or int(digits) > MAX_CHECKS:
                raise RuleSyntaxError(
                    self.text, count.column, f"the number of checks must be at most {MAX_CHECKS}"
                )
            self._keyword("checks")
            self._done()
            return HealthRule(checks=int(digits))
        op = self._take("op", "a comparison (> >= < <= == !=)")
        threshold = self._peek()
        if threshold is not None and threshold.kind == "factor":
            self.index += 1
            self._keyword("baseline")
            self._keyword("for")
            hold = self._duration()
            self._done()
            return BaselineRule(first.text, op.text, float(threshold.text[:-1]), hold)
        value = self._take("number", "a number, a percentage or Nx baseline")
        self._keyword("for")
        hold = self._duration()
        self._done()
        percent = value.text.endswith("%")
        number = float(value.text.rstrip("%"))
        return ThresholdRule(
            first.text, op.text, number / 100 if percent else number, percent, hold
        )


def parse_rule(text: str) -> Rule:
    """Parse a `when:` expression or raise RuleSyntaxError naming the column."""
    if not text or not text.strip():
        raise RuleSyntaxError(text, 1, "the rule is empty")
    return _Parser(text).parse()
