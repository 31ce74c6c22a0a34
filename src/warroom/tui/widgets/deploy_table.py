"""The deploy status pane: one row per service, updated cell by cell."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from warroom.domain.lifecycle import DeployState
from warroom.domain.snapshot import ReleaseSnapshot, ServiceView
from warroom.domain.timeline import humanize
from warroom.tui.theme import FIRING_STYLE, HEALTH_STYLE, LATE_STYLE, STATE_STYLE


def health_cell(snapshot: ReleaseSnapshot, service: str, now: datetime) -> Text:
    """What the newest probe said: `● ok 42ms`, `✗ HTTP 500`, `? stale 40s`, or n/a."""
    state = snapshot.health_state(service, now)
    label, style = HEALTH_STYLE.get(state, HEALTH_STYLE["unknown"])
    last = snapshot.latest.get(service)
    if last is None:
        return Text(label, style=style)
    if state == "healthy" and last.latency_ms is not None:
        return Text(f"{label} {last.latency_ms:.0f}ms", style=style)
    if state == "failing":
        return Text(f"✗ {last.reason or 'failing'}", style=style)
    if state == "stale":
        return Text(f"{label} {humanize(now - last.at)}", style=style)
    return Text(label, style=style)


def trigger_cell(snapshot: ReleaseSnapshot, service: str) -> Text:
    """The most pressing trigger on a service: firing beats pending."""
    mine = [t for t in snapshot.triggers if t.service == service]
    firing = [t for t in mine if t.state == "firing"]
    if firing:
        acked = "" if not firing[0].acked_by else f" (ack {firing[0].acked_by})"
        return Text(f"⚠ {firing[0].rule}{acked}", style=FIRING_STYLE)
    pending = [t for t in mine if t.state == "pending"]
    if pending:
        progress = (pending[0].detail or "").split(" — ")[0].removeprefix("pending ")
        return Text(f"… {pending[0].rule} {progress}", style="bold yellow")
    return Text("")


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


class DeployTable(DataTable[Text]):
    """Services in deploy order. Enter opens a service's runbook."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "open", "Runbook", show=True)]

    class ServiceHighlighted(Message):
        def __init__(self, service: str) -> None:
            self.service = service
            super().__init__()

    class ServiceOpened(Message):
        def __init__(self, service: str) -> None:
            self.service = service
            super().__init__()

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._snapshot: ReleaseSnapshot | None = None
        self._cells: dict[tuple[str, str], Text] = {}
        # Columns exist from the start, so rows can arrive before mounting.
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    # ---------------------------------------------------------------- data

    def _row(
        self, service: ServiceView, snapshot: ReleaseSnapshot, now: datetime
    ) -> dict[str, Text]:
        firing = bool(snapshot.firing(service.name))
        state_style = FIRING_STYLE if firing else STATE_STYLE[service.state]
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
        name = Text(service.name, style="bold " + (FIRING_STYLE if firing else ""))
        if firing:
            name.append(" ⚠", style=FIRING_STYLE)
        return {
            "service": name,
            "state": Text(f"{service.state.symbol} {service.state.label}", style=state_style),
            "steps": Text(f"{service.steps_done}/{len(service.steps)}", justify="right"),
            "next": Text(next_text, style="italic"),
            "elapsed": timed["elapsed"],
            "health": timed["health"],
            "trigger": trigger_cell(snapshot, service.name),
            "version": Text(version),
            "planned": timed["planned"],
            "team": Text(service.team),
            "owner": Text(service.owner or ""),
        }

    def show(self, snapshot: ReleaseSnapshot, now: datetime) -> None:
        """Bring the table up to date, touching only cells that changed."""
        self._snapshot = snapshot
        names = snapshot.deploy_order
        existing = {str(key.value) for key in self.rows}
        if existing != set(names):
            # The set of services changed (a different release): rebuild once.
            self.clear()
            self._cells.clear()
            for name in names:
                service = snapshot.service(name)
                assert service is not None
                row = self._row(service, snapshot, now)
                self.add_row(*(row[key] for key, _ in COLUMNS), key=name)
                self._cells.update({(name, key): value for key, value in row.items()})
            return
        with self.app.batch_update():
            for name in names:
                service = snapshot.service(name)
                assert service is not None
                for key, value in self._row(service, snapshot, now).items():
                    if self._cells.get((name, key)) != value:
                        self.update_cell(name, key, value, update_width=True)
                        self._cells[(name, key)] = value

    def tick(self, now: datetime) -> None:
        """Time moved: refresh only the time-dependent cells (elapsed, late)."""
        snapshot = self._snapshot
        if snapshot is None or self.row_count != len(snapshot.services):
            return
        for service in snapshot.services:
            for key, value in self._time_cells(service, now, snapshot).items():
                if self._cells.get((service.name, key)) != value:
                    self.update_cell(service.name, key, value, update_width=True)
                    self._cells[(service.name, key)] = value

    @staticmethod
    def _time_cells(
        service: ServiceView, now: datetime, snapshot: ReleaseSnapshot
    ) -> dict[str, Text]:
        elapsed = (
            "" if service.state is DeployState.WAITING else humanize(now - service.state_since)
        )
        late = service.state is DeployState.WAITING and now > service.planned_start
        return {
            "health": health_cell(snapshot, service.name, now),
            "elapsed": Text(elapsed, justify="right"),
            "planned": Text(f"{service.planned_start:%H:%M}", style=LATE_STYLE if late else ""),
        }

    # ---------------------------------------------------------------- selection

    @property
    def selected(self) -> str | None:
        if self.row_count == 0:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return None if key.value is None else str(key.value)

    def select(self, service: str | None) -> None:
        if service is None or service == self.selected:
            return
        try:
            self.move_cursor(row=self.get_row_index(service))
        except Exception:  # the service is not (yet) in the table
            return

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.post_message(self.ServiceHighlighted(str(event.row_key.value)))

    def action_open(self) -> None:
        if self.selected is not None:
            self.post_message(self.ServiceOpened(self.selected))

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.ServiceOpened(str(event.row_key.value)))
