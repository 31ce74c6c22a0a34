"""`execute`: the one way a command runs."""

from __future__ import annotations

from typing import TypeVar

from warroom.clock import Clock
from warroom.commands import defs as d
from warroom.commands import handlers
from warroom.commands.tx import CommandError, SystemActor, open_tx
from warroom.store.engine import Store

R = TypeVar("R")


def execute(
    store: Store,
    clock: Clock,
    command: d.Command[R],
    actor: str | SystemActor,
    release: str | None = None,
) -> R:
    """Run `command` as `actor` (a person's name, or SYSTEM_ACTOR) on `release` (None: the latest).

    Everything happens in one transaction: the write lock, who is acting,
    the one handler registered for the command's type, then one audit event
    that names the command and records its fields (with the facts the
    handler noted), then the change-feed row. CommandError if refused:
    nothing is written. TypeError if no handler is registered (a bug).
    """
    handler = handlers.handler_for(command)
    reason = command.refusal()
    if reason is not None:
        raise CommandError(reason)
    with open_tx(store, clock, actor, release, needs_release=command.NEEDS_RELEASE) as tx:
        result = handler(tx, command)
        if command.AUDITED and not tx.unchanged:
            tx.audit(
                command.audit_action(),
                {"command": type(command).__name__, "fields": command.audit_fields(), **tx.facts},
            )
        return result


class Runner:
    """Base of the facades over `execute`: commands on one store's `release`
    (None: the latest), as one `actor`. Each facade offers the commands it
    stands for; only `Commands` (a person's) runs any command."""

    def __init__(
        self, store: Store, clock: Clock, actor: str | SystemActor, release: str | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.actor = actor
        self.release = release

    def _run(self, command: d.Command[R]) -> R:
        return execute(self.store, self.clock, command, self.actor, self.release)
