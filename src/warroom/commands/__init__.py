"""The command layer: the single write path for the TUI, CLI, SSH sessions and poller."""

from warroom.commands.actions import Commands
from warroom.commands.load import LoadResult, load_plan
from warroom.commands.tx import SYSTEM_ACTOR, CommandError

__all__ = ["SYSTEM_ACTOR", "CommandError", "Commands", "LoadResult", "load_plan"]
