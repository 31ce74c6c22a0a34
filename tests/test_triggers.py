"""The trigger state machine over synthetic sample series (pure)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from warroom.domain.health import Sample, baseline, classify, health_state
from warroom.domain.lifecycle import DeployState
from warroom.domain.rules import NoData, RuleOptions, parse_rule
from warroom.domain.triggers import (
    Answer,
    Phase,
    TriggerStatus,
    acknowledge,
    answer,
    evaluate,
    holds_back,
    judge,
    replay,
    step,
    turns,
    unwatched,
)

T0 = datetime(2024, 3, 20, 14, 0, tzinfo=UTC)
EVERY = timedelta(seconds=5)
GAP = 3 * EVERY


def sample(
    seconds: float, *, ok: bool = True, reason: str | None = None, **metrics: float
) -> Sample:
    return Sample(
        "user-service",
        T0 + timedelta(seconds=seconds),
        ok,
        reason,
        200 if ok else None,
        40.0,
        metrics,
    )


def run(
    rule_text: str,
    samples: Iterable[Sample],
    base: float | None = None,
    start: TriggerStatus | None = None,
    options: RuleOptions | None = None,
) -> list[TriggerStatus]:
    rule = parse_rule(rule_text)
    status = start or TriggerStatus()
    out = []
    for s in samples:
        if options is None:
            status = step(rule, status, s, base, max_gap=GAP)
        else:
            status = step(rule, status, s, base, max_gap=GAP, options=options)
        out.append(status)
    return out


def error_series(rates: list[float], every: float = 5) -> list[Sample]:
    return [sample(i * every, error_rate=rate) for i, rate in enumerate(rates)]


ERROR_RULE = "error_rate > 1% for 2m"


def test_quiet_series_stays_inactive() -> None:
    states = run(ERROR_RULE, error_series([0.002] * 30))
    assert {s.phase for s in states} == {Phase.INACTIVE}
    assert states[-1].detail == "error_rate 0.20%"


def test_pending_then_firing_exactly_at_the_duration() -> None:
    # 0s .. 120s all holding: 25 samples; the one at exactly 120 s fires.
    states = run(ERROR_RULE, error_series([0.05] * 25))
    assert states[0].phase is Phase.PENDING and states[0].since == T0
    assert states[12].detail.startswith("pending 1m / 2m")
    assert all(s.phase is Phase.PENDING for s in states[:24])  # up to 115 s
    assert states[24].phase is Phase.FIRING and states[24].fired_at == T0 + timedelta(seconds=120)
    assert states[23].detail.startswith("pending 1m55s / 2m")


def test_one_second_short_does_not_fire() -> None:
    states = run(ERROR_RULE, [sample(0, error_rate=0.05), sample(119, error_rate=0.05)], start=None)
    assert states[-1].phase is Phase.PENDING


def test_a_flap_never_fires() -> None:
    states = run(ERROR_RULE, error_series([0.05, 0.001] * 40))
    assert Phase.FIRING not in {s.phase for s in states}
    assert states[1].phase is Phase.INACTIVE and states[1].detail.startswith("cleared after 5s")


def test_an_unevaluable_sample_breaks_the_streak_and_says_why() -> None:
    series = error_series([0.05] * 10)
    series.append(sample(50, ok=False, reason="timeout after 2s"))
    series.extend(sample(55 + 5 * i, error_rate=0.05) for i in range(25))
    states = run(ERROR_RULE, series)
    assert states[10].phase is Phase.INACTIVE
    assert "not evaluable: the probe failed (timeout after 2s)" in states[10].detail
    assert states[11].since == T0 + timedelta(seconds=55)  # a new streak
    first_fire = next(i for i, s in enumerate(states) if s.phase is Phase.FIRING)
    assert states[first_fire].fired_at == T0 + timedelta(seconds=175)


def test_a_missing_metric_is_not_evaluable() -> None:
    states = run(ERROR_RULE, [sample(0, p99_ms=100)])
    assert states[0].phase is Phase.INACTIVE
    assert states[0].detail == "not evaluable: no error_rate in the health response"


def test_a_gap_in_samples_restarts_the_clock() -> None:
    series = [
        sample(0, error_rate=0.05),
        sample(5, error_rate=0.05),
        sample(100, error_rate=0.05),
        sample(125, error_rate=0.05),
    ]
    states = run(ERROR_RULE, series)
    assert states[2].phase is Phase.PENDING and states[2].since == T0 + timedelta(seconds=100)
    gap_only = run(ERROR_RULE, [*series[:2], sample(100, error_rate=0.001)])[-1]
    assert gap_only.phase is Phase.INACTIVE
    assert gap_only.detail == "error_rate 0.10% (pending interrupted: no samples for 1m)"
    assert states[3].phase is Phase.PENDING  # 25 s into the new streak, not 125 s


def test_firing_needs_ack_and_clearing_in_either_order() -> None:
    firing = run(ERROR_RULE, error_series([0.05] * 25))[-1]
    assert firing.phase is Phase.FIRING
    # cleared first: stays firing until acknowledged
    cleared = run(ERROR_RULE, [sample(125, error_rate=0.001)], start=firing)[-1]
    assert cleared.phase is Phase.FIRING and not cleared.holding
    at = T0 + timedelta(seconds=125)
    assert cleared.detail.startswith(f"cleared at {at:%H:%M:%S} UTC; acknowledge to resolve")
    assert acknowledge(cleared).phase is Phase.RESOLVED
    # acknowledged first: resolves when it clears
    acked = acknowledge(firing)
    assert acked.phase is Phase.FIRING and acked.acked
    assert run(ERROR_RULE, [sample(125, error_rate=0.05)], start=acked)[-1].phase is Phase.FIRING
    assert run(ERROR_RULE, [sample(125, error_rate=0.001)], start=acked)[-1].phase is Phase.RESOLVED


def test_after_resolving_a_new_episode_starts_pending() -> None:
    resolved = TriggerStatus(phase=Phase.RESOLVED, last_at=T0)
    again = run(ERROR_RULE, [sample(5, error_rate=0.05)], start=resolved)[-1]
    assert again.phase is Phase.PENDING and not again.acked and again.fired_at is None


def test_baseline_rule_needs_a_baseline() -> None:
    rule = "p99_ms > 2x baseline for 2m"
    states = run(rule, [sample(0, p99_ms=500)])
    assert "no baseline yet" in states[0].detail and states[0].phase is Phase.INACTIVE
    states = run(rule, [sample(i * 5, p99_ms=500) for i in range(25)], base=120.0)
    assert states[-1].phase is Phase.FIRING
    assert "p99_ms 500 vs 240 (2x 120)" in states[-1].detail
    assert run(rule, [sample(0, p99_ms=200)], base=120.0)[0].phase is Phase.INACTIVE


def test_health_failing_for_n_checks() -> None:
    rule = "health failing for 3 checks"
    fails = [sample(i * 5, ok=False, reason="connection refused") for i in range(3)]
    states = run(rule, fails)
    assert [s.phase for s in states] == [Phase.PENDING, Phase.PENDING, Phase.FIRING]
    assert states[1].detail.startswith("pending 2/3 checks")
    flapping = [
        sample(i * 5, ok=i % 2 == 0, reason=None if i % 2 == 0 else "HTTP 500") for i in range(20)
    ]
    assert Phase.FIRING not in {s.phase for s in run(rule, flapping)}


def test_a_service_no_longer_watched() -> None:
    firing = TriggerStatus(phase=Phase.FIRING, holding=True, fired_at=T0)
    quiet = unwatched(firing, "not watched while rolled back")
    assert quiet.phase is Phase.FIRING and not quiet.holding
    assert unwatched(acknowledge(quiet), "x").phase is Phase.RESOLVED
    pending = TriggerStatus(phase=Phase.PENDING, since=T0, streak=3)
    assert unwatched(pending, "not watched while waiting").phase is Phase.INACTIVE


def test_judging_explains_the_value() -> None:
    rule = parse_rule(ERROR_RULE)
    assert judge(rule, sample(0, error_rate=0.0123), None).why == "error_rate 1.23%"
    assert judge(rule, sample(0, error_rate=0.0123), None).holds is True


# ---------------------------------------------------------------- rule options


def phases(states: Iterable[TriggerStatus]) -> list[Phase]:
    """The phases a series went through, repeats collapsed."""
    out: list[Phase] = []
    for status in states:
        if not out or out[-1] is not status.phase:
            out.append(status.phase)
    return out


def flapping() -> list[Sample]:
    """Errors at 5% for 2m10s, then clear for 10 s, four times over."""
    return error_series(([0.05] * 26 + [0.001] * 2) * 4)


def test_without_keep_firing_for_a_flapping_metric_resolves_and_fires_again() -> None:
    # A rule nobody has to acknowledge (on trial) shows it plainly: it fires,
    # resolves on the first clear sample, and fires again two minutes later.
    states = run(ERROR_RULE, flapping(), options=RuleOptions(dry_run=True))
    assert phases(states) == [Phase.PENDING, Phase.FIRING, Phase.RESOLVED] * 4
    # A live one keeps firing until acknowledged, but "clears" every time.
    live = run(ERROR_RULE, flapping())
    cleared = [b for a, b in itertools.pairwise(live) if a.holding and not b.holding]
    assert len(cleared) == 4 and all(s.phase is Phase.FIRING for s in cleared)


def test_keep_firing_for_makes_a_flapping_metric_fire_once() -> None:
    keep = RuleOptions(keep_firing_for=timedelta(minutes=1), dry_run=True)
    states = run(ERROR_RULE, flapping()[:-2], options=keep)  # ends on a breach
    assert phases(states) == [Phase.PENDING, Phase.FIRING]
    fired = [s for s in states if s.phase is Phase.FIRING]
    assert all(s.holding for s in fired)  # never "cleared": nothing to announce
    assert {s.fired_at for s in fired} == {T0 + timedelta(seconds=120)}
    assert states[26].detail == "firing: clear for 0s / 1m (keep_firing_for) — error_rate 0.10%"
    # Clear for a whole minute: resolved then, and only then.
    end = states[-1].last_at
    assert end is not None
    quiet = [sample((end - T0).total_seconds() + 5 * i, error_rate=0.001) for i in range(1, 14)]
    after = run(ERROR_RULE, quiet, start=states[-1], options=keep)
    assert [s.phase for s in after] == [Phase.FIRING] * 12 + [Phase.RESOLVED]
    assert after[-1].last_at is not None and after[-1].last_at - quiet[0].at == timedelta(minutes=1)
    # A live rule: acknowledged while kept firing, it resolves at the same sample.
    live = RuleOptions(keep_firing_for=timedelta(minutes=1))
    acked = run(ERROR_RULE, quiet, start=acknowledge(states[-1]), options=live)
    assert [s.phase for s in acked] == [s.phase for s in after]
    assert acked[-1].detail == "resolved: cleared and acknowledged — error_rate 0.10%"


def no_data_series() -> list[Sample]:
    """A minute of 5% errors, then the endpoint answers without error_rate."""
    return error_series([0.05] * 12) + [sample(60 + 5 * i, p99_ms=100) for i in range(6)]


def test_no_data_ignored_breaks_the_streak_and_says_so() -> None:
    states = run(ERROR_RULE, no_data_series(), options=RuleOptions(no_data=NoData.IGNORE))
    assert states == run(ERROR_RULE, no_data_series())  # the default, named
    assert states[12].phase is Phase.INACTIVE
    assert states[12].detail == (
        "pending interrupted — not evaluable: no error_rate in the health response"
    )
    assert states[-1].phase is Phase.INACTIVE and states[-1].no_data_run == 6


def test_no_data_as_a_breach_keeps_the_streak_and_fires() -> None:
    series = no_data_series() + [sample(90 + 5 * i, p99_ms=100) for i in range(7)]
    states = run(ERROR_RULE, series, options=RuleOptions(no_data=NoData.BREACH))
    assert phases(states) == [Phase.PENDING, Phase.FIRING]
    assert states[-1].fired_at == T0 + timedelta(seconds=120)
    assert states[-1].detail == (
        "firing: no error_rate in the health response, which counts as a breach (no_data)"
    )


def test_no_data_for_too_long_is_inconclusive_until_data_is_back() -> None:
    asks = RuleOptions(no_data=NoData.INCONCLUSIVE, inconclusive_after=4)
    states = run(ERROR_RULE, no_data_series(), options=asks)
    assert [s.phase for s in states[12:]] == [Phase.INACTIVE] * 3 + [Phase.INCONCLUSIVE] * 3
    assert states[12].detail.endswith("(no data 1/4 before inconclusive)")
    asked = states[15]
    assert asked.since == T0 + timedelta(seconds=75)  # the fourth sample without data
    assert asked.detail == (
        "inconclusive: no data for 4 samples in a row — no error_rate in the health response"
    )
    # Data comes back: the rule judges again, by itself.
    back = run(ERROR_RULE, [sample(90, error_rate=0.05)], start=states[-1], options=asks)[-1]
    assert back.phase is Phase.PENDING and back.since == T0 + timedelta(seconds=90)
    clear = run(ERROR_RULE, [sample(90, error_rate=0.001)], start=states[-1], options=asks)[-1]
    assert clear.phase is Phase.INACTIVE and clear.detail == "data is back — error_rate 0.10%"


def test_the_release_managers_answer_to_an_inconclusive_rule() -> None:
    asks = RuleOptions(no_data=NoData.INCONCLUSIVE, inconclusive_after=2)
    asked = run(ERROR_RULE, no_data_series(), options=asks)[-1]
    now = T0 + timedelta(seconds=100)
    rolled = answer(asked, Answer.ROLL_BACK, now, "sarah", "cannot see errors: not worth it")
    assert rolled.phase is Phase.FIRING and rolled.fired_at == now and not rolled.acked
    assert rolled.detail == "sarah decided to roll back: cannot see errors: not worth it"
    assert acknowledge(rolled).phase is Phase.RESOLVED  # nothing holds: acknowledged is done
    carried = answer(asked, Answer.CARRY_ON, now, "sarah", "exporter restarting")
    assert carried.phase is Phase.INACTIVE and carried.detail == (
        "sarah decided to carry on: exporter restarting"
    )
    # It asks again only after another whole run without data.
    more = [sample(105 + 5 * i, p99_ms=100) for i in range(2)]
    assert [s.phase for s in run(ERROR_RULE, more, start=carried, options=asks)] == [
        Phase.INACTIVE,
        Phase.INCONCLUSIVE,
    ]


def test_probe_errors_under_the_cap_are_tolerated_and_past_it_are_a_measurement_problem() -> None:
    capped = RuleOptions(error_limit=2)
    down = [sample(60 + 5 * i, ok=False, reason="timeout after 2s") for i in range(3)]
    series = error_series([0.05] * 12) + down[:2] + error_series([0.05] * 25)[14:]
    states = run(ERROR_RULE, series, options=capped)
    # Two errors in a row are tolerated: the streak goes on and fires on time.
    assert phases(states) == [Phase.PENDING, Phase.FIRING]
    assert states[-1].fired_at == T0 + timedelta(seconds=120)
    assert states[12].detail == (
        "pending 1m / 2m — probe error 1/2 tolerated (the probe failed (timeout after 2s))"
    )
    # A third is past the cap: not the service failing the rule, the measurement.
    broken = run(ERROR_RULE, error_series([0.05] * 12) + down, options=capped)
    assert [s.phase for s in broken[12:]] == [Phase.PENDING, Phase.PENDING, Phase.INCONCLUSIVE]
    assert broken[-1].detail.startswith(
        "inconclusive: measurement failing: 3 probe errors in a row, over its error_limit of 2"
    )
    assert broken[-1].fired_at is None and not broken[-1].holding
    # Breaches are breaches: a metric over the threshold is never "measurement failing".
    breached = run(ERROR_RULE, error_series([0.05] * 25), options=capped)
    assert "measurement" not in breached[-1].detail and breached[-1].phase is Phase.FIRING
    # Without a cap, a failed probe is no data like any other: it breaks the streak.
    uncapped = run(ERROR_RULE, error_series([0.05] * 12) + down[:1])
    assert uncapped[-1].phase is Phase.INACTIVE


def test_a_firing_trigger_stays_firing_when_its_measurement_breaks() -> None:
    capped = RuleOptions(error_limit=0)
    firing = run(ERROR_RULE, error_series([0.05] * 25))[-1]
    after = run(
        ERROR_RULE, [sample(125, ok=False, reason="HTTP 502")], start=firing, options=capped
    )
    assert after[-1].phase is Phase.FIRING
    assert after[-1].detail.startswith("firing; measurement failing: 1 probe errors in a row")


def test_a_dry_run_rule_goes_through_the_same_states_and_needs_no_acknowledgement() -> None:
    dry = RuleOptions(dry_run=True)
    series = error_series([0.05] * 25 + [0.001])
    states = run(ERROR_RULE, series, options=dry)
    live = run(ERROR_RULE, series)
    assert [s.phase for s in states[:25]] == [s.phase for s in live[:25]]
    assert states[24].phase is Phase.FIRING
    # Nobody acknowledges a rule on trial: it resolves when it clears.
    assert live[-1].phase is Phase.FIRING and states[-1].phase is Phase.RESOLVED
    assert states[-1].detail == "resolved: cleared — error_rate 0.10%"


def test_evaluate_is_step_for_a_watched_service_and_unwatched_otherwise() -> None:
    rule, options = parse_rule(ERROR_RULE), RuleOptions()
    watched = {DeployState.DEPLOYING, DeployState.VERIFYING, DeployState.DONE}
    one = sample(0, error_rate=0.05)
    status = evaluate(
        rule,
        options,
        TriggerStatus(),
        one,
        None,
        state=DeployState.DONE,
        watched=watched,
        max_gap=GAP,
    )
    assert status == step(rule, TriggerStatus(), one, None, max_gap=GAP)
    quiet = evaluate(
        rule,
        options,
        status,
        one,
        None,
        state=DeployState.ROLLED_BACK,
        watched=watched,
        max_gap=GAP,
    )
    assert quiet.phase is Phase.INACTIVE and quiet.detail == "not watched while rolled back"
    asked = TriggerStatus(phase=Phase.INCONCLUSIVE, since=T0, no_data_run=5)
    assert unwatched(asked, "not watched while waiting").phase is Phase.INACTIVE


def test_what_gates_a_service_downstream() -> None:
    # Something is or may be wrong, and nobody has settled it: what depends on it waits.
    for phase in Phase:
        held = phase in {Phase.PENDING, Phase.FIRING, Phase.INCONCLUSIVE}
        assert holds_back(phase, dry_run=False) is held
        assert holds_back(str(phase), dry_run=False) is held
        assert holds_back(phase, dry_run=True) is False  # a rule on trial never holds anything


def test_replay_and_its_turns() -> None:
    rule = parse_rule(ERROR_RULE)
    series = error_series([0.001] * 4 + [0.05] * 25 + [0.001] * 4)
    replayed = replay(
        rule,
        RuleOptions(),
        reversed(series),  # any order: replayed in time order
        None,
        max_gap=GAP,
        state_at=lambda _: DeployState.DONE,
        watched={DeployState.DONE},
    )
    assert [s for s, _ in replayed] == series
    seen = [(s.at - T0, status.phase) for s, status in turns(replayed)]
    assert seen == [
        (timedelta(seconds=20), Phase.PENDING),
        (timedelta(seconds=140), Phase.FIRING),
        (timedelta(seconds=145), Phase.RESOLVED),  # taken as acknowledged at once
    ]


# ---------------------------------------------------------------- probe verdicts


def test_classify_responses() -> None:
    assert classify(200, b"").ok
    assert classify(200, b"all good").ok
    assert not classify(500, b"{}").ok and classify(500, b"{}").reason == "HTTP 500"
    down = classify(200, b'{"status": "DOWN", "error_rate": 0.5}')
    assert not down.ok and down.reason == "status 'DOWN'" and down.metrics["error_rate"] == 0.5
    warn = classify(200, b'{"status": "warn", "p99_ms": 300, "name": "x", "ok": true}')
    assert warn.ok and warn.metrics == {"p99_ms": 300.0}
    assert not classify(200, b"{nope", "application/json").ok
    assert classify(200, b"[1, 2]").notes[0].startswith("JSON body is a list")
    odd = classify(200, b'{"error_rate": 7, "p99_ms": -3, "x": NaN, "y": "12"}')
    assert odd.ok and odd.metrics == {}
    assert len(odd.notes) == 3


def test_health_state_and_baseline() -> None:
    now = T0 + timedelta(seconds=30)
    fresh = sample(20)
    assert health_state(fresh, EVERY, now) == "healthy"
    assert health_state(sample(20, ok=False), EVERY, now) == "failing"
    assert health_state(sample(0), EVERY, now + timedelta(seconds=1)) == "stale"
    assert health_state(fresh, EVERY, now, polled=False) == "stale"
    assert health_state(None, EVERY, now) == "unknown"
    samples = [sample(i * 5, p99_ms=100 + i) for i in range(5)] + [sample(100, p99_ms=900)]
    assert baseline(samples, "p99_ms", T0 + timedelta(seconds=50)) == 102.0
    assert baseline(samples, "p99_ms", T0) is None
