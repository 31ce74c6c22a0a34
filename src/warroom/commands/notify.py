"""The notification sender's writes, through the command layer.

The outbox is written by every command that changes something people
outside want to hear about (Tx.enqueue, in that command's transaction).
These commands are the sender's side: only the holder of the release's
poller lease claims messages, and it records every attempt. Like the
poller's samples, attempts are measurements, not decisions: they are not
audited one by one; giving a message up is (and is said in the log).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from warroom.clock import Clock
from warroom.commands.defs import Command
from warroom.commands.execute import Runner
from warroom.commands.handlers import handles
from warroom.commands.tx import SYSTEM_ACTOR, CommandError, Tx
from warroom.domain import notify as nt
from warroom.store import models as m
from warroom.store.engine import Store
from warroom.store.queries import OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_SENT

MAX_ERROR = 300  # characters of an error kept with an attempt


@dataclass(frozen=True)
class Message:
    """What one post needs: where (the destination's kind and the environment
    variables naming its URL and key, never the secrets) and what (the body
    and its idempotency key)."""

    kind: nt.Kind
    url_env: str | None
    key_env: str | None
    body: str
    key: str  # the idempotency key: the same on every try


@dataclass(frozen=True)
class Delivery:
    """One claimed outbox row, with what the sender needs to post it."""

    id: int
    destination: str
    event: str
    attempts: int
    message: Message


@dataclass(frozen=True)
class Outcome:
    """What an HTTP try came to: a status (None: no answer) and what went wrong."""

    status: int | None
    error: str | None = None
    retry_after: timedelta | None = None
    permanent: bool = False  # no retry can help (no URL configured in the sender's environment)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class ClaimDeliveries(Command[tuple[Delivery, ...]]):
    """Claim up to `limit` due messages (and any a vanished sender had
    claimed), except to the destinations in `busy`; only the lease holder may."""

    AUDITED: ClassVar[bool] = False
    holder: str
    limit: int
    busy: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordAttempt(Command[str]):
    """One try at delivering outbox row `outbox_id`: sent, retried later, or given up."""

    AUDITED: ClassVar[bool] = False
    holder: str
    outbox_id: int
    outcome: Outcome
    backoff_first: timedelta = nt.BACKOFF_FIRST
    max_attempts: int = nt.MAX_ATTEMPTS


class NotifyCommands(Runner):
    """What a sender (`holder`, the poller lease's name) may write."""

    def __init__(self, store: Store, clock: Clock, holder: str, release: str | None = None) -> None:
        super().__init__(store, clock, SYSTEM_ACTOR, release)
        self.holder = holder

    def claim(self, limit: int, busy: Collection[str] = ()) -> tuple[Delivery, ...]:
        return self._run(ClaimDeliveries(self.holder, limit, tuple(sorted(busy))))

    def record(
        self,
        delivery: Delivery,
        outcome: Outcome,
        backoff_first: timedelta = nt.BACKOFF_FIRST,
        max_attempts: int = nt.MAX_ATTEMPTS,
    ) -> str:
        return self._run(
            RecordAttempt(self.holder, delivery.id, outcome, backoff_first, max_attempts)
        )


@handles(ClaimDeliveries)
def claim_deliveries(tx: Tx, command: ClaimDeliveries) -> tuple[Delivery, ...]:
    lease = tx.repo.lease()
    if lease is None or lease.holder != command.holder or lease.expires_at <= tx.now:
        holder = lease.holder if lease else "nobody"
        raise CommandError(
            f"the poller lease is held by {holder}, not {command.holder}: it sends the notifications"
        )
    kinds = {d.name: d for d in tx.repo.destinations()}
    rows = tx.repo.claim_deliveries(command.holder, tx.now, command.limit, command.busy)
    out: list[Delivery] = []
    for row in rows:
        destination = kinds[row.destination]
        assert row.id is not None
        out.append(
            Delivery(
                row.id,
                row.destination,
                row.event,
                row.attempts,
                Message(
                    destination.kind, destination.url_env, destination.key_env, row.body, row.key
                ),
            )
        )
    return tuple(out)


@handles(RecordAttempt)
def record_attempt(tx: Tx, command: RecordAttempt) -> str:
    row = tx.repo.outbox(command.outbox_id)
    if row is None or row.claimed_by != command.holder or row.state in {OUTBOX_SENT, OUTBOX_FAILED}:
        # Another sender took it over (this one lost the lease): its try counts.
        return "not ours"
    outcome = command.outcome
    row.attempts += 1
    row.last_status = outcome.status
    row.last_error = outcome.error[:MAX_ERROR] if outcome.error else None
    if outcome.ok:
        row.state = OUTBOX_SENT
        row.sent_at = tx.now
        said = "sent"
    elif (
        outcome.permanent
        or not nt.retryable(outcome.status)
        or row.attempts >= command.max_attempts
    ):
        row.state = OUTBOX_FAILED
        said = "failed"
        what = f"HTTP {outcome.status}" if outcome.status is not None else "no answer"
        why = f" ({row.last_error})" if row.last_error else ""
        tx.system_line(
            f"✉ Notification to {row.destination} ({row.event}) given up after "
            f"{row.attempts} {'try' if row.attempts == 1 else 'tries'}: {what}{why}"
        )
        tx.audit(
            "notify.failed",
            {
                "destination": row.destination,
                "event": row.event,
                "key": row.key,
                "attempts": row.attempts,
                "status": outcome.status,
                "error": row.last_error,
            },
        )
    else:
        row.state = OUTBOX_PENDING
        row.due_at = nt.next_try(row.attempts, tx.now, outcome.retry_after, command.backoff_first)
        said = "retry"
    tx.repo.add(row)
    tx.repo.add_attempt(
        m.NotifyAttempt(
            outbox_id=command.outbox_id,
            at=tx.now,
            holder=command.holder,
            status_code=outcome.status,
            error=row.last_error,
            outcome=said,
        )
    )
    tx.topics.add("notify")
    return said
