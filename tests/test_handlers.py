"""Commands are data: one handler per command, run and audited by `execute`."""

from __future__ import annotations

import ast
import itertools
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlmodel import col, select

import warroom.commands
from tests.conftest import (
    WINDOW_OPENS,
    check_everything,
    fingerprint,
    read_snapshot,
    table_counts,
)
from warroom.clock import FixedClock
from warroom.commands import SYSTEM_ACTOR, CommandError, handlers
from warroom.commands import defs as d
from warroom.commands.access import SshConnected, SshDisconnected, SshRefused
from warroom.commands.execute import execute
from warroom.commands.health import ClaimLease, HealthCommands, RecordHealth, ReleaseLease
from warroom.commands.load import LoadPlan
from warroom.commands.tx import Tx
from warroom.domain.health import Sample
from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.plan import Plan
from warroom.domain.roles import Role
from warroom.domain.triggers import Phase
from warroom.store import models as m
from warroom.store.engine import Store


def events(store: Store) -> list[tuple[str, str, dict[str, Any]]]:
    """The audit chain as (actor, action, payload), oldest first."""
    with store.read() as session:
        rows = session.exec(select(m.AuditEvent).order_by(col(m.AuditEvent.id))).all()
        return [(row.actor, row.action, json.loads(row.payload)) for row in rows]


# ---------------------------------------------------------------- the registry


def test_every_command_type_has_exactly_one_handler() -> None:
    people = [
        v
        for v in vars(d).values()
        if isinstance(v, type)
        and issubclass(v, d.Command)
        and v not in {d.Command, d.ServiceCommand}
    ]
    machinery = [LoadPlan, ClaimLease, ReleaseLease, RecordHealth]
    machinery += [SshConnected, SshDisconnected, SshRefused]
    assert len(people) >= 12
    registry = handlers.registry()
    for kind in people + machinery:
        assert kind in registry, f"{kind.__name__} has no handler"
    with pytest.raises(TypeError, match="StartDeploy already has a handler"):
        handlers.handles(d.StartDeploy)(lambda tx, command: "")


@dataclass(frozen=True)
class Wave(d.Command[str]):
    """A toy command, as a test (or a new row of the action table) adds one."""

    AUDIT: ClassVar[str] = "toy.wave"
    at: str
    times: int = 1


def wave(tx: Tx, command: Wave) -> str:
    tx.system_line(f"{tx.actor.name} waves at {command.at}")
    tx.note(waved=command.times)
    return f"waved {command.times}x"


def test_a_registered_toy_command_runs_through_execute_and_is_audited(
    sqlite_loaded: Store, clock: FixedClock
) -> None:
    with handlers.registered(Wave, wave):
        assert execute(sqlite_loaded, clock, Wave("the room", 2), "pat") == "waved 2x"
    actor, action, payload = events(sqlite_loaded)[-1]
    assert (actor, action) == ("pat", "toy.wave")
    assert payload == {
        "release": "v2.5.0",
        "command": "Wave",
        "fields": {"at": "the room", "times": 2},
        "waved": 2,
        # How it left what it changed (domain/record.py): here, the log's newest line.
        "after": {"log": read_snapshot(sqlite_loaded).log[-1].id},
    }
    assert read_snapshot(sqlite_loaded).log[-1].text == "pat waves at the room"
    with pytest.raises(TypeError, match="no handler for Wave"):
        execute(sqlite_loaded, clock, Wave("the room"), "pat")


def test_a_refusing_handler_writes_nothing(sqlite_loaded: Store, clock: FixedClock) -> None:
    def refuse(tx: Tx, command: Wave) -> str:
        wave(tx, command)
        raise CommandError("no waving today")

    before = fingerprint(sqlite_loaded)
    with handlers.registered(Wave, refuse), pytest.raises(CommandError, match="no waving"):
        execute(sqlite_loaded, clock, Wave("the room"), "pat")
    assert fingerprint(sqlite_loaded) == before


# ---------------------------------------------------------------- the audit event


def test_the_audit_event_names_the_command_and_its_fields(loaded: Store, clock: FixedClock) -> None:
    execute(loaded, clock, d.SetItems(("backend-1", "backend-2")), "mike")  # one event for both
    actor, action, payload = events(loaded)[-1]
    assert (actor, action) == ("mike", "item.check")
    assert payload["command"] == "SetItems"
    assert payload["fields"] == {
        "keys": ["backend-1", "backend-2"],
        "done": True,
        "expect_version": None,
    }
    assert [item["item"] for item in payload["items"]] == ["backend-1", "backend-2"]
    assert {item["team"] for item in payload["items"]} == {"backend"}
    assert len(events(loaded)) == 1 + 1

    execute(loaded, clock, d.SetItems(("backend-1",), done=False, expect_version=2), "mike")
    _, action, payload = events(loaded)[-1]
    assert action == "item.uncheck" and payload["fields"]["expect_version"] == 2

    execute(loaded, clock, d.PostMessage("  hello\n  room "), "pat")
    _, action, payload = events(loaded)[-1]
    assert action == "message"
    assert payload["fields"] == {"text": "  hello\n  room "}  # what was asked
    assert payload["text"] == "hello room"  # what was posted


def test_a_deploy_event_keeps_todays_keys_beside_the_command(
    sqlite_loaded: Store, clock: FixedClock
) -> None:
    check_everything(sqlite_loaded, clock)
    execute(sqlite_loaded, clock, d.Decide(DecisionKind.GO, rationale="ready"), "sarah")
    _, action, payload = events(sqlite_loaded)[-1]
    assert action == "decision" and payload["kind"] == "GO" and payload["fields"]["kind"] == "GO"
    clock.set(WINDOW_OPENS)
    execute(sqlite_loaded, clock, d.StartDeploy("api-gateway"), "raj")
    _, action, payload = events(sqlite_loaded)[-1]
    assert action == "deploy.start"
    # How the command left the service, for the record (domain/record.py).
    assert payload.pop("after") == {
        "services": {
            "api-gateway": {
                "state": "deploying",
                "since": clock.now().isoformat(),
                "by": "raj",
                "version": 2,
                "steps": [[None, None]] * 4,
            }
        },
        "log": read_snapshot(sqlite_loaded).log[-1].id,
    }
    assert payload == {
        "release": "v2.5.0",
        "command": "StartDeploy",
        "fields": {"service": "api-gateway", "expect_version": None},
        "service": "api-gateway",
        "version": "1.8.0",
    }


def test_a_malformed_command_is_refused_before_anyone_is_looked_up(
    sqlite_loaded: Store, clock: FixedClock
) -> None:
    before = fingerprint(sqlite_loaded)
    for command, sentence in [
        (d.PostMessage("   "), "the message is empty"),
        (d.SetItems(()), "name at least one checklist item"),
        (d.RaiseTrigger("user-service", " "), "say why you are calling for a rollback"),
    ]:
        with pytest.raises(CommandError, match=sentence):
            execute(sqlite_loaded, clock, command, "nobody")
    assert fingerprint(sqlite_loaded) == before


def test_health_samples_leave_no_event_per_batch(sqlite_loaded: Store, clock: FixedClock) -> None:
    poller = HealthCommands(sqlite_loaded, clock, "poller-a")
    assert poller.claim(timedelta(seconds=15)).held
    assert events(sqlite_loaded)[-1][1] == "poller.lease"
    counts = []
    for ok in (True, True, True, False, False, True):
        clock.advance(timedelta(seconds=5))
        sample = Sample("api-gateway", clock.now(), ok, None if ok else "HTTP 503", 200, 12.0, {})
        assert poller.record([sample], timedelta(seconds=15)).samples == 1
        assert poller.claim(timedelta(seconds=15)).held  # a renewal: no event either
        counts.append(len(events(sqlite_loaded)))
    # Only the turns of its health are kept: the first sample, failing, passing again.
    # (The rules' triggers on a service that is not deploying stay quiet.)
    turns = [b - a for a, b in itertools.pairwise(counts)]
    assert turns == [0, 0, 1, 0, 1]
    assert [action for _, action, _ in events(sqlite_loaded)[-3:]] == ["health.change"] * 3


# ---------------------------------------------------------------- loading a plan


def test_load_plan_runs_through_execute(
    store: Store, sample_plan: Plan, sample_text: str, clock: FixedClock
) -> None:
    command = LoadPlan(sample_plan, sample_text)
    for who in ("mike", "warroom", SYSTEM_ACTOR):
        with pytest.raises(CommandError) as refused:
            execute(store, clock, command, who)
        name = who if isinstance(who, str) else "warroom"
        assert str(refused.value) == (
            f"{name!r} may not load release v2.5.0: a plan is loaded by one of its "
            "release managers (sarah); use --as sarah"
        )
    assert table_counts(store)["release"] == 0

    result = execute(store, clock, command, "sarah")
    assert result.created and result.services == 6
    actor, action, payload = events(store)[-1]
    assert (actor, action, payload["command"]) == ("sarah", "release.load", "LoadPlan")
    assert payload["fields"] == {"plan_sha256": command.digest}
    assert payload["plan_sha256"] == command.digest and payload["services"] == 6

    before = fingerprint(store)
    again = execute(store, clock, LoadPlan(sample_plan, sample_text), "sarah")
    assert not again.created and "nothing to do" in again.describe()
    assert fingerprint(store) == before  # no event, no change-feed row, nothing


# ---------------------------------------------------------------- the store's enum columns


def test_state_columns_hold_domain_enums_stored_as_todays_strings(
    loaded: Store, clock: FixedClock
) -> None:
    execute(loaded, clock, d.RaiseTrigger("user-service", "p99 doubled"), "mike")
    with loaded.read() as session:
        service = session.exec(select(m.Service).where(m.Service.name == "api-gateway")).one()
        trigger = session.exec(
            select(m.TriggerState).where(m.TriggerState.rule == "lead-call")
        ).one()
        person = session.exec(select(m.Person).where(m.Person.name == "sarah")).one()
        assert service.state is DeployState.WAITING
        assert trigger.state is Phase.FIRING
        assert person.role is Role.RELEASE_MANAGER
        # The enum compares in SQL too, and a value it does not know is refused on the way in.
        firing = select(m.TriggerState).where(m.TriggerState.state == Phase.FIRING)
        assert len(session.exec(firing).all()) == 1
    with loaded.engine.connect() as conn:
        stored = conn.execute(text("SELECT state FROM trigger_state WHERE rule = 'lead-call'"))
        assert stored.scalar_one() == "firing"
    with (
        pytest.raises(StatementError, match="'launching' is not a valid DeployState"),
        loaded.write() as session,
    ):
        row = session.exec(select(m.Service)).first()
        assert row is not None
        row.state = "launching"  # type: ignore[assignment]
        session.add(row)


def test_a_decision_kind_reads_back_as_the_enum(sqlite_loaded: Store, clock: FixedClock) -> None:
    execute(sqlite_loaded, clock, d.Decide(DecisionKind.NO_GO, rationale="staging red"), "sarah")
    with sqlite_loaded.read() as session:
        decision = session.exec(select(m.Decision)).one()
        assert decision.kind is DecisionKind.NO_GO
    with sqlite_loaded.engine.connect() as conn:
        assert conn.execute(text("SELECT kind FROM decision")).scalar_one() == "NO-GO"


# ---------------------------------------------------------------- no SQL in the command layer


def test_the_command_layer_holds_no_sql() -> None:
    """Handlers read like the rule: every statement sits in store/repo.py."""
    package = Path(warroom.commands.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                names = []
            for name in names:
                assert name.split(".")[0] not in {"sqlmodel", "sqlalchemy"}, (
                    f"{path.name} imports {name}"
                )
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                assert called not in {"select", "delete", "exec"}, (
                    f"{path.name}:{node.lineno} calls {called}()"
                )
