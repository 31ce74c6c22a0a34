"""Every bad input a health endpoint can throw at a probe, against a real HTTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

from tests.pg import free_port
from warroom.clock import FixedClock
from warroom.domain.health import MAX_BODY, MAX_METRICS, MAX_REASON, Sample
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
        self.app.router.add_get("/nested", self.nested)
        self.app.router.add_get("/many-metrics", self.many_metrics)
        self.app.router.add_get("/moved", self.moved)
        self.app.router.add_get("/elsewhere", self.elsewhere)
        self.app.router.add_get("/long-status", self.long_status)
        self.elsewhere_url = ""  # set by a test: where /elsewhere redirects

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

    async def nested(self, request: web.Request) -> web.Response:
        """200,000 nested arrays: once a RecursionError on every probe."""
        return web.Response(body=b"[" * 200_000, content_type="application/json")

    async def many_metrics(self, request: web.Request) -> web.Response:
        """Just under 1 MiB of numeric fields (once 68,148 metrics stored per sample)."""
        fields = {f"m{i}": i for i in range(68_148)}
        document = {"status": "pass", "error_rate": 0.01, **fields}
        body = json.dumps(document, separators=(",", ":")).encode()
        assert len(body) < MAX_BODY
        return web.Response(body=body, content_type="application/json")

    async def moved(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def elsewhere(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.elsewhere_url)

    async def long_status(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "fail", "error": "x" * 100_000, "y" * 5000: 1})


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def endpoints() -> AsyncIterator[tuple[Endpoints, str]]:
    served = Endpoints()
    runner, url = await serve(served.app)
    yield served, url
    await runner.cleanup()


@pytest.fixture
def server(endpoints: tuple[Endpoints, str]) -> str:
    return endpoints[1]


async def one(url: str, timeout: float = 0.5) -> Sample:
    async with make_client(10) as client:
        return await probe(client, "svc", url, timeout, CLOCK)


async def test_a_healthy_endpoint(server: str) -> None:
    sample = await one(f"{server}/ok")
    assert sample.ok and sample.status_code == 200
    assert sample.metrics == {"error_rate": 0.002, "p99_ms": 118.0}
    # Measured in milliseconds: a round trip takes well over the 0.1 ms it is rounded to.
    assert sample.latency_ms is not None and sample.latency_ms > 0
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
    # A generous timeout: following the loop's redirects on a saturated CPU
    # took longer than 0.5 s, and the probe said so instead.
    sample = await one(f"{server}/loop", timeout=10)
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
    # A generous timeout: a probe timing out on a busy machine would be read
    # as the flap, and shift every answer after it.
    results = [await one(f"{server}/flap", timeout=10) for _ in range(4)]
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


async def test_deeply_nested_json_fails_the_probe_with_a_reason(server: str) -> None:
    sample = await one(f"{server}/nested")
    assert not sample.ok and sample.status_code == 200
    assert sample.reason is not None and "nested too deeply" in sample.reason


async def test_a_flood_of_numeric_fields_is_kept_to_the_first_ones_and_marked(server: str) -> None:
    # A generous timeout: parsing 68,149 fields on a saturated CPU took over 5 s.
    sample = await one(f"{server}/many-metrics", timeout=30)
    assert sample.ok  # the endpoint says pass; its first metrics are still believed
    assert len(sample.metrics) == MAX_METRICS
    assert sample.metrics["error_rate"] == 0.01 and "m0" in sample.metrics
    assert sample.reason == f"kept the first {MAX_METRICS} of 68149 numeric fields"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_redirect_to_another_server_is_not_followed(
    endpoints: tuple[Endpoints, str], host: str
) -> None:
    """Another port or another name is another server: its metrics are not this service's."""
    served, url = endpoints
    other = web.Application()

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "pass", "error_rate": 0.9})

    other.router.add_get("/health", health)
    runner, other_url = await serve(other)
    served.elsewhere_url = other_url.replace("127.0.0.1", host) + "/health"
    try:
        sample = await one(f"{url}/elsewhere")
    finally:
        await runner.cleanup()
    assert not sample.ok and sample.metrics == {}
    assert sample.reason is not None
    assert sample.reason.startswith("redirected to another server (http://")
    assert "same server only" in sample.reason
    # …while a redirect on the same server is still followed.
    moved = await one(f"{url}/moved")
    assert moved.ok and moved.metrics == {"error_rate": 0.002, "p99_ms": 118.0}


async def test_text_from_the_endpoint_is_bounded_in_reasons_and_names(server: str) -> None:
    sample = await one(f"{server}/long-status")
    assert not sample.ok and sample.reason == "status 'fail'"
    assert sample.metrics == {}  # a 5,000-character key is not a metric name


@pytest.mark.parametrize(
    "url", ["http://[::1/health", "http://127.0.0.1/a\r\nX-Evil: 1", "ftp://127.0.0.1/health"]
)
async def test_an_unusable_url_is_a_failing_sample_not_an_exception(url: str) -> None:
    sample = await one(url)
    assert not sample.ok and sample.status_code is None
    assert sample.reason is not None and "health url cannot be used" in sample.reason
    assert len(sample.reason) <= MAX_REASON
