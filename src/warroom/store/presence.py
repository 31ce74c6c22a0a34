"""Who is in the room right now: a heartbeat row per running instance.

Presence is not release state: it changes every few seconds and means
nothing tomorrow, so it bypasses the command layer and the audit log (SSH
connects and disconnects are audited by the SSH front door instead). A row
not refreshed within `ttl` is someone who left without saying so.
"""

from __future__ import annotations

import socket
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, select

from warroom.domain.snapshot import Present
from warroom.store import models as m

TTL = timedelta(seconds=15)


def beat(
    session: Session,
    *,
    instance: str,
    release_id: int | None,
    person: str,
    via: str,
    now: datetime,
    host: str | None = None,
) -> None:
    row = session.get(m.Presence, instance)
    if row is None:
        row = m.Presence(
            instance=instance,
            release_id=release_id,
            person=person,
            via=via,
            host=host or socket.gethostname(),
            started_at=now,
            seen_at=now,
        )
    row.release_id = release_id
    row.seen_at = now
    session.add(row)
    # Rows nobody refreshed for a long time are only clutter.
    session.execute(delete(m.Presence).where(col(m.Presence.seen_at) < now - 20 * TTL))


def leave(session: Session, instance: str) -> None:
    session.execute(delete(m.Presence).where(col(m.Presence.instance) == instance))


def present(
    session: Session, release_id: int | None, now: datetime, ttl: timedelta = TTL
) -> list[Present]:
    """Everyone seen within `ttl`, one entry per person and way in, oldest first."""
    rows = session.exec(
        select(m.Presence)
        .where(m.Presence.release_id == release_id, col(m.Presence.seen_at) >= now - ttl)
        .order_by(col(m.Presence.started_at))
    ).all()
    seen: dict[tuple[str, str], Present] = {}
    for row in rows:
        seen.setdefault(
            (row.person, row.via), Present(row.person, row.via, row.host, row.started_at)
        )
    return list(seen.values())
