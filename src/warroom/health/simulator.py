"""A stand-in for the release's services, so release day can be rehearsed.

`Simulator` serves each service's health endpoint on 127.0.0.1 with aiohttp,
answering the JSON described in DESIGN.md ("Health endpoints"), and a small
control API through which faults are injected while it runs:

    GET  /metrics           Prometheus metrics of every service (prometheus-client):
                            requests by status code, a latency histogram
    GET  /faults            every service's current fault
    GET  /faults/{service}  one service's current fault
    POST /faults/{service}  set it: a JSON object of `Fault` fields, or {"clear": true}

A POST replaces the service's fault as a whole (fields left out are
healthy), so what a service does is always exactly what was last said.

The metrics are simulated traffic (REQUESTS_PER_S per service) that moves
with the faults: `error_rate` is the share of 500s, `latency_ms` shifts every
request's duration (and so the p99), `down` and `hang` stop requests from
completing (the counters stand still, so a rate over them is empty), and
`status` answers every request with that code.

Each service gets its own aiohttp runner, so that the `down` fault can close
that one listener (connections are then refused, as for a crashed process)
and reopen it later without touching the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from aiohttp import web

if TYPE_CHECKING:
    from warroom.domain.plan import Plan

HOST = "127.0.0.1"
DEFAULT_CONTROL_PORT = 9100
DEFAULT_PATH = "/health"
DEFAULT_VERSION = "0.0.0"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})

# Reported `status` words follow the error rate, as the sample plan's
# "error_rate > 1%" trigger expects: warn above 1%, fail above 10%.
WARN_ABOVE = 0.01
FAIL_ABOVE = 0.10

# What a broken proxy or a half-written response looks like: it claims to
# be JSON, is cut off mid-document and ends in bytes that are not UTF-8.
GARBAGE_BODY = b'{"status": "pass", "error_ra\x00\xff\xfe<html><body>Bad Gateway'


class SimulatorError(Exception):
    """The simulator cannot do what was asked; the message says why, for people."""


class FaultInvalid(ValueError):
    """A fault description is malformed; the message names the field."""


class UnknownService(KeyError):
    """No simulated service has that name."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.message = f"unknown service {name!r}: the simulator serves {', '.join(known)}"

    def __str__(self) -> str:
        return self.message


# ---------------------------------------------------------------- faults


def _is_number(value: object) -> bool:
    # bool is an int in Python; `true` is not a latency.
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Fault:
    """How a simulated service misbehaves. `Fault()` is healthy.

    - `error_rate`: the fraction (0 to 1) to report instead of the healthy noise.
    - `latency_ms`: extra delay before answering, also added to `p99_ms`.
    - `down`: stop listening, so connections are refused.
    - `hang`: accept the request and never answer (until the fault changes).
    - `garbage`: answer 200 with a body that is not JSON.
    - `status`: answer with this HTTP status (200 to 599).
    """

    error_rate: float | None = None
    latency_ms: float = 0.0
    down: bool = False
    hang: bool = False
    garbage: bool = False
    status: int | None = None

    def __post_init__(self) -> None:
        rate = self.error_rate
        if rate is not None and not (_is_number(rate) and 0 <= rate <= 1):
            raise FaultInvalid(
                f"error_rate must be a fraction from 0 to 1 (0.05 for 5%), got {rate!r}"
            )
        latency = self.latency_ms
        if not (_is_number(latency) and math.isfinite(latency) and latency >= 0):
            raise FaultInvalid(
                f"latency_ms must be a number of milliseconds, 0 or more, got {latency!r}"
            )
        for name in ("down", "hang", "garbage"):
            if not isinstance(getattr(self, name), bool):
                raise FaultInvalid(f"{name} must be true or false, got {getattr(self, name)!r}")
        status = self.status
        if status is not None and not (
            isinstance(status, int) and not isinstance(status, bool) and 200 <= status <= 599
        ):
            raise FaultInvalid(f"status must be an HTTP status from 200 to 599, got {status!r}")

    @property
    def healthy(self) -> bool:
        return self == Fault()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """A fault from its JSON form; `{"clear": true}` is the healthy fault.

        Raises FaultInvalid with one sentence naming the bad field.
        """
        names = [f.name for f in fields(cls)]
        if not isinstance(data, dict):
            raise FaultInvalid(
                f'a fault is a JSON object with any of {", ".join(names)}, or {{"clear": true}}'
            )
        unknown = sorted(str(key) for key in data if key not in {*names, "clear"})
        if unknown:
            raise FaultInvalid(
                f"unknown field {', '.join(unknown)}: use {', '.join(names)} or clear"
            )
        if "clear" in data:
            if data["clear"] is not True or len(data) > 1:
                raise FaultInvalid('clear stands alone and must be true: send {"clear": true}')
            return cls()
        return cls(**data)

    def describe(self) -> str:
        """A short phrase for people: `healthy`, `error rate 5%, +800 ms latency`."""
        parts: list[str] = []
        if self.down:
            parts.append("down (connections refused)")
        if self.hang:
            parts.append("hanging (never answers)")
        if self.error_rate is not None:
            parts.append(f"error rate {self.error_rate * 100:g}%")
        if self.latency_ms:
            parts.append(f"+{self.latency_ms:g} ms latency")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.garbage:
            parts.append("garbage body")
        return ", ".join(parts) or "healthy"


# ---------------------------------------------------------------- simulated traffic

REQUESTS_PER_S = 200.0
HEALTHY_ERROR_RATE = 0.003
# Request duration buckets (seconds), fine around the healthy ~120 ms p99 and
# up to a few seconds for injected latency.
BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.11, 0.12, 0.13, 0.14, 0.15, 0.2, 0.25, 0.3, 0.4,
    0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip


class _Traffic:
    """One service's request counters and duration histogram, advanced by
    the time since the last scrape at the rates its fault gives."""

    def __init__(self, p99_base_ms: float) -> None:
        self.p99_base_s = p99_base_ms / 1000
        self.by_code: dict[str, float] = {"200": 0.0, "500": 0.0}
        self.buckets = [0.0] * len(BUCKETS)  # cumulative counts per `le`
        self.count = 0.0
        self.sum_s = 0.0
        self._last = time.monotonic()

    def advance(self, fault: Fault, listening: bool) -> None:
        now = time.monotonic()
        elapsed, self._last = max(0.0, now - self._last), now
        if not listening or fault.hang or fault.down or fault.garbage:
            return  # nothing completes
        n = REQUESTS_PER_S * elapsed
        status = fault.status or 200
        if status >= 500:
            errors = n
        else:
            errors = n * (HEALTHY_ERROR_RATE if fault.error_rate is None else fault.error_rate)
        ok_code = str(status) if status < 500 else "200"
        err_code = str(status) if status >= 500 else "500"
        self.by_code[err_code] = self.by_code.get(err_code, 0.0) + errors
        self.by_code[ok_code] = self.by_code.get(ok_code, 0.0) + (n - errors)
        # Durations uniform on [low, high], placed so that the 99th
        # percentile is the service's p99, shifted by the injected latency.
        extra = fault.latency_ms / 1000
        low = 0.2 * self.p99_base_s
        high = low + (self.p99_base_s - low) / 0.99
        low, high = low + extra, high + extra
        for index, le in enumerate(BUCKETS):
            self.buckets[index] += n * min(1.0, max(0.0, (le - low) / (high - low)))
        self.count += n
        self.sum_s += n * (low + high) / 2


# ---------------------------------------------------------------- one service


def _bind_error(port: int, who: str, exc: OSError) -> SimulatorError:
    if exc.errno == errno.EADDRINUSE:
        return SimulatorError(
            f"port {port} ({who}) is already in use: stop whatever listens there "
            "(another `warroom simulate`?) or choose another port"
        )
    reason = exc.strerror or str(exc)
    return SimulatorError(f"cannot listen on {HOST}:{port} ({who}): {reason}")


async def _serve(app: web.Application, port: int, who: str) -> web.AppRunner:
    """Answer `app` on HOST:`port`, or raise SimulatorError naming the port and `who`."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, HOST, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise _bind_error(port, who, exc) from None
    return runner


class _SimulatedService:
    """One service: its health endpoint, its fault and its own listener."""

    def __init__(self, name: str, port: int, path: str, version: str, rng: random.Random):
        self.name = name
        self.port = port
        self.path = path
        self.version = version
        self.fault = Fault()
        self._rng = rng
        # Each service has its own "normal": a p99 somewhere in 108 to 132 ms,
        # so services are told apart on a dashboard, then noise around it.
        self._p99_base = rng.uniform(108.0, 132.0)
        self.traffic = _Traffic(self._p99_base)
        self._runner: web.AppRunner | None = None
        # Replaced (after being set) on every change, so waiting handlers wake
        # up and look again at the fault and whether the service is open.
        self._wakeup = asyncio.Event()
        # Serialises fault changes: going down and up again are both awaits.
        self.lock = asyncio.Lock()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"

    @property
    def listening(self) -> bool:
        return self._runner is not None

    def _wake(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    async def listen(self) -> None:
        """Start answering on the port; SimulatorError (naming the port) if it is taken."""
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_get(self.path, self._health)
        self._runner = await _serve(app, self.port, self.name)

    async def close(self) -> None:
        """Stop listening and drop every connection, keep-alive ones included."""
        runner, self._runner = self._runner, None
        # Release hanging and delayed handlers first: the runner's graceful
        # shutdown waits for in-flight requests, and those would never end.
        self._wake()
        if runner is not None:
            await runner.cleanup()

    async def set_fault(self, fault: Fault, live: bool) -> None:
        """Record `fault`; when `live` (the simulator runs), open or close the
        listener to match it."""
        if fault.down or not live:
            self.fault = fault
            await self.close()
            return
        # Listen before recording the fault: if the port was taken while the
        # service was down, it stays down and the caller is told why.
        await self.listen()
        self.fault = fault
        self._wake()

    # ------------------------------------------------------------ answering

    async def _wait(self, seconds: float | None) -> None:
        """Wait until the next change of fault or listener, or `seconds` pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)

    async def _health(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.fault.latency_ms / 1000
        while self.listening and (remaining := deadline - loop.time()) > 0:
            await self._wait(remaining)
        while self.listening and self.fault.hang:
            await self._wait(None)
        if not self.listening:
            # Going down while this request waited: the connection is being
            # dropped anyway, so what is said here is never read.
            return web.Response(status=503)

        fault = self.fault
        status = fault.status or 200
        if fault.garbage:
            return web.Response(body=GARBAGE_BODY, status=status, content_type="application/json")
        return web.json_response(self.sample(fault), status=status)

    def sample(self, fault: Fault) -> dict[str, Any]:
        """The health JSON for one probe: healthy noise, bent by `fault`."""
        rng = self._rng
        error_rate = rng.uniform(0.001, 0.005) if fault.error_rate is None else fault.error_rate
        p99 = min(140.0, max(100.0, self._p99_base + rng.uniform(-6.0, 6.0)))
        word = "pass"
        if error_rate > FAIL_ABOVE or (fault.status or 200) >= 400:
            word = "fail"
        elif error_rate > WARN_ABOVE:
            word = "warn"
        return {
            "status": word,
            "service": self.name,
            "version": self.version,
            "error_rate": round(error_rate, 5),
            "p99_ms": round(p99 + fault.latency_ms, 1),
            "requests_per_s": round(rng.uniform(180.0, 300.0), 1),
        }


# ---------------------------------------------------------------- the simulator


class Simulator:
    """Health endpoints for a set of services, and a control API to break them.

    `services` maps each service name to its port on 127.0.0.1. Each answers
    `GET` at its path (default /health; see `paths`) with the DESIGN.md
    health JSON. `seed` makes the healthy noise repeat from run to run; None
    draws it fresh. `on_fault(name, fault)` is called after each change.
    """

    def __init__(
        self,
        services: Mapping[str, int],
        control_port: int = DEFAULT_CONTROL_PORT,
        seed: int | None = None,
        *,
        paths: Mapping[str, str] | None = None,
        versions: Mapping[str, str] | None = None,
        on_fault: Callable[[str, Fault], None] | None = None,
    ) -> None:
        owners: dict[int, str] = {}
        for name, port in services.items():
            if port in owners:
                raise SimulatorError(
                    f"services {owners[port]} and {name} both use port {port}: give each its own"
                )
            owners[port] = name
        if control_port in owners:
            raise SimulatorError(
                f"the control port {control_port} is also {owners[control_port]}'s port: "
                "choose another control port"
            )
        self.control_port = control_port
        self._on_fault = on_fault
        self._services: dict[str, _SimulatedService] = {}
        for name, port in services.items():
            # A string seed hashes the same in every process (unlike hash()),
            # and one generator per service keeps each service's series
            # independent of how probes of the others interleave.
            rng = random.Random(f"{seed}:{name}") if seed is not None else random.Random()
            self._services[name] = _SimulatedService(
                name,
                port,
                (paths or {}).get(name, DEFAULT_PATH),
                (versions or {}).get(name, DEFAULT_VERSION),
                rng,
            )
        self._control: web.AppRunner | None = None

    @classmethod
    def from_plan(
        cls,
        plan: Plan,
        control_port: int = DEFAULT_CONTROL_PORT,
        seed: int | None = None,
        *,
        note: Callable[[str], None] | None = None,
        on_fault: Callable[[str, Fault], None] | None = None,
    ) -> Simulator:
        """A simulator for every plan service with a local health URL, at its
        port and path, reporting the service's version (see `plan_ports`)."""
        ports = plan_ports(plan, note)
        by_name = {s.name: s for s in plan.services}
        paths: dict[str, str] = {}
        for name in ports:
            health = by_name[name].health
            assert health is not None  # plan_ports skips services without one
            paths[name] = urlsplit(health.url).path or "/"
        return cls(
            ports,
            control_port,
            seed,
            paths=paths,
            versions={name: by_name[name].version for name in ports},
            on_fault=on_fault,
        )

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on every port (except services set down) and the control port.

        Raises SimulatorError naming the port and service if one is taken;
        then nothing is left listening.
        """
        try:
            # The control API last: it being up is what marks the simulator as
            # running (see set_fault), so a half-started one takes no faults.
            for service in self._services.values():
                if not service.fault.down:
                    await service.listen()
            await self._start_control()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every listener and drop every connection; safe to call twice."""
        control, self._control = self._control, None
        closing = [service.close() for service in self._services.values()]
        if control is not None:
            closing.append(control.cleanup())
        await asyncio.gather(*closing)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _start_control(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._get_metrics)
        app.router.add_get("/faults", self._get_faults)
        app.router.add_get("/faults/{service}", self._get_fault)
        app.router.add_post("/faults/{service}", self._post_fault)
        self._control = await _serve(app, self.control_port, "the control API")

    # ------------------------------------------------------------ faults

    @property
    def control_url(self) -> str:
        return f"http://{HOST}:{self.control_port}"

    def urls(self) -> dict[str, str]:
        """Each service's health URL, in the order given."""
        return {name: service.url for name, service in self._services.items()}

    def faults(self) -> dict[str, Fault]:
        """Each service's current fault (`Fault()` when healthy)."""
        return {name: service.fault for name, service in self._services.items()}

    def _service(self, name: str) -> _SimulatedService:
        try:
            return self._services[name]
        except KeyError:
            raise UnknownService(name, list(self._services)) from None

    async def set_fault(self, name: str, fault: Fault) -> Fault:
        """Make service `name` misbehave as `fault` (`Fault()` clears it).

        Returns once the change is in effect: for `down`, the port refuses
        connections and open ones are dropped; clearing `down` listens again.
        Raises UnknownService, or SimulatorError if the port was taken while
        the service was down (it then stays down).
        """
        service = self._service(name)
        async with service.lock:
            await service.set_fault(fault, live=self._control is not None)
        if self._on_fault is not None:
            self._on_fault(name, fault)
        return fault

    # ------------------------------------------------------------ control API

    def _fault_json(self, service: _SimulatedService) -> dict[str, Any]:
        return {
            "service": service.name,
            "url": service.url,
            "fault": service.fault.to_json(),
            "summary": service.fault.describe(),
        }

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    async def _get_metrics(self, request: web.Request) -> web.Response:
        body, content_type = self.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    def exposition(self) -> tuple[bytes, str]:
        """Every service's traffic in Prometheus's text format, advanced to now."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.exposition import CONTENT_TYPE_LATEST
        from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily

        for service in self._services.values():
            service.traffic.advance(service.fault, service.listening)
        services = list(self._services.values())

        class _Collector:
            def collect(self) -> Iterator[Any]:
                requests = CounterMetricFamily(
                    "http_requests",
                    "Requests the simulated service answered, by status code.",
                    labels=["service", "code"],
                )
                durations = HistogramMetricFamily(
                    "http_request_duration_seconds",
                    "How long the simulated service took to answer.",
                    labels=["service"],
                )
                for service in services:
                    traffic = service.traffic
                    for code, count in sorted(traffic.by_code.items()):
                        requests.add_metric([service.name, code], count)
                    buckets = [
                        (f"{le:g}", c) for le, c in zip(BUCKETS, traffic.buckets, strict=True)
                    ]
                    buckets.append(("+Inf", traffic.count))
                    durations.add_metric([service.name], buckets, traffic.sum_s)
                yield requests
                yield durations

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector())
        return generate_latest(registry), CONTENT_TYPE_LATEST

    async def _get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"services": {name: self._fault_json(s) for name, s in self._services.items()}}
        )

    async def _get_fault(self, request: web.Request) -> web.Response:
        try:
            service = self._service(request.match_info["service"])
        except UnknownService as exc:
            return self._error(404, exc.message)
        return web.json_response(self._fault_json(service))

    async def _post_fault(self, request: web.Request) -> web.Response:
        name = request.match_info["service"]
        try:
            service = self._service(name)
        except UnknownService as exc:
            return self._error(404, exc.message)
        try:
            body = json.loads(await request.text())
        except (ValueError, UnicodeDecodeError):
            return self._error(400, 'the body is not JSON: send an object such as {"down": true}')
        try:
            fault = Fault.from_json(body)
        except FaultInvalid as exc:
            return self._error(400, str(exc))
        try:
            await self.set_fault(name, fault)
        except SimulatorError as exc:
            return self._error(409, str(exc))
        return web.json_response(self._fault_json(service))


# ---------------------------------------------------------------- plans


def plan_ports(plan: Plan, note: Callable[[str], None] | None = None) -> dict[str, int]:
    """Each plan service's port, from its health URL, in plan order.

    Only plain-http URLs on 127.0.0.1 or localhost with an explicit port can
    be simulated; every other service is skipped and `note` is told why, in
    one sentence (as is a second service on a port already taken).
    """
    ports: dict[str, int] = {}
    owners: dict[int, str] = {}
    for service in plan.services:
        port, reason = _local_port(service.health.url if service.health else None)
        if port is not None and port in owners:
            reason = f"its port {port} is already {owners[port]}'s"
            port = None
        if port is None:
            if note is not None:
                note(f"not simulating {service.name}: {reason}")
            continue
        ports[service.name] = port
        owners[port] = service.name
    return ports


def _local_port(url: str | None) -> tuple[int | None, str]:
    """The port of a simulable health URL, else None and why not."""
    if url is None:
        return None, "it has no health url"
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None, f"its health url {url} has a bad port"
    if parts.scheme != "http":
        return None, f"its health url {url} is not plain http"
    if parts.hostname not in LOCAL_HOSTS:
        return None, f"its health url {url} is not on 127.0.0.1 or localhost"
    if port is None:
        return None, f"its health url {url} names no port"
    return port, ""
