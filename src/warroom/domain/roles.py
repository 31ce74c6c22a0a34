"""Who may do what (DESIGN.md's role table), as one pure function.

    release_manager  everything; alone decides go/no-go, checks the go/no-go
                     list, orders rollbacks, overrides the window and
                     freezes, releases holds and answers an inconclusive rule
    team_lead        own team's readiness items, own team's deploys and
                     runbook steps, a lead's call (raise a trigger), messages
    oncall           own team's deploys and runbook steps, acknowledging own
                     team's triggers, messages
    observer         reads, posts messages

The TUI asks the same function to grey out what the viewer may not do, so
what is shown disabled is exactly what the command layer would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# The name warroom's own machinery (the health poller, the SSH front door)
# acts under in the audit log and the communication log. It is never a
# person: no plan, --as, $WARROOM_USER or SSH user name can take it (the
# command layer gives the system's powers only to an in-process object, see
# commands/tx.py).
SYSTEM_NAME = "warroom"


class Role(StrEnum):
    RELEASE_MANAGER = "release_manager"
    TEAM_LEAD = "team_lead"
    ONCALL = "oncall"
    OBSERVER = "observer"

    @property
    def label(self) -> str:
        return {
            Role.RELEASE_MANAGER: "release manager",
            Role.TEAM_LEAD: "team lead",
            Role.ONCALL: "on-call",
            Role.OBSERVER: "observer",
        }[self]


class Action(StrEnum):
    CHECK_ITEM = "check_item"
    DECIDE = "decide"
    START_DEPLOY = "start_deploy"
    FINISH_DEPLOY = "finish_deploy"
    FAIL_DEPLOY = "fail_deploy"
    COMPLETE_STEP = "complete_step"
    UNDO_STEP = "undo_step"
    START_ROLLBACK = "start_rollback"
    FINISH_ROLLBACK = "finish_rollback"
    POST_MESSAGE = "post_message"
    ACK_TRIGGER = "ack_trigger"
    RAISE_TRIGGER = "raise_trigger"
    OVERRIDE = "override"
    RELEASE_HOLD = "release_hold"
    ANSWER_TRIGGER = "answer_trigger"  # roll back or carry on when a rule is inconclusive

    def phrase(self, subject: str | None = None) -> str:
        unnamed = _UNNAMED.get(self, "this service")
        return _PHRASES[self].format(subject=subject or unnamed)


# What each action does to what, for refusal sentences ({subject} names the thing).
_PHRASES: dict[Action, str] = {
    Action.CHECK_ITEM: "check or uncheck {subject}",
    Action.DECIDE: "record the go/no-go decision",
    Action.START_DEPLOY: "start deploying {subject}",
    Action.FINISH_DEPLOY: "mark {subject} done",
    Action.FAIL_DEPLOY: "mark {subject} failed",
    Action.COMPLETE_STEP: "complete runbook steps of {subject}",
    Action.UNDO_STEP: "reopen runbook steps of {subject}",
    Action.START_ROLLBACK: "order a rollback of {subject}",
    Action.FINISH_ROLLBACK: "mark the rollback of {subject} finished",
    Action.POST_MESSAGE: "post messages",
    Action.ACK_TRIGGER: "acknowledge {subject}",
    Action.RAISE_TRIGGER: "raise a rollback trigger on {subject}",
    Action.OVERRIDE: "override {subject}",
    Action.RELEASE_HOLD: "release the hold on {subject}",
    Action.ANSWER_TRIGGER: "decide on {subject}",
}
# The subject when the caller names none; most actions act on a service.
_UNNAMED = {
    Action.CHECK_ITEM: "this item",
    Action.ACK_TRIGGER: "this trigger",
    Action.OVERRIDE: "the deploy window or a freeze",
    Action.ANSWER_TRIGGER: "this trigger",
}

# Running their own team's deploys: what team leads and on-call engineers share.
_DEPLOYING = frozenset(
    {
        Action.START_DEPLOY,
        Action.FINISH_DEPLOY,
        Action.FAIL_DEPLOY,
        Action.COMPLETE_STEP,
        Action.UNDO_STEP,
        Action.FINISH_ROLLBACK,
    }
)

# Actions a role may take on things belonging to its own team.
_OWN_TEAM: dict[Role, frozenset[Action]] = {
    Role.TEAM_LEAD: _DEPLOYING | {Action.CHECK_ITEM, Action.RAISE_TRIGGER},
    Role.ONCALL: _DEPLOYING | {Action.ACK_TRIGGER},
    Role.OBSERVER: frozenset(),
}


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role
    team: str | None

    def describe(self) -> str:
        team = f", {self.team}" if self.team else ""
        return f"{self.name} ({self.role.label}{team})"


def refusal(
    actor: Actor, action: Action, team: str | None = None, subject: str | None = None
) -> str | None:
    """Why `actor` may not take `action` on `subject` (owned by `team`), or None.

    `team` None means a release-wide thing such as a go/no-go item: only the
    release manager acts on those. `subject` only shapes the sentence.
    """
    if actor.role is Role.RELEASE_MANAGER or action is Action.POST_MESSAGE:
        return None
    allowed = _OWN_TEAM[actor.role]
    what = action.phrase(subject)
    only_manager = f"{actor.describe()} may not {what}: only the release manager can"
    if team is None:
        return only_manager
    if action in allowed and team == actor.team:
        return None
    if action in allowed:
        owner = subject or "it"
        return f"{actor.describe()} may not {what}: {owner} belongs to team {team}"
    holders = _holders(action)
    if holders:
        return (
            f"{actor.describe()} may not {what}: that is for the release manager "
            f"or team {team}'s {' or '.join(holders)}"
        )
    return only_manager


def _holders(action: Action) -> list[str]:
    """The roles, besides the release manager, that may take `action` on their own team's things."""
    return [role.label for role, acts in _OWN_TEAM.items() if action in acts]


def who_may(action: Action) -> str:
    """Who may take `action`, in words, for help texts: the same rule as `refusal`."""
    if action is Action.POST_MESSAGE:
        return "everyone in the plan"
    holders = _holders(action)
    if not holders:
        return "the release manager only"
    return f"the release manager, or the owning team's {' or '.join(holders)}"


def load_refusal(who: str, release: str, manager: str, people: Iterable[Actor]) -> str | None:
    """Why `who` may not load the plan of `release` (listing `people`), or None.

    A plan is loaded by one of its own release managers — the people it
    names, not those of whatever is loaded already — and never under the
    system's name, even by a plan that lists it as a person.
    """
    people = list(people)
    loader = next((p for p in people if p.name == who != SYSTEM_NAME), None)
    if loader is not None and loader.role is Role.RELEASE_MANAGER:
        return None
    managers = [p.name for p in people if p.role is Role.RELEASE_MANAGER and p.name != SYSTEM_NAME]
    return (
        f"{who!r} may not load release {release}: a plan is loaded by one of its "
        f"release managers ({', '.join(managers)}); use --as {manager}"
    )
