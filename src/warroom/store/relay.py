"""One read of the room, handed on: what `warroom serve-ssh` sends its sessions' apps.

The server follows the change feed once and reads the snapshot once per
change (ssh/relay.py); each session's app gets what changed over a private
socket instead of reading the database itself. This module is the wire
between them, used on both sides:

- a frame is a 4-byte length and a pickle (both ends are the same program,
  and the server is the apps' parent: nothing untrusted is unpickled; what
  people wrote is still sanitised where it is shown);
- a `Snapshot` frame carries either the whole snapshot or only the fields
  that changed since the one before it (`reload_snapshot` keeps unchanged
  fields as the same objects, so "changed" is an identity test), and of the
  log only the lines appended: a change costs each app a few hundred bytes
  to unpickle, not the whole room;
- a `Failed` frame says the server cannot read the database (the app shows
  "disconnected — retrying" as if its own read had failed).

A delta applies to the snapshot of the frame before it, so a sender may only
drop frames by sending a whole snapshot next (ssh/relay.py's outlets do).
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass, fields, replace
from typing import Any

from warroom.domain.snapshot import LogView, ReleaseSnapshot

HEADER = struct.Struct("!I")
MAX_FRAME = 256 * 1024 * 1024  # a frame longer than this is a broken stream, not a room
# The environment variable that names the socket's file descriptor in a session's app.
FD_ENV = "WARROOM_ROOM_FD"


@dataclass(frozen=True)
class Snapshot:
    """A read of the room: `fields` is every field (whole) or those that changed."""

    revision: int
    topics: frozenset[str] | None  # None: everything may have changed
    whole: bool
    fields: dict[str, Any] | None  # None: no release is loaded
    log_tail: tuple[LogView, ...] | None = None  # a delta's new log lines (log not in fields)
    log_length: int = 0


@dataclass(frozen=True)
class Failed:
    reason: str


Frame = Snapshot | Failed


def encode(frame: Frame) -> bytes:
    body = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> Frame:
    frame = pickle.loads(body)
    if not isinstance(frame, (Snapshot, Failed)):
        raise ValueError(f"not a room frame: {type(frame).__name__}")
    return frame


def whole(snapshot: ReleaseSnapshot | None, revision: int) -> Snapshot:
    """The whole snapshot, for an app that has none yet (or missed some frames)."""
    if snapshot is None:
        return Snapshot(revision, None, True, None)
    return Snapshot(
        revision, None, True, {f.name: getattr(snapshot, f.name) for f in fields(snapshot)}
    )


def delta(
    before: ReleaseSnapshot | None,
    after: ReleaseSnapshot | None,
    revision: int,
    topics: frozenset[str] | None,
) -> Snapshot:
    """What turns `before` into `after`: the fields that are not the same objects."""
    if before is None or after is None or before.release_id != after.release_id:
        frame = whole(after, revision)
        return replace(frame, topics=topics)
    changed = {
        f.name: getattr(after, f.name)
        for f in fields(after)
        if getattr(after, f.name) is not getattr(before, f.name)
    }
    tail: tuple[LogView, ...] | None = None
    log = changed.get("log")
    if log is not None:
        appended = _appended(before.log, log)
        if appended is not None:
            del changed["log"]
            tail = appended
    return Snapshot(revision, topics, False, changed, tail, len(after.log))


def _appended(old: tuple[LogView, ...], new: tuple[LogView, ...]) -> tuple[LogView, ...] | None:
    """The lines `new` adds after `old`'s (None: `new` is not `old` plus lines, trimmed)."""
    last = old[-1].id if old else 0
    added = tuple(line for line in new if line.id > last)
    kept = len(new) - len(added)
    if (
        kept < 0
        or kept > len(old)
        or any(a.id != b.id for a, b in zip(new[:kept], old[len(old) - kept :], strict=True))
    ):
        return None
    return added


def apply(base: ReleaseSnapshot | None, frame: Snapshot) -> ReleaseSnapshot | None:
    """The snapshot `frame` describes, given the one before it (ValueError: it does not apply)."""
    if frame.fields is None:
        return None
    if frame.whole:
        return ReleaseSnapshot(**frame.fields)
    if base is None:
        raise ValueError("a change arrived before the room it changes")
    changes = dict(frame.fields)
    if frame.log_tail is not None:
        log = base.log + frame.log_tail
        changes["log"] = log[len(log) - frame.log_length :] if frame.log_length else ()
    return replace(base, **changes)
