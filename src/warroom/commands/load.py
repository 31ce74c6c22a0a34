"""Loading a validated plan into the store: the `LoadPlan` command and its handler.

It runs through `execute` like every other command (one transaction: the
write lock, the release's rows, a log line, the `release.load` audit event,
the change-feed row), except that it needs no release loaded. It lives
apart from the everyday handlers because it needs the plan parser and the
graph, which everyday commands do not import.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from warroom.clock import Clock
from warroom.commands.defs import Command
from warroom.commands.execute import execute
from warroom.commands.handlers import handles
from warroom.commands.tx import CommandError, Tx
from warroom.domain import graph as g
from warroom.domain.plan import Plan
from warroom.domain.roles import Actor, load_refusal
from warroom.domain.timeline import when
from warroom.store.engine import Store


@dataclass(frozen=True)
class LoadResult:
    release: str
    created: bool
    services: int
    waves: int
    people: int
    items: int

    def describe(self) -> str:
        if not self.created:
            return f"release {self.release} is already loaded from this same plan; nothing to do"
        return (
            f"loaded release {self.release}: {self.services} services in {self.waves} waves, "
            f"{self.people} people, {self.items} checklist items"
        )


@dataclass(frozen=True)
class LoadPlan(Command[LoadResult]):
    """Import `plan` (parsed from `plan_text`) as a new release.

    A different plan under a loaded release's name is refused; the very same
    plan again is a no-op (no event, no change), so the README's command can
    be run twice.
    """

    AUDIT: ClassVar[str] = "release.load"
    NEEDS_RELEASE: ClassVar[bool] = False
    plan: Plan
    plan_text: str

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.plan_text.encode("utf-8")).hexdigest()

    def audit_fields(self) -> dict[str, Any]:
        # The plan by its digest: the text itself is kept on the release row.
        return {"plan_sha256": self.digest}


@handles(LoadPlan)
def load(tx: Tx, command: LoadPlan) -> LoadResult:
    plan = command.plan
    people = [Actor(p.name, p.role, p.team) for p in plan.people]
    reason = load_refusal(tx.actor.name, plan.release, plan.manager, people)
    if reason:
        raise CommandError(reason)
    graph = plan.graph()
    waves = g.waves(graph)
    counts = {
        "services": len(plan.services),
        "waves": len(waves),
        "people": len(plan.people),
        "items": len(plan.go_no_go) + sum(len(v) for v in plan.readiness.values()),
    }
    existing = tx.repo.find_release(plan.release)
    if existing is not None:
        if existing.plan_sha256 == command.digest:
            tx.nothing_changed()
            return LoadResult(plan.release, False, **counts)
        raise CommandError(
            f"release {plan.release} is already loaded here from a different plan "
            f"(by {existing.loaded_by} at {existing.loaded_at:%Y-%m-%d %H:%M}Z); "
            "a loaded release is never overwritten, so nobody's check-marks are lost: "
            "give the new plan another release name or use another database"
        )
    slots = g.schedule(
        graph, plan.window.start, {s.name: s.expected_duration for s in plan.services}
    )
    tx.repo.add_plan(
        plan,
        command.plan_text,
        command.digest,
        wave_of={name: number for number, wave in enumerate(waves, start=1) for name in wave},
        start_of={name: slot.start - plan.window.start for name, slot in slots.items()},
        loaded_by=tx.actor.name,
        at=tx.now,
    )
    tx.topics.add("release")
    tx.system_line(
        f"Release {plan.release} loaded: {counts['services']} services in "
        f"{counts['waves']} waves, window "
        f"{when(plan.window.start, plan.timezone, label=False)}–"
        f"{when(plan.window.end, plan.timezone)}, "
        f"go/no-go at {when(plan.go_no_go_at, plan.timezone)}"
    )
    tx.note(plan_sha256=command.digest, **counts)
    return LoadResult(plan.release, True, **counts)


def load_plan(
    store: Store, plan: Plan, plan_text: str, *, loaded_by: str, clock: Clock
) -> LoadResult:
    """Import `plan` as `loaded_by` (one of its release managers); see LoadPlan."""
    return execute(store, clock, LoadPlan(plan, plan_text), loaded_by)
