"""Notifications without I/O: the plan's `notify:` key (located errors, from
`warroom check` too), what an audit event tells people outside, how it is
worded for each kind of destination, and the retry policy."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import SAMPLE
from tests.test_poller import WARROOM
from warroom.cli import main
from warroom.domain import notify as nt
from warroom.domain.plan import PlanInvalid, parse_plan_text
from warroom.testing.plans import with_notify

AT = datetime(2024, 3, 20, 14, 5, 30, tzinfo=UTC)
ROOM = nt.Room(
    "v2.5.0", "Europe/Berlin", datetime(2024, 3, 20, 14, 0, tzinfo=UTC), "ssh -p 2222 wr"
)
ENV = {"SLACK": "https://hooks.example.com/services/T/B/x", "PD": "key"}


def plan_with(*destinations: Mapping[str, object]) -> str:
    return with_notify(SAMPLE.read_text(encoding="utf-8"), [dict(d) for d in destinations])


def errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(PlanInvalid) as caught:
        parse_plan_text(text, "plan.yaml", env=ENV if env is None else env)
    return [issue.render("plan.yaml") for issue in caught.value.issues]


def test_a_good_notify_key_loads_its_destinations() -> None:
    plan = parse_plan_text(
        plan_with(
            {"name": "chan", "slack_url_env": "SLACK", "events": ["decision", "rollback"]},
            {"name": "pager", "pagerduty_key_env": "PD", "events": ["all"]},
        ),
        env=ENV,
    )
    chan, pager = (spec.destination() for spec in plan.notify)
    assert chan.kind is nt.Kind.SLACK and chan.url_env == "SLACK"
    assert chan.events == {nt.Event.DECISION, nt.Event.ROLLBACK_ORDERED, nt.Event.ROLLBACK_DONE}
    assert pager.kind is nt.Kind.PAGERDUTY and pager.key_env == "PD"
    assert pager.wants(nt.Event.TRIGGER_FIRED) and not pager.wants(nt.Event.DECISION)


@pytest.mark.parametrize(
    ("destination", "env", "expected"),
    [
        (
            {"name": "chan", "slack_url_env": "NOT_SET_ANYWHERE", "events": ["decision"]},
            {},
            "notify[0].slack_url_env: the environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            {"name": "chan", "webhook_url_env": "HOOK", "events": ["decision"]},
            {"HOOK": "hooks.example.com/x"},
            "notify[0].webhook_url_env: $HOOK does not hold a usable URL: use http:// or https:// and a host",
        ),
        (
            {"name": "chan", "webhook_url_env": "HOOK", "events": ["decision"]},
            {"HOOK": "http://[::1/x"},
            "notify[0].webhook_url_env: $HOOK does not hold a usable URL",
        ),
        (
            {"name": "chan", "slack_url_env": "SLACK", "events": ["decisions"]},
            ENV,
            "notify[0].events[0]: unknown event 'decisions': use one of decision,",
        ),
        (
            {
                "name": "chan",
                "slack_url_env": "https://hooks.example.com/x",
                "events": ["decision"],
            },
            ENV,
            "notify[0].slack_url_env: expected the name of an environment variable",
        ),
        (
            {"name": "chan", "events": ["decision"]},
            ENV,
            "notify[0]: a destination names exactly one of slack_url_env, webhook_url_env or pagerduty_key_env",
        ),
        (
            {"name": "pager", "pagerduty_key_env": "PD", "events": ["decision"]},
            ENV,
            "notify[0].events[0]: PagerDuty pages for fired triggers and resolves them",
        ),
        (
            {
                "name": "chan",
                "slack_url_env": "SLACK",
                "pagerduty_url_env": "SLACK",
                "events": ["all"],
            },
            ENV,
            "notify[0].pagerduty_url_env: pagerduty_url_env goes with pagerduty_key_env",
        ),
    ],
)
def test_bad_notify_entries_are_located_errors(
    destination: dict[str, object], env: dict[str, str], expected: str
) -> None:
    found = errors(plan_with(destination), env)
    assert any(expected in line for line in found), found
    assert all(line.startswith("plan.yaml:") and line[10].isdigit() for line in found), found


def test_duplicate_destination_names_are_refused() -> None:
    same = {"name": "chan", "slack_url_env": "SLACK", "events": ["decision"]}
    assert any(
        "notify[1].name: duplicate destination name 'chan'" in e
        for e in errors(plan_with(same, same))
    )


def test_the_environment_is_not_read_without_one() -> None:
    # The simulator and the demo read plans for other things: no look-up, no refusal.
    parse_plan_text(plan_with({"name": "c", "slack_url_env": "UNSET_X", "events": ["all"]}))


def test_a_bad_ssh_door_is_located() -> None:
    text = with_notify(SAMPLE.read_text(encoding="utf-8"), [], {"host": "a b", "port": 70000})
    found = errors(text)
    assert any("ssh_door.host: expected a host name" in e for e in found), found
    assert any("ssh_door.port" in e for e in found), found


def test_warroom_check_refuses_what_load_refuses_with_the_line(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        plan_with(
            {"name": "chan", "slack_url_env": "WR_TEST_UNSET", "events": ["decision"]},
            {"name": "hook", "webhook_url_env": "WR_TEST_HOOK", "events": ["all"]},
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WR_TEST_")}
    env["WR_TEST_HOOK"] = "ftp://example.com/x"
    checked = subprocess.run(
        [WARROOM, "check", str(plan)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert checked.returncode == 1
    lines = checked.stderr.splitlines()
    assert any(
        line.startswith(f"{plan}:")
        and "notify[0].slack_url_env: the environment variable WR_TEST_UNSET is not set" in line
        for line in lines
    ), checked.stderr
    assert any(
        "notify[1].webhook_url_env: $WR_TEST_HOOK does not hold a usable URL" in line
        for line in lines
    )
    # The secret is not printed back.
    assert "ftp://example.com/x" not in checked.stderr
    loaded = subprocess.run(
        [WARROOM, "load", str(plan), "--db", f"sqlite:///{tmp_path}/w.db", "--as", "sarah"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert loaded.returncode == 1 and "WR_TEST_UNSET is not set" in loaded.stderr
    assert "nothing was loaded" in loaded.stderr


# ---------------------------------------------------------------- what happens, and its words


def test_mentions_are_whole_known_names_not_addresses() -> None:
    names = ["sarah", "backend", "ops"]
    assert nt.mentions("@Backend and @sarah. and @sarah", names) == ["backend", "sarah"]
    assert nt.mentions("mail ops@example.com or @nobody", names) == []


def test_audit_events_map_to_notification_events() -> None:
    def events(action: str, payload: Mapping[str, object]) -> list[nt.Event]:
        return [h.event for h in nt.happenings(action, payload, "sarah", AT, names=["ops"])]

    assert events("decision", {"kind": "GO", "subset": [], "rationale": ""}) == [nt.Event.DECISION]
    assert events("deploy.fail", {"service": "api", "reason": "x"}) == [nt.Event.SERVICE_FAILED]
    assert events("trigger.fire", {"trigger": "e@api", "detail": "firing: e 5%"}) == [
        nt.Event.TRIGGER_FIRED
    ]
    assert events("trigger.change", {"trigger": "e@api", "state": "pending"}) == [
        nt.Event.TRIGGER_PENDING
    ]
    assert events("trigger.change", {"trigger": "e@api", "state": "pending", "dry_run": True}) == []
    assert events("trigger.change", {"trigger": "e@api", "state": "inactive"}) == []
    assert events("trigger.resolve", {"trigger": "e@api"}) == [nt.Event.TRIGGER_RESOLVED]
    resolved = {"trigger": "e@api", "after": {"triggers": {"e@api": {"state": "resolved"}}}}
    assert events("trigger.ack", resolved) == [nt.Event.TRIGGER_RESOLVED]
    still = {"trigger": "e@api", "after": {"triggers": {"e@api": {"state": "firing"}}}}
    assert events("trigger.ack", still) == []
    assert events("trigger.answer", {**still, "fields": {"reason": "r"}}) == [
        nt.Event.TRIGGER_FIRED
    ]
    assert events("rollback.start", {"service": "api"}) == [nt.Event.ROLLBACK_ORDERED]
    assert events("rollback.done", {"service": "api"}) == [nt.Event.ROLLBACK_DONE]
    assert events("message", {"text": "@ops look"}) == [nt.Event.MENTION]
    assert events("message", {"text": "no one"}) == []
    assert events("item.check", {"fields": {"keys": ["gng-1"]}}) == []


def test_release_done_needs_every_allowed_or_started_service_settled() -> None:
    states = {"a": "done", "b": "rolled_back", "c": "waiting"}
    assert nt.release_done(["a", "b"], states, settled_now=True)
    assert not nt.release_done(["a", "b", "c"], states, settled_now=True)
    assert not nt.release_done(["a", "b"], states, settled_now=False)


def test_slack_wording_escapes_and_says_who_when_and_how_to_join() -> None:
    said = nt.Happening(nt.Event.MENTION, "mike in the room: <@U1> & <!here> \x1b[2J", "mike", AT)
    body = nt.render(nt.Kind.SLACK, said, ROOM, "k1")
    section = body["blocks"][0]["text"]["text"]
    assert "&lt;@U1&gt; &amp; &lt;!here&gt;" in section and "<" not in section
    assert "\x1b" not in body["text"] and "␛" in body["text"]
    context = body["blocks"][1]["elements"][0]["text"]
    assert context == "by mike · 15:05:30 CET · T+5m30s · join: `ssh -p 2222 wr`"


def test_pagerduty_triggers_and_resolves_one_incident_per_trigger() -> None:
    fired = nt.Happening(nt.Event.TRIGGER_FIRED, "x", "warroom", AT, "api", "e@api")
    resolved = nt.Happening(nt.Event.TRIGGER_RESOLVED, "y", "warroom", AT, "api", "e@api")
    page = nt.render(nt.Kind.PAGERDUTY, fired, ROOM, "k1")
    done = nt.render(nt.Kind.PAGERDUTY, resolved, ROOM, "k2")
    assert page["event_action"] == "trigger" and done["event_action"] == "resolve"
    assert page["dedup_key"] == done["dedup_key"] == "v2.5.0/e@api"
    assert page["payload"]["severity"] == "critical" and "routing_key" not in page


def test_retry_policy() -> None:
    assert nt.retryable(None) and nt.retryable(429) and nt.retryable(503)
    assert not nt.retryable(404) and not nt.retryable(400)
    assert nt.retry_after("7", AT) == timedelta(seconds=7)
    assert nt.retry_after("Wed, 20 Mar 2024 14:06:00 GMT", AT) == timedelta(seconds=30)
    assert nt.retry_after("soon", AT) is None
    assert nt.retry_after("999999", AT) == nt.BACKOFF_MAX
    assert nt.next_try(1, AT, None) == AT + nt.BACKOFF_FIRST
    assert nt.next_try(3, AT, None) == AT + 4 * nt.BACKOFF_FIRST
    assert nt.next_try(1, AT, timedelta(seconds=60)) == AT + timedelta(seconds=60)


def test_notify_test_names_the_destinations_when_unknown(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["notify", "test", "nowhere", "--db", f"sqlite:///{tmp_path}/none.db"]
    )
    assert result.exit_code == 1
