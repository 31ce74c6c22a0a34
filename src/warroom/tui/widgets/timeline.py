"""The countdown pane: the clock, T±, the window as a bar with "now", milestones.

Freezes show on the bar as `✕` and overrides as `═` (an override drawn over
whatever it lifts), and both among the milestones: when a freeze begins and
ends, when an override ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from warroom.domain.snapshot import ReleaseSnapshot
from warroom.domain.text import safe
from warroom.domain.timeline import (
    FREEZE_PERIODS_SHOWN,
    Milestone,
    day_phase,
    humanize,
    milestones,
    t_offset,
    when,
)
from warroom.tui.widgets import looks

BAR_STYLE = {"before": "grey35", "window": "green", "rollback": "yellow", "after": "grey35"}
CELL_WIDTH = 38  # one milestone: "✗ 14:10 auth-service starts — late 5m"
BAR_CHAR = {"before": "·", "window": "█", "rollback": "▒", "after": "·"}
FREEZE_CHAR = "✕"
OVERRIDE_CHAR = "═"


class Timeline(Widget, can_focus=True):
    """Renders from the last snapshot and the clock; `tick` moves the clock."""

    DEFAULT_CSS = "Timeline { height: auto; min-height: 4; }"
    COMPONENT_CLASSES: ClassVar[set[str]] = {looks.LATE, looks.FREEZE, looks.OVERRIDE}

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._snapshot: ReleaseSnapshot | None = None
        self._now: datetime | None = None
        self._count = 0  # milestones shown

    def show(self, snapshot: ReleaseSnapshot, now: datetime) -> None:
        # A layout pass only when the number of milestones (so maybe our
        # height) changed; otherwise a repaint will do.
        count = len(milestones(snapshot, now))
        resized = self._snapshot is None or count != self._count
        self._snapshot = snapshot
        self._now = now
        self._count = count
        self.refresh(layout=resized)

    def tick(self, now: datetime) -> None:
        """Repaint only when what is shown changes: the minute, or the T± (the
        same T± as the header's, so the two never disagree)."""
        before = self._now
        self._now = now
        if before is None or self._shown_at(before) != self._shown_at(now):
            self.refresh()

    def _shown_at(self, moment: datetime) -> tuple[datetime, str]:
        start = self._snapshot.release.window_start if self._snapshot else moment
        return moment.replace(second=0, microsecond=0), t_offset(moment, start)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return 3 + self._milestone_rows(width)

    def _milestone_rows(self, width: int) -> int:
        if self._snapshot is None:
            return 1
        count = self._count
        columns = max(1, width // CELL_WIDTH)
        # Leave the screen to the graph and the tables: a few rows at 36
        # lines, more on a tall terminal; the rest is summarised.
        # (One row on a 24-line terminal, so the graph and the tables keep theirs.)
        cap = max(1, min(6, (self.screen.size.height - 12) // 8)) if self.is_attached else 3
        if self.parent is not None and self.parent.has_class("-maximized"):
            cap = max(cap, self.screen.size.height - 6)  # zoomed: every milestone
        return min(cap, -(-count // columns))

    # ---------------------------------------------------------------- drawing

    def render(self) -> Text:
        snapshot, now = self._snapshot, self._now
        if snapshot is None or now is None:
            return Text("No release loaded.", style="dim")
        width = max(self.content_size.width, 40)
        lines = [self._clock_line(snapshot, now), *self._bar(snapshot, now, width)]
        lines.extend(self._milestone_lines(milestones(snapshot, now), now, width))
        return Text("\n").join(lines)

    def _clock_line(self, snapshot: ReleaseSnapshot, now: datetime) -> Text:
        rel = snapshot.release
        zone = rel.timezone
        text = Text()
        # Every time in this pane is on the plan's clock, named here once.
        text.append(f"{when(now, zone, '%Y-%m-%d %H:%M')}  ", "bold")
        if zone != "UTC":
            text.append(f"({when(now, 'UTC')})  ", "dim")
        text.append(f" {t_offset(now, rel.window_start)} ", "bold reverse")
        text.append(f"  {day_phase(snapshot, now).value}", "italic")
        upcoming = [m for m in milestones(snapshot, now) if m.at > now]
        if upcoming:
            nxt = upcoming[0]
            text.append(safe(f"  ·  next: {nxt.label} in {humanize(nxt.at - now)}"))
        return text

    def _bar(self, snapshot: ReleaseSnapshot, now: datetime, width: int) -> list[Text]:
        rel = snapshot.release
        start = rel.go_no_go_at - timedelta(minutes=30)
        end = rel.rollback_until + timedelta(minutes=30)
        span = (end - start).total_seconds()

        def col(moment: datetime) -> int:
            return int((moment - start).total_seconds() / span * (width - 1))

        zone = rel.timezone
        frozen = [
            (period, freeze.name)
            for freeze in snapshot.freezes
            for period in freeze.periods(zone, start, end, limit=FREEZE_PERIODS_SHOWN)
        ]
        freeze_style = looks.style(self, looks.FREEZE)
        override_style = looks.style(self, looks.OVERRIDE)
        bar = Text()
        for x in range(width):
            moment = start + timedelta(seconds=span * x / (width - 1))
            if any(o.at <= moment < o.until for o in snapshot.overrides):
                bar.append(OVERRIDE_CHAR, override_style)
                continue
            if any(period.holds(moment) for period, _ in frozen):
                bar.append(FREEZE_CHAR, freeze_style)
                continue
            if moment < rel.window_start:
                part = "before"
            elif moment < rel.window_end:
                part = "window"
            elif moment < rel.rollback_until:
                part = "rollback"
            else:
                part = "after"
            bar.append(BAR_CHAR[part], BAR_STYLE[part])
        labels = Text(" " * width)

        def hm(moment: datetime) -> str:
            return when(moment, zone, label=False)

        marks: list[tuple[datetime, str, str | Style]] = [
            (rel.go_no_go_at, f"{hm(rel.go_no_go_at)} go/no-go", "dim"),
            (rel.window_start, f"{hm(rel.window_start)} window", "dim"),
            (rel.window_end, f"{hm(rel.window_end)}", "dim"),
            (rel.rollback_until, f"{hm(rel.rollback_until)} rollback", "dim"),
        ]
        marks += [
            (max(period.start, start), safe(f"{FREEZE_CHAR} {name}"), freeze_style)
            for period, name in frozen
        ]
        cursor = 0
        for moment, label, style in sorted(marks, key=lambda mark: mark[0]):
            x = max(col(moment), cursor)
            if x + len(label) <= width:
                labels = labels[:x] + Text(label, style) + labels[x + len(label) :]
                cursor = x + len(label) + 1
        if now < start:
            bar = Text("◀ now", "bold reverse") + bar[5:]
        elif now > end:
            bar = bar[: width - 5] + Text("now ▶", "bold reverse")
        else:
            x = col(now)
            bar = bar[:x] + Text("┃", "bold white on blue") + bar[x + 1 :]
        return [bar, labels]

    def _milestone_lines(self, items: list[Milestone], now: datetime, width: int) -> list[Text]:
        columns = max(1, width // CELL_WIDTH)
        rows = self._milestone_rows(width)
        capacity = rows * columns
        # Late ones first (they need action), then what is coming, then what is done.
        late = [m for m in items if m.late(now)]
        coming = [m for m in items if not m.done and not m.late(now)]
        done = [m for m in items if m.done]
        shown = (late + coming + done[::-1])[:capacity]
        hidden = len(items) - len(shown)
        shown.sort(key=lambda m: m.at)
        zone = self._snapshot.release.timezone if self._snapshot else "UTC"
        cells = [self._cell(m, now, zone) for m in shown]
        if hidden:
            cells[-1] = Text(f"… and {hidden} more", "dim")
        cell_width = width // columns
        lines: list[Text] = []
        for row in range(rows):
            line = Text()
            for column in range(columns):
                index = column * rows + row
                if index < len(cells):
                    cell = cells[index]
                    cell.truncate(cell_width - 1)
                    line.append_text(cell)
                    line.append(" " * (cell_width - cell.cell_len))
            lines.append(line)
        return lines

    def _cell(self, milestone: Milestone, now: datetime, zone: str) -> Text:
        at = when(milestone.at, zone, label=False)
        label = safe(milestone.label)
        if milestone.done:
            return Text(f"✓ {at} {label}", "green")
        if milestone.late(now):
            late = f"✗ {at} {label} — late {humanize(now - milestone.at)}"
            return Text(late, looks.style(self, looks.LATE))
        return Text(f"○ {at} {label}")
