"""Notifications out of the room, against real HTTP servers on 127.0.0.1 and a
real database: each event once to whoever wants it, retries, Retry-After, a
dead destination given up and shown, a sender killed mid-delivery, and a
slow destination that never delays a command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from tests.conftest import check_everything, read_snapshot
from tests.notify_support import Receiver, receiver
from tests.test_poller import WARROOM, load, wait_for
from warroom.clock import SystemClock
from warroom.commands import Commands
from warroom.health.poller import NotifyOptions, Poller
from warroom.store import models as m
from warroom.store.engine import Store
from warroom.testing.plans import plan_text, with_notify

CLOCK = SystemClock()
FAST = NotifyOptions(every=0.05, timeout=5.0, backoff_first=timedelta(milliseconds=50))


def outbox(store: Store) -> list[m.NotifyOutbox]:
    with store.read() as session:
        return list(session.exec(select(m.NotifyOutbox).order_by(col(m.NotifyOutbox.id))).all())


def attempts(store: Store) -> list[m.NotifyAttempt]:
    with store.read() as session:
        return list(session.exec(select(m.NotifyAttempt).order_by(col(m.NotifyAttempt.id))).all())


def settled(store: Store) -> bool:
    rows = outbox(store)
    return bool(rows) and all(r.state in {"sent", "failed"} for r in rows)


@pytest.fixture
async def got() -> AsyncIterator[Receiver]:
    async with receiver() as found:
        yield found


def load_with(store: Store, destinations: list[dict[str, object]], **door: object) -> None:
    # A health endpoint nobody answers: the poller needs no target to send, but
    # a 1 s interval keeps its lease short for the takeover test.
    text = plan_text({"api-gateway": "http://127.0.0.1:9/health"})
    load(store, with_notify(text, destinations, door or None))


async def run_poller(
    db_url: str, env: Mapping[str, str], options: NotifyOptions = FAST, holder: str = "p1"
) -> tuple[Poller, asyncio.Event, asyncio.Task[None]]:
    poller = Poller(
        db_url, CLOCK, holder=holder, notify=NotifyOptions(**{**options.__dict__, "env": env})
    )
    stop = asyncio.Event()
    return poller, stop, asyncio.create_task(poller.run(stop))


async def stop_poller(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    await asyncio.wait_for(task, 30)


async def test_each_event_reaches_once_the_destinations_that_want_it(
    store: Store, db_url: str, got: Receiver
) -> None:
    load_with(
        store,
        [
            {
                "name": "chan",
                "slack_url_env": "CHAN",
                "events": ["decision", "trigger_fired", "rollback"],
            },
            {"name": "hook", "webhook_url_env": "HOOK", "events": ["all"]},
            {
                "name": "pager",
                "pagerduty_key_env": "PD_KEY",
                "pagerduty_url_env": "PD_URL",
                "events": ["trigger_fired", "trigger_resolved"],
            },
        ],
        host="warroom.example.com",
        port=2222,
    )
    env = {
        "CHAN": f"{got.base}/chan",
        "HOOK": f"{got.base}/hook",
        "PD_URL": f"{got.base}/pd",
        "PD_KEY": "routing-key-1",
    }
    check_everything(store, CLOCK)  # type: ignore[arg-type]
    Commands(store, CLOCK, "sarah").decide("go", rationale="all green")
    for _ in range(4):
        Commands(store, CLOCK, "raj").complete_step("api-gateway")
    Commands(store, CLOCK, "tom").raise_trigger("api-gateway", "<!channel> 500s & worse")
    Commands(store, CLOCK, "sarah").start_rollback("api-gateway", "lead's call")
    Commands(store, CLOCK, "raj").ack_trigger("lead-call@api-gateway")
    Commands(store, CLOCK, "raj").finish_rollback("api-gateway")
    Commands(store, CLOCK, "mike").post_message("@infra is the gateway back? cc ops@example.com")
    # Written with the changes, before any sender runs: nothing was lost for want of one.
    assert len(outbox(store)) == 4 + 6 + 2
    _poller, stop, task = await run_poller(db_url, env)
    try:
        await wait_for(lambda: settled(store), "every notification delivered")
    finally:
        await stop_poller(stop, task)
    assert all(r.state == "sent" and r.attempts == 1 for r in outbox(store))

    # The channel: one Slack message each for the GO, the fired trigger and the rollback.
    chan = got.effects("/chan")
    assert len(got.on("/chan")) == len(chan) == 4
    texts = [r.body["text"] for r in chan]
    assert "Decision GO" in texts[0] and "by sarah" in texts[0]
    assert "called for a rollback of api-gateway" in texts[1]
    assert "Rollback of api-gateway ordered" in texts[2]
    assert "api-gateway rolled back" in texts[3]
    fired = chan[1].body["blocks"]
    # People's words cannot ping a channel or make a link: mrkdwn escaped.
    assert "&lt;!channel&gt; 500s &amp; worse" in fired[0]["text"]["text"]
    context = fired[1]["elements"][0]["text"]
    assert "by tom" in context and "T+" in context and "UTC" in context
    assert "join: `ssh -p 2222 warroom.example.com`" in context

    # The generic webhook wants everything: the documented object, once each.
    assert got.events("/hook") == [
        "decision",
        "trigger_fired",
        "rollback_ordered",
        "trigger_resolved",
        "rollback_done",
        "mention",
    ]
    assert len(got.on("/hook")) == 6
    mention = got.effects("/hook")[-1].body
    assert mention["details"]["mentions"] == ["infra"] and mention["actor"] == "mike"
    assert mention["schema"] == 1 and mention["id"] == got.effects("/hook")[-1].key

    # PagerDuty: a trigger, then a resolve of the same incident.
    pages = got.on("/pd")
    assert [p.body["event_action"] for p in pages] == ["trigger", "resolve"]
    assert pages[0].body["dedup_key"] == pages[1].body["dedup_key"]
    assert pages[0].body["dedup_key"].endswith("lead-call@api-gateway")
    assert {p.body["routing_key"] for p in pages} == {"routing-key-1"}
    # The secret came from the sender's environment; the outbox never held it.
    assert not any("routing-key-1" in r.body for r in outbox(store))
    assert read_snapshot(store).notify_failing == 0


async def test_a_500_then_200_is_delivered_once_after_a_retry(
    store: Store, db_url: str, got: Receiver
) -> None:
    load_with(store, [{"name": "hook", "webhook_url_env": "HOOK", "events": ["mention"]}])
    Commands(store, CLOCK, "mike").post_message("@sarah ready when you are")
    _poller, stop, task = await run_poller(db_url, {"HOOK": f"{got.base}/flaky"})
    try:
        await wait_for(lambda: settled(store), "the delivery to settle")
    finally:
        await stop_poller(stop, task)
    [row] = outbox(store)
    assert row.state == "sent" and row.attempts == 2
    assert [(a.status_code, a.outcome) for a in attempts(store)] == [(500, "retry"), (200, "sent")]
    # Both tries carried the same key; what the receiver acted on, once.
    assert [r.key for r in got.on("/flaky")] == [row.key, row.key]
    assert len(got.effects("/flaky")) == 1


async def test_429_with_retry_after_is_honoured(store: Store, db_url: str, got: Receiver) -> None:
    load_with(store, [{"name": "hook", "webhook_url_env": "HOOK", "events": ["mention"]}])
    Commands(store, CLOCK, "mike").post_message("@backend heads up")
    _poller, stop, task = await run_poller(db_url, {"HOOK": f"{got.base}/limited"})
    try:
        await wait_for(lambda: settled(store), "the delivery to settle")
    finally:
        await stop_poller(stop, task)
    first, second = attempts(store)
    assert (first.status_code, first.outcome) == (429, "retry")
    assert (second.status_code, second.outcome) == (200, "sent")
    # Backoff alone would have tried again after 50 ms; the server asked for 1 s.
    assert second.at - first.at >= timedelta(seconds=1)
    requests = got.on("/limited")
    assert len(requests) == 2 and requests[1].at - requests[0].at >= 1.0


async def test_a_dead_destination_is_given_up_and_shown(
    store: Store, db_url: str, got: Receiver
) -> None:
    load_with(
        store,
        [
            {"name": "dead", "webhook_url_env": "DEAD", "events": ["decision"]},
            {"name": "fine", "webhook_url_env": "FINE", "events": ["decision"]},
        ],
    )
    check_everything(store, CLOCK)  # type: ignore[arg-type]
    Commands(store, CLOCK, "sarah").decide("go")
    options = NotifyOptions(every=0.05, backoff_first=timedelta(milliseconds=50), max_attempts=3)
    env = {"DEAD": f"{got.base}/dead", "FINE": f"{got.base}/ok/fine"}
    _poller, stop, task = await run_poller(db_url, env, options)
    try:
        await wait_for(lambda: settled(store), "the deliveries to settle")
    finally:
        await stop_poller(stop, task)
    dead, fine = outbox(store)
    assert (dead.state, dead.attempts, dead.last_status) == ("failed", 3, 503)
    assert fine.state == "sent"
    assert len(got.on("/dead")) == 3
    snapshot = read_snapshot(store)
    assert snapshot.notify_failing == 1
    assert (
        "Notification to dead (decision) given up after 3 tries: HTTP 503" in snapshot.log[-1].text
    )
    shown = json.loads(
        subprocess.run(
            [WARROOM, "notify", "status", "--json", "--db", db_url],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    assert shown["failing"] == 1
    assert [d["state"] for d in shown["deliveries"]] == ["sent", "failed"]
    text = subprocess.run(
        [WARROOM, "notify", "status", "--db", db_url],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "Failing: 1" in text and "FAILED (3 tries) — HTTP 503 gone fishing" in text


async def test_a_slow_destination_never_delays_a_command(
    store: Store, db_url: str, got: Receiver
) -> None:
    load_with(
        store,
        [
            {"name": "slow", "webhook_url_env": "SLOW", "events": ["mention"]},
            {"name": "fine", "webhook_url_env": "FINE", "events": ["mention"]},
        ],
    )
    env = {"SLOW": f"{got.base}/slow", "FINE": f"{got.base}/ok/fine"}
    Commands(store, CLOCK, "mike").post_message("@ops first")
    _poller, stop, task = await run_poller(db_url, env)
    try:
        await asyncio.wait_for(got.arrived.wait(), 30)  # the slow one holds its request open
        # Meanwhile the room goes on: a command commits, and its own
        # notification to the other destination is delivered.
        said = await asyncio.wait_for(
            asyncio.to_thread(Commands(store, CLOCK, "mike").post_message, "@ops second"), 30
        )
        assert said == "message posted"
        await wait_for(
            lambda: len(got.on("/ok/fine")) == 2, "both messages at the fine destination"
        )
        assert len(got.on("/slow")) == 1 and not got.gate.is_set()
        got.gate.set()
        await wait_for(lambda: settled(store), "the slow one to catch up")
    finally:
        await stop_poller(stop, task)
    # The slow destination got both, in order, once each.
    assert [r.body["details"]["text"] for r in got.on("/slow")] == ["@ops first", "@ops second"]


def start_poll(db_url: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if k != "WARROOM_NOW"}
    return subprocess.Popen(
        [WARROOM, "poll", "--db", db_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**base, **env},
    )


@pytest.mark.slow
async def test_a_sender_killed_mid_delivery_sends_nothing_twice(
    db_path: Path, got: Receiver
) -> None:
    db_url = f"sqlite:///{db_path}"
    store = Store(db_url)
    load_with(
        store,
        [
            {"name": "fine", "webhook_url_env": "FINE", "events": ["mention"]},
            {"name": "slow", "webhook_url_env": "SLOW", "events": ["mention"]},
        ],
    )
    env = {"FINE": f"{got.base}/ok/fine", "SLOW": f"{got.base}/slow"}
    for n in range(3):
        Commands(store, CLOCK, "mike").post_message(f"@ops message {n}")
    first = start_poll(db_url, env)
    second: subprocess.Popen[str] | None = None
    try:
        # The first sender delivers to `fine` and is stuck mid-delivery at `slow`.
        await wait_for(lambda: len(got.on("/ok/fine")) == 3, "the first sender's deliveries", 60)
        await asyncio.wait_for(got.arrived.wait(), 60)
        await wait_for(
            lambda: sum(r.state == "sent" for r in outbox(store)) == 3, "them recorded as sent", 60
        )
        first.send_signal(signal.SIGKILL)  # dies with a request in flight
        first.wait(timeout=10)
        in_flight = [r for r in outbox(store) if r.state == "sending"]
        assert len(in_flight) == 1 and in_flight[0].destination == "slow"
        got.gate.set()  # the destination answers from now on
        second = start_poll(db_url, env)
        await wait_for(lambda: settled(store), "the second sender to finish", 60)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        store.dispose()
    # What was recorded as sent went once; the one in flight went again with
    # its own key, so a receiver acting once per key acted once on each message.
    assert len(got.on("/ok/fine")) == 3
    slow = got.on("/slow")
    keys = [r.key for r in slow]
    assert keys[0] == in_flight[0].key and keys.count(keys[0]) == 2
    assert [r.body["details"]["text"] for r in got.effects("/slow")] == [
        f"@ops message {n}" for n in range(3)
    ]
    assert all(r.state == "sent" for r in outbox(Store(db_url)))


async def test_notify_test_sends_one_message_now(store: Store, db_url: str, got: Receiver) -> None:
    load_with(
        store,
        [
            {
                "name": "pager",
                "pagerduty_key_env": "PD_KEY",
                "pagerduty_url_env": "PD_URL",
                "events": ["all"],
            }
        ],
    )
    env = {**os.environ, "PD_URL": f"{got.base}/pd", "PD_KEY": "rk"}
    env.pop("WARROOM_NOW", None)
    ran = await asyncio.to_thread(
        subprocess.run,
        [WARROOM, "notify", "test", "pager", "--db", db_url, "--as", "pat"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert "test message delivered to pager (pagerduty): HTTP 202" in ran.stdout
    [page] = got.on("/pd")
    assert page.body["routing_key"] == "rk" and page.body["payload"]["severity"] == "info"
    assert outbox(store) == []  # straight out: the room is unchanged
    env["PD_URL"] = f"{got.base}/dead"
    ran = await asyncio.to_thread(
        subprocess.run,
        [WARROOM, "notify", "test", "pager", "--db", db_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert ran.returncode == 1 and "was not delivered: HTTP 503 gone fishing" in ran.stderr
