"""One service opened: its runbook with who completed each step and when,
and each rule watching it over the last minutes.

The samples behind the rules' charts are read in a thread worker, never on
the event loop: when a read is asked for while one is running (samples
stream in every few seconds per service), one more read follows it, so the
charts catch up without reads piling up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache, partial
from typing import ClassVar

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import Worker, get_current_worker

from warroom.domain import graph as g
from warroom.domain.charts import chart
from warroom.domain.health import Sample
from warroom.domain.rules import Rule, parse_rule
from warroom.domain.snapshot import ReleaseSnapshot
from warroom.domain.text import safe
from warroom.domain.timeline import when
from warroom.domain.triggers import LEAD_CALL
from warroom.store import reading
from warroom.tui.room import room
from warroom.tui.screens.live import LiveScreen
from warroom.tui.widgets import looks
from warroom.tui.widgets.rule_chart import COLUMNS, RuleChart

SPAN = timedelta(minutes=10)  # how far back the rules' charts look
# What a change must touch for the charts to be drawn again.
CHART_TOPICS = frozenset({"release", "health", "services", "triggers"})


def describe_service(
    snapshot: ReleaseSnapshot, name: str, look: Callable[[str], Style]
) -> Table | Text:
    """Everything about one service; `look` gives the style of a look's name."""
    service = snapshot.service(name)
    zone = snapshot.release.timezone
    if service is None:
        return Text(f"{safe(name)} is not in this release", "bold red")
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", style="dim")
    table.add_column()
    table.add_row(
        "service",
        Text(safe(f"{service.name}  ({service.team}, owner {service.owner or '—'})"), "bold"),
    )
    version = (
        f"{service.previous_version} → {service.version}"
        if service.previous_version
        else service.version
    )
    table.add_row("version", Text(safe(version)))
    table.add_row(
        "state",
        Text(f"{service.state.symbol} {service.state.label}", look(looks.state(service.state))),
    )
    since = when(service.state_since, zone, "%H:%M:%S") + (
        f" by {service.state_by}" if service.state_by else ""
    )
    table.add_row("since", Text(safe(since)))
    hold = snapshot.holds.get(name)
    if hold is not None:
        table.add_row(
            "held",
            Text(
                safe(f"⊘ by {hold.describe()} upstream: it may not start until that resolves")
                + " (h: the release manager releases it)",
                look(looks.HELD),
            ),
        )
    planned = f"{when(service.planned_start, zone, label=False)}–{when(service.planned_end, zone)}"
    table.add_row("planned", f"{planned} (wave {service.wave})")
    last = snapshot.latest.get(name)
    if last is not None:
        # A passing sample may carry a reason too ("kept the first 100 of …").
        health = ("ok" if last.ok else "failing") + (f": {last.reason}" if last.reason else "")
        table.add_row("health", Text(safe(f"{health} (checked {when(last.at, zone, '%H:%M:%S')})")))
    elif snapshot.recorded and service.health != "unknown":
        table.add_row("health", Text(f"{service.health} (as recorded)"))
    table.add_row("depends on", Text(safe(", ".join(service.depends_on) or "nothing")))
    radius = sorted(g.blast_radius(snapshot.graph, name), key=snapshot.deploy_order.index)
    table.add_row("blast radius", Text(safe(", ".join(radius) or "nothing depends on it")))
    if service.rollback_command:
        table.add_row("rollback", Text(safe(service.rollback_command)))
    table.add_row("", "")
    for step in service.steps:
        mark = Text("☑", "green") if step.done else Text("☐", "yellow")
        line = Text.assemble(mark, f" {step.position}. {safe(step.text)}")
        if step.done and step.done_at is not None:
            line.append(
                f"   {safe(step.done_by or '')} at {when(step.done_at, zone, '%H:%M:%S')}", "dim"
            )
        table.add_row("runbook" if step.position == 1 else "", line)
    # A lead's call has no rule to chart: it is listed here (rules are charted below).
    calls = [t for t in snapshot.triggers if t.service == name and t.rule == LEAD_CALL]
    for call in calls:
        if call.state != "inactive":
            said = f"{call.state}, raised by {call.raised_by}: {call.detail or ''}"
            table.add_row("lead's call", Text(safe(said)))
    return table


@cache
def _rule(when: str) -> Rule:
    return parse_rule(when)


class ServiceScreen(LiveScreen, ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "close", "Close")]
    COMPONENT_CLASSES: ClassVar[set[str]] = {*looks.STATES, looks.HELD}

    class SamplesRead(Message):
        """The service's samples of the last SPAN, read at `now`."""

        def __init__(self, release_id: int, samples: tuple[Sample, ...], now: datetime) -> None:
            self.release_id = release_id
            self.samples = samples
            self.now = now
            super().__init__()

    def __init__(
        self, service: str, fixed: ReleaseSnapshot | None = None, at: datetime | None = None
    ) -> None:
        """`service`'s runbook and rules, following the room; or, given `fixed`
        (a replay), as that snapshot has them at the moment `at`, whatever
        happens meanwhile."""
        super().__init__()
        self.service = service
        self.fixed = fixed
        self.at = at
        self._reading = False  # a read of samples is under way
        self._again = False  # and another was asked for meanwhile
        self._read: ServiceScreen.SamplesRead | None = None  # the newest read of samples
        self._charts: dict[str, RuleChart] = {}  # by trigger id

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="service-box", classes="dialog"):
            yield Static(id="service-body")
            yield Vertical(id="service-rules")

    def on_mount(self) -> None:
        title = f"{safe(self.service)} — runbook and rules"
        self.query_one("#service-box").border_title = title + (" as it was" if self.fixed else "")
        self._show(self.fixed or getattr(self.app, "snapshot", None))

    def show_snapshot(
        self, snapshot: ReleaseSnapshot | None, topics: frozenset[str] | None = None
    ) -> None:
        """Live: someone completing a step elsewhere shows up here too, and
        new samples move the charts.

        The app calls this on every screen on the stack with each fresh read,
        the same as the dashboard's (see `WarroomApp.on_warroom_app_snapshot_loaded`).
        """
        if self.fixed is None:
            self._show(snapshot, topics)

    def _snapshot(self) -> ReleaseSnapshot | None:
        return self.fixed or room(self.app).snapshot

    def _show(self, snapshot: ReleaseSnapshot | None, topics: frozenset[str] | None = None) -> None:
        # A read can arrive while the dialog is still being put together (or
        # taken apart): on_mount shows the newest one then.
        if snapshot is None or not self.query("#service-body"):
            return
        body = describe_service(snapshot, self.service, partial(looks.style, self))
        self.query_one("#service-body", Static).update(body)
        if topics is None or topics & CHART_TOPICS:
            self._read_samples_soon()
        self._draw_rules()

    # ---------------------------------------------------------------- the rules' samples

    def _read_samples_soon(self) -> None:
        if self._reading:
            self._again = True
            return
        snapshot = self._snapshot()
        if snapshot is None:
            return
        self._reading = True
        self._read_samples(snapshot.release_id)

    @work(thread=True, group="service-samples", exit_on_error=False)
    def _read_samples(self, release_id: int) -> None:
        app = room(self.app)
        now = self.at or app.clock.now()
        with app.store().rows() as session:
            samples = reading.recent_samples(
                session, release_id, self.service, now - SPAN, until=self.at
            )
        if not get_current_worker().is_cancelled:
            self.post_message(self.SamplesRead(release_id, samples, now))

    @on(Worker.StateChanged)
    def _read_finished(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "service-samples" or not event.worker.is_finished:
            return
        # (A failed read reaches the person through the app's worker handler.)
        self._reading = False
        if self._again:
            self._again = False
            self._read_samples_soon()

    @on(SamplesRead)
    def _samples_read(self, message: SamplesRead) -> None:
        self._read = message
        self._draw_rules()

    def _draw_rules(self) -> None:
        snapshot = self._snapshot()
        read = self._read
        if snapshot is None or read is None or read.release_id != snapshot.release_id:
            return
        box = self.query("#service-rules")
        if not box:
            return
        rules = box.first(Vertical)
        zone = snapshot.release.timezone
        for trigger in snapshot.triggers:
            if trigger.service != self.service or trigger.rule == LEAD_CALL:
                continue
            rule = _rule(trigger.when)
            window = (
                trigger.since if trigger.state in {"pending", "firing", "inconclusive"} else None
            )
            drawn = chart(
                rule,
                read.samples,
                trigger.baseline,
                end=read.now,
                span=SPAN,
                columns=COLUMNS,
                window=window,
            )
            widget = self._charts.get(trigger.id)
            if widget is None:
                # By trigger id, not a CSS id: rule names may hold dots.
                widget = self._charts[trigger.id] = RuleChart(trigger.id)
                rules.mount(widget)
            widget.show(trigger, rule, drawn, zone, trigger.options)

    def action_close(self) -> None:
        self.dismiss(None)
