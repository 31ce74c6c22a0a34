"""The shared store's tables.

One database may hold several releases; everything but the audit log hangs
off a release. Times are stored as naive UTC (`UTCDateTime`) so SQLite and
PostgreSQL agree, and come back timezone-aware. Schema changes go through
Alembic migrations in `store/migrations/`; `tests/test_migrations.py` checks
that the migrations and these models describe the same schema.

The room reads through store/tables.py, the same tables as SQLAlchemy Core
sees them without these classes (importing them is ~0.2 s of an app's
start); `tests/test_tables.py` checks that the two agree.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.roles import Role
from warroom.domain.rules import RuleOptions
from warroom.domain.triggers import Phase, TriggerStatus
from warroom.store.queries import options_of
from warroom.store.types import EnumText, UTCDateTime


def _enum(enum: type[StrEnum], length: int) -> Any:
    return Field(sa_column=Column(EnumText(enum, length), nullable=False))


def _at(nullable: bool = False) -> Any:
    # A type, not a Column: a Column belongs to one table, and the bases'
    # columns (_Measurement's) are in several.
    return Field(sa_type=UTCDateTime, nullable=nullable)


def _fk(table: str, *, primary_key: bool = False) -> Any:
    """A row of `table` this row belongs to (and is deleted with): part of
    this row's key, or else an indexed column."""
    return Field(
        foreign_key=f"{table}.id",
        ondelete="CASCADE",
        primary_key=primary_key,
        index=not primary_key,
    )


class _ReleaseRow(SQLModel):
    """A row of one release: its own id, and the release it is deleted with."""

    id: int | None = Field(default=None, primary_key=True)
    release_id: int = _fk("release")


class Release(SQLModel, table=True):
    __tablename__ = "release"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    manager: str = Field(max_length=100)
    timezone: str = Field(max_length=64)
    window_start: datetime = _at()
    window_end: datetime = _at()
    rollback_until: datetime = _at()
    go_no_go_at: datetime = _at()
    plan_text: str = Field(sa_column=Column(Text, nullable=False))
    plan_sha256: str = Field(max_length=64)
    loaded_at: datetime = _at()
    loaded_by: str = Field(max_length=100)


class Person(_ReleaseRow, table=True):
    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("release_id", "name"),)

    name: str = Field(max_length=100)
    role: Role = _enum(Role, 32)
    team: str | None = Field(default=None, max_length=100)
    ssh_keys: str = Field(default="[]", sa_column=Column(Text, nullable=False))


class Service(_ReleaseRow, table=True):
    __tablename__ = "service"
    __table_args__ = (UniqueConstraint("release_id", "name"),)

    name: str = Field(max_length=100)
    team: str = Field(max_length=100)
    position: int
    version: str = Field(max_length=100)
    previous_version: str | None = Field(default=None, max_length=100)
    owner: str | None = Field(default=None, max_length=100)
    expected_duration_s: int
    # Derived from the plan at load time (the plan never changes afterwards),
    # so reading a release needs no graph work: the deploy wave (1-based) and
    # the planned start as seconds after the window opens.
    wave: int
    planned_start_s: int
    health_url: str | None = Field(default=None, max_length=500)
    health_interval_s: float | None = None
    health_timeout_s: float | None = None
    rollback_command: str | None = Field(default=None, max_length=500)
    rollback_duration_s: int | None = None
    state: DeployState = _enum(DeployState, 32)
    state_since: datetime = _at()
    state_by: str | None = Field(default=None, max_length=100)
    # When it last entered `deploying`: the health baseline is what came before.
    deploy_started_at: datetime | None = _at(nullable=True)
    # Bumped on every change to the row: the version a client saw is what a
    # conflicting write is checked against.
    row_version: int = 1


class Dependency(SQLModel, table=True):
    __tablename__ = "dependency"

    service_id: int = _fk("service", primary_key=True)
    depends_on_id: int = _fk("service", primary_key=True)


class RunbookStep(SQLModel, table=True):
    __tablename__ = "runbook_step"
    __table_args__ = (UniqueConstraint("service_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    service_id: int = _fk("service")
    position: int
    text: str = Field(max_length=500)
    done_at: datetime | None = _at(nullable=True)
    done_by: str | None = Field(default=None, max_length=100)


class ChecklistItem(_ReleaseRow, table=True):
    """A go/no-go item (team is NULL) or a team's readiness item."""

    __tablename__ = "checklist_item"
    __table_args__ = (UniqueConstraint("release_id", "key"),)

    key: str = Field(max_length=120)
    team: str | None = Field(default=None, max_length=100)
    position: int
    text: str = Field(max_length=500)
    done_at: datetime | None = _at(nullable=True)
    done_by: str | None = Field(default=None, max_length=100)
    row_version: int = 1


class Decision(_ReleaseRow, table=True):
    """Every go/no-go decision recorded; the latest one is in force."""

    __tablename__ = "decision"

    kind: DecisionKind = _enum(DecisionKind, 16)
    subset: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    rationale: str = Field(sa_column=Column(Text, nullable=False))
    decided_by: str = Field(max_length=100)
    decided_at: datetime = _at()


class LogEntry(_ReleaseRow, table=True):
    """The communication log: people's messages and the system's lines."""

    __tablename__ = "log_entry"

    at: datetime = _at()
    kind: str = Field(max_length=16)  # "message" or "system"
    author: str = Field(max_length=100)
    team: str | None = Field(default=None, max_length=100)
    service: str | None = Field(default=None, max_length=100)
    text: str = Field(sa_column=Column(Text, nullable=False))


class TriggerRule(_ReleaseRow, table=True):
    __tablename__ = "trigger_rule"
    __table_args__ = (UniqueConstraint("release_id", "name"),)

    name: str = Field(max_length=100)
    when: str = Field(max_length=300)
    description: str | None = Field(default=None, max_length=500)
    services: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Deploy states in which the rule watches a service (JSON list; NULL: the default).
    states: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The rule's options (domain/rules.py RuleOptions); NULL: the default.
    keep_firing_for_s: float | None = None
    no_data: str | None = Field(default=None, max_length=16)
    inconclusive_after: int | None = None
    dry_run: bool = False
    error_limit: int | None = None

    @property
    def options(self) -> RuleOptions:
        return options_of(self)


class TriggerState(_ReleaseRow, table=True):
    """One rule watching one service (or a lead's call on one service)."""

    __tablename__ = "trigger_state"
    __table_args__ = (UniqueConstraint("release_id", "rule", "service"),)

    rule: str = Field(max_length=100)
    service: str = Field(max_length=100)
    state: Phase = _enum(Phase, 16)
    holding: bool = False
    since: datetime | None = _at(nullable=True)
    fired_at: datetime | None = _at(nullable=True)
    acked_by: str | None = Field(default=None, max_length=100)
    acked_at: datetime | None = _at(nullable=True)
    raised_by: str | None = Field(default=None, max_length=100)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Evaluation state kept between samples, so a new poller carries on.
    streak: int = 0
    last_at: datetime | None = _at(nullable=True)
    baseline: float | None = None
    row_version: int = 1
    cleared_since: datetime | None = _at(nullable=True)  # firing, kept by keep_firing_for
    no_data_run: int = 0  # samples in a row the rule could not judge
    error_run: int = 0  # probe errors in a row (with an error_limit)

    @property
    def status(self) -> TriggerStatus:
        """The row as the trigger state machine (domain/triggers.py) sees it."""
        return TriggerStatus(
            phase=self.state,
            holding=self.holding,
            since=self.since,
            fired_at=self.fired_at,
            acked=self.acked_by is not None,
            streak=self.streak,
            last_at=self.last_at,
            detail=self.detail or "",
            cleared_since=self.cleared_since,
            no_data_run=self.no_data_run,
            error_run=self.error_run,
        )

    def keep(self, status: TriggerStatus) -> None:
        """Keep `status` on the row (an acknowledgement it no longer carries is dropped)."""
        self.state = status.phase
        self.holding = status.holding
        self.since = status.since
        self.fired_at = status.fired_at
        self.streak = status.streak
        self.last_at = status.last_at
        self.detail = status.detail
        self.cleared_since = status.cleared_since
        self.no_data_run = status.no_data_run
        self.error_run = status.error_run
        if not status.acked:
            self.acked_by = None
            self.acked_at = None


class Freeze(_ReleaseRow, table=True):
    """A freeze of the plan: one-off (starts_at, ends_at) or recurring (rrule,
    duration_s, and starts_at as the rule's first occurrence when given)."""

    __tablename__ = "freeze"
    __table_args__ = (UniqueConstraint("release_id", "name"),)

    position: int
    name: str = Field(max_length=100)
    reason: str | None = Field(default=None, max_length=500)
    starts_at: datetime | None = _at(nullable=True)
    ends_at: datetime | None = _at(nullable=True)
    rrule: str | None = Field(default=None, max_length=300)
    duration_s: int | None = None


class GateOverride(_ReleaseRow, table=True):
    """The release manager lifted the window or a freeze (`target`) from `at` to `ends_at`.

    Never updated: it ends by the clock alone.
    """

    __tablename__ = "gate_override"

    target: str = Field(max_length=100)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    given_by: str = Field(max_length=100)
    at: datetime = _at()
    ends_at: datetime = _at()


class HoldRelease(_ReleaseRow, table=True):
    """The release manager let `service` start despite what held it at `at` (never updated)."""

    __tablename__ = "hold_release"

    service: str = Field(max_length=100)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    released_by: str = Field(max_length=100)
    at: datetime = _at()


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained: each event's hash covers the previous one's."""

    __tablename__ = "audit_event"

    id: int = Field(primary_key=True)
    at: datetime = _at()
    actor: str = Field(max_length=100)
    action: str = Field(max_length=64)
    release_id: int | None = Field(default=None, index=True)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """A single row naming the chain's last event.

    Every write transaction updates it, which serialises writers on every
    backend (the row lock on PostgreSQL, the write lock on SQLite) and lets
    `audit verify` notice events cut off the end of the chain.
    """

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    last_id: int = 0
    last_hash: str = Field(max_length=64)
    # The id of the key that seals the chain (see store/auditkey.py), never the key.
    key_id: str | None = Field(default=None, max_length=16)
    # HMAC of (last_id, last_hash) under that key: moving the head back to
    # hide events cut off the end needs the key too.
    seal: str | None = Field(default=None, max_length=64)


class Change(SQLModel, table=True):
    """The change feed's log: one row per committed command, naming what it touched.

    Readers that saw change N ask for everything after N; PostgreSQL's NOTIFY
    carries only the id. Old rows are pruned (see store/feed.py).
    """

    __tablename__ = "change"

    id: int | None = Field(default=None, primary_key=True)
    release_id: int | None = Field(default=None, index=True)
    at: datetime = _at()
    topics: str = Field(max_length=200)  # comma-separated, e.g. "services,log"


class Presence(SQLModel, table=True):
    """Who is in the room: one row per running instance, refreshed by heartbeat."""

    __tablename__ = "presence"

    instance: str = Field(primary_key=True, max_length=64)
    release_id: int | None = Field(default=None, index=True)
    person: str = Field(max_length=100)
    via: str = Field(max_length=16)  # "terminal" or "ssh"
    host: str = Field(max_length=200)
    started_at: datetime = _at()
    seen_at: datetime = _at()


class _Measurement(SQLModel):
    """What one probe of a service measured: a sample's columns, and its service's newest."""

    at: datetime = _at()
    ok: bool
    reason: str | None = Field(default=None, max_length=300)
    status_code: int | None = None
    latency_ms: float | None = None
    metrics: str = Field(default="{}", sa_type=Text, nullable=False)  # a JSON object


class HealthSample(_Measurement, _ReleaseRow, table=True):
    """One probe of one service. Pruned after a while (see commands/health.py)."""

    __tablename__ = "health_sample"
    __table_args__ = (Index("ix_health_sample_service_at", "release_id", "service", "at"),)

    service: str = Field(max_length=100)


class ServiceHealth(_Measurement, table=True):
    """The newest sample of each service, for readers that only need "now"."""

    __tablename__ = "service_health"

    release_id: int = _fk("release", primary_key=True)
    service: str = Field(primary_key=True, max_length=100)


class PollerLease(SQLModel, table=True):
    """Who polls this release's health: exactly one holder, renewed each tick."""

    __tablename__ = "poller_lease"

    release_id: int = _fk("release", primary_key=True)
    holder: str = Field(max_length=200)
    acquired_at: datetime = _at()
    expires_at: datetime = _at()
    last_poll_at: datetime | None = _at(nullable=True)


class NotifyDestination(_ReleaseRow, table=True):
    """A destination of the plan's `notify:`: its kind, the environment
    variables that hold its secrets (never the secrets) and its events."""

    __tablename__ = "notify_destination"
    __table_args__ = (UniqueConstraint("release_id", "name"),)

    position: int
    name: str = Field(max_length=100)
    kind: str = Field(max_length=16)  # domain.notify.Kind
    url_env: str | None = Field(default=None, max_length=100)
    key_env: str | None = Field(default=None, max_length=100)
    events: str = Field(sa_type=Text, nullable=False)  # a JSON list of domain.notify.Event
    # How its messages tell people to join: `ssh -p 2222 host` (the plan's ssh_door).
    # Here rather than on the release: SQLite cannot drop a column of a table
    # others cascade from without copying it, so a downgrade would lose them.
    ssh_join: str | None = Field(default=None, max_length=300)


class NotifyOutbox(_ReleaseRow, table=True):
    """One message to one destination, written in the transaction of the
    change that caused it; the poller lease's holder sends it.

    `state`: pending (due at `due_at`), sending (claimed by `claimed_by`; a
    claim by anyone but the lease's holder is stale and is taken over, with
    the same `key`), sent, or failed (given up). `body` is the JSON to post,
    without secrets: the sender adds PagerDuty's routing key.
    """

    __tablename__ = "notify_outbox"
    __table_args__ = (Index("ix_notify_outbox_due", "release_id", "state", "due_at"),)

    destination: str = Field(max_length=100)
    event: str = Field(max_length=32)
    key: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    body: str = Field(sa_type=Text, nullable=False)
    created_at: datetime = _at()
    state: str = Field(max_length=16)
    attempts: int = 0
    due_at: datetime = _at()
    claimed_by: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = _at(nullable=True)
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_type=Text, nullable=True)


class NotifyAttempt(SQLModel, table=True):
    """Every try at delivering an outbox row: when, by whom, what came back."""

    __tablename__ = "notify_attempt"

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = _fk("notify_outbox")
    at: datetime = _at()
    holder: str = Field(max_length=200)
    status_code: int | None = None
    error: str | None = Field(default=None, sa_type=Text, nullable=True)
    outcome: str = Field(max_length=16)  # sent, retry, failed
