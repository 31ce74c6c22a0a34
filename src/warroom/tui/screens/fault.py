"""Demo mode: inject a fault into a simulated service (F)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from warroom.domain.text import safe

FAULTS: list[tuple[str, str, dict[str, Any]]] = [
    ("errors5", "5% errors (error-rate fires after 2 minutes)", {"error_rate": 0.05}),
    ("errors25", "25% errors (the service also reports status fail)", {"error_rate": 0.25}),
    ("slow", "+800 ms latency (p99 over 2x its baseline)", {"latency_ms": 800}),
    ("down", "down: connections refused", {"down": True}),
    ("hang", "hang: accept and never answer", {"hang": True}),
    ("garbage", "garbage: a body that is not JSON", {"garbage": True}),
    ("http500", "HTTP 500", {"status": 500}),
    ("clear", "clear: healthy again", {"clear": True}),
]


class FaultScreen(ModalScreen[dict[str, Any] | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def compose(self) -> ComposeResult:
        with Vertical(id="fault-box", classes="dialog"):
            yield Label(f"Inject a fault into the simulated {safe(self.service)}:", markup=False)
            yield OptionList(*[Option(text, id=key) for key, text, _ in FAULTS], id="fault-list")

    def on_mount(self) -> None:
        self.query_one("#fault-box").border_title = "Demo: inject a fault"
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        body = next(body for key, _, body in FAULTS if key == event.option.id)
        self.dismiss(body)

    def action_cancel(self) -> None:
        self.dismiss(None)
