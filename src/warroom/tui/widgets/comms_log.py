"""The communication log: newest at the bottom, a filter, and a message box."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widget import Widget
from textual.widgets import Input, Label, RichLog, Select

from warroom.domain.snapshot import LogView, ReleaseSnapshot
from warroom.domain.text import safe
from warroom.domain.timeline import t_offset, when
from warroom.tui.widgets import scrollbars
from warroom.tui.widgets.messages import WidgetMessage

ALL = "all"
SYSTEM = "system"
PEOPLE = "people"
SYSTEM_STYLE = "dim italic"  # lines warroom wrote, under what people said


def _author_style(name: str) -> str:
    # A stable colour per person, so a busy channel is easy to scan.
    palette = [
        "cyan",
        "magenta",
        "green",
        "yellow",
        "blue",
        "bright_cyan",
        "bright_magenta",
        "bright_green",
    ]
    return "bold " + palette[sum(name.encode()) % len(palette)]


def format_line(entry: LogView, snapshot: ReleaseSnapshot) -> Text:
    """One log line; its time is on the plan's clock (the pane's subtitle names the zone)."""
    at = when(entry.at, snapshot.release.timezone, "%H:%M:%S", label=False)
    stamp = Text(f"{at} ", "dim")
    stamp.append(f"{t_offset(entry.at, snapshot.release.window_start):>8} ", "dim")
    author = safe(entry.author)
    if entry.system:
        stamp.append("· ", "dim")
        stamp.append(f"{author:<8} ", "dim")
        stamp.append(safe(entry.text), SYSTEM_STYLE)
        return stamp
    stamp.append("› ", "bold")
    stamp.append(f"{author:<8} ", _author_style(entry.author))
    stamp.append(safe(entry.text))
    return stamp


class LogLines(RichLog):
    """A RichLog whose growth does not re-lay-out the whole screen.

    RichLog grows its `virtual_size`, a reactive that asks for a layout pass of
    the screen on every line — most of the CPU an app spent per change, times
    every app in the room. This pane has a fixed size (1fr), so a new line only
    moves the scrollbar: update just that (when the scrollbar comes or goes,
    `show_vertical_scrollbar` asks for the layout itself). See scrollbars.py;
    the snapshot tests show the scrollbar.
    """

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        # Whether the reader is at the newest line. Kept across resizes: the
        # pane shrinking (a trigger banner appears) leaves the scroll offset
        # where it was, which is no longer the bottom, though nobody scrolled.
        self.following = True
        self._width = 0

    def watch_virtual_size(self, size: Size) -> None:
        scrollbars.grown(self, size)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.following = new_value >= self.max_scroll_y

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            # Lines are wrapped when written: a new width wraps them afresh
            # (a narrower pane would otherwise cut them off at the edge).
            self._width = event.size.width
            self.post_message(self.Rewrap(self))
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    class Rewrap(WidgetMessage["LogLines"]):
        """The pane's width changed: the log's lines need wrapping afresh."""


class CommsLog(Vertical):
    """Shows the log; the filter picks what; the input posts as you."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "compose", "Message"),
        Binding("f", "filter", "Filter"),
    ]

    class MessageSubmitted(WidgetMessage["CommsLog"]):
        """The person sent `text` from the message box."""

        def __init__(self, log: CommsLog, text: str) -> None:
            super().__init__(log)
            self.text = text

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._snapshot: ReleaseSnapshot | None = None
        self._last_id = 0
        self._placeholder = True
        self._filter = ALL
        self._filter_options: list[tuple[str, str]] = [("Everything", ALL)]
        # Where focus goes back to once a message is sent or abandoned.
        self._return_to: Widget | None = None
        self.read_only = False  # a replay: no message box (see `make_read_only`)

    def compose(self) -> ComposeResult:
        with Horizontal(id="log-bar"):
            yield Label("Show:", id="log-filter-label")
            yield Select(
                self._filter_options, value=ALL, allow_blank=False, id="log-filter", compact=True
            )
        # min_width small: wrap long lines to the pane instead of scrolling sideways.
        yield LogLines(
            id="log-lines", wrap=True, markup=False, auto_scroll=True, max_lines=5000, min_width=20
        )
        yield Input(placeholder="m: write to everyone — Enter sends, Esc leaves", id="log-input")

    @property
    def lines(self) -> LogLines:
        return self.query_one("#log-lines", LogLines)

    def _matches(self, entry: LogView) -> bool:
        kind, _, value = self._filter.partition(":")
        if kind == ALL:
            return True
        if kind == SYSTEM:
            return entry.system
        if kind == PEOPLE:
            return not entry.system
        if kind == "team":
            return entry.team == value
        if kind == "person":
            return entry.author == value
        return True

    def make_read_only(self) -> None:
        """No message box (a replay): `m` is then the screen's to refuse."""
        self.read_only = True
        self.query_one("#log-input").display = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "compose" and self.read_only)

    def show(self, snapshot: ReleaseSnapshot) -> None:
        """Append what is new; scroll along only if the reader is at the bottom.

        A log that lost lines (a replay stepping back) is written afresh."""
        self._snapshot = snapshot
        self._update_filter_options(snapshot)
        newest = snapshot.log[-1].id if snapshot.log else 0
        if self._placeholder or self._last_id == 0 or newest < self._last_id:
            self._rewrite()
            return
        log = self.lines
        follow = log.following
        fresh = [entry for entry in snapshot.log if entry.id > self._last_id]
        shown = [entry for entry in fresh if self._matches(entry)]
        self._write(shown, snapshot, scroll_end=False)
        if shown and follow:
            # Scroll now rather than after the next refresh (write's way):
            # the new lines and the scroll then cost one repaint, not two.
            log.scroll_end(animate=False, immediate=True, x_axis=False)
        if fresh:
            self._last_id = fresh[-1].id

    def _rewrite(self) -> None:
        log = self.lines
        log.clear()
        snapshot = self._snapshot
        if snapshot is None:
            return
        shown = [entry for entry in snapshot.log if self._matches(entry)]
        self._last_id = snapshot.log[-1].id if snapshot.log else 0
        self._placeholder = not shown
        if not snapshot.log:
            log.write(
                Text("The log is empty: what people say and what happens will appear here.", "dim")
            )
        elif not shown:
            log.write(Text("Nothing matches this filter yet.", "dim"))
        self._write(shown, snapshot, scroll_end=True)

    def _write(self, entries: list[LogView], snapshot: ReleaseSnapshot, scroll_end: bool) -> None:
        """`entries` at the bottom, in one write: RichLog pays its bookkeeping
        (size, scrollbar, refresh) per write, and a replay jumping through the
        day writes hundreds of lines at once."""
        if entries:
            lines = Text("\n").join(format_line(entry, snapshot) for entry in entries)
            self.lines.write(lines, scroll_end=scroll_end)

    def _update_filter_options(self, snapshot: ReleaseSnapshot) -> None:
        options = [("Everything", ALL), ("System lines", SYSTEM), ("People", PEOPLE)]
        options.extend((f"Team {safe(team)}", f"team:{team}") for team in snapshot.teams)
        options.extend((f"Person {safe(p.name)}", f"person:{p.name}") for p in snapshot.people)
        if options != self._filter_options:
            self._filter_options = options
            select = self.query_one("#log-filter", Select)
            with select.prevent(Select.Changed):
                select.set_options(options)
                select.value = self._filter

    @on(LogLines.Rewrap)
    def _rewrap(self, event: LogLines.Rewrap) -> None:
        if self._snapshot is not None:
            self._rewrite()

    @on(Select.Changed, "#log-filter")
    def _filter_changed(self, event: Select.Changed) -> None:
        value = str(event.value)
        if value != self._filter:
            self._filter = value
            self._rewrite()

    def set_filter(self, value: str) -> None:
        self._filter = value
        select = self.query_one("#log-filter", Select)
        with select.prevent(Select.Changed):
            select.value = value
        self._rewrite()

    # Focus moves at once (Screen.set_focus), not after the events already
    # queued (Widget.focus): "m" then a fast-typed message must land in the
    # box, not fire the letters' bindings on the pane it came from.

    def action_compose(self) -> None:
        box = self.query_one("#log-input", Input)
        focused = self.screen.focused
        if focused is not box:
            self._return_to = focused
        self.screen.set_focus(box)

    def _leave_box(self) -> None:
        """Back to where the person was before `m`, so the next key (a pane
        number, `n`) does what it says rather than landing in the box."""
        back = self._return_to
        self._return_to = None
        usable = back is not None and back.is_attached and back.display and back.focusable
        self.screen.set_focus(back if usable else self.lines)

    def action_filter(self) -> None:
        self.screen.set_focus(self.query_one("#log-filter", Select))

    @on(Input.Submitted, "#log-input")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            self.post_message(self.MessageSubmitted(self, text))
            event.input.value = ""
        self._leave_box()

    def key_escape(self) -> None:
        focused = self.app.focused
        if focused is not None and focused.id == "log-input":
            self._leave_box()
        elif focused is not None and focused.id == "log-filter":
            self.screen.set_focus(self.lines)
