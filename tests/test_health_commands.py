"""What a poller writes: the lease, the samples, and their pruning (both backends)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, func, select

from warroom.clock import FixedClock
from warroom.commands import CommandError
from warroom.commands.health import KEEP_SAMPLES, PRUNE_EVERY, HealthCommands
from warroom.domain.health import Sample
from warroom.store import models as m
from warroom.store.engine import Store
from warroom.store.repo import Repo

TTL = timedelta(seconds=15)


def ok(service: str, at: datetime) -> Sample:
    return Sample(service, at, True, None, 200, 12.0, {"error_rate": 0.001})


def stored_at(store: Store) -> list[datetime]:
    with store.read() as session:
        return list(session.exec(select(m.HealthSample.at).order_by(col(m.HealthSample.at))).all())


def test_one_holder_at_a_time(loaded: Store, clock: FixedClock) -> None:
    first = HealthCommands(loaded, clock, "poller-a")
    second = HealthCommands(loaded, clock, "poller-b")
    assert first.claim(TTL).held
    claim = second.claim(TTL)
    assert not claim.held and claim.holder == "poller-a"
    with pytest.raises(CommandError, match="held by poller-a, not poller-b"):
        second.record([ok("api-gateway", clock.now())], TTL)
    clock.advance(TTL + timedelta(seconds=1))  # poller-a went silent
    taken = second.claim(TTL)
    assert taken.held and taken.taken_over_from == "poller-a"


def test_old_samples_are_pruned_about_once_a_minute(loaded: Store, clock: FixedClock) -> None:
    poller = HealthCommands(loaded, clock, "poller-a")
    assert poller.claim(TTL).held
    start = clock.now()
    poller.record([ok("api-gateway", start)], TTL)

    clock.advance(KEEP_SAMPLES + timedelta(minutes=1))
    poller.record([ok("api-gateway", clock.now())], TTL)
    assert stored_at(loaded) == [clock.now()]  # the first one aged out

    # A late sample, already past keeping, arrives within the minute: it stays
    # until the next pruning, rather than every flush scanning every sample.
    late = clock.now() - KEEP_SAMPLES - timedelta(minutes=5)
    clock.advance(timedelta(seconds=10))
    poller.record([ok("auth-service", late), ok("api-gateway", clock.now())], TTL)
    assert late in stored_at(loaded)

    clock.advance(PRUNE_EVERY)
    poller.record([ok("api-gateway", clock.now())], TTL)
    assert late not in stored_at(loaded)
    with loaded.read() as session:
        assert session.exec(select(func.count()).select_from(m.HealthSample)).one() == 3


def test_a_batch_keeps_every_sample_each_services_newest_and_reports_the_turns(
    loaded: Store, clock: FixedClock
) -> None:
    """store_samples sends one INSERT (and one UPDATE) for a whole batch: what it
    keeps and reports is still each sample in the order it was taken."""
    t = clock.now()
    second = timedelta(seconds=1)

    def failing(service: str, at: datetime) -> Sample:
        return Sample(service, at, False, "no answer within 2s", None, None, {})

    with loaded.write() as session:
        repo = Repo(session)
        repo.release = repo.find_release(None)
        first = repo.store_samples([ok("api-gateway", t), failing("auth-service", t)])
        # Out of order within a batch, and one older than the newest kept.
        turned = repo.store_samples(
            [
                failing("api-gateway", t + 2 * second),
                ok("api-gateway", t + second),
                ok("auth-service", t - second),
            ]
        )
    assert [(s.service, s.ok) for s in first] == [("api-gateway", True), ("auth-service", False)]
    assert [(s.service, s.at, s.ok) for s in turned] == [("api-gateway", t + 2 * second, False)]
    with loaded.read() as session:
        newest = {
            row.service: (row.at, row.ok, row.reason, json.loads(row.metrics))
            for row in session.exec(select(m.ServiceHealth)).all()
        }
        kept = session.exec(select(func.count()).select_from(m.HealthSample)).one()
    assert newest == {
        "api-gateway": (t + 2 * second, False, "no answer within 2s", {}),
        "auth-service": (t, False, "no answer within 2s", {}),
    }
    assert kept == 5
    assert stored_at(loaded)[-1] == t + 2 * second
