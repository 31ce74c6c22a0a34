"""What can be asked of the room: every command as a small frozen value.

A command names what a person (or warroom's own machinery) asks for and
nothing else: no session, no clock, no actor. `execute` (commands/execute.py)
runs the one handler registered for its type inside one transaction, and
the audit event records the command's name and these fields, so the chain
says exactly what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from warroom.domain.lifecycle import DecisionKind

R = TypeVar("R")


@dataclass(frozen=True)
class Command(Generic[R]):
    """Base of every command; `R` is what its handler returns (mostly a sentence)."""

    # The audit event's action name (stable: existing chains and reports use it).
    AUDIT: ClassVar[str] = ""


# ---------------------------------------------------------------- checklists


@dataclass(frozen=True)
class SetItems(Command[str]):
    """Check (done=True) or uncheck several checklist items: all of them, or none."""

    AUDIT: ClassVar[str] = "item.check"
    keys: tuple[str, ...]
    done: bool = True
    expect_version: int | None = None


# ---------------------------------------------------------------- the decision


@dataclass(frozen=True)
class Decide(Command[str]):
    AUDIT: ClassVar[str] = "decision"
    kind: DecisionKind
    subset: tuple[str, ...] = ()
    rationale: str = ""


# ---------------------------------------------------------------- deploys


@dataclass(frozen=True)
class StartDeploy(Command[str]):
    AUDIT: ClassVar[str] = "deploy.start"
    service: str
    expect_version: int | None = None


@dataclass(frozen=True)
class FinishDeploy(Command[str]):
    AUDIT: ClassVar[str] = "deploy.done"
    service: str
    expect_version: int | None = None


@dataclass(frozen=True)
class FailDeploy(Command[str]):
    AUDIT: ClassVar[str] = "deploy.fail"
    service: str
    reason: str
    expect_version: int | None = None


# ---------------------------------------------------------------- runbook steps


@dataclass(frozen=True)
class CompleteStep(Command[str]):
    """The next runbook step done; `position` guards the order when given."""

    AUDIT: ClassVar[str] = "step.done"
    service: str
    position: int | None = None
    expect_version: int | None = None


@dataclass(frozen=True)
class UndoStep(Command[str]):
    AUDIT: ClassVar[str] = "step.undo"
    service: str
    expect_version: int | None = None


# ---------------------------------------------------------------- rollbacks


@dataclass(frozen=True)
class StartRollback(Command[str]):
    AUDIT: ClassVar[str] = "rollback.start"
    service: str
    reason: str = ""
    expect_version: int | None = None


@dataclass(frozen=True)
class FinishRollback(Command[str]):
    AUDIT: ClassVar[str] = "rollback.done"
    service: str
    expect_version: int | None = None


# ---------------------------------------------------------------- talking and triggers


@dataclass(frozen=True)
class PostMessage(Command[str]):
    AUDIT: ClassVar[str] = "message"
    text: str


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
