"""The start gates as pure functions: the window, freezes (one-off and recurring, across
DST), overrides and holds (domain/gates.py), with fixed instants and no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from warroom.domain import gates
from warroom.domain import graph as g
from warroom.domain.gates import Cause, Freeze, HoldRelease, Override, Period, TriggerFact
from warroom.domain.lifecycle import DeployState

BERLIN = "Europe/Berlin"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# ---------------------------------------------------------------- freezes

BLACK_FRIDAY = Freeze("Black Friday", "peak traffic", start=utc(2024, 11, 29), end=utc(2024, 12, 3))
# Every Saturday from 20:00 for a day, in Berlin: the one of 30 March 2024
# spans the last Sunday of March, when the clocks go from CET to CEST.
WEEKENDS = Freeze(
    "Weekend",
    "no deploys on Sundays",
    rrule="FREQ=WEEKLY;BYDAY=SA;BYHOUR=20",
    duration=timedelta(hours=24),
)


def test_a_one_off_freeze_holds_from_its_start_until_its_end() -> None:
    assert BLACK_FRIDAY.at(utc(2024, 11, 28, 23, 59), "UTC") is None
    assert BLACK_FRIDAY.at(utc(2024, 11, 29), "UTC") == Period(utc(2024, 11, 29), utc(2024, 12, 3))
    assert BLACK_FRIDAY.at(utc(2024, 12, 2, 23, 59), BERLIN) is not None
    assert BLACK_FRIDAY.at(utc(2024, 12, 3), "UTC") is None


@pytest.mark.parametrize(
    ("moment", "in_force_until"),
    [
        # Saturday 23 March: CET (UTC+1). 20:00 local is 19:00 UTC.
        (utc(2024, 3, 23, 18, 59), None),
        (utc(2024, 3, 23, 19, 0), utc(2024, 3, 24, 19, 0)),
        # Saturday 30 March, 20:00 CET (19:00 UTC), for 24h on the Berlin clock:
        # until Sunday 20:00 CEST, which is 18:00 UTC (23 hours later, the clocks
        # having gone forward).
        (utc(2024, 3, 30, 18, 59), None),
        (utc(2024, 3, 30, 19, 0), utc(2024, 3, 31, 18, 0)),
        (utc(2024, 3, 31, 1, 30), utc(2024, 3, 31, 18, 0)),  # through the skipped hour
        (utc(2024, 3, 31, 17, 59), utc(2024, 3, 31, 18, 0)),
        (utc(2024, 3, 31, 18, 0), None),
        # Saturday 6 April: CEST (UTC+2). Still 20:00 local, now 18:00 UTC.
        (utc(2024, 4, 6, 17, 59), None),
        (utc(2024, 4, 6, 18, 0), utc(2024, 4, 7, 18, 0)),
    ],
)
def test_a_weekly_freeze_keeps_its_local_time_across_the_dst_change(
    moment: datetime, in_force_until: datetime | None
) -> None:
    period = WEEKENDS.at(moment, BERLIN)
    assert (period.end if period else None) == in_force_until


def test_the_same_rule_on_a_utc_plan_is_at_20_utc() -> None:
    assert WEEKENDS.at(utc(2024, 4, 6, 19, 59), "UTC") is None
    assert WEEKENDS.at(utc(2024, 4, 6, 20, 0), "UTC") is not None


def test_a_freeze_whose_last_period_began_before_the_question_is_still_found() -> None:
    # Friday 16:00 for 64h: asked on Sunday, the period began two days before.
    fridays = Freeze(
        "Fridays", rrule="FREQ=WEEKLY;BYDAY=FR;BYHOUR=16", duration=timedelta(hours=64)
    )
    period = fridays.at(utc(2024, 3, 24, 12, 0), "UTC")
    assert period == Period(utc(2024, 3, 22, 16), utc(2024, 3, 25, 8))


def test_periods_over_a_span_in_order() -> None:
    periods = WEEKENDS.periods(BERLIN, utc(2024, 3, 20), utc(2024, 4, 10))
    assert [p.start for p in periods] == [
        utc(2024, 3, 23, 19),
        utc(2024, 3, 30, 19),
        utc(2024, 4, 6, 18),
    ]
    assert len(WEEKENDS.periods(BERLIN, utc(2024, 1, 1), utc(2025, 1, 1), limit=5)) == 5


def test_an_anchored_rule_counts_from_its_start() -> None:
    # Every other Thursday from 4 January 2024, 15:00 UTC, for an hour.
    demos = Freeze(
        "Demos",
        rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=TH;BYHOUR=15",
        start=utc(2024, 1, 4),
        duration=timedelta(hours=1),
    )
    starts = [p.start for p in demos.periods("UTC", utc(2024, 3, 1), utc(2024, 4, 1))]
    assert starts == [utc(2024, 3, 14, 15), utc(2024, 3, 28, 15)]


@pytest.mark.parametrize(
    ("rule", "anchored", "problem"),
    [
        ("FREQ=WEEKLY;BYDAY=FR;BYHOUR=16", False, None),
        ("RRULE:FREQ=DAILY;BYHOUR=22;BYMINUTE=30", False, None),
        ("FREQ=MONTHLY;BYDAY=-1FR", False, None),
        ("FREQ=WEEKLY;BYDAY=FR;UNTIL=20241231T230000Z", False, None),
        ("", False, "the rule is empty"),
        ("BYDAY=FR", False, "needs a FREQ"),
        ("FREQ=FORTNIGHTLY", False, "unknown FREQ 'FORTNIGHTLY'"),
        ("FREQ=MINUTELY", False, "at most hourly"),
        ("FREQ=WEEKLY;BYDAY=XX", False, "not a valid RRULE: invalid 'BYDAY': XX"),
        ("FREQ=WEEKLY;BYDAYS=FR", False, "unknown parameter 'BYDAYS'"),
        ("FREQ=WEEKLY;BYHOUR=25", False, "not a valid RRULE"),
        ("FREQ=WEEKLY;BYDAY=FR;UNTIL=20241231", False, "UNTIL must be in UTC"),
        ("FREQ=WEEKLY;BYHOUR=16", False, "say which day a WEEKLY rule falls on"),
        ("FREQ=WEEKLY;BYHOUR=16", True, None),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TH", False, "a rule with INTERVAL counts from"),
        ("FREQ=DAILY;COUNT=3", False, "a rule with COUNT counts from"),
        ("FREQ=DAILY;COUNT=3", True, None),
        ("DTSTART:20240101T000000Z;FREQ=DAILY", True, "not a NAME=VALUE part"),
        ("FREQ=DAILY\nFREQ=WEEKLY", True, "one line"),
        ("FREQ=DAILY;FREQ=WEEKLY", True, "FREQ is given twice"),
    ],
)
def test_what_a_freeze_rule_may_be(rule: str, anchored: bool, problem: str | None) -> None:
    found = gates.check_rule(rule, anchored)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found, found


# ---------------------------------------------------------------- the window, freezes, overrides

WINDOW = Period(utc(2024, 3, 20, 14), utc(2024, 3, 20, 16))


def test_outside_the_window_says_when_it_opens_or_closed_on_the_plans_clock() -> None:
    early = gates.window_refusal("auth-service", utc(2024, 3, 20, 13, 31), WINDOW, BERLIN)
    assert early is not None
    assert "opens at 15:00 CET (in 29m)" in early and "override the window" in early
    late = gates.window_refusal("auth-service", utc(2024, 3, 20, 16, 0), WINDOW, "UTC")
    assert late is not None and "closed at 16:00 UTC" in late
    day_before = gates.window_refusal("auth-service", utc(2024, 3, 19, 9), WINDOW, "UTC")
    assert day_before is not None and "opens at Wed 20 Mar 14:00 UTC" in day_before
    assert gates.window_refusal("auth-service", utc(2024, 3, 20, 14), WINDOW, "UTC") is None


def test_an_override_lifts_its_gate_from_when_it_is_given_until_it_ends() -> None:
    given = Override(
        1, "window", "infra ready", "sarah", utc(2024, 3, 20, 13, 31), utc(2024, 3, 20, 13, 46)
    )
    for minute, lifted in [(30, False), (31, True), (45, True), (46, False)]:
        now = utc(2024, 3, 20, 13, minute)
        refused = gates.window_refusal("api-gateway", now, WINDOW, "UTC", [given])
        assert (refused is None) is lifted, minute
    # An override names one gate: the window's does not lift a freeze.
    assert gates.lifted([given], "Black Friday", utc(2024, 3, 20, 13, 40)) is None


def test_inside_a_freeze_says_which_and_until_when() -> None:
    now = utc(2024, 3, 31, 17, 30)
    refused = gates.freeze_refusal("web-frontend", now, [BLACK_FRIDAY, WEEKENDS], BERLIN)
    assert refused == (
        "web-frontend cannot start during freeze 'Weekend' (no deploys on Sundays): it lasts "
        "until 20:00 CEST; the release manager may override it (warroom override Weekend)"
    )
    lifted = Override(1, "Weekend", "hotfix", "sarah", now, now + timedelta(minutes=15))
    assert gates.freeze_refusal("web-frontend", now, [WEEKENDS], BERLIN, [lifted]) is None
    friday = gates.freeze_refusal("x", utc(2024, 11, 30), [BLACK_FRIDAY], "UTC")
    assert friday is not None and "until Tue 03 Dec 00:00 UTC" in friday
    assert 'override "Black Friday"' in friday


def test_an_override_is_refused_where_it_would_change_nothing() -> None:
    freezes = [BLACK_FRIDAY]
    blocks = gates.blocks_within
    assert blocks(
        "window", utc(2024, 3, 20, 13, 50), utc(2024, 3, 20, 14, 5), WINDOW, freezes, "UTC"
    )
    assert not blocks(
        "window", utc(2024, 3, 20, 14), utc(2024, 3, 20, 14, 15), WINDOW, freezes, "UTC"
    )
    assert blocks(
        "window", utc(2024, 3, 20, 15, 50), utc(2024, 3, 20, 16, 5), WINDOW, freezes, "UTC"
    )
    assert not blocks("Black Friday", utc(2024, 3, 20), utc(2024, 3, 21), WINDOW, freezes, "UTC")
    assert blocks(
        "Black Friday", utc(2024, 11, 28, 23, 50), utc(2024, 11, 29, 0, 5), WINDOW, freezes, "UTC"
    )
    assert gates.find_target("  black   FRIDAY ", freezes) == "Black Friday"
    assert gates.find_target("Window", freezes) == "window"
    assert gates.find_target("weekend", freezes) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("15m", None),
        ("4h", None),
        ("0s", "more than zero"),
        ("4h1m", "at most 4h"),
        ("soon", "bad duration"),
    ],
)
def test_how_long_an_override_may_last(text: str, problem: str | None) -> None:
    if problem is None:
        assert gates.parse_override_duration(text) > timedelta(0)
    else:
        with pytest.raises(ValueError, match=problem):
            gates.parse_override_duration(text)


# ---------------------------------------------------------------- holds

#  a ─▶ b ─▶ d
#  └──▶ c
GRAPH = g.build_graph(["a", "b", "c", "d"], {"b": ["a"], "c": ["a"], "d": ["b"]})
W, DONE, FAILED = DeployState.WAITING, DeployState.DONE, DeployState.FAILED
T = utc(2024, 3, 20, 14, 30)


def held(
    states: dict[str, DeployState],
    triggers: list[TriggerFact],
    releases: tuple[HoldRelease, ...] = (),
) -> dict[str, tuple[str, ...]]:
    found = gates.causes(states, dict.fromkeys(states, T), triggers)
    return {
        name: tuple(c.describe() for c in hold.causes)
        for name, hold in gates.holds(GRAPH, states, found, releases).items()
    }


def test_a_pending_or_firing_trigger_holds_exactly_the_waiting_part_of_its_blast_radius() -> None:
    states = {"a": DONE, "b": DONE, "c": W, "d": W}
    for phase in ("pending", "firing"):
        fact = TriggerFact("error-rate@b", "b", phase, T)
        assert held(states, [fact]) == {"d": (f"error-rate@b ({phase})",)}
    fact = TriggerFact("error-rate@a", "a", "pending", T)
    assert held(states, [fact]) == {
        "c": ("error-rate@a (pending)",),
        "d": ("error-rate@a (pending)",),
    }
    for phase in ("inactive", "resolved"):
        assert held(states, [TriggerFact("error-rate@a", "a", phase, T)]) == {}


def test_a_failed_service_holds_its_dependents() -> None:
    assert held({"a": FAILED, "b": DONE, "c": W, "d": W}, []) == {
        "c": ("a (failed)",),
        "d": ("a (failed)",),
    }


def test_a_release_covers_what_held_the_service_when_it_was_given() -> None:
    states = {"a": DONE, "b": DONE, "c": W, "d": W}
    pending = TriggerFact("error-rate@a", "a", "pending", T)
    release = HoldRelease(1, "d", "b's traffic is separate", "sarah", T + timedelta(minutes=1))
    assert held(states, [pending], (release,)) == {"c": ("error-rate@a (pending)",)}
    # The trigger cleared and went pending again later: a new cause, held again.
    again = TriggerFact("error-rate@a", "a", "pending", T + timedelta(minutes=5))
    assert held(states, [again], (release,)) == {
        "c": ("error-rate@a (pending)",),
        "d": ("error-rate@a (pending)",),
    }


def test_a_hold_says_what_holds_it_and_how_to_lift_it() -> None:
    hold = gates.Hold("d", (Cause("b", "error-rate@b", "pending", T), Cause("a", "a", "failed", T)))
    assert hold.refusal() == (
        "d cannot start: it is held by error-rate@b (pending), a (failed) upstream; it starts "
        "once that resolves, or the release manager releases the hold (warroom hold release d)"
    )
