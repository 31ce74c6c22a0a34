"""A real PostgreSQL server for the tests and benchmarks, started from Debian's binaries.

`initdb` and `pg_ctl` into a temp folder, listening on 127.0.0.1 at a free
port with trust auth (nothing but this machine's loopback can reach it).
PostgreSQL refuses to run as root, so as root the server runs as the
`postgres` user the Debian package creates. `.ci/run` installs the package
when it is missing and sets WARROOM_REQUIRE_PG=1, so CI never silently skips.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from warroom.testing.net import free_port

USER = "warroom"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PgUnavailable(RuntimeError):
    """PostgreSQL's server binaries are not installed."""


def find_binaries() -> tuple[str, str]:
    """initdb and pg_ctl, or PgUnavailable saying how to install them."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise PgUnavailable(
            "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
        )
    return initdb, pg_ctl


class PgServer:
    """A server in a temp folder: `init()`, `start()`, then `url(database)`; `stop()`, `remove()`."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = find_binaries()
        # Not under pytest's tmp_path: that is private to root (0700) and the
        # server may have to run as the postgres user.
        self.root = Path(tempfile.mkdtemp(prefix="warroom-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout)

    def init(self) -> None:
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            self.initdb, "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            self.pg_ctl,
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def version(self) -> str:
        """The running server's version, e.g. "16.4" (for benchmark headers)."""
        import psycopg

        with psycopg.connect(
            f"postgresql://{USER}@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0] if row else "?"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            f"postgresql://{USER}@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute(sql.encode())

    def create_database(self, template: str | None = None) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        suffix = f" TEMPLATE {template}" if template else ""
        self.admin(f"CREATE DATABASE {name}{suffix}")
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
