"""The write path's repository: every statement a command needs, in one place.

Handlers (commands/handlers.py and friends) and their transaction
(commands/tx.py) ask a `Repo` for rows and facts by name and hand it new
rows; none of them spells out SQL, so a handler reads like the rule it
enforces. How things are stored — JSON columns, the newest-sample table,
the audit chain's head — stays here. A `Repo` works over one session (a
command's write transaction, or a read) and, once it is known, one release.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import Session, SQLModel, col, delete, select
from sqlmodel.sql.expression import SelectOfScalar

from warroom.domain import gates
from warroom.domain import lifecycle as lc
from warroom.domain import notify as nt
from warroom.domain.health import Sample
from warroom.domain.triggers import LEAD_CALL, Phase
from warroom.store import audit
from warroom.store import models as m
from warroom.store.auditkey import AuditKeys
from warroom.store.feed import record_change
from warroom.store.queries import (
    OUTBOX_PENDING,
    OUTBOX_SENDING,
    destinations,
    freeze_of,
    hold_release_of,
    override_of,
    sample_of,
)

if TYPE_CHECKING:
    from warroom.domain.plan import Plan

T = TypeVar("T")
# A sample's columns beside its release and service (models._Measurement).
_MEASURED = ("at", "ok", "reason", "status_code", "latency_ms", "metrics")
# The tables themselves, for statements sent once for many rows (store_samples).
_SAMPLES: Table = m.HealthSample.__table__  # type: ignore[attr-defined]
_NEWEST: Table = m.ServiceHealth.__table__  # type: ignore[attr-defined]
_Gate = TypeVar("_Gate", m.Freeze, m.GateOverride, m.HoldRelease)  # the gates' own tables


class Repo:
    """Reads and writes over `session`, for `release` once it is known."""

    def __init__(self, session: Session, release: m.Release | None = None) -> None:
        self._session = session
        # None until open_tx finds the release (or a plan load creates it).
        self.release = release

    @property
    def release_id(self) -> int:
        assert self.release is not None and self.release.id is not None, "no release yet"
        return self.release.id

    # ---------------------------------------------------------------- the transaction

    def lock_head(self) -> None:
        """Take the audit chain's head: every write transaction starts here."""
        audit.lock_head(self._session)

    def append_audit(
        self, keys: AuditKeys, *, at: datetime, actor: str, action: str, payload: Mapping[str, Any]
    ) -> None:
        audit.append(
            self._session,
            keys,
            at=at,
            actor=actor,
            action=action,
            release_id=self.release_id,
            payload=payload,
        )

    def record_change(self, at: datetime, topics: Iterable[str]) -> None:
        record_change(self._session, self.release_id, at, topics)

    def add(self, row: SQLModel) -> None:
        self._session.add(row)

    def _own(
        self,
        row: m.Person
        | m.Service
        | m.ChecklistItem
        | m.TriggerRule
        | m.TriggerState
        | m.Freeze
        | m.GateOverride
        | m.HoldRelease
        | m.NotifyDestination,
    ) -> None:
        """Add a row of the repo's release (it belongs to the release: one place says so)."""
        row.release_id = self.release_id
        self._session.add(row)

    def flush(self) -> None:
        """Write what was added so far (ids assigned), inside the transaction."""
        self._session.flush()

    def _all(self, query: SelectOfScalar[T]) -> list[T]:
        return list(self._session.exec(query).all())

    # ---------------------------------------------------------------- releases and people

    def find_release(self, name: str | None) -> m.Release | None:
        """The named release, else the one loaded last. Its plan text (the
        whole YAML, tens of KiB for a big plan) is read only if asked for."""
        query = select(m.Release).options(defer(cast(QueryableAttribute[str], m.Release.plan_text)))
        if name is not None:
            query = query.where(m.Release.name == name)
        return self._session.exec(query.order_by(col(m.Release.id).desc())).first()

    def person(self, name: str) -> m.Person | None:
        return self._session.exec(
            select(m.Person).where(m.Person.release_id == self.release_id, m.Person.name == name)
        ).first()

    def person_names(self) -> list[str]:
        return self._all(select(m.Person.name).where(m.Person.release_id == self.release_id))

    def team_names(self) -> list[str]:
        """Every team of the release: its people's and its services'."""
        people = self._session.exec(
            select(m.Person.team).where(m.Person.release_id == self.release_id).distinct()
        ).all()
        services: list[str] = self._all(
            select(m.Service.team).where(m.Service.release_id == self.release_id).distinct()
        )
        return sorted({team for team in [*people, *services] if team})

    # ---------------------------------------------------------------- services

    def service(self, name: str) -> m.Service | None:
        return self._session.exec(
            select(m.Service).where(m.Service.release_id == self.release_id, m.Service.name == name)
        ).first()

    def services(self) -> list[m.Service]:
        """Every service, in plan order."""
        return self._in_plan_order(select(m.Service))

    def service_names(self) -> list[str]:
        """Every service's name, in plan order."""
        return self._in_plan_order(select(m.Service.name))

    def _in_plan_order(self, query: SelectOfScalar[T]) -> list[T]:
        """`query` (of services, or of their columns) over the release's services, in plan order."""
        return self._all(
            query.where(m.Service.release_id == self.release_id).order_by(col(m.Service.position))
        )

    def services_named(self, names: Collection[str]) -> dict[str, m.Service]:
        """Only these services: with a thousand of them, a poller flush must not read all."""
        return {
            row.name: row
            for row in self._session.exec(
                select(m.Service).where(
                    m.Service.release_id == self.release_id, col(m.Service.name).in_(names)
                )
            ).all()
        }

    def dependencies(self, service: m.Service) -> list[m.Service]:
        """The services `service` depends on, in plan order."""
        rows = self._session.exec(
            select(m.Service)
            .join(m.Dependency, col(m.Dependency.depends_on_id) == m.Service.id)
            .where(m.Dependency.service_id == service.id)
        ).all()
        return sorted(rows, key=lambda r: r.position)

    def edges(self, services: Sequence[m.Service]) -> dict[str, list[str]]:
        """What each of `services` depends on, by name (the dependency graph's edges)."""
        by_id = {row.id: row.name for row in services}
        deps: dict[str, list[str]] = {row.name: [] for row in services}
        for dep in self._session.exec(
            select(m.Dependency).where(col(m.Dependency.service_id).in_(list(by_id)))
        ).all():
            deps[by_id[dep.service_id]].append(by_id[dep.depends_on_id])
        return deps

    def steps(self, service: m.Service) -> list[m.RunbookStep]:
        """`service`'s runbook, in order."""
        return self._all(
            select(m.RunbookStep)
            .where(m.RunbookStep.service_id == service.id)
            .order_by(col(m.RunbookStep.position))
        )

    def health_targets(self) -> list[tuple[str, str, float | None, float | None]]:
        """(name, url, interval, timeout) of every service with a health URL, in plan order."""
        # Columns, not ORM objects: the poller re-reads this every lease tick,
        # and with 1,000 services building the objects was most of the cost.
        rows = self._session.exec(
            select(
                m.Service.name,
                m.Service.health_url,
                m.Service.health_interval_s,
                m.Service.health_timeout_s,
            )
            .where(m.Service.release_id == self.release_id, col(m.Service.health_url).is_not(None))
            .order_by(col(m.Service.position))
        ).all()
        return [(name, url, interval, timeout) for name, url, interval, timeout in rows if url]

    # ---------------------------------------------------------------- checklists and decisions

    def item(self, key: str) -> m.ChecklistItem | None:
        return self._session.exec(
            select(m.ChecklistItem).where(
                m.ChecklistItem.release_id == self.release_id, m.ChecklistItem.key == key
            )
        ).first()

    def items(self, team: str | None) -> list[m.ChecklistItem]:
        """A team's readiness items, or (team None) the go/no-go list, in order."""
        query = select(m.ChecklistItem).where(m.ChecklistItem.release_id == self.release_id)
        query = query.where(
            m.ChecklistItem.team == team
            if team is not None
            else col(m.ChecklistItem.team).is_(None)
        )
        return self._all(query.order_by(col(m.ChecklistItem.position)))

    def decision(self) -> lc.Decision | None:
        """The decision in force: the latest one recorded."""
        row = self._session.exec(
            select(m.Decision)
            .where(m.Decision.release_id == self.release_id)
            .order_by(col(m.Decision.id).desc())
        ).first()
        if row is None:
            return None
        return lc.Decision(row.kind, tuple(json.loads(row.subset)), row.rationale, row.decided_by)

    def add_decision(self, decision: lc.Decision, at: datetime) -> None:
        self.add(
            m.Decision(
                release_id=self.release_id,
                kind=decision.kind,
                subset=json.dumps(list(decision.subset)),
                rationale=decision.rationale,
                decided_by=decision.by,
                decided_at=at,
            )
        )

    # ---------------------------------------------------------------- triggers

    def trigger(self, rule: str, service: str) -> m.TriggerState | None:
        return self._session.exec(
            select(m.TriggerState).where(
                m.TriggerState.release_id == self.release_id,
                m.TriggerState.rule == rule,
                m.TriggerState.service == service,
            )
        ).first()

    def firing(self, rule: str) -> list[m.TriggerState]:
        """Every service on which `rule` is firing."""
        return self.in_phase(rule, Phase.FIRING)

    def in_phase(self, rule: str, phase: Phase) -> list[m.TriggerState]:
        """Every service on which `rule` is in `phase`."""
        return self._all(
            select(m.TriggerState).where(
                m.TriggerState.release_id == self.release_id,
                m.TriggerState.rule == rule,
                m.TriggerState.state == phase,
            )
        )

    def rule_triggers(self, services: Collection[str]) -> list[m.TriggerState]:
        """The triggers watching any of `services` by a rule (a lead's call has none)."""
        return self._all(
            select(m.TriggerState).where(
                m.TriggerState.release_id == self.release_id,
                col(m.TriggerState.service).in_(services),
                m.TriggerState.rule != LEAD_CALL,
            )
        )

    def trigger_rules(self) -> dict[str, m.TriggerRule]:
        """Each rule of the release, by name: its condition, the deploy states it
        watches in (`states`, JSON; None: the default) and its options."""
        return {
            row.name: row
            for row in self._session.exec(
                select(m.TriggerRule).where(m.TriggerRule.release_id == self.release_id)
            ).all()
        }

    def holding_triggers(self) -> list[gates.TriggerFact]:
        """Every trigger that holds its service's dependents (pending, firing or
        inconclusive, and not a dry run)."""
        on_trial = {name for name, rule in self.trigger_rules().items() if rule.dry_run}
        return [
            gates.TriggerFact(
                f"{row.rule}@{row.service}",
                row.service,
                str(row.state),
                row.since,
                dry_run=row.rule in on_trial,
            )
            for row in self._session.exec(
                select(m.TriggerState).where(
                    m.TriggerState.release_id == self.release_id,
                    col(m.TriggerState.state).in_(sorted(gates.HOLDING_PHASES)),
                )
            ).all()
        ]

    # ---------------------------------------------------------------- gates: freezes, overrides, holds

    def _gate_rows(self, table: type[_Gate], order: Any) -> list[_Gate]:
        """This release's rows of one of the gates' tables, in `order`."""
        return self._all(select(table).where(table.release_id == self.release_id).order_by(order))

    def freezes(self) -> list[gates.Freeze]:
        """The plan's freezes, in plan order."""
        return [freeze_of(row) for row in self._gate_rows(m.Freeze, col(m.Freeze.position))]

    def overrides(self) -> list[gates.Override]:
        """Every override given in this release, oldest first (expired ones too)."""
        return [override_of(row) for row in self._gate_rows(m.GateOverride, col(m.GateOverride.id))]

    def hold_releases(self) -> list[gates.HoldRelease]:
        return [
            hold_release_of(row) for row in self._gate_rows(m.HoldRelease, col(m.HoldRelease.id))
        ]

    def add_override(self, override: gates.Override) -> m.GateOverride:
        row = m.GateOverride(
            target=override.target,
            reason=override.reason,
            given_by=override.by,
            at=override.at,
            ends_at=override.until,
        )
        self._own(row)
        return row

    def add_hold_release(self, release: gates.HoldRelease) -> m.HoldRelease:
        row = m.HoldRelease(
            service=release.service, reason=release.reason, released_by=release.by, at=release.at
        )
        self._own(row)
        return row

    # ---------------------------------------------------------------- health

    def lease(self) -> m.PollerLease | None:
        return self._session.get(m.PollerLease, self.release_id)

    def store_samples(self, samples: Sequence[Sample]) -> list[Sample]:
        """Keep every sample, and each service's newest one where readers of "now" look.

        Returns the samples that changed a service's health (passing ↔
        failing, or its first sample), oldest first: what the record keeps.

        Plain INSERT and UPDATE statements, each sent once for the whole
        batch (executemany), not ORM objects: the poller stores ~200 samples
        a second at 1,000 services, and a SQLModel row per sample with its
        unit-of-work bookkeeping cost ~180 us of CPU per sample against ~60 us
        this way (a flush of 20 samples, 2-core machine under load).
        """
        release_id = self.release_id
        touched = sorted({s.service for s in samples})
        newest: dict[str, tuple[datetime, bool]] = {
            service: (at, ok)
            for service, at, ok in self._session.exec(
                select(m.ServiceHealth.service, m.ServiceHealth.at, m.ServiceHealth.ok).where(
                    m.ServiceHealth.release_id == release_id,
                    col(m.ServiceHealth.service).in_(touched),
                )
            ).all()
        }
        existed = set(newest)
        rows: list[dict[str, Any]] = []
        latest: dict[str, dict[str, Any]] = {}  # each service's newest of these, if newer
        changes: list[Sample] = []
        for sample in sorted(samples, key=lambda s: s.at):
            row = {
                "release_id": release_id,
                "service": sample.service,
                "at": sample.at,
                "ok": sample.ok,
                "reason": sample.reason[:300] if sample.reason else None,
                "status_code": sample.status_code,
                "latency_ms": sample.latency_ms,
                "metrics": json.dumps(dict(sample.metrics), sort_keys=True),
            }
            rows.append(row)
            known = newest.get(sample.service)
            if known is None or (known[0] <= sample.at and known[1] != sample.ok):
                changes.append(sample)
            if known is None or known[0] <= sample.at:
                newest[sample.service] = (sample.at, sample.ok)
                latest[sample.service] = row
        if not rows:
            return changes
        self._session.execute(insert(_SAMPLES), rows)
        fresh = [row for service, row in latest.items() if service not in existed]
        if fresh:
            self._session.execute(insert(_NEWEST), fresh)
        renewed = [
            {f"new_{name}": value for name, value in row.items()}
            for service, row in latest.items()
            if service in existed
        ]
        if renewed:
            table = _NEWEST.c
            self._session.execute(
                update(_NEWEST)
                .where(
                    table.release_id == bindparam("new_release_id"),
                    table.service == bindparam("new_service"),
                )
                .values({name: bindparam(f"new_{name}") for name in _MEASURED}),
                renewed,
            )
        return changes

    def samples_before(self, service: str, before: datetime) -> list[Sample]:
        """`service`'s samples taken before `before` (what a baseline is computed from)."""
        return [
            sample_of(row)
            for row in self._session.exec(
                select(m.HealthSample).where(
                    m.HealthSample.release_id == self.release_id,
                    m.HealthSample.service == service,
                    col(m.HealthSample.at) < before,
                )
            ).all()
        ]

    def prune_samples(self, before: datetime) -> None:
        """Forget samples taken before `before` (this scans the release's samples: not often)."""
        self._session.execute(
            delete(m.HealthSample).where(
                col(m.HealthSample.release_id) == self.release_id,
                col(m.HealthSample.at) < before,
            )
        )

    # ---------------------------------------------------------------- loading a plan

    def add_plan(
        self,
        plan: Plan,
        plan_text: str,
        digest: str,
        *,
        wave_of: Mapping[str, int],
        start_of: Mapping[str, timedelta],
        loaded_by: str,
        at: datetime,
    ) -> m.Release:
        """Store `plan` as a new release; the repo works on that release from now on.

        `wave_of` and `start_of` (planned start after the window opens) are
        derived from the plan's graph, stored so reading a release needs none.
        """
        # Here, not at the top: the plan parser is heavy, and only loading needs it.
        from warroom.domain.plan import GO_NO_GO_KEY

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
            loaded_at=at,
            loaded_by=loaded_by,
        )
        self.add(release)
        self._session.flush()
        self.release = release
        for person in plan.people:
            self._own(
                m.Person(
                    name=person.name,
                    role=person.role,
                    team=person.team,
                    ssh_keys=json.dumps(list(person.ssh_keys)),
                )
            )
        rows: dict[str, m.Service] = {}
        for position, service in enumerate(plan.services):
            health = service.health
            rollback = service.rollback
            row = m.Service(
                name=service.name,
                team=service.team,
                position=position,
                version=service.version,
                previous_version=service.previous_version,
                owner=plan.owner_of(service),
                expected_duration_s=int(service.expected_duration.total_seconds()),
                wave=wave_of[service.name],
                planned_start_s=int(start_of[service.name].total_seconds()),
                health_url=health.url if health else None,
                health_interval_s=health.interval.total_seconds() if health else None,
                health_timeout_s=health.timeout.total_seconds() if health else None,
                rollback_command=rollback.command if rollback else None,
                rollback_duration_s=(
                    int(rollback.expected_duration.total_seconds())
                    if rollback and rollback.expected_duration
                    else None
                ),
                state=lc.DeployState.WAITING,
                state_since=at,
            )
            self._own(row)
            rows[service.name] = row
        self._session.flush()
        for service in plan.services:
            sid = rows[service.name].id
            assert sid is not None
            for dep in service.depends_on:
                dep_id = rows[dep].id
                assert dep_id is not None
                self.add(m.Dependency(service_id=sid, depends_on_id=dep_id))
            for position, text in enumerate(plan.steps_for(service), start=1):
                self.add(m.RunbookStep(service_id=sid, position=position, text=text))

        lists = [(None, f"{GO_NO_GO_KEY}-", plan.go_no_go)] + [
            (team, f"{team}-", items) for team, items in plan.readiness.items()
        ]
        position = 0
        for team, prefix, texts in lists:
            for index, text in enumerate(texts, start=1):
                position += 1
                self._own(
                    m.ChecklistItem(
                        key=f"{prefix}{index}",
                        team=team,
                        position=position,
                        text=text,
                    )
                )

        for trigger in plan.triggers:
            scope = list(trigger.services) if trigger.services else [s.name for s in plan.services]
            self._own(
                m.TriggerRule(
                    name=trigger.name,
                    when=trigger.when,
                    description=trigger.description,
                    services=json.dumps(list(trigger.services)) if trigger.services else None,
                    states=json.dumps(list(trigger.states)),
                    keep_firing_for_s=(
                        trigger.keep_firing_for.total_seconds() if trigger.keep_firing_for else None
                    ),
                    no_data=trigger.no_data.value,
                    inconclusive_after=trigger.inconclusive_after,
                    dry_run=trigger.dry_run,
                    error_limit=trigger.error_limit,
                )
            )
            for name in scope:
                self._own(m.TriggerState(rule=trigger.name, service=name, state=Phase.INACTIVE))

        for position, spec in enumerate(plan.freezes):
            self._own(
                m.Freeze(
                    position=position,
                    name=spec.name,
                    reason=spec.reason,
                    starts_at=spec.start,
                    ends_at=spec.end,
                    rrule=spec.rrule,
                    duration_s=(
                        int(spec.duration.total_seconds()) if spec.duration is not None else None
                    ),
                )
            )
        for position, notify in enumerate(plan.notify):
            destination = notify.destination()
            self._own(
                m.NotifyDestination(
                    position=position,
                    name=destination.name,
                    kind=destination.kind.value,
                    url_env=destination.url_env,
                    key_env=destination.key_env,
                    events=json.dumps(sorted(e.value for e in destination.events)),
                    ssh_join=plan.ssh_door.join if plan.ssh_door else None,
                )
            )
        return release

    # ---------------------------------------------------------------- notifications

    def destinations(self) -> list[nt.Destination]:
        """The release's notification destinations, in plan order (those this
        transaction added too: a Core read does not flush the session for itself)."""
        self._session.flush()
        return destinations(self._session, self.release_id)

    def room(self) -> nt.Room:
        release = self.release
        assert release is not None
        join = self._session.exec(
            select(m.NotifyDestination.ssh_join).where(
                m.NotifyDestination.release_id == self.release_id
            )
        ).first()
        return nt.Room(release.name, release.timezone, release.window_start, join)

    def enqueue(self, destination: str, event: str, key: str, body: str, at: datetime) -> None:
        """A message to send, in this transaction: it exists exactly if the change does."""
        self._session.add(
            m.NotifyOutbox(
                release_id=self.release_id,
                destination=destination,
                event=event,
                key=key,
                body=body,
                created_at=at,
                state=OUTBOX_PENDING,
                due_at=at,
            )
        )

    def claim_deliveries(
        self, holder: str, now: datetime, limit: int, busy: Collection[str] = ()
    ) -> list[m.NotifyOutbox]:
        """The oldest due message of each destination not in `busy` (at most
        `limit`), marked as `holder`'s: a destination gets one message at a
        time, in order, and `sending` means a request is under way. Due are
        pending messages whose time has come, and those in flight to a
        destination that is not busy here: their sender died mid-delivery or
        lost the lease, and they go again with the same key."""
        rows = self._all(
            select(m.NotifyOutbox)
            .where(
                m.NotifyOutbox.release_id == self.release_id,
                col(m.NotifyOutbox.destination).not_in(list(busy)),
                (
                    (col(m.NotifyOutbox.state) == OUTBOX_PENDING)
                    & (col(m.NotifyOutbox.due_at) <= now)
                )
                # In flight to no destination busy here: its sender is gone
                # (this one after an error, or one that lost the lease).
                | (col(m.NotifyOutbox.state) == OUTBOX_SENDING),
            )
            .order_by(col(m.NotifyOutbox.id))
        )
        first: dict[str, m.NotifyOutbox] = {}
        for row in rows:
            if len(first) >= limit:
                break
            first.setdefault(row.destination, row)
        for row in first.values():
            row.state = OUTBOX_SENDING
            row.claimed_by = holder
            self._session.add(row)
        return list(first.values())

    def outbox(self, outbox_id: int) -> m.NotifyOutbox | None:
        row = self._session.get(m.NotifyOutbox, outbox_id)
        return row if row is not None and row.release_id == self.release_id else None

    def add_attempt(self, attempt: m.NotifyAttempt) -> None:
        self._session.add(attempt)
