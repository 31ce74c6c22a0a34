"""A webhook receiver on 127.0.0.1 for the notification tests: it records
every request, and each path behaves as a destination might."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from warroom.testing.net import free_port


@dataclass(frozen=True)
class Received:
    path: str
    key: str
    body: dict[str, Any]
    at: float  # the receiver's loop time


@dataclass
class Receiver:
    """Paths: /ok/NAME answers 200; /flaky 500 on a key's first request, then
    200; /limited 429 with Retry-After: 1 first, then 200; /dead 503 always;
    /slow waits for `gate` before answering 200. `effects` is what a
    receiver that honours idempotency keys would act on: once per key."""

    base: str = ""
    requests: list[Received] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def effects(self, path: str) -> list[Received]:
        seen: dict[str, Received] = {}
        for request in self.on(path):
            seen.setdefault(request.key, request)
        return list(seen.values())

    def events(self, path: str) -> list[str]:
        """The generic webhook's events, once per key, in arrival order."""
        return [r.body["event"] for r in self.effects(path)]

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        key = request.headers.get("Idempotency-Key", "")
        first = not any(r.key == key and r.path == path for r in self.requests)
        self.requests.append(
            Received(path, key, json.loads(await request.read()), asyncio.get_running_loop().time())
        )
        if path == "/flaky" and first:
            return web.Response(status=500, text="try again")
        if path == "/limited" and first:
            return web.Response(status=429, headers={"Retry-After": "1"}, text="slow down")
        if path == "/dead":
            return web.Response(status=503, text="gone fishing")
        if path == "/slow":
            self.arrived.set()
            await self.gate.wait()
        return web.Response(status=202 if path == "/pd" else 200, text="ok")


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", got.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    got.base = f"http://127.0.0.1:{port}"
    try:
        yield got
    finally:
        got.gate.set()
        await runner.cleanup()
