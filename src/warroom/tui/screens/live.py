"""What every screen that shows release data promises the app.

The app hands each fresh read to every `LiveScreen` on the stack — the
dashboard under a dialog, and the dialog — so a screen can never miss a
change or be called with the wrong signature (mypy checks the overrides;
a duck-typed `hasattr` once let a dialog crash the app on the first change).
"""

from __future__ import annotations

from warroom.domain.snapshot import ReleaseSnapshot

NOTHING_SHOWN = object()


class LiveScreen:
    """Mixin for screens that follow the release as it changes."""

    shown: object = NOTHING_SHOWN
    """The read this screen last put on screen (tests wait until it is the
    app's newest); screens that draw reads set it once drawn."""

    def show_snapshot(
        self, snapshot: ReleaseSnapshot | None, topics: frozenset[str] | None = None
    ) -> None:
        """A fresh read arrived; `topics` (None: everything) says what moved."""

    def presence_changed(self) -> None:
        """Who is in the room changed."""

    def connection_changed(self) -> None:
        """The database became unreachable, or reachable again."""
