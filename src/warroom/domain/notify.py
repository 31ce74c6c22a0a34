"""Notifications out of the room, decided and worded without any I/O.

What happened in the room reaches the command layer as an audit event (an
action, its payload and how it left what it touched); `happenings` turns
one such event into the notification events people outside want (a GO, a
failed service, a trigger pending, firing or resolved, a rollback ordered
or done, the release done, a message that mentions them). `render` words
one happening for a kind of destination: a Slack-compatible incoming
webhook (`text` plus blocks, mrkdwn escaped), a generic JSON webhook (the
documented object, `schema: 1`) or PagerDuty Events API v2 (trigger and
resolve, the trigger id as dedup key). The command layer writes what these
return to the outbox in the same transaction as the change; the sender
(health/notifier.py) only posts it.

The retry policy (which answers are worth retrying, how long to wait) is
here too, so it is one pure function the tests can read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from warroom.domain.text import safe
from warroom.domain.timeline import t_offset, when


class Event(StrEnum):
    """What a destination may ask to hear about (the plan's `events:` words)."""

    DECISION = "decision"
    SERVICE_FAILED = "service_failed"
    TRIGGER_PENDING = "trigger_pending"
    TRIGGER_FIRED = "trigger_fired"
    TRIGGER_RESOLVED = "trigger_resolved"
    ROLLBACK_ORDERED = "rollback_ordered"
    ROLLBACK_DONE = "rollback_done"
    RELEASE_DONE = "release_done"
    MENTION = "mention"
    TEST = "test"  # `warroom notify test`: never listed in a plan


class Kind(StrEnum):
    """How a destination is spoken to."""

    SLACK = "slack"
    WEBHOOK = "webhook"
    PAGERDUTY = "pagerduty"


# Words a plan may use besides the events themselves.
SHORTHANDS: Mapping[str, frozenset[Event]] = {
    "all": frozenset(e for e in Event if e is not Event.TEST),
    "rollback": frozenset({Event.ROLLBACK_ORDERED, Event.ROLLBACK_DONE}),
}
# PagerDuty pages for fired triggers and resolves them: nothing else is an incident.
PAGERDUTY_EVENTS = frozenset({Event.TRIGGER_FIRED, Event.TRIGGER_RESOLVED})
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"

# The outbox's retry policy.
MAX_ATTEMPTS = 6  # then the delivery is given up, and shown as failing
BACKOFF_FIRST = timedelta(seconds=2)  # doubling: 2 s, 4 s, 8 s, 16 s, 32 s
BACKOFF_MAX = timedelta(minutes=5)  # also the longest Retry-After honoured


def event_words() -> list[str]:
    """Every word `events:` accepts, for error messages and the README."""
    return [e.value for e in Event if e is not Event.TEST] + list(SHORTHANDS)


def expand(words: Iterable[str]) -> frozenset[Event]:
    """The events `words` (already validated) stand for."""
    out: set[Event] = set()
    for word in words:
        out |= SHORTHANDS[word] if word in SHORTHANDS else {Event(word)}
    return frozenset(out)


@dataclass(frozen=True)
class Destination:
    """A destination as loaded: its name, kind, the environment variables
    holding its secrets (never the secrets) and the events it wants."""

    name: str
    kind: Kind
    url_env: str | None  # the webhook URL's variable (PagerDuty: an optional endpoint override)
    key_env: str | None  # PagerDuty's routing key's variable
    events: frozenset[Event]

    def wants(self, event: Event) -> bool:
        if self.kind is Kind.PAGERDUTY and event not in PAGERDUTY_EVENTS | {Event.TEST}:
            return False
        return event in self.events or event is Event.TEST


@dataclass(frozen=True)
class Happening:
    """One thing people outside the room hear about."""

    event: Event
    what: (
        str  # one sentence, plain text (people's words inside it are theirs: escape when rendering)
    )
    actor: str
    at: datetime
    service: str | None = None
    trigger: str | None = None  # `rule@service`: PagerDuty's dedup key
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Room:
    """What every message says about the room: which release, its clock, how to join."""

    release: str
    timezone: str
    window_start: datetime
    join: str | None = None  # `ssh -p 2222 warroom-host`, when the plan names its SSH door


def join_command(host: str | None, port: int | None) -> str | None:
    if not host:
        return None
    return f"ssh -p {port} {host}" if port and port != 22 else f"ssh {host}"


# ---------------------------------------------------------------- what happened

_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9][A-Za-z0-9_.-]*)")


def mentions(text: str, names: Iterable[str]) -> list[str]:
    """The people and teams of `names` that `text` mentions as `@name`, in order, once each.

    Names are matched whole and case-insensitively; an e-mail address
    (`ops@example.com`) mentions nobody, nor does a trailing full stop count.
    """
    known = {name.casefold(): name for name in names}
    found: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        word = match.group(1).rstrip(".")
        name = known.get(word.casefold())
        if name is not None:
            found.setdefault(name, None)
    return list(found)


def _after_trigger(payload: Mapping[str, Any], tid: str) -> Mapping[str, Any]:
    triggers = payload.get("after", {}).get("triggers", {})
    image = triggers.get(tid)
    return image if isinstance(image, Mapping) else {}


def happenings(
    action: str,
    payload: Mapping[str, Any],
    actor: str,
    at: datetime,
    *,
    names: Iterable[str] = (),
) -> list[Happening]:
    """The notification events one audit event stands for (often none).

    `payload` is the event's payload as the command layer writes it (the
    command's `fields`, the handler's facts, `after`: how it left what it
    touched); `names` are the release's people and teams, for mentions. A
    rule on trial (`dry_run`) notifies nobody, as it rings no bell.
    """
    fields = payload.get("fields", {})
    service = payload.get("service") or fields.get("service")
    one = Happening  # shorter lines below
    if action == "decision":
        kind = str(payload.get("kind") or fields.get("kind"))
        subset = payload.get("subset") or []
        rationale = str(payload.get("rationale") or "")
        scope = f" ({', '.join(subset)})" if subset else ""
        why = f": {rationale}" if rationale else ""
        return [
            one(
                Event.DECISION,
                f"Decision {kind}{scope}{why}",
                actor,
                at,
                details={"kind": kind, "subset": list(subset), "rationale": rationale},
            )
        ]
    if action == "deploy.fail":
        reason = str(payload.get("reason") or fields.get("reason") or "")
        return [
            one(
                Event.SERVICE_FAILED,
                f"{service} FAILED: {reason}",
                actor,
                at,
                service=service,
                details={"reason": reason},
            )
        ]
    if action in {"trigger.fire", "trigger.change", "trigger.resolve", "trigger.inconclusive"}:
        if payload.get("dry_run"):
            return []
        tid = str(payload.get("trigger"))
        on = tid.partition("@")[2] or None
        detail = str(payload.get("detail") or "")
        if action == "trigger.fire":
            text = detail.removeprefix("firing: ")
            return [
                one(
                    Event.TRIGGER_FIRED,
                    f"Trigger {tid} FIRING: {text}",
                    actor,
                    at,
                    on,
                    tid,
                    {"detail": text},
                )
            ]
        if action == "trigger.resolve":
            return [one(Event.TRIGGER_RESOLVED, f"Trigger {tid} resolved", actor, at, on, tid)]
        if action == "trigger.change" and payload.get("state") == "pending":
            image = _after_trigger(payload, tid)
            was = str(image.get("detail") or "")
            return [
                one(
                    Event.TRIGGER_PENDING,
                    f"Trigger {tid} pending" + (f": {was}" if was else ""),
                    actor,
                    at,
                    on,
                    tid,
                    {"detail": was},
                )
            ]
        return []
    if action == "trigger.raise":
        reason = str(payload.get("reason") or fields.get("reason") or "")
        tid = f"lead-call@{service}"
        return [
            one(
                Event.TRIGGER_FIRED,
                f"{actor} called for a rollback of {service}: {reason}",
                actor,
                at,
                service,
                tid,
                {"reason": reason},
            )
        ]
    if action in {"trigger.answer", "trigger.ack"}:
        tid = str(payload.get("trigger") or fields.get("trigger"))
        on = tid.partition("@")[2] or None
        state = _after_trigger(payload, tid).get("state")
        reason = str(fields.get("reason") or "")
        if action == "trigger.answer" and state == "firing":
            return [
                one(
                    Event.TRIGGER_FIRED,
                    f"{actor} decided to roll back {on} ({tid} was inconclusive): {reason}",
                    actor,
                    at,
                    on,
                    tid,
                    {"reason": reason},
                )
            ]
        if action == "trigger.ack" and state == "resolved":
            return [
                one(
                    Event.TRIGGER_RESOLVED,
                    f"Trigger {tid} acknowledged and resolved",
                    actor,
                    at,
                    on,
                    tid,
                )
            ]
        return []
    if action == "rollback.start":
        reason = str(payload.get("reason") or "")
        why = f": {reason}" if reason else ""
        return [
            one(
                Event.ROLLBACK_ORDERED,
                f"Rollback of {service} ordered{why}",
                actor,
                at,
                service,
                details={"reason": reason},
            )
        ]
    if action == "rollback.done":
        return [one(Event.ROLLBACK_DONE, f"{service} rolled back", actor, at, service)]
    if action == "message":
        text = str(payload.get("text") or fields.get("text") or "")
        who = mentions(text, names)
        if not who:
            return []
        return [
            one(
                Event.MENTION,
                f"{actor} in the room: {text}",
                actor,
                at,
                details={"mentions": who, "text": text},
            )
        ]
    return []


def release_done(allowed: Sequence[str], states: Mapping[str, str], settled_now: bool) -> bool:
    """The release is done: a service settled in this change (done or rolled
    back), and every service the decision let deploy, or that started, is
    settled."""
    if not settled_now:
        return False
    settled = {"done", "rolled_back"}
    relevant = [name for name, state in states.items() if name in allowed or state != "waiting"]
    return bool(relevant) and all(states[name] in settled for name in relevant)


def done_happening(release: str, states: Mapping[str, str], at: datetime) -> Happening:
    counts = {
        "done": sum(1 for s in states.values() if s == "done"),
        "rolled back": sum(1 for s in states.values() if s == "rolled_back"),
    }
    said = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    return Happening(
        Event.RELEASE_DONE, f"Release {release} is done: {said}", "warroom", at, details=counts
    )


def test_happening(destination: str, actor: str, at: datetime) -> Happening:
    return Happening(
        Event.TEST,
        f"Test message from warroom to {destination}: this destination works",
        actor,
        at,
    )


# ---------------------------------------------------------------- wording


def mrkdwn(text: str) -> str:
    """People's words made inert for Slack's mrkdwn (`&`, `<`, `>` escaped,
    so no `<!channel>` or link can be smuggled in) and for any terminal."""
    plain = safe(text)
    return plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _stamp(room: Room, at: datetime) -> tuple[str, str]:
    return when(at, room.timezone, "%H:%M:%S"), t_offset(at, room.window_start)


_EMOJI = {
    Event.DECISION: "🗳",
    Event.SERVICE_FAILED: "✗",
    Event.TRIGGER_PENDING: "…",
    Event.TRIGGER_FIRED: "⚠",
    Event.TRIGGER_RESOLVED: "✓",
    Event.ROLLBACK_ORDERED: "↺",
    Event.ROLLBACK_DONE: "↩",
    Event.RELEASE_DONE: "✔",
    Event.MENTION: "@",
    Event.TEST: "✉",
}


def render(kind: Kind, happening: Happening, room: Room, key: str) -> dict[str, Any]:
    """The JSON body for a destination of `kind` (PagerDuty's `routing_key`
    is the sender's to add: secrets never reach the outbox). `key` is the
    delivery's idempotency key."""
    clock, t = _stamp(room, happening.at)
    if kind is Kind.SLACK:
        head = f"{_EMOJI[happening.event]} *{mrkdwn(room.release)}* — {mrkdwn(happening.what)}"
        context = f"by {mrkdwn(happening.actor)} · {clock} · {t}"
        if room.join:
            context += f" · join: `{mrkdwn(room.join)}`"
        return {
            "text": f"[{safe(room.release)}] {safe(happening.what)} — by {safe(happening.actor)}, {clock}, {t}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": head}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
            ],
        }
    if kind is Kind.PAGERDUTY:
        resolve = happening.event is Event.TRIGGER_RESOLVED
        body: dict[str, Any] = {
            "event_action": "resolve" if resolve else "trigger",
            "dedup_key": f"{room.release}/{happening.trigger or key}",
        }
        if not resolve:
            body["payload"] = {
                "summary": f"[{safe(room.release)}] {safe(happening.what)}"[:1024],
                "source": f"warroom {safe(room.release)}",
                "severity": "info" if happening.event is Event.TEST else "critical",
                "timestamp": happening.at.isoformat(),
                "component": happening.service,
                "custom_details": {
                    "by": happening.actor,
                    "t": t,
                    "time": clock,
                    "join": room.join,
                    **happening.details,
                },
            }
        return body
    return {
        "schema": 1,
        "id": key,
        "event": happening.event.value,
        "release": room.release,
        "summary": happening.what,
        "actor": happening.actor,
        "at": happening.at.isoformat(),
        "time": clock,
        "t": t,
        "service": happening.service,
        "trigger": happening.trigger,
        "details": dict(happening.details),
        "join": room.join,
    }


# ---------------------------------------------------------------- retrying


def retryable(status: int | None) -> bool:
    """A connection error or timeout (None), 408, 429 or a 5xx is worth
    another try; any other answer outside 2xx will not change by itself."""
    return status is None or status in {408, 429} or status >= 500


def retry_after(header: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (seconds or an HTTP date) as a wait, at most BACKOFF_MAX."""
    if not header:
        return None
    text = header.strip()
    wait: timedelta | None
    if text.isdigit():
        wait = timedelta(seconds=int(text))
    else:
        try:
            wait = parsedate_to_datetime(text) - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(timedelta(0), min(wait, BACKOFF_MAX))


def next_try(
    attempts: int, now: datetime, after: timedelta | None, first: timedelta = BACKOFF_FIRST
) -> datetime:
    """When to try again after `attempts` failed tries: doubling from
    `first`, capped, or the server's Retry-After when it asked for longer."""
    wait: timedelta = min(first * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)
    if after is not None:
        wait = max(wait, after)
    moment: datetime = now + wait
    return moment
