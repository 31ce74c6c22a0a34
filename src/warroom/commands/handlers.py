"""One handler per command: what each command does, checked and written in its `Tx`.

A handler checks the actor's role and the lifecycle rules, changes rows,
writes a system line in the communication log where a human would want
one, notes the facts its audit event should carry (`tx.note`), and returns
a short sentence saying what happened. It refuses with CommandError (one
sentence; nothing is written). It never opens a transaction, never writes
the command's audit event and never spells out SQL: `execute` does the
first two, `tx.repo` the last.

Register a handler with `@handles(CommandType)`; a test can register one
for a toy command for the length of a `with registered(...)` block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar, cast

from warroom.commands import defs as d
from warroom.commands.tx import CommandError, Tx
from warroom.domain import gates
from warroom.domain import lifecycle as lc
from warroom.domain import triggers as tr
from warroom.domain.durations import format_duration
from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.roles import Action
from warroom.domain.timeline import when
from warroom.domain.triggers import LEAD_CALL, Answer, Phase
from warroom.store import models as m

R = TypeVar("R")
C = TypeVar("C", bound=d.Command[Any])
Handler = Callable[[Tx, C], R]

_HANDLERS: dict[type[d.Command[Any]], Callable[[Tx, Any], Any]] = {}


def handles(kind: type[C]) -> Callable[[Handler[C, R]], Handler[C, R]]:
    """Make the decorated function the handler of `kind`; a second one is an error."""

    def register(handler: Handler[C, R]) -> Handler[C, R]:
        if kind in _HANDLERS:
            raise TypeError(f"{kind.__name__} already has a handler: {_HANDLERS[kind].__name__}")
        _HANDLERS[kind] = handler
        return handler

    return register


@contextmanager
def registered(kind: type[C], handler: Handler[C, Any]) -> Iterator[None]:
    """`handler` handles `kind` inside the block, and nothing does after it (for tests)."""
    handles(kind)(handler)
    try:
        yield
    finally:
        del _HANDLERS[kind]


def handler_for(command: d.Command[R]) -> Callable[[Tx, d.Command[R]], R]:
    """The handler of `command`'s type; TypeError if it has none (a bug, not a refusal)."""
    try:
        return cast(Callable[[Tx, d.Command[R]], R], _HANDLERS[type(command)])
    except KeyError:
        raise TypeError(f"no handler for {type(command).__name__}") from None


def registry() -> Mapping[type[d.Command[Any]], Callable[[Tx, Any], Any]]:
    """Every command type with a handler, and its handler (a read-only view)."""
    return MappingProxyType(_HANDLERS)


# ---------------------------------------------------------------- helpers


def _hm(moment: datetime | None, zone: str) -> str:
    """A time in a sentence, on the plan's clock and saying which (`15:05:00 CET`)."""
    return "?" if moment is None else when(moment, zone, "%H:%M:%S")


def _set_state(tx: Tx, service: m.Service, state: DeployState) -> None:
    service.state = state
    service.state_since = tx.now
    service.state_by = tx.actor.name
    if state is DeployState.DEPLOYING:
        service.deploy_started_at = tx.now
    tx.touch(service)


def _start(tx: Tx, service: m.Service) -> None:
    """`service` starts deploying, once every gate lets it: the lifecycle's
    (decision, state, dependencies), its hold, the window and the freezes."""
    deps = {row.name: row.state for row in tx.repo.dependencies(service)}
    reason = lc.start_refusal(service.name, service.state, deps, tx.repo.decision())
    if reason:
        raise CommandError(reason)
    hold = _holds(tx).get(service.name)
    if hold is not None:
        raise CommandError(hold.refusal())
    release, zone = tx.release, tx.release.timezone
    overrides = tx.repo.overrides()
    window = gates.Period(release.window_start, release.window_end)
    reason = gates.window_refusal(
        service.name, tx.now, window, zone, overrides
    ) or gates.freeze_refusal(service.name, tx.now, tx.repo.freezes(), zone, overrides)
    if reason:
        raise CommandError(reason)
    _set_state(tx, service, DeployState.DEPLOYING)
    previous = f" (from {service.previous_version})" if service.previous_version else ""
    tx.system_line(f"▶ {service.name} {service.version} deploy started{previous}", service.name)


def _announce_done(tx: Tx, service: m.Service) -> None:
    tx.system_line(f"✓ {service.name} {service.version} is done", service.name)
    decision = tx.repo.decision()
    scope = [s for s in tx.repo.services() if decision is None or decision.allows(s.name)]
    if scope and all(s.state is DeployState.DONE for s in scope):
        tx.system_line(f"✓ All {len(scope)} services in scope are deployed")


def _dependents(tx: Tx, service: m.Service) -> dict[str, DeployState]:
    """Everything that depends on `service`, directly or not, with its state, in plan order."""
    from warroom.domain import graph as g

    graph, by_name = tx.graph()
    return {
        name: by_name[name].state
        for name in sorted(g.blast_radius(graph, service.name), key=lambda n: by_name[n].position)
    }


def _holds(tx: Tx) -> dict[str, gates.Hold]:
    """Which services are held now, and by what (the same rule the room shows)."""
    rows = tx.repo.services()
    states = {row.name: row.state for row in rows}
    found = gates.causes(
        states, {row.name: row.state_since for row in rows}, tx.repo.holding_triggers()
    )
    if not found:
        return {}  # the usual case, without building the graph
    graph, _ = tx.graph()
    return gates.holds(graph, states, found, tx.repo.hold_releases())


def _service(tx: Tx, command: d.ServiceCommand, action: Action) -> m.Service:
    """The service `command` acts on, once the actor may and nobody moved it meanwhile."""
    service = tx.service(command.service)
    tx.require(action, service.team, service.name)
    tx.check_version(service.name, service.row_version, command.expect_version, service.state)
    return service


# ---------------------------------------------------------------- checklists


@handles(d.SetItems)
def set_items(tx: Tx, command: d.SetItems) -> str:
    """All of the items, or none if any is refused."""
    items = [_set_item(tx, key, command.done, command.expect_version) for key in command.keys]
    tx.note(items=[{"item": i.key, "text": i.text, "team": i.team} for i in items])
    verb = "checked" if command.done else "unchecked"
    return "\n".join(f"{verb} {i.key}: {i.text}" for i in items)


def _set_item(tx: Tx, key: str, done: bool, expect_version: int | None) -> m.ChecklistItem:
    item = tx.repo.item(key)
    if item is None:
        raise CommandError(f"unknown checklist item {key!r}; `warroom status` lists the item ids")
    tx.require(Action.CHECK_ITEM, item.team, key)
    checked = f"checked by {item.done_by} at {_hm(item.done_at, tx.release.timezone)}"
    state_now = checked if item.done_at else "unchecked"
    tx.check_version(f"{key} ({item.text})", item.row_version, expect_version, state_now)
    if done and item.done_at is not None:
        raise CommandError(f"{key} ({item.text}) is already {checked}")
    if not done and item.done_at is None:
        raise CommandError(f"{key} ({item.text}) is not checked")
    siblings = tx.repo.items(item.team)  # `item` is one of them (the same row object)
    was_open = any(i.done_at is None for i in siblings)
    item.done_at = tx.now if done else None
    item.done_by = tx.actor.name if done else None
    tx.touch(item)
    _announce_readiness(tx, item.team, was_open, [i for i in siblings if i.done_at is None])
    return item


def _announce_readiness(
    tx: Tx, team: str | None, was_open: bool, open_now: list[m.ChecklistItem]
) -> None:
    if team is None:
        if was_open and not open_now:
            tx.system_line("Go/no-go checklist complete")
        elif not was_open and open_now:
            tx.system_line(f"Go/no-go checklist reopened: {open_now[0].text}")
        return
    if was_open and not open_now:
        tx.system_line(f"Team {team} is READY")
    elif not was_open and open_now:
        tx.system_line(f"Team {team} is BLOCKED: {open_now[0].text}")


# ---------------------------------------------------------------- the decision


@handles(d.Decide)
def decide(tx: Tx, command: d.Decide) -> str:
    from warroom.domain import graph as g

    tx.require(Action.DECIDE)
    kind, rationale = command.kind, command.rationale.strip()
    graph, by_name = tx.graph()
    rows = list(by_name.values())
    names = list(by_name)
    chosen = list(dict.fromkeys(command.subset))
    open_gng = [f"{i.key} {i.text}" for i in tx.repo.items(None) if i.done_at is None]
    blocked: dict[str, list[str]] = {}
    for team in {r.team for r in rows}:
        open_items = [i.key for i in tx.repo.items(team) if i.done_at is None]
        if open_items:
            blocked[team] = open_items
    reason = lc.decision_refusal(
        kind,
        chosen,
        command.rationale,
        services=names,
        missing_dependencies=g.missing_dependencies(graph, [n for n in chosen if n in graph]),
        open_go_no_go=open_gng,
        blocked_teams=blocked,
        service_teams={r.name: r.team for r in rows},
        started=[r.name for r in rows if r.state is not DeployState.WAITING],
    )
    if reason:
        raise CommandError(reason)
    ordered = [n for n in names if n in chosen]
    tx.repo.add_decision(lc.Decision(kind, tuple(ordered), rationale, tx.actor.name), tx.now)
    tx.topics.add("decision")
    scope = f" ({', '.join(ordered)})" if kind is DecisionKind.PARTIAL else ""
    why = f" — {rationale}" if rationale else ""
    tx.system_line(f"Decision: {kind}{scope}{why}")
    tx.note(kind=kind, subset=ordered, rationale=rationale)
    return f"recorded {kind}{scope}"


# ---------------------------------------------------------------- deploys


@handles(d.StartDeploy)
def start_deploy(tx: Tx, command: d.StartDeploy) -> str:
    service = _service(tx, command, Action.START_DEPLOY)
    _start(tx, service)
    tx.note(service=service.name, version=service.version)
    return f"{service.name} is deploying"


@handles(d.FinishDeploy)
def finish_deploy(tx: Tx, command: d.FinishDeploy) -> str:
    service = _service(tx, command, Action.FINISH_DEPLOY)
    open_steps = [s.text for s in tx.repo.steps(service) if s.done_at is None]
    reason = lc.finish_refusal(service.name, service.state, open_steps)
    if reason:
        raise CommandError(reason)
    _set_state(tx, service, DeployState.DONE)
    _announce_done(tx, service)
    tx.note(service=service.name)
    return f"{service.name} is done"


@handles(d.FailDeploy)
def fail_deploy(tx: Tx, command: d.FailDeploy) -> str:
    """`reason` (what went wrong) is required: a failure with no reason in the
    log leaves the room guessing what to roll back for."""
    service = _service(tx, command, Action.FAIL_DEPLOY)
    refusal = lc.fail_refusal(service.name, service.state)
    if refusal:
        raise CommandError(refusal)
    reason = command.reason.strip()
    if not reason:
        raise CommandError(f"say what went wrong with {service.name} (the reason goes in the log)")
    _set_state(tx, service, DeployState.FAILED)
    tx.system_line(f"✗ {service.name} {service.version} FAILED: {reason}", service.name)
    tx.note(service=service.name, reason=reason)
    return f"{service.name} is marked failed"


# ---------------------------------------------------------------- runbook steps


@handles(d.CompleteStep)
def complete_step(tx: Tx, command: d.CompleteStep) -> str:
    """The on-call engineer's main action. Steps go in order; the first one
    starts a waiting service (with every start gate checked), the last one
    makes it done."""
    service = _service(tx, command, Action.COMPLETE_STEP)
    steps = tx.repo.steps(service)
    state = service.state
    if state not in {DeployState.WAITING, DeployState.DEPLOYING, DeployState.VERIFYING}:
        raise CommandError(f"{service.name} is {state.label}; its runbook is closed")
    pending = [s for s in steps if s.done_at is None]
    if not pending:
        raise CommandError(f"{service.name} has no runbook steps left")
    step = pending[0]
    if command.position is not None and command.position != step.position:
        raise CommandError(
            f"runbook steps go in order: {service.name}'s next step is "
            f"#{step.position} {step.text!r}, not #{command.position}"
        )
    if state is DeployState.WAITING:
        _start(tx, service)
    step.done_at = tx.now
    step.done_by = tx.actor.name
    tx.repo.add(step)
    done = len(steps) - len(pending) + 1
    tx.system_line(f"{service.name} step {done}/{len(steps)} done: {step.text}", service.name)
    new_state = lc.state_after_step(done, len(steps))
    if new_state is not service.state:
        _set_state(tx, service, new_state)
        if new_state is DeployState.DONE:
            _announce_done(tx, service)
    else:
        tx.touch(service)
    tx.note(service=service.name, step=step.position, text=step.text)
    return f"{service.name}: {step.text} done ({done}/{len(steps)})"


@handles(d.UndoStep)
def undo_step(tx: Tx, command: d.UndoStep) -> str:
    service = _service(tx, command, Action.UNDO_STEP)
    steps = tx.repo.steps(service)
    done_steps = [s for s in steps if s.done_at is not None]
    state = service.state
    reason = lc.undo_refusal(service.name, state, len(done_steps), _dependents(tx, service))
    if reason:
        raise CommandError(reason)
    step = done_steps[-1]
    step.done_at = None
    step.done_by = None
    tx.repo.add(step)
    new_state = lc.state_after_step(len(done_steps) - 1, len(steps))
    if new_state is not state:
        _set_state(tx, service, new_state)
    else:
        tx.touch(service)
    tx.system_line(
        f"{service.name} step {step.position}/{len(steps)} reopened: {step.text}", service.name
    )
    tx.note(service=service.name, step=step.position, text=step.text)
    return f"{service.name}: {step.text} reopened"


# ---------------------------------------------------------------- rollbacks


@handles(d.StartRollback)
def start_rollback(tx: Tx, command: d.StartRollback) -> str:
    service = _service(tx, command, Action.START_ROLLBACK)
    refusal = lc.rollback_refusal(service.name, service.state, _dependents(tx, service))
    if refusal:
        raise CommandError(refusal)
    _set_state(tx, service, DeployState.ROLLING_BACK)
    reason = command.reason.strip()
    target = f" to {service.previous_version}" if service.previous_version else ""
    run = f" — run: {service.rollback_command}" if service.rollback_command else ""
    why = f" ({reason})" if reason else ""
    tx.system_line(f"↺ Rollback of {service.name}{target} ordered{why}{run}", service.name)
    tx.note(service=service.name, reason=reason)
    return f"{service.name} is rolling back"


@handles(d.FinishRollback)
def finish_rollback(tx: Tx, command: d.FinishRollback) -> str:
    service = _service(tx, command, Action.FINISH_ROLLBACK)
    if service.state is not DeployState.ROLLING_BACK:
        busy = [s.name for s in tx.repo.services() if s.state is DeployState.ROLLING_BACK]
        hint = (
            f"{', '.join(busy)} {'is' if len(busy) == 1 else 'are'} rolling back: "
            "mark that one rolled back instead"
            if busy
            else "the release manager orders a rollback first"
        )
        raise CommandError(f"{service.name} is {service.state.label}, not rolling back; " + hint)
    _set_state(tx, service, DeployState.ROLLED_BACK)
    target = service.previous_version or "its previous version"
    tx.system_line(f"↩ {service.name} rolled back to {target}", service.name)
    tx.note(service=service.name)
    return f"{service.name} is rolled back"


# ---------------------------------------------------------------- talking and triggers


@handles(d.PostMessage)
def post_message(tx: Tx, command: d.PostMessage) -> str:
    tx.require(Action.POST_MESSAGE)
    tx.message(command.body)
    tx.note(text=command.body)
    return "message posted"


def _trigger(tx: Tx, trigger_id: str, phase: Phase = Phase.FIRING) -> m.TriggerState:
    rule, sep, service = trigger_id.partition("@")
    if sep:
        row = tx.repo.trigger(rule, service)
    else:
        # A bare rule name is fine when exactly one service has it in `phase`.
        rows = tx.repo.in_phase(rule, phase)
        if len(rows) > 1:
            raise CommandError(
                f"{rule} is {phase} on several services; name one: "
                + ", ".join(f"{rule}@{r.service}" for r in rows)
            )
        row = rows[0] if rows else None
    if row is None:
        raise CommandError(
            f"no trigger {trigger_id!r}; trigger ids look like error-rate@user-service"
        )
    return row


@handles(d.AckTrigger)
def ack_trigger(tx: Tx, command: d.AckTrigger) -> str:
    trigger = _trigger(tx, command.trigger)
    tid = f"{trigger.rule}@{trigger.service}"
    tx.require(Action.ACK_TRIGGER, tx.service(trigger.service).team, tid)
    tx.check_version(tid, trigger.row_version, command.expect_version, trigger.state)
    if trigger.state is not Phase.FIRING:
        raise CommandError(f"{tid} is {trigger.state}, not firing; there is nothing to acknowledge")
    rule = tx.repo.trigger_rules().get(trigger.rule)
    if rule is not None and rule.dry_run:
        raise CommandError(
            f"{tid} is a dry-run rule: nobody acknowledges it (it resolves when it clears)"
        )
    if trigger.acked_by:
        raise CommandError(
            f"{tid} was already acknowledged by {trigger.acked_by} "
            f"at {_hm(trigger.acked_at, tx.release.timezone)}"
        )
    trigger.acked_by = tx.actor.name
    trigger.acked_at = tx.now
    # A fired trigger resolves once acknowledged and no longer holding;
    # a lead's call has no condition to clear.
    if not trigger.holding:
        trigger.state = Phase.RESOLVED
    tx.touch(trigger)
    still = " (condition still holding)" if trigger.holding else ""
    tx.system_line(f"Trigger {tid} acknowledged{still}", trigger.service)
    tx.note(trigger=tid)
    return f"acknowledged {tid}"


@handles(d.RaiseTrigger)
def raise_trigger(tx: Tx, command: d.RaiseTrigger) -> str:
    service = tx.service(command.service)
    tx.require(Action.RAISE_TRIGGER, service.team, service.name)
    row = tx.repo.trigger(LEAD_CALL, service.name)
    if row is not None and row.state is Phase.FIRING:
        raise CommandError(
            f"a lead's call on {service.name} is already firing (raised by {row.raised_by})"
        )
    if row is None:
        row = m.TriggerState(
            release_id=tx.repo.release_id, rule=LEAD_CALL, service=service.name, state=Phase.FIRING
        )
    reason = command.reason.strip()
    row.state = Phase.FIRING
    row.holding = False
    row.since = tx.now
    row.fired_at = tx.now
    row.acked_by = None
    row.acked_at = None
    row.raised_by = tx.actor.name
    row.detail = reason
    tx.touch(row)
    tx.system_line(f"⚠ Rollback trigger on {service.name}: {reason}", service.name)
    tx.note(service=service.name, reason=reason)
    return f"raised {LEAD_CALL}@{service.name}"


# ---------------------------------------------------------------- gates: overrides and holds


@handles(d.Override)
def override(tx: Tx, command: d.Override) -> str:
    """Lift the window or a freeze from now for a while; it ends by the clock alone."""
    tx.require(Action.OVERRIDE)
    freezes = tx.repo.freezes()
    target = gates.find_target(command.target, freezes)
    if target is None:
        names = ", ".join([gates.WINDOW, *(repr(f.name) for f in freezes)])
        raise CommandError(
            f"there is nothing called {command.target!r} to override; name one of: {names}"
        )
    duration = gates.parse_override_duration(command.duration)
    release, zone = tx.release, tx.release.timezone
    until = tx.now + duration
    window = gates.Period(release.window_start, release.window_end)
    if not gates.blocks_within(target, tx.now, until, window, freezes, zone):
        if target == gates.WINDOW:
            raise CommandError(
                f"the deploy window is open until {_hm(window.end, zone)}: "
                f"overriding it for {format_duration(duration)} would change nothing"
            )
        raise CommandError(
            f"freeze {target!r} is not in force in the next {format_duration(duration)}: "
            "overriding it would change nothing"
        )
    reason = command.reason.strip()
    given = gates.Override(0, target, reason, tx.actor.name, tx.now, until)
    tx.created(tx.repo.add_override(given))
    tx.system_line(
        f"⚑ Override: {given.subject} lifted for {format_duration(duration)}, "
        f"until {_hm(until, zone)} — {reason}"
    )
    tx.note(target=target, until=until.isoformat())
    return f"{given.subject} is overridden until {_hm(until, zone)}"


@handles(d.ReleaseHold)
def release_hold(tx: Tx, command: d.ReleaseHold) -> str:
    """Let a held service start despite what holds it now."""
    service = _service(tx, command, Action.RELEASE_HOLD)
    hold = _holds(tx).get(service.name)
    if hold is None:
        why = (
            "nothing upstream of it is pending, firing, inconclusive or failed"
            if service.state is DeployState.WAITING
            else f"it is {service.state.label}"
        )
        raise CommandError(f"{service.name} is not held: {why}")
    reason = command.reason.strip()
    given = gates.HoldRelease(0, service.name, reason, tx.actor.name, tx.now)
    tx.created(tx.repo.add_hold_release(given))
    tx.system_line(
        f"⊘ Hold on {service.name} released (held by {hold.describe()}) — {reason}", service.name
    )
    tx.note(service=service.name, held_by=[cause.what for cause in hold.causes])
    return f"{service.name} may start: its hold by {hold.describe()} is released"


@handles(d.AnswerTrigger)
def answer_trigger(tx: Tx, command: d.AnswerTrigger) -> str:
    """A rule that cannot tell asked the release manager: roll back (the
    trigger fires, by their decision, and offers its rollback plan) or carry
    on (it goes quiet, and asks again after another run without data)."""
    from warroom.domain import graph as g

    trigger = _trigger(tx, command.trigger, Phase.INCONCLUSIVE)
    tid = f"{trigger.rule}@{trigger.service}"
    tx.require(Action.ANSWER_TRIGGER, tx.service(trigger.service).team, tid)
    tx.check_version(tid, trigger.row_version, command.expect_version, trigger.state)
    rule = tx.repo.trigger_rules().get(trigger.rule)
    if rule is not None and rule.dry_run:
        raise CommandError(f"{tid} is a dry-run rule: it asks nobody to decide")
    if trigger.state is not Phase.INCONCLUSIVE:
        raise CommandError(
            f"{tid} is {trigger.state}, not inconclusive; there is nothing to decide"
        )
    reason = command.reason.strip()
    who = tx.actor.name
    trigger.keep(tr.answer(trigger.status, command.answer, tx.now, who, reason))
    tx.touch(trigger)
    if command.answer is Answer.ROLL_BACK:
        graph, by_name = tx.graph()
        states = {name: row.state for name, row in by_name.items()}
        plan = " → ".join(g.rollback_plan(graph, trigger.service, states)) or "nothing deployed"
        tx.system_line(
            f"⚠ {who} decided to roll back {trigger.service} ({tid} was inconclusive): {reason}"
            f" — rollback plan: {plan}",
            trigger.service,
        )
    else:
        tx.system_line(
            f"{who} decided to carry on with {trigger.service} ({tid} was inconclusive): {reason}",
            trigger.service,
        )
    tx.note(trigger=tid, service=trigger.service)
    return f"{tid}: {command.answer.label} — {reason}"
