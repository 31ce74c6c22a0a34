"""The command layer against a real SQLite file: every rule allowed and refused.

A refused command must raise CommandError with a sentence and leave every
table exactly as it was (checked with `fingerprint`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

import pytest

from tests.conftest import (
    WINDOW_OPENS,
    check_everything,
    read_snapshot,
    refused,
    table_counts,
)
from warroom.clock import FixedClock
from warroom.commands import CommandError, Commands
from warroom.domain.lifecycle import DeployState
from warroom.domain.roles import Action, Role
from warroom.store.engine import Store

As = Callable[[str], Commands]


def state(store: Store, service: str) -> DeployState:
    view = read_snapshot(store).service(service)
    assert view is not None
    return view.state


def finish(as_: As, person: str, service: str) -> None:
    """Complete every remaining runbook step of `service`."""
    view = read_snapshot(as_(person).store).service(service)
    assert view is not None
    for _ in range(len(view.steps) - view.steps_done):
        as_(person).complete_step(service)


# ---------------------------------------------------------------- identity


def test_unknown_person_is_refused_and_told_who_can_act(loaded: Store, as_: As) -> None:
    message = refused(
        loaded, lambda: as_("mallory").post_message("hi"), "'mallory' is not a person"
    )
    assert "sarah" in message and "--as" in message


def test_the_system_name_is_never_a_person(loaded: Store, as_: As) -> None:
    """`warroom` is refused like any stranger, even when the loaded plan lists a person
    of that name with every power: the system's powers go only with SYSTEM_ACTOR."""
    from sqlmodel import select

    from warroom.store import models as m

    refused(loaded, lambda: as_("warroom").decide("no-go", rationale="x"), "not a person")
    with loaded.write() as session:  # as an old or hand-edited database could hold
        release = session.exec(select(m.Release)).one()
        assert release.id is not None
        session.add(m.Person(release_id=release.id, name="warroom", role=Role.RELEASE_MANAGER))
    message = refused(loaded, lambda: as_("warroom").decide("no-go", rationale="x"), "not a person")
    assert "sarah" in message and "'warroom'," not in message.split("act as one of", 1)[1]
    refused(loaded, lambda: as_("warroom").uncheck_item("gng-1"), "not a person")


def test_the_system_actor_is_an_object_not_a_name(loaded: Store, clock: FixedClock) -> None:
    from warroom.commands.tx import SYSTEM_ACTOR, SystemActor, open_tx

    with (
        pytest.raises(CommandError, match="not a person"),
        open_tx(loaded, clock, "warroom", None) as tx,
    ):
        tx.require(Action.DECIDE)
    with open_tx(loaded, clock, SYSTEM_ACTOR, None) as tx:
        tx.require(Action.DECIDE)  # the machinery may do anything
        assert tx.system and tx.actor.name == "warroom"
    with pytest.raises(TypeError):
        SystemActor("warroom")  # type: ignore[call-arg]


def test_no_release_loaded_says_how_to_load(store: Store, clock: FixedClock) -> None:
    with pytest.raises(CommandError) as refused:
        Commands(store, clock, "sarah").post_message("hello")
    # The hint names this database (a PostgreSQL URL's password hidden, the URL quoted).
    assert "warroom --db " in str(refused.value)
    assert store.display_url() in str(refused.value)
    assert "load PLAN --as MANAGER" in str(refused.value)


# ---------------------------------------------------------------- checklists


def test_team_lead_checks_own_readiness_items_only(loaded: Store, as_: As) -> None:
    assert "checked backend-1" in as_("mike").check_item("backend-1")
    item = read_snapshot(loaded).item("backend-1")
    assert item is not None and item.done and item.done_by == "mike"
    refused(loaded, lambda: as_("mike").check_item("infra-1"), "belongs to team infra")
    refused(loaded, lambda: as_("mike").check_item("gng-1"), "only the release manager")


def test_oncall_and_observer_cannot_check_items(loaded: Store, as_: As) -> None:
    refused(loaded, lambda: as_("lisa").check_item("backend-1"), "lisa (on-call, backend)")
    refused(loaded, lambda: as_("pat").check_item("gng-1"), "pat (observer")


def test_checking_twice_names_who_checked_first(loaded: Store, as_: As) -> None:
    as_("mike").check_item("backend-2")
    refused(loaded, lambda: as_("sarah").check_item("backend-2"), "already checked by mike")


def test_uncheck_and_unknown_item(loaded: Store, as_: As) -> None:
    refused(loaded, lambda: as_("sarah").uncheck_item("gng-1"), "is not checked")
    as_("sarah").check_item("gng-1")
    as_("sarah").uncheck_item("gng-1")
    item = read_snapshot(loaded).item("gng-1")
    assert item is not None and not item.done and item.done_by is None
    refused(loaded, lambda: as_("sarah").check_item("gng-99"), "unknown checklist item 'gng-99'")


def test_checking_several_items_is_all_or_nothing(loaded: Store, as_: As) -> None:
    refused(loaded, lambda: as_("mike").set_items(["backend-1", "infra-1"], True), "infra-1")
    assert "checked backend-2" in as_("mike").set_items(["backend-1", "backend-2"], True)
    snapshot = read_snapshot(loaded)
    assert [i.done for i in snapshot.readiness["backend"][:3]] == [True, True, False]


def test_team_turning_ready_and_blocked_is_announced(loaded: Store, as_: As) -> None:
    snapshot = read_snapshot(loaded)
    for item in snapshot.readiness["mobile"]:
        as_("ana").check_item(item.key)
    assert read_snapshot(loaded).team_ready("mobile")
    as_("ana").uncheck_item("mobile-2")
    lines = [entry.text for entry in read_snapshot(loaded).log if entry.system]
    assert "Team mobile is READY" in lines
    assert any(line.startswith("Team mobile is BLOCKED: Tests passing in CI") for line in lines)


def test_stale_version_is_refused(loaded: Store, as_: As) -> None:
    seen = read_snapshot(loaded).item("backend-1")
    assert seen is not None
    as_("mike").check_item("backend-1")
    refused(
        loaded,
        lambda: as_("sarah").uncheck_item("backend-1", expect_version=seen.row_version),
        "changed while you were looking",
        "checked by mike",
    )


# ---------------------------------------------------------------- decisions


def test_only_the_release_manager_decides(loaded: Store, as_: As, clock: FixedClock) -> None:
    check_everything(loaded, clock)
    for person in ("lisa", "mike", "pat"):
        refused(loaded, partial(as_(person).decide, "go"), "may not record the go/no-go decision")
    assert "recorded GO" in as_("sarah").decide("go")
    decision = read_snapshot(loaded).decision
    assert decision is not None and decision.kind.value == "GO" and decision.by == "sarah"


def test_go_needs_the_checklists(loaded: Store, as_: As) -> None:
    refused(loaded, lambda: as_("sarah").decide("go"), "8 go/no-go items are still open")
    for item in read_snapshot(loaded).go_no_go:
        as_("sarah").check_item(item.key)
    refused(
        loaded,
        lambda: as_("sarah").decide("go"),
        "teams infra, backend, mobile, frontend are BLOCKED",
    )
    for item in read_snapshot(loaded).readiness["infra"]:
        as_("tom").check_item(item.key)
    for item in read_snapshot(loaded).readiness["mobile"]:
        as_("ana").check_item(item.key)
    for item in read_snapshot(loaded).readiness["frontend"]:
        as_("jen").check_item(item.key)
    as_("mike").check_item("backend-1")
    refused(loaded, lambda: as_("sarah").decide("go"), "team backend is BLOCKED (open: backend-2,")


def test_partial_must_be_closed_under_dependencies(loaded: Store, as_: As) -> None:
    for item in read_snapshot(loaded).go_no_go:
        as_("sarah").check_item(item.key)
    for item in read_snapshot(loaded).readiness["infra"]:
        as_("tom").check_item(item.key)
    refused(
        loaded,
        lambda: as_("sarah").decide("partial", ["auth-service"], "backend only"),
        "not closed under dependencies",
        "auth-service needs api-gateway",
    )
    refused(
        loaded,
        lambda: as_("sarah").decide("partial", ["api-gateway", "auth-service"], "gateway and auth"),
        "team backend is BLOCKED",
    )
    result = as_("sarah").decide("partial", ["logging-service", "api-gateway"], "infra only today")
    assert "PARTIAL (api-gateway, logging-service)" in result
    decision = read_snapshot(loaded).decision
    assert decision is not None and decision.subset == ("api-gateway", "logging-service")


def test_no_go_needs_a_rationale_and_stops_deploys(go: Store, as_: As) -> None:
    refused(go, lambda: as_("sarah").decide("no-go"), "needs a rationale")
    as_("sarah").decide("no-go", rationale="monitoring is down")
    refused(go, lambda: as_("raj").complete_step("api-gateway"), "the release is NO-GO")


def test_unknown_decision_kind(loaded: Store, as_: As) -> None:
    refused(loaded, lambda: as_("sarah").decide("maybe"), "use go, no-go or partial")


# ---------------------------------------------------------------- deploys and steps


def test_nothing_deploys_before_go(loaded: Store, as_: As) -> None:
    refused(loaded, lambda: as_("raj").start_deploy("api-gateway"), "no go/no-go decision")
    refused(loaded, lambda: as_("raj").complete_step("api-gateway"), "no go/no-go decision")


def test_outside_partial_subset_is_refused(loaded: Store, as_: As, clock: FixedClock) -> None:
    check_everything(loaded, clock)
    as_("sarah").decide("partial", ["api-gateway"], "gateway first")
    clock.set(WINDOW_OPENS)
    finish(as_, "raj", "api-gateway")
    refused(
        loaded, lambda: as_("raj").complete_step("logging-service"), "outside the PARTIAL subset"
    )


def test_steps_drive_the_state_in_order(go: Store, as_: As) -> None:
    raj = as_("raj")
    assert "(1/4)" in raj.complete_step("api-gateway")
    assert state(go, "api-gateway") is DeployState.DEPLOYING
    raj.complete_step("api-gateway")
    assert state(go, "api-gateway") is DeployState.VERIFYING
    refused(go, lambda: raj.complete_step("api-gateway", 4), "next step is #3 'Check error rates'")
    raj.complete_step("api-gateway", 3)
    raj.complete_step("api-gateway")
    assert state(go, "api-gateway") is DeployState.DONE
    view = read_snapshot(go).service("api-gateway")
    assert view is not None and all(step.done_by == "raj" for step in view.steps)
    refused(go, lambda: raj.complete_step("api-gateway"), "its runbook is closed")


def test_oncall_completes_own_team_steps_not_others(go: Store, as_: As) -> None:
    refused(
        go, lambda: as_("lisa").complete_step("api-gateway"), "api-gateway belongs to team infra"
    )
    finish(as_, "raj", "api-gateway")
    as_("lisa").complete_step("auth-service")
    assert state(go, "auth-service") is DeployState.DEPLOYING


def test_a_service_starts_only_when_its_dependencies_are_done(go: Store, as_: As) -> None:
    refused(go, lambda: as_("lisa").start_deploy("auth-service"), "api-gateway is waiting")
    as_("raj").complete_step("api-gateway")
    refused(go, lambda: as_("lisa").complete_step("auth-service"), "api-gateway is deploying")
    finish(as_, "raj", "api-gateway")
    assert "deploying" in as_("lisa").start_deploy("auth-service")
    refused(go, lambda: as_("lisa").start_deploy("auth-service"), "already deploying")


def test_finish_needs_every_step(go: Store, as_: As) -> None:
    refused(go, lambda: as_("raj").finish_deploy("api-gateway"), "not deploying or verifying")
    as_("raj").start_deploy("api-gateway")
    refused(go, lambda: as_("raj").finish_deploy("api-gateway"), "4 runbook steps are still open")


def test_undo_reopens_the_last_step(go: Store, as_: As) -> None:
    refused(go, lambda: as_("raj").undo_step("api-gateway"), "no completed runbook step")
    as_("raj").complete_step("api-gateway")
    as_("raj").complete_step("api-gateway")
    as_("raj").undo_step("api-gateway")
    view = read_snapshot(go).service("api-gateway")
    assert view is not None and view.steps_done == 1 and view.state is DeployState.DEPLOYING
    refused(go, lambda: as_("lisa").undo_step("api-gateway"), "belongs to team infra")


def test_done_service_cannot_be_reopened_once_dependents_started(go: Store, as_: As) -> None:
    finish(as_, "raj", "api-gateway")
    as_("raj").undo_step("api-gateway")  # nobody relies on it yet: allowed
    assert state(go, "api-gateway") is DeployState.VERIFYING
    as_("raj").complete_step("api-gateway")
    as_("lisa").complete_step("auth-service")
    refused(go, lambda: as_("raj").undo_step("api-gateway"), "auth-service already started")


def test_fail_needs_a_started_deploy(go: Store, as_: As) -> None:
    refused(go, lambda: as_("raj").fail_deploy("api-gateway", "oops"), "has not started")
    as_("raj").complete_step("api-gateway")
    refused(go, lambda: as_("lisa").fail_deploy("api-gateway", "oops"), "belongs to team infra")
    as_("raj").fail_deploy("api-gateway", "pods crash-looping")
    assert state(go, "api-gateway") is DeployState.FAILED
    assert read_snapshot(go).log[-1].text == "✗ api-gateway 1.8.0 FAILED: pods crash-looping"
    refused(go, lambda: as_("raj").fail_deploy("api-gateway", "oops"), "already failed")


@pytest.mark.parametrize("reason", ["", "   \n\t "])
def test_fail_needs_a_reason(go: Store, as_: As, reason: str) -> None:
    as_("raj").complete_step("api-gateway")
    refused(
        go,
        lambda: as_("raj").fail_deploy("api-gateway", reason),
        "say what went wrong with api-gateway",
    )
    assert state(go, "api-gateway") is DeployState.DEPLOYING


def test_go_no_go_items_are_for_the_release_manager_only(loaded: Store, as_: As) -> None:
    for who in ("lisa", "mike"):
        commands = as_(who)
        message = refused(loaded, lambda: commands.check_item("gng-1"), "gng-1")  # noqa: B023
        assert message.endswith("only the release manager can"), message
        assert "team" not in message.split(":", 1)[1], message


def test_observer_can_only_talk(go: Store, as_: As) -> None:
    refused(go, lambda: as_("pat").complete_step("api-gateway"), "pat (observer")
    as_("pat").post_message("Support is standing by")
    entry = read_snapshot(go).log[-1]
    assert (entry.author, entry.kind, entry.text, entry.team) == (
        "pat",
        "message",
        "Support is standing by",
        "support",
    )


def test_unknown_service(go: Store, as_: As) -> None:
    refused(
        go, lambda: as_("sarah").start_deploy("billing"), "unknown service 'billing'", "api-gateway"
    )


# ---------------------------------------------------------------- rollback


def test_rollback_goes_in_reverse_dependency_order(go: Store, as_: As) -> None:
    finish(as_, "raj", "api-gateway")
    as_("lisa").complete_step("auth-service")
    as_("lisa").fail_deploy("auth-service", "5xx")
    refused(go, lambda: as_("lisa").start_rollback("auth-service"), "only the release manager")
    refused(
        go,
        lambda: as_("sarah").start_rollback("api-gateway"),
        "roll back first: auth-service (failed)",
    )
    as_("sarah").start_rollback("auth-service", "error rate")
    refused(go, lambda: as_("sarah").start_rollback("api-gateway"), "auth-service (rolling back)")
    refused(go, lambda: as_("raj").finish_rollback("auth-service"), "belongs to team backend")
    as_("lisa").finish_rollback("auth-service")
    as_("sarah").start_rollback("api-gateway")
    as_("raj").finish_rollback("api-gateway")
    snapshot = read_snapshot(go)
    assert snapshot.states["auth-service"] is DeployState.ROLLED_BACK
    assert snapshot.states["api-gateway"] is DeployState.ROLLED_BACK
    texts = [entry.text for entry in snapshot.log]
    assert any("Rollback of auth-service to 2.2.0 ordered (error rate)" in t for t in texts)
    assert "↩ auth-service rolled back to 2.2.0" in texts


def test_nothing_to_roll_back(go: Store, as_: As) -> None:
    refused(go, lambda: as_("sarah").start_rollback("web-frontend"), "nothing to roll back")
    refused(go, lambda: as_("kim").finish_rollback("web-frontend"), "not rolling back")


# ---------------------------------------------------------------- triggers


def test_a_leads_call_and_its_acknowledgement(go: Store, as_: As) -> None:
    refused(go, lambda: as_("lisa").raise_trigger("user-service", "bad"), "may not raise")
    refused(go, lambda: as_("mike").raise_trigger("user-service", "  "), "say why")
    as_("mike").raise_trigger("user-service", "customers report 500s")
    refused(go, lambda: as_("mike").raise_trigger("user-service", "again"), "already firing")
    trigger = read_snapshot(go).trigger("lead-call@user-service")
    assert trigger is not None and trigger.state == "firing" and trigger.raised_by == "mike"
    refused(go, lambda: as_("raj").ack_trigger("lead-call@user-service"), "belongs to team backend")
    refused(go, lambda: as_("mike").ack_trigger("lead-call@user-service"), "mike (team lead")
    as_("lisa").ack_trigger("lead-call@user-service")
    trigger = read_snapshot(go).trigger("lead-call@user-service")
    assert trigger is not None and trigger.state == "resolved" and trigger.acked_by == "lisa"
    refused(go, lambda: as_("lisa").ack_trigger("lead-call@user-service"), "not firing")


def test_ack_of_unknown_trigger(go: Store, as_: As) -> None:
    refused(
        go, lambda: as_("lisa").ack_trigger("nope@user-service"), "no trigger 'nope@user-service'"
    )
    refused(go, lambda: as_("lisa").ack_trigger("error-rate"), "no trigger")


def test_rule_triggers_are_created_inactive_for_every_service(loaded: Store) -> None:
    triggers = read_snapshot(loaded).triggers
    assert len(triggers) == 4 * 6
    assert {t.state for t in triggers} == {"inactive"}
    assert {t.rule for t in triggers} == {"error-rate", "latency", "down", "error-rate-trial"}
    assert {t.rule for t in triggers if t.dry_run} == {"error-rate-trial"}


# ---------------------------------------------------------------- messages


def test_messages_are_normalised_and_bounded(loaded: Store, as_: As) -> None:
    as_("mike").post_message("  backend   is\nready ")
    assert read_snapshot(loaded).log[-1].text == "backend is ready"
    refused(loaded, lambda: as_("mike").post_message("   "), "the message is empty")
    refused(loaded, lambda: as_("mike").post_message("x" * 2001), "keep it under 2000")


# ---------------------------------------------------------------- the whole day


def test_a_whole_release_day_is_logged_and_audited(go: Store, as_: As, clock: FixedClock) -> None:
    owners = {"infra": "raj", "backend": "lisa", "mobile": "omar", "frontend": "kim"}
    for name in read_snapshot(go).deploy_order:
        clock.advance(timedelta(minutes=5))
        view = read_snapshot(go).service(name)
        assert view is not None
        finish(as_, owners[view.team], name)
    snapshot = read_snapshot(go)
    assert all(s.state is DeployState.DONE for s in snapshot.services)
    assert snapshot.log[-1].text == "✓ All 6 services in scope are deployed"
    from warroom.store import audit

    with go.read() as session:
        report = audit.verify(session, go.audit_keys)
    assert report.ok
    # load + 29 item checks + decision + one event per step (25 steps)
    steps = sum(len(s.steps) for s in snapshot.services)
    assert report.events == 1 + 29 + 1 + steps
    assert table_counts(go)["audit_event"] == report.events


def test_only_a_release_manager_of_the_plan_may_load_it(
    store: Store, sample_plan: object, sample_text: str, clock: FixedClock
) -> None:
    from warroom.commands.load import load_plan
    from warroom.domain.plan import Plan

    assert isinstance(sample_plan, Plan)
    for who in ("root", "mike"):
        with pytest.raises(CommandError, match="use --as sarah"):
            load_plan(store, sample_plan, sample_text, loaded_by=who, clock=clock)
    assert table_counts(store)["release"] == 0
    assert load_plan(store, sample_plan, sample_text, loaded_by="sarah", clock=clock).created
