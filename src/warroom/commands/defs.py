"""What can be asked of the room: every command as a small frozen value.

A command names what a person (or warroom's own machinery) asks for and
nothing else: no session, no clock, no actor. `execute` (commands/execute.py)
runs the one handler registered for its type inside one transaction, and
the audit event records the command's name and these fields, so the chain
says exactly what was asked.

These are the commands people give (the action table in catalog.py builds
them); warroom's own machinery has its commands next to their handlers:
`LoadPlan` in commands/load.py, the poller's in commands/health.py, the SSH
front door's in commands/access.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from warroom.domain.lifecycle import DecisionKind
from warroom.domain.triggers import Answer

R = TypeVar("R")

MAX_MESSAGE = 2000  # characters in one message, after runs of whitespace collapse


@dataclass(frozen=True)
class Command(Generic[R]):
    """Base of every command; `R` is what its handler returns (mostly a sentence)."""

    # The audit event's action name (stable: existing chains and reports use it).
    AUDIT: ClassVar[str] = ""
    # False: `execute` writes no event for the command itself; its handler
    # writes the events worth keeping (see commands/health.py: a poller
    # renewing its lease and storing samples every second would otherwise
    # flood the chain with measurements instead of decisions).
    AUDITED: ClassVar[bool] = True
    # False: the command may run with no release loaded (loading one).
    NEEDS_RELEASE: ClassVar[bool] = True

    def refusal(self) -> str | None:
        """What is wrong with the command on its own, or None.

        Checked before the transaction opens: a malformed command is refused
        without waiting for the write lock, and before who is asking is looked up.
        """
        return None

    def audit_action(self) -> str:
        return self.AUDIT

    def audit_fields(self) -> dict[str, Any]:
        """The fields as the audit event records them (JSON-able)."""
        return asdict(self)


# ---------------------------------------------------------------- checklists


@dataclass(frozen=True)
class SetItems(Command[str]):
    """Check (done=True) or uncheck several checklist items: all of them, or none."""

    AUDIT: ClassVar[str] = "item.check"
    keys: tuple[str, ...]
    done: bool = True
    expect_version: int | None = None

    def refusal(self) -> str | None:
        return None if self.keys else "name at least one checklist item"

    def audit_action(self) -> str:
        return self.AUDIT if self.done else "item.uncheck"


# ---------------------------------------------------------------- the decision


@dataclass(frozen=True)
class Decide(Command[str]):
    AUDIT: ClassVar[str] = "decision"
    kind: DecisionKind
    subset: tuple[str, ...] = ()
    rationale: str = ""


# ---------------------------------------------------------------- commands on one service


@dataclass(frozen=True)
class ServiceCommand(Command[str]):
    """A command on one service; with `expect_version` (the row version the
    person saw) it is refused if the service changed since.

    A subclass that adds no field of its own needs no @dataclass: it is one
    through this class (frozen, compared and printed by its fields).
    """

    service: str
    expect_version: int | None = field(default=None, kw_only=True)


# ---------------------------------------------------------------- deploys


class StartDeploy(ServiceCommand):
    AUDIT: ClassVar[str] = "deploy.start"


class FinishDeploy(ServiceCommand):
    AUDIT: ClassVar[str] = "deploy.done"


@dataclass(frozen=True)
class FailDeploy(ServiceCommand):
    AUDIT: ClassVar[str] = "deploy.fail"
    reason: str


# ---------------------------------------------------------------- runbook steps


@dataclass(frozen=True)
class CompleteStep(ServiceCommand):
    """The next runbook step done; `position` guards the order when given."""

    AUDIT: ClassVar[str] = "step.done"
    position: int | None = None


class UndoStep(ServiceCommand):
    AUDIT: ClassVar[str] = "step.undo"


# ---------------------------------------------------------------- rollbacks


@dataclass(frozen=True)
class StartRollback(ServiceCommand):
    AUDIT: ClassVar[str] = "rollback.start"
    reason: str = ""


class FinishRollback(ServiceCommand):
    AUDIT: ClassVar[str] = "rollback.done"


# ---------------------------------------------------------------- talking and triggers


@dataclass(frozen=True)
class PostMessage(Command[str]):
    AUDIT: ClassVar[str] = "message"
    text: str

    @property
    def body(self) -> str:
        """The text as posted: runs of whitespace (newlines too) collapse to one space."""
        return " ".join(self.text.split())

    def refusal(self) -> str | None:
        if not self.body:
            return "the message is empty"
        if len(self.body) > MAX_MESSAGE:
            return f"the message is {len(self.body)} characters long; keep it under {MAX_MESSAGE}"
        return None


@dataclass(frozen=True)
class AckTrigger(Command[str]):
    """Acknowledge a firing trigger: `rule@service`, or a rule firing on one service."""

    AUDIT: ClassVar[str] = "trigger.ack"
    trigger: str
    expect_version: int | None = None


@dataclass(frozen=True)
class RaiseTrigger(Command[str]):
    """A lead's call: a rollback trigger raised by a person, not a rule."""

    AUDIT: ClassVar[str] = "trigger.raise"
    service: str
    reason: str

    def refusal(self) -> str | None:
        if self.reason.strip():
            return None
        return "say why you are calling for a rollback (the reason goes in the log)"


# ---------------------------------------------------------------- gates: overrides and holds


@dataclass(frozen=True)
class Override(Command[str]):
    """Lift a gate for a while: `target` is `window` or a freeze's name,
    `duration` how long as people write it (`15m`, at most gates.MAX_OVERRIDE)."""

    AUDIT: ClassVar[str] = "gate.override"
    target: str
    duration: str
    reason: str

    def refusal(self) -> str | None:
        from warroom.domain import gates  # not at the top: `warroom --help` reads this module

        if not self.target.strip():
            return "say what to override: the window, or a freeze by its name"
        try:
            gates.parse_override_duration(self.duration)
        except ValueError as exc:
            return f"{exc} (how long the override lasts, like 15m)"
        if not self.reason.strip():
            return "say why you override it (the reason goes in the log)"
        return None


@dataclass(frozen=True)
class ReleaseHold(ServiceCommand):
    """Let a held service start despite what holds it now (what begins later holds it again)."""

    AUDIT: ClassVar[str] = "hold.release"
    reason: str = ""

    def refusal(self) -> str | None:
        if self.reason.strip():
            return None
        return f"say why {self.service} may start despite its hold (the reason goes in the log)"


@dataclass(frozen=True)
class AnswerTrigger(Command[str]):
    """The release manager's answer to an inconclusive trigger (`rule@service`,
    or a rule inconclusive on one service): roll back, or carry on, and why."""

    AUDIT: ClassVar[str] = "trigger.answer"
    trigger: str
    answer: Answer
    reason: str
    expect_version: int | None = None

    def refusal(self) -> str | None:
        if self.reason.strip():
            return None
        return f"say why you {self.answer.label} (the reason goes in the log)"
