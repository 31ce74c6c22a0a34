"""The functional core stays pure: domain/ imports neither UI nor database code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import warroom.domain

FORBIDDEN = (
    "textual",
    "sqlalchemy",
    "sqlmodel",
    "httpx",
    "apscheduler",
    "asyncssh",
    "alembic",
    "psycopg",
)


def test_domain_modules_import_no_io_or_ui_libraries() -> None:
    package = Path(warroom.domain.__file__).parent
    modules = sorted(
        f"warroom.domain.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"
    )
    assert len(modules) >= 6
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in modules)
        + f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""


def test_importing_the_cli_creates_nothing() -> None:
    """No engine, scheduler or app at import time: importing is free of side effects."""
    code = "import warroom.cli, sys; print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'textual'))))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_cli_write_does_not_import_the_graph_library(
    sqlite_loaded: object, db_path: Path
) -> None:
    """networkx costs ~80 ms a process: `warroom say` (and every command that
    needs no graph) must not pay it (the action table once did, for `b`)."""
    code = (
        "import sys\n"
        "from warroom.cli import main\n"
        f"sys.argv = ['warroom', '--db', 'sqlite:///{db_path}', '--as', 'mike', 'say', 'hi']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
    )
    assert graph_modules_after(code) == "[]"


def graph_modules_after(code: str) -> str:
    """Run `code` in a fresh interpreter; the networkx modules it loaded, as printed."""
    return last_line_of(
        code + "print(sorted(m for m in sys.modules if m.split('.')[0] == 'networkx'))\n"
    )


def last_line_of(code: str) -> str:
    """Run `code` in a fresh interpreter (the clock fixed); the last line it printed."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "WARROOM_NOW": "2024-03-20T13:20:00Z"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


def room_code(db_path: Path, first_read: str) -> str:
    """Python that starts the war room on `db_path` (as `warroom tui` builds it)
    and runs `first_read` (lines of `watch(pilot)`'s body) once its first read
    is in; then the room quits."""
    return (
        "import sys\n"
        "from warroom.clock import clock_from_env\n"
        "from warroom.tui.app import AppConfig, create_app\n"
        f"app = create_app(AppConfig(db_url='sqlite:///{db_path}', identity='sarah',"
        " clock=clock_from_env()))\n"
        "loaded = []\n"
        "async def watch(pilot):\n"
        "    while app.snapshot is None or app.snapshot.graph is None:\n"
        "        await pilot.pause(0.02)\n"
        f"{first_read}"
        "    app.exit()\n"
        "app.run(headless=True, size=(120, 36), auto_pilot=watch)\n"
    )


def test_the_war_room_starts_without_the_graph_library(
    sqlite_loaded: object, db_path: Path
) -> None:
    """The room works out waves, blast radii and holds before its first frame
    with the graph of our own (domain/graph.py); networkx, ~70 ms of a ~0.7 s
    start, stays out of the process until a plan is checked for cycles."""
    code = room_code(db_path, "    assert isinstance(app.snapshot.holds, dict)\n")
    assert graph_modules_after(code) == "[]"


# What the ORM costs a process before its first frame: SQLAlchemy's ORM,
# SQLModel (and with it pydantic's model machinery) and the model classes.
ORM = ("sqlmodel", "sqlalchemy.orm", "warroom.store.models", "warroom.commands.tx")


def test_the_war_room_draws_its_first_read_without_the_orm(
    sqlite_loaded: object, db_path: Path
) -> None:
    """The room reads through SQLAlchemy Core (store/tables.py): ~0.2 s of a
    start goes to the ORM and the model classes, which only the command layer
    needs. They are imported after the first frame (`_prepare_commands`)."""
    code = room_code(
        db_path,
        "    assert app.snapshot.services and app.snapshot.log\n"
        f"    loaded.extend(m for m in {ORM!r} if m in sys.modules)\n",
    )
    assert last_line_of(code + "print(loaded)\n") == "[]"
