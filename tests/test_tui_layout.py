"""The layout holds at every terminal size, and every time on screen is on the plan's clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.churn import lines_of
from tests.conftest import SAMPLE, T0
from tests.test_tui_snapshots import mid_deploy_with_a_failure
from tests.tui_support import LAYOUT_SIZES, make_app, settled, wait_until
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.load import load_plan
from warroom.domain.plan import parse_plan_text
from warroom.store.engine import Store
from warroom.tui.widgets.checklist import Checklist
from warroom.tui.widgets.comms_log import CommsLog
from warroom.tui.widgets.deploy_table import LABELS, DeployTable
from warroom.tui.widgets.graph_view import GraphView
from warroom.tui.widgets.header import WarroomHeader
from warroom.tui.widgets.timeline import Timeline


@pytest.mark.parametrize("size", LAYOUT_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_no_pane_cuts_its_own_labels(
    sqlite_loaded: Store, db_path: Path, clock: FixedClock, size: tuple[int, int]
) -> None:
    mid_deploy_with_a_failure(sqlite_loaded, clock)
    app = make_app(db_path, "sarah", clock)
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        table = app.query_one(DeployTable)
        header = lines_of(table)[0]
        shown = [str(column.label) for column in table.columns.values()]
        # Whole column headings only (never "Ve" or "1."), and no column
        # scrolled off the pane's right edge.
        assert all(label in header for label in shown), (header, shown)
        assert table.max_scroll_x == 0
        assert "Service" in shown and "State" in shown
        # Every service has its row on screen at every size but the smallest.
        body = "\n".join(lines_of(table))
        rows_seen = sum(name in body for name in table._order)
        assert rows_seen >= (3 if size[1] <= 24 else len(table._order))
        # The decision line of the go/no-go pane is whole.
        checklist = "\n".join(lines_of(app.query_one(Checklist)))
        assert "Decision:" in checklist and "GO" in checklist
        # Zoomed, the deploy table shows more (at 160 columns and up, every
        # column), inside the screen.
        unzoomed = len(table.columns)
        await pilot.press("2", "z")
        wanted = len(LABELS) if size[0] >= 160 else unzoomed + 1
        await wait_until(pilot, lambda: len(table.columns) >= wanted, "more columns")
        assert table.region.right <= size[0]
        header = lines_of(table)[0]
        assert all(str(c.label) in header for c in table.columns.values()), header


async def test_times_are_on_the_plans_clock_and_say_which(tmp_path: Path) -> None:
    text = SAMPLE.read_text(encoding="utf-8").replace("timezone: UTC", "timezone: Europe/Berlin")
    assert "Europe/Berlin" in text
    url = f"sqlite:///{tmp_path / 'warroom.db'}"
    store = Store(url)
    clock = FixedClock(T0)  # 13:20 UTC = 14:20 CET
    load_plan(
        store, parse_plan_text(text, source="berlin.yaml"), text, loaded_by="sarah", clock=clock
    )
    Commands(store, clock, "pat").post_message("hello from support")
    app = make_app(url, "sarah", clock)
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(pilot)
        log = app.query_one(CommsLog)
        await wait_until(pilot, lambda: any("hello" in s.text for s in log.lines.lines), "the log")
        line = next(s.text for s in log.lines.lines if "hello" in s.text)
        assert line.startswith("14:20:00"), line  # local wall time, not 13:20 UTC
        assert app.query_one("#pane-log").border_subtitle == "times in CET"
        countdown = "\n".join(lines_of(app.query_one(Timeline)))
        assert "14:20 CET" in countdown and "13:20 UTC" in countdown
        assert "14:30 go/no-go" in countdown  # the 13:30 UTC meeting, on the plan's clock
        table = app.query_one(DeployTable)
        assert "Planned (Europe/Berlin)" in [str(c.label) for c in table.columns.values()] or (
            "Planned" not in lines_of(table)[0]
        )
        graph_lines = "\n".join(lines_of(app.query_one(GraphView)))
        assert "api-gateway" in graph_lines
    store.dispose()


async def test_the_countdown_and_the_header_show_the_same_t_offset(
    loaded: Store, db_url: str
) -> None:
    # 13:20:30: the countdown used the minute (T-40m) where the header said T-39m30s.
    clock = FixedClock(T0 + timedelta(seconds=30))
    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(pilot)
        timeline = app.query_one(Timeline)
        # Drawn, not only read (under load the countdown is laid out a moment later).
        await wait_until(
            pilot, lambda: "T-" in "".join(lines_of(timeline)[:1]), "the countdown to be drawn"
        )
        header = str(app.query_one(WarroomHeader).render())
        countdown = lines_of(timeline)[0]
        offset = next(word for word in header.split() if word.startswith("T-"))
        assert offset in countdown, (header, countdown)
        clock.advance(timedelta(seconds=45))  # 13:21:15: both move on together

        def header_offset() -> str:
            text = str(app.query_one(WarroomHeader).render())
            return next(word for word in text.split() if word.startswith("T-"))

        await wait_until(pilot, lambda: header_offset() != offset, "the header's clock to tick")
        await wait_until(
            pilot,
            lambda: header_offset() in lines_of(timeline)[0],
            "the countdown to follow the header",
        )


async def test_the_header_says_where_the_day_is_after_go(go: Store, db_url: str) -> None:
    clock = FixedClock(T0 + timedelta(minutes=15))  # 13:35, after GO
    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(pilot)
        header = str(app.query_one(WarroomHeader).render())
        assert "GO: waiting for the window" in header
        assert "before go/no-go" not in header
        # An override lets deploys start before the window: the header says so
        # (it said "waiting for the window" under the override's banner).
        Commands(go, clock, "sarah").override("window", "1h", "hotfix first")
        await wait_until(
            pilot,
            lambda: "GO: window lifted" in str(app.query_one(WarroomHeader).render()),
            "the header to say the window is lifted",
        )


async def test_at_80_columns_the_header_keeps_the_phase_and_drops_the_role(
    loaded: Store, db_url: str
) -> None:
    clock = FixedClock(T0 - timedelta(minutes=10))  # 13:10: before go/no-go
    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        header = app.query_one(WarroomHeader)
        line = header.render_line(0).text
        assert "before go/no-go" in line and "T-50m" in line, line
        assert " sarah " in line and "release manager" not in line
        await pilot.resize_terminal(160, 48)  # room again: the role comes back
        await wait_until(pilot, lambda: "release manager" in header.render_line(0).text, "the role")


async def test_a_big_room_lays_its_table_out_once_and_its_graph_after_the_first_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More services than the pane has lines (a scrollbar), and more than the
    graph lays out at once: the first read, which can beat the first layout,
    is laid out once the pane has a size, with the columns that fit beside
    the scrollbar; then the graph, after the first frame."""
    from tests.test_graph_view import generated_plan

    text = generated_plan(150, 300)
    url = f"sqlite:///{tmp_path / 'big.db'}"
    store = Store(url)
    clock = FixedClock(T0)
    load_plan(store, parse_plan_text(text, source="big.yaml"), text, loaded_by="rm", clock=clock)
    rebuilds: list[int] = []
    rebuild = DeployTable._rebuild

    def counted(table: DeployTable, keep: str | None) -> None:
        rebuilds.append(table.size.width)
        rebuild(table, keep)

    monkeypatch.setattr(DeployTable, "_rebuild", counted)
    app = make_app(url, "rm", clock)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(DeployTable)
        graph = app.query_one(GraphView)
        await wait_until(pilot, lambda: table.row_count == 150, "the table's rows")
        await wait_until(pilot, lambda: graph.graph_layout is not None, "the graph's layout")
        await settled(pilot)
        assert len(rebuilds) == 1 and rebuilds[0] > 0, rebuilds  # once, with a size
        assert table._visible == table._fit()
        snapshot = app.snapshot
        assert snapshot is not None
        assert table.selected == snapshot.deploy_order[0]
        layout = graph.graph_layout
        assert layout is not None and len(layout.nodes) == 150
    store.dispose()


async def test_a_rebuilt_table_is_drawn_whole_before_the_app_is_idle(
    sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    """Other columns fit (a resize, a zoom) and the table is laid out afresh:
    the very next frame shows whole names, not names cut to the width of the
    column's label until Textual measures the new rows when idle."""
    app = make_app(f"sqlite:///{db_path}", "sarah", clock)
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(pilot)
        table = app.query_one(DeployTable)
        table._rebuild(table.selected)  # as a resize does; nothing awaited after it
        shown = "\n".join(lines_of(table))
        for name in ("api-gateway", "auth-service", "logging-service", "mobile-backend"):
            assert name in shown, shown
