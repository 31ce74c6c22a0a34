"""The health poller: one APScheduler job per probe interval, one active poller per release.

Any number of pollers may run (`warroom poll` processes); the lease in the
database decides which one polls. The holder renews it every half interval;
a standby checks as often, so when the holder dies another takes over
within two intervals. The services probed every N seconds share one
APScheduler job, run every N seconds, that starts each one's probe at its
own moment of the interval (staggered, so they do not all fire at once)
with a plain event-loop timer: an APScheduler job per service cost ~300 us
of CPU per probe in the scheduler's bookkeeping alone, as much as the probe
(1,000 services, benchmarks/bench_health.py). A service whose previous
probe is still under way is not probed again (a slow endpoint never piles
up probes of itself). Probes share one httpx client under a concurrency
bound, each with a hard deadline — one hanging endpoint never delays
another. Samples are written in batches by a flush job, through the
command layer, in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import math
import os
import socket
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from warroom.clock import Clock
from warroom.commands.health import HealthCommands, Recorded, Target, plan_text, targets
from warroom.commands.tx import CommandError
from warroom.domain import notify as nt
from warroom.domain.health import Sample, bounded
from warroom.domain.metrics import Reading
from warroom.health.notifier import Notifier
from warroom.health.probe import make_client, probe
from warroom.health.prometheus import MetricsFeed
from warroom.store.engine import Store, StoreError
from warroom.store.migrate import ensure_schema

log = logging.getLogger("warroom.poller")
MAX_QUEUED = 20_000  # samples kept in memory while the database is away
STOP_GRACE_S = 1.0  # how long probes under way may finish once asked to stop
SLOT_S = 0.1  # an interval's probes start in slots this far apart (see _probe_group)


def default_holder() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "poller"
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class NotifyOptions:
    """How the lease holder sends notifications (health/notifier.py)."""

    every: float = 0.25  # seconds between looks at the outbox
    timeout: float = 10.0  # per request
    backoff_first: timedelta = nt.BACKOFF_FIRST
    max_attempts: int = nt.MAX_ATTEMPTS
    env: Mapping[str, str] | None = None  # None: the process's environment


@dataclass
class PollerStats:
    probes: int = 0
    flushed: int = 0
    active: bool = False
    holder: str | None = None
    fired: list[str] = field(default_factory=list)


class Poller:
    def __init__(
        self,
        db_url: str,
        clock: Clock,
        *,
        holder: str | None = None,
        release: str | None = None,
        concurrency: int = 100,
        flush_interval: float = 0.1,
        on_status: Callable[[str], None] | None = None,
        notify: NotifyOptions | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if not math.isfinite(flush_interval) or flush_interval <= 0:
            raise ValueError(f"the flush interval must be a positive number, not {flush_interval}")
        self.db_url = db_url
        self.clock = clock
        self.holder = holder or default_holder()
        self.release = release
        self.concurrency = concurrency
        self.flush_interval = flush_interval
        self.on_status = on_status or (lambda text: log.info("%s", text))
        self.notify = notify or NotifyOptions()
        self.notifier: Notifier | None = None
        self.stats = PollerStats()
        self.targets: dict[str, Target] = {}
        self._queue: deque[Sample] = deque(maxlen=MAX_QUEUED)
        self._store: Store | None = None
        self._commands: HealthCommands | None = None
        self._scheduler: Any = None
        self._client: Any = None
        self._semaphore = asyncio.Semaphore(concurrency)
        self._stopping = False
        # Jobs under way, by how a stop treats them: probes and grouped
        # queries (network waits) are cut off after STOP_GRACE_S; the lease
        # and flush jobs (database work in a thread, which no cancel stops)
        # are waited for, so the last claim or batch lands before the lease
        # is handed over, and APScheduler has nothing left to cancel.
        self._running: set[asyncio.Task[Any]] = set()
        self._chores: set[asyncio.Task[Any]] = set()
        self._crashed: set[str] = set()  # services whose probe raised (logged once)
        # Each service's probe under way (one at a time) and the timers that
        # start the probes of an interval at their staggered moments.
        self._probing: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[float, asyncio.TimerHandle] = {}  # by interval
        # Each interval's slots still to start, and the loop time its tick started.
        self._slots: dict[float, tuple[float, list[tuple[int, list[str]]]]] = {}
        # The plan's Prometheus, when it names one (read at start, secrets included).
        self.metrics: MetricsFeed | None = None
        self._environ = environ if environ is not None else os.environ

    # ---------------------------------------------------------------- timing

    @property
    def interval(self) -> timedelta:
        """The shortest probe interval: the lease is sized by it."""
        return min((t.interval for t in self.targets.values()), default=timedelta(seconds=5))

    @property
    def ttl(self) -> timedelta:
        return self.interval * 1.5

    # ---------------------------------------------------------------- lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._store = Store(self.db_url)
        await asyncio.to_thread(ensure_schema, self._store)
        self._commands = HealthCommands(self._store, self.clock, self.holder, self.release)
        self._client = make_client(self.concurrency)
        options = self.notify
        self.notifier = Notifier(
            self._store,
            self.clock,
            self.holder,
            self.release,
            active=lambda: self.stats.active and not self._stopping,
            env=options.env,
            timeout=options.timeout,
            backoff_first=options.backoff_first,
            max_attempts=options.max_attempts,
        )
        self._scheduler = AsyncIOScheduler(
            event_loop=asyncio.get_running_loop(),
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 5},
        )
        await self._refresh_targets()
        await self._start_metrics()
        lease_every = max(self.interval.total_seconds() / 2, 0.2)
        now = datetime.now(UTC)
        self._scheduler.add_job(
            self._lease_tick, "interval", seconds=lease_every, id="lease", next_run_time=now
        )
        self._scheduler.add_job(self._flush, "interval", seconds=self.flush_interval, id="flush")
        # The outbox: what commands anywhere wrote for people outside the room.
        self._scheduler.add_job(
            self.notifier.tick, "interval", seconds=options.every, id="notify", next_run_time=now
        )
        self._scheduler.start()
        try:
            await stop.wait()
        finally:
            # Probes in flight get a moment to finish (their samples are
            # worth writing), but not their whole deadline: a stop (SIGTERM
            # from systemd or Kubernetes) must hand the lease over promptly
            # even while an endpoint hangs for a 30 s timeout.
            self._stopping = True
            self._scheduler.pause()
            self._cancel_timers()
            # A job the scheduler launched just before the pause has a task
            # that has not run yet: one turn of the loop lets it start and
            # enrol itself (or return at once, seeing the stop).
            await asyncio.sleep(0)
            if self._running:
                await asyncio.wait(list(self._running), timeout=STOP_GRACE_S)
            for job in list(self._running):
                job.cancel()
            if self._running:
                await asyncio.wait(list(self._running))
            if self._chores:
                await asyncio.wait(list(self._chores))
            # Nothing of ours is in flight now. Were anything, APScheduler's
            # shutdown would cancel it and log the CancelledError (raised out
            # of asyncio.to_thread) as "Error running job", with a traceback.
            self._scheduler.shutdown(wait=False)
            await self.notifier.aclose(STOP_GRACE_S)
            await self._flush()
            if self.stats.active:
                with contextlib.suppress(CommandError, StoreError):
                    await asyncio.to_thread(self._commands.release_lease)
            await self._client.aclose()
            if self.metrics is not None and self.metrics.client is not None:
                await self.metrics.client.aclose()
            self._store.dispose()

    async def _refresh_targets(self) -> None:
        assert self._store is not None
        try:
            found = await asyncio.to_thread(targets, self._store, self.release)
        except StoreError as exc:
            self.on_status(f"cannot read the release: {exc}")
            return
        self.targets = {t.service: t for t in found}

    async def _start_metrics(self) -> None:
        """The plan's Prometheus, if it names one: credentials read from the
        environment now (a missing one makes every Prometheus metric no data,
        saying why, rather than stopping the health checks)."""
        from warroom.domain.plan import PlanInvalid, parse_plan_text
        from warroom.health.prometheus import ConfigError, PrometheusClient

        assert self._store is not None
        try:
            text = await asyncio.to_thread(plan_text, self._store, self.release)
        except StoreError:
            return
        if text is None:
            return
        try:
            source = parse_plan_text(text).metrics_source()
        except PlanInvalid:  # loaded by an older warroom, say: no metrics of ours
            return
        if source is None:
            return
        try:
            client = PrometheusClient(source, self._environ)
        except ConfigError as exc:
            self.on_status(str(exc))
            self.metrics = MetricsFeed(source, None, broken=str(exc))
            return
        self.metrics = MetricsFeed(source, client)
        self.on_status(
            f"metrics from Prometheus at {source.url}: {', '.join(sorted(source.metrics()))}"
        )

    async def _ask_grouped(self, interval_s: float) -> None:
        """One poll of every grouped query for the services probed every `interval_s`."""
        feed = self.metrics
        if feed is None or not self.stats.active or self._stopping:
            return
        group = [t for t in self.targets.values() if t.interval.total_seconds() == interval_s]
        if not group:
            return
        timeout = min(t.timeout for t in group)
        with self._enrolled(self._running):
            try:
                await feed.refresh([t.service for t in group], timeout)
            except asyncio.CancelledError:
                if self._stopping:
                    return
                raise

    @contextlib.contextmanager
    def _enrolled(self, jobs: set[asyncio.Task[Any]]) -> Iterator[None]:
        """The current job is in `jobs` while the block runs (see run()'s stop)."""
        job = asyncio.current_task()
        assert job is not None
        jobs.add(job)
        try:
            yield
        finally:
            jobs.discard(job)

    async def _lease_tick(self) -> None:
        if self._stopping:
            return  # the stop hands the lease over; no claim may land after it
        with self._enrolled(self._chores):
            await self._claim_lease()

    async def _claim_lease(self) -> None:
        assert self._commands is not None
        await self._refresh_targets()
        try:
            claim = await asyncio.to_thread(self._commands.claim, self.ttl)
        except (CommandError, StoreError) as exc:
            # No database, no lease: stop probing until we can prove we hold it.
            if self.stats.active:
                self.on_status(f"lost contact with the database ({exc}); pausing")
            self._deactivate()
            return
        if claim.held and not self.stats.active:
            took = f" (took over from {claim.taken_over_from})" if claim.taken_over_from else ""
            self.on_status(f"polling {len(self.targets)} services as {self.holder}{took}")
            self._activate()
        elif not claim.held and (self.stats.active or self.stats.holder != claim.holder):
            self.on_status(f"standing by: {claim.holder} holds the poller lease")
            self._deactivate()
        self.stats.holder = claim.holder
        if claim.held:
            self._sync_jobs()

    def _activate(self) -> None:
        self.stats.active = True
        self._sync_jobs()

    def _deactivate(self) -> None:
        self.stats.active = False
        if self._scheduler is not None:
            for job in self._scheduler.get_jobs():
                if job.id.startswith(("probe:", "prometheus:")):
                    job.remove()
        self._cancel_timers()
        self._queue.clear()

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._slots.clear()

    def _sync_jobs(self) -> None:
        """One job per probe interval (and per interval's grouped Prometheus queries)."""
        scheduler = self._scheduler
        existing = {job.id for job in scheduler.get_jobs()}
        intervals = sorted({t.interval.total_seconds() for t in self.targets.values()})
        wanted = {f"probe:{seconds:g}" for seconds in intervals}
        if self.metrics is not None:
            wanted |= {f"prometheus:{seconds:g}" for seconds in intervals}
        for job_id in existing - wanted:
            if job_id.startswith(("probe:", "prometheus:")):
                scheduler.remove_job(job_id)
        now = datetime.now(UTC)
        for seconds in intervals:
            # Grouped queries first: one request per query per interval for
            # every service, answered before the interval's probes read them.
            jobs = [("prometheus", self._ask_grouped)] if self.metrics is not None else []
            jobs.append(("probe", self._probe_group))
            for kind, job in jobs:
                job_id = f"{kind}:{seconds:g}"
                if job_id not in existing:
                    scheduler.add_job(
                        job,
                        "interval",
                        seconds=seconds,
                        args=[seconds],
                        id=job_id,
                        next_run_time=now,
                        max_instances=1,
                        coalesce=True,
                        misfire_grace_time=max(1, int(seconds)),
                    )

    async def _probe_group(self, interval_s: float) -> None:
        """Start one probe of every service probed every `interval_s`, spread over the interval.

        Service k of n (by name) starts at the slot k/n of the way into the
        interval, so 1,000 services at 5 s are 200 probes a second, never a
        burst of 1,000, and the same service lands at the same moment of
        every interval. The slots are SLOT_S apart: the probes of one slot
        start together and share the event loop's turns (each probe started
        on its own cost ~2x the CPU in wake-ups and system calls).
        """
        if not self.stats.active or self._stopping:
            return
        group = sorted(
            name for name, t in self.targets.items() if t.interval.total_seconds() == interval_s
        )
        late = self._timers.pop(interval_s, None)
        if late is not None:
            # The last interval's slots have not all come (that tick ran
            # late): start them now rather than skip an interval.
            late.cancel()
            for _, names in self._slots.pop(interval_s, (0.0, []))[1]:
                self._launch(names)
        slots: dict[int, list[str]] = {}
        count = len(group)
        for index, name in enumerate(group):
            slots.setdefault(int(interval_s * index / count / SLOT_S), []).append(name)
        self._slots[interval_s] = (asyncio.get_running_loop().time(), sorted(slots.items()))
        self._start_probes(interval_s)

    def _start_probes(self, interval_s: float) -> None:
        """Start the probes of the group's next slot, and set a timer for the one after."""
        self._timers.pop(interval_s, None)
        start, pending = self._slots.get(interval_s, (0.0, []))
        if not pending or not self.stats.active or self._stopping:
            return
        self._launch(pending.pop(0)[1])
        if pending:
            self._timers[interval_s] = asyncio.get_running_loop().call_at(
                start + pending[0][0] * SLOT_S, self._start_probes, interval_s
            )

    def _launch(self, names: list[str]) -> None:
        """Probe each of `names` now, unless its last probe is still under way."""
        loop = asyncio.get_running_loop()
        for name in names:
            if name in self._probing:
                continue  # a slow endpoint does not pile up probes of itself
            task = loop.create_task(self._probe(name), name=f"probe:{name}")
            self._probing[name] = task  # also what keeps the task alive (the loop holds it weakly)
            task.add_done_callback(self._probed)

    def _probed(self, task: asyncio.Task[None]) -> None:
        name = task.get_name().removeprefix("probe:")
        if self._probing.get(name) is task:
            del self._probing[name]

    # ---------------------------------------------------------------- work

    async def _probe(self, name: str) -> None:
        target = self.targets.get(name)
        if target is None or not self.stats.active or self._stopping:
            return
        with self._enrolled(self._running):
            sample = await self._measure(name, target)
        if sample is not None and self.stats.active:
            self._queue.append(sample)
            self.stats.probes += 1

    async def _measure(self, name: str, target: Target) -> Sample | None:
        """One probe (and the service's own queries); None when a stop cut it off."""
        try:
            async with self._semaphore:
                timeout = target.timeout.total_seconds()
                feed = self.metrics
                if feed is None or not feed.asks_own(name):
                    # The probe alone: no gather (two more tasks per probe)
                    # when Prometheus has nothing to ask for this service only.
                    sample = await probe(self._client, name, target.url, timeout, self.clock)
                    own: Mapping[str, Reading] = {}
                else:
                    # The service's own ($service) queries beside its probe.
                    sample, own = await asyncio.gather(
                        probe(self._client, name, target.url, timeout, self.clock),
                        feed.own(name, target.timeout),
                    )
                if feed is not None:
                    sample = feed.attach(sample, own, target.interval)
        except asyncio.CancelledError:
            if self._stopping:
                return None  # cut off by a stop (run() cancels what outlives the grace)
            raise
        except Exception as exc:  # a bug in the probe, not the endpoint's doing
            # Still a sample (health "failing", so triggers see it), and the
            # traceback once per service, not every interval.
            if name not in self._crashed:
                self._crashed.add(name)
                log.exception("probing %s failed unexpectedly", name)
            sample = Sample(
                service=name,
                at=self.clock.now(),
                ok=False,
                reason=bounded(f"the probe failed unexpectedly ({type(exc).__name__}: {exc})"),
                status_code=None,
                latency_ms=None,
                metrics={},
            )
        return sample

    async def _flush(self) -> None:
        with self._enrolled(self._chores):
            await self._record()

    async def _record(self) -> None:
        if not self._queue or self._commands is None:
            return
        batch = list(self._queue)
        self._queue.clear()
        try:
            result: Recorded = await asyncio.to_thread(self._commands.record, batch, self.ttl)
        except CommandError as exc:
            self.on_status(str(exc))
            self._deactivate()
            return
        except StoreError as exc:
            # Keep the samples (bounded) and try again on the next flush.
            self._queue.extendleft(reversed(batch))
            self.on_status(f"could not record {len(batch)} samples ({exc}); will retry")
            return
        self.stats.flushed += result.samples
        for trigger in result.fired:
            self.stats.fired.append(trigger)
            self.on_status(f"TRIGGER FIRING: {trigger}")
        if (result.fired or result.resolved) and self.notifier is not None:
            # Out of the room at once, not at the outbox's next look.
            await self.notifier.tick()
