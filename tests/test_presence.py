"""Presence rows (store/presence.py), written and read through Core on both backends."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import read_snapshot
from warroom.clock import FixedClock
from warroom.store import presence
from warroom.store.engine import Store


def test_a_beat_refreshes_its_row_and_keeps_when_the_person_arrived(
    loaded: Store, clock: FixedClock
) -> None:
    release_id = read_snapshot(loaded).release_id
    arrived = clock.now()
    later = arrived + timedelta(seconds=10)
    for now in (arrived, later):
        with loaded.rows(write=True) as conn:
            presence.beat(
                conn, instance="lisa-1", release_id=release_id, person="lisa", via="ssh", now=now
            )
    with loaded.rows() as conn:
        here = presence.present(conn, release_id, later)
    assert [(p.person, p.via, p.since) for p in here] == [("lisa", "ssh", arrived)]
    # Seen at `later`, not at `arrived`: still here a whole TTL after the first beat.
    with loaded.rows() as conn:
        assert presence.present(conn, release_id, arrived + presence.TTL + timedelta(seconds=5))


def test_leaving_and_long_silence_take_people_out_of_the_room(
    loaded: Store, clock: FixedClock
) -> None:
    release_id = read_snapshot(loaded).release_id
    now = clock.now()
    with loaded.rows(write=True) as conn:
        for who in ("lisa", "omar"):
            presence.beat(
                conn, instance=who, release_id=release_id, person=who, via="terminal", now=now
            )
        presence.leave(conn, "lisa")
    with loaded.rows() as conn:
        assert [p.person for p in presence.present(conn, release_id, now)] == ["omar"]
        assert presence.present(conn, release_id, now + presence.TTL + timedelta(seconds=1)) == []
    # A beat much later clears rows nobody refreshed for twenty TTLs.
    with loaded.rows(write=True) as conn:
        presence.beat(
            conn,
            instance="mike",
            release_id=release_id,
            person="mike",
            via="ssh",
            now=now + 21 * presence.TTL,
        )
    with loaded.rows() as conn:
        everyone = presence.present(
            conn, release_id, now + 21 * presence.TTL, ttl=30 * presence.TTL
        )
    assert [p.person for p in everyone] == ["mike"]
