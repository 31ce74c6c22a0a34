"""Moving through the record (domain/replay.py): events, minutes, marks, and the edges."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.test_record import history
from warroom.clock import FixedClock
from warroom.domain.lifecycle import DeployState
from warroom.domain.record import DECISION
from warroom.domain.replay import Playhead, Reel, is_mark
from warroom.store.engine import Store
from warroom.testing.release_day import at, rehearse


@pytest.fixture
def reel(sqlite_loaded: Store, clock: FixedClock) -> Reel:
    rehearse(sqlite_loaded, clock)
    return Reel(history(sqlite_loaded))


def state(playhead: Playhead, service: str) -> DeployState:
    view = playhead.snapshot.service(service)
    assert view is not None
    return view.state


def test_the_end_of_the_record_is_its_last_event(reel: Reel) -> None:
    end = reel.at()
    assert end.count == len(reel) and end.moment == reel.history.events[-1].at == at(14, 40, 30)
    assert end.snapshot.recorded
    assert end.snapshot.health_state("user-service", at(23, 0)) == "healthy"  # as recorded


def test_a_moment_takes_every_event_up_to_it(reel: Reel) -> None:
    playhead = reel.at(at(14, 37, 30))
    assert playhead.count == reel.history.count_at(at(14, 37, 30))
    assert playhead.moment == at(14, 37, 30)
    assert state(playhead, "user-service") is DeployState.ROLLING_BACK
    assert playhead.snapshot.health_state("user-service", at(14, 37, 30)) == "failing"


def test_stepping_moves_one_event_and_puts_the_moment_on_it(reel: Reel) -> None:
    events = reel.history.events
    playhead = reel.at(at(14, 37))  # the rollback ordered: its event is the last one
    assert playhead.event is not None and playhead.event.action == "rollback.start"
    on = playhead.step(1)
    assert on.count == playhead.count + 1 and on.moment == events[playhead.count].at
    back = on.step(-1)
    assert (back.count, back.moment) == (playhead.count, playhead.moment)
    # Nine items ticked in the same second: nine steps, one moment.
    ticked = reel.at(at(13, 25))
    assert ticked.step(-1).moment == ticked.moment and ticked.step(-1).count == ticked.count - 1


def test_between_events_the_first_step_back_lands_on_the_last_that_happened(reel: Reel) -> None:
    between = reel.at(at(14, 37, 30))  # after 14:37:10's trigger change, before 14:38
    back = between.step(-1)
    assert (back.count, back.moment) == (between.count, at(14, 37, 10))
    assert back.step(-1).moment == at(14, 37, 5)
    assert between.step(1).moment == at(14, 38)


def test_jumping_by_time_and_the_edges_of_the_record(reel: Reel) -> None:
    playhead = reel.at(at(14, 37, 30))
    assert playhead.shift(timedelta(minutes=1)).moment == at(14, 38, 30)
    assert playhead.shift(timedelta(minutes=-10)).moment == at(14, 27, 30)
    start = playhead.shift(timedelta(days=-1))
    assert (start.count, start.moment) == (1, at(13, 20))  # the plan loaded: the floor
    assert start.step(-1) == start and start.shift(timedelta(minutes=-1)) == start
    end = playhead.shift(timedelta(days=1))
    assert (end.count, end.moment) == (len(reel), reel.end)
    assert end.step(1) == end and end.shift(timedelta(minutes=10)) == end
    assert reel.at(at(9, 0)) == start  # before the record: its start


def test_a_replay_opened_later_than_the_last_event_ends_there(reel: Reel) -> None:
    later = Reel(reel.history, opened_at=at(15, 0))
    assert later.at().moment == at(15, 0) and later.at().count == len(later)
    assert later.at().shift(timedelta(minutes=-10)).moment == at(14, 50)


def test_marks_are_trigger_changes_and_decisions(reel: Reel) -> None:
    marked = [e for e in reel.history.events if is_mark(e)]
    assert [e.at for e in marked] == [
        at(13, 31),  # GO
        at(14, 35),  # down pending
        at(14, 35, 10),  # down fired
        at(14, 36),  # acknowledged
        at(14, 37, 5),  # resolved (rolling back: not watched)
        at(14, 37, 10),  # its `since` cleared
        at(14, 38),  # mike's call on auth-service
        at(14, 38, 30),  # acknowledged
    ]
    assert marked[0].action == DECISION
    before_go = reel.at(at(13, 25))
    go = before_go.to_mark(1)
    assert go.moment == at(13, 31) and go.snapshot.decision is not None
    assert go.to_mark(-1) == go  # nothing before the GO
    assert go.to_mark(1).moment == at(14, 35)
    # Past a mark in time, going back lands on it first, then the one before.
    after_go = reel.at(at(13, 40))
    assert after_go.to_mark(-1).moment == at(13, 31)
    last = reel.at()
    assert last.to_mark(1) == last
    assert last.to_mark(-1).moment == at(14, 38, 30)
    assert last.to_mark(-1).to_mark(-1).moment == at(14, 38)
