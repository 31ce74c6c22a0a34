"""The transaction every command runs in.

A command opens a `Tx`: one write transaction that already holds the write
lock (and the audit-chain head), knows who is acting and when, and offers the
two things every change must leave behind — a line in the communication log
where people want one, and an audit event. If anything raises, nothing of it
is written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, final

from sqlmodel import Session, col, select

from warroom.clock import Clock
from warroom.domain.roles import SYSTEM_NAME, Action, Actor, Role, refusal
from warroom.store import audit
from warroom.store import models as m
from warroom.store.auditkey import AuditKeys
from warroom.store.engine import Store
from warroom.store.feed import record_change
from warroom.store.queries import current_release

if TYPE_CHECKING:
    import networkx as nx


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


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else "(none)"


_TOPIC: dict[type, str] = {
    m.Service: "services",
    m.ChecklistItem: "checklist",
    m.TriggerState: "triggers",
}


@dataclass
class Tx:
    session: Session
    release: m.Release
    actor: Actor
    now: datetime
    keys: AuditKeys  # the key that seals this database's audit chain
    # True only when opened with SYSTEM_ACTOR: the machinery may do anything.
    system: bool = False
    # What this transaction changed, for the change feed (panes reload by topic).
    topics: set[str] = field(default_factory=set)

    @property
    def release_id(self) -> int:
        assert self.release.id is not None
        return self.release.id

    # ---------------------------------------------------------------- checks

    def require(self, action: Action, team: str | None = None, subject: str | None = None) -> None:
        if self.system:
            return
        reason = refusal(self.actor, action, team, subject)
        if reason is not None:
            raise CommandError(reason)

    def service(self, name: str) -> m.Service:
        row = self.session.exec(
            select(m.Service).where(m.Service.release_id == self.release_id, m.Service.name == name)
        ).first()
        if row is None:
            names = list(
                self.session.exec(
                    select(m.Service.name)
                    .where(m.Service.release_id == self.release_id)
                    .order_by(m.Service.position)  # type: ignore[arg-type]
                ).all()
            )
            raise CommandError(f"unknown service {name!r}; services are: {_listing(names)}")
        return row

    def services(self) -> list[m.Service]:
        return list(
            self.session.exec(
                select(m.Service)
                .where(m.Service.release_id == self.release_id)
                .order_by(m.Service.position)  # type: ignore[arg-type]
            ).all()
        )

    def dependency_names(self, service: m.Service) -> list[str]:
        rows = self.session.exec(
            select(m.Service)
            .join(m.Dependency, m.Dependency.depends_on_id == m.Service.id)  # type: ignore[arg-type]
            .where(m.Dependency.service_id == service.id)
        ).all()
        return [row.name for row in sorted(rows, key=lambda r: r.position)]

    def graph(self) -> tuple[nx.DiGraph[str], dict[str, m.Service]]:
        """The release's dependency graph and its service rows, by name."""
        # Imported here: networkx costs ~80 ms, and most commands never need it.
        from warroom.domain import graph as g

        rows = self.services()
        by_id = {row.id: row for row in rows}
        deps: dict[str, list[str]] = {row.name: [] for row in rows}
        for dep in self.session.exec(
            select(m.Dependency).where(col(m.Dependency.service_id).in_(list(by_id)))
        ).all():
            deps[by_id[dep.service_id].name].append(by_id[dep.depends_on_id].name)
        return g.build_graph([row.name for row in rows], deps), {row.name: row for row in rows}

    def steps(self, service: m.Service) -> list[m.RunbookStep]:
        return list(
            self.session.exec(
                select(m.RunbookStep)
                .where(m.RunbookStep.service_id == service.id)
                .order_by(m.RunbookStep.position)  # type: ignore[arg-type]
            ).all()
        )

    def check_version(self, what: str, row_version: int, expected: int | None, now_is: str) -> None:
        """Optimistic concurrency: refuse if the row moved since the caller looked."""
        if expected is not None and expected != row_version:
            raise CommandError(
                f"{what} changed while you were looking: it is now {now_is}; nothing was done"
            )

    # ---------------------------------------------------------------- effects

    def touch(self, row: m.Service | m.ChecklistItem | m.TriggerState) -> None:
        row.row_version += 1
        self.session.add(row)
        self.topics.add(_TOPIC[type(row)])

    def system_line(self, text: str, service: str | None = None) -> None:
        self.topics.add("log")
        self.session.add(
            m.LogEntry(
                release_id=self.release_id,
                at=self.now,
                kind="system",
                author=self.actor.name,
                team=self.actor.team,
                service=service,
                text=text,
            )
        )

    def message(self, text: str) -> None:
        self.topics.add("log")
        self.session.add(
            m.LogEntry(
                release_id=self.release_id,
                at=self.now,
                kind="message",
                author=self.actor.name,
                team=self.actor.team,
                text=text,
            )
        )

    def audit(self, action: str, payload: Mapping[str, Any]) -> None:
        audit.append(
            self.session,
            self.keys,
            at=self.now,
            actor=self.actor.name,
            action=action,
            release_id=self.release_id,
            payload={"release": self.release.name, **payload},
        )


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
        audit.lock_head(session)  # compiles the statement; SQLite has no row locks to take
        release = current_release(session, release_name)
        if release is not None and isinstance(who, str):
            with contextlib.suppress(CommandError):
                resolve_actor(session, release, who)
    store.rehearsed = True


@contextmanager
def open_tx(
    store: Store, clock: Clock, who: str | SystemActor, release_name: str | None
) -> Iterator[Tx]:
    """A write transaction acting as person `who`, or as the system with `SYSTEM_ACTOR`."""
    if store.backend == "sqlite" and not store.rehearsed:
        _rehearse(store, who, release_name)
    with store.write() as session:
        # Lock the chain head before reading anything: on PostgreSQL this is
        # what makes concurrent commands queue up instead of racing.
        audit.lock_head(session)
        release = current_release(session, release_name)
        if release is None:
            if release_name:
                raise CommandError(f"release {release_name!r} is not loaded in this database")
            raise CommandError(
                f"no release is loaded in this database; load one with: {store.load_hint()}"
            )
        if isinstance(who, SystemActor):
            actor, system = Actor(SYSTEM_NAME, Role.RELEASE_MANAGER, None), True
        else:
            actor, system = resolve_actor(session, release, who), False
        tx = Tx(session, release, actor, clock.now(), store.audit_keys, system=system)
        yield tx
        if tx.topics:
            record_change(session, release.id, tx.now, tx.topics)


def resolve_actor(session: Session, release: m.Release, name: str) -> Actor:
    """The person called `name` in `release`; never the system, even if a plan names it."""
    person = None
    if name != SYSTEM_NAME:
        person = session.exec(
            select(m.Person).where(m.Person.release_id == release.id, m.Person.name == name)
        ).first()
    if person is None:
        names = [
            n
            for n in session.exec(
                select(m.Person.name).where(m.Person.release_id == release.id)
            ).all()
            if n != SYSTEM_NAME
        ]
        what = (
            "is the name warroom's own machinery acts under, not a person"
            if name == SYSTEM_NAME
            else f"is not a person in release {release.name}"
        )
        raise CommandError(
            f"{name!r} {what}; act as one of {_listing(names)} (--as NAME or $WARROOM_USER)"
        )
    return Actor(person.name, person.role, person.team)
