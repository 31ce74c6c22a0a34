"""The release's record: the audit chain alone rebuilds the room at any moment (both backends)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from warroom.clock import FixedClock
from warroom.domain.record import History, pristine
from warroom.domain.snapshot import ReleaseSnapshot
from warroom.store.engine import Store
from warroom.store.queries import current_release, read_history
from warroom.testing.release_day import FAILING_FROM, PASSING_FROM, Day, at, rehearse


def history(store: Store) -> History:
    with store.read() as session:
        release = current_release(session)
        assert release is not None
        return read_history(session, release)


def what_people_see(snapshot: ReleaseSnapshot) -> ReleaseSnapshot:
    """The snapshot less what is measured rather than recorded: health as of
    the reader's clock, the latest samples, the poller lease, a trigger's
    running detail (the record keeps it as of each transition)."""
    return replace(
        snapshot,
        services=tuple(replace(s, health="unknown") for s in snapshot.services),
        triggers=tuple(replace(t, detail=None) for t in snapshot.triggers),
        latest={},
        poller=None,
        revision=0,
    )


def test_replay_at_every_moment_of_the_day_is_the_room_as_it_was(
    loaded: Store, clock: FixedClock
) -> None:
    day = rehearse(loaded, clock)
    record = history(loaded)
    assert len(day.moments) >= 12
    for what, moment, seen in day.moments:
        replayed = record.at(moment)
        assert what_people_see(replayed) == what_people_see(seen), what
        assert replayed.log == seen.log, what  # every line said by then, and no later one


def test_the_record_keeps_health_turns_and_trigger_transitions(
    loaded: Store, clock: FixedClock
) -> None:
    rehearse(loaded, clock)
    record = history(loaded)
    turns = [
        (e.at, name, image["ok"], image["reason"])
        for e in record.events
        for name, image in e.after.get("health", {}).items()
    ]
    assert turns == [
        (at(14, 33, 30), "user-service", True, None),  # the first sample
        (FAILING_FROM, "user-service", False, "HTTP 503"),
        (PASSING_FROM, "user-service", True, None),
    ]
    phases = [
        (e.at, tid, image["state"])
        for e in record.events
        for tid, image in e.after.get("triggers", {}).items()
        if tid == "down@user-service"
    ]
    # Each transition once, not each sample that moved the streak.
    assert [(t, p) for t, _, p in phases] == [
        (FAILING_FROM, "pending"),
        (FAILING_FROM + timedelta(seconds=10), "firing"),
        (at(14, 36), "firing"),  # acknowledged, still holding
        (at(14, 37, 5), "resolved"),  # not watched once rolling back, and acknowledged
        (at(14, 37, 10), "resolved"),  # its `since` cleared: a change people see
    ]
    # The health is what the record says between its turns.
    assert record.at(at(14, 36)).service("user-service").health == "failing"  # type: ignore[union-attr]
    assert record.at(at(14, 41)).service("user-service").health == "healthy"  # type: ignore[union-attr]


def test_stepping_one_event_at_a_time_agrees_with_folding_from_the_start(
    loaded: Store, clock: FixedClock
) -> None:
    rehearse(loaded, clock)
    record = history(loaded)
    # Many marks: folding from a mark must equal folding from the start.
    stepped = History(record.base, record.events, record.log, stride=3)
    for count in range(len(record) + 1):
        assert stepped.after(count) == record.after(count)


def test_before_anything_happened_the_replay_is_the_plan_as_loaded(
    loaded: Store, clock: FixedClock
) -> None:
    day = Day(loaded, clock)
    day.seen("loaded")
    (_, moment, seen) = day.moments[0]
    record = history(loaded)
    assert what_people_see(record.at(moment)) == what_people_see(seen)
    # Nothing before the load: the release as its plan made it, log empty.
    assert record.at(moment - timedelta(seconds=1)).log == ()
    assert what_people_see(pristine(seen)) == what_people_see(replace(seen, log=()))
