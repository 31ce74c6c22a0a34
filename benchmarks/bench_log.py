"""What one new log line costs the app that shows it. Prints figures (asserts no time).

    .venv/bin/python benchmarks/bench_log.py [--lines 200] [--rounds 3]

Every change in the room reaches every open app as a log line, so this is
paid once per change per person. The war room runs headless on the sample
release (a temporary SQLite file, 160x48); lines are handed to the log pane
one at a time the way a fresh read hands them (`CommsLog.show`), each one
drawn before the next. Printed: the event loop's CPU per line, less what the
same number of idle frames cost, for

- the log pane as shipped: a new line updates the pane's scrollbar only;
- Textual's public path: the pane's growth asks for a layout pass of the
  whole screen (what a plain RichLog does).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from figures import Figure  # noqa: E402

from warroom.clock import FixedClock  # noqa: E402
from warroom.commands.load import load_plan  # noqa: E402
from warroom.domain.plan import parse_plan_text  # noqa: E402
from warroom.domain.snapshot import LogView, ReleaseSnapshot  # noqa: E402
from warroom.store.engine import Store  # noqa: E402
from warroom.tui.app import AppConfig, create_app  # noqa: E402
from warroom.tui.widgets import scrollbars  # noqa: E402
from warroom.tui.widgets.comms_log import CommsLog  # noqa: E402

SAMPLE = ROOT / "sample_data" / "release-v2.5.0.yaml"
FRAME = 1 / 30  # long enough for the screen to draw what changed


def with_line(snapshot: ReleaseSnapshot, number: int) -> ReleaseSnapshot:
    last = snapshot.log[-1]
    line = LogView(
        last.id + 1,
        last.at + timedelta(seconds=1),
        "message",
        "mike",
        "backend",
        None,
        f"bench line {number}: holding user-service until auth is green",
    )
    return dataclasses.replace(snapshot, log=(*snapshot.log, line))


async def measure(url: str, clock: FixedClock, lines: int, cheap: bool) -> float:
    """Main-thread CPU seconds per appended line, idle frames subtracted."""
    scrollbars.CHEAP = cheap
    config = AppConfig(
        db_url=url, identity="sarah", clock=clock, poll_interval=30, heartbeat_interval=3600
    )
    app = create_app(config)
    async with app.run_test(size=(160, 48)) as pilot:
        while app.snapshot is None:
            await pilot.pause(0.05)
        await pilot.pause(0.5)
        log = app.query_one(CommsLog)
        snapshot = app.snapshot

        start = time.thread_time()
        for _ in range(lines):
            await pilot.pause(FRAME)
        idle = time.thread_time() - start

        start = time.thread_time()
        for number in range(lines):
            snapshot = with_line(snapshot, number)
            log.show(snapshot)
            await pilot.pause(FRAME)
        busy = time.thread_time() - start
        assert log.lines.scroll_y == log.lines.max_scroll_y > 0, "the log did not follow"
        return (busy - idle) / lines


def run(quick: bool = False) -> list[Figure]:
    """Quick: 50 lines, one round."""
    return measure_all(50 if quick else 200, 1 if quick else 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    measure_all(args.lines, args.rounds)


def measure_all(lines: int, rounds: int) -> list[Figure]:
    out: list[Figure] = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'warroom.db'}"
        clock = FixedClock(datetime(2024, 3, 20, 14, 5, tzinfo=UTC))
        text = SAMPLE.read_text(encoding="utf-8")
        store = Store(url)
        load_plan(store, parse_plan_text(text), text, loaded_by="sarah", clock=clock)
        store.dispose()
        for label, cheap in (("as shipped", True), ("public path (layout pass)", False)):
            runs = [asyncio.run(measure(url, clock, lines, cheap)) for _ in range(rounds)]
            print(
                f"{label:>26}: {statistics.median(runs) * 1000:5.2f} ms of main-thread CPU "
                f"per line (median of {rounds} runs of {lines}: "
                + ", ".join(f"{r * 1000:.2f}" for r in runs)
                + ")"
            )
            out.append(
                Figure(
                    f"CPU per new log line, {label}",
                    statistics.median(runs) * 1000,
                    "ms",
                    kind="total",
                    note=f"median of {rounds} runs of {lines} lines",
                )
            )
    return out


if __name__ == "__main__":
    main()
