"""Trigger rules over a service's health samples: the Prometheus alerting model.

    inactive ──holds──▶ pending ──held the whole `for` on every sample──▶ firing
        ▲                  │                                                │
        └──── clears ──────┘        cleared and acknowledged ──▶ resolved ◀─┘

- A rule *holds* on a sample when its condition is true there. A sample the
  rule cannot judge — the probe got no answer to judge, the metric is
  missing, there is no baseline yet — is *not evaluable*: it does not count
  as holding, it breaks a pending streak (firing needs every sample in the
  window to hold), and the reason is shown rather than dropped silently.
- A gap longer than `max_gap` between samples (the poller was down) also
  breaks the streak: nobody knows what happened in between.
- A firing trigger stays firing until it is acknowledged *and* the condition
  has cleared, in either order.
- `health failing for N checks` holds on every failed probe and fires on the
  Nth in a row; it is always evaluable.

Everything here is pure: the poller feeds samples in, the store keeps the
`TriggerStatus` between samples (so a new poller continues where the last
one stopped).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from warroom.domain.durations import format_duration
from warroom.domain.health import Sample
from warroom.domain.rules import BaselineRule, HealthRule, Rule, ThresholdRule
from warroom.domain.timeline import humanize

# The rule name of a lead's call: a trigger raised by a person, not a rule.
LEAD_CALL = "lead-call"


class Phase(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class TriggerStatus:
    phase: Phase = Phase.INACTIVE
    holding: bool = False
    since: datetime | None = None  # first sample of the current holding streak
    fired_at: datetime | None = None
    acked: bool = False
    streak: int = 0  # holding samples in a row
    last_at: datetime | None = None  # the last sample judged
    detail: str = ""

    @property
    def active(self) -> bool:
        return self.phase in {Phase.PENDING, Phase.FIRING}


@dataclass(frozen=True)
class Verdict:
    """What one sample says about one rule."""

    holds: bool | None  # None: not evaluable
    why: str  # for people: the observed value, or why it cannot be judged


def judge(rule: Rule, sample: Sample, baseline: float | None) -> Verdict:
    if isinstance(rule, HealthRule):
        if sample.ok:
            return Verdict(False, "health check passing")
        return Verdict(True, f"health check failing ({sample.reason or 'failed'})")
    # A response that says "fail" but carries the metric is still evidence;
    # a probe that got no answer has nothing to judge.
    value = sample.metric(rule.metric)
    if value is None and not sample.ok:
        return Verdict(None, f"not evaluable: the probe failed ({sample.reason or 'failed'})")
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


def step(
    rule: Rule,
    status: TriggerStatus,
    sample: Sample,
    baseline: float | None,
    *,
    max_gap: timedelta,
) -> TriggerStatus:
    """The rule's status after one more sample of a watched service."""
    previous = status.last_at
    status = replace(status, last_at=sample.at)
    if previous is not None and sample.at - previous > max_gap and status.phase is Phase.PENDING:
        gap = humanize(sample.at - previous)
        after = _judge_step(rule, _quiet(status, ""), sample, baseline)
        return replace(after, detail=f"{after.detail} (pending interrupted: no samples for {gap})")
    return _judge_step(rule, status, sample, baseline)


def _judge_step(
    rule: Rule, status: TriggerStatus, sample: Sample, baseline: float | None
) -> TriggerStatus:
    verdict = judge(rule, sample, baseline)

    if verdict.holds is None:
        if status.phase is Phase.PENDING:
            return _quiet(status, f"pending interrupted — {verdict.why}")
        if status.phase is Phase.FIRING:
            return replace(status, detail=f"firing; last sample {verdict.why}")
        return replace(status, holding=False, streak=0, detail=verdict.why)

    if verdict.holds:
        if status.phase in {Phase.INACTIVE, Phase.RESOLVED}:
            status = replace(
                status, phase=Phase.PENDING, since=sample.at, streak=0, fired_at=None, acked=False
            )
        status = replace(status, holding=True, streak=status.streak + 1)
        if status.phase is Phase.PENDING:
            if _fires(rule, status, sample.at):
                return replace(
                    status, phase=Phase.FIRING, fired_at=sample.at, detail=f"firing: {verdict.why}"
                )
            return replace(status, detail=f"{_progress(rule, status, sample.at)} — {verdict.why}")
        return replace(status, detail=f"firing: {verdict.why}")

    # The condition is clear on this sample.
    if status.phase is Phase.PENDING:
        held = format_duration(sample.at - status.since) if status.since else "a moment"
        return _quiet(status, f"cleared after {held} — {verdict.why}")
    if status.phase is Phase.FIRING:
        if status.acked:
            return replace(
                status,
                phase=Phase.RESOLVED,
                holding=False,
                streak=0,
                detail=f"resolved: cleared and acknowledged — {verdict.why}",
            )
        return replace(
            status,
            holding=False,
            streak=0,
            detail=f"cleared at {sample.at:%H:%M:%S}; acknowledge to resolve — {verdict.why}",
        )
    return replace(status, holding=False, streak=0, detail=verdict.why)


def unwatched(status: TriggerStatus, why: str) -> TriggerStatus:
    """The service is not being watched (waiting, rolled back...).

    A firing trigger keeps firing until acknowledged — nobody may miss it — but
    with nothing holding any more; anything else goes quiet.
    """
    if status.phase is Phase.FIRING:
        if status.acked:
            return replace(
                status, phase=Phase.RESOLVED, holding=False, streak=0, detail=f"resolved ({why})"
            )
        return replace(status, holding=False, streak=0, detail=f"{why}; acknowledge to resolve")
    if status.phase is Phase.PENDING or status.detail != why:
        return replace(
            status,
            phase=Phase.INACTIVE if status.phase is not Phase.RESOLVED else status.phase,
            holding=False,
            since=None,
            streak=0,
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
