"""A toy action, as a newcomer would add one: one table row and one handler.

The CLI and TUI tests add it to the action table they build from, register
its handler for the length of the test, and find it on the command line,
in the footer, the palette and the help screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

from warroom.commands import defs as d
from warroom.commands.catalog import TALKING, Ask, Cli, HelpLine, Key, Palette, Spec, Target
from warroom.commands.handlers import registered
from warroom.commands.tx import Tx
from warroom.domain.roles import Action


@dataclass(frozen=True)
class Nudge(d.Command[str]):
    AUDIT: ClassVar[str] = "team.nudge"
    service: str
    reason: str


def nudge(tx: Tx, command: Nudge) -> str:
    service = tx.service(command.service)
    tx.require(Action.RAISE_TRIGGER, service.team, service.name)
    tx.system_line(f"Team {service.team} nudged about {service.name}: {command.reason}")
    return f"nudged team {service.team}"


NUDGE = Spec(
    "nudge",
    HelpLine(TALKING, "N", "nudge the selected service's team"),
    Target.SERVICE,
    Key("N", "Nudge"),
    Action.RAISE_TRIGGER,
    Palette("Nudge a team", "Ask the selected service's team to hurry"),
    ask=Ask.REASON,
    question="Why the hurry? (goes in the log)",
    build=lambda s: Nudge(s.name or "", s.reason),
    subcommand=Cli("team nudge", "Nudge SERVICE's team to get a move on.", reason_required=True),
)


@contextmanager
def nudge_handled() -> Iterator[None]:
    with registered(Nudge, nudge):
        yield
