"""The trigger banner: a firing trigger is impossible to miss.

Shown under the header in every terminal while any trigger fires and is not
yet acknowledged; it names the rule, the service, what was seen, and the
rollback plan for the affected subgraph (the service and everything that
depends on it, in rollback order), with the keys to act on it.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from warroom.domain import graph as g
from warroom.domain.snapshot import ReleaseSnapshot, TriggerView
from warroom.domain.text import safe
from warroom.domain.timeline import when


def unacknowledged(snapshot: ReleaseSnapshot) -> list[TriggerView]:
    return [t for t in snapshot.triggers if t.state == "firing" and not t.acked_by]


class TriggerBanner(Static):
    DEFAULT_CSS = """
    TriggerBanner {
        height: auto;
        background: $error;
        color: $text;
        padding: 0 1;
        display: none;
    }
    """

    def show(
        self, snapshot: ReleaseSnapshot | None, target: str | None = None
    ) -> list[TriggerView]:
        """Show what fires, marking `target`, the trigger `a` and `b` act
        on; returns the firing, unacknowledged triggers."""
        firing = unacknowledged(snapshot) if snapshot is not None else []
        self.display = bool(firing)
        if not firing or snapshot is None:
            return firing
        zone = snapshot.release.timezone
        shown = firing[:3]
        if target is not None and target not in {t.id for t in shown}:
            shown = [*firing[:2], *(t for t in firing if t.id == target)]
        lines = Text()
        for index, trigger in enumerate(shown):
            if index:
                lines.append("\n")
            lines.append("❯ " if trigger.id == target else "  ", "bold")
            since = f" since {when(trigger.fired_at, zone, '%H:%M:%S')}" if trigger.fired_at else ""
            lines.append(safe(f"⚠ {trigger.rule} FIRING on {trigger.service}{since}"), "bold")
            what = trigger.detail or trigger.when
            lines.append(safe(f" — {what.removeprefix('firing: ')}"))
            plan = g.rollback_plan(snapshot.graph, trigger.service, snapshot.states)
            if plan:
                lines.append(safe(f" · rollback plan: {' → '.join(plan)}"), "bold")
        if len(firing) > len(shown):
            lines.append(f"\n  … and {len(firing) - len(shown)} more firing")
        lines.append("\n")
        lines.append("b", "bold reverse")
        lines.append(" roll back per plan (release manager)   ")
        lines.append("a", "bold reverse")
        lines.append(" acknowledge (on-call)   ")
        lines.append("(❯: the selected service's trigger, else the first)", "italic")
        self.update(lines)
        return firing
