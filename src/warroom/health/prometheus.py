"""Prometheus as a metric source: instant queries over its HTTP API (httpx).

`PrometheusClient.ask` sends one `GET /api/v1/query` and never raises for
anything the server does: an empty result, NaN, a query error, a timeout or
a refused connection are each *no data* for the services the query was for,
with the reason (read by warroom.domain.metrics). Credentials come from the
environment variables the plan names, read when the client is made.

`MetricsFeed` is the poller's side: grouped queries (no `$service`) run once
per interval for every service that shares them, from their own scheduler
job, and leave their readings in a cache; per-service queries run beside the
service's health probe. `attach` puts a service's readings into its sample:
the value where there is one, else the metric is missing with its reason
(the health JSON's own value of that metric is then not used either: the
plan said where the metric comes from).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

import httpx

from warroom.domain import metrics as mx
from warroom.domain.health import Sample, bounded

MAX_ANSWER = 16 * 1024 * 1024  # bytes: 1,000 services' grouped answer is ~100 KiB
API = "/api/v1/query"


class ConfigError(Exception):
    """The plan's credentials cannot be read from the environment; one sentence."""


def credentials(
    auth: mx.Auth, environ: Mapping[str, str]
) -> tuple[dict[str, str], httpx.BasicAuth | None]:
    """The request headers and httpx auth the plan's `*_env` variables give."""
    missing = [name for name in auth.names if not environ.get(name)]
    if missing:
        raise ConfigError(
            f"the environment variable {missing[0]} (named by the plan's metrics.prometheus) "
            "is not set: export it where warroom poll runs"
        )
    headers: dict[str, str] = {}
    basic: httpx.BasicAuth | None = None
    if auth.bearer_token_env:
        headers["Authorization"] = f"Bearer {environ[auth.bearer_token_env]}"
    if auth.username_env and auth.password_env:
        basic = httpx.BasicAuth(environ[auth.username_env], environ[auth.password_env])
    return headers, basic


class PrometheusClient:
    """One Prometheus server, asked instant queries."""

    def __init__(
        self,
        source: mx.MetricsSource,
        environ: Mapping[str, str],
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.source = source
        headers, auth = credentials(source.auth, environ)
        self._own = client is None
        self._client = client or httpx.AsyncClient(
            headers={"User-Agent": "warroom-poller", **headers}, auth=auth
        )
        self.endpoint = source.url.rstrip("/") + API

    async def aclose(self) -> None:
        if self._own:
            await self._client.aclose()

    async def ask(self, request: mx.Request, timeout: float) -> dict[str, mx.Reading]:
        """Each service's reading of `request`'s metric; never raises for the server's doing."""
        try:
            raw = await asyncio.wait_for(self._get(request.query, timeout), timeout + 0.5)
        except (TimeoutError, httpx.TimeoutException):
            return mx.failed(request, f"no answer from Prometheus within {timeout:g}s")
        except httpx.HTTPError as exc:
            return mx.failed(request, f"Prometheus is unreachable ({_short(exc)})")
        except _Refused as exc:
            return mx.failed(request, str(exc))
        try:
            readings, _ = mx.read_vector(raw, request, self.source.service_label)
        except mx.AnswerError as exc:
            return mx.failed(request, str(exc))
        return readings

    async def raw(self, query: str, timeout: float) -> object:
        """The parsed answer to `query` as Prometheus sent it (for `warroom metrics test`);
        raises _Refused or httpx errors."""
        return await asyncio.wait_for(self._get(query, timeout), timeout + 0.5)

    async def _get(self, query: str, timeout: float) -> object:
        # Prometheus durations are whole numbers with a unit: "0.9s" is refused.
        params = {"query": query, "timeout": f"{max(1, round(timeout * 1000))}ms"}
        async with self._client.stream(
            "GET", self.endpoint, params=params, timeout=timeout
        ) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER:
                    raise _Refused(f"Prometheus's answer is over {MAX_ANSWER // 2**20} MiB")
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            if response.status_code in (401, 403):
                raise _Refused(
                    f"Prometheus refused the credentials (HTTP {response.status_code})"
                ) from None
            raise _Refused(
                f"Prometheus answered HTTP {response.status_code} without its JSON "
                "(is the url the server's base address?)"
            ) from None


class _Refused(Exception):
    """An answer that is not Prometheus's; the message is the reason."""


Refused = _Refused


def _short(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    text = str(exc).strip() or (str(cause).strip() if cause else "") or type(exc).__name__
    if "refused" in text.lower() or "errno 111" in text.lower():
        return "connection refused"
    return bounded(text.splitlines()[0], 120)


# ---------------------------------------------------------------- the poller's side


@dataclass(frozen=True)
class _Kept:
    reading: mx.Reading
    at: float  # time.monotonic() when the answer came


class MetricsFeed:
    """A release's Prometheus metrics for the poller: grouped queries cached,
    per-service ones asked beside each probe."""

    def __init__(self, source: mx.MetricsSource, client: PrometheusClient | None, broken: str = ""):
        self.source = source
        self.client = client
        # Set when the client could not be made (a secret's variable unset):
        # every Prometheus metric is then no data, saying this.
        self.broken = broken
        self._cache: dict[tuple[str, str], _Kept] = {}
        self._own: dict[str, bool] = {}  # whether a service has $service queries
        self.requests = 0  # HTTP queries sent (for the benchmark and tests)

    def asks_own(self, service: str) -> bool:
        """Whether `service` has queries of its own (`$service`), asked beside its probe."""
        known = self._own.get(service)
        if known is None:
            queries = self.source.queries_for(service).values()
            known = self._own[service] = any(mx.is_per_service(q) for q in queries)
        return known

    def grouped(self, services: Iterable[str]) -> list[mx.Request]:
        return [r for r in mx.plan_queries(self.source, services) if r.grouped]

    def _timeout(self, fallback: timedelta) -> float:
        return (self.source.timeout or fallback).total_seconds()

    async def refresh(self, services: Iterable[str], timeout: timedelta) -> None:
        """Ask every grouped query of `services` once and keep the readings."""
        if self.client is None:
            return
        requests = self.grouped(services)
        self.requests += len(requests)
        answers = await asyncio.gather(
            *(self.client.ask(r, self._timeout(timeout)) for r in requests)
        )
        now = time.monotonic()
        for request, readings in zip(requests, answers, strict=True):
            for service, reading in readings.items():
                self._cache[(service, request.metric)] = _Kept(reading, now)

    async def own(self, service: str, timeout: timedelta) -> dict[str, mx.Reading]:
        """The service's per-service (`$service`) queries, asked now."""
        if self.client is None:
            return {}
        requests = [r for r in mx.plan_queries(self.source, [service]) if not r.grouped]
        if not requests:
            return {}
        self.requests += len(requests)
        answers = await asyncio.gather(
            *(self.client.ask(r, self._timeout(timeout)) for r in requests)
        )
        return {r.metric: a[service] for r, a in zip(requests, answers, strict=True)}

    def attach(self, sample: Sample, own: Mapping[str, mx.Reading], interval: timedelta) -> Sample:
        """`sample` with its Prometheus metrics: each a value, or missing with why."""
        wanted = self.source.queries_for(sample.service)
        if not wanted:
            return sample
        metrics = dict(sample.metrics)
        missing: dict[str, str] = {}
        now = time.monotonic()
        fresh = 2 * interval.total_seconds() + self._timeout(interval)
        for metric in wanted:
            metrics.pop(metric, None)  # the plan says where it comes from
            reading = own.get(metric)
            if reading is None and self.broken:
                reading = mx.Reading(None, f"no data from Prometheus for {metric}: {self.broken}")
            if reading is None:
                kept = self._cache.get((sample.service, metric))
                if kept is None:
                    reading = mx.Reading(
                        None, f"no data from Prometheus for {metric}: no answer yet"
                    )
                elif now - kept.at > fresh:
                    reading = mx.Reading(
                        None,
                        f"no data from Prometheus for {metric}: its last answer is "
                        f"{now - kept.at:.0f}s old",
                    )
                else:
                    reading = kept.reading
            if reading.value is not None:
                metrics[metric] = reading.value
            else:
                missing[metric] = bounded(reading.why or f"no data for {metric}")
        if not missing:
            return replace(sample, metrics=metrics)
        said = "; ".join(sorted(set(missing.values())))
        reason = f"{sample.reason}; {said}" if sample.reason else said
        return replace(sample, metrics=metrics, missing=missing, reason=bounded(reason))
