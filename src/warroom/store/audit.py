"""The tamper-evident audit log.

Each event's hash covers its own fields and the previous event's hash, so
changing, removing or reordering any event breaks every hash after it. The
hashes are HMAC-SHA256 under a key kept outside the database
(store/auditkey.py), so someone who can write the database but not read the
key cannot recompute the chain after an edit. `audit_head` names the last
event and carries a keyed seal of it, so cutting events off the end and
moving the head back is noticed too. A checkpoint (`warroom audit head`)
kept elsewhere catches what the database alone cannot: a chain rewritten by
someone who has the key, or put back to an older copy.

Appending takes the `audit_head` row lock first, which is also what
serialises writers (see engine.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from warroom.domain.text import safe
from warroom.store import models as m
from warroom.store.auditkey import AuditKey, AuditKeys

GENESIS_HASH = "0" * 64


def canonical_json(payload: Mapping[str, Any]) -> str:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def stamp_of(at: datetime) -> str:
    """A moment as event hashes cover it: UTC ISO 8601 with microseconds.

    `2024-03-20T13:20:00.000000+00:00`: what `audit export` writes as `at`.
    """
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _moment(value: object) -> datetime | None:
    """An event's raw `at` (a datetime, or text on SQLite) in UTC; None if it is not a date."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class _Link:
    """What an event's hash covers: its own fields and the hash of the event before it."""

    id: int
    at: datetime
    actor: str
    action: str
    release_id: int | None
    payload: str
    prev_hash: str

    def material(self) -> bytes:
        return "\x1f".join(
            [
                str(self.id),
                stamp_of(self.at),
                self.actor,
                self.action,
                "" if self.release_id is None else str(self.release_id),
                self.payload,
                self.prev_hash,
            ]
        ).encode("utf-8")


def event_hash(link: _Link, key: AuditKey | None = None) -> str:
    """The event's hash: HMAC under `key` if the key seals it, else plain SHA-256.

    Plain SHA-256 is what events written before the chain had a key carry.
    """
    material = link.material()
    if key is not None and key.seals(link.id):
        return key.mac(material)
    return hashlib.sha256(material).hexdigest()


def head_seal(key: AuditKey, last_id: int, last_hash: str) -> str:
    return key.mac(f"audit_head\x1f{last_id}\x1f{last_hash}".encode())


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
    keys: AuditKeys,
    *,
    at: datetime,
    actor: str,
    action: str,
    release_id: int | None,
    payload: Mapping[str, Any],
) -> m.AuditEvent:
    """Add one event to the chain, sealed with the database's key (made on first use)."""
    head = lock_head(session)
    key = keys.for_writing(head.key_id, head.last_id)
    link = _Link(
        head.last_id + 1, at, actor, action, release_id, canonical_json(payload), head.last_hash
    )
    digest = event_hash(link, key)
    event = m.AuditEvent(**asdict(link), hash=digest)
    head.last_id = link.id
    head.last_hash = digest
    head.key_id = key.key_id
    head.seal = head_seal(key, link.id, digest)
    session.add(event)
    session.add(head)
    session.flush()
    return event


# ---------------------------------------------------------------- checkpoints

_CHECKPOINT = re.compile(r"(\d+):([0-9a-f]{64})")


@dataclass(frozen=True)
class Checkpoint:
    """How long the chain was and the hash of its last event, at some moment."""

    events: int
    hash: str

    def __str__(self) -> str:
        return f"{self.events}:{self.hash}"


def parse_checkpoint(value: str) -> Checkpoint:
    """`N:HASH` as `warroom audit head` prints it; ValueError with a sentence otherwise."""
    match = _CHECKPOINT.fullmatch(value.strip().lower())
    if match is None:
        raise ValueError(
            f"{value!r} is not an audit checkpoint: it looks like 42:<64 hex digits>, "
            "as `warroom audit head` prints it"
        )
    return Checkpoint(int(match.group(1)), match.group(2))


# ---------------------------------------------------------------- verifying


@dataclass(frozen=True)
class ChainProblem:
    event_id: int | None
    message: str


@dataclass(frozen=True)
class ChainReport:
    events: int
    problem: ChainProblem | None
    head: Checkpoint = Checkpoint(0, GENESIS_HASH)  # the last good event
    sealed: bool = False  # some events are sealed with the key (not only plain hashes)

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class _Event(_Link):
    """An event as read back from the database, with the hash it was written with."""

    hash: str

    @property
    def label(self) -> str:
        return (
            f"audit event #{self.id} ({safe(self.action)} by {safe(self.actor)} "
            f"at {self.at:%Y-%m-%d %H:%M:%S}Z)"
        )


_COLUMNS = ("id", "at", "actor", "action", "release_id", "payload", "prev_hash", "hash")
_TEXT_COLUMNS = ("actor", "action", "payload", "prev_hash", "hash")


def _what(value: object) -> str:
    if value is None:
        return "missing (NULL)"
    if isinstance(value, bytes | bytearray | memoryview):
        return "binary data, not text"
    return f"{safe(repr(value)[:60])}, which is not valid"


def _parse(row: tuple[Any, ...]) -> _Event | ChainProblem:
    """One raw row as warroom wrote it, or the sentence that says what is wrong with it."""
    values = dict(zip(_COLUMNS, row, strict=True))
    event_id = values["id"]
    if not isinstance(event_id, int):
        return ChainProblem(None, f"an audit event's id is {_what(event_id)}")

    def bad(column: str) -> ChainProblem:
        return ChainProblem(
            event_id,
            f"audit event #{event_id} is malformed: its {column} is {_what(values[column])}; "
            "it was not written by warroom",
        )

    at = _moment(values["at"])
    if at is None:
        return bad("at")
    for column in _TEXT_COLUMNS:
        if not isinstance(values[column], str):
            return bad(column)
    release_id = values["release_id"]
    if release_id is not None and not isinstance(release_id, int):
        return bad("release_id")
    return _Event(
        event_id,
        at,
        values["actor"],
        values["action"],
        release_id,
        values["payload"],
        values["prev_hash"],
        values["hash"],
    )


def _rows(
    session: Session, batch: int = 2000, *, first: int = 1, last: int | None = None
) -> Iterator[tuple[Any, ...]]:
    """Events `first` to `last` (default: to the end) in id order, read `batch` at a time."""
    # Raw columns, not ORM objects: a row someone else wrote may hold anything
    # (a BLOB, a date that is not one, NULLs) and must be named, not crash.
    bounds: dict[str, Any] = {"n": batch}
    upto = ""
    if last is not None:
        upto, bounds["upto"] = " AND id <= :upto", last
    query = text(
        f"SELECT {', '.join(_COLUMNS)} FROM audit_event WHERE id > :last{upto} ORDER BY id LIMIT :n"
    )
    previous: Any = first - 1
    while True:
        rows = session.execute(query, {**bounds, "last": previous}).all()
        if not rows:
            return
        yield from (tuple(row) for row in rows)
        previous = rows[-1][0]


def verify(session: Session, keys: AuditKeys, checkpoint: Checkpoint | None = None) -> ChainReport:
    """Walk the whole chain; report the first thing that does not hold up.

    With `checkpoint`, also prove that the chain still holds that many events
    and that the last of them is unchanged. Raises AuditKeyError (a
    StoreError) only when the key file exists but cannot be read.
    """
    key = keys.for_reading()
    head = session.execute(
        text("SELECT last_id, last_hash, key_id, seal FROM audit_head WHERE id = 1")
    ).first()
    if head is None:
        return ChainReport(0, ChainProblem(None, "the audit head is missing"))
    last_id, last_hash, key_id, seal = head
    if key is None and key_id is not None:
        return ChainReport(
            0,
            ChainProblem(
                None,
                f"this database's audit chain is sealed with key {safe(str(key_id))}, but there "
                f"is no key file at {keys.path}: copy it from the machine that first wrote the "
                "database, or point $WARROOM_AUDIT_KEY_FILE at it",
            ),
        )
    if key is not None and key_id is not None and key_id != key.key_id:
        return ChainReport(
            0,
            ChainProblem(
                None,
                f"the audit key file {key.path} holds key {key.key_id}, but this database's "
                f"chain is sealed with key {safe(str(key_id))}: verify with this database's "
                "key file ($WARROOM_AUDIT_KEY_FILE)",
            ),
        )

    good = Checkpoint(0, GENESIS_HASH)

    def broken(event_id: int | None, message: str) -> ChainReport:
        return ChainReport(good.events, ChainProblem(event_id, message), good)

    try:
        for row in _rows(session):
            event = _parse(row)
            if isinstance(event, ChainProblem):
                return broken(event.event_id, event.message)
            expected = good.events + 1
            if event.id != expected:
                return broken(
                    expected, f"audit event #{expected} is missing: the chain jumps to #{event.id}"
                )
            if event.prev_hash != good.hash:
                return broken(
                    event.id,
                    f"{event.label} does not follow the event before it: "
                    "an event was removed or replaced",
                )
            digest = event_hash(event, key)
            if digest != event.hash:
                return broken(
                    event.id,
                    f"{event.label} does not match its hash: it was changed after it was "
                    "written, or the chain was recomputed without warroom's key",
                )
            if (
                checkpoint is not None
                and event.id == checkpoint.events
                and digest != checkpoint.hash
            ):
                return broken(
                    event.id,
                    f"{event.label} is not the event checkpoint {checkpoint} names: the chain "
                    "up to the checkpoint was rewritten",
                )
            good = Checkpoint(event.id, digest)
    except DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "error"
        return broken(
            None,
            f"the audit_event table cannot be read as warroom wrote it ({safe(first)}): "
            "it was altered outside warroom",
        )

    count = good.events
    if checkpoint is not None and count < checkpoint.events:
        return broken(
            count + 1,
            f"the chain ends at #{count} but checkpoint {checkpoint} says it reached "
            f"#{checkpoint.events}: events were cut off the end",
        )
    if key is not None and count < key.first_sealed:
        return broken(
            count + 1,
            f"the chain ends at #{count} but its key ({key.path}) was made to seal event "
            f"#{key.first_sealed}: events were cut off the end",
        )
    if last_id != count or last_hash != good.hash:
        return broken(
            count + 1,
            f"the chain ends at #{count} but the head says #{safe(str(last_id))}: "
            "events were cut off the end",
        )
    sealed = key is not None and key.seals(count)
    if sealed and key is not None and seal != head_seal(key, count, good.hash):
        return broken(
            count + 1,
            f"the audit head was moved by something other than warroom (its seal does not "
            f"match): events after #{count} were cut off the end",
        )
    return ChainReport(count, None, good, sealed)
