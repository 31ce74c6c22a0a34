"""The go/no-go pane: the decision, the go/no-go list and each team's readiness."""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from warroom.domain.snapshot import DecisionView, ItemView, ReleaseSnapshot
from warroom.domain.text import safe
from warroom.domain.timeline import when
from warroom.tui.widgets.fit import brief
from warroom.tui.widgets.messages import WidgetMessage

MARKER = "❯ "  # the highlighted line, told without colour too


def _item_label(item: ItemView, zone: str, room: int = 1000) -> Text:
    """An item's line, fitted to `room` cells: who checked it and when go
    first, then the text is shortened at a word (…), never cut mid-word by
    the pane's edge. (The pane's subtitle names the zone of the time.)"""
    mark = Text("☑ ", "green") if item.done else Text("☐ ", "bold yellow")
    key = f"{safe(item.key):<11} "
    body = safe(item.text)
    who = ""
    if item.done:
        at = when(item.done_at, zone, label=False) if item.done_at else ""
        who = f"  · {safe(item.done_by or '')} {at}".rstrip()
    if 2 + len(key) + cell_len(body) + cell_len(who) > room:
        who = ""
    text = mark
    text.append(key, "dim")
    text.append(brief(body, max(room - 2 - len(key), 8)))
    text.append(who, "dim")
    return text


def _decision_label(decision: DecisionView | None, zone: str, room: int = 1000) -> Text:
    if decision is None:
        return Text("Decision: none yet (release manager)", "bold yellow")
    style = {
        "GO": "bold black on green",
        "NO-GO": "bold white on red",
        "PARTIAL": "bold black on yellow",
    }
    text = Text.assemble(
        ("Decision: ", "bold"), (f" {decision.kind.value} ", style[decision.kind.value])
    )
    if decision.subset:
        text.append(safe(f" ({', '.join(decision.subset)})"))
    text.append(f"  by {safe(decision.by)} at {when(decision.at, zone)}", "dim")
    if decision.rationale:
        room_left = room - text.cell_len - 3
        if room_left >= 8:
            text.append(f" — {brief(safe(decision.rationale), room_left)}", "italic")
    return text


def _group_label(title: str, items: tuple[ItemView, ...], ready_word: bool) -> Text:
    done = sum(1 for item in items if item.done)
    complete = done == len(items)
    text = Text(f"{safe(title)} ", "bold")
    if ready_word:
        text.append(
            " READY " if complete else " BLOCKED ",
            "bold black on green" if complete else "bold white on red",
        )
        text.append(" ")
    text.append(f"{done}/{len(items)}", "green" if complete else "yellow")
    return text


class Checklist(Tree[str]):
    """Space toggles the highlighted item; the app decides check or uncheck."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("space", "toggle_item", "Check/uncheck")]

    class ToggleRequested(WidgetMessage["Checklist"]):
        """The person asked to check or uncheck item `key` (space)."""

        def __init__(self, checklist: Checklist, key: str) -> None:
            super().__init__(checklist)
            self.key = key

    def __init__(self, **kwargs: object) -> None:
        # Before Tree's own set-up, which already moves the cursor.
        self._labels: dict[int, Text] = {}  # node id -> its label without the marker
        super().__init__("checklists", **kwargs)  # type: ignore[arg-type]
        self.show_root = False
        self.guide_depth = 2
        self._items: dict[str, TreeNode[str]] = {}
        self._groups: dict[str, TreeNode[str]] = {}
        self._decision: TreeNode[str] | None = None
        self._shape: tuple[tuple[str, ...], ...] | None = None
        self._zone = "UTC"
        self._snapshot: ReleaseSnapshot | None = None
        self._fitted_to = 0

    @staticmethod
    def _layout(snapshot: ReleaseSnapshot) -> tuple[tuple[str, ...], ...]:
        groups = [tuple(i.key for i in snapshot.go_no_go)]
        groups.extend(
            tuple(i.key for i in snapshot.readiness.get(team, ())) for team in snapshot.teams
        )
        return tuple(groups)

    @property
    def _room(self) -> int:
        """Cells an item's label has: the pane less the guides, the marker, a scrollbar."""
        width = self.size.width or 1000
        return max(width - 2 * self.guide_depth - len(MARKER) - 4, 20)

    def on_resize(self, event: events.Resize) -> None:
        if self._snapshot is not None and self._room != self._fitted_to:
            self.show(self._snapshot)

    def show(self, snapshot: ReleaseSnapshot) -> None:
        """Relabel nodes in place; rebuild only if the lists themselves changed."""
        self._snapshot = snapshot
        self._fitted_to = room = self._room
        zone = self._zone = snapshot.release.timezone
        shape = self._layout(snapshot)
        if shape != self._shape:
            self._rebuild(snapshot)
            self._shape = shape
        assert self._decision is not None
        self._label(self._decision, _decision_label(snapshot.decision, zone, room + 6))
        self._label(self._groups["go/no-go"], _group_label("Go/no-go", snapshot.go_no_go, False))
        for team in snapshot.teams:
            self._label(
                self._groups[team],
                _group_label(f"Team {team}", snapshot.readiness.get(team, ()), True),
            )
        for item in snapshot.all_items:
            node = self._items.get(item.key)
            if node is not None:
                self._label(node, _item_label(item, zone, room))

    def _label(self, node: TreeNode[str], label: Text) -> None:
        """Label `node`, with the marker if the cursor is on it; only if changed."""
        if self._labels.get(node.id) == label and node is not self.cursor_node:
            return
        self._labels[node.id] = label
        self._draw(node)

    def _draw(self, node: TreeNode[str]) -> None:
        base = self._labels.get(node.id)
        if base is None:
            return
        lead = MARKER if node is self.cursor_node else " " * len(MARKER)
        node.set_label(Text(lead, "bold") + base)

    def watch_cursor_line(self, previous_line: int, line: int) -> None:
        before = self.cursor_node
        super().watch_cursor_line(previous_line, line)
        for node in (before, self.cursor_node):
            if node is not None:
                self._draw(node)

    def _rebuild(self, snapshot: ReleaseSnapshot) -> None:
        keep = self.highlighted_key  # a new plan keeps the cursor on the same item
        self.clear()
        self._items.clear()
        self._groups.clear()
        self._labels.clear()
        zone = snapshot.release.timezone
        self._decision = self.root.add_leaf(_decision_label(snapshot.decision, zone), data="")
        gng = self.root.add("Go/no-go", data="", expand=True)
        self._groups["go/no-go"] = gng
        for item in snapshot.go_no_go:
            self._items[item.key] = gng.add_leaf(_item_label(item, zone), data=item.key)
        for team in snapshot.teams:
            items = snapshot.readiness.get(team, ())
            group = self.root.add(f"Team {safe(team)}", data="", expand=True)
            self._groups[team] = group
            for item in items:
                self._items[item.key] = group.add_leaf(_item_label(item, zone), data=item.key)
        # Start on the first item, visibly, so the first Down moves to the
        # second one (not onto the decision line, which has nothing to toggle).
        # Setting the line (rather than move_cursor) does not scroll: the tree
        # may not have its final height yet, and scrolling then would hide the
        # lines above. `last_line` lays the new nodes out so `first.line` is set.
        first = self._items.get(keep or "") or next(iter(self._items.values()), None)
        if first is not None and self.last_line >= first.line >= 0:
            self.cursor_line = first.line

    @property
    def highlighted_key(self) -> str | None:
        node = self.cursor_node
        return node.data if node is not None and node.data else None

    def action_toggle_item(self) -> None:
        key = self.highlighted_key
        if key:
            self.post_message(self.ToggleRequested(self, key))
