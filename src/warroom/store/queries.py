"""Reading a release out of the store as a `ReleaseSnapshot`.

SQLAlchemy Core on store/tables.py, never the model classes: the room's
first read must not wait for the ORM to import. Every function takes a
`Reader`: a Core connection (the room's, `Store.rows()`) or an ORM session
(the command layer's and the CLI's). A session does not flush its pending
changes before a Core statement, so a writer that reads what it has just
added flushes first (see `Repo.destinations`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import sqlalchemy as sa

from warroom.domain import gates
from warroom.domain import notify as nt
from warroom.domain.health import Sample, health_state
from warroom.domain.record import Event, History, pristine
from warroom.domain.rules import DEFAULT_INCONCLUSIVE_AFTER, NoData, RuleOptions
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
from warroom.store import tables as t

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
    from sqlalchemy.engine import Result

V = TypeVar("V", bound="DataclassInstance")


class Reader(Protocol):
    """What the reads need: a Core `Connection` or an ORM `Session`."""

    def execute(self, statement: sa.Executable, /) -> Result[Any]: ...


# A release row without its plan text (the whole YAML): readers never need it.
_RELEASE = [c for c in t.release.c if c.name != "plan_text"]


def current_release(session: Reader, name: str | None = None) -> sa.Row[Any] | None:
    """The named release, else the one loaded last (its columns, plan text left out)."""
    query = sa.select(*_RELEASE)
    if name is not None:
        query = query.where(t.release.c.name == name)
    return session.execute(query.order_by(t.release.c.id.desc()).limit(1)).first()


def _all(session: Reader, table: sa.TableClause, *where: Any, order: Any = None) -> list[Any]:
    """The rows of `table` that match `where`, in `order`."""
    query = sa.select(table).where(*where)
    if order is not None:
        query = query.order_by(*(order if isinstance(order, tuple) else (order,)))
    return list(session.execute(query).all())


# An outbox row's states (store/models.py, NotifyOutbox).
OUTBOX_PENDING = "pending"
OUTBOX_SENDING = "sending"
OUTBOX_SENT = "sent"
OUTBOX_FAILED = "failed"


def destination_of(row: Any) -> nt.Destination:
    """A stored destination (a row of notify_destination) as the domain sees it."""
    return nt.Destination(
        row.name,
        nt.Kind(row.kind),
        row.url_env,
        row.key_env,
        frozenset(nt.Event(e) for e in json.loads(row.events)),
    )


def notify_failing(session: Reader, release_id: int | None) -> int:
    """How many deliveries are failing: given up, or retrying after a failed try."""
    row = t.notify_outbox.c
    query = (
        sa.select(sa.func.count())
        .select_from(t.notify_outbox)
        .where(
            row.release_id == release_id,
            (row.state == OUTBOX_FAILED) | ((row.state != OUTBOX_SENT) & (row.attempts > 0)),
        )
    )
    return int(session.execute(query).scalar_one())


def due_deliveries(
    session: Reader, release_id: int | None, now: datetime, busy: Sequence[str] = ()
) -> int:
    """How many outbox rows a sender busy with `busy` would claim now (see Repo.claim_deliveries)."""
    row = t.notify_outbox.c
    query = (
        sa.select(sa.func.count())
        .select_from(t.notify_outbox)
        .where(
            row.release_id == release_id,
            row.destination.not_in(list(busy)),
            ((row.state == OUTBOX_PENDING) & (row.due_at <= now)) | (row.state == OUTBOX_SENDING),
        )
    )
    return int(session.execute(query).scalar_one())


def deliveries(session: Reader, release_id: int | None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest outbox rows (newest first), as plain data for `warroom notify status`."""
    row = t.notify_outbox.c
    rows: Sequence[Any] = session.execute(
        sa.select(
            row.id,
            row.destination,
            row.event,
            row.state,
            row.attempts,
            row.created_at,
            row.due_at,
            row.sent_at,
            row.last_status,
            row.last_error,
            row.key,
        )
        .where(row.release_id == release_id)
        .order_by(row.id.desc())
        .limit(limit)
    ).all()
    return [dict(found._mapping) for found in rows]


def destinations(session: Reader, release_id: int | None) -> list[nt.Destination]:
    rows = _all(
        session,
        t.notify_destination,
        t.notify_destination.c.release_id == release_id,
        order=t.notify_destination.c.position,
    )
    return [destination_of(row) for row in rows]


def sample_of(row: Any) -> Sample:
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


def freeze_of(row: Any) -> gates.Freeze:
    """A stored freeze as the domain sees it."""
    return gates.Freeze(
        row.name,
        row.reason,
        row.starts_at,
        row.ends_at,
        row.rrule,
        timedelta(seconds=row.duration_s) if row.duration_s is not None else None,
    )


def override_of(row: Any) -> gates.Override:
    return gates.Override(row.id or 0, row.target, row.reason, row.given_by, row.at, row.ends_at)


def hold_release_of(row: Any) -> gates.HoldRelease:
    return gates.HoldRelease(row.id or 0, row.service, row.reason, row.released_by, row.at)


def options_of(rule: Any) -> RuleOptions:
    """A stored trigger rule's options (NULL columns: the defaults)."""
    keep = rule.keep_firing_for_s
    return RuleOptions(
        keep_firing_for=timedelta(seconds=keep) if keep else None,
        no_data=NoData(rule.no_data or NoData.IGNORE),
        inconclusive_after=rule.inconclusive_after or DEFAULT_INCONCLUSIVE_AFTER,
        dry_run=rule.dry_run,
        error_limit=rule.error_limit,
    )


def audit_revision(session: Reader) -> int:
    head = t.audit_head.c
    last = session.execute(sa.select(head.last_id).where(head.id == 1)).scalar()
    return int(last) if last is not None else 0


def load_snapshot(
    session: Reader,
    release: Any,
    log_limit: int | None = None,
    now: datetime | None = None,
) -> ReleaseSnapshot:
    """Everything about `release` (a release row), read inside the caller's transaction.

    `now` decides whether health is fresh or stale; without it, health is
    reported as "unknown".
    """
    rid = release.id
    people = _all(session, t.person, t.person.c.release_id == rid, order=t.person.c.id)
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
    session: Reader,
    release: Any,
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
    session: Reader,
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


def _view(view: type[V], row: Any, **computed: Any) -> V:
    """A `view` of `row`: the columns of the same names as its fields, and
    `computed` for the fields that are not columns (or not as stored)."""
    copied = {name: getattr(row, name) for name in _names(view) if name not in computed}
    return view(**copied, **computed)


@cache  # a snapshot makes a view per row: look each view's fields up once
def _names(view: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(view))


def _read_health(session: Reader, rid: int | None) -> tuple[dict[str, Sample], LeaseView | None]:
    latest = {
        row.service: sample_of(row)
        for row in _all(session, t.service_health, t.service_health.c.release_id == rid)
    }
    lease_row = session.execute(
        sa.select(t.poller_lease).where(t.poller_lease.c.release_id == rid)
    ).first()
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
    session: Reader, release: Any, health_of: Callable[[str, timedelta | None], str]
) -> tuple[ServiceView, ...]:
    service, dependency, step_ = t.service.c, t.dependency.c, t.runbook_step.c
    services = _all(session, t.service, service.release_id == release.id, order=service.position)
    by_id = {s.id: s.name for s in services}
    deps: dict[str, list[str]] = defaultdict(list)
    steps: dict[str, list[StepView]] = defaultdict(list)
    if services:
        ids = list(by_id)
        for dep in _all(session, t.dependency, dependency.service_id.in_(ids)):
            deps[by_id[dep.service_id]].append(by_id[dep.depends_on_id])
        for step in _all(
            session,
            t.runbook_step,
            step_.service_id.in_(ids),
            order=(step_.service_id, step_.position),
        ):
            steps[by_id[step.service_id]].append(
                StepView(step.position, step.text, step.done_at, step.done_by)
            )
    position = {s.name: s.position for s in services}

    def interval(s: Any) -> timedelta | None:
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
    session: Reader, rid: int | None
) -> tuple[tuple[ItemView, ...], dict[str, tuple[ItemView, ...]]]:
    item_ = t.checklist_item.c
    items = _all(session, t.checklist_item, item_.release_id == rid, order=item_.position)
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


def _read_decisions(session: Reader, rid: int | None) -> tuple[DecisionView, ...]:
    decision = t.decision.c
    decisions = _all(session, t.decision, decision.release_id == rid, order=decision.id)
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


def _read_triggers(session: Reader, rid: int | None) -> tuple[TriggerView, ...]:
    rules = {r.name: r for r in _all(session, t.trigger_rule, t.trigger_rule.c.release_id == rid)}
    state = t.trigger_state.c
    triggers = _all(session, t.trigger_state, state.release_id == rid, order=state.id)
    return tuple(
        _view(
            TriggerView,
            t,
            when=rule.when if (rule := rules.get(t.rule)) else "a lead's call",
            dry_run=bool(rule and rule.dry_run),
            options=replace(options_of(rule), dry_run=False).describe() if rule else "",
        )
        for t in triggers
    )


def _read_freezes(session: Reader, rid: int | None) -> tuple[gates.Freeze, ...]:
    rows = _all(session, t.freeze, t.freeze.c.release_id == rid, order=t.freeze.c.position)
    return tuple(freeze_of(row) for row in rows)


def _read_gates(session: Reader, rid: int | None) -> dict[str, Any]:
    """The overrides and hold releases given so far, oldest first."""
    given, held = t.gate_override.c, t.hold_release.c
    overrides = _all(session, t.gate_override, given.release_id == rid, order=given.id)
    releases = _all(session, t.hold_release, held.release_id == rid, order=held.id)
    return {
        "overrides": tuple(override_of(row) for row in overrides),
        "hold_releases": tuple(hold_release_of(row) for row in releases),
    }


def _read_log(
    session: Reader, rid: int | None, limit: int | None, after: int = 0
) -> tuple[LogView, ...]:
    """The newest `limit` lines (oldest first), of those after line id `after`."""
    line = t.log_entry.c
    query = (
        sa.select(line.id, line.at, line.kind, line.author, line.team, line.service, line.text)
        .where(line.release_id == rid, line.id > after)
        .order_by(line.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    rows: Sequence[Any] = session.execute(query).all()
    return tuple(LogView(*row) for row in reversed(rows))


def recent_samples(
    session: Reader, release_id: int, service: str, since: datetime, until: datetime | None = None
) -> tuple[Sample, ...]:
    """`service`'s samples taken from `since` (to `until`), oldest first (the
    poller keeps about 30 minutes of them)."""
    sample = t.health_sample.c
    where = [sample.release_id == release_id, sample.service == service, sample.at >= since]
    if until is not None:
        where.append(sample.at <= until)
    rows = _all(session, t.health_sample, *where, order=(sample.at, sample.id))
    return tuple(sample_of(row) for row in rows)


def read_history(session: Reader, release: Any) -> History:
    """`release`'s whole record (domain/record.py), read inside the caller's transaction."""
    now = load_snapshot(session, release)
    event = t.audit_event.c
    rows: Sequence[Any] = session.execute(
        sa.select(event.id, event.at, event.actor, event.action, event.payload)
        .where(event.release_id == release.id)
        .order_by(event.id)
    ).all()
    events = [
        Event(event_id, at, actor, action, json.loads(payload))
        for event_id, at, actor, action, payload in rows
    ]
    return History(pristine(now), events, now.log)
