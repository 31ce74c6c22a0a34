"""Loading a validated plan into the store, in one transaction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlmodel import select

from warroom.clock import Clock
from warroom.commands.tx import CommandError
from warroom.domain import graph as g
from warroom.domain.lifecycle import DeployState
from warroom.domain.plan import GO_NO_GO_KEY, Plan
from warroom.domain.roles import SYSTEM_NAME, Role
from warroom.domain.timeline import when
from warroom.domain.triggers import Phase
from warroom.store import audit
from warroom.store import models as m
from warroom.store.engine import Store
from warroom.store.feed import record_change
from warroom.store.migrate import ensure_schema


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


def load_plan(
    store: Store, plan: Plan, plan_text: str, *, loaded_by: str, clock: Clock
) -> LoadResult:
    """Import `plan`; refuse to overwrite a different plan under the same release name.

    Loading the very same plan again is a no-op, so the README's command can
    be run twice.
    """
    # The system's name is never a person, even in a plan that lists it.
    loader = next((p for p in plan.people if p.name == loaded_by != SYSTEM_NAME), None)
    if loader is None or loader.role is not Role.RELEASE_MANAGER:
        managers = [
            p.name for p in plan.people if p.role is Role.RELEASE_MANAGER and p.name != SYSTEM_NAME
        ]
        raise CommandError(
            f"{loaded_by!r} may not load release {plan.release}: a plan is loaded by one of its "
            f"release managers ({', '.join(managers)}); use --as {plan.manager}"
        )
    ensure_schema(store)
    digest = hashlib.sha256(plan_text.encode("utf-8")).hexdigest()
    graph = plan.graph()
    waves = g.waves(graph)
    wave_of = {name: number for number, wave in enumerate(waves, start=1) for name in wave}
    slots = g.schedule(
        graph, plan.window.start, {s.name: s.expected_duration for s in plan.services}
    )
    counts = {
        "services": len(plan.services),
        "waves": len(waves),
        "people": len(plan.people),
        "items": len(plan.go_no_go) + sum(len(v) for v in plan.readiness.values()),
    }
    now = clock.now()
    with store.write() as session:
        audit.lock_head(session)
        existing = session.exec(select(m.Release).where(m.Release.name == plan.release)).first()
        if existing is not None:
            if existing.plan_sha256 == digest:
                return LoadResult(plan.release, False, **counts)
            raise CommandError(
                f"release {plan.release} is already loaded here from a different plan "
                f"(by {existing.loaded_by} at {existing.loaded_at:%Y-%m-%d %H:%M}Z); "
                "a loaded release is never overwritten, so nobody's check-marks are lost: "
                "give the new plan another release name or use another database"
            )
        release = m.Release(
            name=plan.release,
            manager=plan.manager,
            timezone=plan.timezone,
            window_start=plan.window.start,
            window_end=plan.window.end,
            rollback_until=plan.rollback_until,
            go_no_go_at=plan.go_no_go_at,
            plan_text=plan_text,
            plan_sha256=digest,
            loaded_at=now,
            loaded_by=loaded_by,
        )
        session.add(release)
        session.flush()
        rid = release.id
        assert rid is not None

        for person in plan.people:
            session.add(
                m.Person(
                    release_id=rid,
                    name=person.name,
                    role=person.role,
                    team=person.team,
                    ssh_keys=json.dumps(list(person.ssh_keys)),
                )
            )
        rows: dict[str, m.Service] = {}
        for position, service in enumerate(plan.services):
            health = service.health
            row = m.Service(
                release_id=rid,
                name=service.name,
                team=service.team,
                position=position,
                version=service.version,
                previous_version=service.previous_version,
                owner=plan.owner_of(service),
                expected_duration_s=int(service.expected_duration.total_seconds()),
                wave=wave_of[service.name],
                planned_start_s=int(
                    (slots[service.name].start - plan.window.start).total_seconds()
                ),
                health_url=health.url if health else None,
                health_interval_s=health.interval.total_seconds() if health else None,
                health_timeout_s=health.timeout.total_seconds() if health else None,
                rollback_command=service.rollback.command if service.rollback else None,
                rollback_duration_s=(
                    int(service.rollback.expected_duration.total_seconds())
                    if service.rollback and service.rollback.expected_duration
                    else None
                ),
                state=DeployState.WAITING,
                state_since=now,
            )
            session.add(row)
            rows[service.name] = row
        session.flush()
        for service in plan.services:
            sid = rows[service.name].id
            assert sid is not None
            for dep in service.depends_on:
                dep_id = rows[dep].id
                assert dep_id is not None
                session.add(m.Dependency(service_id=sid, depends_on_id=dep_id))
            for position, text in enumerate(plan.steps_for(service), start=1):
                session.add(m.RunbookStep(service_id=sid, position=position, text=text))

        position = 0
        for index, text in enumerate(plan.go_no_go, start=1):
            position += 1
            session.add(
                m.ChecklistItem(
                    release_id=rid,
                    key=f"{GO_NO_GO_KEY}-{index}",
                    team=None,
                    position=position,
                    text=text,
                )
            )
        for team, items in plan.readiness.items():
            for index, text in enumerate(items, start=1):
                position += 1
                session.add(
                    m.ChecklistItem(
                        release_id=rid,
                        key=f"{team}-{index}",
                        team=team,
                        position=position,
                        text=text,
                    )
                )

        for trigger in plan.triggers:
            scope = list(trigger.services) if trigger.services else [s.name for s in plan.services]
            session.add(
                m.TriggerRule(
                    release_id=rid,
                    name=trigger.name,
                    when=trigger.when,
                    description=trigger.description,
                    services=json.dumps(list(trigger.services)) if trigger.services else None,
                    states=json.dumps(list(trigger.states)),
                )
            )
            for name in scope:
                session.add(
                    m.TriggerState(
                        release_id=rid, rule=trigger.name, service=name, state=Phase.INACTIVE
                    )
                )

        session.add(
            m.LogEntry(
                release_id=rid,
                at=now,
                kind="system",
                author=loaded_by,
                text=(
                    f"Release {plan.release} loaded: {counts['services']} services in "
                    f"{counts['waves']} waves, window "
                    f"{when(plan.window.start, plan.timezone, label=False)}–"
                    f"{when(plan.window.end, plan.timezone)}, "
                    f"go/no-go at {when(plan.go_no_go_at, plan.timezone)}"
                ),
            )
        )
        record_change(session, rid, now, {"release"})
        audit.append(
            session,
            store.audit_keys,
            at=now,
            actor=loaded_by,
            action="release.load",
            release_id=rid,
            payload={"release": plan.release, "plan_sha256": digest, **counts},
        )
    return LoadResult(plan.release, True, **counts)
