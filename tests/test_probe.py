"""Every bad input a health endpoint can throw at a probe, against a real HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

from tests.pg import free_port
from warroom.clock import FixedClock
from warroom.domain.health import Sample
from warroom.health.probe import make_client, probe

CLOCK = FixedClock(datetime(2024, 3, 20, 14, 5, tzinfo=UTC))


class Endpoints:
    """One aiohttp server with a route per misbehaviour."""

    def __init__(self) -> None:
        self.flap = 0
        self.app = web.Application()
        self.app.router.add_get("/ok", self.ok)
        self.app.router.add_get("/down", self.down)
        self.app.router.add_get("/hang", self.hang)
        self.app.router.add_get("/drip", self.drip)
        self.app.router.add_get("/500", self.error)
        self.app.router.add_get("/loop", self.loop)
        self.app.router.add_get("/garbage", self.garbage)
        self.app.router.add_get("/list", self.json_list)
        self.app.router.add_get("/huge", self.huge)
        self.app.router.add_get("/odd-metrics", self.odd_metrics)
        self.app.router.add_get("/flap", self.flapping)
        self.app.router.add_get("/text", self.text)

    async def ok(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "pass", "error_rate": 0.002, "p99_ms": 118})

    async def down(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "down"})

    async def hang(self, request: web.Request) -> web.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def drip(self, request: web.Request) -> web.StreamResponse:
        """A byte every 0.2 s forever: defeats per-read timeouts, not the deadline."""
        response = web.StreamResponse()
        await response.prepare(request)
        while True:
            await response.write(b" ")
            await asyncio.sleep(0.2)

    async def error(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "fail"}, status=500)

    async def loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def garbage(self, request: web.Request) -> web.Response:
        return web.Response(body=b"\x00\xff{not json", content_type="application/json")

    async def json_list(self, request: web.Request) -> web.Response:
        return web.json_response([1, 2, 3])

    async def huge(self, request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (5 * 1024 * 1024), content_type="text/plain")

    async def odd_metrics(self, request: web.Request) -> web.Response:
        body = b'{"status": "pass", "error_rate": NaN, "p99_ms": -5, "cpu": "12%", "queue": 7}'
        return web.Response(body=body, content_type="application/json")

    async def flapping(self, request: web.Request) -> web.Response:
        self.flap += 1
        if self.flap % 2:
            return web.json_response({"status": "pass"})
        return web.json_response({"status": "fail"}, status=503)

    async def text(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")


@pytest.fixture
async def server() -> AsyncIterator[str]:
    endpoints = Endpoints()
    runner = web.AppRunner(endpoints.app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def one(url: str, timeout: float = 0.5) -> Sample:
    async with make_client(10) as client:
        return await probe(client, "svc", url, timeout, CLOCK)


async def test_a_healthy_endpoint(server: str) -> None:
    sample = await one(f"{server}/ok")
    assert sample.ok and sample.status_code == 200
    assert sample.metrics == {"error_rate": 0.002, "p99_ms": 118.0}
    assert sample.latency_ms is not None and sample.latency_ms >= 0
    assert sample.at == CLOCK.now()


async def test_plain_text_passes(server: str) -> None:
    assert (await one(f"{server}/text")).ok


async def test_connection_refused() -> None:
    sample = await one(f"http://127.0.0.1:{free_port()}/health")
    assert not sample.ok and sample.reason == "cannot connect: connection refused"


async def test_a_hang_is_cut_at_the_timeout(server: str) -> None:
    sample = await one(f"{server}/hang", timeout=0.3)
    assert not sample.ok and sample.reason == "no answer within 0.3s"


async def test_a_dripping_body_is_cut_by_the_deadline(server: str) -> None:
    sample = await one(f"{server}/drip", timeout=0.5)
    assert not sample.ok and sample.reason == "no answer within 0.5s"


async def test_http_errors(server: str) -> None:
    failing = await one(f"{server}/500")
    assert not failing.ok and failing.reason == "HTTP 500" and failing.status_code == 500
    missing = await one(f"{server}/nope")
    assert not missing.ok and missing.reason == "HTTP 404"


async def test_a_failing_status_word(server: str) -> None:
    sample = await one(f"{server}/down")
    assert not sample.ok and sample.reason == "status 'down'"


async def test_a_redirect_loop(server: str) -> None:
    sample = await one(f"{server}/loop")
    assert not sample.ok and "redirect" in (sample.reason or "")


async def test_a_body_that_claims_json_but_is_not(server: str) -> None:
    sample = await one(f"{server}/garbage")
    assert not sample.ok and "does not parse" in (sample.reason or "")


async def test_json_that_is_not_an_object(server: str) -> None:
    sample = await one(f"{server}/list")
    assert sample.ok and sample.metrics == {}


async def test_a_body_of_several_megabytes(server: str) -> None:
    sample = await one(f"{server}/huge", timeout=5)
    assert not sample.ok and "over 1 MiB" in (sample.reason or "")


async def test_nan_negative_and_string_metrics_are_dropped(server: str) -> None:
    sample = await one(f"{server}/odd-metrics")
    assert sample.ok and sample.metrics == {"queue": 7.0}


async def test_a_flapping_endpoint(server: str) -> None:
    results = [await one(f"{server}/flap") for _ in range(4)]
    assert [s.ok for s in results] == [True, False, True, False]
    assert results[1].reason == "HTTP 503"


async def test_one_hanging_endpoint_does_not_delay_the_others(server: str) -> None:
    """Probes run side by side: the quick ones finish while the hang waits out its deadline."""
    async with make_client(10) as client:
        hang = asyncio.create_task(probe(client, "hang", f"{server}/hang", 2.0, CLOCK))
        quick = await asyncio.gather(
            *(probe(client, f"s{i}", f"{server}/ok", 2.0, CLOCK) for i in range(5))
        )
        assert all(s.ok for s in quick)
        assert not hang.done()  # the quick ones did not wait for it
        assert not (await hang).ok


async def test_a_server_that_hangs_up_without_answering() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the whole request, then nothing
        writer.close()

    listener = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        sample = await one(f"http://127.0.0.1:{port}/health")
    finally:
        listener.close()
        await listener.wait_closed()
    assert not sample.ok
    assert sample.reason == "the server closed the connection without answering"
