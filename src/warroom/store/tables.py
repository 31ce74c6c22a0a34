"""The store's tables as SQLAlchemy Core sees them, for reading.

The room's reads (store/queries.py), the change feed and presence use these:
a `sa.table` per table with its columns and the types that turn stored
values into Python ones (aware UTC times, domain enums, booleans). Neither
the ORM nor the model classes (store/models.py, ~0.2 s to import) are
needed, so an app's first read does not wait for them; the command layer,
which writes, still works with the models. No keys, constraints or indexes:
the schema is the models' and the migrations' (`tests/test_tables.py`
checks every table here against the models, column by column).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, Integer, TableClause, Text, column, table
from sqlalchemy.types import TypeEngine

from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.roles import Role
from warroom.domain.triggers import Phase
from warroom.store.types import EnumText, UTCDateTime

AT = UTCDateTime()
BOOL = Boolean()
FLOAT = Float()
INT = Integer()
TEXT = Text()  # any string column: reading does not care how long it may be


def _table(name: str, /, **columns: TypeEngine[Any]) -> TableClause:
    return table(name, *(column(key, kind) for key, kind in columns.items()))


release = _table(
    "release",
    id=INT,
    name=TEXT,
    manager=TEXT,
    timezone=TEXT,
    window_start=AT,
    window_end=AT,
    rollback_until=AT,
    go_no_go_at=AT,
    plan_text=TEXT,
    plan_sha256=TEXT,
    loaded_at=AT,
    loaded_by=TEXT,
)
person = _table(
    "person", id=INT, release_id=INT, name=TEXT, role=EnumText(Role, 32), team=TEXT, ssh_keys=TEXT
)
service = _table(
    "service",
    id=INT,
    release_id=INT,
    name=TEXT,
    team=TEXT,
    position=INT,
    version=TEXT,
    previous_version=TEXT,
    owner=TEXT,
    expected_duration_s=INT,
    wave=INT,
    planned_start_s=INT,
    health_url=TEXT,
    health_interval_s=FLOAT,
    health_timeout_s=FLOAT,
    rollback_command=TEXT,
    rollback_duration_s=INT,
    state=EnumText(DeployState, 32),
    state_since=AT,
    state_by=TEXT,
    deploy_started_at=AT,
    row_version=INT,
)
dependency = _table("dependency", service_id=INT, depends_on_id=INT)
runbook_step = _table(
    "runbook_step", id=INT, service_id=INT, position=INT, text=TEXT, done_at=AT, done_by=TEXT
)
checklist_item = _table(
    "checklist_item",
    id=INT,
    release_id=INT,
    key=TEXT,
    team=TEXT,
    position=INT,
    text=TEXT,
    done_at=AT,
    done_by=TEXT,
    row_version=INT,
)
decision = _table(
    "decision",
    id=INT,
    release_id=INT,
    kind=EnumText(DecisionKind, 16),
    subset=TEXT,
    rationale=TEXT,
    decided_by=TEXT,
    decided_at=AT,
)
log_entry = _table(
    "log_entry",
    id=INT,
    release_id=INT,
    at=AT,
    kind=TEXT,
    author=TEXT,
    team=TEXT,
    service=TEXT,
    text=TEXT,
)
trigger_rule = _table(
    "trigger_rule",
    id=INT,
    release_id=INT,
    name=TEXT,
    when=TEXT,
    description=TEXT,
    services=TEXT,
    states=TEXT,
    keep_firing_for_s=FLOAT,
    no_data=TEXT,
    inconclusive_after=INT,
    dry_run=BOOL,
    error_limit=INT,
)
trigger_state = _table(
    "trigger_state",
    id=INT,
    release_id=INT,
    rule=TEXT,
    service=TEXT,
    state=EnumText(Phase, 16),
    holding=BOOL,
    since=AT,
    fired_at=AT,
    acked_by=TEXT,
    acked_at=AT,
    raised_by=TEXT,
    detail=TEXT,
    streak=INT,
    last_at=AT,
    baseline=FLOAT,
    row_version=INT,
    cleared_since=AT,
    no_data_run=INT,
    error_run=INT,
)
freeze = _table(
    "freeze",
    id=INT,
    release_id=INT,
    position=INT,
    name=TEXT,
    reason=TEXT,
    starts_at=AT,
    ends_at=AT,
    rrule=TEXT,
    duration_s=INT,
)
gate_override = _table(
    "gate_override",
    id=INT,
    release_id=INT,
    target=TEXT,
    reason=TEXT,
    given_by=TEXT,
    at=AT,
    ends_at=AT,
)
hold_release = _table(
    "hold_release", id=INT, release_id=INT, service=TEXT, reason=TEXT, released_by=TEXT, at=AT
)
audit_event = _table(
    "audit_event",
    id=INT,
    at=AT,
    actor=TEXT,
    action=TEXT,
    release_id=INT,
    payload=TEXT,
    prev_hash=TEXT,
    hash=TEXT,
)
audit_head = _table("audit_head", id=INT, last_id=INT, last_hash=TEXT, key_id=TEXT, seal=TEXT)
change = _table("change", id=INT, release_id=INT, at=AT, topics=TEXT)
presence = _table(
    "presence",
    instance=TEXT,
    release_id=INT,
    person=TEXT,
    via=TEXT,
    host=TEXT,
    started_at=AT,
    seen_at=AT,
)
health_sample = _table(
    "health_sample",
    id=INT,
    release_id=INT,
    at=AT,
    ok=BOOL,
    reason=TEXT,
    status_code=INT,
    latency_ms=FLOAT,
    metrics=TEXT,
    service=TEXT,
)
service_health = _table(
    "service_health",
    at=AT,
    ok=BOOL,
    reason=TEXT,
    status_code=INT,
    latency_ms=FLOAT,
    metrics=TEXT,
    release_id=INT,
    service=TEXT,
)
poller_lease = _table(
    "poller_lease", release_id=INT, holder=TEXT, acquired_at=AT, expires_at=AT, last_poll_at=AT
)
notify_destination = _table(
    "notify_destination",
    id=INT,
    release_id=INT,
    position=INT,
    name=TEXT,
    kind=TEXT,
    url_env=TEXT,
    key_env=TEXT,
    events=TEXT,
    ssh_join=TEXT,
)
notify_outbox = _table(
    "notify_outbox",
    id=INT,
    release_id=INT,
    destination=TEXT,
    event=TEXT,
    key=TEXT,
    body=TEXT,
    created_at=AT,
    state=TEXT,
    attempts=INT,
    due_at=AT,
    claimed_by=TEXT,
    sent_at=AT,
    last_status=INT,
    last_error=TEXT,
)
