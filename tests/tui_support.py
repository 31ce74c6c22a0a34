"""Helpers for driving the war-room app in tests (Pilot and snapshots)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from pathlib import Path

from textual.pilot import Pilot

from warroom.clock import Clock
from warroom.commands.catalog import ACTIONS, Spec
from warroom.tui.app import AppConfig, WarroomApp, create_app
from warroom.tui.screens.dashboard import DashboardScreen
from warroom.tui.screens.replay import ReplayScreen

SIZE = (120, 36)
BIG = (200, 60)
# The terminal sizes the layout must hold at (snapshots and layout tests).
LAYOUT_SIZES = [(80, 24), (120, 40), (160, 48), (200, 60)]


def make_app(
    db: str | Path,
    identity: str,
    clock: Clock,
    *,
    poll: float = 0.05,
    actions: tuple[Spec, ...] = ACTIONS,
    replay: bool = False,
    replay_at: datetime | None = None,
    simulator_url: str | None = None,
) -> WarroomApp:
    """The app on a database URL (or a SQLite file path); `replay`: opening
    on a replay at `replay_at` (None: the end of the record), as `warroom replay` does."""
    return create_app(
        AppConfig(
            db_url=db if isinstance(db, str) else f"sqlite:///{db}",
            identity=identity,
            clock=clock,
            poll_interval=poll,
            # Screens name the database; a temp path would change every run.
            db_label="sqlite:///warroom.db",
            actions=actions,
            replay=replay,
            replay_at=replay_at,
            simulator_url=simulator_url,
        )
    )


OpenRoom = Callable[..., AbstractAsyncContextManager[tuple[WarroomApp, Pilot[None]]]]


def room_opener(db: str, clock: Clock) -> OpenRoom:
    """`async with open_room("lisa") as (app, pilot)`: the app as lisa, started
    and showing the store's latest revision (the `open_room` fixture)."""

    @asynccontextmanager
    async def open_room(
        identity: str, *, size: tuple[int, int] = SIZE, actions: tuple[Spec, ...] = ACTIONS
    ) -> AsyncIterator[tuple[WarroomApp, Pilot[None]]]:
        app = make_app(db, identity, clock, actions=actions)
        async with app.run_test(size=size) as pilot:
            await settled(pilot)
            yield app, pilot

    return open_room


async def wait_until(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, tries: int = 200
) -> None:
    """Let the app run until `condition` holds; fail (not hang) after a bounded wait."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for: {what}")


async def select_service(pilot: Pilot[None], name: str) -> None:
    """Highlight `name` in the deploy table, as a person would, and wait until
    the dashboard has taken it as the selection (the highlight reaches the
    screen through two messages, which a saturated CPU can hold back)."""
    from warroom.tui.widgets.deploy_table import DeployTable

    app = pilot.app
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    table = app.query_one(DeployTable)
    table.focus()
    table.select(name)
    await wait_until(pilot, lambda: screen.selected == name, f"{name} to be selected")


async def settled(pilot: Pilot[None]) -> None:
    """Wait until the app has read the store at its current revision and drawn it."""
    app = pilot.app
    assert isinstance(app, WarroomApp)
    store = app.store()

    def caught_up() -> bool:
        from warroom.store.queries import audit_revision

        with store.read() as session:
            revision = audit_revision(session)
        busy = any(not w.is_finished for w in app.workers if w.group == "commands")
        # Read, and drawn: the dashboard shows a read that raced its mount
        # only after its first refresh. (A replay draws its own room's: the
        # record at its playhead, once read; `warroom replay` starts the live
        # room below it only when esc goes there.)
        # (Asked of `app`, not of the screen's `room`: a screen finds its app
        # through Textual's active app, which in a test running two is the
        # last one started.)
        screen = app.screen
        if isinstance(screen, ReplayScreen):
            drawn = screen.room.loaded and screen.shown is screen.room.snapshot
        else:
            drawn = not isinstance(screen, DashboardScreen) or screen.shown is app.snapshot
        live = app._revision == revision or (
            isinstance(screen, ReplayScreen) and app.config.replay and not app.loaded
        )
        return live and not busy and drawn

    await wait_until(pilot, caught_up, "the app to show the store's latest revision")
    await pilot.pause()
