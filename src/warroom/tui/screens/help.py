"""Every key, in one place."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Runbook (selected service)",
        [
            ("n", "complete the next runbook step (the first one starts the deploy)"),
            ("u", "reopen the last completed step"),
            ("s / D", "start the deploy / mark it done"),
            ("x", "mark the deploy failed (asks why)"),
            ("r / R", "order a rollback (release manager) / mark it rolled back"),
            ("!", "call for a rollback: raise a trigger (team lead)"),
            ("a", "acknowledge the firing trigger (the selected service's, else the first)"),
            ("b", "roll back per the firing trigger's plan: dependents first (release manager)"),
            ("enter", "open the service: runbook steps, who did what and when"),
        ],
    ),
    (
        "Go/no-go",
        [
            ("space", "check or uncheck the highlighted item (checklist pane)"),
            ("g", "record the decision: GO, NO-GO or PARTIAL (release manager)"),
        ],
    ),
    (
        "Talking",
        [
            ("m", "write a message to everyone (Enter sends, Esc leaves)"),
            ("f", "filter the log: everything, system lines, people, a team, a person"),
        ],
    ),
    (
        "Moving around",
        [
            ("tab / shift+tab", "next / previous pane"),
            ("1 … 5", "graph, deploys, countdown, go/no-go, log"),
            ("arrows", "move in a pane; in the graph: between services (the view follows)"),
            ("❯", "marks the selection in every pane: the keys act on exactly that"),
            ("shift+arrows", "pan the graph without moving the selection"),
            ("z / esc", "zoom the focused pane to full screen and back"),
            ("ctrl+p", "command palette: every action by name"),
            ("F", "demo only: inject a fault into the selected simulated service"),
            ("?", "this help"),
            ("ctrl+q", "quit"),
        ],
    ),
]


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", justify="right")
    table.add_column()
    for section, rows in KEYS:
        table.add_row("", f"[bold underline]{section}[/]")
        for key, text in rows:
            table.add_row(key, text)
        table.add_row("", "")
    table.add_row(
        "",
        "[dim]Actions you may not take are greyed out in the footer; the command layer refuses them anyway.[/]",
    )
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box", classes="dialog"):
            yield Static(help_table())

    def on_mount(self) -> None:
        self.query_one("#help-box").border_title = "warroom keys"

    def action_close(self) -> None:
        self.dismiss(None)
