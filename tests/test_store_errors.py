"""Storage errors name the file and say what is wrong with it, from SQLite's real errors.

Once, a read-only location said "unable to open database file" (which file?
why?), a full disk was worded "unreachable" and a file that is not a database
said so only in SQLite's words. Each case here makes SQLite itself fail.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.store import engine
from warroom.store.engine import Store, StoreBusy, StoreError

WARROOM = str(Path(sys.executable).parent / "warroom")
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "release-v2.5.0.yaml"


def warroom(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"WARROOM_DB", "WARROOM_USER"}}
    return subprocess.run(
        [*prefix, WARROOM, *args], check=False, capture_output=True, text=True, env=env, timeout=60
    )


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command prints (and that it printed nothing else)."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "notes.db"
    junk.write_bytes(b"these are my release notes, not a database\n" * 100)
    for args in (["status"], ["--as", "sarah", "say", "hi"]):
        line = refused(warroom("--db", f"sqlite:///{junk}", *args))
        assert line == (
            f"warroom: {junk} is not a warroom database (it is not an SQLite file at all); "
            "point --db at the shared database, or give a new file name and load a plan into it"
        )


def test_a_file_where_the_folder_should_be(tmp_path: Path) -> None:
    (tmp_path / "releases").write_text("a file, not a folder")
    line = refused(warroom("--db", f"sqlite:///{tmp_path}/releases/warroom.db", "status"))
    assert (
        line
        == f"warroom: cannot use {tmp_path}/releases/warroom.db: {tmp_path}/releases is a file, not a folder"
    )


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[tuple[Path, tuple[str, ...]]]:
    """A loaded database in a folder that its user cannot write, and how to run commands there.

    chmod does not stop root, so as root the folder is bind-mounted read-only
    in a private mount namespace that only the command under test sees.
    """
    folder = tmp_path / "shared"
    folder.mkdir()
    db = folder / "warroom.db"
    loaded = warroom("--db", f"sqlite:///{db}", "--as", "sarah", "load", str(SAMPLE))
    assert loaded.returncode == 0, loaded.stderr
    if os.geteuid() != 0:
        db.chmod(0o444)
        folder.chmod(0o555)
        yield db, ()
        folder.chmod(0o755)
        return
    unshare = shutil.which("unshare")
    probe = subprocess.run(
        [unshare or "unshare", "-m", "true"], check=False, capture_output=True, timeout=30
    )
    if unshare is None or probe.returncode != 0:
        pytest.skip("running as root without mount namespaces: no way to make a folder read-only")
    mount = f'mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && exec "$@"'
    yield db, (unshare, "-m", "sh", "-c", mount, "sh")


def test_a_read_only_location_names_the_file_and_the_cause(
    read_only: tuple[Path, tuple[str, ...]],
) -> None:
    db, prefix = read_only
    line = refused(warroom("--db", f"sqlite:///{db}", "--as", "sarah", "say", "hi", prefix=prefix))
    assert line.startswith(f"warroom: cannot use {db}: ")
    cause = line.removeprefix(f"warroom: cannot use {db}: ")
    assert cause in {
        "it is on a read-only file system; put the database on a writable disk",
        f"the file is read-only; make it writable (chmod u+w {db})",
    }


def test_a_full_disk_is_called_full_not_unreachable(
    sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    """SQLITE_FULL for real: the file may not grow past the pages it has now."""
    store = Store(f"sqlite:///{db_path}")

    @event.listens_for(store.engine, "connect")
    def _cap(dbapi_connection: Any, _record: Any) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    commands = Commands(store, clock, "sarah")
    with pytest.raises(StoreError) as raised:
        for n in range(2000):
            commands.post_message(f"{n} " + "x" * 1900)
    store.dispose()
    assert str(raised.value) == (
        f"cannot write to {db_path}: the disk is full (or the database reached its size "
        "limit); free some space and try again"
    )


def test_a_lock_held_too_long_names_the_file(
    sqlite_loaded: Store, db_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "BUSY_TIMEOUT_S", 0.2)
    store = Store(f"sqlite:///{db_path}")
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusy) as raised:
            Commands(store, clock, "sarah").post_message("anyone there?")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.dispose()
    assert str(raised.value).startswith(
        f"{db_path} stayed locked by another writer for more than 0.2s; try again"
    )
