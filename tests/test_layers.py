"""The functional core stays pure: domain/ imports neither UI nor database code."""

from __future__ import annotations

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
