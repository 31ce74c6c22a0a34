"""Reading a release out of the store as a `ReleaseSnapshot`."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from warroom.domain import gates
from warroom.domain import notify as nt
from warroom.domain.health import Sample, health_state
from warroom.domain.record import Event, History, pristine
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

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

V = TypeVar("V", bound="DataclassInstance")


def current_release(session: Session, name: str | None = None) -> m.Release | None:
    """The named release, else the one loaded last."""
    query = select(m.Release)
    if name is not None:
        query = query.where(m.Release.name == name)
    return session.exec(query.order_by(col(m.Release.id).desc())).first()


# An outbox row's states (store/models.py, NotifyOutbox).
OUTBOX_PENDING = "pending"
OUTBOX_SENDING = "sending"
OUTBOX_SENT = "sent"
OUTBOX_FAILED = "failed"


def destination_of(row: m.NotifyDestination) -> nt.Destination:
    return nt.Destination(
        row.name,
        nt.Kind(row.kind),
        row.url_env,
        row.key_env,
        frozenset(nt.Event(e) for e in json.loads(row.events)),
    )


def notify_failing(session: Session, release_id: int | None) -> int:
    """How many deliveries are failing: given up, or retrying after a failed try."""
    query = (
        select(sa.func.count())
        .select_from(m.NotifyOutbox)
        .where(
            m.NotifyOutbox.release_id == release_id,
            (col(m.NotifyOutbox.state) == OUTBOX_FAILED)
            | ((col(m.NotifyOutbox.state) != OUTBOX_SENT) & (col(m.NotifyOutbox.attempts) > 0)),
        )
    )
    return int(session.exec(query).one())


def due_deliveries(
    session: Session, release_id: int | None, now: datetime, busy: Sequence[str] = ()
) -> int:
    """How many outbox rows a sender busy with `busy` would claim now (see Repo.claim_deliveries)."""
    row = m.NotifyOutbox
    query = (
        select(sa.func.count())
        .select_from(row)
        .where(
            row.release_id == release_id,
            col(row.destination).not_in(list(busy)),
            ((col(row.state) == OUTBOX_PENDING) & (col(row.due_at) <= now))
            | (col(row.state) == OUTBOX_SENDING),
        )
    )
    return int(session.exec(query).one())


def deliveries(session: Session, release_id: int | None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest outbox rows (newest first), as plain data for `warroom notify status`."""
    rows = session.exec(
        select(m.NotifyOutbox)
        .where(m.NotifyOutbox.release_id == release_id)
        .order_by(col(m.NotifyOutbox.id).desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": row.id,
            "destination": row.destination,
            "event": row.event,
            "state": row.state,
            "attempts": row.attempts,
            "created_at": row.created_at,
            "due_at": row.due_at,
            "sent_at": row.sent_at,
            "last_status": row.last_status,
            "last_error": row.last_error,
            "key": row.key,
        }
        for row in rows
    ]


def destinations(session: Session, release_id: int | None) -> list[nt.Destination]:
    rows = session.exec(
        select(m.NotifyDestination)
        .where(m.NotifyDestination.release_id == release_id)
        .order_by(col(m.NotifyDestination.position))
    ).all()
    return [destination_of(row) for row in rows]


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


def freeze_of(row: m.Freeze) -> gates.Freeze:
    """A stored freeze as the domain sees it."""
    return gates.Freeze(
        row.name,
        row.reason,
        row.starts_at,
        row.ends_at,
        row.rrule,
        timedelta(seconds=row.duration_s) if row.duration_s is not None else None,
    )


def override_of(row: m.GateOverride) -> gates.Override:
    return gates.Override(row.id or 0, row.target, row.reason, row.given_by, row.at, row.ends_at)


def hold_release_of(row: m.HoldRelease) -> gates.HoldRelease:
    return gates.HoldRelease(row.id or 0, row.service, row.reason, row.released_by, row.at)


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
    latest, lease = _read_health(session, rid)
    go_no_go, readiness = _read_items(session, rid)
    return ReleaseSnapshot(
        release=_view(ReleaseView, release, id=rid or 0),
        people=tuple(PersonView(p.name, p.role, p.team) for p in people),
        services=_read_services(session, release, _health_of(latest, lease, now)),
        go_no_go=go_no_go,
        readiness=readiness,
        decisions=_read_decisions(session, rid),
        triggers=_read_triggers(session, rid),
        log=_read_log(session, rid, log_limit),
        revision=audit_revision(session),
        latest=latest,
        poller=lease,
        notify_failing=notify_failing(session, rid),
        freezes=_read_freezes(session, rid),
        **_read_gates(session, rid),
    )


def reload_snapshot(
    session: Session,
    release: m.Release,
    previous: ReleaseSnapshot | None,
    topics: frozenset[str] | None,
    log_limit: int | None = None,
    now: datetime | None = None,
) -> ReleaseSnapshot:
    """`previous` brought up to date, re-reading only what `topics` name.

    The change feed says which parts of the release a commit touched (see
    Tx.topics); every app in the room re-reads after every change, so reading
    only those parts is what keeps a busy room cheap. The log is read from
    the last line `previous` has: log lines are only ever appended, and their
    ids commit in order (every writer holds the audit-head lock). Without a
    `previous` of the same release, or on a plan (re)load, read everything.
    """
    if (
        previous is None
        or topics is None
        or "release" in topics
        or previous.release.id != release.id
    ):
        return load_snapshot(session, release, log_limit, now)
    rid = release.id
    changes: dict[str, Any] = {"revision": audit_revision(session)}
    if "health" in topics or "services" in topics:
        latest, lease = _read_health(session, rid)
        health_of = _health_of(latest, lease, now)
        changes.update(latest=latest, poller=lease)
        if "services" in topics:
            changes["services"] = _read_services(session, release, health_of)
        else:  # a health sample moved nothing but the services' health
            changes["services"] = tuple(
                replace(s, health=health_of(s.name, s.health_interval)) for s in previous.services
            )
    if "notify" in topics:
        changes["notify_failing"] = notify_failing(session, rid)
    if "checklist" in topics:
        changes["go_no_go"], changes["readiness"] = _read_items(session, rid)
    if "decision" in topics:
        changes["decisions"] = _read_decisions(session, rid)
    if "triggers" in topics:
        changes["triggers"] = _read_triggers(session, rid)
    if "gates" in topics:
        changes.update(_read_gates(session, rid))
    if "log" in topics:
        after = previous.log[-1].id if previous.log else 0
        log = previous.log + _read_log(session, rid, log_limit, after=after)
        changes["log"] = log[-log_limit:] if log_limit is not None else log
    return replace(previous, **changes)


def read_room(
    session: Session,
    release_name: str | None,
    previous: ReleaseSnapshot | None,
    topics: frozenset[str] | None,
    log_limit: int | None,
    now: datetime | None,
) -> tuple[ReleaseSnapshot | None, int]:
    """What a room shows: the release's snapshot brought up to date from
    `previous` (None: no release is loaded) and the audit revision read at.

    The one read both a local app and `warroom serve-ssh` (for all its
    sessions at once) make after each change.
    """
    release = current_release(session, release_name)
    if release is None:
        return None, audit_revision(session)
    snapshot = reload_snapshot(session, release, previous, topics, log_limit, now)
    return snapshot, snapshot.revision


# ------------------------------------------------------------------ sections


def _view(view: type[V], row: SQLModel, **computed: Any) -> V:
    """A `view` of `row`: the columns of the same names as its fields, and
    `computed` for the fields that are not columns (or not as stored)."""
    copied = {name: getattr(row, name) for name in _names(view) if name not in computed}
    return view(**copied, **computed)


@cache  # a snapshot makes a view per row: look each view's fields up once
def _names(view: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(view))


def _read_health(session: Session, rid: int | None) -> tuple[dict[str, Sample], LeaseView | None]:
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
    return latest, lease


def _health_of(
    latest: dict[str, Sample], lease: LeaseView | None, now: datetime | None
) -> Callable[[str, timedelta | None], str]:
    polled = lease is not None and now is not None and lease.alive(now)

    def health_of(service: str, interval: timedelta | None) -> str:
        if now is None or interval is None:
            return "unknown"
        return health_state(latest.get(service), interval, now, polled)

    return health_of


def _read_services(
    session: Session, release: m.Release, health_of: Callable[[str, timedelta | None], str]
) -> tuple[ServiceView, ...]:
    services = session.exec(
        select(m.Service)
        .where(m.Service.release_id == release.id)
        .order_by(col(m.Service.position))
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

    def interval(s: m.Service) -> timedelta | None:
        return timedelta(seconds=s.health_interval_s) if s.health_interval_s is not None else None

    return tuple(
        _view(
            ServiceView,
            s,
            depends_on=tuple(sorted(deps[s.name], key=position.__getitem__)),
            expected_duration=timedelta(seconds=s.expected_duration_s),
            planned_start=release.window_start + timedelta(seconds=s.planned_start_s),
            steps=tuple(steps[s.name]),
            health_interval=interval(s),
            health=health_of(s.name, interval(s)),
        )
        for s in services
    )


def _read_items(
    session: Session, rid: int | None
) -> tuple[tuple[ItemView, ...], dict[str, tuple[ItemView, ...]]]:
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
    return tuple(go_no_go), {team: tuple(views) for team, views in readiness.items()}


def _read_decisions(session: Session, rid: int | None) -> tuple[DecisionView, ...]:
    decisions = session.exec(
        select(m.Decision).where(m.Decision.release_id == rid).order_by(col(m.Decision.id))
    ).all()
    return tuple(
        DecisionView(
            d.kind,
            tuple(json.loads(d.subset)),
            d.rationale,
            d.decided_by,
            d.decided_at,
        )
        for d in decisions
    )


def _read_triggers(session: Session, rid: int | None) -> tuple[TriggerView, ...]:
    rules = {
        r.name: r
        for r in session.exec(select(m.TriggerRule).where(m.TriggerRule.release_id == rid)).all()
    }
    triggers = session.exec(
        select(m.TriggerState)
        .where(m.TriggerState.release_id == rid)
        .order_by(col(m.TriggerState.id))
    ).all()
    return tuple(
        _view(
            TriggerView,
            t,
            when=rule.when if (rule := rules.get(t.rule)) else "a lead's call",
            dry_run=bool(rule and rule.dry_run),
            options=replace(rule.options, dry_run=False).describe() if rule else "",
        )
        for t in triggers
    )


def _read_freezes(session: Session, rid: int | None) -> tuple[gates.Freeze, ...]:
    rows = session.exec(
        select(m.Freeze).where(m.Freeze.release_id == rid).order_by(col(m.Freeze.position))
    ).all()
    return tuple(freeze_of(row) for row in rows)


def _read_gates(session: Session, rid: int | None) -> dict[str, Any]:
    """The overrides and hold releases given so far, oldest first."""
    overrides = session.exec(
        select(m.GateOverride)
        .where(m.GateOverride.release_id == rid)
        .order_by(col(m.GateOverride.id))
    ).all()
    releases = session.exec(
        select(m.HoldRelease).where(m.HoldRelease.release_id == rid).order_by(col(m.HoldRelease.id))
    ).all()
    return {
        "overrides": tuple(override_of(row) for row in overrides),
        "hold_releases": tuple(hold_release_of(row) for row in releases),
    }


def _read_log(
    session: Session, rid: int | None, limit: int | None, after: int = 0
) -> tuple[LogView, ...]:
    """The newest `limit` lines (oldest first), of those after line id `after`."""
    line = m.LogEntry
    # Columns, not ORM objects: the report reads a whole day's log (tens of
    # thousands of lines), where building entities cost five times the read.
    query = (
        sa.select(
            col(line.id),
            col(line.at),
            col(line.kind),
            col(line.author),
            col(line.team),
            col(line.service),
            col(line.text),
        )
        .where(col(line.release_id) == rid, col(line.id) > after)
        .order_by(col(line.id).desc())
    )
    if limit is not None:
        query = query.limit(limit)
    rows: Sequence[tuple[int, datetime, str, str, str | None, str | None, str]] = session.execute(
        query
    ).all()
    return tuple(LogView(*row) for row in reversed(rows))


def recent_samples(
    session: Session, release_id: int, service: str, since: datetime, until: datetime | None = None
) -> tuple[Sample, ...]:
    """`service`'s samples taken from `since` (to `until`), oldest first (the
    poller keeps about 30 minutes of them)."""
    query = select(m.HealthSample).where(
        m.HealthSample.release_id == release_id,
        m.HealthSample.service == service,
        col(m.HealthSample.at) >= since,
    )
    if until is not None:
        query = query.where(col(m.HealthSample.at) <= until)
    rows = session.exec(query.order_by(col(m.HealthSample.at), col(m.HealthSample.id))).all()
    return tuple(sample_of(row) for row in rows)


def read_history(session: Session, release: m.Release) -> History:
    """`release`'s whole record (domain/record.py), read inside the caller's transaction."""
    now = load_snapshot(session, release)
    event = m.AuditEvent
    # Columns, not ORM objects: a long day has a hundred thousand events.
    rows: Sequence[tuple[int, datetime, str, str, str]] = session.execute(
        sa.select(
            col(event.id), col(event.at), col(event.actor), col(event.action), col(event.payload)
        )
        .where(col(event.release_id) == release.id)
        .order_by(col(event.id))
    ).all()
    events = [
        Event(event_id, at, actor, action, json.loads(payload))
        for event_id, at, actor, action, payload in rows
    ]
    return History(pristine(now), events, now.log)
