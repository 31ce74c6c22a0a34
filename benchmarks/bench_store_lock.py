"""How long a cold CLI write holds SQLite's write lock (issue 10). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_store_lock.py [RUNS] [--no-crowd]

Every `warroom say` is a fresh process: its first write pays for imports,
mapper configuration and SQL compilation. Whatever of that happens between
`BEGIN IMMEDIATE` and `COMMIT` makes every other writer wait. This runs the
real CLI (`warroom.cli.main`) in fresh interpreters, with SQLAlchemy events
timing each write transaction from its BEGIN IMMEDIATE to the end of its
commit, and prints the lock hold time and the whole process time.

It then runs 20 writers at once (5 messages each) and prints how long the
slowest command waited and how many failed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import Figure, from_samples

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
from warroom.cli import main
main(sys.argv[1:])
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


def crowd(db: str, writers: int, each: int) -> tuple[int, float]:
    def one(who: int) -> tuple[int, float]:
        failed = 0
        worst = 0.0
        for n in range(each):
            start = time.perf_counter()
            done = subprocess.run(
                [WARROOM, "--db", db, "--as", "sarah", "say", f"crowd {who}-{n}"],
                check=False,
                capture_output=True,
            )
            took = time.perf_counter() - start
            worst = max(worst, took)
            if done.returncode != 0:
                failed += 1
                print(f"  failed after {took:.1f} s: {done.stderr.decode().strip()[-300:]}")
        return failed, worst

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(one, range(writers)))
    return sum(f for f, _ in results), max(w for _, w in results)


def run(quick: bool = False) -> list[Figure]:
    """Quick: 5 runs, no crowd."""
    return measure_all(5 if quick else 15, crowd_too=not quick)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 15
    measure_all(runs, crowd_too="--no-crowd" not in sys.argv)


def measure_all(runs: int, crowd_too: bool) -> list[Figure]:
    with tempfile.TemporaryDirectory() as scratch:
        db = f"sqlite:///{scratch}/warroom.db"
        env = {**os.environ, "WARROOM_DB": db}
        subprocess.run(
            [WARROOM, "load", str(SAMPLE), "--as", "sarah"],
            check=True,
            env=env,
            capture_output=True,
        )
        held, whole = lock_times(db, runs)
        ms = sorted(x * 1000 for x in held)
        print(f"cold `warroom say`, {runs} runs, SQLite {sqlite3.sqlite_version}")
        print(
            f"  write lock held: median {statistics.median(ms):6.1f} ms  "
            f"max {ms[-1]:6.1f} ms  min {ms[0]:6.1f} ms  ({len(ms)} write transactions)"
        )
        print(f"  whole process:   median {statistics.median(whole) * 1000:6.1f} ms")
        out = [
            from_samples("cold `warroom say`: write lock held", held, None, tail="max"),
            from_samples("cold `warroom say`: whole process", whole, None),
        ]
        if not crowd_too:
            return out
        failed, worst = crowd(db, 20, 5)
        print(f"20 writers x 5 messages: {failed} failed; slowest command {worst * 1000:.0f} ms")
        out.append(
            Figure("20 writers x 5 messages: slowest command", worst * 1000, "ms", kind="total")
        )
        out.append(
            Figure("20 writers x 5 messages: failed commands", failed, "", goal=1, kind="total")
        )
        return out


if __name__ == "__main__":
    main()
