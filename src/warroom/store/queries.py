"""Reading a release out of the store as a `ReleaseSnapshot`."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from warroom.domain.health import Sample, health_state
from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.roles import Role
from warroom.domain.snapshot import (
    DecisionView,
    ItemView,
    LeaseView,
    LogView,
    PersonView,
    ReleaseSnapshot,
    ReleaseView,
    ServiceView,
    StepView,
    TriggerView,
)
from warroom.store import models as m


def current_release(session: Session, name: str | None = None) -> m.Release | None:
    """The named release, else the one loaded last."""
    query = select(m.Release)
    if name is not None:
        query = query.where(m.Release.name == name)
    return session.exec(query.order_by(col(m.Release.id).desc())).first()


def sample_of(row: m.HealthSample | m.ServiceHealth) -> Sample:
    """A stored health sample (or a service's newest one) as the domain sees it."""
    return Sample(
        row.service,
        row.at,
        row.ok,
        row.reason,
        row.status_code,
        row.latency_ms,
        json.loads(row.metrics),
    )


def audit_revision(session: Session) -> int:
    head = session.get(m.AuditHead, 1)
    return head.last_id if head is not None else 0


def load_snapshot(
    session: Session,
    release: m.Release,
    log_limit: int | None = None,
    now: datetime | None = None,
) -> ReleaseSnapshot:
    """Everything about `release`, read inside the caller's transaction.

    `now` decides whether health is fresh or stale; without it, health is
    reported as "unknown".
    """
    rid = release.id
    people = session.exec(
        select(m.Person).where(m.Person.release_id == rid).order_by(col(m.Person.id))
    ).all()
    services = session.exec(
        select(m.Service).where(m.Service.release_id == rid).order_by(col(m.Service.position))
    ).all()
    by_id = {s.id: s.name for s in services}
    deps: dict[str, list[str]] = defaultdict(list)
    steps: dict[str, list[StepView]] = defaultdict(list)
    if services:
        ids = list(by_id)
        for dep in session.exec(
            select(m.Dependency).where(col(m.Dependency.service_id).in_(ids))
        ).all():
            deps[by_id[dep.service_id]].append(by_id[dep.depends_on_id])
        for step in session.exec(
            select(m.RunbookStep)
            .where(col(m.RunbookStep.service_id).in_(ids))
            .order_by(col(m.RunbookStep.service_id), col(m.RunbookStep.position))
        ).all():
            steps[by_id[step.service_id]].append(
                StepView(step.position, step.text, step.done_at, step.done_by)
            )
    position = {s.name: s.position for s in services}

    items = session.exec(
        select(m.ChecklistItem)
        .where(m.ChecklistItem.release_id == rid)
        .order_by(col(m.ChecklistItem.position))
    ).all()
    go_no_go: list[ItemView] = []
    readiness: dict[str, list[ItemView]] = {}
    for item in items:
        view = ItemView(
            item.key, item.text, item.team, item.done_at, item.done_by, item.row_version
        )
        if item.team is None:
            go_no_go.append(view)
        else:
            readiness.setdefault(item.team, []).append(view)

    decisions = session.exec(
        select(m.Decision).where(m.Decision.release_id == rid).order_by(col(m.Decision.id))
    ).all()
    rules = {
        r.name: r.when
        for r in session.exec(select(m.TriggerRule).where(m.TriggerRule.release_id == rid)).all()
    }
    triggers = session.exec(
        select(m.TriggerState)
        .where(m.TriggerState.release_id == rid)
        .order_by(col(m.TriggerState.id))
    ).all()
    log_query = (
        select(m.LogEntry).where(m.LogEntry.release_id == rid).order_by(col(m.LogEntry.id).desc())
    )
    if log_limit is not None:
        log_query = log_query.limit(log_limit)
    log = list(reversed(session.exec(log_query).all()))
    latest = {
        row.service: sample_of(row)
        for row in session.exec(
            select(m.ServiceHealth).where(m.ServiceHealth.release_id == rid)
        ).all()
    }
    lease_row = session.get(m.PollerLease, rid)
    lease = (
        LeaseView(lease_row.holder, lease_row.expires_at, lease_row.last_poll_at)
        if lease_row
        else None
    )
    polled = lease is not None and now is not None and lease.alive(now)

    def health_of(service: m.Service) -> str:
        if now is None or service.health_interval_s is None:
            return "unknown"
        return health_state(
            latest.get(service.name), timedelta(seconds=service.health_interval_s), now, polled
        )

    return ReleaseSnapshot(
        release=ReleaseView(
            id=rid or 0,
            name=release.name,
            manager=release.manager,
            timezone=release.timezone,
            window_start=release.window_start,
            window_end=release.window_end,
            rollback_until=release.rollback_until,
            go_no_go_at=release.go_no_go_at,
            loaded_at=release.loaded_at,
            loaded_by=release.loaded_by,
        ),
        people=tuple(PersonView(p.name, Role(p.role), p.team) for p in people),
        services=tuple(
            ServiceView(
                name=s.name,
                team=s.team,
                position=s.position,
                version=s.version,
                previous_version=s.previous_version,
                owner=s.owner,
                depends_on=tuple(sorted(deps[s.name], key=position.__getitem__)),
                expected_duration=timedelta(seconds=s.expected_duration_s),
                wave=s.wave,
                planned_start=release.window_start + timedelta(seconds=s.planned_start_s),
                state=DeployState(s.state),
                state_since=s.state_since,
                state_by=s.state_by,
                steps=tuple(steps[s.name]),
                health_url=s.health_url,
                rollback_command=s.rollback_command,
                row_version=s.row_version,
                health_interval=(
                    timedelta(seconds=s.health_interval_s)
                    if s.health_interval_s is not None
                    else None
                ),
                health=health_of(s),
            )
            for s in services
        ),
        go_no_go=tuple(go_no_go),
        readiness={team: tuple(views) for team, views in readiness.items()},
        decisions=tuple(
            DecisionView(
                DecisionKind(d.kind),
                tuple(json.loads(d.subset)),
                d.rationale,
                d.decided_by,
                d.decided_at,
            )
            for d in decisions
        ),
        triggers=tuple(
            TriggerView(
                rule=t.rule,
                service=t.service,
                state=t.state,
                when=rules.get(t.rule, "a lead's call"),
                holding=t.holding,
                since=t.since,
                fired_at=t.fired_at,
                acked_by=t.acked_by,
                acked_at=t.acked_at,
                raised_by=t.raised_by,
                detail=t.detail,
            )
            for t in triggers
        ),
        log=tuple(
            LogView(e.id or 0, e.at, e.kind, e.author, e.team, e.service, e.text) for e in log
        ),
        revision=audit_revision(session),
        latest=latest,
        poller=lease,
    )
