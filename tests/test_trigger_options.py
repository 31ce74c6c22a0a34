"""A rule's options through the poller's command and the release manager's answer (both backends)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.conftest import read_snapshot
from tests.rules_day import SERVICE, Feed, broken, deployed, metrics
from warroom.cli import main
from warroom.clock import FixedClock
from warroom.commands import CommandError, Commands
from warroom.domain import record
from warroom.domain.record import Event
from warroom.store.engine import Store
from warroom.store.queries import current_release, read_history


@pytest.fixture
def day(store: Store, clock: FixedClock) -> Store:
    return deployed(store, clock)


def events(store: Store) -> list[Event]:
    with store.read() as session:
        release = current_release(session)
        assert release is not None
        return list(read_history(session, release).events)


def log_lines(store: Store) -> list[str]:
    return [line.text for line in read_snapshot(store).log]


def test_no_data_for_too_long_asks_the_release_manager(day: Store, clock: FixedClock) -> None:
    feed = Feed(day, clock)
    feed(metrics(p99_ms=100), metrics(p99_ms=100))
    assert read_snapshot(day).trigger(f"blind@{SERVICE}").state == "inactive"  # type: ignore[union-attr]
    feed(metrics(p99_ms=100))  # the third sample in a row without error_rate

    snapshot = read_snapshot(day)
    blind = snapshot.trigger(f"blind@{SERVICE}")
    assert blind is not None and blind.state == "inconclusive"
    assert blind.asks and blind.gates and not blind.alarm
    assert blind.since == clock.now()
    assert snapshot.gating(SERVICE) == [blind]
    # The rule that ignores no data (the sample's error-rate) only says so.
    plain = snapshot.trigger(f"error-rate@{SERVICE}")
    assert plain is not None and plain.state == "inactive"
    assert plain.detail == "not evaluable: no error_rate in the health response"
    # A line in the log, once, and an event in the record.
    asked = [line for line in log_lines(day) if "INCONCLUSIVE" in line]
    assert asked == [
        f"? Trigger blind@{SERVICE} is INCONCLUSIVE: no data for 3 samples in a row — "
        "no error_rate in the health response — the release manager decides: "
        "roll back or carry on (key i, or warroom trigger answer)"
    ]
    feed(metrics(p99_ms=100))
    assert len([line for line in log_lines(day) if "INCONCLUSIVE" in line]) == 1
    inconclusive = [e for e in events(day) if e.action == record.TRIGGER_INCONCLUSIVE]
    assert len(inconclusive) == 1
    assert inconclusive[0].after["triggers"][f"blind@{SERVICE}"]["state"] == "inconclusive"


def test_the_release_managers_answer_is_audited(day: Store, clock: FixedClock) -> None:
    feed = Feed(day, clock)
    feed(*[metrics(p99_ms=100)] * 3)
    with pytest.raises(CommandError, match="only the release manager can"):
        Commands(day, clock, "raj").answer_trigger("blind", "carry-on", "looks fine")
    with pytest.raises(CommandError, match="say why you carry on"):
        Commands(day, clock, "sarah").answer_trigger("blind", "carry-on", "  ")

    said = Commands(day, clock, "sarah").answer_trigger("blind", "carry-on", "exporter restarting")
    assert said == f"blind@{SERVICE}: carry on — exporter restarting"
    blind = read_snapshot(day).trigger(f"blind@{SERVICE}")
    assert blind is not None and blind.state == "inactive" and not blind.gates
    assert blind.detail == "sarah decided to carry on: exporter restarting"
    answer = [e for e in events(day) if e.action == "trigger.answer"][-1]
    assert answer.actor == "sarah"
    assert answer.payload["command"] == "AnswerTrigger"
    assert answer.payload["fields"] == {
        "trigger": "blind",
        "answer": "carry-on",
        "reason": "exporter restarting",
        "expect_version": None,
    }
    assert answer.after["triggers"][f"blind@{SERVICE}"]["state"] == "inactive"
    assert log_lines(day)[-1] == (
        f"sarah decided to carry on with {SERVICE} (blind@{SERVICE} was inconclusive): "
        "exporter restarting"
    )
    with pytest.raises(CommandError, match="is inactive, not inconclusive"):
        Commands(day, clock, "sarah").answer_trigger(f"blind@{SERVICE}", "rollback", "too late")

    # Another whole run without data asks again; this time: roll back.
    feed(*[metrics(p99_ms=100)] * 3)
    Commands(day, clock, "sarah").answer_trigger(f"blind@{SERVICE}", "rollback", "flying blind")
    snapshot = read_snapshot(day)
    blind = snapshot.trigger(f"blind@{SERVICE}")
    assert blind is not None and blind.state == "firing" and blind.fired_at == clock.now()
    assert snapshot.firing(SERVICE) == [blind]  # the banner's, with its rollback plan
    assert log_lines(day)[-1] == (
        f"⚠ sarah decided to roll back {SERVICE} (blind@{SERVICE} was inconclusive): "
        f"flying blind — rollback plan: {SERVICE}"
    )
    answers = [e.payload["fields"]["answer"] for e in events(day) if e.action == "trigger.answer"]
    assert answers == ["carry-on", "rollback"]
    # Nothing holds it (no data): acknowledged, it is over.
    Commands(day, clock, "raj").ack_trigger(f"blind@{SERVICE}")
    assert read_snapshot(day).trigger(f"blind@{SERVICE}").state == "resolved"  # type: ignore[union-attr]


def test_a_dry_run_rule_shows_its_state_and_tells_nobody(day: Store, clock: FixedClock) -> None:
    feed = Feed(day, clock)
    before = len(log_lines(day))
    recorded = feed(*[metrics(error_rate=0.008)] * 7)  # 0.8% for 30 s: the trial fires
    snapshot = read_snapshot(day)
    trial = snapshot.trigger(f"trial@{SERVICE}")
    assert trial is not None and trial.dry_run
    assert trial.state == "firing" and trial.detail == "firing: error_rate 0.80%"
    assert not trial.gates and not trial.alarm
    assert snapshot.firing(SERVICE) == [] and snapshot.gating(SERVICE) == []
    assert all(r.fired == () for r in recorded)  # the poller announces nothing
    assert len(log_lines(day)) == before  # no line in the log
    changes = [e.payload for e in events(day) if e.payload.get("trigger") == f"trial@{SERVICE}"]
    assert [(c["state"], c.get("dry_run")) for c in changes] == [
        ("pending", True),
        ("firing", True),
    ]
    images = [
        e.after["triggers"][f"trial@{SERVICE}"]
        for e in events(day)
        if f"trial@{SERVICE}" in e.after.get("triggers", {})
    ]
    assert images and all(image["dry_run"] for image in images)  # the report leaves it out
    with pytest.raises(CommandError, match="dry-run rule: nobody acknowledges it"):
        Commands(day, clock, "raj").ack_trigger(f"trial@{SERVICE}")
    feed(metrics(error_rate=0.001))
    trial = read_snapshot(day).trigger(f"trial@{SERVICE}")
    assert trial is not None and trial.state == "resolved"  # by itself
    assert len(log_lines(day)) == before


def test_probe_errors_past_the_cap_are_a_measurement_problem(day: Store, clock: FixedClock) -> None:
    feed = Feed(day, clock)
    feed(*[metrics(p99_ms=900)] * 4)  # breaching: pending
    feed(broken(), broken())
    capped = read_snapshot(day).trigger(f"capped@{SERVICE}")
    assert capped is not None and capped.state == "pending"  # two tolerated: the streak goes on
    assert capped.detail is not None and "probe error 2/2 tolerated" in capped.detail
    feed(broken())
    snapshot = read_snapshot(day)
    capped = snapshot.trigger(f"capped@{SERVICE}")
    assert capped is not None and capped.state == "inconclusive" and capped.fired_at is None
    assert capped.detail is not None and capped.detail.startswith(
        "inconclusive: measurement failing: 3 probe errors in a row, over its error_limit of 2"
    )
    assert any(
        line.startswith(f"? Trigger capped@{SERVICE} is INCONCLUSIVE: measurement failing")
        for line in log_lines(day)
    )
    # A breach is a breach: back to data over the threshold, it goes pending again.
    feed(metrics(p99_ms=900))
    capped = read_snapshot(day).trigger(f"capped@{SERVICE}")
    assert capped is not None and capped.state == "pending"
    assert any(
        line == f"Trigger capped@{SERVICE} is no longer inconclusive: pending 0s / 1m — p99_ms 900"
        for line in log_lines(day)
    )


def test_the_answer_from_the_command_line(day: Store, clock: FixedClock, db_url: str) -> None:
    Feed(day, clock)(*[metrics(p99_ms=100)] * 3)
    runner = CliRunner(env={"WARROOM_NOW": clock.now().isoformat(), "WARROOM_USER": None})

    def answer(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["trigger", "answer", *args, "--db", db_url])
        return result.exit_code, result.output

    code, said = answer("blind@api-gateway", "carry-on", "--as", "sarah")
    assert code == 2 and "--reason" in said  # a reason is required
    code, said = answer("blind@api-gateway", "shrug", "--reason", "x", "--as", "sarah")
    assert code == 2 and "'rollback'" in said and "'carry-on'" in said
    code, said = answer("blind@api-gateway", "rollback", "--reason", "x", "--as", "lisa")
    assert code == 1 and "only the release manager can" in said
    code, said = answer("blind", "rollback", "--reason", "flying blind", "--as", "sarah")
    assert code == 0, said
    assert said == f"blind@{SERVICE}: roll back — flying blind\n"
    blind = read_snapshot(day).trigger(f"blind@{SERVICE}")
    assert blind is not None and blind.state == "firing"


def test_what_holds_the_services_downstream(day: Store, clock: FixedClock) -> None:
    feed = Feed(day, clock)
    feed(*[metrics(error_rate=0.008)] * 7)  # 0.8% for 30 s: only rules on trial react
    snapshot = read_snapshot(day)
    trial = snapshot.trigger(f"trial@{SERVICE}")
    assert trial is not None and trial.state == "firing" and trial.dry_run
    assert snapshot.holds == {}  # a dry run holds nothing, firing or not
    feed(*[metrics(p99_ms=100)] * 3)  # blind: inconclusive
    holds = read_snapshot(day).holds
    assert set(holds) == {
        "auth-service",
        "logging-service",
        "user-service",
        "mobile-backend",
        "web-frontend",
    }
    assert holds["auth-service"].describe() == f"blind@{SERVICE} (inconclusive)"
    Commands(day, clock, "sarah").answer_trigger("blind", "carry-on", "exporter restarting")
    assert read_snapshot(day).holds == {}  # answered: the hold lifts with it


def test_a_dry_run_rule_puts_nothing_in_the_outbox(
    store: Store, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A destination that wants every event hears of the live rule and never of the trial."""
    from sqlmodel import select

    from tests.rules_day import RULES_PLAN
    from warroom.store import models as m
    from warroom.testing.plans import with_notify

    monkeypatch.setenv("HOOK", "http://127.0.0.1:9/hook")
    plan = with_notify(RULES_PLAN, [{"name": "hook", "webhook_url_env": "HOOK", "events": ["all"]}])
    day = deployed(store, clock, plan)
    feed = Feed(day, clock)
    feed(*[metrics(error_rate=0.008)] * 7)  # 0.8%: the trial fires, error-rate (1%) does not
    trial = read_snapshot(day).trigger(f"trial@{SERVICE}")
    assert trial is not None and trial.state == "firing"
    feed(*[metrics(error_rate=0.05)] * 30)  # 5% for 2m30s: the live rule fires too
    live = read_snapshot(day).trigger(f"error-rate@{SERVICE}")
    assert live is not None and live.state == "firing"
    with day.read() as session:
        sent = [(row.event, row.body) for row in session.exec(select(m.NotifyOutbox)).all()]
    about = [body for event, body in sent if event.startswith("trigger")]
    assert any(f"error-rate@{SERVICE}" in body for body in about)
    assert not any(f"trial@{SERVICE}" in body for body in about), about


def test_the_report_tells_an_inconclusive_rule_and_the_answer(
    day: Store, clock: FixedClock
) -> None:
    """Asked, then carried on: the report's episode says so (not "cleared before firing")."""
    from warroom.domain.report import build_report

    def episodes() -> list[tuple[str, str]]:
        with day.read() as session:
            release = current_release(session)
            assert release is not None
            report = build_report(read_history(session, release), clock.now())
        return [(t.rule, t.ended) for t in report.triggers if t.rule == "blind"]

    feed = Feed(day, clock)
    feed(*[metrics(p99_ms=100)] * 3)  # no error rate three times: blind asks
    assert episodes() == [("blind", "inconclusive")]
    Commands(day, clock, "sarah").answer_trigger("blind", "carry-on", "exporter restarting")
    assert episodes() == [("blind", "carried on")]
    feed(*[metrics(p99_ms=100)] * 3)
    Commands(day, clock, "sarah").answer_trigger("blind", "rollback", "flying blind")
    assert episodes() == [("blind", "carried on"), ("blind", "firing")]
