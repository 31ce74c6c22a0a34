"""Durations as people write them in plans: `90s`, `10m`, `1h30m`, `500ms`."""

from __future__ import annotations

import re
from datetime import timedelta

from warroom.domain.limits import MAX_DURATION

_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?!s))?(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?$")

ACCEPTED = "a number with a unit h, m, s or ms, combined largest first, like 90s, 10m or 1h30m"


def parse_duration(text: str) -> timedelta:
    """Parse a compact duration of at most MAX_DURATION; raise ValueError
    saying what is accepted."""
    raw = str(text).strip()
    match = _DURATION.fullmatch(raw)
    if not raw or match is None or not any(match.groupdict().values()):
        raise ValueError(f"bad duration {_shown(raw)}: use {ACCEPTED}")
    # Digits are compared as numbers only once they are short enough that
    # int() and timedelta() cannot overflow or refuse them.
    parts = {k: v.lstrip("0") or "0" for k, v in match.groupdict().items() if v}
    too_long = ValueError(
        f"duration {_shown(raw)} is longer than {format_duration(MAX_DURATION)}: "
        "durations in a plan are at most a week"
    )
    if any(len(digits) > 9 for digits in parts.values()):
        raise too_long
    delta = timedelta(
        hours=int(parts.get("h", 0)),
        minutes=int(parts.get("m", 0)),
        seconds=int(parts.get("s", 0)),
        milliseconds=int(parts.get("ms", 0)),
    )
    if delta > MAX_DURATION:
        raise too_long
    return delta


def _shown(raw: str) -> str:
    return repr(raw) if len(raw) <= 40 else repr(raw[:37] + "...")


def format_duration(delta: timedelta) -> str:
    """The inverse of parse_duration for whole seconds: `1h30m`, `2m`, `45s`, `0s`."""
    total = int(abs(delta.total_seconds()))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if seconds or not out:
        out += f"{seconds}s"
    return ("-" if delta.total_seconds() < 0 else "") + out


def format_clock_offset(delta: timedelta) -> str:
    """T± notation used on release day: `T-30m`, `T+1h05m`, `T-0`."""
    seconds = int(delta.total_seconds())
    sign = "+" if seconds > 0 else "-"
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if seconds == 0:
        return "T-0"
    if hours >= 48:  # a release far in the future or long past
        days, hours = divmod(hours, 24)
        return f"T{sign}{days}d{hours:02d}h"
    if hours:
        return f"T{sign}{hours}h{minutes:02d}m"
    if minutes:
        return f"T{sign}{minutes}m" if secs == 0 else f"T{sign}{minutes}m{secs:02d}s"
    return f"T{sign}{secs}s"
