"""One pass over a release's record, keeping what the report measures.

`Fold(history).run(history.events)` walks the audit events in chain order and
keeps, from the images each carries (domain/record.py): every service's state
changes and the time spent in each state, the checklists' completion, each
trigger's episodes (pending, fired, acknowledged, ended), the health turns,
and the rollbacks grouped by what caused them. domain/report.py turns what it
kept into the report. Pure, and linear in the number of events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from warroom.domain import graph as g
from warroom.domain.lifecycle import DeployState
from warroom.domain.record import Event, History
from warroom.domain.triggers import Phase


def time_of(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@dataclass
class Track:
    """What the fold keeps of one service as it goes."""

    state: DeployState
    since: datetime
    started_at: datetime | None = None
    started_by: str | None = None
    finished_at: datetime | None = None
    failed_at: datetime | None = None
    failed_reason: str | None = None
    times: dict[DeployState, timedelta] = field(default_factory=dict)

    def leave(self, until: datetime) -> None:
        if self.state not in {DeployState.WAITING}:
            spent = max(until - self.since, timedelta())
            self.times[self.state] = self.times.get(self.state, timedelta()) + spent


@dataclass
class Episode:
    """One trigger from going pending (or being raised) until it resolved or cleared."""

    rule: str
    service: str
    raised_by: str | None = None
    reason: str | None = None
    pending_at: datetime | None = None
    since: datetime | None = None
    fired_at: datetime | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    ended_at: datetime | None = None
    ended: str = "pending"

    def take(self, image: Mapping[str, Any]) -> None:
        """What an image of the trigger adds: its start, firing, acknowledgement."""
        since = time_of(image.get("since"))
        if self.fired_at is None and since is not None:
            self.since = since  # the streak that fired (or is pending now)
        fired = time_of(image.get("fired_at"))
        if self.fired_at is None and fired is not None:
            self.fired_at = fired
            self.ended = "firing"
        if image.get("acked_by"):
            self.acked_by = image["acked_by"]
            self.acked_at = time_of(image.get("acked_at"))
        if image.get("raised_by"):
            self.raised_by = image["raised_by"]
            self.reason = image.get("detail")


@dataclass
class Group:
    """A rollback: the services rolled back for one cause, around one root."""

    service: str
    cause: str | None
    trouble: str
    trouble_at: datetime
    subgraph: tuple[str, ...]
    plan: tuple[str, ...]
    ordered: list[str] = field(default_factory=list)


@dataclass
class Order:
    """One service's rollback: ordered, and (once) rolled back."""

    ordered_at: datetime
    ordered_by: str
    reason: str
    rolled_back_at: datetime | None = None
    rolled_back_by: str | None = None


class Fold:
    """One pass over the events, keeping what the report measures."""

    def __init__(self, history: History) -> None:
        base = history.base
        loaded = base.release.loaded_at
        self.graph = base.graph
        self.services = {s.name: Track(DeployState.WAITING, loaded) for s in base.services}
        self.items: dict[str, bool] = {i.key: False for i in base.all_items}
        self.team_of = {i.key: i.team for i in base.all_items}
        self.open_items: dict[str | None, int] = {}
        for item in base.all_items:
            self.open_items[item.team] = self.open_items.get(item.team, 0) + 1
        self.ready_at: dict[str | None, datetime | None] = {
            team: (loaded if count == 0 else None) for team, count in self.open_items.items()
        }
        self.triggers: dict[str, Mapping[str, Any]] = {}
        self.open_episodes: dict[str, Episode] = {}
        self.episodes: list[Episode] = []
        self.health: dict[str, list[tuple[datetime, bool]]] = {}
        self.rollbacks: list[Group] = []
        self.orders: dict[str, Order] = {}

    def run(self, events: Sequence[Event]) -> None:
        for event in events:
            after = event.after
            if not after:
                continue
            services = after.get("services")
            if services:
                for name, image in services.items():
                    self._service(event, name, image)
            items = after.get("items")
            if items:
                for key, image in items.items():
                    self._item(event, key, image)
            triggers = after.get("triggers")
            if triggers:
                for tid, image in triggers.items():
                    self._trigger(event, tid, image)
            health = after.get("health")
            if health:
                for name, image in health.items():
                    at = time_of(image.get("at")) or event.at
                    self.health.setdefault(name, []).append((at, bool(image.get("ok"))))

    # services

    def _service(self, event: Event, name: str, image: Mapping[str, Any]) -> None:
        service = self.services.get(name)
        if service is None:
            return
        state = DeployState(image["state"])
        if state is service.state:
            return
        at = time_of(image.get("since")) or event.at
        who = image.get("by") or event.actor
        before = service.state
        service.leave(at)
        service.state, service.since = state, at
        if before is DeployState.WAITING:
            service.started_at, service.started_by = at, who
        if state is DeployState.WAITING:
            service.started_at = service.started_by = None
        elif state is DeployState.DONE:
            service.finished_at = at
        elif state is DeployState.FAILED:
            service.failed_at = at
            service.failed_reason = text_of(event.payload.get("reason"))
        elif state is DeployState.ROLLING_BACK:
            self._ordered(name, before, at, event)
        elif state is DeployState.ROLLED_BACK:
            order = self.orders.get(name)
            if order is not None:
                order.rolled_back_at, order.rolled_back_by = at, who

    def _ordered(self, name: str, before: DeployState, at: datetime, event: Event) -> None:
        self.orders[name] = Order(at, event.actor, text_of(event.payload.get("reason")) or "")
        cause = self._cause(name)
        rollback = None
        if cause is not None:
            rollback = next((r for r in self.rollbacks if r.cause == cause[0]), None)
        else:
            # A service its rollback's plan still had to undo (the trigger may
            # have resolved half way through the plan).
            rollback = next(
                (r for r in self.rollbacks if name in r.plan and name not in r.ordered), None
            )
        if rollback is None:
            root = cause[1] if cause else name
            states = {n: s.state for n, s in self.services.items()}
            states[name] = before
            failed_at = self.services[name].failed_at
            if cause:
                trouble, trouble_at = f"{cause[0]} fired", cause[2]
            elif before is DeployState.FAILED and failed_at is not None:
                trouble, trouble_at = f"{name} failed", failed_at
            else:
                trouble, trouble_at = "the rollback was ordered", at
            affected = {root, *g.blast_radius(self.graph, root)}
            rollback = Group(
                root,
                cause[0] if cause else None,
                trouble,
                trouble_at,
                tuple(n for n in g.rollback_order(self.graph) if n in affected),
                tuple(g.rollback_plan(self.graph, root, states)),
            )
            self.rollbacks.append(rollback)
        rollback.ordered.append(name)

    def _cause(self, name: str) -> tuple[str, str, datetime] | None:
        """The trigger firing on `name` or on a service it depends on (its own
        first, then the earliest fired): (id, its service, fired at)."""
        firing: list[tuple[bool, datetime, str, str]] = []
        for tid, image in self.triggers.items():
            fired = time_of(image.get("fired_at"))
            if image.get("state") != Phase.FIRING or fired is None:
                continue
            service = tid.partition("@")[2]
            if service == name or (
                service in self.graph and name in g.blast_radius(self.graph, service)
            ):
                firing.append((service != name, fired, tid, service))
        if not firing:
            return None
        _, fired, tid, service = min(firing)
        return tid, service, fired

    # checklists

    def _item(self, event: Event, key: str, image: Mapping[str, Any]) -> None:
        if key not in self.items:
            return
        done = image.get("done_at") is not None
        if done is self.items[key]:
            return
        self.items[key] = done
        team = self.team_of[key]
        self.open_items[team] += -1 if done else 1
        self.ready_at[team] = event.at if self.open_items[team] == 0 else None

    # triggers

    def _trigger(self, event: Event, tid: str, image: Mapping[str, Any]) -> None:
        if image.get("dry_run"):
            return  # a rule on trial: recorded, but not part of what happened
        self.triggers[tid] = image
        state = image.get("state")
        episode = self.open_episodes.get(tid)
        fired = time_of(image.get("fired_at"))
        if (
            episode is not None
            and episode.fired_at is not None
            and fired is not None
            and fired != episode.fired_at
        ):
            # Fired again without our seeing it end: a new episode.
            self._end(tid, episode, fired, "resolved")
            episode = None
        if state in {Phase.PENDING, Phase.FIRING, Phase.INCONCLUSIVE}:
            if episode is None:
                rule, _, service = tid.partition("@")
                episode = Episode(rule, service)
                if state == Phase.PENDING:
                    episode.pending_at = event.at
                self.open_episodes[tid] = episode
                self.episodes.append(episode)
            episode.take(image)
            if state == Phase.INCONCLUSIVE and episode.fired_at is None:
                episode.ended = "inconclusive"  # asking the release manager
        elif episode is not None:
            episode.take(image)
            if episode.fired_at is not None:
                ended = "resolved"
            elif episode.ended == "inconclusive":
                ended = "carried on"  # the release manager's answer (rolling back fires it)
            else:
                ended = "cleared before firing"
            self._end(tid, episode, event.at, ended)

    def _end(self, tid: str, episode: Episode, at: datetime, how: str) -> None:
        episode.ended_at, episode.ended = at, how
        del self.open_episodes[tid]

    # health

    def healthy_at(self, name: str, rolled_back: datetime) -> tuple[datetime | None, bool]:
        """When `name`'s health passed at or after `rolled_back`, and whether any was recorded."""
        turns = self.health.get(name)
        if not turns:
            return rolled_back, False
        passing = False
        for at, ok in turns:
            if at <= rolled_back:
                passing = ok
            elif ok and not passing:
                return at, True
            else:
                passing = ok
        return (rolled_back if passing else None), True


def text_of(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
