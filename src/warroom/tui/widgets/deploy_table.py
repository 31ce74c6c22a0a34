"""The deploy status pane: one row per service, updated cell by cell."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.reactive import reactive
from textual.widgets import DataTable

from warroom.domain.lifecycle import DeployState
from warroom.domain.snapshot import ReleaseSnapshot, ServiceView
from warroom.domain.text import safe
from warroom.domain.timeline import humanize, when
from warroom.tui.widgets import looks
from warroom.tui.widgets.fit import brief
from warroom.tui.widgets.messages import ServiceMessage

HEALTH_LABEL = {"healthy": "● ok", "failing": "✗ failing", "stale": "? stale"}


COLUMNS = (
    ("service", "Service"),
    ("state", "State"),
    ("steps", "Steps"),
    ("next", "Next step"),
    ("elapsed", "In state"),
    ("health", "Health"),
    ("trigger", "Trigger"),
    ("version", "Version"),
    ("planned", "Planned"),
    ("team", "Team"),
    ("owner", "Owner"),
)
LABELS = dict(COLUMNS)
# When the pane is too narrow for every column, the last of these go first
# (whole columns, never cut to "Ve"); zooming the pane (z) shows them all.
PRIORITY = (
    "service",
    "state",
    "steps",
    "health",
    "trigger",
    "next",
    "elapsed",
    "planned",
    "version",
    "owner",
    "team",
)
MARKER = "❯ "  # the selected row, told without colour too


class DeployTable(DataTable[Text]):
    """Services in deploy order. Enter opens a service's runbook."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "open", "Runbook", show=True)]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *looks.STATES,
        *looks.HEALTH,
        looks.FIRING,
        looks.PENDING,
        looks.LATE,
        looks.HELD,
    }

    class ServiceHighlighted(ServiceMessage["DeployTable"]):
        """The cursor moved onto `service`."""

    class ServiceOpened(ServiceMessage["DeployTable"]):
        """The person asked to see `service`'s runbook (Enter, or a click)."""

    selection: reactive[str | None] = reactive(None, init=False)
    """The service the room has selected (the dashboard binds its own here):
    the cursor goes to it. The cursor may be ahead of it (`selected`)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._snapshot: ReleaseSnapshot | None = None
        self._cells: dict[tuple[str, str], Text] = {}
        self._order: tuple[str, ...] = ()  # row keys, in deploy order
        self._visible: tuple[str, ...] = ()  # column keys shown
        self._marked: str | None = None  # the row drawn with the marker
        self._zone = "UTC"
        # Rows arrived before the pane had a size: the service the cursor
        # goes to when they are laid out (on the first resize).
        self._keep: str | None = None

    # ---------------------------------------------------------------- data

    def _health_cell(self, snapshot: ReleaseSnapshot, service: str, now: datetime) -> Text:
        """What the newest probe said: `● ok 42ms`, `✗ HTTP 500`, `? stale 40s`, or n/a."""
        state = snapshot.health_state(service, now)
        label = HEALTH_LABEL.get(state, "– n/a")
        style = looks.style(self, looks.health(state))
        last = snapshot.latest.get(service)
        if last is None:
            return Text(label, style=style)
        if state == "healthy" and last.latency_ms is not None:
            return Text(f"{label} {last.latency_ms:.0f}ms", style=style)
        if state == "failing":
            # Short in the table (a long reason would push whole columns off);
            # the runbook (Enter) shows it whole.
            return Text(f"✗ {brief(safe(last.reason or 'failing'), 24)}", style=style)
        if state == "stale":
            return Text(f"{label} {humanize(now - last.at)}", style=style)
        return Text(label, style=style)

    def _trigger_cell(self, snapshot: ReleaseSnapshot, service: str) -> Text:
        """The most pressing trigger on a service: firing beats inconclusive beats
        pending (a dry run is on trial: only the service's own screen shows it);
        else what holds it, if something upstream does."""
        mine = [t for t in snapshot.triggers_on(service) if not t.dry_run]
        firing = [t for t in mine if t.state == "firing"]
        if firing:
            acked = "" if not firing[0].acked_by else f" (ack {firing[0].acked_by})"
            return Text(safe(f"⚠ {firing[0].rule}{acked}"), style=looks.style(self, looks.FIRING))
        asked = [t for t in mine if t.asks]
        if asked:
            return Text(
                safe(f"? {asked[0].rule} inconclusive"), style=looks.style(self, looks.PENDING)
            )
        pending = [t for t in mine if t.state == "pending"]
        if pending:
            progress = (pending[0].detail or "").split(" — ")[0].removeprefix("pending ")
            return Text(
                safe(f"… {pending[0].rule} {progress}"), style=looks.style(self, looks.PENDING)
            )
        hold = snapshot.holds.get(service)
        if hold is not None:
            # Where the hold comes from, short (a long cell would push the
            # column off the pane): that row shows its trigger or failure,
            # the graph's subtitle and the runbook (Enter) say it whole.
            more = f" +{len(hold.causes) - 1}" if len(hold.causes) > 1 else ""
            return Text(
                safe(f"⊘ {hold.causes[0].service}{more}"), style=looks.style(self, looks.HELD)
            )
        return Text("")

    def _row(
        self, service: ServiceView, snapshot: ReleaseSnapshot, now: datetime
    ) -> dict[str, Text]:
        firing = bool(snapshot.firing(service.name))
        held = service.name in snapshot.holds
        look = looks.FIRING if firing else looks.HELD if held else looks.state(service.state)
        state_style = looks.style(self, look)
        state = f"{service.state.symbol} {service.state.label}" if not held else "⊘ held"
        nxt = service.next_step
        done_or_closed = service.state in {
            DeployState.DONE,
            DeployState.ROLLED_BACK,
            DeployState.ROLLING_BACK,
        }
        next_text = "" if nxt is None or done_or_closed else nxt.text
        timed = self._time_cells(service, now, snapshot)
        version = (
            f"{service.previous_version} → {service.version}"
            if service.previous_version
            else service.version
        )
        name = Text(service.name, style=Style(bold=True) + (state_style if firing else Style()))
        name.pad_left(len(MARKER))
        if firing:
            name.append(" ⚠", style=state_style)
        return {
            "service": name,
            "state": Text(state, style=state_style),
            "steps": Text(f"{service.steps_done}/{len(service.steps)}", justify="right"),
            "next": Text(safe(next_text), style="italic"),
            "elapsed": timed["elapsed"],
            "health": timed["health"],
            "trigger": self._trigger_cell(snapshot, service.name),
            "version": Text(safe(version)),
            "planned": timed["planned"],
            "team": Text(safe(service.team)),
            "owner": Text(safe(service.owner or "")),
        }

    def show(self, snapshot: ReleaseSnapshot, now: datetime) -> None:
        """Bring the table up to date, touching only cells that changed.

        Rows are keyed by service name and the cursor stays on the service it
        was on, whatever changes; the columns shown follow the pane's width.
        """
        self._snapshot = snapshot
        self._zone = snapshot.release.timezone
        names = snapshot.deploy_order
        fresh: dict[tuple[str, str], Text] = {}
        for name in names:
            service = snapshot.service(name)
            assert service is not None
            row = self._row(service, snapshot, now)
            fresh.update({(name, key): value for key, value in row.items()})
        if set(self._order) != set(names):
            # The set of services changed (a different release): rebuild once.
            keep = self.selected or self._keep or (names[0] if names else None)
            self._order = tuple(names)
            self._cells = fresh
            if not self.size.width:
                # Not laid out yet (the first read can beat the first layout):
                # which columns fit is not known, and laying out every row
                # twice costs a 1,000-service room ~0.3 s. The first resize does it.
                self._keep = keep
                self.clear(columns=True)  # no rows of another release meanwhile
                self._visible, self._marked = (), None
                return
            self._rebuild(keep)
            return
        self._update(fresh)

    def tick(self, now: datetime) -> None:
        """Time moved: refresh only the time-dependent cells (elapsed, late)."""
        snapshot = self._snapshot
        if snapshot is None or self.row_count != len(snapshot.services):
            return
        fresh: dict[tuple[str, str], Text] = {}
        for service in snapshot.services:
            for key, value in self._time_cells(service, now, snapshot).items():
                fresh[(service.name, key)] = value
        self._update(fresh)

    def _update(self, fresh: dict[tuple[str, str], Text]) -> None:
        changed = {cell: value for cell, value in fresh.items() if self._cells.get(cell) != value}
        if not changed:
            return
        self._cells.update(changed)
        if self._fit() != self._visible:
            self._rebuild(self.selected)
            return
        marked = self._marked
        with self.app.batch_update():
            for name, key in changed:
                if key in self._visible:
                    self.update_cell(name, key, self._shown(name, key, marked), update_width=True)

    def _time_cells(
        self, service: ServiceView, now: datetime, snapshot: ReleaseSnapshot
    ) -> dict[str, Text]:
        elapsed = (
            "" if service.state is DeployState.WAITING else humanize(now - service.state_since)
        )
        late = service.state is DeployState.WAITING and now > service.planned_start
        planned = when(service.planned_start, snapshot.release.timezone, label=False)
        return {
            "health": self._health_cell(snapshot, service.name, now),
            "elapsed": Text(elapsed, justify="right"),
            "planned": Text(planned, style=looks.style(self, looks.LATE) if late else ""),
        }

    # ---------------------------------------------------------------- columns

    def _shown(self, name: str, key: str, marked: str | None) -> Text:
        """A cell as drawn: the service cell carries the selection marker."""
        value = self._cells[(name, key)]
        if key == "service" and name == marked:
            value = value.copy()
            value.plain = MARKER + value.plain[len(MARKER) :]
        return value

    def _width_of(self, key: str) -> int:
        label = cell_len(LABELS[key])
        if key == "planned" and self._zone != "UTC":
            label += len(self._zone) + 3  # "Planned (Europe/Berlin)"
        widest = max((self._cells[(name, key)].cell_len for name in self._order), default=0)
        return max(label, widest) + 2 * self.cell_padding

    def _fit(self) -> tuple[str, ...]:
        """The columns that fit the pane, most important first, in table order."""
        room = self.scrollable_content_region.width or self.size.width
        if room <= 0:
            return self._visible or tuple(key for key, _ in COLUMNS)
        if len(self._order) + 1 > self.size.height:  # the rows there will be, header too
            room -= self.styles.scrollbar_size_vertical
        chosen: set[str] = set()
        for key in PRIORITY:
            width = self._width_of(key)
            if key == "service" or width <= room:
                chosen.add(key)
                room -= width
            else:
                room = 0  # whole columns only, in priority order: no gaps
        return tuple(key for key, _ in COLUMNS if key in chosen)

    def _rebuild(self, keep: str | None) -> None:
        """Lay the table out afresh (new release, or other columns fit)."""
        self._visible = self._fit()
        with self.app.batch_update():
            self.clear(columns=True)
            for key in self._visible:
                label = LABELS[key]
                if key == "planned" and self._zone != "UTC":
                    label = f"{label} ({self._zone})"
                column = self.add_column(label, key=key)
                # Sized now, from the cells held here: Textual measures new
                # rows only once it is idle, and a frame drawn before that
                # (a busy room) cut every name to its column label's width.
                self.columns[column].content_width = self._width_of(key) - 2 * self.cell_padding
            self._marked = None  # `_marked` is always the row drawn with the marker
            for name in self._order:
                self.add_row(*(self._shown(name, key, None) for key in self._visible), key=name)
            self._keep = None
            if keep is not None and keep in self._order:
                self.move_cursor(row=self._order.index(keep))
            self._mark(self.selected)

    def on_resize(self, event: events.Resize) -> None:
        if self._order and (self.row_count == 0 or self._fit() != self._visible):
            self._rebuild(self.selected or self._keep)

    # ---------------------------------------------------------------- selection

    @property
    def selected(self) -> str | None:
        """The service under the cursor: what every key acts on."""
        if self.row_count == 0:
            return None
        row = self.cursor_coordinate.row
        return self._order[row] if 0 <= row < len(self._order) else None

    def watch_selection(self, service: str | None) -> None:
        self.select(service)  # nothing, if the cursor is already there

    def select(self, service: str | None) -> None:
        """Put the cursor on `service` (by name), if it is in the table."""
        if service is None or service == self.selected or service not in self._order:
            return
        if self.row_count == 0:
            self._keep = service  # the rows are not laid out yet
            return
        self.move_cursor(row=self._order.index(service))

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        self._mark(self.selected)

    def _mark(self, service: str | None) -> None:
        """Move the marker to `service`'s row."""
        if service == self._marked or not self._visible:
            return
        previous, self._marked = self._marked, service
        for name in (previous, service):
            if name is not None and name in self._order and self.row_count:
                self.update_cell(name, "service", self._shown(name, "service", service))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.ServiceHighlighted(self, str(event.row_key.value)))

    def action_open(self) -> None:
        if self.selected is not None:
            self.post_message(self.ServiceOpened(self, self.selected))

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        # What is highlighted now, not what was when the click was read.
        if self.selected is not None:
            self.post_message(self.ServiceOpened(self, self.selected))
