"""One service opened: its runbook with who completed each step and when."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from warroom.domain import graph as g
from warroom.domain.snapshot import ReleaseSnapshot
from warroom.tui.theme import STATE_STYLE


def describe_service(snapshot: ReleaseSnapshot, name: str) -> Table | Text:
    service = snapshot.service(name)
    if service is None:
        return Text(f"{name} is not in this release", "bold red")
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", style="dim")
    table.add_column()
    table.add_row(
        "service", Text(f"{service.name}  ({service.team}, owner {service.owner or '—'})", "bold")
    )
    version = (
        f"{service.previous_version} → {service.version}"
        if service.previous_version
        else service.version
    )
    table.add_row("version", version)
    table.add_row(
        "state", Text(f"{service.state.symbol} {service.state.label}", STATE_STYLE[service.state])
    )
    since = f"{service.state_since:%H:%M:%S} UTC" + (
        f" by {service.state_by}" if service.state_by else ""
    )
    table.add_row("since", since)
    table.add_row(
        "planned",
        f"{service.planned_start:%H:%M}–{service.planned_end:%H:%M} UTC (wave {service.wave})",
    )
    table.add_row("depends on", ", ".join(service.depends_on) or "nothing")
    radius = sorted(g.blast_radius(snapshot.graph, name), key=snapshot.deploy_order.index)
    table.add_row("blast radius", ", ".join(radius) or "nothing depends on it")
    if service.rollback_command:
        table.add_row("rollback", service.rollback_command)
    table.add_row("", "")
    for step in service.steps:
        mark = Text("☑", "green") if step.done else Text("☐", "yellow")
        line = Text.assemble(mark, f" {step.position}. {step.text}")
        if step.done and step.done_at is not None:
            line.append(f"   {step.done_by} at {step.done_at:%H:%M:%S}", "dim")
        table.add_row("runbook" if step.position == 1 else "", line)
    triggers = [t for t in snapshot.triggers if t.service == name and t.state != "inactive"]
    for trigger in triggers:
        table.add_row("trigger", f"{trigger.id}: {trigger.state} ({trigger.when})")
    return table


class ServiceScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="service-box", classes="dialog"):
            yield Static(id="service-body")

    def on_mount(self) -> None:
        self.query_one("#service-box").border_title = f"{self.service} — runbook"
        self.show_snapshot(getattr(self.app, "snapshot", None))

    def show_snapshot(self, snapshot: ReleaseSnapshot | None) -> None:
        """Live: someone completing a step elsewhere shows up here too."""
        if snapshot is not None:
            self.query_one("#service-body", Static).update(describe_service(snapshot, self.service))

    def action_close(self) -> None:
        self.dismiss(None)
