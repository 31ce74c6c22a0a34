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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.exc import DBAPIError as _DBAPIError
from sqlmodel import Session

if TYPE_CHECKING:
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
    return cli_value or os.environ.get("WARROOM_DB") or DEFAULT_URL


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


def describe_error(exc: BaseException, sqlite_path: Path | None = None) -> StoreError:
    """Turn a driver error into one sentence a person can act on
    (`sqlite_path`: the file it happened on, to name it)."""
    if isinstance(exc, StoreError):
        return exc
    text = str(getattr(exc, "orig", exc)) or type(exc).__name__
    lowered = text.lower()
    if sqlite_path is not None and "not a database" in lowered:
        return StoreError(
            f"{sqlite_path} is not a warroom database (it is not SQLite at all); "
            "point --db at the shared warroom database"
        )
    if "database is locked" in lowered or "database is busy" in lowered:
        return StoreBusy(
            f"the database stayed locked for more than {BUSY_TIMEOUT_S:g}s "
            "(another writer is stuck?); try again"
        )
    first_line = text.strip().splitlines()[0] if text.strip() else text
    return StoreUnavailable(f"the database is unreachable: {first_line}")


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
            if not parent.is_dir():
                raise StoreUnavailable(
                    f"cannot create the database: folder {parent} does not exist"
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

    def describe(self, exc: BaseException) -> StoreError:
        """`describe_error`, naming this store's file where that helps."""
        return describe_error(exc, self.sqlite_path)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read transaction: one consistent view of the release."""
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except (OperationalError, _DBAPIError) as exc:
            raise self.describe(exc) from exc

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction that holds the write lock from its first statement."""
        try:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                yield session
        except (OperationalError, _DBAPIError) as exc:
            raise self.describe(exc) from exc

    def has_schema(self) -> bool:
        try:
            with self.engine.connect() as conn:
                return inspect(conn).has_table("alembic_version")
        except (OperationalError, _DBAPIError) as exc:
            raise self.describe(exc) from exc

    def dispose(self) -> None:
        self.engine.dispose()
