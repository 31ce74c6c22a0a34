"""The trigger state machine over synthetic sample series (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from warroom.domain.health import Sample, baseline, classify, health_state
from warroom.domain.rules import parse_rule
from warroom.domain.triggers import Phase, TriggerStatus, acknowledge, judge, step, unwatched

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
) -> list[TriggerStatus]:
    rule = parse_rule(rule_text)
    status = start or TriggerStatus()
    out = []
    for s in samples:
        status = step(rule, status, s, base, max_gap=GAP)
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
    assert "acknowledge to resolve" in cleared.detail
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
