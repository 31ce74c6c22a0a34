"""What every `warroom` subcommand shares: --db/--as/--release, who acts, the
clock, the database, and running one command.

Refusals exit 1 with one sentence on stderr and write nothing; usage errors
exit 2 (click's own).
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from warroom.console import echo, fail

if TYPE_CHECKING:
    from warroom.clock import Clock
    from warroom.commands.defs import Command
    from warroom.store.engine import Store

DB_HELP = "Database URL (default: $WARROOM_DB, else sqlite:///warroom.db)."
AS_HELP = "Act as this person from the plan (default: $WARROOM_USER, else the login name)."
RELEASE_HELP = "Release to act on (default: the one loaded last)."

F = TypeVar("F", bound=Callable[..., Any])


def number_option(name: str, *, low: int, high: int, default: int, help: str) -> Callable[[F], F]:
    """An option taking a whole number from `low` to `high`."""
    return click.option(name, type=click.IntRange(low, high), default=default, help=help)


def common_params() -> list[click.Parameter]:
    """--db, --as and --release: on the group, and again on each subcommand."""
    return [
        click.Option(["--db", "db"], metavar="URL", help=DB_HELP),
        click.Option(["--as", "user"], metavar="NAME", help=AS_HELP),
        click.Option(["--release", "release"], metavar="NAME", help=RELEASE_HELP),
    ]


@dataclass
class Flags:
    """--db, --as and --release as given: the group's, overridden by the subcommand's."""

    db: str | None = None
    user: str | None = None
    release: str | None = None

    @property
    def identity(self) -> str:
        """Who acts: --as, else $WARROOM_USER, else the login name; never the system's name."""
        from warroom.domain.roles import SYSTEM_NAME
        from warroom.settings import from_env

        env = from_env().user
        name = self.user or env or _login_name()
        if name == SYSTEM_NAME:
            # The system actor is an object inside warroom, never a name anyone can claim.
            if self.user:
                where, fix = "--as warroom", "pass --as with your own name from the plan"
            elif env:
                where, fix = (
                    "$WARROOM_USER=warroom",
                    "set $WARROOM_USER (or --as) to your own name from the plan",
                )
            else:
                where, fix = (
                    "your login name, warroom,",
                    "pass --as with your own name from the plan",
                )
            fail(f"{where} names warroom's own machinery, not a person; {fix}")
        return name

    @property
    def db_url(self) -> str:
        """--db, else $WARROOM_DB, else sqlite:///warroom.db."""
        from warroom.store.engine import resolve_url

        return resolve_url(self.db)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def flags() -> Flags:
    """The running command's --db/--as/--release."""
    return click.get_current_context().ensure_object(Flags)


def common_options(command: click.Command) -> click.Command:
    """Give `command` --db/--as/--release of its own, overriding the group's, so
    that `warroom say hi --as mike` works as well as `warroom --as mike say hi`."""
    inner = command.callback
    assert inner is not None

    def callback(db: str | None, user: str | None, release: str | None, **given: Any) -> Any:
        current = flags()
        current.db = db or current.db
        current.user = user or current.user
        current.release = release or current.release
        return inner(**given)

    command.params[:0] = common_params()
    command.callback = callback
    return command


def db_option(command: click.Command) -> click.Command:
    """Give `command` a --db of its own, for commands that act as nobody and on
    no one release (the audit chain is the database's): --as and --release
    would be accepted and ignored, so they are not offered."""
    inner = command.callback
    assert inner is not None

    def callback(db: str | None, **given: Any) -> Any:
        current = flags()
        current.db = db or current.db
        return inner(**given)

    command.params[:0] = common_params()[:1]
    command.callback = callback
    return command


def clock() -> Clock:
    """The clock of $WARROOM_NOW / $WARROOM_CLOCK_OFFSET, else real time; a bad value refuses."""
    from warroom.clock import clock_from_env

    try:
        return clock_from_env()
    except ValueError as exc:
        fail(str(exc))


@contextmanager
def open_store(create_missing: bool = False) -> Iterator[Store]:
    """The database, its schema up to date; a database that cannot be used refuses."""
    from warroom.store.engine import Store, StoreError
    from warroom.store.migrate import ensure_schema

    try:
        store = Store(flags().db_url, create_missing=create_missing)
        ensure_schema(store)
    except StoreError as exc:
        fail(str(exc))
    try:
        yield store
    finally:
        store.dispose()


def run_command(command: Command[str]) -> None:
    """Run one command as the current identity; print what happened or refuse."""
    from warroom.commands import CommandError
    from warroom.commands.execute import execute
    from warroom.store.engine import StoreError

    given = flags()
    with open_store() as store:
        time, actor = clock(), given.identity
        try:
            echo(execute(store, time, command, actor, given.release))
        except (CommandError, StoreError) as exc:
            fail(str(exc))
