"""`warroom audit export`: what it writes re-verifies outside warroom, and only a sound chain is written.

The verifier is the README's own recipe, cut out of README.md and run in a
child Python that cannot import warroom (`-I -S`: no site-packages at all),
against the export and the database's audit key file.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import T0
from warroom.cli import main
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.store import audit, auditexport
from warroom.store.engine import Store

ROOT = Path(__file__).resolve().parent.parent
RECIPE_MARKER = "<!-- audit-recipe -->"
MINUTE = timedelta(minutes=1)
PLUS_TWO = timezone(timedelta(hours=2))


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's verification recipe, as a script of its own."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(RECIPE_MARKER) == 1, "README.md must mark exactly one audit recipe"
    after = readme.split(RECIPE_MARKER, 1)[1]
    match = re.match(r"\s*```python\n(.*?)\n```", after, re.DOTALL)
    assert match is not None, f"a ```python block must follow {RECIPE_MARKER} in README.md"
    script = tmp_path_factory.mktemp("recipe") / "verify_export.py"
    script.write_text(match.group(1) + "\n", encoding="utf-8")
    return script


def run_recipe(recipe: Path, export: Path, key: Path) -> subprocess.CompletedProcess[str]:
    # -I -S: no site-packages, no PYTHONPATH, no current folder: the standard library only.
    return subprocess.run(
        [sys.executable, "-I", "-S", str(recipe), str(export), str(key)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=export.parent,
    )


def warroom(store: Store, *args: str) -> Result:
    """`warroom --db URL ARGS...`, in this process."""
    return CliRunner().invoke(main, ["--db", url(store), *args], catch_exceptions=False)


def url(store: Store) -> str:
    return store.url.render_as_string(hide_password=False)


def export_to(store: Store, path: Path, *args: str) -> Result:
    result = CliRunner().invoke(
        main, ["--db", url(store), "audit", "export", "-o", str(path), *args]
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.stderr
    return result


def key_file(store: Store) -> Path:
    key = store.audit_keys.for_reading()
    assert key is not None and key.path is not None
    return key.path


def chain(store: Store) -> list[tuple[int, str, str]]:
    """(id, payload, hash) of every event, as stored."""
    with store.read() as session:
        return [(row[0], row[5], row[7]) for row in audit._rows(session)]


def tamper(store: Store, statement: str) -> None:
    """Someone with the database: switch the append-only guard off and edit."""
    if store.backend == "sqlite":
        assert store.sqlite_path is not None
        with closing(sqlite3.connect(store.sqlite_path)) as db:
            db.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
            db.execute(statement)
            db.commit()
        return
    import psycopg

    with psycopg.connect(url(store).replace("+psycopg", ""), autocommit=True) as pg:
        pg.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
        pg.execute(statement.encode())


def busy(store: Store, clock: FixedClock) -> Store:
    """Seven events a minute apart: the load at T0, five messages, an item at T0+6m."""
    for index in range(5):
        clock.advance(MINUTE)
        Commands(store, clock, "mike").post_message(f"note {index}")
    clock.advance(MINUTE)
    Commands(store, clock, "mike").check_item("backend-1")
    return store


@pytest.fixture
def seven(loaded: Store, clock: FixedClock) -> Store:
    """Seven events on each backend."""
    return busy(loaded, clock)


@pytest.fixture
def sqlite_seven(sqlite_loaded: Store, clock: FixedClock) -> Store:
    """Seven events on SQLite: for what is about the exported file, not the database."""
    return busy(sqlite_loaded, clock)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def edit_line(path: Path, index: int, change: Callable[[str], str]) -> None:
    content = lines(path)
    changed = change(content[index])
    assert changed != content[index]
    content[index] = changed
    path.write_text("".join(content), encoding="utf-8")


# ---------------------------------------------------------------- the export verifies


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_verifies_with_the_standard_library_alone(
    seven: Store, tmp_path: Path, recipe: Path, fmt: str
) -> None:
    out = tmp_path / f"audit.{fmt}"
    result = export_to(seven, out, "--format", fmt)
    assert result.stdout == ""
    assert result.stderr == f"wrote 7 audit events (#1 to #7) to {out}\n"

    proc = run_recipe(recipe, out, key_file(seven))
    assert proc.returncode == 0, proc.stderr
    last_id, _, last_hash = chain(seven)[-1]
    # A full export starts at the genesis hash and ends at the checkpoint `audit head` prints.
    assert f"after {audit.GENESIS_HASH}" in proc.stdout
    assert proc.stdout.strip().endswith(f"{last_id}:{last_hash}")
    head = warroom(seven, "audit", "head")
    assert head.stdout.strip() == f"{last_id}:{last_hash}"


def test_fields_are_exactly_what_the_hash_covers(seven: Store, tmp_path: Path) -> None:
    result = warroom(seven, "audit", "export")
    assert result.exit_code == 0 and result.stderr == ""
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [list(event) for event in events] == [list(auditexport.FIELDS)] * 7
    stored = chain(seven)
    assert [(e["id"], e["payload"], e["hash"]) for e in events] == stored
    assert events[0]["prev_hash"] == audit.GENESIS_HASH
    assert all(after["prev_hash"] == before["hash"] for before, after in itertools.pairwise(events))
    # The stamp as the hash material writes it, the payload as the stored string.
    assert events[0]["at"] == "2024-03-20T13:20:00.000000+00:00"
    assert events[3]["at"] == "2024-03-20T13:23:00.000000+00:00"
    assert isinstance(events[1]["payload"], str) and '"text":"note 0"' in events[1]["payload"]
    assert all(isinstance(e["release_id"], int) for e in events)
    assert events[1]["actor"] == "mike" and events[1]["action"] == "message"

    # The same bytes on stdout as in a file; CSV holds the same values.
    out = tmp_path / "audit.jsonl"
    export_to(seven, out)
    assert out.read_text(encoding="utf-8") == result.stdout
    csv_out = warroom(seven, "audit", "export", "--format", "csv").stdout
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(csv_out, newline="")))
    assert [row["hash"] for row in rows] == [e["hash"] for e in events]
    assert [row["payload"] for row in rows] == [e["payload"] for e in events]
    assert rows[0]["release_id"] == str(events[0]["release_id"])


def test_unusual_text_round_trips_and_verifies(
    loaded: Store, clock: FixedClock, tmp_path: Path, recipe: Path
) -> None:
    """Quotes, commas, non-ASCII, a terminal escape: data in the export, exact."""
    text = 'déploiement, "fini"\x1b[2J ✓ \u202e'
    Commands(loaded, clock, "mike").post_message(text)
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"odd.{fmt}"
        export_to(loaded, out, "--format", fmt)
        proc = run_recipe(recipe, out, key_file(loaded))
        assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in lines(tmp_path / "odd.jsonl")]
    assert json.loads(events[-1]["payload"])["text"] == text


# ---------------------------------------------------------------- tampering with the file


@pytest.mark.parametrize(
    ("fmt", "line", "change", "named"),
    [
        ("jsonl", 3, lambda s: s.replace("note 2", "note X"), "#4 does not match its hash"),
        ("jsonl", 1, lambda s: s.replace('"actor": "mike"', '"actor": "sarah"'), "#2 does not"),
        ("csv", 4, lambda s: s.replace("note 2", "note 3"), "#4 does not match its hash"),
        ("csv", 7, lambda s: s.replace(",mike,", ",mika,"), "#7 does not match its hash"),
        ("csv", 2, lambda s: s.replace("13:21:00.0", "13:21:00.1"), "#2 does not match its hash"),
    ],
)
def test_one_changed_character_fails_the_recipe_naming_the_event(
    sqlite_seven: Store,
    tmp_path: Path,
    recipe: Path,
    fmt: str,
    line: int,
    change: Callable[[str], str],
    named: str,
) -> None:
    out = tmp_path / f"audit.{fmt}"
    export_to(sqlite_seven, out, "--format", fmt)
    edit_line(out, line, change)
    proc = run_recipe(recipe, out, key_file(sqlite_seven))
    assert proc.returncode != 0
    assert f"event {named}" in proc.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_removed_or_moved_line_fails_the_recipe(
    sqlite_seven: Store, tmp_path: Path, recipe: Path, fmt: str
) -> None:
    out = tmp_path / f"audit.{fmt}"
    export_to(sqlite_seven, out, "--format", fmt)
    header = 1 if fmt == "csv" else 0
    original = lines(out)

    del_event_4 = original[: header + 3] + original[header + 4 :]
    out.write_text("".join(del_event_4), encoding="utf-8")
    proc = run_recipe(recipe, out, key_file(sqlite_seven))
    assert proc.returncode != 0 and "event #5 does not follow #3" in proc.stderr

    swapped = [*original]
    swapped[header + 2], swapped[header + 3] = swapped[header + 3], swapped[header + 2]
    out.write_text("".join(swapped), encoding="utf-8")
    proc = run_recipe(recipe, out, key_file(sqlite_seven))
    assert proc.returncode != 0 and "event #4 does not follow #2" in proc.stderr


def test_the_wrong_key_fails_the_recipe(sqlite_seven: Store, tmp_path: Path, recipe: Path) -> None:
    out = tmp_path / "audit.jsonl"
    export_to(sqlite_seven, out)
    other = json.loads(key_file(sqlite_seven).read_text(encoding="utf-8"))
    other["key"] = "ab" * 32
    wrong = tmp_path / "wrong.key"
    wrong.write_text(json.dumps(other), encoding="utf-8")
    proc = run_recipe(recipe, out, wrong)
    assert proc.returncode != 0 and "event #1 does not match its hash" in proc.stderr


# ---------------------------------------------------------------- --since / --until


def exported_ids(path: Path) -> list[int]:
    return [json.loads(line)["id"] for line in lines(path)]


@pytest.mark.parametrize(
    ("since", "until", "ids"),
    [
        (T0 + 2 * MINUTE, T0 + 4 * MINUTE, [3, 4, 5]),  # both bounds inclusive
        (T0 + 2 * MINUTE + timedelta(seconds=1), T0 + 4 * MINUTE, [4, 5]),
        (T0 + 5 * MINUTE, None, [6, 7]),
        (None, T0 + MINUTE, [1, 2]),
        (None, None, [1, 2, 3, 4, 5, 6, 7]),
    ],
)
def test_since_and_until_select_the_events_stamped_between(
    seven: Store,
    tmp_path: Path,
    recipe: Path,
    since: datetime | None,
    until: datetime | None,
    ids: list[int],
) -> None:
    args: list[str] = []
    if since is not None:
        args += ["--since", stamp(since)]
    if until is not None:  # the same instant written with another offset
        args += ["--until", until.astimezone(PLUS_TWO).isoformat()]
    out = tmp_path / "part.jsonl"
    result = export_to(seven, out, *args)
    assert exported_ids(out) == ids
    assert result.stderr == f"wrote {len(ids)} audit events (#{ids[0]} to #{ids[-1]}) to {out}\n"

    proc = run_recipe(recipe, out, key_file(seven))
    assert proc.returncode == 0, proc.stderr
    # A filtered export starts mid-chain: its first event follows one not in the file.
    before = audit.GENESIS_HASH if ids[0] == 1 else chain(seven)[ids[0] - 2][2]
    assert f"after {before}" in proc.stdout


def test_an_interval_without_events_exports_none(sqlite_seven: Store, tmp_path: Path) -> None:
    out = tmp_path / "none.csv"
    result = export_to(sqlite_seven, out, "--format", "csv", "--since", stamp(T0 + 60 * MINUTE))
    assert result.stderr == f"wrote 0 audit events to {out}\n"
    assert out.read_bytes() == (",".join(auditexport.FIELDS) + "\r\n").encode()


def test_an_event_stamped_out_of_order_stays_in_the_run(
    loaded: Store, clock: FixedClock, tmp_path: Path, recipe: Path
) -> None:
    """Writers' clocks disagree: an early stamp between two in the interval is exported
    too, or the file would not be one unbroken run of the chain."""
    clock.set(T0 + 10 * MINUTE)
    Commands(loaded, clock, "mike").post_message("in")  # 2
    clock.set(T0 - 60 * MINUTE)
    Commands(loaded, clock, "mike").post_message("a slow clock")  # 3
    clock.set(T0 + 11 * MINUTE)
    Commands(loaded, clock, "mike").post_message("in again")  # 4
    out = tmp_path / "run.jsonl"
    export_to(loaded, out, "--since", stamp(T0 + 10 * MINUTE))
    assert exported_ids(out) == [2, 3, 4]
    assert run_recipe(recipe, out, key_file(loaded)).returncode == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--since", "2024-03-20T14:00:00"], "has no timezone"),
        (["--until", "tomorrow"], "is not a time"),
        (
            ["--since", "2024-03-20T14:00:00Z", "--until", "2024-03-20T13:00:00Z"],
            "is before --since",
        ),
        (["--format", "xml"], "'xml' is not one of"),
    ],
)
def test_bad_options_are_usage_errors(
    sqlite_loaded: Store, tmp_path: Path, args: list[str], words: str
) -> None:
    out = tmp_path / "never.jsonl"
    result = CliRunner().invoke(
        main, ["--db", url(sqlite_loaded), "audit", "export", "-o", str(out), *args]
    )
    assert result.exit_code == 2 and words in result.stderr
    assert not out.exists()


# ---------------------------------------------------------------- a broken chain is not exported


def test_a_broken_chain_is_refused_as_verify_refuses_it(seven: Store, tmp_path: Path) -> None:
    tamper(
        seven, "UPDATE audit_event SET payload = replace(payload, 'note 2', 'note X') WHERE id = 4"
    )
    verify = warroom(seven, "audit", "verify")
    assert verify.exit_code == 1
    assert "audit event #4" in verify.stderr and "does not match its hash" in verify.stderr

    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "audit.jsonl"
    out.write_text("an earlier export\n", encoding="utf-8")
    for args in (["-o", str(out)], ["--format", "csv", "-o", str(out)], []):
        result = warroom(seven, "audit", "export", *args)
        assert result.exit_code == 1
        assert result.stderr == verify.stderr  # the same one sentence
        assert result.stdout == ""
    # The file is untouched and no temporary file is left beside it.
    assert out.read_text(encoding="utf-8") == "an earlier export\n"
    assert [p.name for p in folder.iterdir()] == ["audit.jsonl"]


def test_a_folder_that_does_not_exist_is_one_sentence(sqlite_loaded: Store, tmp_path: Path) -> None:
    out = tmp_path / "missing" / "audit.jsonl"
    result = warroom(sqlite_loaded, "audit", "export", "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr == f"warroom: cannot write {out}: No such file or directory\n"


def test_the_note_on_stderr_is_inert(sqlite_loaded: Store, tmp_path: Path) -> None:
    """The file name is the person's own, but the note still goes through safe()."""
    out = tmp_path / "audit\x1b[2J.jsonl"
    result = export_to(sqlite_loaded, out)
    assert "\x1b" not in result.stderr and "audit␛[2J.jsonl" in result.stderr
    assert out.exists()


# ---------------------------------------------------------------- streaming


def test_records_cross_batch_boundaries(seven: Store) -> None:
    """Read a few at a time, a span comes back whole and in order, bounds included."""
    with seven.snapshot() as session:
        for ids in (range(1, 8), range(2, 7), range(3, 4), range(1, 1)):
            for batch in (1, 2, 3, 100):
                got = [event["id"] for event in auditexport.records(session, ids, batch)]
                assert got == list(ids), (ids, batch)


def test_events_written_after_the_snapshot_are_not_exported(
    seven: Store, clock: FixedClock
) -> None:
    """Verify and export read one snapshot: what is written is what was verified."""
    with seven.snapshot() as session:
        report = audit.verify(session, seven.audit_keys)
        assert report.ok and report.events == 7
        Commands(seven, clock, "mike").post_message("after the verify")  # another connection
        ids = auditexport.span(session, report.events)
        exported = list(auditexport.records(session, ids))
        assert [event["id"] for event in exported] == list(range(1, 8))
        # Nor does a second look in the same snapshot see it.
        assert list(audit._rows(session, first=8)) == []
    assert len(chain(seven)) == 8


@pytest.mark.parametrize("sub", ["verify", "head", "export"])
def test_the_audit_commands_offer_only_what_they_use(sub: str) -> None:
    """The chain is the database's, read by no one in particular: --db, never an
    --as or --release that would be accepted and ignored."""
    result = CliRunner().invoke(main, ["audit", sub, "--help"])
    assert result.exit_code == 0, result.output
    assert "--db URL" in result.output
    assert "--as" not in result.output and "--release" not in result.output
    ignored = CliRunner().invoke(main, ["audit", sub, "--as", "mike"])
    assert ignored.exit_code == 2 and "No such option '--as'" in ignored.output
