"""Release-day commands as methods: a facade over `execute` for callers that
act as one person throughout (the CLI, the tests, scripts).

Each method builds the command value and runs it; the rules live in its
handler (commands/handlers.py). A refusal raises CommandError with one
sentence and writes nothing. Methods return a short sentence saying what
happened, for the CLI and for notifications.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from warroom.clock import Clock
from warroom.commands import defs as d
from warroom.commands.execute import Runner
from warroom.commands.tx import CommandError
from warroom.domain.lifecycle import DecisionKind
from warroom.domain.triggers import Answer
from warroom.store.engine import Store

R = TypeVar("R")


class Commands(Runner):
    """Commands acting as one person of one release (never as the system: see SYSTEM_ACTOR)."""

    def __init__(self, store: Store, clock: Clock, actor: str, release: str | None = None) -> None:
        super().__init__(store, clock, actor, release)

    def run(self, command: d.Command[R]) -> R:
        """Run any command as this person."""
        return self._run(command)

    # ---------------------------------------------------------------- checklists

    def check_item(self, key: str, *, expect_version: int | None = None) -> str:
        return self.set_items([key], True, expect_version=expect_version)

    def uncheck_item(self, key: str, *, expect_version: int | None = None) -> str:
        return self.set_items([key], False, expect_version=expect_version)

    def set_items(
        self, keys: Sequence[str], done: bool, *, expect_version: int | None = None
    ) -> str:
        """Check (or uncheck) several items at once: all of them, or none if any is refused."""
        return self.run(d.SetItems(tuple(keys), done, expect_version))

    # ---------------------------------------------------------------- decision

    def decide(
        self, kind: DecisionKind | str, subset: Sequence[str] = (), rationale: str = ""
    ) -> str:
        decision_kind = kind if isinstance(kind, DecisionKind) else _parse_kind(kind)
        return self.run(d.Decide(decision_kind, tuple(subset), rationale))

    # ---------------------------------------------------------------- deploys

    def start_deploy(self, service_name: str, *, expect_version: int | None = None) -> str:
        return self.run(d.StartDeploy(service_name, expect_version=expect_version))

    def finish_deploy(self, service_name: str, *, expect_version: int | None = None) -> str:
        return self.run(d.FinishDeploy(service_name, expect_version=expect_version))

    def fail_deploy(
        self, service_name: str, reason: str, *, expect_version: int | None = None
    ) -> str:
        """Mark a deploy failed; `reason` (what went wrong) is required."""
        return self.run(d.FailDeploy(service_name, reason, expect_version=expect_version))

    # ---------------------------------------------------------------- runbook steps

    def complete_step(
        self, service_name: str, position: int | None = None, *, expect_version: int | None = None
    ) -> str:
        """Mark the next runbook step done (`position` guards the order when given)."""
        return self.run(d.CompleteStep(service_name, position, expect_version=expect_version))

    def undo_step(self, service_name: str, *, expect_version: int | None = None) -> str:
        return self.run(d.UndoStep(service_name, expect_version=expect_version))

    # ---------------------------------------------------------------- rollback

    def start_rollback(
        self, service_name: str, reason: str = "", *, expect_version: int | None = None
    ) -> str:
        return self.run(d.StartRollback(service_name, reason, expect_version=expect_version))

    def finish_rollback(self, service_name: str, *, expect_version: int | None = None) -> str:
        return self.run(d.FinishRollback(service_name, expect_version=expect_version))

    # ---------------------------------------------------------------- messages and triggers

    def post_message(self, text: str) -> str:
        return self.run(d.PostMessage(text))

    def ack_trigger(self, trigger_id: str, *, expect_version: int | None = None) -> str:
        return self.run(d.AckTrigger(trigger_id, expect_version))

    def raise_trigger(self, service_name: str, reason: str) -> str:
        """A lead's call: a rollback trigger raised by a person, not a rule."""
        return self.run(d.RaiseTrigger(service_name, reason))

    def answer_trigger(
        self, trigger_id: str, answer: str, reason: str, *, expect_version: int | None = None
    ) -> str:
        """The release manager's answer to an inconclusive rule: "rollback" or "carry-on"."""
        return self.run(d.AnswerTrigger(trigger_id, Answer(answer), reason, expect_version))

    # ---------------------------------------------------------------- gates

    def override(self, target: str, duration: str, reason: str) -> str:
        """Lift `target` (`window` or a freeze's name) for `duration` (`15m`) from now."""
        return self.run(d.Override(target, duration, reason))

    def release_hold(
        self, service_name: str, reason: str, *, expect_version: int | None = None
    ) -> str:
        """Let a held service start despite what holds it now."""
        return self.run(d.ReleaseHold(service_name, reason, expect_version=expect_version))


def _parse_kind(text: str) -> DecisionKind:
    try:
        return DecisionKind.parse(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
