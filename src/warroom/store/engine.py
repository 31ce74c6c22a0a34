"""Opening the shared database.

SQLite is the embedded default and must be safe for several processes on
one file: WAL journal (readers never block the writer), a busy timeout
(writers queue instead of failing) and `BEGIN IMMEDIATE` for write
transactions (a writer takes the lock up front, so two read-modify-write
transactions cannot interleave and fail half-way with "database is locked").
PostgreSQL gets the same one-writer-at-a-time discipline from the row lock on
`audit_head` that every write transaction takes first (see commands).
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.exc import DBAPIError as _DBAPIError

from warroom.settings import from_env

if TYPE_CHECKING:
    from sqlmodel import Session

    from warroom.store.auditkey import AuditKeys

DEFAULT_URL = "sqlite:///warroom.db"
BUSY_TIMEOUT_S = 10.0


class StoreError(Exception):
    """The database cannot be used right now; the message says why for people."""


class StoreUnavailable(StoreError):
    """The database is unreachable or missing; worth retrying later."""


class StoreBusy(StoreError):
    """Another writer held the lock for longer than the busy timeout."""


def resolve_url(cli_value: str | None = None) -> str:
    """`--db`, else `$WARROOM_DB`, else `sqlite:///warroom.db` in the current folder."""
    return cli_value or from_env().db or DEFAULT_URL


def normalise_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except ArgumentError:
        raise StoreError(
            f"bad database URL {raw!r}: use sqlite:///path/to/warroom.db "
            "or postgresql+psycopg://user@host/dbname"
        ) from None
    if url.drivername in {"postgres", "postgresql"}:
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername not in {"sqlite", "sqlite+pysqlite", "postgresql+psycopg"}:
        raise StoreError(
            f"unsupported database {url.drivername!r}: warroom speaks SQLite (sqlite:///file.db) "
            "and PostgreSQL (postgresql+psycopg://...)"
        )
    return url


def load_hint(url: str) -> str:
    """The command that loads a plan into the database at `url`, for hints
    (give it a display URL: the password is not for printing)."""
    return f"warroom --db {shlex.quote(url)} load PLAN --as MANAGER"


def describe_error(
    exc: BaseException, *, path: Path | None = None, url: str | None = None
) -> StoreError:
    """Turn a driver error into one sentence a person can act on.

    `path` is the SQLite file (the sentence names it and says what is wrong
    with it: read-only, disk full, locked, not a database, missing folder);
    `url` names a PostgreSQL database (password hidden).
    """
    if isinstance(exc, StoreError):
        return exc
    orig = getattr(exc, "orig", None) or exc
    text = str(orig) or type(orig).__name__
    first_line = text.strip().splitlines()[0] if text.strip() else text
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _sqlite_error(code & 0xFF, first_line, path)
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        found = _postgres_error(sqlstate, first_line, url or "the database")
        if found is not None:
            return found
    lowered = text.lower()
    if "database is locked" in lowered or "database is busy" in lowered:
        return _busy(path)
    where = f" ({url})" if url else ""
    return StoreUnavailable(f"the database{where} is unreachable: {first_line}")


def _busy(path: Path | None) -> StoreBusy:
    what = str(path) if path is not None else "the database"
    return StoreBusy(
        f"{what} stayed locked by another writer for more than {BUSY_TIMEOUT_S:g}s; "
        "try again (if it keeps happening, look for a stuck warroom process)"
    )


def _sqlite_error(code: int, text: str, path: Path | None) -> StoreError:
    """SQLite's primary result codes (https://sqlite.org/rescode.html), in words."""
    name = str(path) if path is not None else "the database file"
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return _busy(path)
    if code == sqlite3.SQLITE_FULL:
        return StoreError(
            f"cannot write to {name}: the disk is full (or the database reached its size "
            "limit); free some space and try again"
        )
    if code == sqlite3.SQLITE_NOTADB:
        return StoreError(
            f"{name} is not a warroom database (it is not an SQLite file at all); "
            "point --db at the shared database, or give a new file name and load a plan into it"
        )
    if code == sqlite3.SQLITE_CORRUPT:
        return StoreError(f"{name} is damaged (SQLite: {text}); restore it from a backup")
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        cause = _file_problem(path) if path is not None else None
        if cause is None:
            cause = "it is read-only" if code == sqlite3.SQLITE_READONLY else f"SQLite: {text}"
        return StoreError(f"cannot use {name}: {cause}")
    if code == sqlite3.SQLITE_IOERR:
        return StoreError(f"cannot read or write {name}: an I/O error ({text}); check the disk")
    return StoreUnavailable(f"cannot use {name}: {text}")


def _file_problem(path: Path) -> str | None:
    """What about `path` and its folder stops SQLite opening or writing it, if we can tell.

    SQLite needs to write the file and to create `-wal` and `-shm` files
    beside it, so a read-only folder is as fatal as a read-only file.
    """
    folder = path.resolve().parent
    if not folder.exists():
        return f"its folder {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if path.is_dir():
        return "it is a folder, not a file"
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system; put the database on a writable disk"
    except OSError:
        pass
    if path.exists() and not os.access(path, os.R_OK):
        return "you have no permission to read it"
    if path.exists() and not os.access(path, os.W_OK):
        return f"the file is read-only; make it writable (chmod u+w {path})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"its folder {folder} is not writable, and SQLite must create files beside the "
            "database (-wal, -shm); make the folder writable or move the database"
        )
    return None


def _postgres_error(sqlstate: str, text: str, url: str) -> StoreError | None:
    """PostgreSQL's SQLSTATE classes (https://www.postgresql.org/docs/current/errcodes-appendix.html)."""
    if sqlstate == "53100":
        return StoreError(
            f"the PostgreSQL server for {url} has run out of disk space; free space on the "
            "server and try again"
        )
    if sqlstate.startswith("53"):
        return StoreUnavailable(f"the PostgreSQL server for {url} is out of resources: {text}")
    if sqlstate == "25006":
        return StoreError(f"{url} is read-only (a standby?); point --db at the primary server")
    if sqlstate in ("40P01", "55P03"):
        return StoreBusy(f"{url} is busy ({text}); try again")
    if sqlstate.startswith(("08", "57P")):
        return StoreUnavailable(f"the database {url} is unreachable: {text}")
    return None


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when BEGIN happens.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Store:
    """The engine for one database, and the two kinds of transaction warroom uses."""

    def __init__(self, url: str, *, create_missing: bool = True) -> None:
        self.url = normalise_url(url)
        self.sqlite_path = _sqlite_file(self.url)
        if self.sqlite_path is not None:
            parent = self.sqlite_path.resolve().parent
            if not parent.exists():
                raise StoreUnavailable(
                    f"cannot create the database: folder {parent} does not exist"
                )
            if not parent.is_dir():
                raise StoreUnavailable(
                    f"cannot use {self.sqlite_path}: {parent} is a file, not a folder"
                )
            if not create_missing and not self.sqlite_path.exists():
                raise StoreUnavailable(
                    f"no warroom database at {self.sqlite_path}; load a plan first "
                    f"({self.load_hint()}) or point --db at the shared database"
                )
            self.engine = create_engine(
                self.url,
                connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        # Whether commands' reads have run once outside a write lock (commands.tx).
        self.rehearsed = False
        self._audit_keys: AuditKeys | None = None

    @property
    def audit_keys(self) -> AuditKeys:
        """The key that seals this database's audit chain (found or made on first write)."""
        if self._audit_keys is None:
            from warroom.store.auditkey import AuditKeys, default_key_path

            self._audit_keys = AuditKeys(
                default_key_path(self.url, self.sqlite_path), self.display_url()
            )
        return self._audit_keys

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    def display_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def load_hint(self) -> str:
        """`warroom --db URL load PLAN --as MANAGER` for this database."""
        return load_hint(self.display_url())

    def read(self) -> AbstractContextManager[Session]:
        """A read transaction: one consistent view of the release."""
        return self._transaction(self.engine)

    @contextmanager
    def rows(self, *, write: bool = False) -> Iterator[Connection]:
        """A transaction on a Core connection (a write one holds the write lock
        from its first statement), for store/queries.py's reads and presence.

        The room reads this way: no ORM session, so an app's first read does
        not wait for the ORM and the model classes to import. Release state
        is written only by the command layer (`write()`).
        """
        bind = self._writer if write else self.engine
        with self._described(), bind.connect() as conn, conn.begin():
            yield conn

    def write(self) -> AbstractContextManager[Session]:
        """A write transaction that holds the write lock from its first statement."""
        return self._transaction(self._writer)

    def snapshot(self) -> AbstractContextManager[Session]:
        """A read transaction whose every statement sees the same moment of the database.

        `read()` on PostgreSQL is READ COMMITTED: each statement sees what was
        committed before it started, so two passes over a table may differ.
        Here PostgreSQL runs REPEATABLE READ; SQLite's read transaction (WAL)
        already keeps the snapshot of its first read until it ends.
        """
        if self.backend == "sqlite":
            return self._transaction(self.engine)
        return self._transaction(self.engine.execution_options(isolation_level="REPEATABLE READ"))

    @contextmanager
    def _transaction(self, bind: Engine) -> Iterator[Session]:
        from sqlmodel import Session

        with self._described(), Session(bind, expire_on_commit=False) as session, session.begin():
            yield session

    def has_schema(self) -> bool:
        with self._described(), self.engine.connect() as conn:
            return inspect(conn).has_table("alembic_version")

    @contextmanager
    def _described(self) -> Iterator[None]:
        """A driver error raised inside, as the StoreError that says it for people."""
        try:
            yield
        except (OperationalError, _DBAPIError) as exc:
            raise self.describe(exc) from exc

    def describe(self, exc: BaseException) -> StoreError:
        """`describe_error` for this store: names its file or its URL."""
        return describe_error(exc, path=self.sqlite_path, url=self.display_url())

    def dispose(self) -> None:
        self.engine.dispose()
