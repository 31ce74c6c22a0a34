"""The cyclic collector through start-up (warroom/collector.py): the `warroom`
program starts with it off; the war room turns it back on after its first
read, every other long-running command as it starts, and a one-shot command
ends with it off.

The processes here are real: the program as `python -m warroom`, and a war
room with the process to itself, each reporting the collector's state.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from warroom import collector
from warroom.cli import RUN_ON, main
from warroom.store.engine import Store

NOW = "2024-03-20T14:05:00Z"


@pytest.fixture
def paused() -> Iterator[None]:
    """The collector paused as the program pauses it; on again afterwards."""
    collector.pause()
    try:
        yield
    finally:
        collector.resume()
        gc.enable()


def test_pause_resume_and_settle() -> None:
    try:
        collector.pause()
        assert not gc.isenabled() and collector.paused()
        collector.resume()
        assert gc.isenabled() and not collector.paused()

        # Off for another reason (a replay reading its record): not ours to turn on.
        gc.disable()
        collector.pause()
        collector.resume()
        assert not gc.isenabled()
        gc.enable()

        collector.pause()
        frozen = gc.get_freeze_count()
        collector.settle()
        assert gc.isenabled() and gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
        gc.enable()


@pytest.mark.parametrize("command", sorted(RUN_ON))
def test_a_long_running_command_turns_the_collector_back_on(paused: None, command: str) -> None:
    # The group's callback runs before the command parses its own options,
    # so `--help` shows what the command would start with.
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert gc.isenabled()


@pytest.mark.parametrize("command", ["status", "say", "report", "tui"])
def test_a_one_shot_command_and_the_war_room_leave_it_paused(paused: None, command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert not gc.isenabled()


def test_every_long_running_command_is_a_command() -> None:
    assert set(main.commands) >= RUN_ON


def run_program(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warroom", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WARROOM_NOW": NOW, **env},
        check=False,
    )


def test_the_program_runs_a_one_shot_command(sqlite_loaded: Store, db_path: Path) -> None:
    done = run_program("--db", f"sqlite:///{db_path}", "--as", "sarah", "status")
    assert done.returncode == 0, done.stderr
    assert "v2.5.0" in done.stdout


# A war room with the process to itself, started as `warroom tui` starts it,
# reporting the collector's state before and after its first read.
ROOM = r"""
import gc, sys
from warroom import collector
collector.pause()
from warroom.clock import clock_from_env
from warroom.tui.app import AppConfig, create_app

app = create_app(AppConfig(
    db_url=sys.argv[1], identity="sarah", clock=clock_from_env(), owns_process=True,
    retry_interval=0.2,
))
seen = []

async def watch(pilot):
    seen.append(gc.isenabled())
    # Waits on the condition; the subprocess timeout bounds it.
    while not gc.isenabled():
        await pilot.pause(0.02)
    seen.append((app.loaded, app.connected, gc.get_freeze_count() > 0))
    app.exit()

app.run(headless=True, size=(120, 36), auto_pilot=watch)
print(seen)
"""


def run_room(db_url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", ROOM, db_url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "WARROOM_NOW": NOW},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_war_room_turns_it_on_after_its_first_read(sqlite_loaded: Store, db_path: Path) -> None:
    # Paused through start-up; after the first read, on, with what was
    # built until then frozen out of its sight.
    assert run_room(f"sqlite:///{db_path}") == "[False, (True, True, True)]"


def test_the_war_room_turns_it_on_when_the_database_cannot_be_read(tmp_path: Path) -> None:
    # No first read to wait for (the room retries, perhaps all day): on at once.
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("not a database\n" * 100, encoding="utf-8")
    assert run_room(f"sqlite:///{not_a_database}") == "[False, (False, False, False)]"
