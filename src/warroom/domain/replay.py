"""Where a replay is in the release's record, and how its keys move it.

A `Playhead` is a position in a `History` (domain/record.py): how many of
the record's events had happened (`count`) and the moment on screen
(`moment`). The two are kept apart because events share instants: nine
checklist items ticked in the same second are nine steps, one moment.

- Stepping by events moves `count` by one and puts the moment on that event.
- Jumping by time moves the moment and takes every event up to it.
- Jumping to a mark goes to the next (previous) event that changed a trigger
  (pending, fired, acknowledged, resolved, raised by a lead) or recorded a
  decision: the moments a post-mortem asks about.

The moment stays between the record's first event (the plan loaded) and its
end: the last event, or the moment the replay opened at if that is later (a
replay opened from the live room starts at "now"). A playhead is a value:
each move returns a new one, equal to the old when it cannot move.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property

from warroom.domain.record import DECISION, Event, History
from warroom.domain.snapshot import ReleaseSnapshot


def is_mark(event: Event) -> bool:
    """A trigger changed (any of its transitions) or a decision was recorded."""
    return event.action == DECISION or bool(event.after.get("triggers"))


class Reel:
    """A History with what moving through it needs, worked out once: the
    indices of its marks, and where its record starts and ends."""

    def __init__(self, history: History, opened_at: datetime | None = None) -> None:
        self.history = history
        events = history.events
        self.marks = [index for index, event in enumerate(events) if is_mark(event)]
        first = events[0].at if events else history.base.release.loaded_at
        last = events[-1].at if events else first
        self.start = first
        self.end = max(last, opened_at) if opened_at is not None else last

    def __len__(self) -> int:
        return len(self.history)

    def at(self, moment: datetime | None = None) -> Playhead:
        """The playhead at `moment` (None: the end), kept within the record."""
        when = self.end if moment is None else min(max(moment, self.start), self.end)
        return Playhead(self, self._floor(self.history.count_at(when)), when)

    def _floor(self, count: int) -> int:
        # Before its first event the release did not exist: the load is the floor.
        return max(count, min(1, len(self.history)))


@dataclass(frozen=True)
class Playhead:
    reel: Reel = field(compare=False)
    count: int  # events that had happened (the first `count` of the record)
    moment: datetime

    @property
    def total(self) -> int:
        return len(self.reel)

    @property
    def event(self) -> Event | None:
        """The last event that had happened (None before any)."""
        return self.reel.history.events[self.count - 1] if self.count else None

    @cached_property
    def snapshot(self) -> ReleaseSnapshot:
        """The room at this position (health as recorded: see ReleaseSnapshot.recorded)."""
        return replace(self.reel.history.after(self.count), recorded=True)

    # ---------------------------------------------------------------- moving

    def step(self, events: int) -> Playhead:
        """`events` events on (negative: back), the moment on the event reached;
        stops at the first and the last. Between two events (after a jump by
        time) the first step back lands on the last event that had happened."""
        reel = self.reel
        count = self.count + events
        last = self.event
        if events < 0 and last is not None and self.moment > last.at:
            count += 1
        count = min(max(count, reel._floor(0)), len(reel))
        if count == 0:
            return self
        moved = Playhead(reel, count, reel.history.events[count - 1].at)
        return self if moved == self else moved

    def shift(self, delta: timedelta) -> Playhead:
        """The moment `delta` later (negative: earlier), with every event up to it."""
        moved = self.reel.at(self.moment + delta)
        return self if moved == self else moved

    def to_mark(self, direction: int) -> Playhead:
        """The next (direction > 0) or previous trigger change or decision; itself if none."""
        marks = self.reel.marks
        # Marks are event indices; the last event that had happened is count - 1.
        last = self.count - 1
        if direction > 0:
            at = bisect.bisect_right(marks, last)
            index = marks[at] if at < len(marks) else None
        else:
            at = bisect.bisect_left(marks, last)
            event = self.event
            # Past a mark in time (a jump by time), going back lands on it first.
            passed = event is not None and self.moment > event.at
            if not (passed and at < len(marks) and marks[at] == last):
                at -= 1
            index = marks[at] if at >= 0 else None
        if index is None:
            return self
        return Playhead(self.reel, index + 1, self.reel.history.events[index].at)
