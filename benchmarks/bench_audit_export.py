"""`warroom audit verify` and `warroom audit export` over a long chain (issue 12). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_audit_export.py [--events 100000] [--runs 3]

Builds a SQLite database holding the sample release and a chain of
`--events` audit events (message-shaped payloads, one a second), then times
the real CLI, each command a fresh process: `audit verify`, `audit export`
as JSON lines and as CSV to a file, to stdout, and a `--since/--until`
window of the last tenth. Wall time is noisy on a busy machine, so each
command's CPU time is printed too, and its peak memory: the export streams,
so it should hold about what verify holds, whatever the chain's length.

The chain is written the way `audit.append` writes it (the same links,
hashes and head seal) but with one INSERT per batch, not one ORM flush per
event: appending 100,000 events one by one would take minutes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from figures import Figure, from_samples  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from warroom.clock import FixedClock  # noqa: E402
from warroom.commands.load import load_plan  # noqa: E402
from warroom.domain.plan import parse_plan_text  # noqa: E402
from warroom.store import audit  # noqa: E402
from warroom.store import models as m  # noqa: E402
from warroom.store.engine import Store  # noqa: E402
from warroom.store.migrate import ensure_schema  # noqa: E402

SAMPLE = ROOT / "sample_data" / "release-v2.5.0.yaml"
BATCH = 10_000
T0 = datetime(2024, 3, 20, 13, 20, tzinfo=UTC)  # the load; event N is stamped N seconds later

# Runs in the child: the real CLI, then its CPU time and peak memory on stderr. VmHWM,
# not ru_maxrss: Linux carries ru_maxrss over exec, so it would report this (big) parent.
PROBE = r"""
import atexit, os, sys

def report():
    times = os.times()
    with open("/proc/self/status") as status:
        hwm = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print(f"USAGE {times.user + times.system} {hwm}", file=sys.stderr)

atexit.register(report)
from warroom.cli import main
main(sys.argv[1:])
"""


def build(path: Path, events: int) -> Store:
    """The sample release and a chain of `events` events, sealed as warroom seals it."""
    text = SAMPLE.read_text(encoding="utf-8")
    store = Store(f"sqlite:///{path}")
    ensure_schema(store)
    load_plan(store, parse_plan_text(text), text, loaded_by="sarah", clock=FixedClock(T0))
    key = store.audit_keys.for_reading()  # made by the load, which wrote event 1
    assert key is not None
    while True:
        with store.write() as session:
            head = audit.lock_head(session)
            first, last = head.last_id + 1, min(head.last_id + BATCH, events)
            if first > last:
                break
            rows, prev = [], head.last_hash
            for event_id in range(first, last + 1):
                words = (
                    f"step {event_id % 7} of deploy {event_id // 7}: error rate 0.{event_id % 10}%"
                )
                payload = {"command": "PostMessage", "fields": {"text": words}, "text": words}
                link = audit._Link(
                    event_id,
                    T0 + timedelta(seconds=event_id),
                    ("mike", "lisa", "raj", "sarah")[event_id % 4],
                    "message",
                    1,
                    audit.canonical_json({**payload, "release": "v2.5.0"}),
                    prev,
                )
                prev = audit.event_hash(link, key)
                rows.append({**asdict(link), "hash": prev})
            session.execute(insert(m.AuditEvent), rows)
            head.last_id, head.last_hash = last, prev
            head.seal = audit.head_seal(key, last, prev)
            session.add(head)
    return store


Measured = tuple[list[float], list[float], int]


def timed(args: list[str], runs: int, stdout: int | None = None) -> Measured:
    """Wall and CPU seconds per run of `warroom ARGS` in a fresh process; its peak RSS (KiB)."""
    took: list[float] = []
    cpu: list[float] = []
    rss = 0
    for _ in range(runs):
        begin = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", PROBE, *args],
            check=True,
            stdout=stdout if stdout is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        took.append(time.perf_counter() - begin)
        line = next(x for x in done.stderr.splitlines() if x.startswith("USAGE "))
        cpu.append(float(line.split()[1]))
        rss = max(rss, int(line.split()[2]))
    return took, cpu, rss


def report(label: str, measured: Measured, extra: str = "") -> Figure:
    took, cpu, rss = measured
    print(
        f"  {label:<42} wall median {statistics.median(took):5.2f} s (min {min(took):5.2f})  "
        f"CPU median {statistics.median(cpu):5.2f} s  peak RSS {rss / 1024:3.0f} MiB{extra}"
    )
    figure = from_samples(label, took, None, unit="s")
    figure.note = f"CPU median {statistics.median(cpu):.2f} s, peak RSS {rss / 1024:.0f} MiB"
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    measure_all(options.events, options.runs)


def run(quick: bool = False) -> list[Figure]:
    """Quick: 10,000 events, one run of each command."""
    return measure_all(10_000 if quick else 100_000, 1 if quick else 3)


def measure_all(events: int, runs: int) -> list[Figure]:
    found: list[Figure] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        begin = time.perf_counter()
        store = build(folder / "warroom.db", events)
        with store.read() as session:
            chain = audit.verify(session, store.audit_keys)
        store.dispose()
        assert chain.ok, chain.problem  # the bench's own set-up, not a figure
        print(
            f"{events:,} audit events on SQLite "
            f"(built in {time.perf_counter() - begin:.1f} s; "
            f"{(folder / 'warroom.db').stat().st_size / 2**20:.0f} MiB), "
            f"{runs} runs each, whole process:"
        )
        db = ["--db", f"sqlite:///{folder / 'warroom.db'}"]
        measured = timed([*db, "audit", "verify"], runs)
        found.append(report("audit verify", measured))
        baseline = statistics.median(measured[1])

        for fmt in ("jsonl", "csv"):
            out = folder / f"audit.{fmt}"
            measured = timed([*db, "audit", "export", "--format", fmt, "-o", str(out)], runs)
            size = out.stat().st_size / 2**20
            more = statistics.median(measured[1]) - baseline
            found.append(
                report(
                    f"audit export --format {fmt} -o FILE",
                    measured,
                    f"  ({size:.0f} MiB file; CPU {more:+.2f} s over verify)",
                )
            )
        with open(os.devnull, "w") as null:
            measured = timed([*db, "audit", "export"], runs, stdout=null.fileno())
        found.append(report("audit export > /dev/null", measured))

        since = (T0 + timedelta(seconds=events - events // 10 + 1)).isoformat()
        measured = timed(
            [*db, "audit", "export", "--since", since, "-o", str(folder / "tail.jsonl")],
            runs,
        )
        found.append(report("audit export --since (last tenth) -o FILE", measured))
    return found


if __name__ == "__main__":
    main()
