"""The trigger banner: a firing trigger is impossible to miss.

Shown under the header in every terminal while any trigger fires and is not
yet acknowledged; it names the rule, the service, what was seen, and the
rollback plan for the affected subgraph (the service and everything that
depends on it, in rollback order), with the keys to act on it. A rule that
cannot tell (inconclusive) asks the release manager here too. A dry-run
rule never shows here, whatever its state: it is on trial.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.text import Text
from textual.widgets import Static

from warroom.domain import graph as g
from warroom.domain.snapshot import ReleaseSnapshot, TriggerView
from warroom.domain.text import safe
from warroom.domain.timeline import when


def unacknowledged(snapshot: ReleaseSnapshot) -> list[TriggerView]:
    """Firing for real, and nobody has acknowledged it yet."""
    return [t for t in snapshot.triggers if t.alarm and not t.acked_by]


def asking(snapshot: ReleaseSnapshot) -> list[TriggerView]:
    """Inconclusive, waiting for the release manager's answer."""
    return [t for t in snapshot.triggers if t.asks]


def in_view(triggers: list[TriggerView], selected: str | None, most: int) -> list[TriggerView]:
    """The first `most` triggers; the selected one is always among them (last,
    in place of the one it pushes out, when it would not be)."""
    shown = triggers[:most]
    if selected is not None and selected not in {t.id for t in shown}:
        shown = [*triggers[: most - 1], *(t for t in triggers if t.id == selected)]
    return shown


def each_marked(
    lines: Text, shown: list[TriggerView], selected: str | None
) -> Iterator[TriggerView]:
    """Each of `shown` for its line, begun on a line of its own and marked (the arrow)
    when it is the selected one."""
    for index, trigger in enumerate(shown):
        if index:
            lines.append("\n")
        lines.append("❯ " if trigger.id == selected else "  ", "bold")
        yield trigger


class TriggerBanner(Static):
    DEFAULT_CSS = """
    TriggerBanner {
        height: auto;
        background: $error;
        color: $text;
        padding: 0 1;
        display: none;
    }
    TriggerBanner.-asking {
        background: $warning;
        color: $text;
    }
    """

    offers_keys = True
    """Whether the banner says which keys act on what it shows (a replay's does not)."""

    def show(
        self,
        snapshot: ReleaseSnapshot | None,
        target: str | None = None,
        question: str | None = None,
    ) -> list[TriggerView]:
        """Show what fires, marking `target`, the trigger `a` and `b` act
        on, and what asks, marking `question`, the one `i` answers; returns
        the triggers shown (firing and unacknowledged, then inconclusive)."""
        firing = unacknowledged(snapshot) if snapshot is not None else []
        asked = asking(snapshot) if snapshot is not None else []
        self.display = bool(firing or asked)
        self.set_class(bool(asked) and not firing, "-asking")
        if snapshot is None or not (firing or asked):
            return firing + asked
        lines = Text()
        if firing:
            self._firing(lines, snapshot, firing, target)
        if asked:
            if firing:
                lines.append("\n")
            self._asking(lines, snapshot, asked, question)
        self.update(lines)
        return firing + asked

    def _firing(
        self,
        lines: Text,
        snapshot: ReleaseSnapshot,
        firing: list[TriggerView],
        target: str | None,
    ) -> None:
        zone = snapshot.release.timezone
        shown = in_view(firing, target, 3)
        for trigger in each_marked(lines, shown, target):
            since = f" since {when(trigger.fired_at, zone, '%H:%M:%S')}" if trigger.fired_at else ""
            lines.append(safe(f"⚠ {trigger.rule} FIRING on {trigger.service}{since}"), "bold")
            what = trigger.detail or trigger.when
            lines.append(safe(f" — {what.removeprefix('firing: ')}"))
            plan = g.rollback_plan(snapshot.graph, trigger.service, snapshot.states)
            if plan:
                lines.append(safe(f" · rollback plan: {' → '.join(plan)}"), "bold")
        if len(firing) > len(shown):
            lines.append(f"\n  … and {len(firing) - len(shown)} more firing")
        if not self.offers_keys:
            return
        lines.append("\n")
        lines.append("b", "bold reverse")
        lines.append(" roll back per plan (release manager)   ")
        lines.append("a", "bold reverse")
        lines.append(" acknowledge (on-call)   ")
        lines.append("(❯: the selected service's trigger, else the first)", "italic")

    def _asking(
        self,
        lines: Text,
        snapshot: ReleaseSnapshot,
        asked: list[TriggerView],
        question: str | None,
    ) -> None:
        zone = snapshot.release.timezone
        shown = in_view(asked, question, 2)
        for trigger in each_marked(lines, shown, question):
            since = f" since {when(trigger.since, zone, '%H:%M:%S')}" if trigger.since else ""
            lines.append(safe(f"? {trigger.rule} INCONCLUSIVE on {trigger.service}{since}"), "bold")
            what = (trigger.detail or trigger.when).removeprefix("inconclusive: ")
            lines.append(safe(f" — {what}"))
        if len(asked) > len(shown):
            lines.append(f"\n  … and {len(asked) - len(shown)} more inconclusive")
        if not self.offers_keys:
            return
        lines.append("\n")
        lines.append("i", "bold reverse")
        lines.append(" decide: roll back or carry on, and why (release manager)")
