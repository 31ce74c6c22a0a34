"""Who came in and who was turned away: access events for the audit log.

The SSH front door calls these; they change no release state, so they write
no log line, but they run through `execute` like every other command so they
land in the same hash chain, in order, and are refused the same way when no
release is loaded. They signal a "presence" change, so every room sees who
came and went without waiting for the next heartbeat. The front door acts
as `SYSTEM_ACTOR` (an in-process object, not a name anyone can claim): it is
what vouches for the identity, and the person concerned is named in the payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from warroom.clock import Clock
from warroom.commands.defs import Command
from warroom.commands.execute import execute
from warroom.commands.handlers import handles
from warroom.commands.tx import SYSTEM_ACTOR, Tx
from warroom.store.engine import Store

SSH_CONNECT = "ssh.connect"
SSH_DISCONNECT = "ssh.disconnect"
SSH_REFUSED = "ssh.refused"


@dataclass(frozen=True)
class Peer:
    """Where a connection came from and what it offered."""

    address: str
    port: int
    user: str  # the SSH user name the client asked for
    fingerprints: tuple[str, ...] = ()  # keys offered, SHA256:... as ssh-keygen -l prints them

    def as_payload(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "port": self.port,
            "user": self.user,
            "fingerprints": list(self.fingerprints),
        }


@dataclass(frozen=True)
class _Connection(Command[None]):
    """A connection that was let in: who, from where, with which key, and its id."""

    person: str
    peer: Peer
    fingerprint: str
    connection: str

    def facts(self) -> dict[str, Any]:
        return {
            "person": self.person,
            **self.peer.as_payload(),
            "fingerprint": self.fingerprint,
            "connection": self.connection,
        }


@dataclass(frozen=True)
class SshConnected(_Connection):
    """`person` was let in (`connection` is an id that the disconnect event repeats)."""

    AUDIT: ClassVar[str] = SSH_CONNECT


@dataclass(frozen=True)
class SshDisconnected(_Connection):
    AUDIT: ClassVar[str] = SSH_DISCONNECT
    seconds: float
    sessions: int
    why: str

    def facts(self) -> dict[str, Any]:
        return {
            **super().facts(),
            "seconds": round(self.seconds, 1),
            "sessions": self.sessions,
            "why": self.why,
        }


@dataclass(frozen=True)
class SshRefused(Command[None]):
    """A connection turned away; `person` when the key was known but not allowed."""

    AUDIT: ClassVar[str] = SSH_REFUSED
    peer: Peer
    reason: str
    person: str | None = None

    def facts(self) -> dict[str, Any]:
        payload: dict[str, Any] = {**self.peer.as_payload(), "reason": self.reason}
        if self.person is not None:
            payload["person"] = self.person
        return payload


AccessCommand = SshConnected | SshDisconnected | SshRefused


def record_access(tx: Tx, command: AccessCommand) -> None:
    # The event's payload keeps the flat shape readers of ssh.* events know.
    tx.note(**command.facts())
    tx.topics.add("presence")


handles(SshConnected)(record_access)
handles(SshDisconnected)(record_access)
handles(SshRefused)(record_access)


@dataclass(frozen=True)
class AccessEvents:
    """Audit access events on one store, as the system actor."""

    store: Store
    clock: Clock
    release: str | None = None

    def _run(self, command: AccessCommand) -> None:
        execute(self.store, self.clock, command, SYSTEM_ACTOR, self.release)

    def connected(self, person: str, peer: Peer, fingerprint: str, connection: str) -> None:
        """`person` was let in (`connection` is an id that the disconnect event repeats)."""
        self._run(SshConnected(person, peer, fingerprint, connection))

    def disconnected(
        self,
        person: str,
        peer: Peer,
        fingerprint: str,
        connection: str,
        *,
        seconds: float,
        sessions: int,
        why: str,
    ) -> None:
        self._run(SshDisconnected(person, peer, fingerprint, connection, seconds, sessions, why))

    def refused(self, peer: Peer, reason: str, person: str | None = None) -> None:
        """A connection turned away; `person` when the key was known but not allowed."""
        self._run(SshRefused(peer, reason, person))
