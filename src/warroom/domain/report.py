"""The post-release report: the release's record, measured. Pure.

Everything here is computed from a `History` (domain/record.py): the plan as
loaded, the audit events with the images of what each changed, and the
communication log. Nothing is typed in. `build_report(history, now)` folds the
events once, in chain order, and returns a `Report` of plain frozen data that
the renderers (warroom.reporting) turn into Markdown, HTML or JSON.

The headline metrics are defined in the README ("The post-release report");
the definitions live here, next to the arithmetic, so they read the same:

- total duration: the first deploy start → the moment the last service that
  started reached the state it ends in (done, failed, rolled back); while one
  is still deploying, verifying or rolling back it runs to `as_of`, "so far";
- time to GO: the plan's go/no-go time → the first GO or PARTIAL decision
  (negative when decided before the meeting);
- services deployed / failed / rolled back: by the state each ends in;
- started on time: a service that started at most ON_TIME after its planned
  start (early counts as on time), over the services that started;
- deploy duration vs expected: first step (deploy start) → done, over the
  services whose deploy reached done (even if rolled back later); the worst
  is the largest overrun (duration - expected);
- time to detect: fired - the condition's start (the rule's pending `since`),
  over the rule triggers that fired (a lead's call is a person's detection:
  it has no measured condition start);
- time to acknowledge: acknowledged - fired, over every fired trigger that
  was acknowledged, lead's calls included;
- time to recover (MTTR is its mean): from the trouble that led to a rollback
  (the trigger firing on the service or on one it depends on when the
  rollback was ordered; else the deploy failing; else the order) → every
  service of the rollback rolled back and its health passing again (its
  first passing health turn at or after it rolled back; a service with no
  health recorded counts as recovered when rolled back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.record import History
from warroom.domain.report_fold import Fold, Group
from warroom.domain.snapshot import DecisionView, ItemView, ReleaseView
from warroom.domain.timeline import t_offset
from warroom.domain.triggers import LEAD_CALL

SCHEMA = 1  # the JSON shape's version (warroom/reporting/report.schema.json)

ON_TIME = timedelta(minutes=5)
"""A service started on time if it started at most this long after its planned start."""

# States whose time is not counted: before the deploy, and where a service rests.
_UNTIMED = {DeployState.WAITING, DeployState.DONE, DeployState.ROLLED_BACK}
_IN_FLIGHT = {DeployState.DEPLOYING, DeployState.VERIFYING, DeployState.ROLLING_BACK}


class Status(StrEnum):
    NOT_STARTED = "not started"  # no decision, nothing deployed
    IN_PROGRESS = "in progress"
    COMPLETE = "complete"  # a decision, and every service it let deploy is settled
    NO_GO = "no-go"  # NO-GO, and nothing was started


_Time = TypeVar("_Time", datetime, timedelta)


def _minus(later: _Time | None, earlier: _Time | None) -> timedelta | None:
    """`later - earlier`, or None when either is not known (yet)."""
    return None if later is None or earlier is None else later - earlier


# ---------------------------------------------------------------- the report's parts


@dataclass(frozen=True)
class DecisionEntry:
    kind: DecisionKind
    subset: tuple[str, ...]
    rationale: str
    by: str
    at: datetime
    until: datetime | None  # when the next decision replaced it (None: still in force)


@dataclass(frozen=True)
class ItemEntry:
    key: str
    text: str
    team: str | None
    done_at: datetime | None
    done_by: str | None


@dataclass(frozen=True)
class TeamEntry:
    team: str
    items: tuple[ItemEntry, ...]
    ready_at: datetime | None  # when it last became READY (None: BLOCKED now)


@dataclass(frozen=True)
class StepEntry:
    position: int
    text: str
    done_at: datetime | None
    done_by: str | None


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    team: str
    owner: str | None
    version: str
    previous_version: str | None
    depends_on: tuple[str, ...]
    wave: int
    expected: timedelta
    planned_start: datetime
    planned_end: datetime
    started_at: datetime | None
    started_by: str | None
    finished_at: datetime | None  # last reached done
    failed_at: datetime | None
    failed_reason: str | None
    state: DeployState  # the state it ends in
    state_since: datetime
    state_by: str | None
    # Time in each state it left (and in the one it is in, unless it rests
    # there: done, rolled back), in lifecycle order; waiting is not counted.
    time_in_state: tuple[tuple[DeployState, timedelta], ...]
    steps: tuple[StepEntry, ...]
    health: str  # its last recorded health: "passing", "failing" or "unknown"

    @property
    def start_delay(self) -> timedelta | None:
        """Actual start - planned start (negative: early)."""
        return _minus(self.started_at, self.planned_start)

    @property
    def on_time(self) -> bool | None:
        delay = self.start_delay
        return None if delay is None else delay <= ON_TIME

    @property
    def duration(self) -> timedelta | None:
        """Deploy start → done (None: it never reached done)."""
        return _minus(self.finished_at, self.started_at)

    @property
    def overrun(self) -> timedelta | None:
        return _minus(self.duration, self.expected)


@dataclass(frozen=True)
class TriggerEntry:
    """One episode of a trigger: from going pending (or being raised) until it ended."""

    rule: str
    service: str
    when: str  # the rule's condition, or "a lead's call"
    raised_by: str | None  # a lead's call: who raised it
    reason: str | None  # a lead's call: why
    pending_at: datetime | None  # when it went pending (None: it fired at once)
    condition_since: datetime | None  # when its condition started holding
    fired_at: datetime | None
    acked_by: str | None
    acked_at: datetime | None
    ended_at: datetime | None  # resolved, cleared before firing, or carried on (None: still on)
    # "resolved", "cleared before firing", "carried on" (an inconclusive rule
    # the release manager answered so), or still "pending", "firing" or "inconclusive"
    ended: str

    @property
    def id(self) -> str:
        return f"{self.rule}@{self.service}"

    @property
    def lead_call(self) -> bool:
        return self.rule == LEAD_CALL

    @property
    def detection(self) -> timedelta | None:
        """Fired - condition start: rules only (a lead's call is a person's detection)."""
        return None if self.lead_call else _minus(self.fired_at, self.condition_since)

    @property
    def to_acknowledge(self) -> timedelta | None:
        return _minus(self.acked_at, self.fired_at)


@dataclass(frozen=True)
class RollbackStep:
    """One service of a rollback."""

    service: str
    ordered_at: datetime
    ordered_by: str
    reason: str
    rolled_back_at: datetime | None
    rolled_back_by: str | None
    healthy_at: datetime | None  # its health passing again at or after it rolled back
    health_known: bool  # False: no health was recorded for it (recovered when rolled back)


@dataclass(frozen=True)
class RollbackEntry:
    """A rollback: one service and, dependents first, what depends on it."""

    service: str  # the root of the subgraph
    cause: str | None  # the trigger that was firing when it was ordered
    trouble: str  # what started the recovery clock, for people
    trouble_at: datetime
    subgraph: tuple[str, ...]  # the root and every dependent, in rollback order
    plan: tuple[str, ...]  # those that had anything to undo, in rollback order
    steps: tuple[RollbackStep, ...]  # in the order they were ordered
    recovered_at: datetime | None

    @property
    def ordered_at(self) -> datetime:
        return self.steps[0].ordered_at

    @property
    def ordered_by(self) -> str:
        return self.steps[0].ordered_by

    @property
    def time_to_recover(self) -> timedelta | None:
        return _minus(self.recovered_at, self.trouble_at)


@dataclass(frozen=True)
class Stat:
    """A measure over several cases: how many, their mean and the worst."""

    count: int = 0
    mean: timedelta | None = None
    worst: timedelta | None = None
    worst_of: str | None = None  # which case was worst

    @classmethod
    def of(cls, cases: Sequence[tuple[str, timedelta]]) -> Stat:
        if not cases:
            return cls()
        total = sum((value for _, value in cases), timedelta())
        # The first of equals (plan or time order) is the worst.
        name, worst = max(cases, key=lambda case: case[1])
        return cls(len(cases), total / len(cases), worst, name)


@dataclass(frozen=True)
class DeployDurations:
    """Deploy duration vs expected, over the deploys that reached done."""

    count: int = 0
    mean: timedelta | None = None
    mean_expected: timedelta | None = None
    worst: str | None = None  # the service with the largest overrun
    worst_duration: timedelta | None = None
    worst_expected: timedelta | None = None

    @property
    def mean_overrun(self) -> timedelta | None:
        return _minus(self.mean, self.mean_expected)

    @property
    def worst_overrun(self) -> timedelta | None:
        return _minus(self.worst_duration, self.worst_expected)


@dataclass(frozen=True)
class Metrics:
    first_start: datetime | None
    last_final: datetime | None  # the end of the total duration (as_of while so far)
    total_so_far: bool  # a service is still deploying, verifying or rolling back
    time_to_go: timedelta | None
    services: int
    deployed: int  # ends done
    failed: int  # ends failed
    rolled_back: int  # ends rolled back
    in_flight: int  # deploying, verifying or rolling back
    not_started: int  # still waiting
    started: int
    on_time: int
    deploys: DeployDurations
    detect: Stat
    acknowledge: Stat
    recover: Stat

    @property
    def total_duration(self) -> timedelta | None:
        return _minus(self.last_final, self.first_start)

    @property
    def on_time_share(self) -> float | None:
        return None if not self.started else self.on_time / self.started


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    t: str  # T± from the window's start
    kind: str  # "message" or "system"
    author: str
    text: str


@dataclass(frozen=True)
class Report:
    release: ReleaseView
    as_of: datetime
    status: Status
    unsettled: tuple[tuple[str, DeployState], ...]  # what keeps it in progress
    decisions: tuple[DecisionEntry, ...]
    go_no_go: tuple[ItemEntry, ...]
    go_no_go_done_at: datetime | None  # when the list was last complete (None: open)
    teams: tuple[TeamEntry, ...]
    services: tuple[ServiceEntry, ...]  # in deploy order
    triggers: tuple[TriggerEntry, ...]  # every episode that went pending or fired, in time order
    rollbacks: tuple[RollbackEntry, ...]
    metrics: Metrics
    log: tuple[LogEntry, ...]
    events: int  # how many audit events the report was computed from

    @property
    def nothing_happened(self) -> bool:
        return (
            not self.decisions
            and all(s.started_at is None for s in self.services)
            and not self.triggers
        )


# ---------------------------------------------------------------- the report


def build_report(history: History, now: datetime) -> Report:
    """The report of the release `history` records, as of `now` (or of its
    last event, if that is later). Never raises on a release where nothing
    happened yet: the parts that need events are empty and the metrics None.
    """
    base = history.base
    final = history.after(len(history))
    events = history.events
    as_of = max(now, events[-1].at) if events else now
    fold = Fold(history)
    fold.run(events)

    by_name = {s.name: s for s in final.services}
    order = final.deploy_order
    services: list[ServiceEntry] = []
    for name in order:
        view = by_name[name]
        folded = fold.services[name]
        times = dict(folded.times)
        if folded.state not in _UNTIMED:
            times[folded.state] = times.get(folded.state, timedelta()) + max(
                as_of - folded.since, timedelta()
            )
        turns = fold.health.get(name)
        services.append(
            ServiceEntry(
                name=name,
                team=view.team,
                owner=view.owner,
                version=view.version,
                previous_version=view.previous_version,
                depends_on=view.depends_on,
                wave=view.wave,
                expected=view.expected_duration,
                planned_start=view.planned_start,
                planned_end=view.planned_end,
                started_at=folded.started_at,
                started_by=folded.started_by,
                finished_at=folded.finished_at,
                failed_at=folded.failed_at,
                failed_reason=folded.failed_reason,
                state=view.state,
                state_since=view.state_since,
                state_by=view.state_by,
                time_in_state=tuple(
                    (state, times[state]) for state in DeployState if state in times
                ),
                steps=tuple(
                    StepEntry(step.position, step.text, step.done_at, step.done_by)
                    for step in view.steps
                ),
                health="unknown" if not turns else ("passing" if turns[-1][1] else "failing"),
            )
        )

    decisions = tuple(
        DecisionEntry(
            d.kind,
            d.subset,
            d.rationale,
            d.by,
            d.at,
            final.decisions[i + 1].at if i + 1 < len(final.decisions) else None,
        )
        for i, d in enumerate(final.decisions)
    )

    def item(view: ItemView) -> ItemEntry:
        return ItemEntry(view.key, view.text, view.team, view.done_at, view.done_by)

    teams = tuple(
        TeamEntry(
            team,
            tuple(item(i) for i in final.readiness.get(team, ())),
            fold.ready_at.get(team, base.release.loaded_at),
        )
        for team in final.teams
    )
    when = {t.rule: t.when for t in base.triggers}
    triggers = tuple(
        TriggerEntry(
            e.rule,
            e.service,
            when.get(e.rule, "a lead's call"),
            e.raised_by,
            e.reason,
            e.pending_at,
            e.since,
            e.fired_at,
            e.acked_by,
            e.acked_at,
            e.ended_at,
            e.ended,
        )
        for e in fold.episodes
    )
    rollbacks = tuple(_rollback(fold, r) for r in fold.rollbacks)
    status, unsettled = _status(final.decisions[-1] if final.decisions else None, services)
    return Report(
        release=base.release,
        as_of=as_of,
        status=status,
        unsettled=unsettled,
        decisions=decisions,
        go_no_go=tuple(item(i) for i in final.go_no_go),
        go_no_go_done_at=fold.ready_at.get(None) if final.go_no_go else None,
        teams=teams,
        services=tuple(services),
        triggers=triggers,
        rollbacks=rollbacks,
        metrics=_metrics(base.release, as_of, decisions, services, triggers, rollbacks),
        log=tuple(
            LogEntry(
                line.at,
                t_offset(line.at, base.release.window_start),
                line.kind,
                line.author,
                line.text,
            )
            for line in history.log
        ),
        events=len(events),
    )


def _rollback(fold: Fold, rollback: Group) -> RollbackEntry:
    steps = []
    for name in rollback.ordered:
        order = fold.orders[name]
        healthy_at, known = (None, False)
        if order.rolled_back_at is not None:
            healthy_at, known = fold.healthy_at(name, order.rolled_back_at)
        steps.append(
            RollbackStep(
                name,
                order.ordered_at,
                order.ordered_by,
                order.reason,
                order.rolled_back_at,
                order.rolled_back_by,
                healthy_at,
                known,
            )
        )
    # Recovered once everything it had to undo is rolled back and healthy.
    members = set(rollback.plan) | set(rollback.ordered)
    done = {s.service: s.healthy_at for s in steps}
    recovered = None
    if members <= done.keys() and all(done[name] is not None for name in members):
        recovered = max(at for at in done.values() if at is not None)
    return RollbackEntry(
        rollback.service,
        rollback.cause,
        rollback.trouble,
        rollback.trouble_at,
        rollback.subgraph,
        rollback.plan,
        tuple(steps),
        recovered,
    )


def _status(
    decision: DecisionView | None, services: Sequence[ServiceEntry]
) -> tuple[Status, tuple[tuple[str, DeployState], ...]]:
    """Where the release stands, and the services that keep it from complete."""
    started = {s.name for s in services if s.state is not DeployState.WAITING}
    if decision is None:
        unsettled = tuple((s.name, s.state) for s in services if s.name in started)
        return (Status.IN_PROGRESS if started else Status.NOT_STARTED), unsettled
    unsettled = tuple(
        (s.name, s.state)
        for s in services
        if not s.state.settled and (decision.allows(s.name) or s.name in started)
    )
    if unsettled:
        return Status.IN_PROGRESS, unsettled
    if decision.kind is DecisionKind.NO_GO and not started:
        return Status.NO_GO, ()
    return Status.COMPLETE, ()


def _metrics(
    release: ReleaseView,
    as_of: datetime,
    decisions: Sequence[DecisionEntry],
    services: Sequence[ServiceEntry],
    triggers: Sequence[TriggerEntry],
    rollbacks: Sequence[RollbackEntry],
) -> Metrics:
    started = [s for s in services if s.started_at is not None]
    first_start = min((s.started_at for s in started if s.started_at), default=None)
    so_far = any(s.state in _IN_FLIGHT for s in started)
    last_final = as_of if so_far else max((s.state_since for s in started), default=None)
    go = next((d for d in decisions if d.kind is not DecisionKind.NO_GO), None)
    finished = [s for s in services if s.duration is not None]
    deploys = DeployDurations()
    if finished:
        worst = max(finished, key=lambda s: s.overrun or timedelta())
        deploys = DeployDurations(
            len(finished),
            sum((s.duration or timedelta() for s in finished), timedelta()) / len(finished),
            sum((s.expected for s in finished), timedelta()) / len(finished),
            worst.name,
            worst.duration,
            worst.expected,
        )
    states = [s.state for s in services]
    return Metrics(
        first_start=first_start,
        last_final=last_final if first_start is not None else None,
        total_so_far=so_far,
        time_to_go=None if go is None else go.at - release.go_no_go_at,
        services=len(services),
        deployed=states.count(DeployState.DONE),
        failed=states.count(DeployState.FAILED),
        rolled_back=states.count(DeployState.ROLLED_BACK),
        in_flight=sum(1 for state in states if state in _IN_FLIGHT),
        not_started=states.count(DeployState.WAITING),
        started=len(started),
        on_time=sum(1 for s in started if s.on_time),
        deploys=deploys,
        detect=Stat.of([(t.id, t.detection) for t in triggers if t.detection is not None]),
        acknowledge=Stat.of(
            [(t.id, t.to_acknowledge) for t in triggers if t.to_acknowledge is not None]
        ),
        recover=Stat.of(
            [(r.service, r.time_to_recover) for r in rollbacks if r.time_to_recover is not None]
        ),
    )
