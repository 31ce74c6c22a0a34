"""Injected time.

Everything that needs "now" asks a `Clock`, never `datetime.now()` directly, so
that tests and snapshots run at a fixed instant and the demo can run a
release day that happened in 2024 as if it were happening today.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


@dataclass
class FixedClock:
    """A clock that only moves when told to (tests, snapshots)."""

    instant: datetime

    def __post_init__(self) -> None:
        if self.instant.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware instant")
        self.instant = self.instant.astimezone(UTC)

    def now(self) -> datetime:
        return self.instant

    def advance(self, delta: timedelta) -> None:
        self.instant += delta

    def set(self, instant: datetime) -> None:
        self.instant = instant.astimezone(UTC)


@dataclass
class OffsetClock:
    """Real time, shifted: runs at normal speed from a chosen starting instant."""

    offset: timedelta
    _base: Clock = field(default_factory=SystemClock)

    @classmethod
    def starting_at(cls, instant: datetime) -> OffsetClock:
        return cls(offset=instant.astimezone(UTC) - datetime.now(UTC))

    def now(self) -> datetime:
        return self._base.now() + self.offset


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant; a naive one is refused rather than guessed."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone; add Z or an offset such as +00:00")
    return value.astimezone(UTC)


def clock_from_env() -> Clock:
    """`$WARROOM_NOW` pins the clock (scripts, tests); `$WARROOM_CLOCK_OFFSET`
    (seconds) shifts real time, so that every process of `warroom demo` lives
    on the same rehearsal clock; otherwise real time. ValueError naming the
    variable when one holds something else."""
    from warroom.settings import from_env

    settings = from_env()
    if settings.now:
        try:
            return FixedClock(parse_instant(settings.now))
        except ValueError as exc:
            raise ValueError(f"$WARROOM_NOW: {exc}") from None
    if settings.clock_offset:
        try:
            return OffsetClock(timedelta(seconds=float(settings.clock_offset)))
        except (ValueError, OverflowError):  # not a number; nan; inf or too far for a datetime
            raise ValueError(
                f"$WARROOM_CLOCK_OFFSET must be a number of seconds, not {settings.clock_offset!r}"
            ) from None
    return SystemClock()
