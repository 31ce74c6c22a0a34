"""The graph pane in a tiny app: drawing, selection and blast radius, keys,
clicks, scrolling a big graph, restyling in place, and how it looks."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable

from rich.style import Style
from textual import on
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Footer

from tests.conftest import ROOT, WINDOW_OPENS, check_everything, read_snapshot
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.load import load_plan
from warroom.domain.lifecycle import DeployState
from warroom.domain.plan import parse_plan_text
from warroom.domain.snapshot import ReleaseSnapshot, TriggerView
from warroom.resources import stylesheet
from warroom.store.engine import Store
from warroom.tui.widgets import looks
from warroom.tui.widgets.graph_view import BLAST, EDGE_BLAST, GraphView


class GraphApp(App[None]):
    """The graph pane on its own, recording the selections it reports."""

    CSS_PATH = str(stylesheet())  # the looks of states, triggers and the selection

    def __init__(self) -> None:
        super().__init__()
        self.reported: list[str] = []

    def compose(self) -> ComposeResult:
        yield GraphView()
        yield Footer()

    @on(GraphView.ServiceSelected)
    def _record(self, event: GraphView.ServiceSelected) -> None:
        self.reported.append(event.service)


async def shown(pilot: Pilot[None], snapshot: ReleaseSnapshot) -> GraphView:
    view = pilot.app.query_one(GraphView)
    view.show(snapshot)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return view


def screen_text(view: GraphView) -> list[str]:
    return [view.render_line(y).text for y in range(view.size.height)]


def style_of(view: GraphView, service: str) -> Style:
    """The style the node of `service` is drawn in (it must be on screen)."""
    layout = view.graph_layout
    assert layout is not None
    box = layout.nodes[service]
    line = view.render_line(box.y - round(view.scroll_y))
    segment = next(s for s in line if service in s.text)
    assert segment.style is not None
    return segment.style


def generated_plan(services: int, edges: int) -> str:
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    text: str = importlib.import_module("genplan").generate(services, edges)
    return text


async def test_every_service_is_drawn_and_the_first_layout_says_so(loaded: Store) -> None:
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(GraphView)
        view.show(read_snapshot(loaded))
        assert "laying out 6 services…" in view.render_line(0).text  # until the worker is done
        view = await shown(pilot, read_snapshot(loaded))
        text = "\n".join(screen_text(view))
        for name in (
            "api-gateway",
            "auth-service",
            "logging-service",
            "user-service",
            "mobile-backend",
            "web-frontend",
        ):
            assert f"○ {name}" in text
        assert "▼" in text and "│" in text


async def test_selection_lights_up_the_blast_radius(loaded: Store) -> None:
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await shown(pilot, read_snapshot(loaded))
        plain = style_of(view, "user-service")
        view.select("auth-service")
        await pilot.pause()
        assert view.selected == "auth-service"
        assert style_of(view, "auth-service").reverse
        blast = looks.style(view, BLAST).bgcolor
        for dependent in ("user-service", "web-frontend", "mobile-backend"):
            assert style_of(view, dependent).bgcolor == blast, dependent
        assert style_of(view, "logging-service").bgcolor != blast
        assert not style_of(view, "logging-service").reverse
        assert style_of(view, "api-gateway").bgcolor != blast
        # Edges between lit nodes are lit; the edge to logging-service is not.
        layout = view.graph_layout
        assert layout is not None
        colours: dict[tuple[str, str], object] = {}
        for y in range(layout.height):
            for x, (_, edges) in layout.cells.row(y).items():
                (segment,) = view.render_line(y).crop(x, x + 1)
                assert segment.style is not None
                colours.update((edge, segment.style.color) for edge in edges)
        lit = looks.style(view, EDGE_BLAST).color
        assert colours["auth-service", "user-service"] == lit
        assert colours["user-service", "mobile-backend"] == lit
        assert colours["api-gateway", "logging-service"] != lit
        assert colours["api-gateway", "auth-service"] != lit
        view.select(None)
        await pilot.pause()
        assert style_of(view, "user-service") == plain


async def test_arrow_keys_and_clicks_report_the_new_selection(loaded: Store) -> None:
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await shown(pilot, read_snapshot(loaded))
        layout = view.graph_layout
        assert layout is not None
        view.focus()
        await pilot.press("down")  # nothing selected yet: the first node
        assert app.reported == ["api-gateway"]
        await pilot.press("down")

        # Of the two in wave 2, the one nearer to straight below api-gateway.
        def centre(name: str) -> float:
            return layout.nodes[name].x + layout.nodes[name].width / 2

        nearest = min(layout.layers[1], key=lambda n: abs(centre(n) - centre("api-gateway")))
        assert app.reported[-1] == nearest
        first, second = layout.layers[1]
        view.select(first)
        await pilot.press("right")
        assert app.reported[-1] == second and view.selected == second
        reported = len(app.reported)
        await pilot.press("right")  # already the last in its wave: stays
        assert view.selected == second and len(app.reported) == reported
        view.select("auth-service")
        await pilot.press("down")
        assert app.reported[-1] == "user-service" and view.selected == "user-service"
        await pilot.press("up")
        assert app.reported[-1] == "auth-service"
        box = layout.nodes["mobile-backend"]
        await pilot.click(GraphView, offset=(box.x + 3, box.y))
        assert app.reported[-1] == "mobile-backend" and view.selected == "mobile-backend"


async def test_a_big_graph_scrolls_to_the_selection(store: Store, clock: FixedClock) -> None:
    text = generated_plan(40, 90)
    load_plan(store, parse_plan_text(text), text, loaded_by="rm", clock=clock)
    app = GraphApp()
    async with app.run_test(size=(60, 20)) as pilot:
        view = await shown(pilot, read_snapshot(store))
        assert view.virtual_size.width > 60 and view.virtual_size.height > 20
        assert view.scroll_offset == (0, 0)
        layout = view.graph_layout
        assert layout is not None
        last = layout.layers[-1][-1]  # bottom right, far out of view
        box = layout.nodes[last]
        assert box.y >= view.size.height and box.x + box.width > view.size.width
        view.select(last)
        await pilot.pause()
        await pilot.pause()
        assert view.scroll_y > 0 and view.scroll_x > 0
        assert view.scroll_y <= box.y < view.scroll_y + view.size.height
        assert view.scroll_x <= box.x < view.scroll_x + view.size.width
        assert any(last in line for line in screen_text(view))
        # Selecting it again (as the dashboard does on every refresh) does
        # not move the view the user may have panned since.
        view.scroll_to(0, 0, animate=False)
        await pilot.pause()
        view.select(last)
        await pilot.pause()
        assert view.scroll_offset == (0, 0)


async def test_new_states_restyle_without_a_new_layout(loaded: Store, clock: FixedClock) -> None:
    app = GraphApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await shown(pilot, read_snapshot(loaded))
        before = view.graph_layout
        sarah = Commands(loaded, clock, "sarah")
        for item in read_snapshot(loaded).all_items:
            sarah.check_item(item.key)
        sarah.decide("go", rationale="ready")
        clock.set(WINDOW_OPENS)
        Commands(loaded, clock, "raj").complete_step("api-gateway")
        snapshot = read_snapshot(loaded)
        failing = tuple(
            dataclasses.replace(s, health="failing") if s.name == "auth-service" else s
            for s in snapshot.services
        )
        firing = TriggerView(
            rule="error-rate", service="user-service", state="firing", when="error_rate > 1%",
            holding=True, since=None, fired_at=None, acked_by=None, acked_at=None,
            raised_by=None, detail=None,
        )  # fmt: skip
        changed = dataclasses.replace(snapshot, services=failing, triggers=(firing,))
        view = await shown(pilot, changed)
        assert view.graph_layout is before
        text = "\n".join(screen_text(view))
        assert "▶ api-gateway" in text
        assert "○ auth-service ✗" in text
        deploying = looks.style(view, looks.state(DeployState.DEPLOYING))
        assert style_of(view, "api-gateway").color == deploying.color
        assert style_of(view, "user-service").bgcolor == looks.style(view, looks.FIRING).bgcolor


def test_mid_deploy_with_auth_service_selected(
    sqlite_loaded: Store, clock: FixedClock, snap_compare: Callable[..., bool]
) -> None:
    # One backend only: the picture does not depend on where the data lives.
    check_everything(sqlite_loaded, clock)
    Commands(sqlite_loaded, clock, "sarah").decide("go")
    clock.set(WINDOW_OPENS)
    for _ in range(4):
        Commands(sqlite_loaded, clock, "raj").complete_step("api-gateway")
    Commands(sqlite_loaded, clock, "lisa").complete_step("auth-service")
    snapshot = read_snapshot(sqlite_loaded)

    async def run_before(pilot: Pilot[None]) -> None:
        view = await shown(pilot, snapshot)
        view.select("auth-service")
        await pilot.pause()

    assert snap_compare(GraphApp(), terminal_size=(80, 24), run_before=run_before)
