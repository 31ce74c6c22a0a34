"""`warroom notify status` and `warroom notify test`: the room's messages to the outside.

The outbox is sent by `warroom poll` (the poller lease's holder; see
health/notifier.py); these commands only read it, or try a destination.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from typing import Any

import click

from warroom.cli.common import clock, common_options, flags, open_store
from warroom.console import echo, fail


@click.group("notify")
def notify() -> None:
    """Notifications out of the room: what was sent, what is failing, a test message."""


def _read(limit: int) -> tuple[str, list[Any], list[dict[str, Any]], Any]:
    from warroom.store.engine import StoreError
    from warroom.store.queries import deliveries, destinations
    from warroom.store.repo import Repo

    wanted = flags().release
    with open_store() as store:
        try:
            with store.read() as session:
                repo = Repo(session)
                release = repo.release = repo.find_release(wanted)
                if release is None:
                    what = f"release {wanted!r} is not loaded" if wanted else "no release is loaded"
                    fail(f"{what} in this database; load one with: {store.load_hint()}")
                room = repo.room()
                return (
                    release.timezone,
                    destinations(session, release.id),
                    deliveries(session, release.id, limit),
                    room,
                )
        except StoreError as exc:
            fail(str(exc))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@common_options
@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (UTC ISO 8601).")
@click.option("--limit", default=50, type=click.IntRange(1, 10_000), help="How many deliveries.")
def status(as_json: bool, limit: int) -> None:
    """The destinations and the newest deliveries, failures first."""
    from warroom.domain.text import safe
    from warroom.domain.timeline import when

    zone, places, rows, _room = _read(limit)
    failing = [
        r for r in rows if r["state"] == "failed" or (r["state"] != "sent" and r["attempts"])
    ]
    if as_json:
        out = {
            "destinations": [
                {"name": d.name, "kind": d.kind.value, "events": sorted(e.value for e in d.events)}
                for d in places
            ],
            "failing": len(failing),
            "deliveries": [
                {
                    **r,
                    **{k: _iso(r[k]) for k in ("created_at", "due_at", "sent_at")},
                }
                for r in rows
            ],
        }
        click.echo(json.dumps(out, indent=2))
        return
    if not places:
        echo("No notification destinations in this release's plan (see notify: in the README).")
        return
    echo("Destinations: " + ", ".join(f"{d.name} ({d.kind.value})" for d in places))
    echo(f"Failing: {len(failing)}" if failing else "Failing: none")
    for r in sorted(rows, key=lambda r: (r["state"] == "sent", -r["id"])):
        stamp = when(r["created_at"], zone, "%H:%M:%S")
        state = r["state"].upper() if r["state"] == "failed" else r["state"]
        tries = f"{r['attempts']} {'try' if r['attempts'] == 1 else 'tries'}"
        extra = ""
        if r["state"] == "sent" and r["sent_at"] is not None:
            extra = f" at {when(r['sent_at'], zone, '%H:%M:%S')}"
        elif r["state"] == "pending" and r["attempts"]:
            extra = f", next try {when(r['due_at'], zone, '%H:%M:%S')}"
        error = f" — {safe(r['last_error'])}" if r["last_error"] and r["state"] != "sent" else ""
        echo(f"{stamp}  {r['destination']:<16} {r['event']:<17} {state}{extra} ({tries}){error}")


@common_options
@click.command("test")
@click.argument("destination")
@click.option("--timeout", default=10.0, type=click.FloatRange(0.1, 60), help="Seconds to wait.")
def test(destination: str, timeout: float) -> None:
    """Send a test message to DESTINATION now, from this machine's environment.

    It goes straight out (not through the outbox) and changes nothing in the room.
    """
    from warroom.commands.notify import Message
    from warroom.domain import notify as nt
    from warroom.health.notifier import send_now

    _zone, places, _rows, room = _read(1)
    found = next((d for d in places if d.name == destination), None)
    if found is None:
        names = ", ".join(d.name for d in places) or "(none: the plan has no notify:)"
        fail(f"no notification destination {destination!r}; destinations are: {names}")
    time = clock()
    key = uuid.uuid4().hex
    happening = nt.test_happening(found.name, flags().identity, time.now())
    body = json.dumps(nt.render(found.kind, happening, room, key))
    message = Message(found.kind, found.url_env, found.key_env, body, key)
    outcome = send_now(message, os.environ, time, timeout)
    if not outcome.ok:
        fail(f"the test message to {found.name} was not delivered: {outcome.error}")
    echo(f"test message delivered to {found.name} ({found.kind.value}): HTTP {outcome.status}")


notify.add_command(status)
notify.add_command(test)
