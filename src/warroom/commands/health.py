"""The health poller's writes, through the command layer.

Only the `warroom` system actor records health, and only while it holds the
release's poller lease: any number of pollers may run, one polls. Samples
are measurements, not decisions, so they are not audited one by one; what
they cause is — a trigger firing or resolving, the lease changing hands.
Every write still happens in one transaction with its log lines, audit
events and change-feed row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from warroom.clock import Clock
from warroom.commands.defs import Command
from warroom.commands.execute import Runner
from warroom.commands.handlers import handles
from warroom.commands.tx import SYSTEM_ACTOR, CommandError, Tx
from warroom.domain import health as h
from warroom.domain import record
from warroom.domain import triggers as tr
from warroom.domain.lifecycle import DeployState
from warroom.domain.plan import WATCHED_BY_DEFAULT
from warroom.domain.rules import BaselineRule, Rule, RuleOptions, parse_rule
from warroom.domain.timeline import when
from warroom.store import models as m
from warroom.store.engine import Store
from warroom.store.repo import Repo

KEEP_SAMPLES = timedelta(minutes=30)  # older samples are pruned; baselines are kept on the trigger
PRUNE_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Target:
    """One endpoint to poll."""

    service: str
    url: str
    interval: timedelta
    timeout: timedelta


@dataclass(frozen=True)
class Claim:
    held: bool
    holder: str
    taken_over_from: str | None = None


@dataclass(frozen=True)
class Recorded:
    samples: int
    fired: tuple[str, ...]  # trigger ids that started firing with these samples
    resolved: tuple[str, ...]


# ---------------------------------------------------------------- the commands
#
# Not audited as commands (AUDITED False): a poller renews its lease and
# stores samples every few seconds, for every service. Their handlers write
# the events that matter: the lease changing hands, a trigger firing or
# resolving.


@dataclass(frozen=True)
class ClaimLease(Command[Claim]):
    """Take or renew the poller lease for `ttl`; another live holder keeps it."""

    AUDITED: ClassVar[bool] = False
    holder: str
    ttl: timedelta


@dataclass(frozen=True)
class ReleaseLease(Command[None]):
    """Give the lease up (a clean shutdown), so a standby takes over at once."""

    AUDITED: ClassVar[bool] = False
    holder: str


@dataclass(frozen=True)
class RecordHealth(Command[Recorded]):
    """Store samples, evaluate every rule on them and renew the lease.

    `prune` also forgets samples older than KEEP_SAMPLES: the caller asks
    for that about once a minute, not on every flush, because it scans the
    release's samples (at 1,000 services ~360,000 rows; measured: 73% of a
    core pruning 10 times a second, 31% pruning once a minute).
    """

    AUDITED: ClassVar[bool] = False
    holder: str
    samples: tuple[h.Sample, ...]
    ttl: timedelta
    prune: bool = False


def plan_text(store: Store, release: str | None = None) -> str | None:
    """The loaded release's plan as it was loaded (the poller reads its `metrics:`)."""
    with store.read() as session:
        repo = Repo(session)
        found = repo.find_release(release)
        return found.plan_text if found is not None else None


def targets(store: Store, release: str | None = None) -> list[Target]:
    """Every service with a health URL."""
    with store.read() as session:
        repo = Repo(session)
        repo.release = repo.find_release(release)
        if repo.release is None:
            return []
        return [
            Target(
                service=name,
                url=url,
                interval=timedelta(seconds=interval or 5),
                timeout=timedelta(seconds=timeout or 2),
            )
            for name, url, interval, timeout in repo.health_targets()
        ]


class HealthCommands(Runner):
    """What a poller instance (`holder`) may write: a facade over `execute` as SYSTEM_ACTOR."""

    def __init__(self, store: Store, clock: Clock, holder: str, release: str | None = None) -> None:
        super().__init__(store, clock, SYSTEM_ACTOR, release)
        self.holder = holder
        self._pruned_at: datetime | None = None

    def claim(self, ttl: timedelta) -> Claim:
        """Take or renew the lease; another live holder keeps it."""
        return self._run(ClaimLease(self.holder, ttl))

    def release_lease(self) -> None:
        """Give the lease up (clean shutdown), so a standby takes over at once."""
        self._run(ReleaseLease(self.holder))

    def record(self, samples: Sequence[h.Sample], ttl: timedelta) -> Recorded:
        """Store samples, evaluate every rule on them, renew the lease."""
        if not samples:
            return Recorded(0, (), ())
        now = self.clock.now()
        prune = self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY
        recorded = self._run(RecordHealth(self.holder, tuple(samples), ttl, prune))
        if prune:
            self._pruned_at = now
        return recorded


# ---------------------------------------------------------------- the handlers


@handles(ClaimLease)
def claim_lease(tx: Tx, command: ClaimLease) -> Claim:
    holder = command.holder
    lease = tx.repo.lease()
    if lease is not None and lease.holder != holder and lease.expires_at > tx.now:
        return Claim(False, lease.holder)
    previous = None
    if lease is None:
        lease = m.PollerLease(
            release_id=tx.repo.release_id,
            holder=holder,
            acquired_at=tx.now,
            expires_at=tx.now + command.ttl,
        )
        tx.audit("poller.lease", {"holder": holder})
        tx.topics.add("health")
    elif lease.holder != holder:
        previous = lease.holder
        silent = (
            when(lease.last_poll_at, tx.release.timezone, "%H:%M:%S")
            if lease.last_poll_at
            else "its start"
        )
        tx.system_line(f"Health poller {holder} took over from {previous} (silent since {silent})")
        tx.audit("poller.lease", {"holder": holder, "from": previous})
        lease.holder = holder
        lease.acquired_at = tx.now
        tx.topics.add("health")
    lease.expires_at = tx.now + command.ttl
    tx.repo.add(lease)
    return Claim(True, holder, previous)


@handles(ReleaseLease)
def release_lease(tx: Tx, command: ReleaseLease) -> None:
    lease = tx.repo.lease()
    if lease is not None and lease.holder == command.holder:
        lease.expires_at = tx.now
        tx.repo.add(lease)
        tx.topics.add("health")


@handles(RecordHealth)
def record_health(tx: Tx, command: RecordHealth) -> Recorded:
    lease = tx.repo.lease()
    if lease is None or lease.holder != command.holder:
        holder = lease.holder if lease else "nobody"
        raise CommandError(
            f"the poller lease is held by {holder}, not {command.holder}; standing by"
        )
    lease.expires_at = tx.now + command.ttl
    lease.last_poll_at = tx.now
    tx.repo.add(lease)
    turned = tx.repo.store_samples(command.samples)
    for sample in turned:
        tx.health_changed(sample.service, record.health_image(sample.ok, sample.reason, sample.at))
    if turned:
        # Kept for the whole release (samples are pruned): recovery times
        # and replay read health from these.
        tx.audit(
            record.HEALTH_CHANGE,
            {"services": sorted({s.service for s in turned})},
        )
    fired, resolved = _evaluate(tx, command.samples)
    if command.prune:
        tx.repo.prune_samples(tx.now - KEEP_SAMPLES)
    tx.topics.add("health")
    return Recorded(len(command.samples), tuple(fired), tuple(resolved))


@dataclass(frozen=True)
class _Watch:
    """One rule of the plan, as evaluated: its condition, options and watched states."""

    rule: Rule
    options: RuleOptions
    states: frozenset[DeployState]


def _rules(tx: Tx) -> dict[str, _Watch]:
    return {
        name: _Watch(
            parse_rule(row.when),
            row.options,
            frozenset(
                map(DeployState, json.loads(row.states) if row.states else WATCHED_BY_DEFAULT)
            ),
        )
        for name, row in tx.repo.trigger_rules().items()
    }


def _evaluate(tx: Tx, samples: Sequence[h.Sample]) -> tuple[list[str], list[str]]:
    # Only what these samples touch: with a thousand services a flush
    # must not read them all.
    touched = sorted({s.service for s in samples})
    services = tx.repo.services_named(touched)
    rules = _rules(tx)
    fired: list[str] = []
    resolved: list[str] = []
    for row in tx.repo.rule_triggers(touched):
        if row.rule not in rules or row.service not in services:
            continue
        watch = rules[row.rule]
        service = services[row.service]
        before = row.status
        status = before
        for sample in sorted((s for s in samples if s.service == row.service), key=lambda s: s.at):
            watched = service.state in watch.states
            baseline = _baseline(tx, row, watch.rule, service) if watched else None
            interval = timedelta(seconds=service.health_interval_s or 5)
            status = tr.evaluate(
                watch.rule,
                watch.options,
                status,
                sample,
                baseline,
                state=service.state,
                watched=watch.states,
                max_gap=3 * interval,
            )
        if status == before:
            continue
        row.keep(status)
        tx.touch(row)
        if watch.options.dry_run:
            _dry_run_changed(tx, row, before, status)
            continue
        tid = f"{row.rule}@{row.service}"
        if before.phase is not tr.Phase.FIRING and status.phase is tr.Phase.FIRING:
            fired.append(tid)
            plan = _rollback_plan(tx, row.service)
            tx.system_line(
                f"⚠ TRIGGER {row.rule} FIRING on {row.service}: {status.detail.removeprefix('firing: ')}"
                f" — rollback plan: {' → '.join(plan) or 'nothing deployed'}",
                row.service,
            )
            tx.audit(record.TRIGGER_FIRE, {"trigger": tid, "detail": status.detail})
        elif before.phase is tr.Phase.FIRING and status.phase is tr.Phase.RESOLVED:
            resolved.append(tid)
            tx.system_line(f"Trigger {tid} resolved", row.service)
            tx.audit(record.TRIGGER_RESOLVE, {"trigger": tid})
        elif before.phase is tr.Phase.FIRING and before.holding and not status.holding:
            tx.system_line(f"Trigger {tid}: condition cleared; acknowledge to resolve", row.service)
            tx.audit(record.TRIGGER_CHANGE, {"trigger": tid, "state": str(status.phase)})
        elif status.phase is tr.Phase.INCONCLUSIVE and before.phase is not tr.Phase.INCONCLUSIVE:
            why = status.detail.removeprefix("inconclusive: ")
            tx.system_line(
                f"? Trigger {tid} is INCONCLUSIVE: {why} — the release manager decides: "
                "roll back or carry on (key i, or warroom trigger answer)",
                row.service,
            )
            tx.audit(record.TRIGGER_INCONCLUSIVE, {"trigger": tid, "detail": status.detail})
        elif before.phase is tr.Phase.INCONCLUSIVE and status.phase is not tr.Phase.INCONCLUSIVE:
            tx.system_line(f"Trigger {tid} is no longer inconclusive: {status.detail}", row.service)
            tx.audit(record.TRIGGER_CHANGE, {"trigger": tid, "state": str(status.phase)})
        elif _shown(before) != _shown(status):
            # Pending, back to inactive, holding again: transitions, not the
            # streak's every step (the record keeps decisions, not measurements).
            tx.audit(record.TRIGGER_CHANGE, {"trigger": tid, "state": str(status.phase)})
    return fired, resolved


def _dry_run_changed(
    tx: Tx, row: m.TriggerState, before: tr.TriggerStatus, status: tr.TriggerStatus
) -> None:
    """A rule on trial changed: recorded (the record and a backtest compare
    with it), but no log line, no banner, no bell — it notifies nobody."""
    if _shown(before) != _shown(status):
        tid = f"{row.rule}@{row.service}"
        tx.audit(
            record.TRIGGER_CHANGE, {"trigger": tid, "state": str(status.phase), "dry_run": True}
        )


def _shown(status: tr.TriggerStatus) -> tuple[object, ...]:
    """What people see of a trigger, less its running detail: a change here is recorded."""
    return (status.phase, status.holding, status.since, status.fired_at, status.acked)


def _baseline(tx: Tx, row: m.TriggerState, rule: Rule, service: m.Service) -> float | None:
    """The pre-deploy median, computed once per trigger and kept on its row."""
    if not isinstance(rule, BaselineRule):
        return None
    if row.baseline is not None or service.deploy_started_at is None:
        return row.baseline
    before = service.deploy_started_at
    row.baseline = h.baseline(tx.repo.samples_before(service.name, before), rule.metric, before)
    return row.baseline


def _rollback_plan(tx: Tx, service: str) -> list[str]:
    from warroom.domain import graph as g

    graph, by_name = tx.graph()
    return g.rollback_plan(graph, service, {name: row.state for name, row in by_name.items()})
