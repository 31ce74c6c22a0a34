"""`execute`: the one way a command runs.

TEMPORARY ADAPTER (issue 11, step 1): dispatches to the `Commands` methods so
the TUI and CLI can move onto command values while the handlers move out of
`Commands`. The next step inverts it: one handler per command type, run by
`execute` inside `open_tx`, and `Commands` becomes a thin facade over this.
"""

from __future__ import annotations

from typing import TypeVar

from warroom.clock import Clock
from warroom.commands import defs as d
from warroom.commands.actions import Commands
from warroom.commands.tx import SystemActor
from warroom.store.engine import Store

R = TypeVar("R")


def execute(
    store: Store,
    clock: Clock,
    command: d.Command[R],
    actor: str | SystemActor,
    release: str | None = None,
) -> R:
    """Run `command` as `actor` in one transaction; CommandError if refused (nothing written)."""
    assert isinstance(actor, str)
    c = Commands(store, clock, actor, release)
    result: object
    match command:
        case d.SetItems():
            result = c.set_items(command.keys, command.done, expect_version=command.expect_version)
        case d.Decide():
            result = c.decide(command.kind, command.subset, command.rationale)
        case d.StartDeploy():
            result = c.start_deploy(command.service, expect_version=command.expect_version)
        case d.FinishDeploy():
            result = c.finish_deploy(command.service, expect_version=command.expect_version)
        case d.FailDeploy():
            result = c.fail_deploy(
                command.service, command.reason, expect_version=command.expect_version
            )
        case d.CompleteStep():
            result = c.complete_step(
                command.service, command.position, expect_version=command.expect_version
            )
        case d.UndoStep():
            result = c.undo_step(command.service, expect_version=command.expect_version)
        case d.StartRollback():
            result = c.start_rollback(
                command.service, command.reason, expect_version=command.expect_version
            )
        case d.FinishRollback():
            result = c.finish_rollback(command.service, expect_version=command.expect_version)
        case d.PostMessage():
            result = c.post_message(command.text)
        case d.AckTrigger():
            result = c.ack_trigger(command.trigger, expect_version=command.expect_version)
        case d.RaiseTrigger():
            result = c.raise_trigger(command.service, command.reason)
        case _:
            raise TypeError(f"no handler for {type(command).__name__}")
    return result  # type: ignore[return-value]
