"""`warroom status`: the release as text for people and JSON for scripts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from warroom.domain.gates import Freeze
from warroom.domain.lifecycle import DeployState
from warroom.domain.snapshot import (
    DecisionView,
    ItemView,
    LeaseView,
    ReleaseSnapshot,
    ServiceView,
)
from warroom.domain.text import safe
from warroom.domain.timeline import day_phase, humanize, phase, t_offset, when, zone_name


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _item_json(item: ItemView) -> dict[str, Any]:
    return {
        "id": item.key,
        "text": item.text,
        "team": item.team,
        "done": item.done,
        "by": item.done_by,
        "at": _iso(item.done_at),
    }


def _health_json(service: ServiceView, snapshot: ReleaseSnapshot, now: datetime) -> dict[str, Any]:
    last = snapshot.latest.get(service.name)
    return {
        "state": snapshot.health_state(service.name, now),
        "url": service.health_url,
        "ok": None if last is None else last.ok,
        "at": None if last is None else _iso(last.at),
        "age_s": None if last is None else round((now - last.at).total_seconds(), 1),
        "reason": None if last is None else last.reason,
        "status_code": None if last is None else last.status_code,
        "latency_ms": None if last is None else last.latency_ms,
        "metrics": {} if last is None else dict(last.metrics),
    }


def _service_json(service: ServiceView, snapshot: ReleaseSnapshot, now: datetime) -> dict[str, Any]:
    nxt = service.next_step
    return {
        "name": service.name,
        "team": service.team,
        "owner": service.owner,
        "version": service.version,
        "previous_version": service.previous_version,
        "depends_on": list(service.depends_on),
        "state": service.state.value,
        "state_since": _iso(service.state_since),
        "state_by": service.state_by,
        "wave": service.wave,
        "planned_start": _iso(service.planned_start),
        "planned_end": _iso(service.planned_end),
        "steps_done": service.steps_done,
        "next_step": nxt.text if nxt else None,
        "steps": [
            {
                "n": s.position,
                "text": s.text,
                "done": s.done,
                "by": s.done_by,
                "at": _iso(s.done_at),
            }
            for s in service.steps
        ],
        "health": _health_json(service, snapshot, now),
    }


def _freeze_json(freeze: Freeze, snapshot: ReleaseSnapshot, now: datetime) -> dict[str, Any]:
    period = freeze.at(now, snapshot.release.timezone)
    return {
        "name": freeze.name,
        "reason": freeze.reason,
        "start": _iso(freeze.start),
        "end": _iso(freeze.end),
        "rrule": freeze.rrule,
        "duration_s": None if freeze.duration is None else int(freeze.duration.total_seconds()),
        "in_force_until": None if period is None else _iso(period.end),
    }


def status_json(snapshot: ReleaseSnapshot, now: datetime) -> dict[str, Any]:
    """The documented shape of `warroom status --json` (see README)."""
    rel = snapshot.release
    decision = snapshot.decision
    return {
        "release": {
            "name": rel.name,
            "manager": rel.manager,
            "timezone": rel.timezone,
            "window": {"start": _iso(rel.window_start), "end": _iso(rel.window_end)},
            "rollback_until": _iso(rel.rollback_until),
            "go_no_go_at": _iso(rel.go_no_go_at),
            "now": _iso(now),
            "t": t_offset(now, rel.window_start),
            "phase": phase(
                now, rel.go_no_go_at, rel.window_start, rel.window_end, rel.rollback_until
            ).value,
            "day_phase": day_phase(snapshot, now).value,
            "decision": None
            if decision is None
            else {
                "kind": decision.kind.value,
                "subset": list(decision.subset),
                "rationale": decision.rationale,
                "by": decision.by,
                "at": _iso(decision.at),
            },
        },
        "waves": snapshot.waves,
        "deploy_order": snapshot.deploy_order,
        "rollback_order": snapshot.rollback_order,
        "startable": snapshot.startable(),
        "poller": None
        if snapshot.poller is None
        else {
            "holder": snapshot.poller.holder,
            "alive": snapshot.poller.alive(now),
            "expires_at": _iso(snapshot.poller.expires_at),
            "last_poll_at": _iso(snapshot.poller.last_poll_at),
        },
        "services": [_service_json(s, snapshot, now) for s in snapshot.services],
        "holds": [
            {"service": hold.service, "held_by": [c.what for c in hold.causes]}
            for hold in snapshot.holds.values()
        ],
        "freezes": [_freeze_json(f, snapshot, now) for f in snapshot.freezes],
        "overrides": [
            {
                "target": o.target,
                "reason": o.reason,
                "by": o.by,
                "at": _iso(o.at),
                "until": _iso(o.until),
                "active": o.active(now),
            }
            for o in snapshot.overrides
        ],
        "teams": [
            {
                "team": team,
                "status": "READY" if snapshot.team_ready(team) else "BLOCKED",
                "open": [i.key for i in snapshot.team_open_items(team)],
            }
            for team in snapshot.teams
        ],
        "checklists": [_item_json(item) for item in snapshot.all_items],
        "triggers": [
            {
                "id": t.id,
                "name": t.rule,
                "service": t.service,
                "when": t.when,
                "state": t.state,
                "since": _iso(t.since),
                "fired_at": _iso(t.fired_at),
                "acked_by": t.acked_by,
                "acked_at": _iso(t.acked_at),
                "raised_by": t.raised_by,
                "holding": t.holding,
                "pending": t.detail if t.state == "pending" else None,
                "detail": t.detail,
                "dry_run": t.dry_run,
                "gates": t.gates,
            }
            for t in snapshot.triggers
        ],
        "log": [
            {
                "at": _iso(e.at),
                "t": t_offset(e.at, rel.window_start),
                "kind": e.kind,
                "author": e.author,
                "text": e.text,
            }
            for e in snapshot.log
        ],
    }


def _decision_text(decision: DecisionView | None, at: Callable[[datetime], str]) -> str:
    if decision is None:
        return "none yet"
    scope = f" ({', '.join(safe(n) for n in decision.subset)})" if decision.subset else ""
    why = f" — {safe(decision.rationale)}" if decision.rationale else ""
    return f"{decision.kind.value}{scope} by {safe(decision.by)} at {at(decision.at)}{why}"


def _poller_text(poller: LeaseView | None, now: datetime) -> str:
    if poller is None:
        return "no poller has run (start one: warroom --db URL poll)"
    if not poller.alive(now):
        return f"STALE — poller {safe(poller.holder)} is silent"
    last = f"{humanize(now - poller.last_poll_at)} ago" if poller.last_poll_at else "not yet"
    return f"polled by {safe(poller.holder)}, last {last}"


def status_text(snapshot: ReleaseSnapshot, now: datetime, log_lines: int = 8) -> str:
    """The release for a person at a terminal.

    Every time is on the plan's clock and says which (`15:05 CET`; columns
    say it once in their heading), and everything a plan, a person or an
    endpoint wrote goes through `safe`, so no escape sequence in a name,
    message or health reason reaches the terminal. (`status_json` stays UTC
    ISO-8601; JSON escapes control characters itself.)
    """
    rel = snapshot.release
    zone = rel.timezone

    def at(moment: datetime, fmt: str = "%H:%M") -> str:
        return when(moment, zone, fmt)

    def bare(moment: datetime, fmt: str = "%H:%M") -> str:
        return when(moment, zone, fmt, label=False)

    def times_in(moment: datetime) -> str:
        return f"times in {zone_name(moment, zone)}"

    lines: list[str] = []
    current = day_phase(snapshot, now)  # as every terminal's header says it
    lines.append(
        f"Release {safe(rel.name)} · manager {safe(rel.manager)} · {current.value} · "
        f"{t_offset(now, rel.window_start)} · now {at(now)}"
    )
    same_zone = zone_name(rel.window_start, zone) == zone_name(rel.window_end, zone)
    opens = (
        bare(rel.window_start, "%Y-%m-%d %H:%M")
        if same_zone
        else at(rel.window_start, "%Y-%m-%d %H:%M")
    )
    lines.append(
        f"  go/no-go {at(rel.go_no_go_at)} · window {opens}–{at(rel.window_end)}"
        f" · rollback until {at(rel.rollback_until)}"
    )
    lines.append(f"  decision: {_decision_text(snapshot.decision, at)}")
    lines.append("")

    width = max((len(safe(s.name)) for s in snapshot.services), default=8)
    lines.append(f"Services (deploy waves; {times_in(rel.window_start)})")
    for number, wave in enumerate(snapshot.waves, start=1):
        for name in wave:
            service = snapshot.service(name)
            assert service is not None
            prev = f"{safe(service.previous_version)} → " if service.previous_version else ""
            nxt = service.next_step
            progress = f"{service.steps_done}/{len(service.steps)}"
            detail = (
                f"next: {safe(nxt.text)}" if nxt and service.state.value != "rolled_back" else ""
            )
            elapsed = (
                "" if service.state is DeployState.WAITING else humanize(now - service.state_since)
            )
            health = snapshot.health_state(name, now)
            lines.append(
                f"  {number:>2}  {safe(name):<{width}}  {safe(service.team):<9} "
                f"{prev}{safe(service.version):<8} "
                f"{service.state.symbol} {service.state.label:<12} {elapsed:>6}  {progress:>5}  "
                f"{health:<8} planned {bare(service.planned_start)}  {detail}".rstrip()
            )
    lines.append("")

    gng_done = sum(1 for item in snapshot.go_no_go if item.done)
    lines.append(f"Go/no-go checklist: {gng_done}/{len(snapshot.go_no_go)} checked")
    for item in snapshot.go_no_go:
        if not item.done:
            lines.append(f"  [ ] {safe(item.key):<12} {safe(item.text)}")
    teams = []
    for team in snapshot.teams:
        items = snapshot.readiness.get(team, ())
        done = sum(1 for i in items if i.done)
        teams.append(
            f"{safe(team)} {'READY' if snapshot.team_ready(team) else 'BLOCKED'} "
            f"({done}/{len(items)})"
        )
    lines.append("Readiness: " + ", ".join(teams))

    active = [t for t in snapshot.triggers if t.state in {"pending", "firing", "inconclusive"}]
    lines.append("Triggers: " + ("" if active else "none active"))
    for trigger in active:
        acked = f" (acknowledged by {safe(trigger.acked_by)})" if trigger.acked_by else ""
        trial = " (dry run)" if trigger.dry_run else ""
        lines.append(
            f"  {safe(trigger.id):<28} {trigger.state.upper():<12} "
            f"{safe(trigger.detail or trigger.when)}{acked}{trial}"
        )
    lines.append(f"Health: {_poller_text(snapshot.poller, now)}")
    failing = [
        (service.name, snapshot.latest[service.name])
        for service in snapshot.services
        if service.name in snapshot.latest and not snapshot.latest[service.name].ok
    ]
    for name, sample in failing:
        reason = f": {safe(sample.reason)}" if sample.reason else ""
        lines.append(f"  {safe(name)} failing at {at(sample.at, '%H:%M:%S')}{reason}")
    lines.append("")
    lines.append(f"Log ({times_in(now)})")
    for entry in snapshot.log[-log_lines:]:
        mark = "·" if entry.system else ">"
        lines.append(
            f"  {bare(entry.at, '%H:%M:%S')} {t_offset(entry.at, rel.window_start):>8} {mark} "
            f"{safe(entry.author):<8} {safe(entry.text)}"
        )
    return "\n".join(lines)
