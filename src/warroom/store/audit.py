"""The tamper-evident audit log.

Each event's hash is SHA-256 over its own fields and the previous event's
hash, so changing, removing or reordering any event breaks every hash after
it. `audit_head` names the last event, so cutting events off the end is
noticed too. Appending takes the `audit_head` row lock first, which is also
what serialises writers (see engine.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from warroom.store import models as m

GENESIS_HASH = "0" * 64


def canonical_json(payload: Mapping[str, Any]) -> str:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def event_hash(
    event_id: int,
    at: datetime,
    actor: str,
    action: str,
    release_id: int | None,
    payload: str,
    prev_hash: str,
) -> str:
    stamp = at.astimezone(UTC).isoformat(timespec="microseconds")
    material = "\x1f".join(
        [
            str(event_id),
            stamp,
            actor,
            action,
            "" if release_id is None else str(release_id),
            payload,
            prev_hash,
        ]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def lock_head(session: Session) -> m.AuditHead:
    """Take the chain head for update; every write transaction starts here."""
    head = session.exec(select(m.AuditHead).where(m.AuditHead.id == 1).with_for_update()).first()
    if head is None:
        raise RuntimeError(
            "audit_head row is missing: the database was not created by warroom's migrations"
        )
    return head


def append(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    release_id: int | None,
    payload: Mapping[str, Any],
) -> m.AuditEvent:
    head = lock_head(session)
    event_id = head.last_id + 1
    body = canonical_json(payload)
    digest = event_hash(event_id, at, actor, action, release_id, body, head.last_hash)
    event = m.AuditEvent(
        id=event_id,
        at=at,
        actor=actor,
        action=action,
        release_id=release_id,
        payload=body,
        prev_hash=head.last_hash,
        hash=digest,
    )
    head.last_id = event_id
    head.last_hash = digest
    session.add(event)
    session.add(head)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainProblem:
    event_id: int | None
    message: str


@dataclass(frozen=True)
class ChainReport:
    events: int
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _events(session: Session, batch: int = 2000) -> Iterator[m.AuditEvent]:
    last = 0
    while True:
        rows = session.exec(
            select(m.AuditEvent)
            .where(col(m.AuditEvent.id) > last)
            .order_by(col(m.AuditEvent.id))
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def verify(session: Session) -> ChainReport:
    """Walk the whole chain; report the first event that does not hold up."""
    prev_hash = GENESIS_HASH
    expected_id = 1
    count = 0
    for event in _events(session):
        label = f"audit event #{event.id} ({event.action} by {event.actor} at {event.at:%Y-%m-%d %H:%M:%S}Z)"
        if event.id != expected_id:
            return ChainReport(
                count,
                ChainProblem(
                    expected_id,
                    f"audit event #{expected_id} is missing: the chain jumps to #{event.id}",
                ),
            )
        if event.prev_hash != prev_hash:
            return ChainReport(
                count,
                ChainProblem(
                    event.id,
                    f"{label} does not follow the event before it: an event was removed or replaced",
                ),
            )
        digest = event_hash(
            event.id,
            event.at,
            event.actor,
            event.action,
            event.release_id,
            event.payload,
            event.prev_hash,
        )
        if digest != event.hash:
            return ChainReport(
                count,
                ChainProblem(
                    event.id,
                    f"{label} does not match its hash: it was changed after it was written",
                ),
            )
        prev_hash = event.hash
        expected_id += 1
        count += 1
    head = session.get(m.AuditHead, 1)
    if head is None:
        return ChainReport(count, ChainProblem(None, "the audit head is missing"))
    if head.last_id != count or head.last_hash != prev_hash:
        return ChainReport(
            count,
            ChainProblem(
                count + 1,
                f"the chain ends at #{count} but the head says #{head.last_id}: events were cut off the end",
            ),
        )
    return ChainReport(count, None)
