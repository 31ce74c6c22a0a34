"""The one screen people sit in: five panes and every action on the keyboard.

What the keys do, the footer's greying, the palette and the refusals come
from the action table (tui/screens/acting.py); this module shows the room.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from warroom.domain.snapshot import ReleaseSnapshot
from warroom.domain.text import safe
from warroom.domain.timeline import humanize, zone_note
from warroom.store.reading import load_hint, normalise_url
from warroom.tui.screens.acting import ActingScreen
from warroom.tui.screens.live import LiveScreen
from warroom.tui.widgets.banner import TriggerBanner
from warroom.tui.widgets.checklist import Checklist
from warroom.tui.widgets.comms_log import CommsLog
from warroom.tui.widgets.deploy_table import DeployTable
from warroom.tui.widgets.graph_view import GraphView
from warroom.tui.widgets.header import WarroomHeader
from warroom.tui.widgets.override_banner import OverrideBanner
from warroom.tui.widgets.timeline import Timeline


class Pane(Vertical):
    """A bordered, zoomable pane around one widget."""

    ALLOW_MAXIMIZE = True

    def __init__(self, title: str, *children: Widget, **kwargs: Any) -> None:
        super().__init__(*children, **kwargs)
        self.border_title = title


# Which change-feed topics each pane shows ("release": a plan was loaded).
PANE_TOPICS: dict[str, frozenset[str]] = {
    "graph": frozenset({"release", "services", "triggers", "health", "gates"}),
    "deploys": frozenset({"release", "services", "triggers", "health", "decision", "gates"}),
    "timeline": frozenset({"release", "services", "decision", "gates"}),
    "checklist": frozenset({"release", "checklist", "decision"}),
    "log": frozenset({"release", "log"}),
}


class DashboardScreen(LiveScreen, ActingScreen):
    """The room; its keys are the app's action table (`DashboardScreen.bound_to`).

    A replay (screens/replay.py) is this screen fed from the record: it
    changes what the class attributes below name, and the hooks marked so.
    """

    HEADER: ClassVar[type[WarroomHeader]] = WarroomHeader
    READING: ClassVar[str] = "Reading the release…"
    # Where the day is walked (n, Enter, R act on its row), not the first
    # pane in reading order that Textual would pick.
    AUTO_FOCUS = "#deploys"

    def __init__(self) -> None:
        super().__init__()
        self._greyed_now: tuple[bool, ...] = ()
        self._firing_seen: set[str] = set()
        # Held, not queried: presence news and clock ticks may arrive while the
        # screen is still composing or already tearing down (the app starting
        # or quitting), when a query would find no header and raise.
        self._header: WarroomHeader | None = None
        # Held too: `query` walks the whole screen, and every read asked for it.
        self._panes: Container | None = None

    def compose(self) -> ComposeResult:
        self._header = self.HEADER(self.room.config.identity, id="header")
        yield self._header
        yield TriggerBanner(id="banner")
        yield OverrideBanner(id="override-banner")
        yield Static(id="empty")
        self._panes = panes = Container(id="panes")
        panes.display = False  # until the first read arrives
        with panes:
            with Horizontal(id="top"):
                # Both panes follow the screen's selection (and keep their own
                # cursor, which may be ahead of it: see `_pane_moved`).
                graph = GraphView(id="graph").data_bind(selection=DashboardScreen.selected)
                table = DeployTable(id="deploys").data_bind(selection=DashboardScreen.selected)
                yield Pane("1 Dependency graph", graph, id="pane-graph")
                yield Pane("2 Deploy status", table, id="pane-deploys")
            yield Pane("3 Countdown", Timeline(id="timeline"), id="pane-timeline")
            with Horizontal(id="bottom"):
                yield Pane("4 Go/no-go", Checklist(id="checklist"), id="pane-checklist")
                yield Pane("5 Communication log", CommsLog(id="log"), id="pane-log")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick, name="clock")
        self._show_empty(self.READING)
        # The first read may already have arrived (it races our mount): show
        # it once every pane has mounted and been laid out.
        self.call_after_refresh(self._catch_up)

    def _catch_up(self) -> None:
        if self.room.loaded:
            self.show_snapshot(self.room.snapshot)
        elif not self.room.connected:
            self.connection_changed()

    # ---------------------------------------------------------------- data in

    def show_snapshot(
        self, snapshot: ReleaseSnapshot | None, topics: frozenset[str] | None = None
    ) -> None:
        """Show a fresh read; `topics` (None: everything) says which panes need it."""
        panes = self._panes
        if panes is None or not panes.is_attached or not self.is_attached:
            # Still being put together (then `_catch_up` shows the newest read
            # once it is), or being taken apart: nothing to show it in.
            return
        now = self.room.clock.now()
        self._show_header(snapshot)
        if snapshot is None:
            self._show_empty(
                f"No release is loaded in {self._db_label()}.\n\n"
                f"Load one from a shell:\n\n    {self._load_hint()}\n\n"
                "This screen will switch over by itself."
            )
            self.shown = snapshot
            return
        self.query_one("#empty").display = False
        first = not panes.display
        panes.display = True
        if first:
            topics = None  # a pane never shown must be filled whatever moved
        if self.selected is None or snapshot.service(self.selected) is None:
            # Only when there is none yet (or it left the plan): a reload never
            # moves the selection, whatever it changed.
            self.selected = snapshot.deploy_order[0] if snapshot.services else None

        def changed(pane: str) -> bool:
            return topics is None or bool(topics & PANE_TOPICS[pane])

        with self.app.batch_update():
            self._show_banner(snapshot)
            self.query_one(OverrideBanner).show(snapshot, now)
            self._show_poller(snapshot, now)
            if changed("graph"):
                self.query_one(GraphView).show(snapshot)
                self._show_holds(snapshot)
            if changed("deploys"):
                self.query_one(DeployTable).show(snapshot, now)
            if changed("timeline"):
                self.query_one(Timeline).show(snapshot, now)
            if changed("checklist"):
                self.query_one(Checklist).show(snapshot)
                self._note_zone("#pane-checklist", snapshot, now)
            if changed("log"):
                self.query_one(CommsLog).show(snapshot)
                self._note_zone("#pane-log", snapshot, now)
            # A pane without a selection (first filled, or a new plan) starts
            # on the screen's; otherwise each keeps its own cursor by name,
            # and a reload never moves it (it may be ahead of `selected`).
            for pane in (self.query_one(GraphView), self.query_one(DeployTable)):
                if pane.selected is None or snapshot.service(pane.selected) is None:
                    pane.select(self.selected)
            self._regrey()
        self.shown = snapshot
        if first and (self.focused is None or not self.focused.display):
            # Only if the person has not already gone somewhere (a key pressed
            # while the release was still being read wins).
            self.query_one(DeployTable).focus()

    def _note_zone(self, pane_id: str, snapshot: ReleaseSnapshot, now: datetime) -> None:
        """Name the zone of the pane's unlabelled times in its border (UTC: nothing)."""
        note = zone_note(now, snapshot.release.timezone)
        pane = self.query_one(pane_id)
        if pane.border_subtitle != note:
            pane.border_subtitle = note

    def _show_banner(self, snapshot: ReleaseSnapshot) -> None:
        target, question = self._banner_trigger(), self._asked_trigger()
        shown = self.query_one(TriggerBanner).show(
            snapshot, target.id if target else None, question.id if question else None
        )
        # Something new fires, or asks: ring every terminal.
        ids = {f"{t.id} {t.state}" for t in shown}
        if ids - self._firing_seen:
            self._ring()
        self._firing_seen = ids

    def _ring(self) -> None:
        """Something new fires: ring every terminal (a hook: a replay does not)."""
        self.app.bell()

    def _show_holds(self, snapshot: ReleaseSnapshot) -> None:
        """Say under the graph what holds the services drawn held (⊘)."""
        holds = snapshot.holds
        causes = list(dict.fromkeys(c for hold in holds.values() for c in hold.causes))
        subtitle = ""
        if holds:
            what = ", ".join(c.describe() for c in causes)
            subtitle = safe(f"⊘ {len(holds)} held by {what}")
        pane = self.query_one("#pane-graph")
        if pane.border_subtitle != subtitle:
            pane.border_subtitle = subtitle

    def _show_poller(self, snapshot: ReleaseSnapshot, now: datetime) -> None:
        lease = snapshot.poller
        if lease is None:
            subtitle = "no health poller has run (warroom poll)"
        elif not lease.alive(now):
            subtitle = f"⚠ health poller {safe(lease.holder)} is silent: health is stale"
        else:
            ago = humanize(now - lease.last_poll_at) if lease.last_poll_at else "not yet"
            subtitle = f"health polled by {safe(lease.holder)} · {ago} ago"
        pane = self.query_one("#pane-deploys")
        # Assigning a border title repaints the whole pane, even when unchanged.
        if pane.border_subtitle != subtitle:
            pane.border_subtitle = subtitle

    def _show_header(self, snapshot: ReleaseSnapshot | None) -> None:
        if self._header is not None and self._header.is_attached:
            self._header.show(
                snapshot,
                self.room.clock.now(),
                self.room.connected,
                self.room.last_error,
                self.room.present,
            )

    def presence_changed(self) -> None:
        self._show_header(self.room.snapshot)

    def connection_changed(self) -> None:
        self._show_header(self.room.snapshot)
        if not self.query("#empty"):
            return  # still composing, or quitting
        if self.room.snapshot is None and not self.room.connected:
            self._show_empty(
                f"Cannot reach the database:\n{self.room.last_error}\n\nRetrying by itself…"
            )

    def _db_label(self) -> str:
        config = self.room.config
        if config.db_label:
            return config.db_label
        return normalise_url(config.db_url).render_as_string(hide_password=True)

    def _load_hint(self) -> str:
        return load_hint(self._db_label())

    def _show_empty(self, text: str) -> None:
        empty = self.query_one("#empty", Static)
        empty.update(text)
        empty.display = True
        self.query_one("#panes").display = False

    def _tick(self) -> None:
        now = self.room.clock.now()
        if self._header is not None and self._header.is_attached:
            self._header.tick(now)
        snapshot = self.room.snapshot
        if snapshot is not None:
            self.query_one(Timeline).tick(now)
            self.query_one(DeployTable).tick(now)
            # An override ends by the clock alone: the banner goes when it does.
            self.query_one(OverrideBanner).show(snapshot, now)
            self._show_poller(snapshot, now)
            # Health goes stale with time alone (a poller died): re-read so
            # the graph and everything else say so too.
            if any(s.health != snapshot.health_state(s.name, now) for s in snapshot.services):
                self.room.request_reload(frozenset({"health"}))

    # ---------------------------------------------------------------- selection

    def watch_selected(self) -> None:
        # The panes follow through their data binding, which Textual runs
        # right after this watcher: look at the banner and the footer then.
        self.call_later(self._selection_moved)

    def _selection_moved(self) -> None:
        snapshot = self.room.snapshot
        if snapshot is not None:
            self._show_banner(snapshot)  # which trigger a, b and i act on
        self._regrey()

    def _regrey(self) -> None:
        """Re-grey the footer only when what the viewer may do changed.

        Refreshing bindings rebuilds the footer, which costs several
        milliseconds of styling; moving between two services of the same
        team changes nothing, so it should cost nothing.
        """
        greyed = self._greyed()
        if greyed != self._greyed_now:
            self._greyed_now = greyed
            self.refresh_bindings()

    @on(DeployTable.ServiceHighlighted, "#deploys")
    @on(GraphView.ServiceSelected, "#graph")
    def _pane_moved(
        self, event: DeployTable.ServiceHighlighted | GraphView.ServiceSelected
    ) -> None:
        # A message can arrive after the cursor moved on (keys come faster
        # than messages): follow where the cursor is, never where it was.
        self.selected = event.control.selected or self.selected

    @on(DeployTable.ServiceOpened)
    def _open_service(self, event: DeployTable.ServiceOpened) -> None:
        self.app.push_screen(self._service_screen(event.service))

    def _service_screen(self, service: str) -> Screen[None]:
        """The runbook Enter opens (a hook: a replay's shows the steps as they were)."""
        from warroom.tui.screens.service import ServiceScreen

        return ServiceScreen(service)

    def action_replay(self) -> None:
        """H: the day replayed from the record, from now; esc comes back here,
        and this screen keeps following the room meanwhile."""
        from warroom.tui.screens.replay import ReplayScreen

        replay = ReplayScreen.bound_to(self.ACTIONS)
        self.app.push_screen(replay(self.room.clock.now(), selected=self._highlighted()))

    def action_inject_fault(self) -> None:
        from warroom.tui.screens.fault import FaultScreen

        self._catch_up_selection()
        service, url = self.selected, self.room.config.simulator_url
        if service is None or url is None:
            return

        def chosen(body: dict[str, object] | None) -> None:
            if body is not None:
                self._send_fault(f"{url}/faults/{service}", service, body)

        self.app.push_screen(FaultScreen(service), chosen)

    @work(group="fault", exit_on_error=False)
    async def _send_fault(self, url: str, service: str, body: dict[str, object]) -> None:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.post(url, json=body)
        except httpx.HTTPError as exc:
            self.notify(f"The simulator did not answer: {exc}", severity="error")
            return
        if response.is_success:
            summary = response.json().get("summary", "updated")
            self.notify(f"Simulated {service}: {summary}", title="Fault injected")
        else:
            self.notify(f"The simulator refused: {response.text[:200]}", severity="error")

    def action_write_report(self) -> None:
        """W: ask where (beside the database, offered), then write it in a worker."""
        from warroom.tui.screens.prompt import PromptScreen

        snapshot = self.room.snapshot
        if snapshot is None:
            self.notify("No release is loaded: there is nothing to report yet.", severity="warning")
            return
        offered = self.room.report_path(snapshot.release.name)

        def chosen(answer: str | None) -> None:
            if answer is not None:
                self.room.write_report(Path(answer) if answer else offered)

        self.app.push_screen(
            PromptScreen(
                "Write the post-release report (Markdown) to:",
                placeholder=str(offered),
                value=str(offered),
            ),
            chosen,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "unzoom":
            return self.maximized is not None
        if action == "inject_fault":
            return self.room.config.simulator_url is not None  # demo mode only
        return super().check_action(action, parameters)

    def action_focus_pane(self, pane: str) -> None:
        if self._typing():
            raise SkipAction  # a digit in the message box
        target = {"log": "#log-lines"}.get(pane, f"#{pane}")
        # Now, not after the events already queued (as Widget.focus() would).
        self.set_focus(self.query_one(target))

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        node = focused
        while node is not None and not isinstance(node, Pane):
            node = node.parent  # type: ignore[assignment]
        if isinstance(node, Pane):
            self.maximize(node, container=False)
            self.query_one(Timeline).refresh(layout=True)

    def watch_maximized(self) -> None:
        # The countdown shows more milestones when it has the whole screen.
        if self.is_mounted:
            self.query_one(Timeline).refresh(layout=True)

    def action_unzoom(self) -> None:
        self.minimize()
        self.query_one(Timeline).refresh(layout=True)
