"""The release's record: what the audit chain says happened, as data.

Every audited change carries, under `after`, how it left what it changed
(an *image*): a service's state and runbook steps, a checklist item, a
trigger, the communication log's last line. Folding the events of a release
over the release as its plan loaded it (`pristine`) gives the room at any
moment of the day (`History`), which is what `warroom replay` shows and what
the report measures. One format, read and written here:

    {"services": {NAME: {"state", "since", "by", "version", "steps": [[AT, BY], …]}},
     "items": {KEY: {"done_at", "done_by", "version"}},
     "triggers": {RULE@SERVICE: {"state", "holding", "since", "fired_at",
                  "acked_by", "acked_at", "raised_by", "detail", "version",
                  "baseline", "dry_run"}},
     "health": {NAME: {"ok", "reason", "at"}},
     "overrides": {ID: {"target", "reason", "by", "at", "until"}},
     "hold_releases": {ID: {"service", "reason", "by", "at"}},
     "log": LAST_LOG_LINE_ID}

Times are ISO 8601 in UTC. A trigger's image is taken at each change of its
phase or hold (and each acknowledgement), not at every sample that moves its
streak: the record keeps decisions and transitions, not measurements.
Overrides and hold releases are written once and never change (an override
ends by the clock), so their image is the whole of them, under their id.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from warroom.domain import gates
from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.snapshot import (
    DecisionView,
    ItemView,
    LogView,
    ReleaseSnapshot,
    ServiceView,
    StepView,
    TriggerView,
)
from warroom.domain.triggers import LEAD_CALL, Phase

INITIAL_VERSION = 1  # every row's version when the plan loads

# The audit actions that make the record (besides every command's own).
DECISION = "decision"
HEALTH_CHANGE = "health.change"
TRIGGER_CHANGE = "trigger.change"
TRIGGER_FIRE = "trigger.fire"
TRIGGER_RESOLVE = "trigger.resolve"
TRIGGER_INCONCLUSIVE = "trigger.inconclusive"  # a rule asks the release manager to decide
LOAD = "release.load"

Image = dict[str, Any]


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


# ---------------------------------------------------------------- images (written by the command layer)


def service_image(
    state: DeployState,
    since: datetime,
    by: str | None,
    version: int,
    steps: Iterable[tuple[datetime | None, str | None]],
) -> Image:
    return {
        "state": state.value,
        "since": _time(since),
        "by": by,
        "version": version,
        "steps": [[_time(at), who] for at, who in steps],
    }


def item_image(done_at: datetime | None, done_by: str | None, version: int) -> Image:
    return {"done_at": _time(done_at), "done_by": done_by, "version": version}


def trigger_image(
    state: str,
    holding: bool,
    since: datetime | None,
    fired_at: datetime | None,
    acked_by: str | None,
    acked_at: datetime | None,
    raised_by: str | None,
    detail: str | None,
    version: int,
    baseline: float | None = None,
    *,
    dry_run: bool = False,
) -> Image:
    return {
        "state": str(state),
        "holding": holding,
        "since": _time(since),
        "fired_at": _time(fired_at),
        "acked_by": acked_by,
        "acked_at": _time(acked_at),
        "raised_by": raised_by,
        "detail": detail,
        "version": version,
        "baseline": baseline,
        "dry_run": dry_run,
    }


def health_image(ok: bool, reason: str | None, at: datetime) -> Image:
    """A service's health turned at `at` (the sample's time): passing, or failing and why."""
    return {"ok": ok, "reason": reason, "at": _time(at)}


def override_image(override: gates.Override) -> Image:
    return {
        "target": override.target,
        "reason": override.reason,
        "by": override.by,
        "at": _time(override.at),
        "until": _time(override.until),
    }


def hold_release_image(release: gates.HoldRelease) -> Image:
    return {
        "service": release.service,
        "reason": release.reason,
        "by": release.by,
        "at": _time(release.at),
    }


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class Event:
    """One audit event of a release, as the record reads it."""

    id: int
    at: datetime
    actor: str
    action: str
    payload: Mapping[str, Any]

    @property
    def after(self) -> Mapping[str, Any]:
        images = self.payload.get("after")
        return images if isinstance(images, dict) else {}

    @property
    def decision(self) -> DecisionView | None:
        """The decision this event recorded, if it is one."""
        if self.action != DECISION:
            return None
        p = self.payload
        return DecisionView(
            DecisionKind.parse(str(p["kind"])),
            tuple(p.get("subset", ())),
            str(p.get("rationale", "")),
            self.actor,
            self.at,
        )


# ---------------------------------------------------------------- the release as loaded


def pristine(now: ReleaseSnapshot) -> ReleaseSnapshot:
    """`now` as loading its plan left it: nothing started, checked, decided,
    raised or said (the log is the record's to fill)."""
    loaded = now.release.loaded_at
    return replace(
        now,
        services=tuple(
            replace(
                s,
                state=DeployState.WAITING,
                state_since=loaded,
                state_by=None,
                row_version=INITIAL_VERSION,
                steps=tuple(replace(step, done_at=None, done_by=None) for step in s.steps),
                health="unknown",
            )
            for s in now.services
        ),
        go_no_go=tuple(_unchecked(i) for i in now.go_no_go),
        readiness={
            team: tuple(_unchecked(i) for i in items) for team, items in now.readiness.items()
        },
        decisions=(),
        triggers=tuple(
            TriggerView(
                t.rule,
                t.service,
                str(Phase.INACTIVE),
                t.when,
                holding=False,
                since=None,
                fired_at=None,
                acked_by=None,
                acked_at=None,
                raised_by=None,
                detail=None,
                dry_run=t.dry_run,
                options=t.options,
            )
            for t in now.triggers
            if t.rule != LEAD_CALL
        ),
        log=(),
        revision=0,
        latest={},
        poller=None,
        overrides=(),
        hold_releases=(),
    )


def _unchecked(item: ItemView) -> ItemView:
    return replace(item, done_at=None, done_by=None, row_version=INITIAL_VERSION)


# ---------------------------------------------------------------- folding


@dataclass
class _State:
    """The parts of a snapshot the record changes, by name."""

    services: dict[str, ServiceView]
    items: dict[str, ItemView]
    triggers: dict[str, TriggerView]
    decisions: list[DecisionView] = field(default_factory=list)
    health: dict[str, str] = field(default_factory=dict)
    overrides: dict[int, gates.Override] = field(default_factory=dict)
    hold_releases: dict[int, gates.HoldRelease] = field(default_factory=dict)
    log_to: int = 0
    revision: int = 0

    def copy(self) -> _State:
        return _State(
            dict(self.services),
            dict(self.items),
            dict(self.triggers),
            list(self.decisions),
            dict(self.health),
            dict(self.overrides),
            dict(self.hold_releases),
            self.log_to,
            self.revision,
        )

    def apply(self, event: Event, when: Mapping[str, str]) -> None:
        after = event.after
        for name, image in after.get("services", {}).items():
            view = self.services.get(name)
            if view is None:
                continue
            steps = image.get("steps", [])
            self.services[name] = replace(
                view,
                state=DeployState(image["state"]),
                state_since=_parse(image["since"]) or view.state_since,
                state_by=image.get("by"),
                row_version=int(image["version"]),
                steps=tuple(
                    StepView(step.position, step.text, _parse(at), who)
                    for step, (at, who) in zip(view.steps, steps, strict=False)
                )
                or view.steps,
            )
        for key, image in after.get("items", {}).items():
            item = self.items.get(key)
            if item is not None:
                self.items[key] = replace(
                    item,
                    done_at=_parse(image["done_at"]),
                    done_by=image.get("done_by"),
                    row_version=int(image["version"]),
                )
        for tid, image in after.get("triggers", {}).items():
            rule, _, service = tid.partition("@")
            # What the rule says of itself (a dry run) stays as the plan loaded it.
            known = self.triggers.get(tid)
            self.triggers[tid] = TriggerView(
                rule,
                service,
                image["state"],
                when.get(rule, "a lead's call"),
                bool(image["holding"]),
                _parse(image["since"]),
                _parse(image["fired_at"]),
                image.get("acked_by"),
                _parse(image["acked_at"]),
                image.get("raised_by"),
                image.get("detail"),
                dry_run=known.dry_run if known else False,
                options=known.options if known else "",
                baseline=image.get("baseline", known.baseline if known else None),
            )
        for name, image in after.get("health", {}).items():
            self.health[name] = "healthy" if image["ok"] else "failing"
        for key, image in after.get("overrides", {}).items():
            self.overrides[int(key)] = gates.Override(
                int(key),
                image["target"],
                image["reason"],
                image["by"],
                _moment(image["at"]),
                _moment(image["until"]),
            )
        for key, image in after.get("hold_releases", {}).items():
            self.hold_releases[int(key)] = gates.HoldRelease(
                int(key), image["service"], image["reason"], image["by"], _moment(image["at"])
            )
        if isinstance(after.get("log"), int):
            self.log_to = max(self.log_to, after["log"])
        decision = event.decision
        if decision is not None:
            self.decisions.append(decision)
        self.revision = event.id


class History:
    """The room at every moment of the day, folded from its record.

    `base` is the release as its plan loaded it (`pristine`), `events` the
    release's audit events in chain order and `log` its communication log.
    `after(n)` is the room once the first n events had happened; `at(moment)`
    once every event up to `moment` had. Folding keeps a copy every
    `stride` events, so any moment costs at most that many steps.
    """

    def __init__(
        self,
        base: ReleaseSnapshot,
        events: Sequence[Event],
        log: Sequence[LogView],
        stride: int = 256,
    ) -> None:
        self.base = base
        self.stride = stride
        self.events = tuple(events)
        self.log = tuple(log)
        self._times = [e.at for e in self.events]
        self._log_ids = [line.id for line in self.log]
        self._when = {t.rule: t.when for t in base.triggers}
        ordered = [t.id for t in base.triggers]
        self._order = ordered
        start = _State(
            {s.name: s for s in base.services},
            {i.key: i for i in base.all_items},
            {t.id: t for t in base.triggers},
        )
        self._marks = [start]
        state = start.copy()
        for number, event in enumerate(self.events, start=1):
            state.apply(event, self._when)
            if number % stride == 0:
                self._marks.append(state.copy())

    def __len__(self) -> int:
        return len(self.events)

    def count_at(self, moment: datetime) -> int:
        """How many events had happened by `moment` (inclusive)."""
        return bisect.bisect_right(self._times, moment)

    def at(self, moment: datetime) -> ReleaseSnapshot:
        return self.after(self.count_at(moment))

    def after(self, count: int) -> ReleaseSnapshot:
        count = max(0, min(count, len(self.events)))
        mark = count // self.stride
        state = self._marks[mark].copy()
        for event in self.events[mark * self.stride : count]:
            state.apply(event, self._when)
        return self._snapshot(state)

    def _snapshot(self, state: _State) -> ReleaseSnapshot:
        base = self.base
        services = tuple(
            replace(view, health=state.health.get(name, "unknown"))
            for name, view in state.services.items()
        )
        items = state.items
        triggers = [state.triggers[tid] for tid in self._order if tid in state.triggers]
        triggers += [t for tid, t in state.triggers.items() if tid not in self._order]
        shown = bisect.bisect_right(self._log_ids, state.log_to)
        return replace(
            base,
            services=services,
            go_no_go=tuple(items[i.key] for i in base.go_no_go),
            readiness={
                team: tuple(items[i.key] for i in group) for team, group in base.readiness.items()
            },
            decisions=tuple(state.decisions),
            triggers=tuple(triggers),
            log=self.log[:shown],
            revision=state.revision,
            overrides=tuple(state.overrides[key] for key in sorted(state.overrides)),
            hold_releases=tuple(state.hold_releases[key] for key in sorted(state.hold_releases)),
        )
