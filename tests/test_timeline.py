"""The day's phase and milestones follow what happened, and never tick a moment before it comes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import read_snapshot
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.domain.timeline import DayPhase, day_phase, milestones, when, zone_note
from warroom.store.engine import Store


def at(hour: int, minute: int) -> datetime:
    return datetime(2024, 3, 20, hour, minute, tzinfo=UTC)


def done_labels(store: Store, now: datetime) -> set[str]:
    return {m.label for m in milestones(read_snapshot(store), now) if m.done}


def test_a_release_settled_early_does_not_tick_the_window_closing(
    go: Store, clock: FixedClock
) -> None:
    for name in read_snapshot(go).deploy_order:
        service = read_snapshot(go).service(name)
        assert service is not None
        oncall = {"infra": "raj", "backend": "lisa", "mobile": "omar", "frontend": "kim"}
        for _ in service.steps:
            Commands(go, clock, oncall[service.team]).complete_step(name)
    early = at(13, 34)
    ticked = done_labels(go, early)
    assert "deploy window closes" not in ticked
    assert "deploy window opens" not in ticked
    assert "rollback deadline" not in ticked
    assert "go/no-go meeting" in ticked  # an event that happened, not a moment
    assert {"deploy window opens", "deploy window closes"} <= done_labels(go, at(16, 0))


def test_the_phase_follows_the_decision_and_the_services(go: Store, clock: FixedClock) -> None:
    snapshot = read_snapshot(go)
    assert day_phase(snapshot, at(13, 35)) is DayPhase.WAITING_FOR_WINDOW  # GO, window not open
    Commands(go, clock, "raj").complete_step("api-gateway")
    assert day_phase(read_snapshot(go), at(13, 36)) is DayPhase.DEPLOYING
    oncall = {"infra": "raj", "backend": "lisa", "mobile": "omar", "frontend": "kim"}
    for name in snapshot.deploy_order:
        service = read_snapshot(go).service(name)
        assert service is not None
        for _ in range(len(service.steps) - service.steps_done):
            Commands(go, clock, oncall[service.team]).complete_step(name)
    assert day_phase(read_snapshot(go), at(14, 30)) is DayPhase.DONE


def test_without_a_decision_the_phase_is_the_clocks(loaded: Store) -> None:
    snapshot = read_snapshot(loaded)
    assert day_phase(snapshot, at(13, 0)) is DayPhase.BEFORE_GO_NO_GO
    assert day_phase(snapshot, at(13, 45)) is DayPhase.GO_NO_GO


def test_no_go_says_so(loaded: Store, clock: FixedClock) -> None:
    Commands(loaded, clock, "sarah").decide("no-go", rationale="auth not ready")
    assert day_phase(read_snapshot(loaded), at(13, 40)) is DayPhase.NO_GO


def test_times_name_their_zone() -> None:
    moment = at(14, 5)
    assert when(moment, "UTC") == "14:05 UTC"
    assert when(moment, "Europe/Berlin") == "15:05 CET"
    assert when(moment + timedelta(days=120), "Europe/Berlin") == "16:05 CEST"
    # No lettered abbreviation ("-03"): the zone's own name instead.
    assert when(moment, "America/Sao_Paulo") == "11:05 America/Sao_Paulo"
    assert when(moment, "Europe/Berlin", "%H:%M:%S", label=False) == "15:05:00"
    assert zone_note(moment, "UTC") == ""
    assert zone_note(moment, "Europe/Berlin") == "times in CET"


def test_status_says_the_phase_every_header_says(go: Store, clock: FixedClock) -> None:
    """`warroom status` and the TUI's header name the same phase: a release rolling
    back in the deploy window says "rolling back", not the clock's "deploy window"."""
    from warroom.status import status_json, status_text

    Commands(go, clock, "raj").complete_step("api-gateway")
    Commands(go, clock, "tom").fail_deploy("api-gateway", reason="5xx on login")
    now = at(14, 10)
    snapshot = read_snapshot(go)
    assert day_phase(snapshot, now) is DayPhase.ROLLING_BACK
    assert " · rolling back · " in status_text(snapshot, now).splitlines()[0]
    release = status_json(snapshot, now)["release"]
    assert (release["phase"], release["day_phase"]) == ("deploy window", "rolling back")
