"""`warroom report` over a long day: 100,000 audit events. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_report.py [--events 100000] [--services 200] [--runs 3]
                                                [--backends sqlite,postgresql]

A generated 200-service plan is loaded the real way; then a day of events is
written straight into the tables, shaped as the command layer writes them
(the images of domain/record.py): every checklist item checked, GO, every
service's runbook steps, and, between them, health turns, trigger
transitions and people's messages (each with its log line), plus some
incidents — a trigger fires, is acknowledged, the service is rolled back and
its health passes again. Events are 0.8 s apart, so 100,000 fill a day. The
hash chain is not computed (the report does not verify it).

Printed, per backend: the whole `warroom report --format md --output FILE`
process, cold (goal < 2 s), wall and CPU time (the CPU time says more on a
busy machine), and in one process the CPU time of its parts: reading the
record (SQL and JSON, and folding it into a History), measuring the report,
and rendering Markdown, JSON and HTML.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from figures import Figure, explain, from_samples, on_postgres, profile_process  # noqa: E402
from genplan import generate  # noqa: E402

from warroom.domain import record as r  # noqa: E402
from warroom.domain.lifecycle import DeployState, state_after_step  # noqa: E402

if TYPE_CHECKING:
    from warroom.domain.record import History

T = TypeVar("T")
WARROOM = str(Path(sys.executable).parent / "warroom")
START = datetime(2024, 3, 20, 13, 0, tzinfo=UTC)
STEP = timedelta(milliseconds=800)
FIGURES: list[Figure] = []  # what was printed, for run()


class Day:
    """Events and log lines, in order, as the command layer would have written them."""

    def __init__(self, snapshot: Any, release_id: int) -> None:
        self.rid = release_id
        self.release = snapshot.release.name
        self.events: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self.at = START
        self.versions: dict[str, int] = {}

    def tick(self) -> datetime:
        self.at += STEP
        return self.at

    def line(self, author: str, text: str, kind: str = "system", service: str | None = None) -> int:
        self.log.append(
            {
                "release_id": self.rid,
                "at": self.at,
                "kind": kind,
                "author": author,
                "team": None,
                "service": service,
                "text": text,
            }
        )
        return len(self.log)  # ids start at 1 in an empty log table (the load's line is 1)

    def event(self, actor: str, action: str, after: dict[str, Any], **fields: Any) -> None:
        payload = {"release": self.release, **fields, "after": after}
        self.events.append(
            {
                "at": self.at,
                "actor": actor,
                "action": action,
                "release_id": self.rid,
                "payload": json.dumps(payload, sort_keys=True),
                "prev_hash": "0" * 64,
                "hash": "0" * 64,
            }
        )

    def version(self, key: str) -> int:
        self.versions[key] = self.versions.get(key, 1) + 1
        return self.versions[key]


def make_day(snapshot: Any, release_id: int, total: int, seed: int = 11) -> Day:
    rng = random.Random(seed)
    day = Day(snapshot, release_id)
    day.log.append({})  # the load's own line is already in the table
    for item in snapshot.all_items:
        day.tick()
        image = r.item_image(day.at, "rm", day.version(item.key))
        day.event("rm", "item.check", {"items": {item.key: image}}, keys=[item.key])
    day.tick()
    day.event(
        "rm",
        "decision",
        {"log": day.line("rm", "Decision: GO")},
        kind="GO",
        subset=[],
        rationale="ready",
    )

    services = {s.name: s for s in snapshot.services}
    order = list(snapshot.deploy_order)
    steps_done: dict[str, list[tuple[datetime | None, str | None]]] = {
        name: [(None, None)] * len(services[name].steps) for name in order
    }
    state = dict.fromkeys(order, DeployState.WAITING)
    healthy = dict.fromkeys(order, True)
    cursor = 0  # the next service to move along
    incidents: list[str] = []
    people = [p.name for p in snapshot.people]

    def service_event(name: str, actor: str, action: str, new: DeployState) -> None:
        state[name] = new
        image = r.service_image(new, day.at, actor, day.version(name), steps_done[name])
        text = f"{name} {new.label}"
        day.event(
            actor,
            action,
            {"services": {name: image}, "log": day.line(actor, text, service=name)},
            service=name,
        )

    while len(day.events) < total:
        day.tick()
        roll = rng.random()
        if roll < 0.02 and cursor < len(order):
            # The next runbook step of the service being deployed.
            name = order[cursor]
            done = sum(1 for at, _ in steps_done[name] if at is not None)
            steps_done[name][done] = (day.at, "oncall")
            service_event(
                name, "oncall", "step.done", state_after_step(done + 1, len(steps_done[name]))
            )
            if state[name] is DeployState.DONE:
                cursor += 1
                if rng.random() < 0.1:
                    incidents.append(name)
        elif roll < 0.03 and incidents:
            # An incident: firing, acknowledged, rolled back, healthy again (one event each).
            name = incidents[0]
            tid = f"error-rate@{name}"
            phase = state[name]
            if phase is DeployState.DONE and healthy[name]:
                healthy[name] = False
                day.event(
                    "warroom",
                    "health.change",
                    {"health": {name: r.health_image(False, "HTTP 503", day.at)}},
                )
                image = r.trigger_image(
                    "pending", True, day.at, None, None, None, None, "pending", day.version(tid)
                )
                day.event("warroom", "trigger.change", {"triggers": {tid: image}}, trigger=tid)
            elif phase is DeployState.DONE:
                since = day.at - timedelta(minutes=2)
                image = r.trigger_image(
                    "firing", True, since, day.at, None, None, None, "firing", day.version(tid)
                )
                day.event(
                    "warroom",
                    "trigger.fire",
                    {"triggers": {tid: image}, "log": day.line("warroom", f"{tid} FIRING")},
                    trigger=tid,
                )
                service_event(name, "rm", "rollback.start", DeployState.ROLLING_BACK)
            elif phase is DeployState.ROLLING_BACK:
                service_event(name, "oncall", "rollback.done", DeployState.ROLLED_BACK)
            else:
                healthy[name] = True
                day.event(
                    "warroom",
                    "health.change",
                    {"health": {name: r.health_image(True, None, day.at)}},
                )
                incidents.pop(0)
        elif roll < 0.35:
            who = rng.choice(people)
            text = f"update {len(day.events)} from {who}: holding until the error rate settles"
            day.event(who, "message", {"log": day.line(who, text, kind="message")}, text=text)
        elif roll < 0.7:
            name = rng.choice(order)
            ok = rng.random() < 0.5
            day.event(
                "warroom",
                "health.change",
                {"health": {name: r.health_image(ok, None if ok else "timeout", day.at)}},
            )
        else:
            name = rng.choice(order)
            tid = f"error-rate@{name}"
            trigger_phase = "pending" if rng.random() < 0.5 else "inactive"
            holding = trigger_phase == "pending"
            image = r.trigger_image(
                trigger_phase,
                holding,
                day.at if holding else None,
                None,
                None,
                None,
                None,
                trigger_phase,
                day.version(tid),
            )
            day.event("warroom", "trigger.change", {"triggers": {tid: image}}, trigger=tid)
    return day


def build(url: str, events: int, services: int) -> None:
    from sqlalchemy import func, insert, select

    from warroom.clock import FixedClock
    from warroom.commands.load import load_plan
    from warroom.domain.plan import parse_plan_text
    from warroom.store import tables as t
    from warroom.store.engine import Store
    from warroom.store.migrate import ensure_schema
    from warroom.store.queries import current_release, load_snapshot

    store = Store(url, create_missing=True)
    try:
        ensure_schema(store)
        text = generate(services, services * 3)
        plan = parse_plan_text(text)
        load_plan(store, plan, text, loaded_by="rm", clock=FixedClock(START))
        with store.read() as session:
            release = current_release(session)
            assert release is not None and release.id is not None
            snapshot = load_snapshot(session, release)
        day = make_day(snapshot, release.id, events)
        with store.engine.begin() as conn:
            # Ids as the command layer gives them (the chain numbers its events itself).
            last_event = conn.execute(select(func.max(t.audit_event.c.id))).scalar() or 0
            last_line = conn.execute(select(func.max(t.log_entry.c.id))).scalar() or 0
            assert last_line == 1, "the day's log ids assume the load's line is the only one"
            for number, row in enumerate(day.events, start=last_event + 1):
                row["id"] = number
            for number, row in enumerate(day.log[1:], start=2):
                row["id"] = number
            for chunk in _chunks(day.log[1:], 5000):
                conn.execute(insert(t.log_entry), chunk)
            for chunk in _chunks(day.events, 5000):
                conn.execute(insert(t.audit_event), chunk)
            if conn.dialect.name == "postgresql":  # later writes number from there
                conn.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('log_entry', 'id'), "
                    "(SELECT max(id) FROM log_entry))"
                )
    finally:
        store.dispose()


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for index in range(0, len(rows), size):
        yield rows[index : index + size]


def best(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """The least CPU time of `runs` calls (the machine may be busy: wall time says less)."""
    times, results = [], []
    for _ in range(runs):
        start = time.process_time()
        results.append(fn())
        times.append(time.process_time() - start)
    return min(times), results[-1]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def whole_process(url: str, runs: int, folder: Path) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of `warroom report --format md --output FILE`, cold, `runs` times."""
    env = {**os.environ, "WARROOM_NOW": "2024-03-21T13:00:00Z"}
    env.pop("WARROOM_DB", None)
    wall, cpu = [], []
    for _ in range(runs):
        start, used = time.perf_counter(), children_cpu()
        subprocess.run(
            [WARROOM, "report", "--db", url, "--output", str(folder / "day.md")],
            check=True,
            capture_output=True,
            env=env,
        )
        wall.append(time.perf_counter() - start)
        cpu.append(children_cpu() - used)
    return wall, cpu


def baseline(runs: int, folder: Path) -> None:
    """The same command on the sample release as loaded: what starting the process costs here."""
    url = f"sqlite:///{folder / 'fresh.db'}"
    subprocess.run(
        [
            WARROOM,
            "load",
            str(ROOT / "sample_data" / "release-v2.5.0.yaml"),
            "--db",
            url,
            "--as",
            "sarah",
        ],
        check=True,
        capture_output=True,
    )
    wall, cpu = whole_process(url, runs, folder)
    FIGURES.append(
        from_samples("baseline: warroom report, sample release as loaded", wall, None, unit="s")
    )
    print(
        f"baseline: the same command on the sample release as loaded (nothing happened): "
        f"wall median {statistics.median(wall):.2f} s, CPU median {statistics.median(cpu):.2f} s"
    )


def measure(label: str, url: str, runs: int, folder: Path) -> None:
    from warroom.domain.report import build_report
    from warroom.reporting import render
    from warroom.store.engine import Store
    from warroom.store.queries import current_release, read_history

    whole, cpu = whole_process(url, runs, folder)
    med = statistics.median(whole)
    figure = from_samples(f"{label}: warroom report --format md, cold", whole, 2.0, unit="s")
    figure.note = f"CPU median {statistics.median(cpu):.2f} s"
    env = {**os.environ, "WARROOM_NOW": "2024-03-21T13:00:00Z"}
    env.pop("WARROOM_DB", None)
    argv = [WARROOM, "report", "--db", url, "--output", str(folder / "day.md")]
    FIGURES.append(explain(figure, lambda: profile_process(argv, "one cold `warroom report`", env)))
    print(
        f"{label}: warroom report --format md, whole process, cold: wall median {med:.2f} s "
        f"(min {min(whole):.2f} s), CPU median {statistics.median(cpu):.2f} s "
        f"(goal < 2 s) {'ok' if med < 2 else 'OVER GOAL'}; load average {os.getloadavg()[0]:.1f}"
    )

    store = Store(url)
    gc.disable()  # as `warroom report` does (see cli/views.py)
    try:

        def read() -> History:
            # As `warroom report` reads (cli/views.py): Core, one transaction.
            with store.rows() as session:
                release = current_release(session)
                assert release is not None
                return read_history(session, release)

        read_s, history = best(read, runs)
        now = datetime(2024, 3, 21, 13, 0, tzinfo=UTC)
        fold_s, report = best(lambda: build_report(history, now), runs)
        parts = {fmt: best(partial(render, report, fmt), runs) for fmt in ("md", "json", "html")}
    finally:
        gc.enable()
        store.dispose()
    print(
        f"{label}: {len(history):,} events, {len(history.log):,} log lines: "
        f"CPU: read {read_s:.2f} s, report {fold_s:.2f} s, "
        + ", ".join(f"render {fmt} {seconds:.2f} s" for fmt, (seconds, _) in parts.items())
        + f"; Markdown {len(parts['md'][1]) / 1e6:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    measure_all(args.events, args.services, args.runs, args.backends.split(","))


def run(quick: bool = False) -> list[Figure]:
    """Quick: 10,000 events, 50 services, one run, SQLite only."""
    if quick:
        return measure_all(10_000, 50, 1, ["sqlite"])
    return measure_all(100_000, 200, 3, ["sqlite", "postgresql"])


def measure_all(events: int, services: int, runs: int, backends: list[str]) -> list[Figure]:
    FIGURES.clear()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        baseline(runs, folder)
        if "sqlite" in backends:
            url = f"sqlite:///{folder / 'day.db'}"
            started = time.perf_counter()
            build(url, events, services)
            print(f"sqlite: wrote {events:,} events in {time.perf_counter() - started:.0f} s")
            measure("sqlite", url, runs, folder)
        if "postgresql" in backends:

            def postgresql(url: str) -> list[Figure]:
                build(url, events, services)
                measure("postgresql", url, runs, folder)
                return []  # measure() adds its figures to FIGURES

            FIGURES.extend(on_postgres(postgresql))
    return list(FIGURES)


if __name__ == "__main__":
    main()
