"""What a poller writes: the lease, the samples, and their pruning (both backends)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import col, func, select

from warroom.clock import FixedClock
from warroom.commands import CommandError
from warroom.commands.health import KEEP_SAMPLES, PRUNE_EVERY, HealthCommands
from warroom.domain.health import Sample
from warroom.store import models as m
from warroom.store.engine import Store

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
