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

from sqlmodel import col, delete, select

from warroom.clock import Clock
from warroom.commands.actions import LEAD_CALL
from warroom.commands.tx import SYSTEM_ACTOR, CommandError, Tx, open_tx
from warroom.domain import health as h
from warroom.domain import triggers as tr
from warroom.domain.plan import WATCHED_BY_DEFAULT
from warroom.domain.rules import BaselineRule, Rule, parse_rule
from warroom.domain.timeline import when
from warroom.store import models as m
from warroom.store.engine import Store
from warroom.store.queries import sample_of

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


def targets(store: Store, release: str | None = None) -> list[Target]:
    """Every service with a health URL."""
    from warroom.store.queries import current_release

    # Columns, not ORM objects: the poller re-reads this every lease tick, and
    # with 1,000 services building the objects was most of the cost.
    with store.read() as session:
        rel = current_release(session, release)
        if rel is None:
            return []
        rows = session.exec(
            select(
                m.Service.name,
                m.Service.health_url,
                m.Service.health_interval_s,
                m.Service.health_timeout_s,
            )
            .where(m.Service.release_id == rel.id, col(m.Service.health_url).is_not(None))
            .order_by(col(m.Service.position))
        ).all()
        return [
            Target(
                service=name,
                url=url,
                interval=timedelta(seconds=interval or 5),
                timeout=timedelta(seconds=timeout or 2),
            )
            for name, url, interval, timeout in rows
            if url
        ]


class HealthCommands:
    """What a poller instance (`holder`) may write."""

    def __init__(self, store: Store, clock: Clock, holder: str, release: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.holder = holder
        self.release = release
        self._pruned_at: datetime | None = None

    # ---------------------------------------------------------------- the lease

    def claim(self, ttl: timedelta) -> Claim:
        """Take or renew the lease; another live holder keeps it."""
        with open_tx(self.store, self.clock, SYSTEM_ACTOR, self.release) as tx:
            lease = tx.session.get(m.PollerLease, tx.release_id)
            if lease is not None and lease.holder != self.holder and lease.expires_at > tx.now:
                return Claim(False, lease.holder)
            previous = None
            if lease is None:
                lease = m.PollerLease(
                    release_id=tx.release_id,
                    holder=self.holder,
                    acquired_at=tx.now,
                    expires_at=tx.now + ttl,
                )
                tx.audit("poller.lease", {"holder": self.holder})
                tx.topics.add("health")
            elif lease.holder != self.holder:
                previous = lease.holder
                silent = (
                    when(lease.last_poll_at, tx.release.timezone, "%H:%M:%S")
                    if lease.last_poll_at
                    else "its start"
                )
                tx.system_line(
                    f"Health poller {self.holder} took over from {previous} (silent since {silent})"
                )
                tx.audit("poller.lease", {"holder": self.holder, "from": previous})
                lease.holder = self.holder
                lease.acquired_at = tx.now
                tx.topics.add("health")
            lease.expires_at = tx.now + ttl
            tx.session.add(lease)
            return Claim(True, self.holder, previous)

    def release_lease(self) -> None:
        """Give the lease up (clean shutdown), so a standby takes over at once."""
        with open_tx(self.store, self.clock, SYSTEM_ACTOR, self.release) as tx:
            lease = tx.session.get(m.PollerLease, tx.release_id)
            if lease is not None and lease.holder == self.holder:
                lease.expires_at = tx.now
                tx.session.add(lease)
                tx.topics.add("health")

    # ---------------------------------------------------------------- samples

    def record(self, samples: Sequence[h.Sample], ttl: timedelta) -> Recorded:
        """Store samples, evaluate every rule on them, renew the lease."""
        if not samples:
            return Recorded(0, (), ())
        with open_tx(self.store, self.clock, SYSTEM_ACTOR, self.release) as tx:
            lease = tx.session.get(m.PollerLease, tx.release_id)
            if lease is None or lease.holder != self.holder:
                holder = lease.holder if lease else "nobody"
                raise CommandError(
                    f"the poller lease is held by {holder}, not {self.holder}; standing by"
                )
            lease.expires_at = tx.now + ttl
            lease.last_poll_at = tx.now
            tx.session.add(lease)
            touched = sorted({s.service for s in samples})
            newest = {
                row.service: row
                for row in tx.session.exec(
                    select(m.ServiceHealth).where(
                        m.ServiceHealth.release_id == tx.release_id,
                        col(m.ServiceHealth.service).in_(touched),
                    )
                ).all()
            }
            for sample in samples:
                self._store_sample(tx, sample, newest)
            fired, resolved = self._evaluate(tx, samples, touched)
            if self._pruned_at is None or tx.now - self._pruned_at >= PRUNE_EVERY:
                # Not on every flush: this scans the release's samples, which
                # at 1,000 services are ~360,000 rows (measured: 73% of a core
                # pruning 10 times a second, 31% pruning once a minute).
                tx.session.execute(
                    delete(m.HealthSample).where(
                        col(m.HealthSample.release_id) == tx.release_id,
                        col(m.HealthSample.at) < tx.now - KEEP_SAMPLES,
                    )
                )
                self._pruned_at = tx.now
            tx.topics.add("health")
            return Recorded(len(samples), tuple(fired), tuple(resolved))

    @staticmethod
    def _store_sample(tx: Tx, sample: h.Sample, newest_rows: dict[str, m.ServiceHealth]) -> None:
        metrics = json.dumps(dict(sample.metrics), sort_keys=True)
        reason = sample.reason[:300] if sample.reason else None
        tx.session.add(
            m.HealthSample(
                release_id=tx.release_id,
                service=sample.service,
                at=sample.at,
                ok=sample.ok,
                reason=reason,
                status_code=sample.status_code,
                latency_ms=sample.latency_ms,
                metrics=metrics,
            )
        )
        newest = newest_rows.get(sample.service)
        if newest is None:
            newest = m.ServiceHealth(
                release_id=tx.release_id, service=sample.service, at=sample.at, ok=sample.ok
            )
            newest_rows[sample.service] = newest
        if newest.at <= sample.at:
            newest.at = sample.at
            newest.ok = sample.ok
            newest.reason = reason
            newest.status_code = sample.status_code
            newest.latency_ms = sample.latency_ms
            newest.metrics = metrics
            tx.session.add(newest)

    # ---------------------------------------------------------------- triggers

    def _evaluate(
        self, tx: Tx, samples: Sequence[h.Sample], touched: list[str]
    ) -> tuple[list[str], list[str]]:
        # Only what these samples touch: with a thousand services a flush
        # must not read them all.
        services = {
            row.name: row
            for row in tx.session.exec(
                select(m.Service).where(
                    m.Service.release_id == tx.release_id, col(m.Service.name).in_(touched)
                )
            ).all()
        }
        rules: dict[str, tuple[Rule, frozenset[str]]] = {}
        for rule_row in tx.session.exec(
            select(m.TriggerRule).where(m.TriggerRule.release_id == tx.release_id)
        ).all():
            watched = json.loads(rule_row.states) if rule_row.states else WATCHED_BY_DEFAULT
            rules[rule_row.name] = (parse_rule(rule_row.when), frozenset(watched))
        rows = tx.session.exec(
            select(m.TriggerState).where(
                m.TriggerState.release_id == tx.release_id,
                col(m.TriggerState.service).in_(touched),
                m.TriggerState.rule != LEAD_CALL,
            )
        ).all()
        fired: list[str] = []
        resolved: list[str] = []
        for row in rows:
            if row.rule not in rules or row.service not in services:
                continue
            rule, watched_states = rules[row.rule]
            service = services[row.service]
            before = _status(row)
            status = before
            for sample in sorted(
                (s for s in samples if s.service == row.service), key=lambda s: s.at
            ):
                if service.state not in watched_states:
                    status = tr.unwatched(status, f"not watched while {service.state.label}")
                    continue
                baseline = self._baseline(tx, row, rule, service)
                interval = timedelta(seconds=service.health_interval_s or 5)
                status = tr.step(rule, status, sample, baseline, max_gap=3 * interval)
            if status == before:
                continue
            tid = f"{row.rule}@{row.service}"
            _apply(row, status, acked_by=row.acked_by)
            tx.touch(row)
            if before.phase is not tr.Phase.FIRING and status.phase is tr.Phase.FIRING:
                fired.append(tid)
                plan = self._rollback_plan(tx, row.service)
                tx.system_line(
                    f"⚠ TRIGGER {row.rule} FIRING on {row.service}: {status.detail.removeprefix('firing: ')}"
                    f" — rollback plan: {' → '.join(plan) or 'nothing deployed'}",
                    row.service,
                )
                tx.audit("trigger.fire", {"trigger": tid, "detail": status.detail})
            elif before.phase is tr.Phase.FIRING and status.phase is tr.Phase.RESOLVED:
                resolved.append(tid)
                tx.system_line(f"Trigger {tid} resolved", row.service)
                tx.audit("trigger.resolve", {"trigger": tid})
            elif before.phase is tr.Phase.FIRING and before.holding and not status.holding:
                tx.system_line(
                    f"Trigger {tid}: condition cleared; acknowledge to resolve", row.service
                )
        return fired, resolved

    @staticmethod
    def _baseline(tx: Tx, row: m.TriggerState, rule: Rule, service: m.Service) -> float | None:
        """The pre-deploy median, computed once per trigger and kept on its row."""
        if not isinstance(rule, BaselineRule):
            return None
        if row.baseline is not None or service.deploy_started_at is None:
            return row.baseline
        before = service.deploy_started_at
        history = tx.session.exec(
            select(m.HealthSample).where(
                m.HealthSample.release_id == tx.release_id,
                m.HealthSample.service == service.name,
                col(m.HealthSample.at) < before,
            )
        ).all()
        samples = [sample_of(s) for s in history]
        row.baseline = h.baseline(samples, rule.metric, before)
        return row.baseline

    @staticmethod
    def _rollback_plan(tx: Tx, service: str) -> list[str]:
        from warroom.domain import graph as g

        graph, by_name = tx.graph()
        states = {name: row.state for name, row in by_name.items()}
        return g.rollback_plan(graph, service, states)


def _status(row: m.TriggerState) -> tr.TriggerStatus:
    return tr.TriggerStatus(
        phase=row.state,
        holding=row.holding,
        since=row.since,
        fired_at=row.fired_at,
        acked=row.acked_by is not None,
        streak=row.streak,
        last_at=row.last_at,
        detail=row.detail or "",
    )


def _apply(row: m.TriggerState, status: tr.TriggerStatus, acked_by: str | None) -> None:
    row.state = status.phase
    row.holding = status.holding
    row.since = status.since
    row.fired_at = status.fired_at
    row.streak = status.streak
    row.last_at = status.last_at
    row.detail = status.detail
    if not status.acked:
        row.acked_by = None
        row.acked_at = None
    else:
        row.acked_by = acked_by
