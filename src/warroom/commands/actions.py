"""Release-day commands: the single write path for people and machinery.

Every method checks the actor's role and the lifecycle rules, writes the
change, a system line in the communication log where a human would want one,
and an audit event — all in one transaction. A refusal raises CommandError
with one sentence and writes nothing. Methods return a short sentence saying
what happened, for the CLI and for notifications.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from sqlmodel import select

from warroom.clock import Clock
from warroom.commands.tx import CommandError, Tx, open_tx
from warroom.domain import lifecycle as lc
from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.roles import Action
from warroom.domain.timeline import when
from warroom.domain.triggers import Phase
from warroom.store import models as m
from warroom.store.engine import Store

MAX_MESSAGE = 2000
LEAD_CALL = "lead-call"


def _hm(moment: datetime | None, zone: str) -> str:
    """A time in a sentence, on the plan's clock and saying which (`15:05:00 CET`)."""
    return "?" if moment is None else when(moment, zone, "%H:%M:%S")


class Commands:
    """Commands acting as one person of one release (never as the system: see SYSTEM_ACTOR)."""

    def __init__(self, store: Store, clock: Clock, actor: str, release: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.actor = actor
        self.release = release

    def _tx(self) -> AbstractContextManager[Tx]:
        return open_tx(self.store, self.clock, self.actor, self.release)

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _set_state(tx: Tx, service: m.Service, state: DeployState) -> None:
        service.state = state
        service.state_since = tx.now
        service.state_by = tx.actor.name
        if state is DeployState.DEPLOYING:
            service.deploy_started_at = tx.now
        tx.touch(service)

    def _start(self, tx: Tx, service: m.Service) -> None:
        decision = self._decision(tx)
        deps = {name: tx.service(name).state for name in tx.dependency_names(service)}
        reason = lc.start_refusal(service.name, service.state, deps, decision)
        if reason:
            raise CommandError(reason)
        self._set_state(tx, service, DeployState.DEPLOYING)
        previous = f" (from {service.previous_version})" if service.previous_version else ""
        tx.system_line(f"▶ {service.name} {service.version} deploy started{previous}", service.name)

    @staticmethod
    def _decision(tx: Tx) -> lc.Decision | None:
        row = tx.session.exec(
            select(m.Decision)
            .where(m.Decision.release_id == tx.release_id)
            .order_by(m.Decision.id.desc())  # type: ignore[union-attr]
        ).first()
        if row is None:
            return None
        return lc.Decision(row.kind, tuple(json.loads(row.subset)), row.rationale, row.decided_by)

    def _announce_done(self, tx: Tx, service: m.Service) -> None:
        tx.system_line(f"✓ {service.name} {service.version} is done", service.name)
        decision = self._decision(tx)
        scope = [s for s in tx.services() if decision is None or decision.allows(s.name)]
        if scope and all(s.state is DeployState.DONE for s in scope):
            tx.system_line(f"✓ All {len(scope)} services in scope are deployed")

    @staticmethod
    def _dependents(tx: Tx, service: m.Service) -> dict[str, DeployState]:
        from warroom.domain import graph as g

        graph, by_name = tx.graph()
        return {
            name: by_name[name].state
            for name in sorted(
                g.blast_radius(graph, service.name), key=lambda n: by_name[n].position
            )
        }

    def _items(self, tx: Tx, team: str | None) -> list[m.ChecklistItem]:
        query = select(m.ChecklistItem).where(m.ChecklistItem.release_id == tx.release_id)
        query = query.where(
            m.ChecklistItem.team == team if team is not None else m.ChecklistItem.team.is_(None)  # type: ignore[union-attr]
        )
        return list(tx.session.exec(query.order_by(m.ChecklistItem.position)).all())  # type: ignore[arg-type]

    # ---------------------------------------------------------------- checklists

    def check_item(self, key: str, *, expect_version: int | None = None) -> str:
        return self.set_items([key], True, expect_version=expect_version)

    def uncheck_item(self, key: str, *, expect_version: int | None = None) -> str:
        return self.set_items([key], False, expect_version=expect_version)

    def set_items(
        self, keys: Sequence[str], done: bool, *, expect_version: int | None = None
    ) -> str:
        """Check (or uncheck) several items at once: all of them, or none if any is refused."""
        if not keys:
            raise CommandError("name at least one checklist item")
        with self._tx() as tx:
            return "\n".join(self._set_item(tx, key, done, expect_version) for key in keys)

    def _set_item(self, tx: Tx, key: str, done: bool, expect_version: int | None) -> str:
        item = tx.session.exec(
            select(m.ChecklistItem).where(
                m.ChecklistItem.release_id == tx.release_id, m.ChecklistItem.key == key
            )
        ).first()
        if item is None:
            raise CommandError(
                f"unknown checklist item {key!r}; `warroom status` lists the item ids"
            )
        tx.require(Action.CHECK_ITEM, item.team, key)
        state_now = (
            f"checked by {item.done_by} at {_hm(item.done_at, tx.release.timezone)}"
            if item.done_at
            else "unchecked"
        )
        tx.check_version(f"{key} ({item.text})", item.row_version, expect_version, state_now)
        if done and item.done_at is not None:
            raise CommandError(
                f"{key} ({item.text}) is already checked by {item.done_by} at {_hm(item.done_at, tx.release.timezone)}"
            )
        if not done and item.done_at is None:
            raise CommandError(f"{key} ({item.text}) is not checked")
        was_open = [i.key for i in self._items(tx, item.team) if i.done_at is None]
        item.done_at = tx.now if done else None
        item.done_by = tx.actor.name if done else None
        tx.touch(item)
        tx.session.flush()
        open_now = [i for i in self._items(tx, item.team) if i.done_at is None]
        self._announce_readiness(tx, item.team, bool(was_open), open_now)
        tx.audit(
            "item.check" if done else "item.uncheck",
            {"item": key, "text": item.text, "team": item.team},
        )
        verb = "checked" if done else "unchecked"
        return f"{verb} {key}: {item.text}"

    @staticmethod
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

    # ---------------------------------------------------------------- decision

    def decide(
        self, kind: DecisionKind | str, subset: Sequence[str] = (), rationale: str = ""
    ) -> str:
        decision_kind = kind if isinstance(kind, DecisionKind) else _parse_kind(kind)
        with self._tx() as tx:
            tx.require(Action.DECIDE)
            from warroom.domain import graph as g

            graph, by_name = tx.graph()
            rows = list(by_name.values())
            names = list(by_name)
            chosen = list(dict.fromkeys(subset))
            open_gng = [f"{i.key} {i.text}" for i in self._items(tx, None) if i.done_at is None]
            blocked: dict[str, list[str]] = {}
            for team in {r.team for r in rows}:
                open_items = [i.key for i in self._items(tx, team) if i.done_at is None]
                if open_items:
                    blocked[team] = open_items
            reason = lc.decision_refusal(
                decision_kind,
                chosen,
                rationale,
                services=names,
                missing_dependencies=g.missing_dependencies(
                    graph, [n for n in chosen if n in graph]
                ),
                open_go_no_go=open_gng,
                blocked_teams=blocked,
                service_teams={r.name: r.team for r in rows},
                started=[r.name for r in rows if r.state is not DeployState.WAITING],
            )
            if reason:
                raise CommandError(reason)
            ordered = [n for n in names if n in chosen]
            tx.session.add(
                m.Decision(
                    release_id=tx.release_id,
                    kind=decision_kind,
                    subset=json.dumps(ordered),
                    rationale=rationale.strip(),
                    decided_by=tx.actor.name,
                    decided_at=tx.now,
                )
            )
            tx.topics.add("decision")
            scope = f" ({', '.join(ordered)})" if decision_kind is DecisionKind.PARTIAL else ""
            why = f" — {rationale.strip()}" if rationale.strip() else ""
            tx.system_line(f"Decision: {decision_kind.value}{scope}{why}")
            tx.audit(
                "decision",
                {"kind": decision_kind.value, "subset": ordered, "rationale": rationale.strip()},
            )
            return f"recorded {decision_kind.value}{scope}"

    # ---------------------------------------------------------------- deploys

    def start_deploy(self, service_name: str, *, expect_version: int | None = None) -> str:
        with self._tx() as tx:
            service = tx.service(service_name)
            tx.require(Action.START_DEPLOY, service.team, service.name)
            tx.check_version(service.name, service.row_version, expect_version, service.state)
            self._start(tx, service)
            tx.audit("deploy.start", {"service": service.name, "version": service.version})
            return f"{service.name} is deploying"

    def finish_deploy(self, service_name: str, *, expect_version: int | None = None) -> str:
        with self._tx() as tx:
            service = tx.service(service_name)
            tx.require(Action.FINISH_DEPLOY, service.team, service.name)
            tx.check_version(service.name, service.row_version, expect_version, service.state)
            open_steps = [s.text for s in tx.steps(service) if s.done_at is None]
            reason = lc.finish_refusal(service.name, service.state, open_steps)
            if reason:
                raise CommandError(reason)
            self._set_state(tx, service, DeployState.DONE)
            self._announce_done(tx, service)
            tx.audit("deploy.done", {"service": service.name})
            return f"{service.name} is done"

    def fail_deploy(
        self, service_name: str, reason: str, *, expect_version: int | None = None
    ) -> str:
        """Mark a deploy failed; `reason` (what went wrong) is required: a failure
        with no reason in the log leaves the room guessing what to roll back for."""
        with self._tx() as tx:
            service = tx.service(service_name)
            tx.require(Action.FAIL_DEPLOY, service.team, service.name)
            tx.check_version(service.name, service.row_version, expect_version, service.state)
            refusal = lc.fail_refusal(service.name, service.state)
            if refusal:
                raise CommandError(refusal)
            if not reason.strip():
                raise CommandError(
                    f"say what went wrong with {service.name} (the reason goes in the log)"
                )
            self._set_state(tx, service, DeployState.FAILED)
            tx.system_line(
                f"✗ {service.name} {service.version} FAILED: {reason.strip()}", service.name
            )
            tx.audit("deploy.fail", {"service": service.name, "reason": reason.strip()})
            return f"{service.name} is marked failed"

    # ---------------------------------------------------------------- runbook steps

    def complete_step(
        self, service_name: str, position: int | None = None, *, expect_version: int | None = None
    ) -> str:
        """Mark the next runbook step done (the on-call engineer's main action).

        Steps go in order; the first one starts a waiting service (with every
        start gate checked), the last one makes it done.
        """
        with self._tx() as tx:
            service = tx.service(service_name)
            tx.require(Action.COMPLETE_STEP, service.team, service.name)
            tx.check_version(service.name, service.row_version, expect_version, service.state)
            steps = tx.steps(service)
            state = service.state
            if state not in {DeployState.WAITING, DeployState.DEPLOYING, DeployState.VERIFYING}:
                raise CommandError(f"{service.name} is {state.label}; its runbook is closed")
            pending = [s for s in steps if s.done_at is None]
            if not pending:
                raise CommandError(f"{service.name} has no runbook steps left")
            step = pending[0]
            if position is not None and position != step.position:
                raise CommandError(
                    f"runbook steps go in order: {service.name}'s next step is "
                    f"#{step.position} {step.text!r}, not #{position}"
                )
            if state is DeployState.WAITING:
                self._start(tx, service)
            step.done_at = tx.now
            step.done_by = tx.actor.name
            tx.session.add(step)
            done = len(steps) - len(pending) + 1
            tx.system_line(
                f"{service.name} step {done}/{len(steps)} done: {step.text}", service.name
            )
            new_state = lc.state_after_step(done, len(steps))
            if new_state is not service.state:
                self._set_state(tx, service, new_state)
                if new_state is DeployState.DONE:
                    self._announce_done(tx, service)
            else:
                tx.touch(service)
            tx.audit(
                "step.done", {"service": service.name, "step": step.position, "text": step.text}
            )
            return f"{service.name}: {step.text} done ({done}/{len(steps)})"

    def undo_step(self, service_name: str, *, expect_version: int | None = None) -> str:
        with self._tx() as tx:
            service = tx.service(service_name)
            tx.require(Action.UNDO_STEP, service.team, service.name)
            tx.check_version(service.name, service.row_version, expect_version, service.state)
            steps = tx.steps(service)
            done_steps = [s for s in steps if s.done_at is not None]
            state = service.state
            reason = lc.undo_refusal(
                service.name, state, len(done_steps), self._dependents(tx, service)
            )
            if reason:
                raise CommandError(reason)
            step = done_steps[-1]
            step.done_at = None
            step.done_by = None
            tx.session.add(step)
            remaining = len(done_steps) - 1
            new_state = lc.state_after_step(remaining, len(steps))
            if new_state is not state:
                self._set_state(tx, service, new_state)
            else:
                tx.touch(service)
            tx.system_line(
                f"{service.name} step {step.position}/{len(steps)} reopened: {step.text}",
                service.name,
            )
            tx.audit(
                "step.undo", {"service": service.name, "step": step.position, "text": step.text}
            )
            return f"{service.name}: {step.text} reopened"

    # ---------------------------------------------------------------- rollback

    def start_rollback(
        self, service_name: str, reason: str = "", *, expect_version: int | None = None
    ) -> str:
        with self._tx() as tx:
            service = tx.service(service_name)
            tx.require(Action.START_ROLLBACK, service.team, service.name)
            tx.check_version(service.name, service.row_version, expect_version, service.state)
            refusal = lc.rollback_refusal(
                service.name, service.state, self._dependents(tx, service)
            )
            if refusal:
                raise CommandError(refusal)
            self._set_state(tx, service, DeployState.ROLLING_BACK)
            target = f" to {service.previous_version}" if service.previous_version else ""
            command = f" — run: {service.rollback_command}" if service.rollback_command else ""
            why = f" ({reason.strip()})" if reason.strip() else ""
            tx.system_line(
                f"↺ Rollback of {service.name}{target} ordered{why}{command}", service.name
            )
            tx.audit("rollback.start", {"service": service.name, "reason": reason.strip()})
            return f"{service.name} is rolling back"

    def finish_rollback(self, service_name: str, *, expect_version: int | None = None) -> str:
        with self._tx() as tx:
            service = tx.service(service_name)
            tx.require(Action.FINISH_ROLLBACK, service.team, service.name)
            tx.check_version(service.name, service.row_version, expect_version, service.state)
            if service.state is not DeployState.ROLLING_BACK:
                busy = [s.name for s in tx.services() if s.state is DeployState.ROLLING_BACK]
                hint = (
                    f"{', '.join(busy)} {'is' if len(busy) == 1 else 'are'} rolling back: "
                    "mark that one rolled back instead"
                    if busy
                    else "the release manager orders a rollback first"
                )
                raise CommandError(
                    f"{service.name} is {service.state.label}, not rolling back; " + hint
                )
            self._set_state(tx, service, DeployState.ROLLED_BACK)
            target = service.previous_version or "its previous version"
            tx.system_line(f"↩ {service.name} rolled back to {target}", service.name)
            tx.audit("rollback.done", {"service": service.name})
            return f"{service.name} is rolled back"

    # ---------------------------------------------------------------- messages

    def post_message(self, text: str) -> str:
        body = " ".join(text.split())
        if not body:
            raise CommandError("the message is empty")
        if len(body) > MAX_MESSAGE:
            raise CommandError(
                f"the message is {len(body)} characters long; keep it under {MAX_MESSAGE}"
            )
        with self._tx() as tx:
            tx.require(Action.POST_MESSAGE)
            tx.message(body)
            tx.audit("message", {"text": body})
            return "message posted"

    # ---------------------------------------------------------------- triggers

    def _trigger(self, tx: Tx, trigger_id: str) -> m.TriggerState:
        rule, sep, service = trigger_id.partition("@")
        query = select(m.TriggerState).where(m.TriggerState.release_id == tx.release_id)
        if sep:
            query = query.where(m.TriggerState.rule == rule, m.TriggerState.service == service)
            row = tx.session.exec(query).first()
        else:
            # A bare rule name is fine when exactly one service has it firing.
            firing = tx.session.exec(
                query.where(m.TriggerState.rule == rule, m.TriggerState.state == Phase.FIRING)
            ).all()
            row = firing[0] if len(firing) == 1 else None
            if len(firing) > 1:
                raise CommandError(
                    f"{rule} is firing on several services; name one: "
                    + ", ".join(f"{rule}@{r.service}" for r in firing)
                )
        if row is None:
            raise CommandError(
                f"no trigger {trigger_id!r}; trigger ids look like error-rate@user-service"
            )
        return row

    def ack_trigger(self, trigger_id: str, *, expect_version: int | None = None) -> str:
        with self._tx() as tx:
            trigger = self._trigger(tx, trigger_id)
            tid = f"{trigger.rule}@{trigger.service}"
            tx.require(Action.ACK_TRIGGER, tx.service(trigger.service).team, tid)
            tx.check_version(tid, trigger.row_version, expect_version, trigger.state)
            if trigger.state is not Phase.FIRING:
                raise CommandError(
                    f"{tid} is {trigger.state}, not firing; there is nothing to acknowledge"
                )
            if trigger.acked_by:
                raise CommandError(
                    f"{tid} was already acknowledged by {trigger.acked_by} at {_hm(trigger.acked_at, tx.release.timezone)}"
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
            tx.audit("trigger.ack", {"trigger": tid})
            return f"acknowledged {tid}"

    def raise_trigger(self, service_name: str, reason: str) -> str:
        """A lead's call: a rollback trigger raised by a person, not a rule."""
        if not reason.strip():
            raise CommandError(
                "say why you are calling for a rollback (the reason goes in the log)"
            )
        with self._tx() as tx:
            service = tx.service(service_name)
            tx.require(Action.RAISE_TRIGGER, service.team, service.name)
            row = tx.session.exec(
                select(m.TriggerState).where(
                    m.TriggerState.release_id == tx.release_id,
                    m.TriggerState.rule == LEAD_CALL,
                    m.TriggerState.service == service.name,
                )
            ).first()
            if row is not None and row.state is Phase.FIRING:
                raise CommandError(
                    f"a lead's call on {service.name} is already firing (raised by {row.raised_by})"
                )
            if row is None:
                row = m.TriggerState(
                    release_id=tx.release_id,
                    rule=LEAD_CALL,
                    service=service.name,
                    state=Phase.FIRING,
                )
            row.state = Phase.FIRING
            row.holding = False
            row.since = tx.now
            row.fired_at = tx.now
            row.acked_by = None
            row.acked_at = None
            row.raised_by = tx.actor.name
            row.detail = reason.strip()
            tx.touch(row)
            tx.system_line(f"⚠ Rollback trigger on {service.name}: {reason.strip()}", service.name)
            tx.audit("trigger.raise", {"service": service.name, "reason": reason.strip()})
            return f"raised {LEAD_CALL}@{service.name}"


def _parse_kind(text: str) -> DecisionKind:
    try:
        return DecisionKind.parse(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
