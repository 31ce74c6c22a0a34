"""The audit chain written out for auditors, to be re-verified outside warroom.

Each event goes out with exactly what its hash covers, in the form the hash
covers it: `at` as `stamp_of` writes it (UTC, microseconds, `+00:00`),
the payload as the stored string (the hash covers those bytes, not the JSON
they encode), `release_id` an integer or null. With those fields, the event's
hash and the key file, anyone can recompute the chain with the standard
library alone (README: "Verifying an export without warroom").

An export is always one unbroken run of the chain, so each event's
`prev_hash` is the hash of the line before it; only the first line links to
an event outside the file (the genesis hash, 64 zeros, for a full export).

Callers verify the chain first and export in the same snapshot
(`Store.snapshot()`), so what is written is what was verified.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from warroom.store import models as m
from warroom.store.audit import _moment, _rows, stamp_of

FORMATS = ("jsonl", "csv")
FIELDS = ("id", "at", "actor", "action", "release_id", "payload", "prev_hash", "hash")


def span(
    session: Session, through: int, since: datetime | None = None, until: datetime | None = None
) -> range:
    """The ids to export, out of the verified events 1 to `through`.

    Without bounds, all of them. With `since` and/or `until` (both inclusive),
    the shortest unbroken run of the chain holding every event stamped in
    that interval: events are stamped by their writers' clocks, which may
    disagree a little, so an event stamped just outside the interval can sit
    between two inside it and is exported too, keeping the chain whole.
    """
    if since is None and until is None:
        return range(1, through + 1)
    event_id, at = col(m.AuditEvent.id), col(m.AuditEvent.at)
    query = select(func.min(event_id), func.max(event_id)).where(event_id <= through)
    if since is not None:
        query = query.where(at >= since)
    if until is not None:
        query = query.where(at <= until)
    low, high = session.execute(query).one()
    if not (isinstance(low, int) and isinstance(high, int)):  # no event in the interval
        return range(1, 1)
    return range(low, high + 1)


def records(session: Session, ids: range, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """The events `ids` as an auditor re-verifies them, read `batch` at a time.

    Only for a chain verify() found sound in this same snapshot: the rows are
    taken as warroom wrote them, and only `at` is converted (to the stamp
    the hash covers).
    """
    if not ids:
        return
    for event_id, at, actor, action, release_id, payload, prev_hash, digest in _rows(
        session, batch, first=ids.start, last=ids.stop - 1
    ):
        moment = _moment(at)
        if moment is None:
            raise RuntimeError(f"audit event #{event_id} is malformed: export verified chains only")
        yield {
            "id": event_id,
            "at": stamp_of(moment),
            "actor": actor,
            "action": action,
            "release_id": release_id,
            "payload": payload,
            "prev_hash": prev_hash,
            "hash": digest,
        }


def write(events: Iterable[dict[str, Any]], out: IO[str], fmt: str) -> int:
    """Write `events` to `out` (opened with newline="") as JSON lines or CSV; how many."""
    count = 0
    if fmt == "csv":
        # csv's own quoting; None (no release) is written as an empty field.
        writer = csv.writer(out)
        writer.writerow(FIELDS)
        for event in events:
            writer.writerow([event[name] for name in FIELDS])
            count += 1
        return count
    if fmt != "jsonl":
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    # Non-ASCII stays as it is (UTF-8): every string of a verified chain encodes.
    encode = json.JSONEncoder(ensure_ascii=False).encode
    for event in events:
        out.write(encode(event) + "\n")
        count += 1
    return count


@contextmanager
def replacing(path: Path) -> Iterator[IO[str]]:
    """A text file (UTF-8, newline="") that becomes `path` whole when the block ends.

    Written to a temporary file beside `path`, flushed to disk, then renamed
    over it; if the block raises, the temporary file goes and `path` is left
    as it was. The file is private to its owner (0600), like the database.
    """
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
