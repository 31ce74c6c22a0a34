"""Who is in the room right now: a heartbeat row per running instance.

Presence is not release state: it changes every few seconds and means
nothing tomorrow, so it bypasses the command layer and the audit log (SSH
connects and disconnects are audited by the SSH front door instead). A row
not refreshed within `ttl` is someone who left without saying so.
"""

from __future__ import annotations

import socket
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update

from warroom.domain.snapshot import Present
from warroom.store import tables as t

TTL = timedelta(seconds=15)

_row = t.presence.c


def beat(
    conn: Connection,
    *,
    instance: str,
    release_id: int | None,
    person: str,
    via: str,
    now: datetime,
    host: str | None = None,
) -> None:
    """`instance` is here now (in a write transaction: one instance beats from one thread)."""
    seen = conn.execute(
        update(t.presence)
        .where(_row.instance == instance)
        .values(release_id=release_id, seen_at=now)
    )
    if seen.rowcount == 0:
        conn.execute(
            insert(t.presence).values(
                instance=instance,
                release_id=release_id,
                person=person,
                via=via,
                host=host or socket.gethostname(),
                started_at=now,
                seen_at=now,
            )
        )
    # Rows nobody refreshed for a long time are only clutter.
    conn.execute(delete(t.presence).where(_row.seen_at < now - 20 * TTL))


def leave(conn: Connection, instance: str) -> None:
    conn.execute(delete(t.presence).where(_row.instance == instance))


def present(
    conn: Connection, release_id: int | None, now: datetime, ttl: timedelta = TTL
) -> list[Present]:
    """Everyone seen within `ttl`, one entry per person and way in, oldest first."""
    rows = conn.execute(
        select(t.presence)
        .where(_row.release_id == release_id, _row.seen_at >= now - ttl)
        .order_by(_row.started_at)
    ).all()
    seen: dict[tuple[str, str], Present] = {}
    for row in rows:
        seen.setdefault(
            (row.person, row.via), Present(row.person, row.via, row.host, row.started_at)
        )
    return list(seen.values())
