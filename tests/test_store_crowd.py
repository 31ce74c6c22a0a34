"""Twenty people writing at once through the CLI, on one SQLite file.

Once, 3 of 240 such commands failed with "database stayed locked": a cold
CLI write held the lock for 40-120 ms, so twenty of them queued past the
busy timeout. Commands now do their cold work before taking the lock. This
test does not time anything: it asserts that every command succeeded and
that every message is in the log exactly once.
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


def test_twenty_cli_writers_on_one_sqlite_file_all_succeed(sqlite_loaded: Store) -> None:
    db = sqlite_loaded.url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if k not in {"WARROOM_DB", "WARROOM_USER"}}

    def writer(number: int) -> list[tuple[str, int, str]]:
        person = PEOPLE[number % len(PEOPLE)]
        results = []
        for n in range(5 + number % 4):  # 5 to 8 commands each
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
        chain = audit.verify(session)
    sent = [text for text, _, _ in results]
    assert len(sent) == sum(5 + n % 4 for n in range(WRITERS))
    assert {text: posted[text] for text in sent} == dict.fromkeys(sent, 1)
    assert chain.problem is None
