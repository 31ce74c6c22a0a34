"""One service opened: its runbook with who completed each step and when."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ClassVar

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from warroom.domain import graph as g
from warroom.domain.snapshot import ReleaseSnapshot
from warroom.domain.text import safe
from warroom.domain.timeline import when
from warroom.tui.screens.live import LiveScreen
from warroom.tui.widgets import looks


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
    triggers = [t for t in snapshot.triggers if t.service == name and t.state != "inactive"]
    for trigger in triggers:
        table.add_row("trigger", Text(safe(f"{trigger.id}: {trigger.state} ({trigger.when})")))
    return table


class ServiceScreen(LiveScreen, ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "close", "Close")]
    COMPONENT_CLASSES: ClassVar[set[str]] = {*looks.STATES, looks.HELD}

    def __init__(self, service: str, fixed: ReleaseSnapshot | None = None) -> None:
        """`service`'s runbook, following the room; or, given `fixed` (a
        replay), as that snapshot has it, whatever happens meanwhile."""
        super().__init__()
        self.service = service
        self.fixed = fixed

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="service-box", classes="dialog"):
            yield Static(id="service-body")

    def on_mount(self) -> None:
        title = f"{safe(self.service)} — runbook"
        self.query_one("#service-box").border_title = title + (" as it was" if self.fixed else "")
        self._show(self.fixed or getattr(self.app, "snapshot", None))

    def show_snapshot(
        self, snapshot: ReleaseSnapshot | None, topics: frozenset[str] | None = None
    ) -> None:
        """Live: someone completing a step elsewhere shows up here too.

        The app calls this on every screen on the stack with each fresh read,
        the same as the dashboard's (see `WarroomApp.on_warroom_app_snapshot_loaded`).
        """
        if self.fixed is None:
            self._show(snapshot)

    def _show(self, snapshot: ReleaseSnapshot | None) -> None:
        # A read can arrive while the dialog is still being put together (or
        # taken apart): on_mount shows the newest one then.
        if snapshot is not None and self.query("#service-body"):
            body = describe_service(snapshot, self.service, partial(looks.style, self))
            self.query_one("#service-body", Static).update(body)

    def action_close(self) -> None:
        self.dismiss(None)
