"""The notification sender: posts the outbox, from the poller lease's holder.

It runs in `warroom poll`'s event loop beside the probes, only while that
poller holds the release's lease, so exactly one process sends. Reading
and writing the database happens in worker threads (through the command
layer: claim, then record each attempt); posting goes through one shared
httpx.AsyncClient with a deadline per request. Each destination gets one
message at a time, in order, and a slow or dead destination holds up only
its own messages.

The guarantee is at-least-once with idempotency keys: a message is marked
sent only after its destination answered 2xx, so a sender that dies
between posting and recording leaves it claimed; the next holder of the
lease takes it over and posts it again with the same `Idempotency-Key`
header (and, to PagerDuty, the same dedup_key), which lets the receiver
drop the repeat. Nothing that was recorded as sent is ever posted again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial

import httpx

from warroom.clock import Clock
from warroom.commands.notify import Delivery, Message, NotifyCommands, Outcome
from warroom.commands.tx import CommandError
from warroom.domain import notify as nt
from warroom.store.engine import Store, StoreError
from warroom.store.queries import current_release, due_deliveries

log = logging.getLogger("warroom.notify")
USER_AGENT = "warroom-notify/1"
CLAIM_BATCH = 50


def target(message: Message, env: Mapping[str, str]) -> tuple[str, bytes] | str:
    """Where to post and what, from the sender's environment; or why it cannot."""
    url_env, key_env = message.url_env, message.key_env
    if message.kind is nt.Kind.PAGERDUTY:
        routing_key = env.get(key_env or "")
        if not routing_key:
            return f"${key_env} is not set in the sender's environment"
        url = env.get(url_env) if url_env else nt.PAGERDUTY_URL
        if not url:
            return f"${url_env} is not set in the sender's environment"
        data = json.loads(message.body)
        data["routing_key"] = routing_key
        return url, json.dumps(data).encode()
    url = env.get(url_env or "")
    if not url:
        return f"${url_env} is not set in the sender's environment"
    return url, message.body.encode()


async def post(
    client: httpx.AsyncClient, message: Message, env: Mapping[str, str], clock: Clock
) -> Outcome:
    """One try: POST the body with its idempotency key; never raises for the destination's sake."""
    where = target(message, env)
    if isinstance(where, str):
        return Outcome(None, where, permanent=True)
    url, content = where
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": message.key,
        "User-Agent": USER_AGENT,
    }
    try:
        response = await client.post(url, content=content, headers=headers)
    except httpx.TimeoutException:
        return Outcome(None, "timed out")
    except httpx.HTTPError as exc:
        # The URL is a secret (a Slack webhook's path is its key): name the error, not the URL.
        return Outcome(None, f"{type(exc).__name__}: no answer")
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(status)
    after = nt.retry_after(response.headers.get("retry-after"), clock.now())
    text = response.text[:200] if response.text else ""
    return Outcome(status, f"HTTP {status} {text}".strip(), after)


class Notifier:
    """Sends the outbox while `active()` says this process holds the lease."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        holder: str,
        release: str | None = None,
        *,
        active: Callable[[], bool] = lambda: True,
        env: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        backoff_first: timedelta = nt.BACKOFF_FIRST,
        max_attempts: int = nt.MAX_ATTEMPTS,
    ) -> None:
        self.store = store
        self.clock = clock
        self.release = release
        self.commands = NotifyCommands(store, clock, holder, release)
        self.active = active
        self.env = env if env is not None else os.environ
        self.timeout = timeout
        self.backoff_first = backoff_first
        self.max_attempts = max_attempts
        self.sent = 0
        self._client: httpx.AsyncClient | None = None
        self._busy: dict[str, asyncio.Task[None]] = {}  # destination -> its worker
        self._kicks: set[asyncio.Task[None]] = set()
        self._ticking = False
        self._again = False

    async def tick(self) -> None:
        """Claim what is due and start posting it; returns at once (workers post)."""
        if not self.active():
            return
        if self._ticking:
            self._again = True  # a kick during a tick: look once more after it
            return
        self._ticking = True
        try:
            self._again = True
            while self._again and self.active():
                self._again = False
                await self._tick()
        finally:
            self._ticking = False

    async def _tick(self) -> None:
        try:
            # A read first: claiming is a write (the audit head's lock), not
            # worth taking several times a second when nothing is due.
            due = await asyncio.to_thread(self._due, list(self._busy))
            if not due:
                return
            claimed = await asyncio.to_thread(self.commands.claim, CLAIM_BATCH, set(self._busy))
        except (CommandError, StoreError) as exc:
            log.info("not sending notifications now: %s", exc)
            return
        for delivery in claimed:  # one per destination
            task = asyncio.create_task(self._work(delivery))
            self._busy[delivery.destination] = task
            task.add_done_callback(partial(self._done, delivery.destination))

    def _done(self, destination: str, _task: asyncio.Task[None]) -> None:
        self._busy.pop(destination, None)
        if self.active():
            # The destination is free: its next message goes now, not at the next look.
            task = asyncio.get_running_loop().create_task(self.tick())
            self._kicks.add(task)
            task.add_done_callback(self._kicks.discard)

    def _due(self, busy: list[str]) -> int:
        with self.store.read() as session:
            release = current_release(session, self.release)
            if release is None:
                return 0
            return due_deliveries(session, release.id, self.clock.now(), busy)

    async def _work(self, delivery: Delivery) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        outcome = await post(self._client, delivery.message, self.env, self.clock)
        try:
            said = await asyncio.to_thread(
                self.commands.record, delivery, outcome, self.backoff_first, self.max_attempts
            )
        except (CommandError, StoreError) as exc:
            # Left claimed: the next holder of the lease sends it again, with the same key.
            log.warning("could not record a notification attempt: %s", exc)
            return
        if said == "sent":
            self.sent += 1
        elif said == "failed":
            log.warning("notification to %s given up: %s", delivery.destination, outcome.error)

    async def aclose(self, grace: float = 1.0) -> None:
        """Let posts under way finish for `grace` seconds, then cut them off."""
        for kick in list(self._kicks):
            kick.cancel()
        tasks = list(self._busy.values())
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()


def send_now(
    message: Message, env: Mapping[str, str], clock: Clock, timeout: float = 10.0
) -> Outcome:
    """One try, now, outside any event loop (`warroom notify test`)."""

    async def once() -> Outcome:
        async with httpx.AsyncClient(timeout=timeout) as client:
            return await post(client, message, env, clock)

    return asyncio.run(once())
