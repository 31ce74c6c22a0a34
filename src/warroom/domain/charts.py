"""A rule's recent history on one service, as a chart: pure arithmetic.

The service screen draws a sparkline of each watched metric over the last
minutes with, under it, which stretches held the rule's condition and where
the trigger's pending window lies; `warroom rules backtest` prints the same
series. Time is cut into equal columns; each column keeps the value that
matters most to the rule (the highest for `>`, the lowest for `<`) and
whether any sample in it held, all held clear, or none could be judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from warroom.domain.health import Sample
from warroom.domain.rules import BaselineRule, HealthRule, Rule, ThresholdRule
from warroom.domain.triggers import judge


class Mark(StrEnum):
    HELD = "held"  # some sample in the column held the condition
    CLEAR = "clear"  # every sample judged in it was clear
    NONE = "none"  # no sample, or none the rule could judge


@dataclass(frozen=True)
class Column:
    start: datetime
    value: float | None  # None: no value for the metric in this column
    mark: Mark
    in_window: bool  # inside the trigger's window (pending, firing or inconclusive)


@dataclass(frozen=True)
class Chart:
    rule: Rule
    columns: tuple[Column, ...]
    start: datetime
    end: datetime
    step: timedelta
    limit: float | None  # the value the metric is compared with, once known
    latest: float | None  # the newest value seen
    samples: int

    @property
    def values(self) -> list[float]:
        """One number per column for a sparkline; a column without data
        draws as the lowest value (its mark says it had none)."""
        known = [c.value for c in self.columns if c.value is not None]
        floor = min(known) if known else 0.0
        return [floor if c.value is None else c.value for c in self.columns]

    @property
    def highest(self) -> float | None:
        known = [c.value for c in self.columns if c.value is not None]
        return max(known) if known else None

    def shown(self, value: float | None) -> str:
        return show_value(self.rule, value)


def metric_of(rule: Rule) -> str:
    """What a rule watches, for a heading: the metric, or the health check."""
    return "health check" if isinstance(rule, HealthRule) else rule.metric


def value_of(rule: Rule, sample: Sample) -> float | None:
    """The number a rule looks at in a sample (a health rule: 1 failing, 0 passing)."""
    if isinstance(rule, HealthRule):
        return 0.0 if sample.ok else 1.0
    return sample.metric(rule.metric)


def limit_of(rule: Rule, baseline: float | None) -> float | None:
    if isinstance(rule, ThresholdRule):
        return rule.value
    if isinstance(rule, BaselineRule):
        return None if baseline is None else rule.factor * baseline
    return None


def show_value(rule: Rule, value: float | None) -> str:
    """A value as the rule's own language writes it (`1.20%`, `240`, `failing`)."""
    if value is None:
        return "—"
    if isinstance(rule, HealthRule):
        return "failing" if value else "passing"
    if isinstance(rule, ThresholdRule) and rule.percent:
        return f"{value * 100:.2f}%"
    return readable(value)


def readable(value: float) -> str:
    """A measured number to the precision people read (`119`, `42.5`, `0.0031`),
    not a float's six digits (`118.978`)."""
    if value == int(value) or abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _worst(rule: Rule, values: Sequence[float]) -> float:
    if isinstance(rule, HealthRule) or rule.op in {">", ">="}:
        return max(values)
    if rule.op in {"<", "<="}:
        return min(values)
    return values[-1]


def chart(
    rule: Rule,
    samples: Iterable[Sample],
    baseline: float | None,
    *,
    end: datetime,
    span: timedelta,
    columns: int,
    window: datetime | None = None,
) -> Chart:
    """`rule` over the samples taken in the `span` before `end`, in `columns`
    equal columns; `window` is when the trigger's current window began
    (pending, firing or inconclusive since), if it has one."""
    start = end - span
    step = span / columns
    buckets: list[list[Sample]] = [[] for _ in range(columns)]
    taken = sorted((s for s in samples if start <= s.at <= end), key=lambda s: s.at)
    for sample in taken:
        buckets[min(int((sample.at - start) / step), columns - 1)].append(sample)
    out = []
    for index, bucket in enumerate(buckets):
        begins = start + index * step
        values = [v for s in bucket if (v := value_of(rule, s)) is not None]
        verdicts = [judge(rule, s, baseline).holds for s in bucket]
        mark = Mark.HELD if True in verdicts else Mark.CLEAR if False in verdicts else Mark.NONE
        inside = window is not None and begins + step > window
        out.append(Column(begins, _worst(rule, values) if values else None, mark, inside))
    latest = next((v for s in reversed(taken) if (v := value_of(rule, s)) is not None), None)
    return Chart(
        rule,
        tuple(out),
        start,
        end,
        step,
        limit_of(rule, baseline),
        latest,
        len(taken),
    )


BARS = "▁▂▃▄▅▆▇█"


def text_sparkline(values: Sequence[float]) -> str:
    """A sparkline as plain text, for the command line (the TUI uses Textual's widget)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    extent = high - low or 1.0
    return "".join(BARS[int((v - low) / extent * (len(BARS) - 1))] for v in values)
