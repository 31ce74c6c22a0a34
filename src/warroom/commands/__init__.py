"""The command layer: the single write path for the TUI, CLI, SSH sessions and poller.

Loading a plan lives in `warroom.commands.load` (it needs the plan parser,
which everyday commands do not, so it is not imported here).

The names below load on first use: `warroom --help` reads the action table
(commands/catalog.py) and the command values (commands/defs.py), and must
not pay for SQLAlchemy, which `Commands` and `CommandError` bring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from warroom.commands.actions import Commands
    from warroom.commands.tx import SYSTEM_ACTOR, CommandError

__all__ = ["SYSTEM_ACTOR", "CommandError", "Commands"]


def __getattr__(name: str) -> Any:
    if name == "Commands":
        from warroom.commands.actions import Commands

        return Commands
    if name in {"SYSTEM_ACTOR", "CommandError"}:
        from warroom.commands import tx

        return getattr(tx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
