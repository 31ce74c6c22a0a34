"""The read model: one consistent picture of a release, as plain frozen data.

The store builds a `ReleaseSnapshot` in one read transaction; the TUI, the CLI
and `status --json` only ever see these objects, never live ORM rows, so they
can cross threads and be compared, cached and rendered freely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from warroom.domain import gates
from warroom.domain.health import Sample, health_state
from warroom.domain.lifecycle import Decision, DecisionKind, DeployState
from warroom.domain.roles import Actor, Role
from warroom.domain.triggers import Phase, holds_back

if TYPE_CHECKING:
    from warroom.domain.graph import Graph


@dataclass(frozen=True)
class PersonView:
    name: str
    role: Role
    team: str | None

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.role, self.team)


@dataclass(frozen=True)
class Present:
    """Someone in the room now (a heartbeat newer than its time to live)."""

    person: str
    via: str  # "terminal" or "ssh"
    host: str
    since: datetime

    def label(self) -> str:
        return f"{self.person} (ssh)" if self.via == "ssh" else self.person


@dataclass(frozen=True)
class StepView:
    position: int
    text: str
    done_at: datetime | None
    done_by: str | None

    @property
    def done(self) -> bool:
        return self.done_at is not None


@dataclass(frozen=True)
class ServiceView:
    name: str
    team: str
    position: int
    version: str
    previous_version: str | None
    owner: str | None
    depends_on: tuple[str, ...]
    expected_duration: timedelta
    wave: int
    planned_start: datetime
    state: DeployState
    state_since: datetime
    state_by: str | None
    steps: tuple[StepView, ...]
    health_url: str | None
    rollback_command: str | None
    row_version: int
    health_interval: timedelta | None = None
    # "healthy", "failing", "stale" or "unknown" when the snapshot was read
    # (see ReleaseSnapshot.health_state for "now").
    health: str = "unknown"

    @property
    def planned_end(self) -> datetime:
        return self.planned_start + self.expected_duration

    @property
    def steps_done(self) -> int:
        return sum(1 for step in self.steps if step.done)

    @property
    def next_step(self) -> StepView | None:
        return next((step for step in self.steps if not step.done), None)

    @property
    def last_done_step(self) -> StepView | None:
        done = [step for step in self.steps if step.done]
        return done[-1] if done else None


@dataclass(frozen=True)
class ItemView:
    key: str
    text: str
    team: str | None
    done_at: datetime | None
    done_by: str | None
    row_version: int

    @property
    def done(self) -> bool:
        return self.done_at is not None


@dataclass(frozen=True)
class DecisionView(Decision):
    """A recorded decision and when it was made."""

    at: datetime


@dataclass(frozen=True)
class LogView:
    id: int
    at: datetime
    kind: str
    author: str
    team: str | None
    service: str | None
    text: str

    @property
    def system(self) -> bool:
        return self.kind == "system"


@dataclass(frozen=True)
class TriggerView:
    rule: str
    service: str
    state: str
    when: str
    holding: bool
    since: datetime | None
    fired_at: datetime | None
    acked_by: str | None
    acked_at: datetime | None
    raised_by: str | None
    detail: str | None
    # A rule on trial (`dry_run: true`): shown, greyed, with its state, but
    # it never gates, raises the banner or notifies.
    dry_run: bool = False
    # A baseline rule's pre-deploy median, once known.
    baseline: float | None = None
    # The rule's other options as a plan writes them ("keep_firing_for 1m, error_limit 2").
    options: str = ""

    @property
    def id(self) -> str:
        return f"{self.rule}@{self.service}"

    @property
    def gates(self) -> bool:
        """Whether this trigger holds back what depends on its service: it is
        pending, firing (until resolved, acknowledged or not) or inconclusive
        (the release manager has not answered), and not a dry run."""
        return holds_back(self.state, dry_run=self.dry_run)

    @property
    def alarm(self) -> bool:
        """Firing for real (not a dry run): the red of the graph and the table."""
        return not self.dry_run and self.state == Phase.FIRING

    @property
    def asks(self) -> bool:
        """Inconclusive and waiting for the release manager's answer (not a dry run)."""
        return not self.dry_run and self.state == Phase.INCONCLUSIVE


@dataclass(frozen=True)
class LeaseView:
    """Who polls health, and when they last did."""

    holder: str
    expires_at: datetime
    last_poll_at: datetime | None

    def alive(self, now: datetime) -> bool:
        return self.expires_at > now


@dataclass(frozen=True)
class ReleaseView:
    id: int
    name: str
    manager: str
    timezone: str
    window_start: datetime
    window_end: datetime
    rollback_until: datetime
    go_no_go_at: datetime
    loaded_at: datetime
    loaded_by: str


@dataclass(frozen=True)
class ReleaseSnapshot:
    release: ReleaseView
    people: tuple[PersonView, ...]
    services: tuple[ServiceView, ...]
    go_no_go: tuple[ItemView, ...]
    readiness: Mapping[str, tuple[ItemView, ...]]
    decisions: tuple[DecisionView, ...]
    triggers: tuple[TriggerView, ...]
    log: tuple[LogView, ...]
    # The audit chain position this snapshot was read at: equal revisions
    # mean nothing changed in between.
    revision: int = 0
    latest: Mapping[str, Sample] = field(default_factory=dict)  # newest health sample per service
    poller: LeaseView | None = None
    # Notifications out of the room that are failing (retrying or given up).
    notify_failing: int = 0
    # The plan's freezes, and the overrides and hold releases given so far
    # (expired overrides too: `active_overrides` says which are in force).
    freezes: tuple[gates.Freeze, ...] = ()
    overrides: tuple[gates.Override, ...] = ()
    hold_releases: tuple[gates.HoldRelease, ...] = ()
    # Rebuilt from the record (a replay): each service's `health` is what the
    # record says it was at that moment, not a sample to judge against a clock.
    recorded: bool = False

    # ---------------------------------------------------------------- lookups

    @property
    def release_id(self) -> int:
        return self.release.id

    @property
    def decision(self) -> DecisionView | None:
        return self.decisions[-1] if self.decisions else None

    def person(self, name: str) -> PersonView | None:
        return next((p for p in self.people if p.name == name), None)

    def service(self, name: str) -> ServiceView | None:
        return self._services_by_name.get(name)

    @cached_property
    def _services_by_name(self) -> dict[str, ServiceView]:
        # Asked for every service of every pane: a scan each time was
        # quadratic (0.14 s of a 1,000-service first frame).
        return {s.name: s for s in self.services}

    @cached_property
    def _triggers_by_service(self) -> dict[str, tuple[TriggerView, ...]]:
        found: dict[str, list[TriggerView]] = {}
        for trigger in self.triggers:
            found.setdefault(trigger.service, []).append(trigger)
        return {service: tuple(triggers) for service, triggers in found.items()}

    def triggers_on(self, service: str) -> tuple[TriggerView, ...]:
        """Every trigger rule's state on `service`, in the snapshot's order."""
        return self._triggers_by_service.get(service, ())

    def item(self, key: str) -> ItemView | None:
        for item in self.all_items:
            if item.key == key:
                return item
        return None

    @property
    def all_items(self) -> tuple[ItemView, ...]:
        items = list(self.go_no_go)
        for team_items in self.readiness.values():
            items.extend(team_items)
        return tuple(items)

    @property
    def states(self) -> dict[str, DeployState]:
        return {s.name: s.state for s in self.services}

    @cached_property
    def graph(self) -> Graph:
        from warroom.domain import graph as g

        return g.build_graph(
            [s.name for s in self.services], {s.name: s.depends_on for s in self.services}
        )

    def team_open_items(self, team: str) -> tuple[ItemView, ...]:
        return tuple(item for item in self.readiness.get(team, ()) if not item.done)

    def team_ready(self, team: str) -> bool:
        return not self.team_open_items(team)

    @property
    def teams(self) -> list[str]:
        """Teams with services or readiness items, in plan order."""
        seen: dict[str, None] = {}
        for service in self.services:
            seen.setdefault(service.team, None)
        for team in self.readiness:
            seen.setdefault(team, None)
        return list(seen)

    # Waves and orders come from what was derived at load time, so reading a
    # release (e.g. `warroom status`) needs no graph library at all.

    @property
    def waves(self) -> list[list[str]]:
        by_wave: dict[int, list[str]] = {}
        for service in self.services:
            by_wave.setdefault(service.wave, []).append(service.name)
        return [by_wave[number] for number in sorted(by_wave)]

    @property
    def deploy_order(self) -> list[str]:
        return [name for wave in self.waves for name in wave]

    @property
    def rollback_order(self) -> list[str]:
        return list(reversed(self.deploy_order))

    @property
    def scope(self) -> list[str]:
        """Services the decision in force lets deploy (none before GO/PARTIAL)."""
        decision = self.decision
        if decision is None:
            return []
        return [s.name for s in self.services if decision.allows(s.name)]

    def startable(self) -> list[str]:
        """Waiting services in scope whose dependencies are all done and that
        nothing holds (the window and freezes, which depend on the clock, aside)."""
        states = self.states
        allowed = set(self.scope)
        held = self.holds
        return [
            s.name
            for s in self.services
            if s.name in allowed
            and s.state is DeployState.WAITING
            and s.name not in held
            and all(states.get(dep) is DeployState.DONE for dep in s.depends_on)
        ]

    # ---------------------------------------------------------------- gates

    @cached_property
    def holds(self) -> dict[str, gates.Hold]:
        """The held services and what holds each (domain/gates.py: the start gate's own rule)."""
        found = gates.causes(
            self.states,
            {s.name: s.state_since for s in self.services},
            (
                gates.TriggerFact(t.id, t.service, t.state, t.since, dry_run=t.dry_run)
                for t in self.triggers
            ),
        )
        if not found:
            return {}
        return gates.holds(self.graph, self.states, found, self.hold_releases)

    @property
    def window(self) -> gates.Period:
        return gates.Period(self.release.window_start, self.release.window_end)

    def active_overrides(self, now: datetime) -> list[gates.Override]:
        """The overrides in force at `now`, oldest first."""
        return [o for o in self.overrides if o.active(now)]

    def decision_refusal(
        self, kind: DecisionKind, subset: tuple[str, ...], rationale: str
    ) -> str | None:
        """The command layer's decision gate, evaluated on this snapshot (for
        dialogs that want to say "no" before sending)."""
        from warroom.domain import graph as g
        from warroom.domain.lifecycle import decision_refusal

        return decision_refusal(
            kind,
            subset,
            rationale,
            services=[s.name for s in self.services],
            missing_dependencies=g.missing_dependencies(self.graph, subset),
            open_go_no_go=[f"{i.key} {i.text}" for i in self.go_no_go if not i.done],
            blocked_teams={
                team: [i.key for i in self.team_open_items(team)]
                for team in self.teams
                if not self.team_ready(team)
            },
            service_teams={s.name: s.team for s in self.services},
            started=[s.name for s in self.services if s.state is not DeployState.WAITING],
        )

    def health_state(self, service: str, now: datetime) -> str:
        """The service's health at `now`: fresh, failing or stale by its newest
        sample; in a replay (`recorded`), what the record says it was."""
        view = self.service(service)
        if view is not None and self.recorded:
            return view.health
        if view is None or view.health_interval is None:
            return "unknown"
        polled = self.poller is not None and self.poller.alive(now)
        return health_state(self.latest.get(service), view.health_interval, now, polled)

    def firing(self, service: str) -> list[TriggerView]:
        """Triggers currently firing on `service` (acknowledged or not; dry runs are not)."""
        return [t for t in self.triggers_on(service) if t.alarm]

    def gating(self, service: str) -> list[TriggerView]:
        """The triggers on `service` that hold back everything depending on it
        (see TriggerView.gates)."""
        return [t for t in self.triggers_on(service) if t.gates]

    def trigger(self, trigger_id: str) -> TriggerView | None:
        return next((t for t in self.triggers if t.id == trigger_id), None)
