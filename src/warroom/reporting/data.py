"""The report as JSON: a versioned shape for scripts and dashboards.

`"schema": 1` names the shape; `report.schema.json` (shipped beside this
module, `schema()` reads it) describes every field, and the tests validate
against it. Times are UTC ISO 8601 (`…Z`), durations are seconds (numbers),
names and texts are as people wrote them (the JSON text escapes everything
outside ASCII, so nothing in it acts on a terminal).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from warroom.domain.report import (
    ON_TIME,
    SCHEMA,
    DecisionEntry,
    ItemEntry,
    Report,
    RollbackEntry,
    ServiceEntry,
    Stat,
    TriggerEntry,
)

SCHEMA_FILE = "report.schema.json"


def schema() -> dict[str, Any]:
    """The JSON Schema of `render_json`'s output, as shipped in the package."""
    text = (
        resources.files(__package__ or "warroom.reporting")
        .joinpath(SCHEMA_FILE)
        .read_text(encoding="utf-8")
    )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _s(delta: timedelta | None) -> int | float | None:
    """Seconds: whole ones as an integer."""
    if delta is None:
        return None
    seconds = delta.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def _stat(value: Stat) -> dict[str, Any]:
    return {
        "count": value.count,
        "mean_s": _s(value.mean),
        "worst_s": _s(value.worst),
        "worst_of": value.worst_of,
    }


def _decision(d: DecisionEntry) -> dict[str, Any]:
    return {
        "kind": d.kind.value,
        "subset": list(d.subset),
        "rationale": d.rationale,
        "by": d.by,
        "at": _iso(d.at),
        "until": _iso(d.until),
    }


def _item(i: ItemEntry) -> dict[str, Any]:
    return {
        "id": i.key,
        "text": i.text,
        "done": i.done_at is not None,
        "by": i.done_by,
        "at": _iso(i.done_at),
    }


def _service(s: ServiceEntry) -> dict[str, Any]:
    return {
        "name": s.name,
        "team": s.team,
        "owner": s.owner,
        "version": s.version,
        "previous_version": s.previous_version,
        "depends_on": list(s.depends_on),
        "wave": s.wave,
        "expected_s": _s(s.expected),
        "planned_start": _iso(s.planned_start),
        "planned_end": _iso(s.planned_end),
        "started_at": _iso(s.started_at),
        "started_by": s.started_by,
        "start_delay_s": _s(s.start_delay),
        "on_time": s.on_time,
        "finished_at": _iso(s.finished_at),
        "duration_s": _s(s.duration),
        "overrun_s": _s(s.overrun),
        "failed_at": _iso(s.failed_at),
        "failed_reason": s.failed_reason,
        "state": s.state.value,
        "state_since": _iso(s.state_since),
        "state_by": s.state_by,
        "time_in_state_s": {state.value: _s(spent) for state, spent in s.time_in_state},
        "health": s.health,
        "steps": [
            {
                "n": step.position,
                "text": step.text,
                "done": step.done_at is not None,
                "by": step.done_by,
                "at": _iso(step.done_at),
            }
            for step in s.steps
        ],
    }


def _trigger(t: TriggerEntry) -> dict[str, Any]:
    return {
        "id": t.id,
        "rule": t.rule,
        "service": t.service,
        "when": t.when,
        "raised_by": t.raised_by,
        "reason": t.reason,
        "pending_at": _iso(t.pending_at),
        "condition_since": _iso(t.condition_since),
        "fired_at": _iso(t.fired_at),
        "detection_s": _s(t.detection),
        "acked_by": t.acked_by,
        "acked_at": _iso(t.acked_at),
        "to_acknowledge_s": _s(t.to_acknowledge),
        "ended": t.ended,
        "ended_at": _iso(t.ended_at),
    }


def _rollback(r: RollbackEntry) -> dict[str, Any]:
    return {
        "service": r.service,
        "cause": r.cause,
        "trouble": r.trouble,
        "trouble_at": _iso(r.trouble_at),
        "ordered_by": r.ordered_by,
        "ordered_at": _iso(r.ordered_at),
        "subgraph": list(r.subgraph),
        "plan": list(r.plan),
        "steps": [
            {
                "service": step.service,
                "ordered_at": _iso(step.ordered_at),
                "ordered_by": step.ordered_by,
                "reason": step.reason,
                "rolled_back_at": _iso(step.rolled_back_at),
                "rolled_back_by": step.rolled_back_by,
                "healthy_at": _iso(step.healthy_at),
                "health_known": step.health_known,
            }
            for step in r.steps
        ],
        "recovered_at": _iso(r.recovered_at),
        "time_to_recover_s": _s(r.time_to_recover),
    }


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (schema 1)."""
    release = report.release
    m = report.metrics
    d = m.deploys
    return {
        "schema": SCHEMA,
        "release": {
            "name": release.name,
            "manager": release.manager,
            "timezone": release.timezone,
            "window": {"start": _iso(release.window_start), "end": _iso(release.window_end)},
            "rollback_until": _iso(release.rollback_until),
            "go_no_go_at": _iso(release.go_no_go_at),
            "loaded_at": _iso(release.loaded_at),
            "loaded_by": release.loaded_by,
        },
        "as_of": _iso(report.as_of),
        "status": report.status.value,
        "unsettled": [{"service": name, "state": state.value} for name, state in report.unsettled],
        "events": report.events,
        "metrics": {
            "total_duration_s": _s(m.total_duration),
            "total_so_far": m.total_so_far,
            "first_start": _iso(m.first_start),
            "last_final": _iso(m.last_final),
            "time_to_go_s": _s(m.time_to_go),
            "services": {
                "total": m.services,
                "deployed": m.deployed,
                "failed": m.failed,
                "rolled_back": m.rolled_back,
                "in_flight": m.in_flight,
                "not_started": m.not_started,
            },
            "started_on_time": {
                "started": m.started,
                "on_time": m.on_time,
                "share": m.on_time_share,
                "tolerance_s": _s(ON_TIME),
            },
            "deploy_duration": {
                "count": d.count,
                "mean_s": _s(d.mean),
                "mean_expected_s": _s(d.mean_expected),
                "mean_overrun_s": _s(d.mean_overrun),
                "worst": None
                if d.worst is None
                else {
                    "service": d.worst,
                    "duration_s": _s(d.worst_duration),
                    "expected_s": _s(d.worst_expected),
                    "overrun_s": _s(d.worst_overrun),
                },
            },
            "time_to_detect": _stat(m.detect),
            "time_to_acknowledge": _stat(m.acknowledge),
            "time_to_recover": _stat(m.recover),
        },
        "decisions": [_decision(x) for x in report.decisions],
        "go_no_go": {
            "complete_at": _iso(report.go_no_go_done_at),
            "items": [_item(i) for i in report.go_no_go],
        },
        "teams": [
            {
                "team": team.team,
                "ready": team.ready_at is not None,
                "ready_at": _iso(team.ready_at),
                "items": [_item(i) for i in team.items],
            }
            for team in report.teams
        ],
        "services": [_service(s) for s in report.services],
        "triggers": [_trigger(t) for t in report.triggers],
        "rollbacks": [_rollback(r) for r in report.rollbacks],
        "log": [
            {
                "at": _iso(line.at),
                "t": line.t,
                "kind": line.kind,
                "author": line.author,
                "text": line.text,
            }
            for line in report.log
        ],
    }


def render_json(report: Report) -> str:
    return json.dumps(report_json(report), indent=2) + "\n"
