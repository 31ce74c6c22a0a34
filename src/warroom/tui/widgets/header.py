"""The top line: which release, who you are, what time it is, whether we are live."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.widgets import Static

from warroom.domain.snapshot import PersonView, Present, ReleaseSnapshot
from warroom.domain.text import safe
from warroom.domain.timeline import day_phase, t_offset, when

MAX_NAMES = 6


class WarroomHeader(Static):
    def __init__(self, identity: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.identity = identity
        self._snapshot: ReleaseSnapshot | None = None
        self._now: datetime | None = None
        self._connected = True
        self._error: str | None = None
        self._present: list[Present] = []
        self._shown: Text | None = None
        self._essential = 0  # cells of the header's leading part, which must fit

    def show(
        self,
        snapshot: ReleaseSnapshot | None,
        now: datetime,
        connected: bool,
        error: str | None = None,
        present: Sequence[Present] = (),
    ) -> None:
        self._snapshot = snapshot
        self._now = now
        self._connected = connected
        self._error = error
        self._present = list(present)
        self._repaint()

    def tick(self, now: datetime) -> None:
        self._now = now
        self._repaint()

    def _repaint(self) -> None:
        # One line that never changes size: repaint it, no layout pass, and
        # only when the text actually changed.
        self._essential = 0
        text = self._compose_text()
        if self._essential > self.size.width > 0:
            # Narrow: the role goes before the clock, the T-offset and the phase
            # do (who else is in the room, at the end, is cut first anyway).
            text = self._compose_text(compact=True)
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)

    def on_resize(self) -> None:
        self._repaint()

    def _who(self, me: PersonView | None, compact: bool = False) -> Text:
        if me is None:
            return Text.assemble(
                (f" {safe(self.identity)} ", "bold black on yellow"),
                (" not in this plan — read only ", "yellow"),
            )
        if compact:
            return Text.assemble((f" {safe(me.name)} ", "bold black on cyan"))
        team = f", {me.team}" if me.team else ""
        return Text.assemble(
            (f" {safe(me.name)} ", "bold black on cyan"),
            (safe(f" {me.role.label}{team} "), "cyan"),
        )

    def _compose_text(self, compact: bool = False) -> Text:
        text = Text.assemble((" warroom ", "bold reverse"), " ")
        snapshot = self._snapshot
        now = self._now
        if snapshot is not None:
            rel = snapshot.release
            text.append(f"{safe(rel.name)} ", "bold")
            text.append_text(self._who(snapshot.person(self.identity), compact))
            if now is not None:
                zone = rel.timezone
                stamp = f" {when(now, zone, '%H:%M:%S')}"
                if zone != "UTC":
                    stamp += f" · {when(now, 'UTC', '%H:%M:%S')}"
                text.append(stamp)
                text.append(f"  {t_offset(now, rel.window_start)} ", "bold")
                text.append(f" {day_phase(snapshot, now).value} ", "italic")
        else:
            text.append(f"{safe(self.identity)} ", "bold")
            if now is not None:
                text.append(f" {now:%H:%M:%S} UTC ")
        if self._connected:
            text.append("  ● live", "bold green")
        else:
            text.append("  ● disconnected — retrying", "bold white on red")
        self._essential = text.cell_len  # what must fit; the rest may be cut
        failing = snapshot.notify_failing if snapshot is not None else 0
        if failing:
            # People outside are not hearing what the room decides: say so in every terminal.
            text.append(f"  ✉ notifications failing: {failing}", "bold black on yellow")
        others = [
            p for p in self._present if not (p.person == self.identity and p.via == "terminal")
        ]
        if others:
            names = ", ".join(safe(p.label()) for p in others[:MAX_NAMES])
            more = f" +{len(others) - MAX_NAMES}" if len(others) > MAX_NAMES else ""
            text.append(f"  in the room: {names}{more}", "dim")
        return text


class ReplayHeader(WarroomHeader):
    """The top line of a replay: REPLAY, the moment on the plan's clock, and
    where in the record it is — in colours the live room never uses, so a
    replay cannot be taken for the room now (styles/warroom.tcss)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"replay--badge", "replay--moment", "replay--hint"}

    def __init__(self, identity: str, **kwargs: object) -> None:
        super().__init__(identity, **kwargs)
        self._count = 0
        self._total = 0
        self._what = ""

    def place(self, count: int, total: int, what: str) -> None:
        """Where the replay is: `count` of `total` events had happened, the last being `what`."""
        self._count, self._total, self._what = count, total, what

    def _compose_text(self, compact: bool = False) -> Text:
        badge = self.get_component_rich_style("replay--badge", partial=True)
        strong = self.get_component_rich_style("replay--moment", partial=True)
        hint = self.get_component_rich_style("replay--hint", partial=True)
        text = Text.assemble((" REPLAY ", badge), " ")
        snapshot, now = self._snapshot, self._now
        if snapshot is None or now is None:
            text.append("reading the record…", strong)
            return text
        rel = snapshot.release
        zone = rel.timezone
        stamp = when(now, zone, "%Y-%m-%d %H:%M:%S")
        if zone != "UTC":
            stamp += f" · {when(now, 'UTC', '%H:%M:%S')}"
        text.append(stamp, strong)
        text.append(f"  {t_offset(now, rel.window_start)}", strong)
        text.append(f"  {day_phase(snapshot, now).value}", "italic")
        text.append(f"  {safe(rel.name)}")
        text.append(f"  event {self._count}/{self._total}")
        if self._what:
            text.append(f": {safe(self._what)}")
        text.append("  read-only · esc: live room", hint)
        return text
