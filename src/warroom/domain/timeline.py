"""Timeline arithmetic: T±, phases of the day, milestones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from warroom.domain.durations import format_clock_offset


class Phase(StrEnum):
    BEFORE_GO_NO_GO = "before go/no-go"
    GO_NO_GO = "go/no-go"
    DEPLOY_WINDOW = "deploy window"
    ROLLBACK_WINDOW = "rollback window"
    CLOSED = "closed"


def t_offset(moment: datetime, window_start: datetime) -> str:
    """`T-30m` before the window opens, `T+1h05m` after."""
    return format_clock_offset(moment - window_start)


def phase(
    now: datetime,
    go_no_go_at: datetime,
    window_start: datetime,
    window_end: datetime,
    rollback_until: datetime,
) -> Phase:
    if now < go_no_go_at:
        return Phase.BEFORE_GO_NO_GO
    if now < window_start:
        return Phase.GO_NO_GO
    if now < window_end:
        return Phase.DEPLOY_WINDOW
    if now < rollback_until:
        return Phase.ROLLBACK_WINDOW
    return Phase.CLOSED


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


@dataclass(frozen=True)
class Milestone:
    at: datetime
    label: str
    done: bool
    service: str | None = None

    def late(self, now: datetime) -> bool:
        """Past its time and not done."""
        return not self.done and now > self.at


def humanize(delta: timedelta) -> str:
    """`3m`, `1h12m`, `45s` — for "elapsed in state" columns."""
    seconds = int(max(delta.total_seconds(), 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s" if minutes < 10 else f"{minutes}m"
    return f"{secs}s"
