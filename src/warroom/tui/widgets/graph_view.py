"""The dependency graph pane: waves top to bottom, coloured by deploy state.

Laying the graph out is the expensive part (about a second for 1,000), so
it runs in a thread worker and only when the set of services or edges
changes; a new deploy state only restyles. Drawing uses the Line API: a
visible line is built once into a Strip and reused until something changes
its look, so scrolling a huge graph costs only the lines that come into view.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events, on
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import Worker, WorkerState, get_current_worker

from warroom.domain import graph as g
from warroom.domain.lifecycle import DeployState
from warroom.domain.snapshot import ReleaseSnapshot, ServiceView
from warroom.domain.text import safe
from warroom.tui.graph_layout import GraphLayout, compute_layout
from warroom.tui.widgets import looks
from warroom.tui.widgets.messages import ServiceMessage, WidgetMessage

# The graph's own looks, besides a state's, a health's and a firing trigger's:
# the blast radius of the selection, the selection, the edges.
BLAST = "graph--blast"
SELECTED = "graph--selected"
EDGE = "graph--edge"
EDGE_BLAST = "graph--edge-blast"
# Marks after a name by service health ("healthy"/"unknown" show none yet).
HEALTH_MARK = {"failing": "✗", "stale": "?"}
# Every label keeps room for " ✗" so that a health change never re-lays out.
_MARK_ROOM = "  "

_LAY_OUT_AT_ONCE = 100  # services: a bigger plan's first layout waits for the first frame
_Key = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]


def _graph_key(snapshot: ReleaseSnapshot) -> _Key:
    """What the layout depends on: the services, in plan order, and edges."""
    names = tuple(s.name for s in snapshot.services)
    known = set(names)
    edges = tuple((dep, s.name) for s in snapshot.services for dep in s.depends_on if dep in known)
    return names, edges


class GraphView(ScrollView, can_focus=True):
    """The service dependency graph, wave 1 on top; arrows point from a
    dependency down to what depends on it. Arrow keys move the selection.

    A node is drawn in its deploy state's look (or held, ⊘, when something
    upstream holds it), then what overrides it: a firing trigger beats everything, the blast radius of the selection tints
    the background (a failed node keeps its red), and the selected node is
    drawn reversed on top of whichever applies (styles/warroom.tcss)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *looks.STATES,
        looks.HELD,
        looks.health("failing"),
        looks.health("stale"),
        looks.FIRING,
        BLAST,
        SELECTED,
        EDGE,
        EDGE_BLAST,
    }

    DEFAULT_CSS = """
    GraphView {
        height: 1fr;
        width: 1fr;
        /* No scrollbars: the view follows the selection (and shift+arrows pan),
           and a scrollbar coming and going would move the view under it. */
        scrollbar-size: 0 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1, 0)", "Prev in wave", show=False),
        Binding("right", "move(1, 0)", "Next in wave", show=False),
        Binding("up", "move(0, -1)", "Wave above", show=False),
        Binding("down", "move(0, 1)", "Wave below", show=False),
        # Arrows move the selection (the view follows it); shift pans freely.
        Binding("shift+left", "scroll_left", "Pan left", show=False),
        Binding("shift+right", "scroll_right", "Pan right", show=False),
        Binding("shift+up", "scroll_up", "Pan up", show=False),
        Binding("shift+down", "scroll_down", "Pan down", show=False),
    ]

    class ServiceSelected(ServiceMessage["GraphView"]):
        """The user selected `service` in the graph (arrow keys or a click)."""

    class LayoutComputed(WidgetMessage["GraphView"], bubble=False):
        """The layout worker finished laying out the graph `key` describes."""

        def __init__(self, graph: GraphView, key: _Key, layout: GraphLayout) -> None:
            super().__init__(graph)
            self.key = key
            self.layout = layout

    selection: reactive[str | None] = reactive(None, init=False)
    """The service the room has selected (the dashboard binds its own here):
    the graph selects it. Arrow keys may move ahead of it (`selected`)."""

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._snapshot: ReleaseSnapshot | None = None
        self._services: dict[str, ServiceView] = {}
        self._firing: dict[str, bool] = {}  # filled in as nodes are drawn
        self._layout: GraphLayout | None = None
        self._key: _Key | None = None  # what `_layout` shows
        self._wanted: _Key | None = None  # what the latest worker lays out
        self._rows: dict[int, tuple[str, ...]] = {}  # node row -> its nodes, left to right
        self._place: dict[str, tuple[int, int]] = {}  # node -> (wave index, index in wave)
        self._note = ""  # shown alone while there is no layout yet
        self._selected: str | None = None
        self._blast: frozenset[str] = frozenset()
        self._lines: dict[int, Strip] = {}  # by line of the graph
        self._window: tuple[int, int, Style] | None = None  # what `_lines` cover

    # ---------------------------------------------------------------- public

    @property
    def graph_layout(self) -> GraphLayout | None:
        """The layout on screen (None until the first one is computed)."""
        return self._layout

    @property
    def selected(self) -> str | None:
        return self._selected

    def show(self, snapshot: ReleaseSnapshot) -> None:
        """Show `snapshot`. Re-lays out (in a worker) only if its services or
        edges differ from what is shown; otherwise only restyles."""
        self._snapshot = snapshot
        self._services = {s.name: s for s in snapshot.services}
        self._firing = {}
        key = _graph_key(snapshot)
        if key not in (self._key, self._wanted):
            self._wanted = key
            self._blast = self._blast_of(self._selected)
            if self._layout is None:
                self._set_note(f"laying out {len(key[0])} services…")
            labels = {name: f"○ {safe(name)}{_MARK_ROOM}" for name in key[0]}
            start = partial(
                self.run_worker,
                partial(self._lay_out, key, labels),
                name="graph layout",
                group="graph-layout",
                exclusive=True,
                thread=True,
                exit_on_error=False,  # failures reach the user via Worker.StateChanged
            )
            if self._layout is None and len(key[0]) > _LAY_OUT_AT_ONCE:
                # The first layout of a big plan takes ~0.8 s of CPU (1,000
                # services), and a thread shares the interpreter with the
                # event loop: started now, it would hold back the rest of the
                # room's first frame. After that frame, the room is usable
                # meanwhile, and this pane says it is laying out.
                self.call_after_refresh(start)
            else:
                start()
        self._restyle()

    def watch_selection(self, service: str | None) -> None:
        self.select(service)  # nothing, if it is already selected

    def select(self, service: str | None) -> None:
        """Highlight `service` and everything that depends on it, directly or
        not, and scroll it into view. Selecting it again changes nothing."""
        if service == self._selected:
            return
        self._selected = service
        self._blast = self._blast_of(service)
        self._restyle()
        # After a refresh, so a just-changed virtual size is already in force.
        self.call_after_refresh(self._reveal)

    # ---------------------------------------------------------------- layout

    def _lay_out(self, key: _Key, labels: dict[str, str]) -> None:
        """Runs in a thread: no widget state is touched here."""
        layout = compute_layout(key[0], key[1], labels)
        if not get_current_worker().is_cancelled:
            self.post_message(self.LayoutComputed(self, key, layout))

    @on(LayoutComputed)
    def _layout_computed(self, message: LayoutComputed) -> None:
        if message.key != self._wanted:
            return  # superseded while it was being computed
        layout = self._layout = message.layout
        self._key = message.key
        self._rows = {layout.nodes[wave[0]].y: wave for wave in layout.layers if wave}
        self._place = {
            name: (number, index)
            for number, wave in enumerate(layout.layers)
            for index, name in enumerate(wave)
        }
        self._note = ""
        self.virtual_size = Size(layout.width, layout.height)
        self._restyle()
        self.call_after_refresh(self._frame)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        # Not stopped: the app's handler also tells the user.
        failed = event.worker.group == "graph-layout" and event.state is WorkerState.ERROR
        if failed and self._layout is None:
            self._set_note(f"cannot draw the dependency graph: {event.worker.error}")

    def _set_note(self, text: str) -> None:
        self._note = text
        self.virtual_size = Size(cell_len(text), 1)
        self._restyle()

    def _blast_of(self, service: str | None) -> frozenset[str]:
        snapshot = self._snapshot
        if service is None or snapshot is None or service not in self._services:
            return frozenset()
        return frozenset(g.blast_radius(snapshot.graph, service))

    # ---------------------------------------------------------------- moving

    def action_move(self, across: int, down: int) -> None:
        """Select the previous/next node in the wave, or the nearest one in
        the wave above/below; the first node if nothing is selected yet."""
        layout = self._layout
        if layout is None or not layout.layers:
            return
        place = self._place.get(self._selected or "")
        if place is None:
            target = layout.layers[0][0]
        elif across:
            wave = layout.layers[place[0]]
            if not 0 <= place[1] + across < len(wave):
                return
            target = wave[place[1] + across]
        elif 0 <= place[0] + down < len(layout.layers):
            boxes = layout.nodes
            here = boxes[layout.layers[place[0]][place[1]]]
            centre = here.x + here.width / 2
            target = min(
                layout.layers[place[0] + down],
                key=lambda n: abs(boxes[n].x + boxes[n].width / 2 - centre),
            )
        else:
            return
        self._choose(target)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self._layout is None:
            return
        x, y = offset + self.scroll_offset
        for name in self._rows.get(y, ()):
            if self._layout.nodes[name].contains(x, y):
                self._choose(name)
                return

    def _choose(self, service: str) -> None:
        self.select(service)
        self.post_message(self.ServiceSelected(self, service))

    def on_resize(self, event: events.Resize) -> None:
        # A smaller pane (a smaller terminal, the banner) keeps the selection in view.
        self.call_after_refresh(self._frame)

    def _reveal(self) -> None:
        """Scroll the least needed to bring the selection into view (arrow keys)."""
        layout, selected = self._layout, self._selected
        if layout is None or selected is None or selected not in layout.nodes:
            return
        box = layout.nodes[selected]
        # With the arrows above and a column either side, for context.
        region = Region(box.x, box.y, box.width, 1).grow((2, 1, 1, 1))
        # force: right after a new layout the scrollbars may not be laid out yet
        # (Textual then refuses to scroll an axis it thinks cannot scroll).
        self.scroll_to_region(region, animate=False, immediate=True, force=True)

    def _frame(self) -> None:
        """Frame the view for a new layout or size: the whole graph when it
        fits, else the selection centred. It depends only on the layout, the
        selection and the size — not on where the view was (so the same room
        looks the same, in every terminal and every snapshot)."""
        layout, selected = self._layout, self._selected
        width, height = self.scrollable_content_region.size
        if layout is None or width <= 0 or height <= 0:
            return
        box = layout.nodes.get(selected or "")
        x = y = 0
        if box is not None and layout.width > width:
            x = min(max(box.x + box.width // 2 - width // 2, 0), layout.width - width)
        if box is not None and layout.height > height:
            y = min(max(box.y - height // 2, 0), layout.height - height)
        self.scroll_to(x, y, animate=False, immediate=True, force=True)

    # ---------------------------------------------------------------- drawing

    def _restyle(self) -> None:
        self._lines.clear()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        # Lines are built for the visible columns only (a 1,000-service graph
        # is thousands of columns wide), so a horizontal scroll, a resize or a
        # new background (focus) starts the cache afresh.
        window = (scroll_x, self.size.width, base)
        if window != self._window:
            self._lines.clear()
            self._window = window
        line = self._lines.get(scroll_y + y)
        if line is None:
            line = self._render_row(scroll_y + y, scroll_x, scroll_x + self.size.width, base)
            self._lines[scroll_y + y] = line
        return line

    def _render_row(self, y: int, start: int, end: int, base: Style) -> Strip:
        """Columns `start` to `end` (exclusive) of line `y` of the graph."""
        layout = self._layout
        if layout is None:
            note = [Segment(self._note, base)] if y == 0 and self._note else []
            return Strip(note).crop_extend(start, end, base)
        pieces: list[tuple[int, str, Style]] = []
        for name in self._rows.get(y, ()):
            box = layout.nodes[name]
            if box.x < end and box.x + box.width > start:
                pieces.extend(self._node_pieces(name, base))
        lit = self._blast | ({self._selected} if self._selected else set())
        plain, bright = base + looks.style(self, EDGE), base + looks.style(self, EDGE_BLAST)
        for x, (char, edges) in layout.cells.row(y).items():
            if start <= x < end:
                on_path = any(src in lit and dst in lit for src, dst in edges)
                pieces.append((x, char, bright if on_path else plain))
        pieces.sort(key=lambda piece: piece[0])
        origin = min(start, pieces[0][0]) if pieces else start
        segments: list[Segment] = []
        cursor = origin
        for x, text, style in pieces:
            if x > cursor:
                segments.append(Segment(" " * (x - cursor), base))
            segments.append(Segment(text, style))
            cursor = x + cell_len(text)
        strip = Strip(segments, cursor - origin).simplify()
        return strip.crop_extend(start - origin, end - origin, base)

    def _node_pieces(self, name: str, base: Style) -> list[tuple[int, str, Style]]:
        assert self._layout is not None and self._snapshot is not None
        box = self._layout.nodes[name]
        service = self._services.get(name)
        if name not in self._firing:
            self._firing[name] = bool(self._snapshot.firing(name))
        if service is None:  # the layout lags a plan change by a moment
            style, symbol, health = (
                looks.style(self, looks.state(DeployState.WAITING)),
                "○",
                "unknown",
            )
        else:
            symbol, health = service.state.symbol, service.health
            state = looks.style(self, looks.state(service.state))
            if name in self._snapshot.holds:
                # Held: something upstream is pending, firing or failed (the
                # pane's subtitle says what); drawn so, whatever the selection.
                symbol, state = "⊘", looks.style(self, looks.HELD)
            if self._firing[name]:
                style = looks.style(self, looks.FIRING)
            elif name in self._blast and state.bgcolor is None:
                # The blast radius tints the background and keeps the state's
                # colour, so a failed dependent still reads as failed.
                style = looks.style(self, BLAST) + Style(color=state.color)
            else:
                style = state
        if name == self._selected:
            style += looks.style(self, SELECTED)
        style = base + style
        # The selection is marked, not only coloured (a capture, a screen
        # reader or a colour-blind reader can tell it too).
        lead = "❯" if name == self._selected else " "
        body = f"{lead}{symbol} {safe(name)}"
        pieces = [(box.x, body, style)]
        at = box.x + cell_len(body)
        mark = HEALTH_MARK.get(health)
        if mark:
            pieces.append((at, " " + mark, style + looks.style(self, looks.health(health))))
            at += 1 + cell_len(mark)
        pieces.append((at, " " * (box.x + box.width - at), style))
        return pieces
