"""The command layer: the single write path for the TUI, CLI, SSH sessions and poller.

Loading a plan lives in `warroom.commands.load` (it needs the plan parser,
which everyday commands do not, so it is not imported here).
"""

from warroom.commands.actions import Commands
from warroom.commands.tx import CommandError
from warroom.domain.roles import SYSTEM_ACTOR

__all__ = ["SYSTEM_ACTOR", "CommandError", "Commands"]
