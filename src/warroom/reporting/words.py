"""What the report says, in words: times, durations, the headline lines.

Shared by the Markdown and HTML renderers so they say the same things; each
escapes the words for its format (every string here may hold text people
wrote: names, reasons, rationales).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from warroom.domain.durations import format_duration
from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.report import (
    ON_TIME,
    Report,
    RollbackEntry,
    ServiceEntry,
    Stat,
    Status,
    TriggerEntry,
)
from warroom.domain.timeline import local, zone_name

NONE = "—"  # a value that does not exist (yet)

STATE_WORDS = {
    DeployState.WAITING: "not started",
    DeployState.DEPLOYING: "deploying",
    DeployState.VERIFYING: "verifying",
    DeployState.DONE: "done",
    DeployState.FAILED: "failed",
    DeployState.ROLLING_BACK: "rolling back",
    DeployState.ROLLED_BACK: "rolled back",
}


class Words:
    """Times and durations of one report, on the plan's clock."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.zone = report.release.timezone
        self.tz = ZoneInfo(self.zone)
        self.day = local(report.release.window_start, self.zone).date()

    @property
    def zone_label(self) -> str:
        """What the plan's clock is called on the day (`UTC`, `CET`, `Asia/Kolkata`)."""
        return zone_name(self.report.release.window_start, self.zone)

    def time(self, moment: datetime | None) -> str:
        """`14:35:10` on the plan's clock; the date too when it is not the window's day."""
        if moment is None:
            return NONE
        there = moment.astimezone(self.tz)
        clock = f"{there.hour:02d}:{there.minute:02d}:{there.second:02d}"  # strftime is slower
        return clock if there.date() == self.day else f"{there:%Y-%m-%d} {clock}"

    def short(self, moment: datetime) -> str:
        """`14:00` on the plan's clock (the plan's own times are whole minutes); the
        date too when it is not the window's day."""
        there = local(moment, self.zone)
        clock = there.strftime("%H:%M")
        return clock if there.date() == self.day else f"{there:%Y-%m-%d} {clock}"

    def date_time(self, moment: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A moment with its date and its zone's name: `2024-03-20 14:00 UTC`."""
        return f"{local(moment, self.zone).strftime(fmt)} {zone_name(moment, self.zone)}"

    # ---------------------------------------------------------------- what the report says first

    def status(self) -> tuple[str, str]:
        """Where the release stands: a title (`In progress`) and what it means, as of when."""
        report = self.report
        as_of = f"as of {self.date_time(report.as_of, '%Y-%m-%d %H:%M:%S')}"
        match report.status:
            case Status.NOT_STARTED:
                return "Not started", f"{as_of}: nothing has been decided or deployed yet."
            case Status.NO_GO:
                return "NO-GO", f"{as_of}: nothing was deployed."
            case Status.COMPLETE:
                return "Complete", f"{as_of}: every service the decision let deploy is settled."
        open_ = ", ".join(f"{name} ({STATE_WORDS[state]})" for name, state in report.unsettled)
        return "In progress", f"{as_of}. Not settled yet: {open_ or NONE}."

    def facts(self) -> list[tuple[str, str]]:
        """The release's own facts, label and value."""
        release = self.report.release
        decision = self.report.decisions[-1] if self.report.decisions else None
        in_force = NONE
        if decision is not None:
            scope = f" ({', '.join(decision.subset)})" if decision.subset else ""
            in_force = f"{decision.kind}{scope} by {decision.by} at {self.time(decision.at)}"
        return [
            ("Release manager", release.manager),
            ("Go/no-go meeting", self.date_time(release.go_no_go_at)),
            (
                "Deploy window",
                f"{local(release.window_start, self.zone):%Y-%m-%d} "
                f"{self.short(release.window_start)}–{self.short(release.window_end)} "
                f"{self.zone_label}",
            ),
            ("Rollback window", f"until {self.short(release.rollback_until)} {self.zone_label}"),
            ("Decision in force", in_force),
            ("Loaded", f"by {release.loaded_by} at {self.time(release.loaded_at)}"),
        ]

    def headline(self) -> list[tuple[str, str]]:
        """The headline metrics (defined in the README), label and value."""
        m = self.report.metrics
        total = NONE
        if m.total_duration is not None:
            end = "now" if m.total_so_far else "the last service reached the state it ends in"
            total = (
                f"{duration(m.total_duration)}{' so far' if m.total_so_far else ''} "
                f"({self.time(m.first_start)} first deploy start → {self.time(m.last_final)} {end})"
            )
        to_go = NONE
        go = next((d for d in self.report.decisions if d.kind is not DecisionKind.NO_GO), None)
        if m.time_to_go is not None and go is not None:
            side = "before" if m.time_to_go < timedelta() else "after"
            to_go = (
                f"{duration(abs(m.time_to_go))} {side} the meeting "
                f"({self.time(self.report.release.go_no_go_at)} → {go.kind} at {self.time(go.at)})"
            )
        counts = [
            (m.deployed, "deployed"),
            (m.failed, "failed"),
            (m.rolled_back, "rolled back"),
            (m.in_flight, "in flight"),
            (m.not_started, "not started"),
        ]
        services = f"{m.services}: " + ", ".join(f"{n} {what}" for n, what in counts if n)
        on_time = NONE
        if m.on_time_share is not None:
            on_time = f"{m.on_time} of {m.started} ({m.on_time_share:.0%})"
        deploys = NONE
        d = m.deploys
        if d.count and d.mean is not None and d.mean_expected is not None:
            deploys = (
                f"mean {duration(d.mean)} vs {duration(d.mean_expected)} expected "
                f"({signed(d.mean_overrun)}) over {plural(d.count, 'deploy')}; worst {d.worst} "
                f"{duration(d.worst_duration)} vs {duration(d.worst_expected)} "
                f"({signed(d.worst_overrun)})"
            )
        return [
            ("Total duration", total),
            ("Time to GO", to_go),
            ("Services", services if m.services else NONE),
            (f"Started on time (at most {duration(ON_TIME)} late)", on_time),
            ("Deploy duration vs expected", deploys),
            ("Time to detect", stat(m.detect, "trigger")),
            ("Time to acknowledge", stat(m.acknowledge, "trigger")),
            ("Time to recover (MTTR)", stat(m.recover, "rollback")),
        ]

    # ---------------------------------------------------------------- services

    def start_vs_plan(self, service: ServiceEntry) -> str:
        delay = service.start_delay
        if delay is None:
            return NONE
        if delay > ON_TIME:
            return f"{signed(delay)} late"
        return f"{signed(delay)} (on time)"

    def took(self, service: ServiceEntry) -> str:
        if service.duration is not None:
            return duration(service.duration)
        if service.started_at is None:
            return NONE
        if service.failed_at is not None and service.finished_at is None:
            return f"failed after {duration(service.failed_at - service.started_at)}"
        return f"{duration(self.report.as_of - service.started_at)} so far"

    def story(self, service: ServiceEntry) -> str:
        """One paragraph: planned, started, ended."""
        parts = [
            f"Planned {self.time(service.planned_start)}–{self.time(service.planned_end)} "
            f"({duration(service.expected)})"
        ]
        if service.started_at is None:
            parts.append("not started")
        else:
            parts.append(f"started {self.time(service.started_at)} by {service.started_by}")
        if service.finished_at is not None and service.duration is not None:
            parts.append(
                f"done {self.time(service.finished_at)}: took {duration(service.duration)} "
                f"against {duration(service.expected)} expected ({signed(service.overrun)})"
            )
        if service.failed_at is not None:
            why = f": {service.failed_reason}" if service.failed_reason else ""
            parts.append(f"failed {self.time(service.failed_at)}{why}")
        if service.state not in {DeployState.WAITING, DeployState.DONE, DeployState.FAILED}:
            parts.append(
                f"{STATE_WORDS[service.state]} since {self.time(service.state_since)}"
                + (f" ({service.state_by})" if service.state_by else "")
            )
        return "; ".join(parts) + "."

    def time_in_state(self, service: ServiceEntry) -> str:
        spent = [
            f"{STATE_WORDS[state]} {duration(value)}" for state, value in service.time_in_state
        ]
        return " · ".join(spent) or NONE

    def health(self, service: ServiceEntry) -> str:
        return {
            "passing": "passing",
            "failing": "failing",
            "unknown": "unknown (none recorded)",
        }[service.health]

    # ---------------------------------------------------------------- triggers and rollbacks

    def rule(self, trigger: TriggerEntry) -> str:
        if trigger.lead_call:
            why = f": {trigger.reason}" if trigger.reason else ""
            return f"a lead's call by {trigger.raised_by or NONE}{why}"
        return trigger.when

    def detection(self, trigger: TriggerEntry) -> str:
        if trigger.lead_call:
            return f"{NONE} (a person's call)"
        return duration(trigger.detection)

    def acknowledged(self, trigger: TriggerEntry) -> str:
        if trigger.acked_by is None:
            return NONE
        return f"{trigger.acked_by} at {self.time(trigger.acked_at)}"

    def ended(self, trigger: TriggerEntry) -> str:
        if trigger.ended_at is None:
            return f"still {trigger.ended}"
        return f"{trigger.ended} {self.time(trigger.ended_at)}"

    def recovery(self, rollback: RollbackEntry) -> str:
        if rollback.recovered_at is None or rollback.time_to_recover is None:
            return f"{NONE} (not recovered yet)"
        return (
            f"{duration(rollback.time_to_recover)} ({self.time(rollback.trouble_at)} → "
            f"{self.time(rollback.recovered_at)}: rolled back and health passing)"
        )


def duration(delta: timedelta | None) -> str:
    """`5m20s`; `—` for none."""
    return NONE if delta is None else format_duration(delta)


def signed(delta: timedelta | None) -> str:
    """`+2m`, `-2m`, `0s`: a difference from a plan or an expectation."""
    if delta is None:
        return NONE
    text = format_duration(delta)
    return f"+{text}" if delta > timedelta() else text


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def stat(value: Stat, case: str) -> str:
    if not value.count or value.mean is None:
        return NONE
    return (
        f"mean {duration(value.mean)} over {plural(value.count, case)}; "
        f"worst {duration(value.worst)} ({value.worst_of})"
    )


def names(items: Sequence[str]) -> str:
    return ", ".join(items) or NONE
