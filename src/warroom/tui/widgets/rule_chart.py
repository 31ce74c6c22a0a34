"""One rule on one service, over the last minutes: its state and progress, a
sparkline of what it watches, where it held, and its window.

    error-rate  error_rate > 1% for 2m                      PENDING
    pending 1m10s / 2m — error_rate 5.00%
    ▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▇▇▇▇▇▇▇▇▇▇
    ──────────────────────────────────────────────────━━━━━━━━━━
                                                      ╰pending─╯
    error_rate now 5.00% · high 5.00% · threshold > 1% · since 14:05:10 UTC
    ━ held  ─ clear  · no data · last 10m, a column per 10s

The sparkline is Textual's own widget; the chart's arithmetic is pure
(domain/charts.py). A dry-run rule is drawn greyed and says so.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from warroom.domain.charts import Chart, Mark, metric_of
from warroom.domain.durations import format_duration
from warroom.domain.rules import BaselineRule, HealthRule, Rule, ThresholdRule
from warroom.domain.snapshot import TriggerView
from warroom.domain.text import safe
from warroom.domain.timeline import when
from warroom.domain.triggers import Phase

COLUMNS = 60  # the sparkline's width: one column per SPAN / COLUMNS

_PHASE_STYLE = {
    Phase.PENDING: "bold yellow",
    Phase.FIRING: "bold red",
    Phase.INCONCLUSIVE: "bold magenta",
    Phase.RESOLVED: "green",
    Phase.INACTIVE: "green",
}
_MARKS = {Mark.HELD: ("━", "red"), Mark.CLEAR: ("─", "green"), Mark.NONE: ("·", "dim")}


def _limit(rule: Rule, chart: Chart, baseline: float | None) -> str:
    if isinstance(rule, ThresholdRule):
        return f"threshold {rule.op} {chart.shown(rule.value)}"
    if isinstance(rule, BaselineRule):
        if baseline is None:
            return f"{rule.factor:g}x baseline: no baseline yet"
        return (
            f"{rule.op} {rule.factor:g}x baseline {chart.shown(baseline)}"
            f" = {chart.shown(chart.limit)}"
        )
    assert isinstance(rule, HealthRule)
    return f"fires on {rule.checks} failing checks in a row"


def title(trigger: TriggerView, rule: Rule, options: str = "") -> Text:
    phase = Phase(trigger.state)
    line = Text()
    line.append(safe(trigger.rule), "bold")
    line.append(f"  {safe(trigger.when)}")
    if options:
        line.append(f"  ({safe(options)})", "dim")
    if trigger.dry_run:
        line.append("  [dry run]", "italic")
    line.append("  ")
    line.append(phase.upper(), "dim" if trigger.dry_run else _PHASE_STYLE[phase])
    if trigger.acked_by:
        line.append(safe(f" (acknowledged by {trigger.acked_by})"))
    detail = trigger.detail or ("watching" if phase is Phase.INACTIVE else "")
    if detail:
        line.append("\n")
        line.append(safe(detail), "italic")
    return line


def marks(chart: Chart, trigger: TriggerView) -> Text:
    """Under each column: whether it held; under that, the trigger's window."""
    grey = trigger.dry_run
    line = Text()
    for column in chart.columns:
        char, style = _MARKS[column.mark]
        line.append(char, "dim" if grey else style)
    inside = [i for i, c in enumerate(chart.columns) if c.in_window]
    if inside and trigger.state in {Phase.PENDING, Phase.FIRING, Phase.INCONCLUSIVE}:
        first, width = inside[0], len(inside)
        label = str(trigger.state)
        if width >= len(label) + 2:
            body = label.center(width - 2, "─")
            bracket = f"╰{body}╯"
        elif width >= 2:
            bracket = "╰" + "─" * (width - 2) + "╯ " + label
        else:
            bracket = "↑ " + label
        style = "dim" if grey else _PHASE_STYLE[Phase(trigger.state)]
        line.append("\n" + " " * first)
        line.append(bracket, style)
    return line


def legend(chart: Chart, trigger: TriggerView, rule: Rule, zone: str) -> Text:
    metric = metric_of(rule)
    parts = [
        f"{metric} now {chart.shown(chart.latest)}",
        f"high {chart.shown(chart.highest)}",
        _limit(rule, chart, trigger.baseline),
    ]
    if trigger.since is not None and trigger.state in {
        Phase.PENDING,
        Phase.FIRING,
        Phase.INCONCLUSIVE,
    }:
        parts.append(f"since {when(trigger.since, zone, '%H:%M:%S')}")
    if not chart.samples:
        parts.append("no samples in this time")
    step = format_duration(chart.step)
    span = format_duration(chart.end - chart.start)
    text = Text(safe(" · ".join(parts)))
    text.append(f"\n━ held  ─ clear  · no data · last {span}, a column per {step}", "dim")
    return text


class RuleChart(Vertical):
    """One rule's chart on the service screen, updated in place as samples arrive."""

    DEFAULT_CSS = """
    RuleChart {
        height: auto;
        margin: 1 0 0 0;
    }
    RuleChart > Static {
        height: auto;
    }
    RuleChart > Sparkline {
        width: 60;
        height: 2;
    }
    RuleChart.-dry-run > Sparkline > .sparkline--max-color {
        color: $text-muted;
    }
    RuleChart.-dry-run > Sparkline > .sparkline--min-color {
        color: $text-muted 30%;
    }
    """

    def __init__(self, trigger_id: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.trigger_id = trigger_id
        self._shown: tuple[TriggerView, Rule, Chart, str, str] | None = None

    @property
    def chart(self) -> Chart | None:
        """The chart shown now (or about to be, once mounted)."""
        return self._shown[2] if self._shown is not None else None

    @property
    def trigger(self) -> TriggerView | None:
        return self._shown[0] if self._shown is not None else None

    def compose(self) -> ComposeResult:
        yield Static(classes="rule-title")
        yield Sparkline([], classes="rule-spark")
        yield Static(classes="rule-marks")
        yield Static(classes="rule-legend")

    def on_mount(self) -> None:
        self._draw()

    def show(
        self, trigger: TriggerView, rule: Rule, chart: Chart, zone: str, options: str = ""
    ) -> None:
        """Show the newest chart; drawn once the widget is mounted if it is not yet."""
        self._shown = (trigger, rule, chart, zone, options)
        self._draw()

    def _draw(self) -> None:
        if self._shown is None or not self.query(".rule-legend"):
            return
        trigger, rule, chart, zone, options = self._shown
        self.set_class(trigger.dry_run, "-dry-run")
        self.query_one(".rule-title", Static).update(title(trigger, rule, options))
        self.query_one(Sparkline).data = chart.values
        self.query_one(".rule-marks", Static).update(marks(chart, trigger))
        self.query_one(".rule-legend", Static).update(legend(chart, trigger, rule, zone))
