"""Twenty people writing at once through the CLI, on one SQLite file.

Once, 3 of 240 such commands failed with "database stayed locked": a cold
CLI write held the lock for 40-120 ms, so twenty of them queued past the
busy timeout. Commands now do their cold work before taking the lock. These tests do
not time anything: the crowd asserts that every command succeeded and every
message is in the log exactly once (on a machine where the old lock time was
short it passed too, so the second test pins the cause down: what a cold
write compiles inside the lock).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlmodel import select

from warroom.store import audit
from warroom.store import models as m
from warroom.store.engine import Store

WARROOM = str(Path(sys.executable).parent / "warroom")
PEOPLE = ["sarah", "tom", "raj", "mike", "lisa", "ana", "omar", "jen", "kim", "pat"]
WRITERS = 20


def commands_for(writer: int) -> int:
    return 2 + writer % 3


def test_twenty_cli_writers_on_one_sqlite_file_all_succeed(sqlite_loaded: Store) -> None:
    db = sqlite_loaded.url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if k not in {"WARROOM_DB", "WARROOM_USER"}}

    def writer(number: int) -> list[tuple[str, int, str]]:
        person = PEOPLE[number % len(PEOPLE)]
        results = []
        # 2 to 4 commands each: twenty writers at once is the point; more
        # rounds only make the suite slower (bench_store_lock.py measures).
        for n in range(commands_for(number)):
            text = f"writer {number} message {n}"
            done = subprocess.run(
                [WARROOM, "--db", db, "--as", person, "say", text],
                check=False,
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
            results.append((text, done.returncode, done.stderr.strip()))
        return results

    with ThreadPoolExecutor(WRITERS) as pool:
        results = [r for batch in pool.map(writer, range(WRITERS)) for r in batch]
    failures = [(text, code, err) for text, code, err in results if code != 0]
    assert not failures, f"{len(failures)} of {len(results)} commands failed: {failures[:3]}"
    with sqlite_loaded.read() as session:
        posted = Counter(
            session.exec(select(m.LogEntry.text).where(m.LogEntry.kind == "message")).all()
        )
        chain = audit.verify(session, sqlite_loaded.audit_keys)
    sent = [text for text, _, _ in results]
    assert len(sent) == sum(commands_for(n) for n in range(WRITERS))
    assert {text: posted[text] for text in sent} == dict.fromkeys(sent, 1)
    assert chain.problem is None


# Runs the real CLI in a fresh interpreter with SQLAlchemy's statement log on.
LOGGED_CLI = """
import logging, sys
logging.basicConfig(level=logging.WARNING, format="%(message)s")
logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
from warroom.cli import main
main(sys.argv[1:])
"""


def test_a_cold_cli_write_compiles_nothing_it_reads_under_the_write_lock(
    sqlite_loaded: Store, db_path: Path
) -> None:
    """What the lock time is made of, without a clock: in a fresh process, every
    query inside BEGIN IMMEDIATE ... COMMIT was compiled (and the mappers
    configured) before the lock was taken. SQLAlchemy logs each statement's
    parameters with `[generated in ...]` when it compiles it, `[cached since ...]`
    when it was ready."""
    args = ["--db", f"sqlite:///{db_path}", "--as", "mike", "say", "cold write"]
    done = subprocess.run(
        [sys.executable, "-c", LOGGED_CLI, *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.splitlines()
    start = lines.index("BEGIN IMMEDIATE")
    end = lines.index("COMMIT", start)
    inside = lines[start:end]
    selects = [n for n, line in enumerate(inside) if line.startswith("SELECT")]
    assert len(selects) >= 3  # the audit head, the release, the person acting
    for n in selects:
        marker = next(line for line in inside[n:] if line.startswith("["))
        assert marker.startswith("[cached since"), f"{inside[n]} ... {marker}"
