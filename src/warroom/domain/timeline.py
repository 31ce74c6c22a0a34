"""Timeline arithmetic: T±, phases of the day, milestones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from warroom.domain.durations import format_clock_offset

if TYPE_CHECKING:
    from warroom.domain.snapshot import ReleaseSnapshot


class DayPhase(StrEnum):
    BEFORE_GO_NO_GO = "before go/no-go"
    GO_NO_GO = "go/no-go"
    DEPLOY_WINDOW = "deploy window"
    ROLLBACK_WINDOW = "rollback window"
    CLOSED = "closed"
    # Where the day is, once there is a decision (see `day_phase`).
    NO_GO = "NO-GO: nothing deploys"
    WAITING_FOR_WINDOW = "GO: waiting for the window"
    WINDOW_LIFTED = "GO: window lifted"  # before the window, an override lets deploys start
    DEPLOYING = "deploying"
    ROLLING_BACK = "rolling back"
    DONE = "release done"


def t_offset(moment: datetime, window_start: datetime) -> str:
    """`T-30m` before the window opens, `T+1h05m` after."""
    return format_clock_offset(moment - window_start)


def phase(
    now: datetime,
    go_no_go_at: datetime,
    window_start: datetime,
    window_end: datetime,
    rollback_until: datetime,
) -> DayPhase:
    if now < go_no_go_at:
        return DayPhase.BEFORE_GO_NO_GO
    if now < window_start:
        return DayPhase.GO_NO_GO
    if now < window_end:
        return DayPhase.DEPLOY_WINDOW
    if now < rollback_until:
        return DayPhase.ROLLBACK_WINDOW
    return DayPhase.CLOSED


def day_phase(snapshot: ReleaseSnapshot, now: datetime) -> DayPhase:
    """Where the release is, for people: the clock's phase until there is a
    decision, then what the decision and the services say (a GO at 13:35
    is no longer "before go/no-go", and a release whose every service is
    settled is done whatever the clock says)."""
    from warroom.domain.lifecycle import DecisionKind, DeployState

    rel = snapshot.release
    by_clock = phase(now, rel.go_no_go_at, rel.window_start, rel.window_end, rel.rollback_until)
    decision = snapshot.decision
    if decision is None:
        return by_clock
    if decision.kind is DecisionKind.NO_GO:
        return DayPhase.NO_GO
    states = [snapshot.states[name] for name in snapshot.scope]
    if states and all(state.settled for state in states):
        return DayPhase.DONE
    if any(state in {DeployState.FAILED, DeployState.ROLLING_BACK} for state in states):
        return DayPhase.ROLLING_BACK
    if any(state is not DeployState.WAITING for state in states):
        return DayPhase.DEPLOYING
    if now < rel.window_start:
        from warroom.domain import gates

        if gates.lifted(snapshot.overrides, gates.WINDOW, now) is not None:
            return DayPhase.WINDOW_LIFTED
        return DayPhase.WAITING_FOR_WINDOW
    return by_clock


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def zone_name(moment: datetime, zone: str) -> str:
    """What to call `zone` at `moment`: its abbreviation (`CET`, `CEST`, `UTC`)
    where it has a lettered one, else the zone's own name (`Asia/Kolkata`
    rather than `+0530`), so a reader always knows which clock a time is on."""
    abbreviation = local(moment, zone).tzname() or zone
    return abbreviation if abbreviation[:1].isalpha() else zone


def when(moment: datetime, zone: str, fmt: str = "%H:%M", *, label: bool = True) -> str:
    """`moment` on the plan's clock: `15:05 CET` (or `14:05 UTC`).

    Every time shown to people goes through this; `label=False` is for
    columns whose heading already names the zone (see `zone_note`).
    """
    text = local(moment, zone).strftime(fmt)
    return f"{text} {zone_name(moment, zone)}" if label else text


def zone_note(moment: datetime, zone: str) -> str:
    """A heading's note for unlabelled times: `times in CET` ('' for UTC)."""
    return "" if zone == "UTC" else f"times in {zone_name(moment, zone)}"


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
    """`45s`, `12m`, `1h05m` — for "elapsed in state" and "in 5m" columns.

    Seconds only under a minute: a screen that changes every second for no
    decision anyone makes is noise (and costs a repaint a second).
    """
    seconds = int(max(delta.total_seconds(), 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        return f"{hours // 24}d"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


# How many periods of each freeze the day's milestones and bar show.
FREEZE_PERIODS_SHOWN = 20


def milestones(snapshot: ReleaseSnapshot, now: datetime) -> list[Milestone]:
    """The day's fixed points in time order, each marked done when reached:
    the plan's moments, each service's planned start, the freezes that begin
    or end between the go/no-go meeting and the rollback deadline, and when
    each override given ends."""
    from warroom.domain.lifecycle import DeployState

    rel = snapshot.release
    states = snapshot.states
    scope = set(snapshot.scope)
    settled = bool(scope) and all(states[name].settled for name in scope)
    unsettled_rollbacks = any(
        state in {DeployState.FAILED, DeployState.ROLLING_BACK} for state in states.values()
    )
    items = [
        Milestone(rel.go_no_go_at, "go/no-go meeting", snapshot.decision is not None),
        Milestone(rel.window_start, "deploy window opens", now >= rel.window_start),
    ]
    items.extend(
        Milestone(s.planned_start, f"{s.name} starts", s.state is not DeployState.WAITING, s.name)
        for s in snapshot.services
    )
    # A moment on the clock is done only once reached (a release that is
    # settled early does not tick "window closes" at 13:34).
    # (Past its time with services unsettled, it shows late.)
    items.append(
        Milestone(rel.window_end, "deploy window closes", now >= rel.window_end and settled)
    )
    items.append(
        Milestone(
            rel.rollback_until,
            "rollback deadline",
            now >= rel.rollback_until and not unsettled_rollbacks,
        )
    )
    day = (rel.go_no_go_at, rel.rollback_until)
    for freeze in snapshot.freezes:
        for period in freeze.periods(rel.timezone, *day, limit=FREEZE_PERIODS_SHOWN):
            for moment, what in ((period.start, "begins"), (period.end, "ends")):
                if day[0] <= moment <= day[1]:
                    items.append(Milestone(moment, f"freeze {freeze.name} {what}", now >= moment))
    items.extend(
        Milestone(o.until, f"override of {o.subject.removeprefix('the ')} ends", now >= o.until)
        for o in snapshot.overrides
    )
    return sorted(items, key=lambda m: m.at)
