"""Code run in separate OS processes by the concurrency tests (spawned, not forked)."""

from __future__ import annotations

from datetime import UTC, datetime
from multiprocessing.synchronize import Event
from typing import Any

from warroom.clock import FixedClock
from warroom.commands import CommandError, Commands
from warroom.store.engine import Store


def post_messages(url: str, person: str, count: int, start: Event, out: Any) -> None:
    """Post `count` numbered messages as fast as possible once `start` is set."""
    store = Store(url)
    commands = Commands(store, FixedClock(datetime(2024, 3, 20, 13, 20, tzinfo=UTC)), person)
    start.wait(timeout=30)
    errors: list[str] = []
    for index in range(count):
        try:
            commands.post_message(f"{person} {index}")
        except Exception as exc:  # report everything, including "database is locked"
            errors.append(f"{type(exc).__name__}: {exc}")
    store.dispose()
    out.put((person, errors))


def check_items(url: str, person: str, keys: list[str], start: Event, out: Any) -> None:
    """Race another process to check the same items; report wins and refusals."""
    store = Store(url)
    commands = Commands(store, FixedClock(datetime(2024, 3, 20, 13, 20, tzinfo=UTC)), person)
    start.wait(timeout=30)
    won: list[str] = []
    lost: list[str] = []
    errors: list[str] = []
    for key in keys:
        try:
            commands.check_item(key)
            won.append(key)
        except CommandError as exc:
            lost.append(str(exc))
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    store.dispose()
    out.put((person, won, lost, errors))


def migrate(url: str, start: Event, out: Any) -> None:
    from warroom.store.migrate import ensure_schema

    store = Store(url)
    start.wait(timeout=30)
    try:
        ensure_schema(store)
        out.put("ok")
    except Exception as exc:
        out.put(f"{type(exc).__name__}: {exc}")
    finally:
        store.dispose()


def act(
    url: str, person: str, method: str, args: tuple[Any, ...], version: int, start: Event, out: Any
) -> None:
    """Run one command with the row version the person saw; report the outcome."""
    store = Store(url)
    commands = Commands(store, FixedClock(datetime(2024, 3, 20, 14, 5, tzinfo=UTC)), person)
    start.wait(timeout=30)
    try:
        out.put((method, "ok", getattr(commands, method)(*args, expect_version=version)))
    except CommandError as exc:
        out.put((method, "refused", str(exc)))
    except Exception as exc:
        out.put((method, "error", f"{type(exc).__name__}: {exc}"))
    finally:
        store.dispose()
