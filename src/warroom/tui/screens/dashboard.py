"""The one screen people sit in: five panes and every action on the keyboard."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on, work
from textual.actions import SkipAction
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from warroom.commands import Commands
from warroom.domain import graph as g
from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.roles import Action, refusal
from warroom.domain.snapshot import ReleaseSnapshot, ServiceView, TriggerView
from warroom.domain.text import safe
from warroom.domain.timeline import humanize, zone_note
from warroom.tui.screens.live import LiveScreen
from warroom.tui.widgets.banner import TriggerBanner, rollback_plan, unacknowledged
from warroom.tui.widgets.checklist import Checklist
from warroom.tui.widgets.comms_log import CommsLog
from warroom.tui.widgets.deploy_table import DeployTable
from warroom.tui.widgets.graph_view import GraphView
from warroom.tui.widgets.header import WarroomHeader
from warroom.tui.widgets.timeline import Timeline

if TYPE_CHECKING:
    from warroom.tui.app import WarroomApp


class Pane(Vertical):
    """A bordered, zoomable pane around one widget."""

    ALLOW_MAXIMIZE = True

    def __init__(self, title: str, *children: Widget, **kwargs: Any) -> None:
        super().__init__(*children, **kwargs)
        self.border_title = title


# Action name -> (what the command layer calls it, whether it acts on the selected service)
SERVICE_ACTIONS: dict[str, Action] = {
    "next_step": Action.COMPLETE_STEP,
    "undo_step": Action.UNDO_STEP,
    "start_deploy": Action.START_DEPLOY,
    "finish_deploy": Action.FINISH_DEPLOY,
    "fail_deploy": Action.FAIL_DEPLOY,
    "start_rollback": Action.START_ROLLBACK,
    "finish_rollback": Action.FINISH_ROLLBACK,
    "raise_trigger": Action.RAISE_TRIGGER,
    "ack_trigger": Action.ACK_TRIGGER,
    "rollback_plan": Action.START_ROLLBACK,
}


# Which change-feed topics each pane shows ("release": a plan was loaded).
PANE_TOPICS: dict[str, frozenset[str]] = {
    "graph": frozenset({"release", "services", "triggers", "health"}),
    "deploys": frozenset({"release", "services", "triggers", "health", "decision"}),
    "timeline": frozenset({"release", "services", "decision"}),
    "checklist": frozenset({"release", "checklist", "decision"}),
    "log": frozenset({"release", "log"}),
}


class DashboardScreen(LiveScreen, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_step", "Step done"),
        Binding("u", "undo_step", "Undo step", show=False),
        Binding("s", "start_deploy", "Start", show=False),
        Binding("D", "finish_deploy", "Done", show=False),
        Binding("x", "fail_deploy", "Fail"),
        Binding("r", "start_rollback", "Rollback"),
        Binding("R", "finish_rollback", "Rolled back", show=False),
        Binding("a", "ack_trigger", "Ack"),
        Binding("b", "rollback_plan", "Roll back per plan", show=False),
        Binding("F", "inject_fault", "Fault (demo)"),
        Binding("exclamation_mark", "raise_trigger", "Call rollback", show=False, key_display="!"),
        Binding("g", "decide", "Go/no-go"),
        # Keys that say where the next keys go act the moment they are read
        # (priority), so keys typed right behind them — one read over SSH —
        # reach the pane or box they named; in a text box they are text.
        Binding("m", "compose", "Message", priority=True),
        Binding("z", "zoom", "Zoom"),
        Binding("1", "focus_pane('graph')", "Graph", show=False, priority=True),
        Binding("2", "focus_pane('deploys')", "Deploys", show=False, priority=True),
        Binding("3", "focus_pane('timeline')", "Timeline", show=False, priority=True),
        Binding("4", "focus_pane('checklist')", "Checklist", show=False, priority=True),
        Binding("5", "focus_pane('log')", "Log", show=False, priority=True),
        Binding("escape", "unzoom", "Unzoom", show=False),
    ]

    selected: reactive[str | None] = reactive(None, init=False)
    """The selected service, by name: what the service keys act on, highlighted
    (and marked with MARKER) in the graph and the deploy table alike."""

    def __init__(self) -> None:
        super().__init__()
        self._allowed: tuple[bool, ...] = ()
        self._firing_seen: set[str] = set()
        # Held, not queried: presence news and clock ticks may arrive while the
        # screen is still composing or already tearing down (the app starting
        # or quitting), when a query would find no header and raise.
        self._header: WarroomHeader | None = None

    @property
    def wr(self) -> WarroomApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        self._header = WarroomHeader(self.wr.config.identity, id="header")
        yield self._header
        yield TriggerBanner(id="banner")
        yield Static(id="empty")
        panes = Container(id="panes")
        panes.display = False  # until the first read arrives
        with panes:
            with Horizontal(id="top"):
                yield Pane("1 Dependency graph", GraphView(id="graph"), id="pane-graph")
                yield Pane("2 Deploy status", DeployTable(id="deploys"), id="pane-deploys")
            yield Pane("3 Countdown", Timeline(id="timeline"), id="pane-timeline")
            with Horizontal(id="bottom"):
                yield Pane("4 Go/no-go", Checklist(id="checklist"), id="pane-checklist")
                yield Pane("5 Communication log", CommsLog(id="log"), id="pane-log")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick, name="clock")
        self._show_empty("Reading the release…")
        # The first read may already have arrived (it races our mount): show
        # it once every pane has mounted and been laid out.
        self.call_after_refresh(self._catch_up)

    def _catch_up(self) -> None:
        if self.wr.loaded:
            self.show_snapshot(self.wr.snapshot)
        elif not self.wr.connected:
            self.connection_changed()

    # ---------------------------------------------------------------- data in

    def show_snapshot(
        self, snapshot: ReleaseSnapshot | None, topics: frozenset[str] | None = None
    ) -> None:
        """Show a fresh read; `topics` (None: everything) says which panes need it."""
        if not self.query("#panes"):
            # Still being put together (then `_catch_up` shows the newest read
            # once it is), or being taken apart: nothing to show it in.
            return
        now = self.wr.clock.now()
        self._show_header(snapshot)
        if snapshot is None:
            self._show_empty(
                f"No release is loaded in {self._db_label()}.\n\n"
                f"Load one from a shell:\n\n    {self._load_hint()}\n\n"
                "This screen will switch over by itself."
            )
            return
        self.query_one("#empty").display = False
        panes = self.query_one("#panes")
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
            self._show_poller(snapshot, now)
            if changed("graph"):
                self.query_one(GraphView).show(snapshot)
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
            self._refresh_bindings_if_changed()
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
        target = self._banner_trigger()
        firing = self.query_one(TriggerBanner).show(snapshot, target.id if target else None)
        ids = {t.id for t in firing}
        if ids - self._firing_seen:
            self.app.bell()  # something new fires: ring every terminal
        self._firing_seen = ids

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
                self.wr.clock.now(),
                self.wr.connected,
                self.wr.last_error,
                self.wr.present,
            )

    def presence_changed(self) -> None:
        self._show_header(self.wr.snapshot)

    def connection_changed(self) -> None:
        self._show_header(self.wr.snapshot)
        if not self.query("#empty"):
            return  # still composing, or quitting
        if self.wr.snapshot is None and not self.wr.connected:
            self._show_empty(
                f"Cannot reach the database:\n{self.wr.last_error}\n\nRetrying by itself…"
            )

    def _db_label(self) -> str:
        config = self.wr.config
        if config.db_label:
            return config.db_label
        from warroom.store.reading import normalise_url

        return normalise_url(config.db_url).render_as_string(hide_password=True)

    def _load_hint(self) -> str:
        from warroom.store.reading import load_hint

        return load_hint(self._db_label())

    def _show_empty(self, text: str) -> None:
        empty = self.query_one("#empty", Static)
        empty.update(text)
        empty.display = True
        self.query_one("#panes").display = False

    def _tick(self) -> None:
        now = self.wr.clock.now()
        if self._header is not None and self._header.is_attached:
            self._header.tick(now)
        snapshot = self.wr.snapshot
        if snapshot is not None:
            self.query_one(Timeline).tick(now)
            self.query_one(DeployTable).tick(now)
            self._show_poller(snapshot, now)
            # Health goes stale with time alone (a poller died): re-read so
            # the graph and everything else say so too.
            if any(s.health != snapshot.health_state(s.name, now) for s in snapshot.services):
                self.wr.request_reload(frozenset({"health"}))

    # ---------------------------------------------------------------- selection

    def watch_selected(self, service: str | None) -> None:
        # Each pane ignores a selection it already shows, so the pane the
        # person moved in is never moved back.
        self.query_one(GraphView).select(service)
        self.query_one(DeployTable).select(service)
        snapshot = self.wr.snapshot
        if snapshot is not None:
            self._show_banner(snapshot)  # which trigger a and b act on
        self._refresh_bindings_if_changed()

    def _refresh_bindings_if_changed(self) -> None:
        """Re-grey the footer only when what the viewer may do changed.

        Refreshing bindings rebuilds the footer, which costs several
        milliseconds of styling; moving between two services of the same
        team changes nothing, so it should cost nothing.
        """
        allowed = tuple(self.refusal_for(action) is None for action in (*SERVICE_ACTIONS, "decide"))
        if allowed != self._allowed:
            self._allowed = allowed
            self.refresh_bindings()

    @on(DeployTable.ServiceHighlighted)
    def _table_moved(self, event: DeployTable.ServiceHighlighted) -> None:
        # A message can arrive after the cursor moved on (keys come faster
        # than messages): follow where the cursor is, never where it was.
        self.selected = self.query_one(DeployTable).selected or self.selected

    @on(GraphView.ServiceSelected)
    def _graph_moved(self, event: GraphView.ServiceSelected) -> None:
        self.selected = self.query_one(GraphView).selected or self.selected

    @on(DeployTable.ServiceOpened)
    def _open_service(self, event: DeployTable.ServiceOpened) -> None:
        from warroom.tui.screens.service import ServiceScreen

        self.app.push_screen(ServiceScreen(event.service))

    def _highlighted(self) -> str | None:
        """The service highlighted where the person is: the cursor of the
        focused graph or table (even before its message has arrived), else
        the selection both show."""
        focused = self.focused
        if isinstance(focused, DeployTable | GraphView) and focused.selected is not None:
            return focused.selected
        return self.selected

    def _catch_up_selection(self) -> None:
        """Before acting: the selection is what the focused pane highlights now."""
        self.selected = self._highlighted()

    def _service(self) -> ServiceView | None:
        snapshot = self.wr.snapshot
        name = self._highlighted()
        if snapshot is None or name is None:
            return None
        return snapshot.service(name)

    # ---------------------------------------------------------------- permissions

    def refusal_for(self, action: str) -> str | None:
        """Why the viewer may not take `action` now (the footer greys it out)."""
        me = self.wr.me
        if self.wr.snapshot is None:
            return "no release is loaded"
        if me is None:
            return f"{self.wr.config.identity} is not a person in this release"
        if action == "decide":
            return refusal(me.actor, Action.DECIDE)
        if action == "toggle_item":
            key = self.query_one(Checklist).highlighted_key
            item = self.wr.snapshot.item(key) if key else None
            return refusal(me.actor, Action.CHECK_ITEM, item.team if item else None, key)
        if action in {"ack_trigger", "rollback_plan"}:
            # Banner keys act on a trigger, so its service's team decides.
            trigger = self._banner_trigger()
            if trigger is None:
                return "no unacknowledged trigger is firing"
            target = self.wr.snapshot.service(trigger.service)
            team = target.team if target else None
            return refusal(me.actor, SERVICE_ACTIONS[action], team, trigger.service)
        if action in SERVICE_ACTIONS:
            service = self._service()
            if service is None:
                return "select a service first"
            return refusal(me.actor, SERVICE_ACTIONS[action], service.team, service.name)
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in SERVICE_ACTIONS or action == "decide":
            # None: shown greyed out in the footer rather than hidden.
            return None if self.refusal_for(action) else True
        if action == "unzoom":
            return self.maximized is not None
        if action == "inject_fault":
            return self.wr.config.simulator_url is not None  # demo mode only
        return True

    def on_key(self, event: events.Key) -> None:
        """A greyed-out key still answers: say why, rather than ignore the press."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            action = binding.action
            if action in SERVICE_ACTIONS or action == "decide":
                reason = self.refusal_for(action)
                if reason is not None:
                    event.stop()
                    self.notify(reason, title="Not allowed", severity="warning")
                    return

    def _act(self, action: str, run: Callable[[Commands], str]) -> None:
        reason = self.refusal_for(action)
        if reason is not None:
            self.notify(reason, title="Not allowed", severity="warning")
            return
        self.wr.run_command(run)

    # ---------------------------------------------------------------- actions

    def _with_service(self, action: str, run: Callable[[Commands, ServiceView], str]) -> None:
        self._catch_up_selection()
        service = self._service()
        if service is None:
            self.notify("Select a service first (deploy table or graph).", severity="warning")
            return
        self._act(action, lambda commands: run(commands, service))

    def action_next_step(self) -> None:
        self._with_service(
            "next_step", lambda c, s: c.complete_step(s.name, expect_version=s.row_version)
        )

    def action_undo_step(self) -> None:
        self._with_service(
            "undo_step", lambda c, s: c.undo_step(s.name, expect_version=s.row_version)
        )

    def action_start_deploy(self) -> None:
        self._with_service(
            "start_deploy", lambda c, s: c.start_deploy(s.name, expect_version=s.row_version)
        )

    def action_finish_deploy(self) -> None:
        self._with_service(
            "finish_deploy", lambda c, s: c.finish_deploy(s.name, expect_version=s.row_version)
        )

    def action_fail_deploy(self) -> None:
        self._ask_then(
            "fail_deploy",
            "What went wrong? (goes in the log)",
            lambda c, s, why: c.fail_deploy(s.name, why, expect_version=s.row_version),
        )

    def action_start_rollback(self) -> None:
        self._ask_then(
            "start_rollback",
            "Why roll back? (goes in the log)",
            lambda c, s, why: c.start_rollback(s.name, why, expect_version=s.row_version),
        )

    def action_finish_rollback(self) -> None:
        self._with_service(
            "finish_rollback", lambda c, s: c.finish_rollback(s.name, expect_version=s.row_version)
        )

    def action_raise_trigger(self) -> None:
        self._ask_then(
            "raise_trigger",
            "Why call for a rollback? (a lead's call, goes in the log)",
            lambda c, s, why: c.raise_trigger(s.name, why),
        )

    def _banner_trigger(self) -> TriggerView | None:
        """The trigger the banner keys act on: the selected service's, else the first firing."""
        snapshot = self.wr.snapshot
        if snapshot is None:
            return None
        firing = unacknowledged(snapshot)
        mine = [t for t in firing if t.service == self._highlighted()]
        candidates = mine or firing
        return candidates[0] if candidates else None

    def action_ack_trigger(self) -> None:
        self._catch_up_selection()
        trigger = self._banner_trigger()
        if trigger is None:
            self.notify("No unacknowledged trigger is firing.", severity="warning")
            return
        self.selected = trigger.service
        self._act("ack_trigger", lambda c: c.ack_trigger(trigger.id))

    def action_rollback_plan(self) -> None:
        """Start the next rollback of the firing trigger's plan (dependents first)."""
        self._catch_up_selection()
        trigger = self._banner_trigger()
        snapshot = self.wr.snapshot
        if trigger is None or snapshot is None:
            self.notify(
                "No trigger is firing; to roll back one service, select it and press r.",
                severity="warning",
            )
            return
        plan = rollback_plan(snapshot, trigger.service)
        affected = snapshot.deploy_order  # in order, filtered to the service and its dependents
        subgraph = {trigger.service, *g.blast_radius(snapshot.graph, trigger.service)}
        busy = [
            name
            for name in affected
            if name in subgraph and snapshot.states[name] is DeployState.ROLLING_BACK
        ]
        if busy:
            self.notify(
                f"{busy[0]} is still rolling back; mark it rolled back (R) first.",
                severity="warning",
            )
            return
        if not plan:
            self.notify(
                f"Nothing of {trigger.service}'s subgraph needs rolling back.", severity="warning"
            )
            return
        refused = self.refusal_for("rollback_plan")
        if refused is not None:
            self.notify(refused, title="Not allowed", severity="warning")
            return
        first = plan[0]
        self.selected = first  # the selection follows to what now rolls back
        reason = f"{trigger.rule} firing on {trigger.service}"
        self.wr.run_command(lambda c: c.start_rollback(first, reason))

    def _ask_then(
        self, action: str, question: str, run: Callable[[Commands, ServiceView, str], str]
    ) -> None:
        from warroom.tui.screens.prompt import PromptScreen

        self._catch_up_selection()
        service = self._service()
        if service is None:
            self.notify("Select a service first (deploy table or graph).", severity="warning")
            return
        reason = self.refusal_for(action)
        if reason is not None:
            self.notify(reason, title="Not allowed", severity="warning")
            return

        def answered(text: str | None) -> None:
            if text is not None:
                self._act(action, lambda commands: run(commands, service, text))

        self.app.push_screen(PromptScreen(f"{safe(service.name)}: {question}"), answered)

    def action_inject_fault(self) -> None:
        from warroom.tui.screens.fault import FaultScreen

        self._catch_up_selection()
        service = self._service()
        url = self.wr.config.simulator_url
        if service is None or url is None:
            return

        def chosen(body: dict[str, object] | None) -> None:
            if body is not None:
                self._send_fault(f"{url}/faults/{service.name}", service.name, body)

        self.app.push_screen(FaultScreen(service.name), chosen)

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

    def action_decide(self) -> None:
        from warroom.tui.screens.decision import DecisionRequest, DecisionScreen

        reason = self.refusal_for("decide")
        if reason is not None:
            self.notify(reason, title="Not allowed", severity="warning")
            return
        snapshot = self.wr.snapshot
        assert snapshot is not None

        def decided(request: DecisionRequest | None) -> None:
            if request is not None:
                self._act(
                    "decide",
                    lambda c: c.decide(request.kind, request.subset, request.rationale),
                )

        self.app.push_screen(DecisionScreen(snapshot), decided)

    @on(Checklist.ToggleRequested)
    def _toggle(self, event: Checklist.ToggleRequested) -> None:
        snapshot = self.wr.snapshot
        item = snapshot.item(event.key) if snapshot else None
        if item is None:
            return
        version = item.row_version
        if item.done:
            self._act("toggle_item", lambda c: c.uncheck_item(item.key, expect_version=version))
        else:
            self._act("toggle_item", lambda c: c.check_item(item.key, expect_version=version))

    @on(CommsLog.MessageSubmitted)
    def _say(self, event: CommsLog.MessageSubmitted) -> None:
        text = event.text
        self._act("say", lambda c: c.post_message(text))

    def _typing(self) -> bool:
        return isinstance(self.focused, Input)

    def action_compose(self) -> None:
        if self._typing():
            raise SkipAction  # an "m" in the message box
        self.query_one(CommsLog).action_compose()

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

    # ---------------------------------------------------------------- palette

    def palette_commands(self) -> Iterable[SystemCommand]:
        entries: list[tuple[str, str, str]] = [
            (
                "Complete next runbook step",
                "Mark the selected service's next step done (n)",
                "next_step",
            ),
            (
                "Undo last runbook step",
                "Reopen the selected service's last completed step (u)",
                "undo_step",
            ),
            ("Start deploy", "Start deploying the selected service (s)", "start_deploy"),
            ("Mark deploy done", "Every runbook step must be complete (D)", "finish_deploy"),
            (
                "Mark deploy failed",
                "Record that the selected service's deploy failed (x)",
                "fail_deploy",
            ),
            (
                "Order rollback",
                "Release manager: roll the selected service back (r)",
                "start_rollback",
            ),
            (
                "Mark rollback finished",
                "The selected service is back on its previous version (R)",
                "finish_rollback",
            ),
            (
                "Call for a rollback",
                "A lead's call: raise a trigger on the selected service (!)",
                "raise_trigger",
            ),
            (
                "Acknowledge trigger",
                "Acknowledge the firing trigger on the selected service (a)",
                "ack_trigger",
            ),
            ("Record go/no-go decision", "GO, NO-GO or PARTIAL with a rationale (g)", "decide"),
            ("Write a message", "Post to the communication log (m)", "compose"),
            ("Zoom pane", "Full-screen the focused pane and back (z)", "zoom"),
        ]
        for title, help_text, action in entries:
            reason = (
                self.refusal_for(action)
                if action in SERVICE_ACTIONS or action == "decide"
                else None
            )
            suffix = f" — not for you: {reason}" if reason else ""
            yield SystemCommand(title, help_text + suffix, getattr(self, f"action_{action}"))
        yield SystemCommand(
            "Toggle checklist item",
            "Check or uncheck the highlighted item (space)",
            self._palette_toggle,
        )
        for pane in ("graph", "deploys", "timeline", "checklist", "log"):
            yield SystemCommand(
                f"Go to {pane} pane",
                f"Focus the {pane} pane",
                lambda p=pane: self.action_focus_pane(p),
            )

    def _palette_toggle(self) -> None:
        self.query_one(Checklist).action_toggle_item()


__all__ = ["DashboardScreen", "DecisionKind", "DeployState"]
