"""`warroom rules backtest` finds the moments the live poller found, from the same samples (both backends)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.rules_day import RULES_PLAN, SERVICE, Feed, deployed, metrics
from warroom.cli import main
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.store.engine import Store
from warroom.store.queries import current_release, read_history

Turn = tuple[str, str, bool]  # (UTC ISO time, state, holding)


@pytest.fixture
def backtest(db_url: str, clock: FixedClock) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        runner = CliRunner(env={"WARROOM_NOW": clock.now().isoformat(), "WARROOM_USER": None})
        return runner.invoke(main, ["rules", "backtest", *args, "--db", db_url])

    return run


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def live_turns(store: Store, trigger: str) -> list[Turn]:
    """The trigger's transitions as the audit chain recorded them: each change
    of its phase or of whether it holds (an acknowledgement changes neither)."""
    with store.read() as session:
        release = current_release(session)
        assert release is not None
        events = read_history(session, release).events
    turns: list[Turn] = []
    last = ("inactive", False)
    for event in events:
        image = event.after.get("triggers", {}).get(trigger)
        if image is None:
            continue
        now = (image["state"], bool(image["holding"]))
        if now != last:
            turns.append((iso(event.at), *now))
        last = now
    return turns


def replayed_turns(result: Result) -> list[Turn]:
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.output)
    return [(t["at"], t["state"], t["holding"]) for t in report["turns"]]


def test_the_backtest_finds_what_the_live_poller_found(
    store: Store, clock: FixedClock, backtest: Callable[..., Result]
) -> None:
    day = deployed(store, clock)
    feed = Feed(day, clock)
    feed(*[metrics(error_rate=0.002)] * 6)  # quiet
    feed(*[metrics(error_rate=0.03)] * 26)  # 2m05s over 1%: error-rate and trial fire
    Commands(day, clock, "raj").ack_trigger(f"error-rate@{SERVICE}")  # still holding
    feed(*[metrics(error_rate=0.03), metrics(error_rate=0.002)] * 3)  # flapping: resolves
    feed(*[metrics(error_rate=0.002)] * 4)
    feed(*[metrics(error_rate=0.03)] * 8)  # a new episode: pending...
    clock.advance(timedelta(seconds=1))  # between two samples (see cli/rules.py on that)
    Commands(day, clock, "sarah").start_rollback(SERVICE, reason="enough")  # ...not watched now
    feed(*[metrics(error_rate=0.03)] * 3)

    live = live_turns(day, f"error-rate@{SERVICE}")
    assert [state for _, state, _ in live] == [
        "pending",
        "firing",
        "resolved",  # acknowledged, then cleared
        *["pending", "inactive"] * 2,  # the flapping
        "pending",
        "inactive",  # rolling back: not watched any more
    ]
    assert replayed_turns(backtest("error-rate", "--service", SERVICE, "--json")) == live

    # A dry run (nobody acknowledges it) and a rule with more options, the same way.
    trial = live_turns(day, f"trial@{SERVICE}")
    assert "firing" in [state for _, state, _ in trial]
    assert replayed_turns(backtest("trial", "--service", SERVICE, "--json")) == trial
    # The same rule written out, not named: the same answers.
    again = backtest("error_rate > 1% for 2m", "--service", SERVICE, "--json")
    assert replayed_turns(again) == live


def flapping_episode(feed: Feed) -> None:
    """From 14:00:05, every 5 s: quiet for 20 s, 3% errors for 65 s (from
    14:00:25), then 40 s flapping (clear at 14:01:30, over at 14:01:35, ...),
    then quiet from 14:02:10."""
    feed(*[metrics(error_rate=0.002)] * 4)
    feed(*[metrics(error_rate=0.03)] * 13)
    feed(*[metrics(error_rate=0.002), metrics(error_rate=0.03)] * 4)
    feed(*[metrics(error_rate=0.002)] * 14)


def test_a_rule_not_in_the_plan_and_options_to_try(
    store: Store, clock: FixedClock, backtest: Callable[..., Result]
) -> None:
    flapping_episode(Feed(deployed(store, clock), clock))
    tried = replayed_turns(backtest("error_rate > 2% for 1m", "--service", SERVICE, "--json"))
    assert tried[:3] == [
        ("2024-03-20T14:00:25Z", "pending", True),
        ("2024-03-20T14:01:25Z", "firing", True),
        ("2024-03-20T14:01:30Z", "resolved", False),
    ]
    assert [state for _, state, _ in tried[3:]] == ["pending", "inactive"] * 4
    # Kept firing through the flapping, it fires once and resolves once,
    # 30 s after the condition last cleared (14:02:10).
    kept = backtest(
        "error_rate > 2% for 1m", "--service", SERVICE, "--keep-firing-for", "30s", "--json"
    )
    assert replayed_turns(kept) == [
        ("2024-03-20T14:00:25Z", "pending", True),
        ("2024-03-20T14:01:25Z", "firing", True),
        ("2024-03-20T14:02:40Z", "resolved", False),
    ]
    # Only part of the day: from the flapping on, nothing fires.
    late = backtest(
        "error_rate > 2% for 1m", "--service", SERVICE, "--from", "2024-03-20T14:01:30Z", "--json"
    )
    assert "firing" not in [state for _, state, _ in replayed_turns(late)]


def test_the_report_is_on_the_plans_clock_and_says_which(
    store: Store, clock: FixedClock, backtest: Callable[..., Result]
) -> None:
    berlin = RULES_PLAN.replace("timezone: UTC\n", "timezone: Europe/Berlin\n", 1)
    flapping_episode(Feed(deployed(store, clock, berlin), clock))
    result = backtest(
        "error-rate", "--service", SERVICE, "--to", "2024-03-20T15:01:30", "--error-limit", "2"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        lines[0] == f"Backtest of error-rate (error_rate > 1% for 2m) on {SERVICE} [error_limit 2]"
    )
    # --to without a zone is on the plan's clock too: 15:01:30 CET is 14:01:30 UTC.
    assert lines[1] == "18 samples from 2024-03-20 15:00:05 CET to 15:01:30 CET (times in CET)"
    assert lines[2].startswith("error_rate ▁▁▁▁██")
    assert lines[2].endswith("(low 0.20%, high 3.00%, limit 1.00%)")
    assert lines[3] == "15:00:25 CET  pending       pending 0s / 2m — error_rate 3.00%"
    assert lines[4] == "15:01:30 CET  inactive      cleared after 1m5s — error_rate 0.20%"
    assert lines[5] == "It would have stayed quiet." or "fired" not in result.output


def test_what_cannot_be_backtested_is_refused_in_one_sentence(
    store: Store, clock: FixedClock, backtest: Callable[..., Result]
) -> None:
    deployed(store, clock)
    bad = backtest("error_rate >", "--service", SERVICE)
    assert bad.exit_code == 1
    assert "is neither a rule of the plan (error-rate, latency, down, error-rate-trial, blind," in (
        bad.output
    )
    nobody = backtest("down", "--service", "billing")
    assert nobody.exit_code == 1 and "unknown service 'billing'" in nobody.output
    quiet = backtest("down", "--service", SERVICE)
    assert quiet.exit_code == 0
    assert "No samples were recorded for it in that time" in quiet.output
