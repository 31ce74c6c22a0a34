"""The override dialog (o): which gate to lift, why, and for how long.

The release manager picks the deploy window or one of the plan's freezes
(each says whether it keeps deploys out now), writes why (it goes in the
log) and how long it lasts (15m unless changed; at most gates.MAX_OVERRIDE).
Enter moves on from the list to the reason, from the reason to the
duration, and the duration's Enter gives the override; Esc cancels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from warroom.domain import gates
from warroom.domain.durations import format_duration
from warroom.domain.snapshot import ReleaseSnapshot
from warroom.domain.text import safe
from warroom.domain.timeline import humanize, when

DEFAULT_DURATION = "15m"
LOOK_AHEAD = timedelta(days=8)  # how far a freeze's next period is looked for


@dataclass(frozen=True)
class OverrideRequest:
    target: str  # `window`, or a freeze's name
    reason: str
    duration: str  # as typed: the command layer reads it again


def gate_status(snapshot: ReleaseSnapshot, target: str, now: datetime) -> tuple[bool, str]:
    """Whether `target` keeps deploys out at `now`, and a line saying so."""
    zone = snapshot.release.timezone
    live = gates.lifted(snapshot.overrides, target, now)
    lifted = f" · overridden until {when(live.until, zone)}" if live else ""
    if target == gates.WINDOW:
        window = snapshot.window
        if now < window.start:
            opens = f"opens {when(window.start, zone)} (in {humanize(window.start - now)})"
            return True, f"{opens}{lifted}"
        if now >= window.end:
            return True, f"closed at {when(window.end, zone)}{lifted}"
        return False, f"open until {when(window.end, zone)}"
    freeze = next(f for f in snapshot.freezes if f.name == target)
    period = freeze.at(now, zone)
    if period is not None:
        return True, f"in force until {when(period.end, zone, '%a %H:%M')}{lifted}"
    upcoming = freeze.periods(zone, now, now + LOOK_AHEAD, limit=1)
    if upcoming:
        return False, f"next from {when(upcoming[0].start, zone, '%a %d %b %H:%M')}"
    return False, "not in force this week"


class OverrideScreen(ModalScreen[OverrideRequest | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, snapshot: ReleaseSnapshot, now: datetime) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.now = now

    def _targets(self) -> list[tuple[str, str, bool]]:
        """(target, label, keeps deploys out now) for the window and each freeze;
        what keeps deploys out now is marked ✗."""
        found = []
        for target in [gates.WINDOW, *(f.name for f in self.snapshot.freezes)]:
            blocking, status = gate_status(self.snapshot, target, self.now)
            if target == gates.WINDOW:
                name = "the deploy window"
            else:
                freeze = next(f for f in self.snapshot.freezes if f.name == target)
                name = freeze.describe()
            found.append((target, f"{'✗' if blocking else ' '} {name} — {status}", blocking))
        return found

    def compose(self) -> ComposeResult:
        targets = self._targets()
        with Vertical(id="override-box", classes="dialog"):
            yield Static(
                "Let deploys start despite a gate, for a while: audited, in the log, "
                "and a banner in every terminal until it ends.",
                id="override-intro",
                markup=False,
            )
            yield OptionList(
                *[Option(Text(safe(label)), id=target) for target, label, _ in targets],
                id="override-target",
            )
            yield Label("Why? (goes in the log)", markup=False)
            yield Input(placeholder="the reason, for the record", id="override-reason")
            yield Label(
                f"For how long? (like 15m or 1h; at most {format_duration(gates.MAX_OVERRIDE)})",
                markup=False,
            )
            yield Input(DEFAULT_DURATION, id="override-duration")
            yield Static("", id="override-check")

    def on_mount(self) -> None:
        self.query_one("#override-box").border_title = "Override the window or a freeze"
        targets = self._targets()
        # Start on what keeps deploys out now (the window before it opens).
        first = next((i for i, (_, _, blocking) in enumerate(targets) if blocking), 0)
        options = self.query_one(OptionList)
        options.highlighted = first
        options.focus()

    @property
    def target(self) -> str | None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return None
        return options.get_option_at_index(options.highlighted).id

    @on(OptionList.OptionSelected)
    def _picked(self) -> None:
        self.query_one("#override-reason", Input).focus()

    @on(Input.Submitted, "#override-reason")
    def _reason_given(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self._say("Say why (it goes in the log).")
            return
        self._say("")
        self.query_one("#override-duration", Input).focus()

    def _say(self, problem: str) -> None:
        self.query_one("#override-check", Static).update(Text(problem, "bold red"))

    @on(Input.Submitted, "#override-duration")
    def _duration_given(self) -> None:
        self.action_give()

    def action_give(self) -> None:
        """Give the override, or say what is missing with the dialog still open."""
        target = self.target
        reason = self.query_one("#override-reason", Input).value.strip()
        duration = self.query_one("#override-duration", Input).value.strip()
        problem = None
        if target is None:
            problem = "Pick the window or a freeze."
        elif not reason:
            problem = "Say why (it goes in the log)."
        else:
            try:
                gates.parse_override_duration(duration)
            except ValueError as exc:
                problem = f"{str(exc)[:1].upper()}{str(exc)[1:]}."
        if problem is not None or target is None:
            self._say(problem or "")
            if not reason and target is not None:
                self.query_one("#override-reason", Input).focus()
            return
        self.dismiss(OverrideRequest(target, reason, duration))

    def action_cancel(self) -> None:
        self.dismiss(None)
