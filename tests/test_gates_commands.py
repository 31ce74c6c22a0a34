"""The start gates through the command layer, on both backends, with a fixed clock:
the deploy window, freezes (one-off and recurring, across DST), overrides,
holds that follow the dependency graph, and the record of it all."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from tests.conftest import SAMPLE, check_everything, fingerprint, read_snapshot
from tests.test_record import history, what_people_see
from warroom.clock import FixedClock
from warroom.commands import CommandError, Commands
from warroom.commands.health import HealthCommands
from warroom.commands.load import load_plan
from warroom.domain.health import Sample
from warroom.domain.lifecycle import DeployState
from warroom.domain.plan import parse_plan_text
from warroom.domain.snapshot import ReleaseSnapshot
from warroom.store import audit
from warroom.store import models as m
from warroom.store.engine import Store

As = Callable[[str], Commands]
TTL = timedelta(seconds=30)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def refused(store: Store, action: Callable[[], object], *phrases: str) -> str:
    """Run `action`, expect a refusal containing `phrases`, and that nothing changed."""
    before = fingerprint(store)
    with pytest.raises(CommandError) as info:
        action()
    message = str(info.value)
    for phrase in phrases:
        assert phrase in message, message
    assert fingerprint(store) == before, "a refused command wrote something"
    return message


def finish(as_: As, person: str, service: str) -> None:
    """Complete every remaining runbook step of `service`."""
    while not re.search(r"\((\d+)/\1\)$", as_(person).complete_step(service)):
        pass  # "... done (2/4)": more to go


@dataclass(frozen=True)
class Event:
    actor: str
    payload: dict[str, Any]


def events(store: Store, action: str) -> list[Event]:
    """The audit events of `action`, oldest first."""
    with store.read() as session:
        rows = session.exec(
            select(m.AuditEvent).where(m.AuditEvent.action == action).order_by(col(m.AuditEvent.id))
        ).all()
        return [Event(row.actor, json.loads(row.payload)) for row in rows]


def chain_holds(store: Store) -> None:
    with store.read() as session:
        report = audit.verify(session, store.audit_keys)
    assert report.ok, report.problem


# ---------------------------------------------------------------- the window and overrides


def test_a_start_outside_the_window_is_refused_saying_when_it_opens_and_closed(
    loaded: Store, as_: As, clock: FixedClock
) -> None:
    check_everything(loaded, clock)
    clock.set(utc(2024, 3, 20, 13, 31))
    as_("sarah").decide("go", rationale="all teams ready")
    refused(
        loaded,
        lambda: as_("raj").complete_step("api-gateway"),
        "api-gateway cannot start before the deploy window: it opens at 14:00 UTC (in 29m)",
        "override the window",
    )
    refused(loaded, lambda: as_("raj").start_deploy("api-gateway"), "opens at 14:00 UTC")
    clock.set(utc(2024, 3, 20, 14, 0))
    as_("raj").complete_step("api-gateway")  # the first step starts it: in the window
    finish(as_, "raj", "api-gateway")
    clock.set(utc(2024, 3, 20, 16, 0))
    refused(
        loaded,
        lambda: as_("lisa").complete_step("auth-service"),
        "auth-service cannot start: the deploy window closed at 16:00 UTC",
    )


def test_an_override_lets_starts_through_for_its_duration_and_not_after(
    loaded: Store, as_: As, clock: FixedClock
) -> None:
    check_everything(loaded, clock)
    clock.set(utc(2024, 3, 20, 13, 31))
    as_("sarah").decide("go", rationale="all teams ready")
    refused(
        loaded, lambda: as_("raj").override("window", "15m", "early"), "only the release manager"
    )
    refused(loaded, lambda: as_("sarah").override("window", "15m", "  "), "say why")
    refused(loaded, lambda: as_("sarah").override("window", "5h", "x"), "at most 4h")
    refused(loaded, lambda: as_("sarah").override("lunch", "15m", "x"), "nothing called 'lunch'")
    refused(
        loaded,
        lambda: as_("sarah").override("Black Friday", "15m", "x"),
        "freeze 'Black Friday' is not in force in the next 15m",
    )
    said = as_("sarah").override("window", "15m", "infra is ready early")
    assert said == "the deploy window is overridden until 13:46:00 UTC"
    clock.set(utc(2024, 3, 20, 13, 40))
    as_("raj").complete_step("api-gateway")
    finish(as_, "raj", "api-gateway")
    snapshot = read_snapshot(loaded)
    assert [o.target for o in snapshot.active_overrides(clock.now())] == ["window"]
    clock.set(utc(2024, 3, 20, 13, 46))  # it ends by the clock alone
    assert read_snapshot(loaded).active_overrides(clock.now()) == []
    refused(
        loaded, lambda: as_("lisa").complete_step("auth-service"), "opens at 14:00 UTC (in 14m)"
    )
    # Every override is in the audit chain, with how it left the room, and in the log.
    (event,) = events(loaded, "gate.override")
    assert event.actor == "sarah"
    assert event.payload["fields"] == {
        "target": "window",
        "duration": "15m",
        "reason": "infra is ready early",
    }
    (image,) = event.payload["after"]["overrides"].values()
    assert image == {
        "target": "window",
        "reason": "infra is ready early",
        "by": "sarah",
        "at": "2024-03-20T13:31:00+00:00",
        "until": "2024-03-20T13:46:00+00:00",
    }
    assert any(
        line.text.startswith("⚑ Override: the deploy window lifted for 15m, until 13:46:00 UTC")
        and line.author == "sarah"
        for line in read_snapshot(loaded).log
    )
    chain_holds(loaded)


# ---------------------------------------------------------------- freezes, across a DST change

# The sample plan on the Berlin clock, its window over the weekend the
# clocks go forward (Sunday 31 March 2024, 02:00 CET → 03:00 CEST), with a
# weekly freeze from Saturday 20:00 for a day and a one-off on Sunday evening.
BERLIN_FREEZES = """
freezes:
  - name: Weekend
    rrule: "FREQ=WEEKLY;BYDAY=SA;BYHOUR=20"
    duration: 24h
    reason: every Saturday from 20:00
  - {name: Easter dinner, start: 2024-03-31T18:30:00Z, end: 2024-03-31T19:30:00Z, reason: on-call at dinner}
"""


def berlin_plan() -> str:
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("timezone: UTC", "timezone: Europe/Berlin")
    text = text.replace(
        "window: {start: 2024-03-20T14:00:00Z, end: 2024-03-20T16:00:00Z}",
        "window: {start: 2024-03-30T08:00:00Z, end: 2024-04-01T08:00:00Z}",
    )
    text = text.replace(
        "rollback_until: 2024-03-20T18:00:00Z", "rollback_until: 2024-04-01T12:00:00Z"
    )
    text = text.replace("go_no_go_at: 2024-03-20T13:30:00Z", "go_no_go_at: 2024-03-30T07:30:00Z")
    head, _, _ = text.partition("\nfreezes:")
    return head + BERLIN_FREEZES


@pytest.fixture
def berlin(store: Store, clock: FixedClock) -> Store:
    """The Berlin plan loaded and GO recorded, on the Saturday morning."""
    clock.set(utc(2024, 3, 30, 7, 0))
    text = berlin_plan()
    load_plan(store, parse_plan_text(text), text, loaded_by="sarah", clock=clock)
    check_everything(store, clock)
    Commands(store, clock, "sarah").decide("go", rationale="ready")
    return store


def test_starts_are_refused_inside_a_weekly_freeze_that_spans_the_dst_change(
    berlin: Store, clock: FixedClock
) -> None:
    raj = Commands(berlin, clock, "raj")
    # Saturday 20:30 CET: inside the freeze, which lasts a day on the Berlin
    # clock — until Sunday 20:00 CEST, 23 hours later, the clocks having gone forward.
    clock.set(utc(2024, 3, 30, 19, 30))
    refused(
        berlin,
        lambda: raj.complete_step("api-gateway"),
        "api-gateway cannot start during freeze 'Weekend' (every Saturday from 20:00): "
        "it lasts until Sun 31 Mar 20:00 CEST",
        "warroom override Weekend",
    )
    clock.set(utc(2024, 3, 31, 17, 59))  # 19:59 CEST
    refused(berlin, lambda: raj.complete_step("api-gateway"), "it lasts until 20:00 CEST")
    clock.set(utc(2024, 3, 31, 18, 0))  # 20:00 CEST: over
    raj.complete_step("api-gateway")
    started = read_snapshot(berlin).service("api-gateway")
    assert started is not None and started.state is DeployState.DEPLOYING


def test_a_one_off_freeze_refuses_starts_and_never_a_rollback(
    berlin: Store, clock: FixedClock
) -> None:
    raj, lisa, sarah = (Commands(berlin, clock, who) for who in ("raj", "lisa", "sarah"))
    clock.set(utc(2024, 3, 31, 18, 0))
    for _ in range(4):
        raj.complete_step("api-gateway")
    raj.complete_step("logging-service")
    clock.set(utc(2024, 3, 31, 18, 45))  # 20:45 CEST, during Easter dinner
    refused(
        berlin,
        lambda: lisa.complete_step("auth-service"),
        "auth-service cannot start during freeze 'Easter dinner' (on-call at dinner): "
        "it lasts until 21:30 CEST",
        'warroom override "Easter dinner"',
    )
    # A freeze must not trap a bad release: rollbacks go through.
    raj.fail_deploy("logging-service", "log shipping lag")
    sarah.start_rollback("logging-service", "log shipping lag")
    raj.finish_rollback("logging-service")
    rolled = read_snapshot(berlin).service("logging-service")
    assert rolled is not None and rolled.state is DeployState.ROLLED_BACK
    # An override of that freeze lets starts through while it lasts.
    clock.set(utc(2024, 3, 31, 18, 50))
    said = sarah.override("easter dinner", "10m", "the fix cannot wait")
    assert said == "freeze 'Easter dinner' is overridden until 21:00:00 CEST"
    clock.set(utc(2024, 3, 31, 18, 55))
    lisa.complete_step("auth-service")
    clock.set(utc(2024, 3, 31, 19, 0))
    assert read_snapshot(berlin).active_overrides(clock.now()) == []
    chain_holds(berlin)


# ---------------------------------------------------------------- holds


def error_rate(service: str, at: datetime, rate: float) -> Sample:
    return Sample(service, at, True, None, 200, 20.0, {"error_rate": rate, "p99_ms": 100.0})


@pytest.fixture
def two_done(go: Store, as_: As, clock: FixedClock) -> Store:
    """api-gateway and auth-service deployed; the rest waiting."""
    finish(as_, "raj", "api-gateway")
    finish(as_, "lisa", "auth-service")
    clock.advance(timedelta(minutes=1))
    return go


def pending_on(store: Store, clock: FixedClock, service: str) -> HealthCommands:
    poller = HealthCommands(store, clock, "poller-1")
    assert poller.claim(TTL).held
    poller.record([error_rate(service, clock.now(), 0.05)], TTL)
    trigger = read_snapshot(store).trigger(f"error-rate@{service}")
    assert trigger is not None and trigger.state == "pending"
    return poller


def test_a_pending_trigger_holds_its_blast_radius_and_nothing_else(
    two_done: Store, as_: As, clock: FixedClock
) -> None:
    pending_on(two_done, clock, "auth-service")
    snapshot = read_snapshot(two_done)
    # Held: every waiting service in auth-service's blast radius, and no other.
    assert set(snapshot.holds) == {"user-service", "mobile-backend", "web-frontend"}
    assert [c.describe() for c in snapshot.holds["user-service"].causes] == [
        "error-rate@auth-service (pending)"
    ]
    assert snapshot.startable() == ["logging-service"]
    owners = {"user-service": "lisa", "mobile-backend": "omar", "web-frontend": "kim"}
    for name, owner in owners.items():  # each one refused (user-service by its hold)
        with pytest.raises(CommandError):
            as_(owner).complete_step(name)
    refused(
        two_done,
        lambda: as_("lisa").start_deploy("user-service"),
        "user-service cannot start: it is held by error-rate@auth-service (pending) upstream",
        "warroom hold release user-service",
    )
    as_("raj").complete_step("logging-service")  # outside the blast radius: starts


def test_the_hold_lifts_when_the_trigger_resolves(
    two_done: Store, as_: As, clock: FixedClock
) -> None:
    poller = pending_on(two_done, clock, "auth-service")
    clock.advance(timedelta(seconds=5))
    poller.record([error_rate("auth-service", clock.now(), 0.001)], TTL)  # cleared
    assert read_snapshot(two_done).holds == {}
    as_("lisa").complete_step("user-service")


def test_a_firing_trigger_holds_until_acknowledged_and_cleared(two_done: Store, as_: As) -> None:
    as_("mike").raise_trigger("auth-service", "customers see 500s at login")
    refused(
        two_done,
        lambda: as_("lisa").complete_step("user-service"),
        "lead-call@auth-service (firing)",
    )
    as_("lisa").ack_trigger("lead-call@auth-service")  # a lead's call resolves once acknowledged
    as_("lisa").complete_step("user-service")


def test_the_release_manager_releases_a_hold_with_a_reason(
    two_done: Store, as_: As, clock: FixedClock
) -> None:
    poller = pending_on(two_done, clock, "auth-service")
    refused(
        two_done,
        lambda: as_("mike").release_hold("user-service", "fine"),
        "mike (team lead, backend) may not release the hold on user-service: only the release manager",
    )
    refused(
        two_done, lambda: as_("sarah").release_hold("user-service", " "), "say why user-service"
    )
    refused(
        two_done,
        lambda: as_("sarah").release_hold("logging-service", "x"),
        "logging-service is not held",
    )
    said = as_("sarah").release_hold("user-service", "the error rate is the login page only")
    assert (
        said == "user-service may start: its hold by error-rate@auth-service (pending) is released"
    )
    snapshot = read_snapshot(two_done)
    assert set(snapshot.holds) == {"mobile-backend", "web-frontend"}  # only the one released
    assert snapshot.log[-1].text == (
        "⊘ Hold on user-service released (held by error-rate@auth-service (pending)) — "
        "the error rate is the login page only"
    )
    (event,) = events(two_done, "hold.release")
    assert event.payload["held_by"] == ["error-rate@auth-service"]
    assert list(event.payload["after"]["hold_releases"].values()) == [
        {
            "service": "user-service",
            "reason": "the error rate is the login page only",
            "by": "sarah",
            "at": clock.now().isoformat(),
        }
    ]
    # The trigger clears and goes pending again: a new cause holds it again.
    for rate in (0.001, 0.05):
        clock.advance(timedelta(seconds=5))
        poller.record([error_rate("auth-service", clock.now(), rate)], TTL)
    assert "user-service" in read_snapshot(two_done).holds
    clock.advance(timedelta(seconds=5))
    poller.record([error_rate("auth-service", clock.now(), 0.001)], TTL)
    as_("lisa").complete_step("user-service")
    chain_holds(two_done)


def test_a_failed_service_holds_its_dependents(two_done: Store, as_: As) -> None:
    as_("raj").fail_deploy("api-gateway", "routing table lost")
    snapshot = read_snapshot(two_done)
    # auth-service is done already; user-service (its dependency done) is held.
    assert [c.describe() for c in snapshot.holds["user-service"].causes] == ["api-gateway (failed)"]
    refused(
        two_done, lambda: as_("lisa").complete_step("user-service"), "held by api-gateway (failed)"
    )
    as_("sarah").release_hold("user-service", "auth talks to the old gateway fine")
    as_("lisa").complete_step("user-service")


# ---------------------------------------------------------------- the record


def test_replay_shows_the_override_banner_and_the_holds_at_the_right_moments(
    loaded: Store, as_: As, clock: FixedClock
) -> None:
    moments: list[tuple[datetime, ReleaseSnapshot]] = []

    def seen() -> None:
        moments.append((clock.now(), read_snapshot(loaded)))

    check_everything(loaded, clock)
    clock.set(utc(2024, 3, 20, 13, 31))
    as_("sarah").decide("go", rationale="ready")
    as_("sarah").override("window", "15m", "infra is ready early")
    seen()
    clock.set(utc(2024, 3, 20, 13, 35))
    finish(as_, "raj", "api-gateway")
    clock.set(utc(2024, 3, 20, 14, 0))
    finish(as_, "lisa", "auth-service")
    as_("mike").raise_trigger("auth-service", "login errors")
    seen()
    clock.set(utc(2024, 3, 20, 14, 5))
    as_("sarah").release_hold("user-service", "login errors do not touch users")
    seen()

    record = history(loaded)
    for moment, then in moments:
        replayed = record.at(moment)
        assert what_people_see(replayed) == what_people_see(then), moment
        assert replayed.holds == then.holds
    at_override = record.at(moments[0][0])
    assert [o.target for o in at_override.active_overrides(moments[0][0])] == ["window"]
    later = utc(2024, 3, 20, 13, 50)
    assert record.at(later).active_overrides(later) == []  # the banner has gone by itself
    assert set(record.at(moments[1][0]).holds) == {"user-service", "mobile-backend", "web-frontend"}
    assert set(record.at(moments[2][0]).holds) == {"mobile-backend", "web-frontend"}
