"""The transaction every command runs in.

`execute` runs every command's handler in a `Tx`: one write transaction
that already holds the write lock (and the audit-chain head), knows who is
acting and when, reads and writes through its repository (`tx.repo`, see
store/repo.py), and offers what every change must leave behind — a line in
the communication log where people want one, and an audit event. If
anything raises, nothing of it is written.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, final

from warroom.clock import Clock
from warroom.domain import notify as nt
from warroom.domain import record
from warroom.domain.roles import SYSTEM_NAME, Action, Actor, Role, refusal
from warroom.store import models as m
from warroom.store.auditkey import AuditKeys
from warroom.store.engine import Store
from warroom.store.queries import hold_release_of, override_of
from warroom.store.repo import Repo

if TYPE_CHECKING:
    from warroom.domain.graph import Graph


class CommandError(Exception):
    """A refused command. The message is one sentence for people; nothing was written."""


@final
class SystemActor:
    """warroom's own machinery acting on its own authority (the poller, the SSH front door).

    Not a person and not a name: the system's powers go with this object,
    which only code running inside warroom holds. A string — from --as,
    $WARROOM_USER, a plan or an SSH user name — is always looked up as a
    person, and the system's name (`SYSTEM_NAME`) is refused as one.
    """

    __slots__ = ()
    name: Final = SYSTEM_NAME

    def __repr__(self) -> str:
        return "SYSTEM_ACTOR"


SYSTEM_ACTOR: Final = SystemActor()


Row = m.Service | m.ChecklistItem | m.TriggerState  # the rows a command changes in place


def _name(row: m.Service | m.TriggerState) -> str:
    return row.name if isinstance(row, m.Service) else f"{row.rule}@{row.service}"


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else "(none)"


_TOPIC: dict[type, str] = {
    m.Service: "services",
    m.ChecklistItem: "checklist",
    m.TriggerState: "triggers",
}


@dataclass
class Tx:
    """The unit of work a handler runs in; `repo` holds every read and write it needs."""

    repo: Repo
    actor: Actor
    now: datetime
    keys: AuditKeys  # the key that seals this database's audit chain
    # True only when opened with SYSTEM_ACTOR: the machinery may do anything.
    system: bool = False
    # What this transaction changed, for the change feed (panes reload by topic).
    topics: set[str] = field(default_factory=set)
    # What the handler found out, for the command's audit event (`note`).
    facts: dict[str, Any] = field(default_factory=dict)
    # The command found its effect already in place: no audit event for it.
    unchanged: bool = False
    # What changed since the last audit event, which records how it was
    # left (domain/record.py): rows by topic and key, health by service,
    # and the newest log line.
    _changed: dict[tuple[str, str], Row] = field(default_factory=dict)
    _health: dict[str, record.Image] = field(default_factory=dict)
    _created: list[m.GateOverride | m.HoldRelease] = field(default_factory=list)
    _logged: m.LogEntry | None = None
    _on_trial: frozenset[str] | None = None  # the dry-run rules, read once if needed
    _destinations: list[nt.Destination] | None = None  # where notifications go, read once

    @property
    def release(self) -> m.Release:
        assert self.repo.release is not None, "this command runs with no release loaded"
        return self.repo.release

    # ---------------------------------------------------------------- checks

    def require(self, action: Action, team: str | None = None, subject: str | None = None) -> None:
        if self.system:
            return
        reason = refusal(self.actor, action, team, subject)
        if reason is not None:
            raise CommandError(reason)

    def service(self, name: str) -> m.Service:
        """The service called `name`; refused with the list of services if there is none."""
        row = self.repo.service(name)
        if row is None:
            names = self.repo.service_names()
            raise CommandError(f"unknown service {name!r}; services are: {_listing(names)}")
        return row

    def graph(self) -> tuple[Graph, dict[str, m.Service]]:
        """The release's dependency graph and its service rows, by name."""
        from warroom.domain import graph as g

        rows = self.repo.services()
        return g.build_graph([row.name for row in rows], self.repo.edges(rows)), {
            row.name: row for row in rows
        }

    def check_version(self, what: str, row_version: int, expected: int | None, now_is: str) -> None:
        """Optimistic concurrency: refuse if the row moved since the caller looked."""
        if expected is not None and expected != row_version:
            raise CommandError(
                f"{what} changed while you were looking: it is now {now_is}; nothing was done"
            )

    # ---------------------------------------------------------------- effects

    def touch(self, row: Row) -> None:
        row.row_version += 1
        self.repo.add(row)
        topic = _TOPIC[type(row)]
        self.topics.add(topic)
        key = row.key if isinstance(row, m.ChecklistItem) else _name(row)
        self._changed[topic, key] = row

    def created(self, row: m.GateOverride | m.HoldRelease) -> None:
        """`row` (an override or a hold release, added to the repo) is new: the
        room re-reads its gates, and the next audit event records it whole."""
        self.topics.add("gates")
        self._created.append(row)

    def health_changed(self, service: str, image: record.Image) -> None:
        """`service`'s health turned (passing ↔ failing): the next audit event records it."""
        self._health[service] = image

    def system_line(self, text: str, service: str | None = None) -> None:
        self._log("system", text, service)

    def message(self, text: str) -> None:
        self._log("message", text)

    def _log(self, kind: str, text: str, service: str | None = None) -> None:
        """A line in the communication log, by the actor: "system" (what happened) or a "message"."""
        self.topics.add("log")
        self._logged = m.LogEntry(
            release_id=self.repo.release_id,
            at=self.now,
            kind=kind,
            author=self.actor.name,
            team=self.actor.team,
            service=service,
            text=text,
        )
        self.repo.add(self._logged)

    def note(self, **facts: Any) -> None:
        """Facts for the command's audit event, beside its name and fields (what it did)."""
        self.facts.update(facts)

    def nothing_changed(self) -> None:
        """The command's effect was already in place (the same plan loaded twice):
        it succeeds, and leaves no audit event, as if it had not been asked."""
        self.unchanged = True

    def audit(self, action: str, payload: Mapping[str, Any]) -> None:
        """An audit event of the handler's own (execute writes the command's),
        with how this transaction left what it changed since the last one."""
        after = self._after()
        full = {"release": self.release.name, **payload, **({"after": after} if after else {})}
        self.repo.append_audit(
            self.keys, at=self.now, actor=self.actor.name, action=action, payload=full
        )
        if action != record.LOAD:
            self._announce(action, full)

    def _announce(self, action: str, payload: Mapping[str, Any]) -> None:
        """Write what this event tells people outside the room to the outbox,
        in this transaction (domain/notify.py decides what and says it):
        the message exists exactly if the change does, and nobody waits for it."""
        if self._destinations is None:
            self._destinations = self.repo.destinations()
        if not self._destinations:
            return
        names: list[str] = []
        if action == "message":
            names = self.repo.person_names() + self.repo.team_names()
        found = nt.happenings(action, payload, self.actor.name, self.now, names=names)
        settled = {
            name
            for name, image in payload.get("after", {}).get("services", {}).items()
            if image.get("state") in {"done", "rolled_back"}
        }
        if settled:
            decision = self.repo.decision()
            states = {row.name: row.state.value for row in self.repo.services()}
            if decision is None or decision.kind.value == "NO-GO":
                allowed: list[str] = []
            elif decision.subset:
                allowed = list(decision.subset)
            else:
                allowed = list(states)
            if nt.release_done(allowed, states, settled_now=True):
                found.append(nt.done_happening(self.release.name, states, self.now))
        if found:
            self.enqueue(found)

    def enqueue(self, happenings: list[nt.Happening], only: str | None = None) -> int:
        """Put `happenings` in the outbox for every destination that wants
        them (`only`: that destination alone); how many messages that made."""
        if self._destinations is None:
            self._destinations = self.repo.destinations()
        room = self.repo.room()
        count = 0
        for happening in happenings:
            for destination in self._destinations:
                if only is not None and destination.name != only:
                    continue
                if not destination.wants(happening.event):
                    continue
                # The idempotency key: sent with every try at this message,
                # so a receiver can tell a resend from a new message.
                key = uuid.uuid4().hex
                body = json.dumps(nt.render(destination.kind, happening, room, key))
                self.repo.enqueue(destination.name, happening.event.value, key, body, self.now)
                count += 1
        if count:
            self.topics.add("notify")
        return count

    def _dry_runs(self) -> frozenset[str]:
        """The names of the release's dry-run rules (their images say so)."""
        if self._on_trial is None:
            rules = self.repo.trigger_rules()
            self._on_trial = frozenset(name for name, rule in rules.items() if rule.dry_run)
        return self._on_trial

    def _after(self) -> dict[str, Any]:
        """The images of what changed since the last audit event (domain/record.py)."""
        after: dict[str, Any] = {}
        for row in self._changed.values():
            if isinstance(row, m.Service):
                steps = [(step.done_at, step.done_by) for step in self.repo.steps(row)]
                image = record.service_image(
                    row.state, row.state_since, row.state_by, row.row_version, steps
                )
                after.setdefault("services", {})[row.name] = image
            elif isinstance(row, m.ChecklistItem):
                image = record.item_image(row.done_at, row.done_by, row.row_version)
                after.setdefault("items", {})[row.key] = image
            else:
                image = record.trigger_image(
                    row.state,
                    row.holding,
                    row.since,
                    row.fired_at,
                    row.acked_by,
                    row.acked_at,
                    row.raised_by,
                    row.detail,
                    row.row_version,
                    row.baseline,
                    dry_run=row.rule in self._dry_runs(),
                )
                after.setdefault("triggers", {})[_name(row)] = image
        if self._health:
            after["health"] = dict(self._health)
        if self._created or self._logged is not None:
            self.repo.flush()  # the new rows' ids
        for new in self._created:
            if isinstance(new, m.GateOverride):
                overrides = after.setdefault("overrides", {})
                overrides[str(new.id)] = record.override_image(override_of(new))
            else:
                releases = after.setdefault("hold_releases", {})
                releases[str(new.id)] = record.hold_release_image(hold_release_of(new))
        if self._logged is not None:
            after["log"] = self._logged.id
        self._changed.clear()
        self._health.clear()
        self._created.clear()
        self._logged = None
        return after


def _rehearse(store: Store, who: str | SystemActor, release_name: str | None) -> None:
    """Run open_tx's reads once in a read transaction, before taking the write lock.

    A fresh process (every CLI command) pays for mapper configuration, SQL
    compilation and lazy imports the first time it runs each query; done
    inside `BEGIN IMMEDIATE` that cost (~45 ms cold, far more on a busy
    machine) is time every other writer waits. Here it is paid under a WAL
    read, which blocks nobody; the write transaction then finds it all
    cached. Refusals found here (unknown person or release) are raised again
    inside the transaction, which stays the authority.
    """
    with store.read() as session:
        repo = Repo(session)
        repo.lock_head()  # compiles the statement; SQLite has no row locks to take
        repo.release = repo.find_release(release_name)
        if repo.release is not None:
            # Every audited command asks (the notification outbox), and with
            # destinations, what a message may mention and how to join.
            if repo.destinations():
                repo.person_names(), repo.team_names(), repo.room()
            if isinstance(who, str):
                with contextlib.suppress(CommandError):
                    resolve_actor(repo, who)
    # The key that seals the audit event: where it lives (from the settings)
    # and its file, ~1 ms cold, read here rather than under the lock.
    store.audit_keys.for_reading()
    store.rehearsed = True


@contextmanager
def open_tx(
    store: Store,
    clock: Clock,
    who: str | SystemActor,
    release_name: str | None,
    *,
    needs_release: bool = True,
) -> Iterator[Tx]:
    """A write transaction acting as person `who`, or as the system with `SYSTEM_ACTOR`.

    With `needs_release` False (loading a plan) the database may hold no
    release yet: the schema is made if missing, `tx.repo.release` starts as
    None, and a person's name is not looked up anywhere — it stands for
    someone with no powers, whom the handler checks against what it loads.
    """
    if not needs_release:
        # Here, not at the top: Alembic is only imported when a migration runs.
        from warroom.store.migrate import ensure_schema

        ensure_schema(store)
    elif store.backend == "sqlite" and not store.rehearsed:
        _rehearse(store, who, release_name)
    with store.write() as session:
        repo = Repo(session)
        # Lock the chain head before reading anything: on PostgreSQL this is
        # what makes concurrent commands queue up instead of racing.
        repo.lock_head()
        if needs_release:
            repo.release = repo.find_release(release_name)
            if repo.release is None:
                if release_name:
                    raise CommandError(f"release {release_name!r} is not loaded in this database")
                raise CommandError(
                    f"no release is loaded in this database; load one with: {store.load_hint()}"
                )
        if isinstance(who, SystemActor):
            actor, system = Actor(SYSTEM_NAME, Role.RELEASE_MANAGER, None), True
        elif needs_release:
            actor, system = resolve_actor(repo, who), False
        else:  # no release to look the name up in (see above)
            actor, system = Actor(who, Role.OBSERVER, None), False
        tx = Tx(repo, actor, clock.now(), store.audit_keys, system=system)
        yield tx
        if tx.topics:
            repo.record_change(tx.now, tx.topics)


def resolve_actor(repo: Repo, name: str) -> Actor:
    """The person called `name` in the repo's release; never the system, even if a plan names it."""
    assert repo.release is not None
    person = repo.person(name) if name != SYSTEM_NAME else None
    if person is None:
        names = [n for n in repo.person_names() if n != SYSTEM_NAME]
        what = (
            "is the name warroom's own machinery acts under, not a person"
            if name == SYSTEM_NAME
            else f"is not a person in release {repo.release.name}"
        )
        raise CommandError(
            f"{name!r} {what}; act as one of {_listing(names)} (--as NAME or $WARROOM_USER)"
        )
    return Actor(person.name, person.role, person.team)
