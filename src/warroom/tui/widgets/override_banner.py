"""The override banner: while the window or a freeze is overridden, everyone knows.

Shown under the header in every terminal (it comes with the snapshot, so
SSH sessions and other terminals see it too) for as long as an override is
in force, and gone by itself when it ends: the clock decides, each tick.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from warroom.domain.snapshot import ReleaseSnapshot
from warroom.domain.text import safe
from warroom.domain.timeline import humanize, when


def banner_text(snapshot: ReleaseSnapshot, now: datetime) -> Text | None:
    """What the banner says at `now` (None: no override is in force)."""
    live = snapshot.active_overrides(now)
    if not live:
        return None
    zone = snapshot.release.timezone
    text = Text()
    for index, override in enumerate(live):
        if index:
            text.append("\n")
        text.append("⚑ OVERRIDE ", "bold")
        text.append(
            safe(
                f"{override.subject} lifted by {override.by} until {when(override.until, zone)} "
                f"({humanize(override.until - now)} left)"
            ),
            "bold",
        )
        text.append(safe(f" — {override.reason}"))
    return text


class OverrideBanner(Static):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._said: Text | None = None

    def show(self, snapshot: ReleaseSnapshot | None, now: datetime) -> None:
        """Show the overrides in force at `now`; repaint only when the words change."""
        text = banner_text(snapshot, now) if snapshot is not None else None
        if text == self._said:
            return
        self._said = text
        self.display = text is not None
        if text is not None:
            self.update(text)
