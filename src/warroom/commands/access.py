"""Who came in and who was turned away: access events for the audit log.

The SSH front door calls these; they change no release state, so they write
no log line, but they go through `open_tx` like every other command so they
land in the same hash chain, in order, and are refused the same way when no
release is loaded. They signal a "presence" change, so every room sees who
came and went without waiting for the next heartbeat. The front door acts as `SYSTEM_ACTOR`: it is what vouches for the
identity, and the person concerned is named in the payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from warroom.clock import Clock
from warroom.commands.tx import open_tx
from warroom.domain.roles import SYSTEM_ACTOR
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
class AccessEvents:
    """Audit access events on one store, as the system actor."""

    store: Store
    clock: Clock
    release: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def _append(self, action: str, payload: Mapping[str, Any]) -> None:
        with open_tx(self.store, self.clock, SYSTEM_ACTOR, self.release) as tx:
            tx.audit(action, {**self.extra, **payload})
            tx.topics.add("presence")

    def connected(self, person: str, peer: Peer, fingerprint: str, connection: str) -> None:
        """`person` was let in (`connection` is an id that the disconnect event repeats)."""
        self._append(
            SSH_CONNECT,
            {
                "person": person,
                **peer.as_payload(),
                "fingerprint": fingerprint,
                "connection": connection,
            },
        )

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
        self._append(
            SSH_DISCONNECT,
            {
                "person": person,
                **peer.as_payload(),
                "fingerprint": fingerprint,
                "connection": connection,
                "seconds": round(seconds, 1),
                "sessions": sessions,
                "why": why,
            },
        )

    def refused(self, peer: Peer, reason: str, person: str | None = None) -> None:
        """A connection turned away; `person` when the key was known but not allowed."""
        payload: dict[str, Any] = {**peer.as_payload(), "reason": reason}
        if person is not None:
            payload["person"] = person
        self._append(SSH_REFUSED, payload)
