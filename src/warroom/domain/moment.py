"""A moment of release day as people write it (`warroom replay --at`).

Three forms, the ones people already read on screen:

- an ISO 8601 instant with its offset: `2024-03-20T14:37:00Z`, `2024-03-20T15:37+01:00`;
- a time of day, `HH:MM[:SS]`, on the release's day (the day its window opens)
  in the plan's time zone — what the header and the log show: `14:37`, `14:37:05`;
- an offset from the window's start, as the countdown shows it: `T-30m`,
  `T+1h05m`, `T+37m05s`, `T-0`.

`parse_moment` checks the form alone (no release needed, so a typo is a usage
error before anything is read); `Moment.resolve` places it on a release's clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

ACCEPTED = (
    "an ISO 8601 time with its offset (2024-03-20T14:37:00Z), "
    "a time of day HH:MM[:SS] on the release's day in the plan's time zone (14:37), "
    "or an offset from the window's start like the countdown's (T-30m, T+1h05m)"
)

_CLOCK = re.compile(r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?")
_OFFSET = re.compile(
    r"T\s*(?P<sign>[+-])\s*(?:(?P<d>\d{1,4})d)?(?:(?P<h>\d{1,5})h)?"
    r"(?:(?P<m>\d{1,6})m)?(?:(?P<s>\d{1,7})s)?"
)
_ZERO = re.compile(r"T\s*[+-]?\s*0")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ].+")


@dataclass(frozen=True)
class Moment:
    """A moment as written: exactly one of `instant`, `clock` or `offset` is set."""

    text: str
    instant: datetime | None = None  # UTC
    clock: time | None = None  # on the release's day, in the plan's zone
    offset: timedelta | None = None  # from the window's start

    def resolve(self, window_start: datetime, zone: str) -> datetime:
        """The moment in UTC, on the clock of a release whose window opens at
        `window_start` and whose plan shows times in `zone`."""
        if self.instant is not None:
            return self.instant
        if self.offset is not None:
            return window_start + self.offset
        assert self.clock is not None
        tz = ZoneInfo(zone)
        day = window_start.astimezone(tz).date()
        return datetime.combine(day, self.clock, tzinfo=tz).astimezone(UTC)


def parse_moment(text: str) -> Moment:
    """`text` as one of the accepted forms; ValueError in one sentence saying them."""
    raw = str(text).strip()
    if _ZERO.fullmatch(raw):
        return Moment(raw, offset=timedelta(0))
    if (offset := _OFFSET.fullmatch(raw)) is not None and any(
        offset.group(unit) for unit in "dhms"
    ):
        parts = {unit: int(offset.group(unit) or 0) for unit in "dhms"}
        delta = timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
        return Moment(raw, offset=-delta if offset.group("sign") == "-" else delta)
    if (clock := _CLOCK.fullmatch(raw)) is not None:
        hour, minute, second = (int(clock.group(part) or 0) for part in "hms")
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"{_shown(raw)} is not a time of day: use {ACCEPTED}")
        return Moment(raw, clock=time(hour, minute, second))
    if _ISO.fullmatch(raw):
        try:
            instant = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(
                f"{_shown(raw)} is not a valid ISO 8601 time: use {ACCEPTED}"
            ) from None
        if instant.tzinfo is None:
            raise ValueError(
                f"{_shown(raw)} has no time zone: add Z or an offset such as +01:00, "
                "or give HH:MM for the plan's own time zone"
            )
        return Moment(raw, instant=instant.astimezone(UTC))
    raise ValueError(f"{_shown(raw)} is not a moment: use {ACCEPTED}")


def _shown(raw: str) -> str:
    return repr(raw) if len(raw) <= 40 else repr(raw[:37] + "...")
