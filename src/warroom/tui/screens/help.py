"""Every key, in one place: made from the action table, like the README's key table."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from warroom.commands.catalog import ACTIONS, Spec, help_sections


def help_table(actions: Iterable[Spec] = ACTIONS) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", justify="right")
    table.add_column()
    for section, lines in help_sections(actions):
        table.add_row("", f"[bold underline]{section}[/]")
        for line in lines:
            table.add_row(line.keys, line.text)
        table.add_row("", "")
    table.add_row(
        "",
        "[dim]Actions you may not take are greyed out in the footer; the command layer refuses them anyway.[/]",
    )
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, actions: Iterable[Spec] = ACTIONS) -> None:
        super().__init__()
        self.actions = tuple(actions)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box", classes="dialog"):
            yield Static(help_table(self.actions))

    def on_mount(self) -> None:
        self.query_one("#help-box").border_title = "warroom keys"

    def action_close(self) -> None:
        self.dismiss(None)


def key_table(actions: Iterable[Spec] = ACTIONS) -> str:
    """The README's key table (Markdown): the help screen's lines, section by section.

    README.md holds exactly this between its `keys` markers; a test says so.
    """
    rows = ["| key | does |", "| --- | --- |"]
    for section, lines in help_sections(actions):
        rows.append(f"| **{section}** | |")
        rows.extend(f"| {_code(line.keys)} | {line.text} |" for line in lines)
    return "\n".join(rows) + "\n"


def _code(keys: str) -> str:
    """`s / D` → each key as code: "`s` / `D`"."""
    return re.sub(r"[^\s/…]+", lambda key: f"`{key[0]}`", keys)
