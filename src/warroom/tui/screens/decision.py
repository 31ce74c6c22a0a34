"""The go/no-go decision dialog: GO, NO-GO or PARTIAL with a subset and a rationale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, SelectionList, Static

from warroom.domain import graph as g
from warroom.domain.lifecycle import DecisionKind
from warroom.domain.snapshot import ReleaseSnapshot
from warroom.domain.text import safe
from warroom.tui.screens.live import LiveScreen


@dataclass(frozen=True)
class DecisionRequest:
    kind: DecisionKind
    subset: tuple[str, ...]
    rationale: str


def readiness_summary(snapshot: ReleaseSnapshot) -> Text:
    open_gng = [i for i in snapshot.go_no_go if not i.done]
    text = Text()
    if open_gng:
        text.append(f"{len(open_gng)} go/no-go item(s) open", "bold yellow")
    else:
        text.append("Go/no-go list complete", "green")
    for team in snapshot.teams:
        ready = snapshot.team_ready(team)
        text.append("  ·  ")
        text.append(
            f"{safe(team)} {'READY' if ready else 'BLOCKED'}", "green" if ready else "bold red"
        )
    return text


class DecisionScreen(LiveScreen, ModalScreen[DecisionRequest | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "record", "Record"),
    ]

    def __init__(self, snapshot: ReleaseSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot
        self._built = False  # composed and mounted: its widgets can be updated

    def compose(self) -> ComposeResult:
        with Vertical(id="decision-box", classes="dialog"):
            yield Static(readiness_summary(self.snapshot), id="decision-readiness")
            with RadioSet(id="decision-kind"):
                yield RadioButton("GO — deploy every service", value=True, id="kind-go")
                yield RadioButton("NO-GO — abort and reschedule", id="kind-no-go")
                yield RadioButton(
                    "PARTIAL — deploy only the services picked below", id="kind-partial"
                )
            yield Label("Services for PARTIAL (must include everything they depend on):")
            yield SelectionList[str](
                *[(safe(name), name) for name in self.snapshot.deploy_order],
                id="decision-subset",
                disabled=True,
            )
            yield Static("", id="decision-check")
            yield Label("Rationale (required for NO-GO and PARTIAL):")
            yield Input(placeholder="why, for the record", id="decision-rationale")
            with Horizontal(id="decision-buttons"):
                yield Button("Record decision", variant="primary", id="decision-record")
                yield Button("Cancel", id="decision-cancel")

    def on_mount(self) -> None:
        self.query_one(
            "#decision-box"
        ).border_title = f"Go/no-go decision — {safe(self.snapshot.release.name)}"
        self._built = True
        self.show_snapshot(self.snapshot)

    def show_snapshot(
        self, snapshot: ReleaseSnapshot | None, topics: frozenset[str] | None = None
    ) -> None:
        """Readiness moves while the dialog is open (others check items): show
        it, and judge the decision against the newest state, not the one the
        dialog opened on. What the person picked and typed stays as it is."""
        if snapshot is None or snapshot.release_id != self.snapshot.release_id:
            return
        self.snapshot = snapshot
        # A read can arrive while the dialog is still being put together (or
        # taken apart): then on_mount shows the newest one instead.
        parts = ("#decision-readiness", "#decision-check", "#decision-kind", "#decision-subset")
        if self._built and all(self.query(part) for part in parts):
            self.query_one("#decision-readiness", Static).update(readiness_summary(snapshot))
            self._check()

    @property
    def kind(self) -> DecisionKind:
        pressed = self.query_one(RadioSet).pressed_button
        return {
            "kind-no-go": DecisionKind.NO_GO,
            "kind-partial": DecisionKind.PARTIAL,
        }.get(pressed.id if pressed and pressed.id else "", DecisionKind.GO)

    @property
    def subset(self) -> tuple[str, ...]:
        chosen = set(self.query_one(SelectionList).selected)
        return tuple(name for name in self.snapshot.deploy_order if name in chosen)

    @on(RadioSet.Changed)
    def _kind_changed(self) -> None:
        self.query_one(SelectionList).disabled = self.kind is not DecisionKind.PARTIAL
        self._check()

    @on(SelectionList.SelectedChanged)
    def _subset_changed(self) -> None:
        self._check()

    def _check(self) -> None:
        """Say up front whether the PARTIAL subset is closed under dependencies."""
        line = self.query_one("#decision-check", Static)
        if self.kind is not DecisionKind.PARTIAL:
            line.update("")
            return
        subset = self.subset
        if not subset:
            line.update(Text("Pick at least one service.", "yellow"))
            return
        missing = g.missing_dependencies(self.snapshot.graph, subset)
        if missing:
            first, deps = next(iter(missing.items()))
            line.update(Text(safe(f"Not closed: {first} needs {', '.join(deps)}"), "bold red"))
        else:
            line.update(Text(safe(f"Closed under dependencies: {', '.join(subset)}"), "green"))

    @on(Button.Pressed, "#decision-record")
    def action_record(self) -> None:
        rationale = self.query_one("#decision-rationale", Input).value.strip()
        subset = self.subset if self.kind is DecisionKind.PARTIAL else ()
        # Say no here, with the dialog still open, when the snapshot already
        # shows the command layer would refuse; it checks again anyway.
        reason = self.snapshot.decision_refusal(self.kind, subset, rationale)
        if reason is not None:
            self.query_one("#decision-check", Static).update(Text(reason, "bold red"))
            self.notify(reason, title="Not yet", severity="warning")
            return
        self.dismiss(DecisionRequest(self.kind, subset, rationale))

    @on(Input.Submitted, "#decision-rationale")
    def _submitted(self) -> None:
        self.action_record()

    @on(Button.Pressed, "#decision-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
