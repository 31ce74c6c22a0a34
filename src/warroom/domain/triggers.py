"""Trigger rules over a service's health samples: the Prometheus alerting model.

    inactive ──holds──▶ pending ──held the whole `for` on every sample──▶ firing
        ▲                  │                                                │
        └──── clears ──────┘        cleared and acknowledged ──▶ resolved ◀─┘

    inactive/pending ──no data (or broken probes) for too long──▶ inconclusive
        inconclusive ──data is back──▶ pending or inactive
        inconclusive ──the release manager answers──▶ firing (roll back) or inactive (carry on)

- A rule *holds* on a sample when its condition is true there. A sample the
  rule cannot judge — the probe got no answer to judge, the metric is
  missing, there is no baseline yet — is *no data*. By default (`no_data:
  ignore`) it does not count as holding, it breaks a pending streak (firing
  needs every sample in the window to hold), and the reason is shown rather
  than dropped silently. `no_data: breach` counts it as holding;
  `no_data: inconclusive` breaks the streak too, and after
  `inconclusive_after` of them in a row the rule is *inconclusive*: it asks
  the release manager to decide (roll back, or carry on).
- With an `error_limit`, a probe that got no answer is a measurement error,
  not missing data: up to `error_limit` in a row are tolerated (they move
  nothing, the streak goes on), the next one makes the rule inconclusive
  ("measurement failing"). A broken measurement is not a failing service.
- A gap longer than `max_gap` between samples (the poller was down) also
  breaks the streak: nobody knows what happened in between.
- A firing trigger stays firing until it is acknowledged *and* the condition
  has cleared, in either order; with `keep_firing_for` it has cleared only
  once it stayed clear that long (a flapping metric fires once). A dry-run
  rule needs no acknowledgement: it resolves when it clears.
- `health failing for N checks` holds on every failed probe and fires on the
  Nth in a row; it is always evaluable.

Everything here is pure, and `evaluate` is the one place a rule meets a
sample: the live poller and `warroom rules backtest` both go through it, so
a backtest over the samples the room recorded gives the poller's own
answers. The store keeps the `TriggerStatus` between samples (so a new
poller continues where the last one stopped).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from warroom.domain.durations import format_duration
from warroom.domain.health import Sample
from warroom.domain.lifecycle import DeployState
from warroom.domain.rules import (
    BaselineRule,
    HealthRule,
    NoData,
    Rule,
    RuleOptions,
    ThresholdRule,
)
from warroom.domain.timeline import humanize

# The rule name of a lead's call: a trigger raised by a person, not a rule.
LEAD_CALL = "lead-call"
# A rule written with nothing but its `when:`.
DEFAULT_OPTIONS = RuleOptions()


class Phase(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    INCONCLUSIVE = "inconclusive"


# The phases in which a trigger holds back everything that depends on its
# service: something is (or may be) wrong and nobody has settled it yet.
GATING = frozenset({Phase.PENDING, Phase.FIRING, Phase.INCONCLUSIVE})


def holds_back(phase: Phase | str, *, dry_run: bool) -> bool:
    """Whether a trigger in `phase` holds back what depends on its service:
    pending, firing (acknowledged or not, until it resolves) or inconclusive
    (until the release manager answers) — never a dry run, which is on trial."""
    return not dry_run and Phase(phase) in GATING


class Answer(StrEnum):
    """The release manager's answer to an inconclusive rule."""

    ROLL_BACK = "rollback"
    CARRY_ON = "carry-on"

    @property
    def label(self) -> str:
        return {Answer.ROLL_BACK: "roll back", Answer.CARRY_ON: "carry on"}[self]


@dataclass(frozen=True)
class TriggerStatus:
    phase: Phase = Phase.INACTIVE
    holding: bool = False
    since: datetime | None = None  # first sample of the holding streak (inconclusive: since when)
    fired_at: datetime | None = None
    acked: bool = False
    streak: int = 0  # holding samples in a row
    last_at: datetime | None = None  # the last sample judged
    detail: str = ""
    # Firing with keep_firing_for: the first sample of the current clear run.
    cleared_since: datetime | None = None
    no_data_run: int = 0  # samples in a row the rule could not judge
    error_run: int = 0  # probe errors in a row (counted apart only with an error_limit)

    @property
    def active(self) -> bool:
        return self.phase in {Phase.PENDING, Phase.FIRING}


@dataclass(frozen=True)
class Verdict:
    """What one sample says about one rule."""

    holds: bool | None  # None: not evaluable (no data)
    why: str  # for people: the observed value, or why it cannot be judged
    probe_error: bool = False  # not evaluable because the probe got no answer at all


def judge(rule: Rule, sample: Sample, baseline: float | None) -> Verdict:
    if isinstance(rule, HealthRule):
        if sample.ok:
            return Verdict(False, "health check passing")
        return Verdict(True, f"health check failing ({sample.reason or 'failed'})")
    # A response that says "fail" but carries the metric is still evidence;
    # a probe that got no answer has nothing to judge.
    value = sample.metric(rule.metric)
    if value is None and rule.metric in sample.missing:
        # From Prometheus, which had nothing to say (empty, NaN, an error,
        # unreachable): no data with its reason, whatever the probe said.
        return Verdict(None, f"not evaluable: {sample.missing[rule.metric]}")
    if value is None and not sample.ok:
        return Verdict(
            None,
            f"not evaluable: the probe failed ({sample.reason or 'failed'})",
            probe_error=True,
        )
    if value is None:
        return Verdict(None, f"not evaluable: no {rule.metric} in the health response")
    if isinstance(rule, BaselineRule):
        if baseline is None:
            return Verdict(
                None, f"not evaluable: no baseline yet (no {rule.metric} before the deploy started)"
            )
        limit = rule.factor * baseline
        return Verdict(
            rule.holds(value, baseline),
            f"{rule.metric} {value:g} vs {limit:g} ({rule.factor:g}x {baseline:g})",
        )
    assert isinstance(rule, ThresholdRule)
    shown = f"{value * 100:.2f}%" if rule.percent else f"{value:g}"
    return Verdict(rule.holds(value), f"{rule.metric} {shown}")


def _progress(rule: Rule, status: TriggerStatus, at: datetime) -> str:
    if isinstance(rule, HealthRule):
        return f"pending {status.streak}/{rule.checks} checks"
    assert status.since is not None
    return f"pending {format_duration(at - status.since)} / {format_duration(rule.hold)}"


def _fires(rule: Rule, status: TriggerStatus, at: datetime) -> bool:
    if isinstance(rule, HealthRule):
        return status.streak >= rule.checks
    return status.since is not None and at - status.since >= rule.hold


def _quiet(status: TriggerStatus, detail: str) -> TriggerStatus:
    """Back to inactive: the streak is over (cleared, interrupted or unwatched)."""
    return replace(status, phase=Phase.INACTIVE, holding=False, since=None, streak=0, detail=detail)


def evaluate(
    rule: Rule,
    options: RuleOptions,
    status: TriggerStatus,
    sample: Sample,
    baseline: float | None,
    *,
    state: DeployState,
    watched: Collection[DeployState],
    max_gap: timedelta,
    auto_ack: bool = False,
) -> TriggerStatus:
    """The rule's status after one more sample of its service, then in `state`.

    The one place a rule meets a sample: the live poller calls it for every
    sample it records and the backtest for every sample it replays, so both
    give the same answers. `auto_ack` takes a firing trigger as acknowledged
    at once (a replay has no people): it resolves as soon as it clears.
    """
    if state not in watched:
        return unwatched(
            status, f"not watched while {state.label}", auto_ack=auto_ack or options.dry_run
        )
    return step(rule, status, sample, baseline, max_gap=max_gap, options=options, auto_ack=auto_ack)


def step(
    rule: Rule,
    status: TriggerStatus,
    sample: Sample,
    baseline: float | None,
    *,
    max_gap: timedelta,
    options: RuleOptions = DEFAULT_OPTIONS,
    auto_ack: bool = False,
) -> TriggerStatus:
    """The rule's status after one more sample of a watched service."""
    previous = status.last_at
    status = replace(status, last_at=sample.at)
    judged = _Judging(rule, options, sample, baseline, auto_ack or options.dry_run)
    if previous is not None and sample.at - previous > max_gap:
        gap = humanize(sample.at - previous)
        if status.phase is Phase.PENDING:
            after = judged.step(_quiet(status, ""))
            return replace(
                after, detail=f"{after.detail} (pending interrupted: no samples for {gap})"
            )
        # Nobody knows whether it stayed clear in between.
        status = replace(status, cleared_since=None)
    return judged.step(status)


@dataclass(frozen=True)
class _Judging:
    """One sample being judged by one rule."""

    rule: Rule
    options: RuleOptions
    sample: Sample
    baseline: float | None
    no_ack: bool  # resolves on clearing, acknowledged or not (dry run, replay)

    def step(self, status: TriggerStatus) -> TriggerStatus:
        verdict = judge(self.rule, self.sample, self.baseline)
        if verdict.holds is None:
            if verdict.probe_error and self.options.error_limit is not None:
                return self._probe_error(status, verdict)
            status = replace(status, no_data_run=status.no_data_run + 1, error_run=0)
            if self.options.no_data is not NoData.BREACH:
                return self._no_data(status, verdict)
            verdict = Verdict(True, f"{_unjudged(verdict)}, which counts as a breach (no_data)")
        else:
            status = replace(status, no_data_run=0, error_run=0)
        return self._holds(status, verdict) if verdict.holds else self._clear(status, verdict)

    def _no_data(self, status: TriggerStatus, verdict: Verdict) -> TriggerStatus:
        why = verdict.why
        options = self.options
        if options.no_data is NoData.INCONCLUSIVE:
            run, limit = status.no_data_run, options.inconclusive_after
            if run >= limit:
                return _inconclusive(
                    status,
                    self.sample.at,
                    f"no data for {run} samples in a row — {_unjudged(verdict)}",
                )
            why = f"{why} (no data {run}/{limit} before inconclusive)"
        if status.phase is Phase.PENDING:
            return _quiet(status, f"pending interrupted — {why}")
        if status.phase is Phase.FIRING:
            return replace(status, cleared_since=None, detail=f"firing; last sample {why}")
        if status.phase is Phase.INCONCLUSIVE:
            return replace(status, detail=f"inconclusive; last sample {why}")
        return replace(status, holding=False, streak=0, detail=why)

    def _probe_error(self, status: TriggerStatus, verdict: Verdict) -> TriggerStatus:
        errors = status.error_run + 1
        limit = self.options.error_limit
        assert limit is not None
        status = replace(status, error_run=errors, no_data_run=0)
        if errors > limit:
            return _inconclusive(
                status,
                self.sample.at,
                f"measurement failing: {errors} probe errors in a row, over its error_limit "
                f"of {limit} — {_unjudged(verdict)}",
            )
        tolerated = f"probe error {errors}/{limit} tolerated ({_unjudged(verdict)})"
        if status.phase is Phase.PENDING:
            detail = f"{_progress(self.rule, status, self.sample.at)} — {tolerated}"
        elif status.phase is Phase.FIRING:
            detail = f"firing; {tolerated}"
        elif status.phase is Phase.INCONCLUSIVE:
            detail = f"inconclusive; {tolerated}"
        else:
            detail = tolerated
        return replace(status, detail=detail)

    def _holds(self, status: TriggerStatus, verdict: Verdict) -> TriggerStatus:
        at = self.sample.at
        if status.phase in {Phase.INACTIVE, Phase.RESOLVED, Phase.INCONCLUSIVE}:
            status = replace(
                status, phase=Phase.PENDING, since=at, streak=0, fired_at=None, acked=False
            )
        status = replace(status, holding=True, streak=status.streak + 1, cleared_since=None)
        if status.phase is Phase.PENDING:
            if _fires(self.rule, status, at):
                return replace(
                    status, phase=Phase.FIRING, fired_at=at, detail=f"firing: {verdict.why}"
                )
            return replace(status, detail=f"{_progress(self.rule, status, at)} — {verdict.why}")
        return replace(status, detail=f"firing: {verdict.why}")

    def _clear(self, status: TriggerStatus, verdict: Verdict) -> TriggerStatus:
        at, why = self.sample.at, verdict.why
        if status.phase is Phase.PENDING:
            held = format_duration(at - status.since) if status.since else "a moment"
            return _quiet(status, f"cleared after {held} — {why}")
        if status.phase is Phase.INCONCLUSIVE:
            return _quiet(status, f"data is back — {why}")
        if status.phase is not Phase.FIRING:
            return replace(status, holding=False, streak=0, detail=why)
        keep = self.options.keep_firing_for
        if keep:
            cleared = status.cleared_since or at
            if at - cleared < keep:
                # Still firing: a flapping metric must not resolve and fire again.
                kept = f"{format_duration(at - cleared)} / {format_duration(keep)}"
                return replace(
                    status,
                    cleared_since=cleared,
                    detail=f"firing: clear for {kept} (keep_firing_for) — {why}",
                )
        status = replace(status, holding=False, streak=0, cleared_since=None)
        if status.acked or self.no_ack:
            how = "cleared and acknowledged" if status.acked else "cleared"
            return replace(status, phase=Phase.RESOLVED, detail=f"resolved: {how} — {why}")
        return replace(
            status, detail=f"cleared at {at:%H:%M:%S} UTC; acknowledge to resolve — {why}"
        )


def _unjudged(verdict: Verdict) -> str:
    return verdict.why.removeprefix("not evaluable: ")


def _inconclusive(status: TriggerStatus, at: datetime, why: str) -> TriggerStatus:
    """The rule cannot tell, for too long: ask the release manager (a firing one keeps firing)."""
    if status.phase is Phase.FIRING:
        return replace(status, cleared_since=None, detail=f"firing; {why}")
    if status.phase is Phase.INCONCLUSIVE:
        return replace(status, detail=f"inconclusive: {why}")
    return replace(
        status,
        phase=Phase.INCONCLUSIVE,
        holding=False,
        since=at,
        fired_at=None,
        acked=False,
        streak=0,
        cleared_since=None,
        detail=f"inconclusive: {why}",
    )


def unwatched(status: TriggerStatus, why: str, *, auto_ack: bool = False) -> TriggerStatus:
    """The service is not being watched (waiting, rolled back...).

    A firing trigger keeps firing until acknowledged — nobody may miss it — but
    with nothing holding any more; anything else goes quiet (an inconclusive
    one too: there is nothing left to decide about).
    """
    if status.phase is Phase.FIRING:
        if status.acked or auto_ack:
            return replace(
                status,
                phase=Phase.RESOLVED,
                holding=False,
                streak=0,
                cleared_since=None,
                detail=f"resolved ({why})",
            )
        return replace(
            status,
            holding=False,
            streak=0,
            cleared_since=None,
            detail=f"{why}; acknowledge to resolve",
        )
    if status.phase in {Phase.PENDING, Phase.INCONCLUSIVE} or status.detail != why:
        return replace(
            status,
            phase=Phase.RESOLVED if status.phase is Phase.RESOLVED else Phase.INACTIVE,
            holding=False,
            since=None,
            streak=0,
            cleared_since=None,
            no_data_run=0,
            error_run=0,
            detail=why,
        )
    return status


def acknowledge(status: TriggerStatus) -> TriggerStatus:
    """A person acknowledged the firing trigger: resolved now if it already cleared."""
    if status.phase is not Phase.FIRING:
        return status
    if status.holding:
        return replace(status, acked=True, detail="acknowledged; still holding")
    return replace(
        status, acked=True, phase=Phase.RESOLVED, detail="resolved: acknowledged after it cleared"
    )


def answer(
    status: TriggerStatus, choice: Answer, at: datetime, who: str, reason: str
) -> TriggerStatus:
    """The release manager's answer to an inconclusive rule.

    Roll back: the trigger fires now, by their decision (its banner offers
    the rollback plan, dependents first). Carry on: it goes quiet, and asks
    again only after another full run of samples it cannot judge.
    """
    assert status.phase is Phase.INCONCLUSIVE, "only an inconclusive rule asks for an answer"
    cleared = replace(status, holding=False, streak=0, no_data_run=0, error_run=0, acked=False)
    if choice is Answer.ROLL_BACK:
        return replace(
            cleared,
            phase=Phase.FIRING,
            fired_at=at,
            cleared_since=None,
            detail=f"{who} decided to roll back: {reason}",
        )
    return replace(
        cleared, phase=Phase.INACTIVE, since=None, detail=f"{who} decided to carry on: {reason}"
    )


# ---------------------------------------------------------------- replaying a series


def replay(
    rule: Rule,
    options: RuleOptions,
    samples: Iterable[Sample],
    baseline: float | None,
    *,
    max_gap: timedelta,
    state_at: Callable[[datetime], DeployState],
    watched: Collection[DeployState],
    start: TriggerStatus = TriggerStatus(),
) -> list[tuple[Sample, TriggerStatus]]:
    """The rule's status after each sample, in time order, as the poller would
    have evaluated it with the service in `state_at(sample.at)`; a firing
    trigger is taken as acknowledged at once (nobody is there to)."""
    status = start
    out: list[tuple[Sample, TriggerStatus]] = []
    for sample in sorted(samples, key=lambda s: s.at):
        status = evaluate(
            rule,
            options,
            status,
            sample,
            baseline,
            state=state_at(sample.at),
            watched=watched,
            max_gap=max_gap,
            auto_ack=True,
        )
        out.append((sample, status))
    return out


def turns(
    series: Sequence[tuple[Sample, TriggerStatus]], start: TriggerStatus = TriggerStatus()
) -> list[tuple[Sample, TriggerStatus]]:
    """The samples at which the rule changed in a way people see: its phase,
    or whether it holds (a firing trigger clearing)."""
    out = []
    before = start
    for sample, status in series:
        if (status.phase, status.holding) != (before.phase, before.holding):
            out.append((sample, status))
        before = status
    return out
