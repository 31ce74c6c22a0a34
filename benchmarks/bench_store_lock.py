"""How long a cold CLI write holds SQLite's write lock (issue 10). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_store_lock.py [RUNS] [--no-crowd]

Every `warroom say` is a fresh process: its first write pays for imports,
mapper configuration and SQL compilation. Whatever of that happens between
`BEGIN IMMEDIATE` and `COMMIT` makes every other writer wait. This runs the
real CLI (`warroom.cli.main`) in fresh interpreters, with SQLAlchemy events
timing each write transaction from its BEGIN IMMEDIATE to the end of its
commit, and prints the lock hold time and the whole process time.

For what the transaction itself needs, the same write is timed warm: in one
process that has made it once already (as an app or the poller makes it).
The goal: a cold write holds the lock under twice that.

It then runs 20 writers at once (5 cold `warroom say` each) on SQLite and
on a PostgreSQL it starts (warroom.testing.pg), and prints every command's
latency (p50, p99, max) and how many failed.
"""

from __future__ import annotations

import json
import pstats
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import (
    Figure,
    explain,
    from_samples,
    on_postgres,
    pct,
    top_of,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "release-v2.5.0.yaml"
WARROOM = str(Path(sys.executable).parent / "warroom")

# Runs in the child: times every write transaction, then runs the CLI.
PROBE = r"""
import atexit, json, sys, time
from sqlalchemy import event
from sqlalchemy.engine import Engine

held = []
started = {}

@event.listens_for(Engine, "before_cursor_execute")
def _begin(conn, cursor, statement, *args):
    if statement.startswith("BEGIN IMMEDIATE"):
        started[id(conn.connection.dbapi_connection)] = time.perf_counter()

@event.listens_for(Engine, "commit")
def _commit(conn):
    key = id(conn.connection.dbapi_connection)
    if key in started:
        dbapi = conn.connection.dbapi_connection
        # The commit event fires before COMMIT: do it here to time it too
        # (SQLAlchemy's own commit afterwards finds nothing to commit).
        dbapi.commit()
        held.append(time.perf_counter() - started.pop(key))

atexit.register(lambda: print("LOCK " + json.dumps(held), file=sys.stderr))
from warroom.__main__ import main  # the `warroom` program itself
main()
"""


def lock_times(db: str, runs: int) -> tuple[list[float], list[float]]:
    held: list[float] = []
    whole: list[float] = []
    for n in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", PROBE, "--db", db, "--as", "sarah", "say", f"bench {n}"],
            check=True,
            capture_output=True,
            text=True,
        )
        whole.append(time.perf_counter() - start)
        line = next(x for x in done.stderr.splitlines() if x.startswith("LOCK "))
        held.extend(json.loads(line[5:]))
    return held, whole


# Runs in the child: the same transaction warm, as a long-running app or the
# poller makes it (imports done, mappers configured, SQL compiled): what the
# write itself needs the lock for. The first write is the cold one; it is left out.
WARM = PROBE.replace(
    "from warroom.__main__ import main  # the `warroom` program itself\nmain()",
    """
from warroom.clock import SystemClock
from warroom.commands import Commands
from warroom.store.engine import Store
commands = Commands(Store(sys.argv[1]), SystemClock(), "sarah")
for n in range(int(sys.argv[2]) + 1):
    commands.post_message(f"warm {n}")
held[:] = held[1:]
""",
)


def warm_times(db: str, runs: int) -> list[float]:
    done = subprocess.run(
        [sys.executable, "-c", WARM, db, str(runs)], check=True, capture_output=True, text=True
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("LOCK "))
    return [float(x) for x in json.loads(line[5:])]


def crowd(db: str, writers: int, each: int) -> tuple[list[float], int]:
    """`writers` threads each run `each` cold `warroom say` one after another: every
    command's latency (start to exit) and how many failed."""

    def one(who: int) -> tuple[list[float], int]:
        failed = 0
        took: list[float] = []
        for n in range(each):
            start = time.perf_counter()
            done = subprocess.run(
                [WARROOM, "--db", db, "--as", "sarah", "say", f"crowd {who}-{n}"],
                check=False,
                capture_output=True,
            )
            took.append(time.perf_counter() - start)
            if done.returncode != 0:
                failed += 1
                print(f"  failed after {took[-1]:.1f} s: {done.stderr.decode().strip()[-300:]}")
        return took, failed

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(one, range(writers)))
    return [t for took, _ in results for t in took], sum(f for _, f in results)


def run(quick: bool = False) -> list[Figure]:
    """Quick: 5 runs, no crowd."""
    return measure_all(5 if quick else 15, crowd_too=not quick)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 15
    measure_all(runs, crowd_too="--no-crowd" not in sys.argv)


def load(db: str) -> None:
    subprocess.run(
        [WARROOM, "--db", db, "load", str(SAMPLE), "--as", "sarah"],
        check=True,
        capture_output=True,
    )


def crowd_figures(label: str, db: str, writers: int = 20, each: int = 5) -> list[Figure]:
    took, failed = crowd(db, writers, each)
    figure = from_samples(
        f"{label}: {writers} writers x {each} cold `warroom say`, latency", took, None, tail="p99"
    )
    print(
        f"{label}: {writers} writers x {each} messages: {failed} failed; latency "
        f"p50 {statistics.median(took) * 1000:.0f} ms, p99 {pct(took, 0.99) * 1000:.0f} ms, "
        f"max {max(took) * 1000:.0f} ms"
    )
    return [
        figure,
        Figure(f"{label}: {writers} writers x {each}: failed commands", failed, "", 1, "total"),
    ]


def measure_all(runs: int, crowd_too: bool) -> list[Figure]:
    with tempfile.TemporaryDirectory() as scratch:
        db = f"sqlite:///{scratch}/warroom.db"
        load(db)
        held, whole = lock_times(db, runs)
        warm = warm_times(db, runs)
        ms = sorted(x * 1000 for x in held)
        warm_ms = statistics.median(warm) * 1000
        print(f"cold `warroom say`, {runs} runs, SQLite {sqlite3.sqlite_version}")
        print(
            f"  write lock held: median {statistics.median(ms):6.1f} ms  "
            f"max {ms[-1]:6.1f} ms  min {ms[0]:6.1f} ms  ({len(ms)} write transactions)"
        )
        print(f"  the same write warm (what it needs): median {warm_ms:6.1f} ms")
        print(f"  whole process:   median {statistics.median(whole) * 1000:6.1f} ms")
        # Goal: a cold write holds the lock no longer than twice what the
        # transaction needs warm (cold-start work stays outside the lock).
        cold = from_samples(
            "cold `warroom say`: write lock held",
            held,
            2 * statistics.median(warm),
            tail="max",
            note=f"warm, the same write holds it {warm_ms:.1f} ms (goal: under twice that)",
        )
        out = [
            explain(cold, lambda: lock_profile(db)),
            from_samples("the same write, warm: write lock held", warm, None, tail="max"),
            from_samples("cold `warroom say`: whole process", whole, None),
        ]
        if not crowd_too:
            return out
        out += crowd_figures("sqlite", db)

        def postgresql(url: str) -> list[Figure]:
            load(url)
            return crowd_figures("postgresql", url)

        return out + on_postgres(postgresql)


# Runs in the child: a cold `warroom say` profiled from BEGIN IMMEDIATE to
# COMMIT only, what other writers wait for (the stats go to the file argv[1]).
LOCK_PROFILE = (
    PROBE.replace(
        "held = []",
        "import cProfile\nprofiler = cProfile.Profile()\nheld = []\nout = sys.argv.pop(1)",
    )
    .replace(
        "started[id(conn.connection.dbapi_connection)] = time.perf_counter()",
        "started[id(conn.connection.dbapi_connection)] = time.perf_counter()\n        profiler.enable()",
    )
    .replace(
        "        held.append(time.perf_counter() - started.pop(key))",
        "        profiler.disable()\n        held.append(time.perf_counter() - started.pop(key))\n"
        "        profiler.dump_stats(out)",
    )
)


SAY_PROFILED = ("--as", "sarah", "say", "profiled")


def lock_profile(db: str) -> str:
    """What a cold write does while it holds the lock (its profile, in process)."""
    with tempfile.TemporaryDirectory() as folder:
        stats = Path(folder) / "lock.prof"
        subprocess.run(
            [sys.executable, "-c", LOCK_PROFILE, str(stats), *SAY_PROFILED, "--db", db],
            check=True,
            capture_output=True,
        )
        profile = top_of(pstats.Stats(str(stats)), "one cold `warroom say`, BEGIN to COMMIT")
    return (
        "the lock is held while the write's own statements run for the first time in the "
        "process: SQLAlchemy compiles an INSERT or UPDATE the first time it executes it "
        "(only a write can, and a write takes the lock), and the ORM's first flush sets "
        "itself up; everything a read can warm is warmed before BEGIN (commands/tx.py "
        "_rehearse). A process that writes again (the war room, an SSH session, the "
        "poller) pays this once. " + profile
    )


if __name__ == "__main__":
    main()
