"""Who may do what: the full Role x Action x (own team / other team / release-wide) matrix."""

from __future__ import annotations

import pytest

from warroom.domain.roles import Action, Actor, Role, refusal

A = Action

ACTORS = {
    Role.RELEASE_MANAGER: Actor("sarah", Role.RELEASE_MANAGER, "ops"),
    Role.TEAM_LEAD: Actor("mike", Role.TEAM_LEAD, "backend"),
    Role.ONCALL: Actor("lisa", Role.ONCALL, "backend"),
    Role.OBSERVER: Actor("pat", Role.OBSERVER, "support"),
}

# Written out by hand from the role table (roles.py docstring), not derived from _OWN_TEAM.
OWN_TEAM_ALLOWED: dict[Role, set[Action]] = {
    Role.RELEASE_MANAGER: set(Action),
    Role.TEAM_LEAD: {
        A.CHECK_ITEM,
        A.START_DEPLOY,
        A.FINISH_DEPLOY,
        A.FAIL_DEPLOY,
        A.COMPLETE_STEP,
        A.UNDO_STEP,
        A.FINISH_ROLLBACK,
        A.RAISE_TRIGGER,
        A.POST_MESSAGE,
    },
    Role.ONCALL: {
        A.START_DEPLOY,
        A.FINISH_DEPLOY,
        A.FAIL_DEPLOY,
        A.COMPLETE_STEP,
        A.UNDO_STEP,
        A.FINISH_ROLLBACK,
        A.ACK_TRIGGER,
        A.POST_MESSAGE,
    },
    Role.OBSERVER: {A.POST_MESSAGE},
}

# On another team's things, or release-wide things, only the manager acts
# (and anyone may post a message).
ELSEWHERE_ALLOWED: dict[Role, set[Action]] = {
    Role.RELEASE_MANAGER: set(Action),
    Role.TEAM_LEAD: {A.POST_MESSAGE},
    Role.ONCALL: {A.POST_MESSAGE},
    Role.OBSERVER: {A.POST_MESSAGE},
}

SCOPES = ["own", "other", "release-wide"]


def _team_for(actor: Actor, scope: str) -> str | None:
    return {"own": actor.team, "other": "frontend", "release-wide": None}[scope]


MATRIX = [
    pytest.param(role, action, scope, id=f"{role.value}-{action.value}-{scope}")
    for role in Role
    for action in Action
    for scope in SCOPES
]


@pytest.mark.parametrize(("role", "action", "scope"), MATRIX)
def test_role_matrix(role: Role, action: Action, scope: str) -> None:
    actor = ACTORS[role]
    team = _team_for(actor, scope)
    allowed = OWN_TEAM_ALLOWED[role] if scope == "own" else ELSEWHERE_ALLOWED[role]
    reason = refusal(actor, action, team=team, subject="the thing")
    if action in allowed:
        assert reason is None
    else:
        assert reason is not None
        # A sentence naming the person and their role.
        assert reason.startswith(f"{actor.name} ({role.label}")
        assert " may not " in reason


def test_release_manager_may_do_everything_anywhere() -> None:
    sarah = ACTORS[Role.RELEASE_MANAGER]
    for action in Action:
        for team in (None, "ops", "backend", "nobody"):
            assert refusal(sarah, action, team=team) is None


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("team", [None, "backend", "frontend"])
def test_everyone_may_post_messages(role: Role, team: str | None) -> None:
    assert refusal(ACTORS[role], A.POST_MESSAGE, team=team) is None


def test_observer_may_do_nothing_else() -> None:
    pat = ACTORS[Role.OBSERVER]
    for action in Action:
        if action is A.POST_MESSAGE:
            continue
        for team in (None, "support", "backend"):
            reason = refusal(pat, action, team=team)
            assert reason is not None
            assert reason.startswith("pat (observer, support) may not ")


def test_team_lead_checks_own_readiness_items_only() -> None:
    mike = ACTORS[Role.TEAM_LEAD]
    assert refusal(mike, A.CHECK_ITEM, team="backend", subject="R1") is None
    assert refusal(mike, A.CHECK_ITEM, team=None, subject="G1") == (
        "mike (team lead, backend) may not check or uncheck G1: only the release manager can"
    )
    assert refusal(mike, A.CHECK_ITEM, team="frontend", subject="R7") == (
        "mike (team lead, backend) may not check or uncheck R7: R7 belongs to team frontend"
    )


def test_oncall_completes_steps_and_acks_triggers_of_own_team() -> None:
    lisa = ACTORS[Role.ONCALL]
    assert refusal(lisa, A.COMPLETE_STEP, team="backend", subject="auth-service") is None
    assert refusal(lisa, A.ACK_TRIGGER, team="backend", subject="error-rate") is None
    assert refusal(lisa, A.COMPLETE_STEP, team="mobile", subject="mobile-backend") == (
        "lisa (on-call, backend) may not complete runbook steps of mobile-backend: "
        "mobile-backend belongs to team mobile"
    )


def test_oncall_may_not_check_items_decide_or_order_rollbacks() -> None:
    lisa = ACTORS[Role.ONCALL]
    assert refusal(lisa, A.CHECK_ITEM, team="backend", subject="R1") == (
        "lisa (on-call, backend) may not check or uncheck R1: "
        "that is for the release manager or team backend's team lead"
    )
    assert refusal(lisa, A.DECIDE) == (
        "lisa (on-call, backend) may not record the go/no-go decision: only the release manager can"
    )
    assert refusal(lisa, A.START_ROLLBACK, team="backend", subject="auth-service") == (
        "lisa (on-call, backend) may not order a rollback of auth-service: only the release manager can"
    )


def test_go_no_go_items_are_for_the_release_manager_alone() -> None:
    # Go/no-go items belong to no team: no lead or on-call of any team may check them.
    for role in (Role.ONCALL, Role.TEAM_LEAD, Role.OBSERVER):
        actor = ACTORS[role]
        assert refusal(actor, A.CHECK_ITEM, team=None, subject="gng-1") == (
            f"{actor.describe()} may not check or uncheck gng-1: only the release manager can"
        )


def test_readiness_refusals_name_the_team_whose_lead_may() -> None:
    pat = ACTORS[Role.OBSERVER]
    assert refusal(pat, A.CHECK_ITEM, team="frontend", subject="frontend-2") == (
        "pat (observer, support) may not check or uncheck frontend-2: "
        "that is for the release manager or team frontend's team lead"
    )


def test_team_lead_may_not_ack_but_may_raise_triggers() -> None:
    mike = ACTORS[Role.TEAM_LEAD]
    assert refusal(mike, A.RAISE_TRIGGER, team="backend") is None
    reason = refusal(mike, A.ACK_TRIGGER, team="backend", subject="latency")
    assert reason == (
        "mike (team lead, backend) may not acknowledge latency: "
        "that is for the release manager or team backend's on-call"
    )


def test_refusal_without_subject_uses_a_default_phrase() -> None:
    reason = refusal(ACTORS[Role.ONCALL], A.START_DEPLOY, team="frontend")
    assert (
        reason
        == "lisa (on-call, backend) may not start deploying this service: it belongs to team frontend"
    )


def test_actor_without_team_is_described_without_one() -> None:
    ghost = Actor("ghost", Role.OBSERVER, None)
    assert ghost.describe() == "ghost (observer)"
    reason = refusal(ghost, A.DECIDE)
    assert reason is not None and reason.startswith("ghost (observer) may not ")
