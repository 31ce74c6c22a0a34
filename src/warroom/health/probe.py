"""One health probe: an HTTP GET with a hard deadline, judged by domain.health."""

from __future__ import annotations

import errno
import time

import aiohttp
import anyio
import httpx
from httpx_aiohttp import AiohttpTransport

from warroom.clock import Clock
from warroom.domain.health import MAX_BODY, Outcome, Sample, bounded, classify, failed

MAX_REDIRECTS = 3


def make_client(concurrency: int) -> httpx.AsyncClient:
    """The poller's one shared client: pooled connections, redirects left to `probe`.

    httpx's API over aiohttp's connection handling (httpx-aiohttp): httpcore's
    pool rescans every connection on every request, which at 1,000 endpoints
    cost ~1.7-3 ms of CPU per probe against ~0.3 ms this way (measured in
    benchmarks/bench_health.py).
    """
    limits = httpx.Limits(
        max_connections=concurrency,
        max_keepalive_connections=concurrency,
        keepalive_expiry=30,  # longer than a probe interval, so connections get reused
    )
    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits),
        follow_redirects=False,  # _fetch follows same-origin redirects only
        headers={"User-Agent": "warroom-poller", "Accept": "application/json, text/plain;q=0.5"},
    )


class _Refused(Exception):
    """The endpoint answered with something we will not read; the message is the reason."""


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    """Whether a redirect from `a` to `b` stays with the same server.

    Same scheme, host and port; or the one upgrade proxies commonly do,
    http://host to https://host on the default ports. Anything else could
    be another service's (or anyone's) metrics, believed as this one's.
    """
    if a.host != b.host:
        return False
    if a.scheme == b.scheme:
        return a.port == b.port
    return (
        a.scheme == "http"
        and b.scheme == "https"
        and a.port in (None, 80)
        and b.port in (None, 443)
    )


async def _fetch(client: httpx.AsyncClient, url: str, timeout: float) -> tuple[Outcome, int | None]:
    request = client.build_request("GET", url, timeout=timeout)
    for _ in range(MAX_REDIRECTS + 1):
        response = await client.send(request, stream=True)
        try:
            if not response.is_redirect:
                return await _judge(response), response.status_code
            target = response.next_request
            if target is None:  # a 3xx without a usable Location
                return classify(response.status_code, b""), response.status_code
            if not _same_origin(request.url, target.url):
                raise _Refused(
                    f"redirected to another server ({bounded(str(target.url), 100)}); "
                    "warroom follows redirects on the same server only: "
                    "put the final address in the plan's health url"
                )
            request = target
        finally:
            await response.aclose()
    raise _Refused(f"more than {MAX_REDIRECTS} redirects (a redirect loop?)")


async def _judge(response: httpx.Response) -> Outcome:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_BODY:
            return failed(f"the body is over {MAX_BODY // 1024 // 1024} MiB; not a health response")
    return classify(response.status_code, bytes(body), response.headers.get("content-type"))


async def probe(
    client: httpx.AsyncClient, service: str, url: str, timeout: float, clock: Clock
) -> Sample:
    """Probe `url` once. Never raises for anything the endpoint does.

    httpx's timeouts bound each phase (connect, each read); the outer deadline
    bounds the whole probe, so an endpoint that drips a byte a second cannot
    hold a probe (or a concurrency slot) past `timeout`.
    """
    at = clock.now()
    started = time.perf_counter()
    status: int | None = None
    try:
        # anyio's deadline, not asyncio.timeout: httpx runs on anyio, whose
        # cancel scopes and asyncio's uncancel() counting do not mix.
        with anyio.fail_after(timeout):
            outcome, status = await _fetch(client, url, timeout)
    except TimeoutError:
        outcome = failed(f"no answer within {timeout:g}s")
    except _Refused as exc:
        outcome = failed(str(exc))
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        # The plan's URL is unusable (checked at plan time too): a failing
        # sample with the reason, every interval, rather than a traceback.
        outcome = failed(f"the health url cannot be used ({_short(exc)}); fix it in the plan")
    except httpx.HTTPError as exc:
        outcome = failed(_reason(exc, timeout))
    elapsed = (time.perf_counter() - started) * 1000
    return Sample(
        service=service,
        at=at,
        ok=outcome.ok,
        reason=outcome.reason,
        status_code=status,
        latency_ms=round(elapsed, 1) if status is not None else None,
        metrics=dict(outcome.metrics),
    )


def _reason(exc: httpx.HTTPError, timeout: float) -> str:
    """What went wrong, in the words an on-call engineer needs.

    The aiohttp transport maps aiohttp's errors onto httpx's coarsely (a
    refused connection arrives as ConnectTimeout), so look at the aiohttp
    error it chains first.
    """
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError):
        error = cause.os_error
        if error.errno == errno.ECONNREFUSED:
            return "cannot connect: connection refused"
        return f"cannot connect: {error.strerror or error}"
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {_short(exc)}"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g}s"
    return f"{type(exc).__name__}: {_short(exc)}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
