"""`warroom replay [--at TIME]`: each accepted form of --at, a bad one, and no release.

The app itself is replaced by a stand-in that keeps the settings it was
built with (tests/test_tui_replay.py drives the real one).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from warroom.cli import main
from warroom.domain.moment import ACCEPTED
from warroom.store.engine import Store
from warroom.tui import app as tui_app
from warroom.tui.room import AppConfig

NOW = "2024-03-20T15:00:00Z"


class Built:
    def __init__(self) -> None:
        self.configs: list[AppConfig] = []

    def create_app(self, config: AppConfig) -> Built:
        self.configs.append(config)
        return self

    def run(self) -> None:
        pass


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Iterator[Built]:
    stand_in = Built()
    monkeypatch.setattr(tui_app, "create_app", stand_in.create_app)
    yield stand_in


def replay(db_path: Path, *args: str) -> tuple[int, str]:
    runner = CliRunner(env={"WARROOM_NOW": NOW, "WARROOM_USER": "sarah"})
    result = runner.invoke(main, ["--db", f"sqlite:///{db_path}", "replay", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2024-03-20T14:37:00Z", datetime(2024, 3, 20, 14, 37, tzinfo=UTC)),
        ("2024-03-20T15:37:00+01:00", datetime(2024, 3, 20, 14, 37, tzinfo=UTC)),
        ("14:37", datetime(2024, 3, 20, 14, 37, tzinfo=UTC)),  # the plan's zone is UTC
        ("14:37:05", datetime(2024, 3, 20, 14, 37, 5, tzinfo=UTC)),
        ("T-30m", datetime(2024, 3, 20, 13, 30, tzinfo=UTC)),
        ("T+1h05m", datetime(2024, 3, 20, 15, 5, tzinfo=UTC)),
    ],
)
def test_each_form_of_at_opens_the_replay_there(
    sqlite_loaded: Store, db_path: Path, built: Built, given: str, expected: datetime
) -> None:
    code, output = replay(db_path, "--at", given)
    assert code == 0, output
    (config,) = built.configs
    assert config.replay and config.replay_at == expected
    assert config.identity == "sarah"


def test_without_at_the_replay_opens_at_the_end_of_the_record(
    sqlite_loaded: Store, db_path: Path, built: Built
) -> None:
    code, output = replay(db_path)
    assert code == 0, output
    (config,) = built.configs
    assert config.replay and config.replay_at is None


def test_a_bad_at_is_a_usage_error_saying_the_accepted_forms(
    sqlite_loaded: Store, db_path: Path, built: Built
) -> None:
    code, output = replay(db_path, "--at", "half past two")
    assert code == 2
    assert "Invalid value for '--at': 'half past two' is not a moment" in output
    assert " ".join(ACCEPTED.split()) in " ".join(output.split())  # (click wraps it)
    assert "Traceback" not in output
    assert not built.configs


def test_a_database_without_a_release_has_nothing_to_replay(db_path: Path, built: Built) -> None:
    code, output = replay(db_path, "--at", "14:37")
    assert code == 1
    assert "no release is loaded in this database: there is no record to replay" in output
    assert not built.configs


def test_replay_is_in_the_help(sqlite_loaded: Store, db_path: Path) -> None:
    code, output = replay(db_path, "--help")
    assert code == 0
    assert "Usage: warroom replay [OPTIONS]" in output
    assert "--at TIME" in output
    assert "read-only" in output
