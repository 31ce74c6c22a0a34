"""Replay over a long day (issue 12). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_replay.py [--events 100000] [--samples 40]

The day: the scripted release of warroom.testing.release_day (GO, deploys, a failed
service, a fired trigger, a rollback), then `--events` more audit events
over the next eight hours, written straight into the chain the way the
command layer writes them (a third messages with their log lines, a third
health turns, a third trigger transitions), on a temporary SQLite file.

Printed:
- building the History (reading every event and folding it once: what the
  replay's worker does before the first frame; printed on its own);
- the domain's part of a move (History.at / History.after);
- headless: the replay's own work per move (the fold, every pane updated);
- in a real terminal (tmux): launch to the first frame of `warroom replay
  --at`, and key to repaint for a step, a ten-minute jump and a jump to the
  next trigger or decision — goal under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from figures import Figure, from_samples  # noqa: E402

from warroom.clock import FixedClock  # noqa: E402
from warroom.commands.load import load_plan  # noqa: E402
from warroom.domain import record  # noqa: E402
from warroom.domain.plan import parse_plan_text  # noqa: E402
from warroom.domain.record import History  # noqa: E402
from warroom.domain.replay import Playhead  # noqa: E402
from warroom.store import audit  # noqa: E402
from warroom.store import models as m  # noqa: E402
from warroom.store.engine import Store  # noqa: E402
from warroom.store.migrate import ensure_schema  # noqa: E402
from warroom.store.queries import current_release, read_history  # noqa: E402
from warroom.testing.release_day import rehearse  # noqa: E402
from warroom.tui.app import AppConfig, create_app  # noqa: E402
from warroom.tui.screens.replay import ReplayScreen  # noqa: E402

SAMPLE = ROOT / "sample_data" / "release-v2.5.0.yaml"
T0 = datetime.fromisoformat("2024-03-20T13:20:00+00:00")
SERVICES = ["api-gateway", "auth-service", "user-service", "logging-service"]
PEOPLE = [("mike", "backend"), ("pat", "ops"), ("ana", "infra"), ("jen", "frontend")]
BATCH = 5000
SIZE = (160, 48)
WARROOM = str(Path(sys.executable).parent / "warroom")


def build_day(path: Path, events: int) -> Store:
    """The scripted day, then `events` more events in the chain (see the module)."""
    store = Store(f"sqlite:///{path}", create_missing=True)
    ensure_schema(store)
    clock = FixedClock(T0)
    text = SAMPLE.read_text(encoding="utf-8")
    load_plan(
        store, parse_plan_text(text, source=str(SAMPLE)), text, loaded_by="sarah", clock=clock
    )
    rehearse(store, clock)
    start = clock.now()
    every = timedelta(hours=8) / events
    with store.read() as session:
        release = current_release(session)
        assert release is not None
        rid, name = release.id, release.name
    keys = store.audit_keys
    version: dict[str, int] = {}
    for first in range(0, events, BATCH):
        with store.write() as session:
            for n in range(first, min(first + BATCH, events)):
                at = start + every * (n + 1)
                kind = n % 3
                service = SERVICES[(n // 3) % len(SERVICES)]
                if kind == 0:
                    who, team = PEOPLE[n % len(PEOPLE)]
                    line = m.LogEntry(
                        release_id=rid,
                        at=at,
                        kind="message",
                        author=who,
                        team=team,
                        service=None,
                        text=f"update {n}: {service} looks steady, watching error rates",
                    )
                    session.add(line)
                    session.flush()
                    actor, action = who, "message"
                    after: dict[str, object] = {"log": line.id}
                elif kind == 1:
                    ok = (n // 6) % 2 == 0
                    image = record.health_image(ok, None if ok else "HTTP 503", at)
                    actor, action = "warroom", record.HEALTH_CHANGE
                    after = {"health": {service: image}}
                else:
                    trigger = f"error-rate@{service}"
                    version[trigger] = version.get(trigger, 1) + 1
                    pending = (n // 6) % 2 == 0
                    image = record.trigger_image(
                        "pending" if pending else "inactive",
                        pending,
                        at if pending else None,
                        None,
                        None,
                        None,
                        None,
                        "pending 10s / 2m — error_rate 1.40%" if pending else None,
                        version[trigger],
                    )
                    actor, action = "warroom", record.TRIGGER_CHANGE
                    after = {"triggers": {trigger: image}}
                audit.append(
                    session,
                    keys,
                    at=at,
                    actor=actor,
                    action=action,
                    release_id=rid,
                    payload={"release": name, "after": after},
                )
    return store


FIGURES: list[Figure] = []  # what show() printed, for run()


def show(label: str, samples: list[float], goal: float | None = None, why: str = "") -> None:
    figure = from_samples(label, samples, goal, judge="tail")
    if figure.over and why:
        figure.why = why
    FIGURES.append(figure)
    ordered = sorted(samples)
    med = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    verdict = ""
    if goal is not None:
        verdict = f"(goal {goal * 1000:.0f} ms) " + ("ok" if p95 < goal else "OVER GOAL")
    print(f"{label:<62} median {med * 1000:8.1f} ms  p95 {p95 * 1000:8.1f} ms  {verdict}")


def domain(history: History, samples: int, rng: random.Random) -> None:
    first, last = history.events[0].at, history.events[-1].at
    span = (last - first).total_seconds()
    moments = [first + timedelta(seconds=rng.uniform(0, span)) for _ in range(samples)]
    opened = []
    for moment in moments:
        start = time.perf_counter()
        history.at(moment)
        opened.append(time.perf_counter() - start)
    show("domain: History.at(an arbitrary moment)", opened)
    stepped = []
    for _ in range(samples):
        count = rng.randrange(1, len(history))
        start = time.perf_counter()
        history.after(count)
        stepped.append(time.perf_counter() - start)
    show("domain: History.after(n) (one step: a fold from a mark)", stepped)


async def headless(url: str, end: datetime, samples: int, rng: random.Random) -> None:
    """The replay's own work per move, headless: the fold and every pane's
    update (`ReplayScreen._go`), without Textual's key delivery and painting
    (the real terminal's figures below have those)."""
    app = create_app(
        AppConfig(
            db_url=url,
            identity="sarah",
            clock=FixedClock(end),
            replay=True,
            replay_at=end - timedelta(hours=4),
            db_label="bench",
        )
    )
    async with app.run_test(size=SIZE) as pilot:

        async def until(condition: Callable[[], bool]) -> None:
            while not condition():
                await pilot.pause(0.001)

        await until(lambda: isinstance(app.screen, ReplayScreen))
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        await until(lambda: screen.playhead is not None and screen.shown is screen.room.snapshot)
        handled: list[float] = []
        go = screen._go

        def timed_go(playhead: Playhead) -> None:
            start = time.perf_counter()
            go(playhead)
            handled.append(time.perf_counter() - start)

        screen._go = timed_go  # type: ignore[method-assign]
        playhead = screen.playhead
        assert playhead is not None
        reel = playhead.reel
        span = (reel.end - reel.start).total_seconds()
        for _ in range(samples):
            screen.go_to(reel.start + timedelta(seconds=rng.uniform(0, span)))
            await pilot.pause()
        show("headless: open at an arbitrary moment, the replay's own work", handled)
        for label, key in (("on (.)", "full_stop"), ("back (,)", "comma")):
            handled.clear()
            for _ in range(samples):
                await pilot.press(key)
            show(f"headless: step one event {label}, the replay's own work", handled)


NO_REPAINT_S = 5.0  # a press whose screen has not changed by then counts as this


def in_tmux(url: str, at: str, presses: int) -> None:
    """A real terminal (tmux, 160x48): launch to the first replay frame, then
    key to repaint for each kind of move (a capture costs a few ms: an upper bound)."""
    if shutil.which("tmux") is None:
        print("tmux not found: real-terminal figures not measured")
        return
    session = f"bench-replay-{os.getpid()}"
    started = time.monotonic()
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", str(SIZE[0]), "-y", str(SIZE[1]),
         f"{WARROOM} --db {url} --as sarah replay --at {at}"],
        check=True,
    )  # fmt: skip

    def capture() -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", session],
            check=False,
            capture_output=True,
            text=True,
        ).stdout

    try:
        while "Communication log" not in capture() or " event " not in capture():
            if time.monotonic() - started > 120:
                print("the replay did not open within 2 minutes")
                return
            time.sleep(0.01)
        first = time.monotonic() - started
        print(
            f"{'tmux: warroom replay --at, launch to the first frame':<62} {first * 1000:8.0f} ms"
        )
        time.sleep(1.0)
        for label, keys, goal in (
            ("step one event on / back (. ,)", ("." , ","), 0.2),
            ("jump ten minutes on / back (} {)", ("}", "{"), 0.2),
            ("to the next / previous trigger or decision (> <)", (">", "<"), 0.2),
        ):  # fmt: skip
            samples = []
            unchanged: list[str] = []  # presses after which the screen stayed the same
            for index in range(presses):
                before = capture()
                sent = time.monotonic()
                key = keys[index % 2]
                subprocess.run(["tmux", "send-keys", "-t", session, "-l", key], check=True)
                while capture() == before and time.monotonic() - sent < NO_REPAINT_S:
                    pass
                samples.append(time.monotonic() - sent)
                if samples[-1] >= NO_REPAINT_S:
                    unchanged.append(f"press {index + 1} ({key})")
                time.sleep(0.02)
            why = ""
            if unchanged:
                why = (
                    f"{len(unchanged)} of {presses} presses left the screen unchanged for "
                    f"{NO_REPAINT_S:g} s (counted as {NO_REPAINT_S:g} s): "
                    + ", ".join(unchanged)
                    + "; the top of the screen after the last of them:\n"
                    + "\n".join(capture().splitlines()[:3])
                )
            show(f"tmux: {label}, key to repaint", samples, goal, why)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument(
        "--day", type=Path, help="keep the day in this SQLite file (reused if it exists)"
    )
    args = parser.parse_args()
    measure_all(args.events, args.samples, args.day)


def run(quick: bool = False) -> list[Figure]:
    """Quick: 5,000 events, 10 samples, no tmux."""
    if quick:
        return measure_all(5_000, 10, None, terminal=False)
    return measure_all(100_000, 40, None)


def measure_all(events: int, samples: int, day: Path | None, terminal: bool = True) -> list[Figure]:
    FIGURES.clear()
    rng = random.Random(12)
    with tempfile.TemporaryDirectory() as scratch:
        path = day or Path(scratch) / "day.db"
        if path.exists():
            store = Store(f"sqlite:///{path}")
        else:
            start = time.perf_counter()
            store = build_day(path, events)
            print(f"(writing the day: {time.perf_counter() - start:.0f} s)")
        with store.read() as session:
            release = current_release(session)
            assert release is not None
            gc.disable()  # as the replay reads it (WarroomApp.read_history)
            start, cpu = time.perf_counter(), time.process_time()
            history = read_history(session, release)
            built, built_cpu = time.perf_counter() - start, time.process_time() - cpu
            gc.enable()
        lines = len(history.log)
        print(f"day: {len(history):,} audit events, {lines:,} log lines")
        print(
            f"{'build the History (read every event, fold once)':<62} {built * 1000:8.0f} ms"
            f"  ({built_cpu * 1000:.0f} ms of CPU)"
        )
        FIGURES.append(
            Figure(
                f"build the History ({len(history):,} events)",
                built * 1000,
                "ms",
                kind="total",
                note=f"{built_cpu * 1000:.0f} ms of CPU",
            )
        )
        domain(history, samples * 5, rng)
        end = history.events[-1].at
        middle = history.events[len(history) // 2].at
        store.dispose()
        del history
        url = f"sqlite:///{path}"
        asyncio.run(headless(url, end, samples, rng))
        if terminal:
            in_tmux(url, middle.isoformat(), samples)
    return list(FIGURES)


if __name__ == "__main__":
    main()
