"""Deploy lifecycle: the states a service moves through and the gates between them.

    waiting ─▶ deploying ─▶ verifying ─▶ done
                  │             │          │
                  └─────────────┴──────────┴─▶ failed
    deploying / verifying / done / failed ─▶ rolling back ─▶ rolled back

Runbook steps drive the happy path: completing the first step moves a
waiting service to deploying, any later step but the last to verifying, and
the last step to done. Each function here returns the refusal sentence, or
None when the move is allowed; nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class DeployState(StrEnum):
    WAITING = "waiting"
    DEPLOYING = "deploying"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def in_flight(self) -> bool:
        return self in {DeployState.DEPLOYING, DeployState.VERIFYING}

    @property
    def needs_rollback(self) -> bool:
        """Something of the new version is (or may be) out there to undo."""
        return self in {
            DeployState.DEPLOYING,
            DeployState.VERIFYING,
            DeployState.DONE,
            DeployState.FAILED,
        }

    @property
    def settled(self) -> bool:
        """Nothing more will happen to it in this release."""
        return self in {DeployState.DONE, DeployState.ROLLED_BACK}


_SYMBOLS = {
    DeployState.WAITING: "○",
    DeployState.DEPLOYING: "▶",
    DeployState.VERIFYING: "◐",
    DeployState.DONE: "✓",
    DeployState.FAILED: "✗",
    DeployState.ROLLING_BACK: "↺",
    DeployState.ROLLED_BACK: "↩",
}


class DecisionKind(StrEnum):
    GO = "GO"
    NO_GO = "NO-GO"
    PARTIAL = "PARTIAL"

    @classmethod
    def parse(cls, text: str) -> DecisionKind:
        key = text.strip().upper().replace("_", "-")
        if key == "NOGO":
            key = "NO-GO"
        for kind in cls:
            if kind.value == key:
                return kind
        raise ValueError(f"unknown decision {text!r}: use go, no-go or partial")


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    subset: tuple[str, ...]
    rationale: str
    by: str

    def allows(self, service: str) -> bool:
        if self.kind is DecisionKind.GO:
            return True
        if self.kind is DecisionKind.PARTIAL:
            return service in self.subset
        return False


def state_after_step(done: int, total: int) -> DeployState:
    """The state a service is in once `done` of its `total` steps are complete."""
    if total and done >= total:
        return DeployState.DONE
    if done >= 2:
        return DeployState.VERIFYING
    return DeployState.DEPLOYING


def _names(items: Sequence[str]) -> str:
    return ", ".join(items)


def start_refusal(
    service: str,
    state: DeployState,
    dependency_states: Mapping[str, DeployState],
    decision: Decision | None,
) -> str | None:
    """Why `service` may not start deploying now, or None."""
    if decision is None:
        return (
            f"{service} cannot start: no go/no-go decision is recorded yet, "
            "and nothing deploys before GO or PARTIAL"
        )
    if decision.kind is DecisionKind.NO_GO:
        return f"{service} cannot start: the release is NO-GO (decided by {decision.by})"
    if not decision.allows(service):
        return (
            f"{service} cannot start: it is outside the PARTIAL subset ({_names(decision.subset)})"
        )
    if state is not DeployState.WAITING:
        return f"{service} cannot start: it is already {state.label}"
    pending = [(dep, st) for dep, st in dependency_states.items() if st is not DeployState.DONE]
    if pending:
        detail = ", ".join(f"{dep} is {st.label}" for dep, st in pending)
        return f"{service} cannot start until its dependencies are done: {detail}"
    return None


def fail_refusal(service: str, state: DeployState) -> str | None:
    if state in {DeployState.DEPLOYING, DeployState.VERIFYING, DeployState.DONE}:
        return None
    if state is DeployState.WAITING:
        return f"{service} cannot fail: it has not started deploying"
    return f"{service} cannot be marked failed: it is already {state.label}"


def finish_refusal(service: str, state: DeployState, open_steps: Sequence[str]) -> str | None:
    if not state.in_flight:
        return f"{service} cannot be marked done: it is {state.label}, not deploying or verifying"
    if open_steps:
        return (
            f"{service} cannot be marked done: {len(open_steps)} runbook step"
            f"{'s are' if len(open_steps) != 1 else ' is'} still open ({_names(open_steps)})"
        )
    return None


def rollback_refusal(
    service: str, state: DeployState, dependent_states: Mapping[str, DeployState]
) -> str | None:
    """Rollback goes in reverse dependency order: every dependent still
    carrying the new release must be rolled back first."""
    if state is DeployState.ROLLING_BACK:
        return f"{service} is already rolling back"
    if not state.needs_rollback:
        return f"{service} has nothing to roll back: it is {state.label}"
    blocking = [
        f"{dep} ({st.label})"
        for dep, st in dependent_states.items()
        if st.needs_rollback or st is DeployState.ROLLING_BACK
    ]
    if blocking:
        return (
            f"{service} cannot roll back before what depends on it; "
            f"roll back first: {_names(blocking)}"
        )
    return None


def undo_refusal(
    service: str, state: DeployState, done: int, dependent_states: Mapping[str, DeployState]
) -> str | None:
    if done == 0:
        return f"{service} has no completed runbook step to undo"
    if state not in {DeployState.DEPLOYING, DeployState.VERIFYING, DeployState.DONE}:
        return f"{service} is {state.label}; its runbook steps can no longer be undone"
    if state is DeployState.DONE:
        started = [dep for dep, st in dependent_states.items() if st is not DeployState.WAITING]
        if started:
            return (
                f"{service} cannot be reopened: {_names(started)} already started "
                "on the strength of it being done"
            )
    return None


def team_ready(open_items: Sequence[str]) -> bool:
    return not open_items


def decision_refusal(
    kind: DecisionKind,
    subset: Sequence[str],
    rationale: str,
    *,
    services: Sequence[str],
    missing_dependencies: Mapping[str, Sequence[str]],
    open_go_no_go: Sequence[str],
    blocked_teams: Mapping[str, Sequence[str]],
    service_teams: Mapping[str, str],
    started: Sequence[str],
) -> str | None:
    """Whether a GO / NO-GO / PARTIAL may be recorded now.

    `blocked_teams` maps each team with open readiness items to those items;
    `started` lists services that have already left `waiting`.
    """
    if kind is not DecisionKind.GO and not rationale.strip():
        return f"a {kind.value} decision needs a rationale: say why, for the record"
    if kind is DecisionKind.NO_GO:
        return None
    unknown = [name for name in subset if name not in service_teams]
    if unknown:
        return f"unknown service {unknown[0]!r}; services are: {_names(services)}"
    if kind is DecisionKind.GO and subset:
        return "GO covers every service; to deploy only some, record PARTIAL with the subset"
    if kind is DecisionKind.PARTIAL:
        if not subset:
            return "a PARTIAL decision needs the services it covers"
        if missing_dependencies:
            first, deps = next(iter(missing_dependencies.items()))
            return (
                f"the PARTIAL subset is not closed under dependencies: {first} needs "
                f"{_names(deps)}; add {'them' if len(deps) > 1 else 'it'} or drop {first}"
            )
        outside = [name for name in started if name not in subset]
        if outside:
            return (
                f"the PARTIAL subset must include services that have already started: "
                f"{_names(outside)}"
            )
    if open_go_no_go:
        return (
            f"cannot decide {kind.value}: {len(open_go_no_go)} go/no-go item"
            f"{'s are' if len(open_go_no_go) != 1 else ' is'} still open "
            f"({_names(open_go_no_go)})"
        )
    scope = set(subset) if kind is DecisionKind.PARTIAL else set(service_teams)
    # Plan order (service_teams is ordered by the plan), each team once.
    teams_in_scope = list(dict.fromkeys(service_teams[n] for n in service_teams if n in scope))
    blocked = [team for team in teams_in_scope if team in blocked_teams]
    if len(blocked) == 1:
        team = blocked[0]
        return (
            f"cannot decide {kind.value}: team {team} is BLOCKED "
            f"(open: {_names(blocked_teams[team])})"
        )
    if blocked:
        open_count = sum(len(blocked_teams[team]) for team in blocked)
        return (
            f"cannot decide {kind.value}: teams {_names(blocked)} are BLOCKED "
            f"({open_count} readiness items open)"
        )
    return None
