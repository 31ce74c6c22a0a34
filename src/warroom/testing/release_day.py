"""A scripted release day on the sample plan, with a fixed clock.

Loaded at 13:20 (the `loaded` fixture), every checklist item checked by
13:25 and GO at 13:31. From 14:00: api-gateway and auth-service deploy
cleanly, logging-service fails, user-service deploys and then goes bad —
its health fails from 14:35:00, the `down` rule fires on the third failing
check (14:35:10), lisa acknowledges at 14:36:00, sarah orders the rollback
at 14:37:00, lisa marks it rolled back at 14:40:00 and its health passes
again from 14:40:30. mike raises a lead's call on auth-service at 14:38:00,
which lisa acknowledges at 14:38:30. mobile-backend and web-frontend never
start. Every number a report or a replay of this day shows can be worked
out by hand from this script, and the tests that use it do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.health import HealthCommands
from warroom.domain.health import Sample
from warroom.domain.snapshot import ReleaseSnapshot
from warroom.store.engine import Store
from warroom.store.queries import current_release, load_snapshot

DAY = datetime(2024, 3, 20, tzinfo=UTC)
TTL = timedelta(seconds=15)
EVERY = timedelta(seconds=5)


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm, second=ss)


FAILING_FROM = at(14, 35)
PASSING_FROM = at(14, 40, 30)


def user_service_sample(moment: datetime) -> Sample:
    """user-service's health at `moment`: failing (HTTP 503) from 14:35:00 until 14:40:30."""
    if FAILING_FROM <= moment < PASSING_FROM:
        return Sample("user-service", moment, False, "HTTP 503", 503, 8.0, {})
    return Sample("user-service", moment, True, None, 200, 12.0, {"error_rate": 0.001})


@dataclass
class Day:
    store: Store
    clock: FixedClock
    # (what had just happened, when, the room as everyone saw it then)
    moments: list[tuple[str, datetime, ReleaseSnapshot]] = field(default_factory=list)

    def to(self, moment: datetime) -> None:
        assert moment >= self.clock.now(), "the script only moves forward"
        self.clock.advance(moment - self.clock.now())

    def as_(self, person: str) -> Commands:
        return Commands(self.store, self.clock, person)

    def seen(self, what: str) -> None:
        with self.store.read() as session:
            release = current_release(session)
            assert release is not None
            self.moments.append((what, self.clock.now(), load_snapshot(session, release)))

    def steps(self, person: str, service: str, *times: datetime) -> None:
        for moment in times:
            self.to(moment)
            self.as_(person).complete_step(service)

    def poll_until(self, poller: HealthCommands, end: datetime) -> None:
        """The poller probes user-service every 5 s until `end` (inclusive)."""
        while self.clock.now() + EVERY <= end:
            self.to(self.clock.now() + EVERY)
            poller.record([user_service_sample(self.clock.now())], TTL)


def rehearse(store: Store, clock: FixedClock) -> Day:
    """Play the day on `store` (the sample plan loaded at 13:20 by `clock`)."""
    day = Day(store, clock)
    day.seen("loaded")
    sarah = day.as_("sarah")

    day.to(at(13, 25))
    for item in load_snapshot_items(store):
        sarah.check_item(item)
    day.seen("every item checked")
    day.to(at(13, 31))
    sarah.decide("go", rationale="all teams ready")
    day.seen("GO")

    day.steps("raj", "api-gateway", at(14, 0), at(14, 3), at(14, 6), at(14, 8))
    day.seen("api-gateway done")
    day.steps("lisa", "auth-service", at(14, 9))
    day.steps("raj", "logging-service", at(14, 10))
    day.seen("auth-service and logging-service deploying")
    day.steps("lisa", "auth-service", at(14, 12))
    day.to(at(14, 14))
    day.as_("raj").fail_deploy("logging-service", reason="log shipping lag")
    day.steps("lisa", "auth-service", at(14, 15), at(14, 20))
    day.seen("logging-service failed, auth-service done")

    day.steps("lisa", "user-service", at(14, 21), at(14, 24), at(14, 27), at(14, 30), at(14, 33))
    day.to(at(14, 33, 30))
    poller = HealthCommands(store, clock, "poller-1")
    assert poller.claim(TTL).held
    poller.record([user_service_sample(clock.now())], TTL)
    day.seen("user-service done, polled")

    day.poll_until(poller, at(14, 35, 5))
    day.seen("user-service failing: down pending")
    day.poll_until(poller, at(14, 35, 10))
    day.seen("down fired")
    day.poll_until(poller, at(14, 36))
    day.as_("lisa").ack_trigger("down@user-service")
    day.as_("mike").post_message("user-service is throwing 503s; lisa is on it")
    day.seen("acknowledged")
    day.poll_until(poller, at(14, 37))
    sarah.start_rollback("user-service", reason="down firing")
    day.seen("rollback ordered")
    day.poll_until(poller, at(14, 38))
    day.as_("mike").raise_trigger("auth-service", "customers see 500s at login")
    day.seen("lead's call raised")
    day.poll_until(poller, at(14, 38, 30))
    day.as_("lisa").ack_trigger("lead-call@auth-service")
    day.poll_until(poller, at(14, 40))
    day.as_("lisa").finish_rollback("user-service")
    day.seen("rolled back, still failing")
    day.poll_until(poller, at(14, 41))
    day.seen("health passing again")
    return day


def load_snapshot_items(store: Store) -> list[str]:
    with store.read() as session:
        release = current_release(session)
        assert release is not None
        return [item.key for item in load_snapshot(session, release).all_items]
