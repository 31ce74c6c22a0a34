"""The gates a deploy's start passes besides the lifecycle's: the window, freezes, holds.

- **The window.** A deploy starts inside the plan's deploy window, unless
  the release manager has overridden it (`window`).
- **Freezes.** No deploy starts inside a freeze: a one-off period (`start`
  to `end`) or a recurring one (an RFC 5545 RRULE with a `duration`),
  unless the release manager has overridden that freeze by name. A
  recurring freeze is evaluated on the plan's clock: `every Friday from
  16:00` starts at 16:00 local time on both sides of a DST change, and its
  duration is counted on that clock too (from 16:00 for 16h ends at 08:00
  local, whatever the clocks did in between).
- **Overrides** are bounded: each lifts one gate from when it was given
  until its end, and expires by itself (everything compares with now).
- **Holds.** While a trigger on a service is pending or firing (firing
  lasts until acknowledged and cleared) or inconclusive (until the release
  manager answers) — unless it is a dry run, which holds nothing (see
  triggers.holds_back) — and while a service is failed,
  nothing that depends on it may start: the waiting services of its blast
  radius are held. A hold lifts by itself when its cause goes away, or the
  release manager releases a held service: that releases it from every
  cause that had begun by then (a cause that begins later holds it again).

Rollbacks pass none of these gates: a freeze must not trap a bad release.
Everything here is pure; the command layer asks it before a start, and the
read model (snapshot.py) asks the same functions for what the room shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from warroom.domain.durations import format_duration
from warroom.domain.lifecycle import DeployState
from warroom.domain.timeline import humanize, when
from warroom.domain.triggers import GATING, holds_back

if TYPE_CHECKING:
    from dateutil.rrule import rrule

    from warroom.domain.graph import Graph

# The override target that lifts the deploy window (freezes go by their names).
WINDOW = "window"
# How long one override may last: bounded, so that forgetting one cannot
# leave a gate open for the rest of the day. Give another to go on.
MAX_OVERRIDE = timedelta(hours=4)
# Trigger phases that hold a service's dependents (a dry run's never do).
HOLDING_PHASES = frozenset(str(phase) for phase in GATING)

# ---------------------------------------------------------------- recurrence rules

# RFC 5545's FREQ values, coarsest first; a freeze recurs at most hourly.
_FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
_TOO_FINE = {"MINUTELY", "SECONDLY"}
# The parts that pick the days a rule falls on: without one, a WEEKLY,
# MONTHLY or YEARLY rule takes its day from its first occurrence (DTSTART).
_DAY_PARTS = {"BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO"}
_PART = re.compile(r"[A-Z]+=[^;=]*")


def rule_parts(text: str) -> dict[str, str]:
    """An RRULE's parts by name (`FREQ=WEEKLY;BYDAY=FR` → {FREQ: WEEKLY, BYDAY: FR});
    ValueError in a sentence when it is not one line of NAME=VALUE parts."""
    body = text.strip().upper()
    body = body.removeprefix("RRULE:")
    if "\n" in body or "\r" in body:
        raise ValueError("write the rule on one line (the RRULE part only, no DTSTART)")
    if not body:
        raise ValueError("the rule is empty: write one like FREQ=WEEKLY;BYDAY=FR;BYHOUR=16")
    parts: dict[str, str] = {}
    for piece in body.split(";"):
        if not _PART.fullmatch(piece):
            raise ValueError(f"{piece!r} is not a NAME=VALUE part of an RRULE")
        name, _, value = piece.partition("=")
        if name in parts:
            raise ValueError(f"{name} is given twice")
        parts[name] = value
    return parts


def check_rule(text: str, anchored: bool) -> str | None:
    """What is wrong with `text` as a freeze's recurrence rule, or None.

    `anchored`: the freeze gives a `start` (the rule's DTSTART). Without
    one, the rule must not depend on where it starts counting: it names its
    days (BYDAY, BYMONTHDAY, ...) and has no INTERVAL or COUNT.
    """
    try:
        parts = rule_parts(text)
    except ValueError as exc:
        return str(exc)
    if "DTSTART" in parts:
        return "put the first occurrence in the freeze's `start`, not DTSTART in the rule"
    freq = parts.get("FREQ")
    if freq is None:
        return "the rule needs a FREQ, like FREQ=WEEKLY"
    if freq not in _FREQS:
        return f"unknown FREQ {freq!r}: use one of {', '.join(_FREQS[:5])}"
    if freq in _TOO_FINE:
        return f"FREQ={freq} is too fine for a freeze: a freeze recurs at most hourly"
    until = parts.get("UNTIL")
    if until is not None and not until.endswith("Z"):
        return f"UNTIL must be in UTC, like UNTIL={until.rstrip('Z')[:8] or '20241231'}T230000Z"
    # Here, not at the top: dateutil costs ~35 ms, and only plans with
    # freezes need it (every plan check and every snapshot imports this module).
    from dateutil.rrule import rrulestr

    try:
        rrulestr(text.strip(), dtstart=datetime(2024, 1, 1, tzinfo=UTC))
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        return f"not a valid RRULE: {exc}"
    if not anchored:
        counted = [
            part
            for part, present in (
                ("INTERVAL", parts.get("INTERVAL", "1") != "1"),
                ("COUNT", "COUNT" in parts),
            )
            if present
        ]
        if counted:
            what = counted[0]
            return f"a rule with {what} counts from its first occurrence: give the freeze a `start`"
        if freq in {"WEEKLY", "MONTHLY", "YEARLY"} and not _DAY_PARTS & parts.keys():
            return (
                f"say which day a {freq} rule falls on (like BYDAY=FR or BYMONTHDAY=1), "
                "or give the freeze a `start` it counts from"
            )
    return None


# ---------------------------------------------------------------- periods and freezes


@dataclass(frozen=True)
class Period:
    """From `start` (inclusive) to `end` (exclusive), in UTC."""

    start: datetime
    end: datetime

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class Freeze:
    """A named period (or periods) in which no deploy may start.

    One-off: `start` and `end`. Recurring: `rrule` and `duration`, with an
    optional `start` (the rule's DTSTART, on the plan's clock).
    """

    name: str
    reason: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    rrule: str | None = None
    duration: timedelta | None = None

    @property
    def recurring(self) -> bool:
        return self.rrule is not None

    def describe(self) -> str:
        """`freeze 'Black Friday' (peak traffic)`."""
        why = f" ({self.reason})" if self.reason else ""
        return f"freeze {self.name!r}{why}"

    def periods(self, zone: str, start: datetime, end: datetime, limit: int = 500) -> list[Period]:
        """The freeze's periods that overlap [`start`, `end`), at most `limit` of them."""
        return list(_take(self._periods(zone, start, end), limit))

    def at(self, moment: datetime, zone: str) -> Period | None:
        """The period of this freeze in force at `moment`, if any (the one ending last)."""
        found = self.periods(zone, moment, moment + timedelta(microseconds=1))
        return max(found, key=lambda p: p.end) if found else None

    def _periods(self, zone: str, start: datetime, end: datetime) -> Iterator[Period]:
        if self.rrule is None or self.duration is None:
            if self.start is not None and self.end is not None:
                period = Period(self.start, self.end)
                if period.overlaps(start, end):
                    yield period
            return
        tz = ZoneInfo(zone)
        duration = self.duration
        if self.start is not None:
            anchor = self.start.astimezone(tz)
        else:
            # Not anchored: the rule does not depend on where it starts
            # counting (check_rule), so count from a midnight just before
            # anything that could overlap `start`.
            first = (start - duration).astimezone(tz).date() - timedelta(days=1)
            anchor = datetime.combine(first, time(0), tz)
        rule = _rule(self.rrule, anchor)
        for occurrence in rule.xafter(anchor, inc=True):
            # Wall-clock arithmetic: an aware datetime plus a timedelta keeps
            # its zone, so the duration runs on the plan's clock.
            begins = occurrence.astimezone(tz)
            period = Period(_utc(begins), _utc(begins + duration))
            if period.start >= end:
                return
            if period.end > start:
                yield period


def _rule(text: str, anchor: datetime) -> rrule:
    from dateutil.rrule import rrule, rrulestr

    parsed = rrulestr(text.strip(), dtstart=anchor)
    assert isinstance(parsed, rrule), "check_rule admits single rules only"
    return parsed


def _utc(moment: datetime) -> datetime:
    # Through the zone's own offset at that wall time (fold 0: the first of
    # an hour that happens twice; a time in a gap reads with the offset
    # before it, as RFC 5545 says).
    return moment.astimezone(UTC)


def _take(periods: Iterable[Period], limit: int) -> Iterator[Period]:
    for count, period in enumerate(periods):
        if count >= limit:
            return
        yield period


# ---------------------------------------------------------------- overrides


@dataclass(frozen=True)
class Override:
    """The release manager lifted one gate (`window` or a freeze's name) for a while."""

    id: int
    target: str
    reason: str
    by: str
    at: datetime
    until: datetime

    def active(self, now: datetime) -> bool:
        return self.at <= now < self.until

    @property
    def subject(self) -> str:
        """What it lifts, in words: `the deploy window`, `freeze 'Black Friday'`."""
        return "the deploy window" if self.target == WINDOW else f"freeze {self.target!r}"


def lifted(overrides: Iterable[Override], target: str, now: datetime) -> Override | None:
    """The override of `target` in force at `now` that lasts longest, if any."""
    live = [o for o in overrides if o.target == target and o.active(now)]
    return max(live, key=lambda o: o.until) if live else None


def parse_override_duration(text: str) -> timedelta:
    """How long an override lasts (`15m`, `1h`): more than zero, at most MAX_OVERRIDE;
    ValueError in a sentence otherwise."""
    from warroom.domain.durations import parse_duration

    delta = parse_duration(text)
    if delta <= timedelta(0):
        raise ValueError(f"an override lasts more than zero, not {text!r}")
    if delta > MAX_OVERRIDE:
        raise ValueError(
            f"an override lasts at most {format_duration(MAX_OVERRIDE)}, not {text.strip()}: "
            "give another when it ends"
        )
    return delta


# ---------------------------------------------------------------- the window and freezes


def _moment(moment: datetime, now: datetime, zone: str) -> str:
    """`14:00 UTC` today (on the plan's clock), else `Fri 22 Mar 16:00 CET`."""
    same_day = moment.astimezone(ZoneInfo(zone)).date() == now.astimezone(ZoneInfo(zone)).date()
    return when(moment, zone, "%H:%M" if same_day else "%a %d %b %H:%M")


def window_refusal(
    service: str,
    now: datetime,
    window: Period,
    zone: str,
    overrides: Sequence[Override] = (),
) -> str | None:
    """Why `service` may not start at `now` for the deploy window, or None."""
    if window.holds(now) or lifted(overrides, WINDOW, now) is not None:
        return None
    fix = "the release manager may override the window (warroom override window)"
    if now < window.start:
        return (
            f"{service} cannot start before the deploy window: it opens at "
            f"{_moment(window.start, now, zone)} (in {humanize(window.start - now)}); {fix}"
        )
    return (
        f"{service} cannot start: the deploy window closed at "
        f"{_moment(window.end, now, zone)}; {fix}"
    )


def freezes_at(freezes: Iterable[Freeze], now: datetime, zone: str) -> list[tuple[Freeze, Period]]:
    """The freezes in force at `now`, each with its period, in plan order."""
    found: list[tuple[Freeze, Period]] = []
    for freeze in freezes:
        period = freeze.at(now, zone)
        if period is not None:
            found.append((freeze, period))
    return found


def freeze_refusal(
    service: str,
    now: datetime,
    freezes: Sequence[Freeze],
    zone: str,
    overrides: Sequence[Override] = (),
) -> str | None:
    """Why `service` may not start at `now` for a freeze (the first not overridden), or None."""
    for freeze, period in freezes_at(freezes, now, zone):
        if lifted(overrides, freeze.name, now) is None:
            return (
                f"{service} cannot start during {freeze.describe()}: it lasts until "
                f"{_moment(period.end, now, zone)}; the release manager may override it "
                f"(warroom override {_quoted(freeze.name)})"
            )
    return None


def _quoted(name: str) -> str:
    return name if re.fullmatch(r"[\w.-]+", name) else f'"{name}"'


def blocks_within(
    target: str,
    start: datetime,
    end: datetime,
    window: Period,
    freezes: Sequence[Freeze],
    zone: str,
) -> bool:
    """Whether `target` (`window` or a freeze's name) keeps starts out at any
    moment of [`start`, `end`): whether an override of it there would change anything."""
    if target == WINDOW:
        return start < window.start or end > window.end
    freeze = next((f for f in freezes if f.name == target), None)
    return freeze is not None and bool(freeze.periods(zone, start, end, limit=1))


def find_target(text: str, freezes: Sequence[Freeze]) -> str | None:
    """The override target `text` names (`window`, or a freeze by name, any case), or None."""
    wanted = " ".join(text.split()).casefold()
    if wanted == WINDOW:
        return WINDOW
    return next((f.name for f in freezes if f.name.casefold() == wanted), None)


# ---------------------------------------------------------------- holds


@dataclass(frozen=True)
class Cause:
    """Something upstream that holds its dependents: a trigger, or a failed service."""

    service: str  # where it is
    what: str  # `error-rate@user-service` (a trigger's id), or the failed service's name
    phase: str  # pending / firing / failed
    since: datetime | None  # when it began (a release given later does not cover it)

    @property
    def failed(self) -> bool:
        return self.phase == "failed"

    def describe(self) -> str:
        """`error-rate@user-service (pending)`, `user-service (failed)`."""
        return f"{self.what} ({self.phase})"


@dataclass(frozen=True)
class TriggerFact:
    """What holding needs to know of a trigger."""

    id: str
    service: str
    phase: str
    since: datetime | None
    dry_run: bool = False  # a rule on trial holds nothing


@dataclass(frozen=True)
class HoldRelease:
    """The release manager let `service` start despite what held it at `at`."""

    id: int
    service: str
    reason: str
    by: str
    at: datetime

    def covers(self, cause: Cause) -> bool:
        return cause.since is None or cause.since <= self.at


@dataclass(frozen=True)
class Hold:
    """`service` may not start: `causes` hold it, first the nearest."""

    service: str
    causes: tuple[Cause, ...] = field(default=())

    def describe(self) -> str:
        """`error-rate@user-service (pending)` — what holds it, in words."""
        return ", ".join(c.describe() for c in self.causes)

    def refusal(self) -> str:
        return (
            f"{self.service} cannot start: it is held by {self.describe()} upstream; "
            "it starts once that resolves, or the release manager releases the hold "
            f"(warroom hold release {self.service})"
        )


def causes(
    states: Mapping[str, DeployState],
    since: Mapping[str, datetime],
    triggers: Iterable[TriggerFact],
) -> list[Cause]:
    """Every cause of a hold in the room: failed services (in `states`'
    order), then triggers that hold back their dependents (pending, firing,
    inconclusive; never a dry run)."""
    found = [
        Cause(name, name, "failed", since.get(name))
        for name, state in states.items()
        if state is DeployState.FAILED
    ]
    found.extend(
        Cause(t.service, t.id, t.phase, t.since)
        for t in triggers
        if holds_back(t.phase, dry_run=t.dry_run)
    )
    return found


def holds(
    graph: Graph,
    states: Mapping[str, DeployState],
    found: Sequence[Cause],
    releases: Iterable[HoldRelease] = (),
) -> dict[str, Hold]:
    """Which waiting services are held, and by what: one pure function for the
    start gate (commands) and for what the room shows (snapshot).

    A waiting service in the blast radius of a cause is held by it, unless
    the release manager released that service after the cause began.
    """
    from warroom.domain import graph as g

    released: dict[str, list[HoldRelease]] = {}
    for release in releases:
        released.setdefault(release.service, []).append(release)
    held: dict[str, list[Cause]] = {}
    for cause in found:
        if cause.service not in graph:
            continue
        for name in g.blast_radius(graph, cause.service):
            if states.get(name, DeployState.WAITING) is not DeployState.WAITING:
                continue
            if any(r.covers(cause) for r in released.get(name, ())):
                continue
            held.setdefault(name, []).append(cause)
    order = list(states)
    return {
        name: Hold(name, tuple(held[name]))
        for name in sorted(held, key=lambda n: order.index(n) if n in order else len(order))
    }
