"""Deploy lifecycle gates: each returns a refusal sentence, or None when allowed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from warroom.domain import graph as g
from warroom.domain import lifecycle as lc
from warroom.domain.lifecycle import Decision, DecisionKind, DeployState
from warroom.domain.plan import Plan

S = DeployState
GO = Decision(DecisionKind.GO, (), "all ready", "sarah")
NO_GO = Decision(DecisionKind.NO_GO, (), "db not ready", "sarah")
PARTIAL = Decision(DecisionKind.PARTIAL, ("api-gateway", "logging-service"), "infra only", "sarah")


# ---------------------------------------------------------------- states


@pytest.mark.parametrize(
    ("done", "total", "expected"),
    [
        (1, 4, S.DEPLOYING),
        (2, 4, S.VERIFYING),
        (3, 4, S.VERIFYING),
        (4, 4, S.DONE),
        (5, 4, S.DONE),
        (1, 2, S.DEPLOYING),
        (2, 2, S.DONE),
        (1, 1, S.DONE),
        (2, 3, S.VERIFYING),
    ],
)
def test_state_after_step(done: int, total: int, expected: DeployState) -> None:
    assert lc.state_after_step(done, total) is expected


def test_state_properties() -> None:
    assert {s for s in S if s.in_flight} == {S.DEPLOYING, S.VERIFYING}
    assert {s for s in S if s.needs_rollback} == {S.DEPLOYING, S.VERIFYING, S.DONE, S.FAILED}
    assert {s for s in S if s.settled} == {S.DONE, S.ROLLED_BACK}
    assert S.ROLLING_BACK.label == "rolling back"


# ---------------------------------------------------------------- start


def test_start_refused_without_a_decision() -> None:
    reason = lc.start_refusal("api-gateway", S.WAITING, {}, None)
    assert reason is not None
    assert reason.startswith("api-gateway cannot start")
    assert "no go/no-go decision is recorded yet" in reason


def test_start_refused_after_no_go() -> None:
    reason = lc.start_refusal("api-gateway", S.WAITING, {}, NO_GO)
    assert reason == "api-gateway cannot start: the release is NO-GO (decided by sarah)"


def test_start_refused_outside_partial_subset() -> None:
    reason = lc.start_refusal("auth-service", S.WAITING, {"api-gateway": S.DONE}, PARTIAL)
    assert reason == (
        "auth-service cannot start: it is outside the PARTIAL subset (api-gateway, logging-service)"
    )


@pytest.mark.parametrize("state", [s for s in S if s is not S.WAITING])
def test_start_refused_when_not_waiting(state: DeployState) -> None:
    reason = lc.start_refusal("api-gateway", state, {}, GO)
    assert reason == f"api-gateway cannot start: it is already {state.label}"


def test_start_refused_until_dependencies_are_done() -> None:
    deps = {"api-gateway": S.DONE, "auth-service": S.VERIFYING, "logging-service": S.FAILED}
    reason = lc.start_refusal("user-service", S.WAITING, deps, GO)
    assert reason == (
        "user-service cannot start until its dependencies are done: "
        "auth-service is verifying, logging-service is failed"
    )


def test_start_allowed() -> None:
    assert lc.start_refusal("api-gateway", S.WAITING, {}, GO) is None
    assert lc.start_refusal("logging-service", S.WAITING, {"api-gateway": S.DONE}, PARTIAL) is None
    assert lc.start_refusal("auth-service", S.WAITING, {"api-gateway": S.DONE}, GO) is None


def test_decision_allows() -> None:
    assert GO.allows("anything")
    assert not NO_GO.allows("api-gateway")
    assert PARTIAL.allows("api-gateway")
    assert not PARTIAL.allows("auth-service")


# ---------------------------------------------------------------- fail / finish


@pytest.mark.parametrize("state", [S.DEPLOYING, S.VERIFYING, S.DONE])
def test_fail_allowed_once_started(state: DeployState) -> None:
    assert lc.fail_refusal("svc", state) is None


def test_fail_refused_before_start() -> None:
    assert lc.fail_refusal("svc", S.WAITING) == "svc cannot fail: it has not started deploying"


@pytest.mark.parametrize("state", [S.FAILED, S.ROLLING_BACK, S.ROLLED_BACK])
def test_fail_refused_when_already_past(state: DeployState) -> None:
    assert (
        lc.fail_refusal("svc", state) == f"svc cannot be marked failed: it is already {state.label}"
    )


@pytest.mark.parametrize("state", [S.DEPLOYING, S.VERIFYING])
def test_finish_allowed_in_flight_with_no_open_steps(state: DeployState) -> None:
    assert lc.finish_refusal("svc", state, []) is None


@pytest.mark.parametrize("state", [S.WAITING, S.DONE, S.FAILED, S.ROLLING_BACK, S.ROLLED_BACK])
def test_finish_refused_when_not_in_flight(state: DeployState) -> None:
    reason = lc.finish_refusal("svc", state, [])
    assert reason == f"svc cannot be marked done: it is {state.label}, not deploying or verifying"


def test_finish_refused_with_open_steps() -> None:
    assert lc.finish_refusal("svc", S.VERIFYING, ["Verify"]) == (
        "svc cannot be marked done: 1 runbook step is still open (Verify)"
    )
    assert lc.finish_refusal("svc", S.DEPLOYING, ["Smoke", "Verify"]) == (
        "svc cannot be marked done: 2 runbook steps are still open (Smoke, Verify)"
    )


# ---------------------------------------------------------------- rollback / undo


@pytest.mark.parametrize("state", [S.DEPLOYING, S.VERIFYING, S.DONE, S.FAILED])
def test_rollback_allowed_with_no_dependents(state: DeployState) -> None:
    assert lc.rollback_refusal("svc", state, {}) is None


def test_rollback_refused_while_rolling_back() -> None:
    assert lc.rollback_refusal("svc", S.ROLLING_BACK, {}) == "svc is already rolling back"


@pytest.mark.parametrize("state", [S.WAITING, S.ROLLED_BACK])
def test_rollback_refused_with_nothing_to_undo(state: DeployState) -> None:
    assert (
        lc.rollback_refusal("svc", state, {})
        == f"svc has nothing to roll back: it is {state.label}"
    )


def test_rollback_blocked_by_dependents_still_deployed() -> None:
    dependents = {
        "user-service": S.DONE,
        "web-frontend": S.WAITING,
        "mobile-backend": S.ROLLING_BACK,
        "other": S.ROLLED_BACK,
    }
    reason = lc.rollback_refusal("auth-service", S.DONE, dependents)
    assert reason == (
        "auth-service cannot roll back before what depends on it; "
        "roll back first: user-service (done), mobile-backend (rolling back)"
    )


@pytest.mark.parametrize("state", [S.DEPLOYING, S.VERIFYING, S.FAILED])
def test_rollback_blocked_by_any_dependent_that_needs_rollback(state: DeployState) -> None:
    reason = lc.rollback_refusal("a", S.DONE, {"b": state})
    assert reason is not None and f"b ({state.label})" in reason


def test_rollback_not_blocked_by_rolled_back_or_waiting_dependents() -> None:
    dependents = {"user-service": S.ROLLED_BACK, "web-frontend": S.WAITING}
    assert lc.rollback_refusal("auth-service", S.DONE, dependents) is None


def test_undo_refused_with_no_completed_step() -> None:
    assert lc.undo_refusal("svc", S.DEPLOYING, 0, {}) == "svc has no completed runbook step to undo"


@pytest.mark.parametrize("state", [S.WAITING, S.FAILED, S.ROLLING_BACK, S.ROLLED_BACK])
def test_undo_refused_once_out_of_the_happy_path(state: DeployState) -> None:
    assert lc.undo_refusal("svc", state, 2, {}) == (
        f"svc is {state.label}; its runbook steps can no longer be undone"
    )


@pytest.mark.parametrize("state", [S.DEPLOYING, S.VERIFYING])
def test_undo_allowed_in_flight_even_with_started_dependents(state: DeployState) -> None:
    assert lc.undo_refusal("svc", state, 1, {"dep": S.DEPLOYING}) is None


def test_undo_of_done_allowed_while_dependents_wait() -> None:
    assert lc.undo_refusal("svc", S.DONE, 4, {"a": S.WAITING, "b": S.WAITING}) is None


def test_undo_of_done_refused_once_a_dependent_started() -> None:
    reason = lc.undo_refusal("svc", S.DONE, 4, {"a": S.WAITING, "b": S.DEPLOYING, "c": S.FAILED})
    assert reason == "svc cannot be reopened: b, c already started on the strength of it being done"


# ---------------------------------------------------------------- decisions


def _decide(
    plan: Plan,
    kind: DecisionKind,
    subset: Sequence[str] = (),
    rationale: str = "because",
    *,
    open_go_no_go: Sequence[str] = (),
    blocked_teams: Mapping[str, Sequence[str]] | None = None,
    started: Sequence[str] = (),
) -> str | None:
    graph = plan.graph()
    return lc.decision_refusal(
        kind,
        list(subset),
        rationale,
        services=[s.name for s in plan.services],
        missing_dependencies=g.missing_dependencies(graph, [n for n in subset if n in graph]),
        open_go_no_go=list(open_go_no_go),
        blocked_teams=dict(blocked_teams or {}),
        service_teams={s.name: s.team for s in plan.services},
        started=list(started),
    )


def test_go_allowed_when_everything_is_ready(sample_plan: Plan) -> None:
    assert _decide(sample_plan, DecisionKind.GO) is None


def test_go_needs_no_rationale(sample_plan: Plan) -> None:
    assert _decide(sample_plan, DecisionKind.GO, rationale="") is None


def test_go_refused_with_open_go_no_go_items(sample_plan: Plan) -> None:
    reason = _decide(
        sample_plan, DecisionKind.GO, open_go_no_go=["G1 Dashboards open", "G2 Support told"]
    )
    assert reason == (
        "cannot decide GO: 2 go/no-go items are still open (G1 Dashboards open, G2 Support told)"
    )
    one = _decide(sample_plan, DecisionKind.GO, open_go_no_go=["G1 Dashboards open"])
    assert one == "cannot decide GO: 1 go/no-go item is still open (G1 Dashboards open)"


def test_go_refused_with_a_blocked_team(sample_plan: Plan) -> None:
    reason = _decide(sample_plan, DecisionKind.GO, blocked_teams={"mobile": ["R3", "R4"]})
    assert reason == "cannot decide GO: team mobile is BLOCKED (open: R3, R4)"


def test_go_refused_with_a_subset(sample_plan: Plan) -> None:
    reason = _decide(sample_plan, DecisionKind.GO, ["api-gateway"])
    assert reason is not None
    assert "GO covers every service" in reason and "PARTIAL" in reason


@pytest.mark.parametrize("kind", [DecisionKind.NO_GO, DecisionKind.PARTIAL])
@pytest.mark.parametrize("rationale", ["", "   "])
def test_no_go_and_partial_need_a_rationale(
    sample_plan: Plan, kind: DecisionKind, rationale: str
) -> None:
    reason = _decide(sample_plan, kind, ["api-gateway"], rationale=rationale)
    assert reason == f"a {kind.value} decision needs a rationale: say why, for the record"


def test_no_go_with_rationale_allowed_even_when_blocked(sample_plan: Plan) -> None:
    reason = _decide(
        sample_plan,
        DecisionKind.NO_GO,
        rationale="backend not ready",
        open_go_no_go=["G1"],
        blocked_teams={"backend": ["R1"]},
    )
    assert reason is None


def test_partial_needs_a_subset(sample_plan: Plan) -> None:
    assert (
        _decide(sample_plan, DecisionKind.PARTIAL, [])
        == "a PARTIAL decision needs the services it covers"
    )


def test_partial_with_unknown_service(sample_plan: Plan) -> None:
    reason = _decide(sample_plan, DecisionKind.PARTIAL, ["api-gateway", "billing"])
    assert reason is not None
    assert reason.startswith("unknown service 'billing'")
    assert "api-gateway, auth-service, logging-service" in reason


def test_partial_not_closed_under_dependencies(sample_plan: Plan) -> None:
    reason = _decide(sample_plan, DecisionKind.PARTIAL, ["api-gateway", "user-service"])
    assert reason == (
        "the PARTIAL subset is not closed under dependencies: user-service needs "
        "auth-service; add it or drop user-service"
    )
    several = _decide(sample_plan, DecisionKind.PARTIAL, ["user-service"])
    assert several == (
        "the PARTIAL subset is not closed under dependencies: user-service needs "
        "api-gateway, auth-service; add them or drop user-service"
    )


def test_partial_must_include_started_services(sample_plan: Plan) -> None:
    reason = _decide(
        sample_plan,
        DecisionKind.PARTIAL,
        ["api-gateway"],
        started=["api-gateway", "logging-service"],
    )
    assert reason == (
        "the PARTIAL subset must include services that have already started: logging-service"
    )


def test_partial_allowed_when_its_teams_are_ready_even_if_another_is_blocked(
    sample_plan: Plan,
) -> None:
    subset = ["api-gateway", "logging-service"]  # both infra
    assert (
        _decide(sample_plan, DecisionKind.PARTIAL, subset, blocked_teams={"mobile": ["R1"]}) is None
    )


def test_partial_refused_when_one_of_its_teams_is_blocked(sample_plan: Plan) -> None:
    subset = ["api-gateway", "auth-service"]  # infra + backend
    reason = _decide(sample_plan, DecisionKind.PARTIAL, subset, blocked_teams={"backend": ["R2"]})
    assert reason == "cannot decide PARTIAL: team backend is BLOCKED (open: R2)"


def test_partial_refused_with_open_go_no_go_items(sample_plan: Plan) -> None:
    reason = _decide(sample_plan, DecisionKind.PARTIAL, ["api-gateway"], open_go_no_go=["G8"])
    assert reason == "cannot decide PARTIAL: 1 go/no-go item is still open (G8)"


# ---------------------------------------------------------------- DecisionKind.parse


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("go", DecisionKind.GO),
        ("GO", DecisionKind.GO),
        (" Go ", DecisionKind.GO),
        ("no-go", DecisionKind.NO_GO),
        ("NO-GO", DecisionKind.NO_GO),
        ("nogo", DecisionKind.NO_GO),
        ("no_go", DecisionKind.NO_GO),
        ("partial", DecisionKind.PARTIAL),
        ("Partial", DecisionKind.PARTIAL),
    ],
)
def test_decision_kind_parse_accepts(text: str, kind: DecisionKind) -> None:
    assert DecisionKind.parse(text) is kind


@pytest.mark.parametrize("text", ["", "yes", "no", "go!", "part", "no go", "rollback"])
def test_decision_kind_parse_refuses_others(text: str) -> None:
    with pytest.raises(ValueError) as info:
        DecisionKind.parse(text)
    assert str(info.value) == f"unknown decision {text!r}: use go, no-go or partial"
