"""The graph layout, pure: waves, no overlaps, every edge drawn and connected."""

from __future__ import annotations

import importlib
import itertools
import sys
from collections.abc import Mapping, Sequence
from functools import cache

import pytest

from tests.conftest import ROOT
from warroom.domain import graph as g
from warroom.domain.plan import Plan, parse_plan_text
from warroom.tui.graph_layout import ARROW, GraphLayout, LayoutError, compute_layout

Edges = list[tuple[str, str]]

# Which sides of its cell each line character reaches.
SIDES = {
    "│": "ud",
    "─": "lr",
    "┌": "dr",
    "┐": "dl",
    "└": "ur",
    "┘": "ul",
    "├": "udr",
    "┤": "udl",
    "┬": "lrd",
    "┴": "lru",
    "┼": "udlr",
}


@cache
def generated(services: int, edges: int) -> Plan:
    """A plan from benchmarks/genplan.py (deterministic for given sizes)."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    text: str = importlib.import_module("genplan").generate(services, edges)
    return parse_plan_text(text)


def plan_graph(plan: Plan) -> tuple[list[str], Edges, dict[str, str]]:
    order = [s.name for s in plan.services]
    edges = [(dep, s.name) for s in plan.services for dep in s.depends_on]
    return order, edges, {name: f"○ {name}  " for name in order}


def lay_out(
    order: Sequence[str], edges: Edges, labels: Mapping[str, str] | None = None
) -> GraphLayout:
    layout = compute_layout(order, edges, labels if labels is not None else {})
    check_drawing(layout, order, edges)
    return layout


def check_drawing(layout: GraphLayout, order: Sequence[str], edges: Edges) -> None:
    """Everything a readable drawing needs, checked cell by cell."""
    assert layout.routed == set(edges)
    assert set(layout.nodes) == set(order)
    # Layers are the deploy waves, and every edge points down.
    waves = g.waves(g.build_graph(list(order), _depends_on(edges)))
    assert [sorted(layer) for layer in layout.layers] == [sorted(wave) for wave in waves]
    for src, dst in edges:
        assert layout.nodes[src].y < layout.nodes[dst].y, (src, dst)
    # Node boxes stay inside the drawing and never overlap each other.
    by_row: dict[int, list[tuple[int, int]]] = {}
    for box in layout.nodes.values():
        assert box.x >= 0 and box.x + box.width <= layout.width and 0 <= box.y < layout.height
        by_row.setdefault(box.y, []).append((box.x, box.x + box.width))
    for spans in by_row.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start
    boxes_at = {
        (x, b.y): name for name, b in layout.nodes.items() for x in range(b.x, b.x + b.width)
    }

    wanted = set(edges)
    drawn: set[tuple[str, str]] = set()
    for (x, y), (char, through) in layout.cells.items():
        assert (x, y) not in boxes_at, f"edge cell inside the label of {boxes_at[x, y]}"
        assert 0 <= x < layout.width and 0 <= y < layout.height
        assert through and through <= wanted
        drawn |= through
        if char == ARROW:
            (edge,) = through
            box = layout.nodes[edge[1]]
            # Just above the target's label, fed by a line from above.
            assert y == box.y - 1 and x in box.label_columns, edge
            assert "d" in SIDES[layout.cells[x, y - 1][0]]
            continue
        # Every side a line reaches meets a line (or a port of a node, or an
        # arrowhead) in the next cell: no dangling or broken lines.
        sides = SIDES[char]
        for side, (dx, dy), back in (
            ("u", (0, -1), "d"),
            ("d", (0, 1), "u"),
            ("l", (-1, 0), "r"),
            ("r", (1, 0), "l"),
        ):
            if side not in sides:
                continue
            at = (x + dx, y + dy)
            if side == "u" and at in boxes_at:  # leaving a node through its label
                source = boxes_at[at]
                assert x in layout.nodes[source].label_columns
                assert any(edge[0] == source for edge in through)
                continue
            assert at in layout.cells, f"line at {(x, y)} runs off into nothing going {side}"
            neighbour = layout.cells[at][0]
            joined = (neighbour == ARROW and side == "d") or back in SIDES.get(neighbour, "")
            assert joined, f"{char} at {(x, y)} does not meet {neighbour} going {side}"
    assert drawn == wanted
    # One arrowhead per incoming edge, each its own column.
    for name, box in layout.nodes.items():
        incoming = {(s, d) for s, d in edges if d == name}
        arrows = {
            x: layout.cells[x, box.y - 1][1]
            for x in range(box.x, box.x + box.width)
            if layout.cells.get((x, box.y - 1), ("", frozenset()))[0] == ARROW
        }
        assert set().union(*arrows.values()) == incoming and len(arrows) == len(incoming)


def _depends_on(edges: Edges) -> dict[str, list[str]]:
    deps: dict[str, list[str]] = {}
    for src, dst in edges:
        deps.setdefault(dst, []).append(src)
    return deps


# ---------------------------------------------------------------- shapes


def test_sample_plan_is_drawn_in_its_waves(sample_plan: Plan) -> None:
    order, edges, labels = plan_graph(sample_plan)
    layout = lay_out(order, edges, labels)
    assert layout.layers[0] == ("api-gateway",)
    assert layout.nodes["web-frontend"].y == max(box.y for box in layout.nodes.values())
    # Labels are drawn by the caller; the layout leaves room for them.
    assert all(box.width == len(labels[name]) + 2 for name, box in layout.nodes.items())


def test_diamond() -> None:
    layout = lay_out("abcd", [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    assert layout.layers in ((("a",), ("b", "c"), ("d",)), (("a",), ("c", "b"), ("d",)))


def test_disconnected_services_sit_side_by_side() -> None:
    layout = lay_out(["x", "y", "a", "b", "z"], [("a", "b")])
    assert sorted(layout.layers[0]) == ["a", "x", "y", "z"]
    assert layout.layers[1] == ("b",)


def test_a_single_service_and_no_services() -> None:
    layout = lay_out(["solo"], [], {"solo": "✓ solo"})
    assert layout.nodes["solo"].x == 0 and layout.nodes["solo"].width == len("✓ solo") + 2
    assert (layout.width, layout.height, len(layout.cells)) == (len("✓ solo") + 2, 1, 0)
    empty = compute_layout([], [], {})
    assert (empty.width, empty.height, empty.routed) == (0, 0, frozenset())


def test_a_node_with_more_edges_than_label_cells_is_widened() -> None:
    sources = [f"s{i}" for i in range(6)]
    layout = lay_out([*sources, "t"], [(s, "t") for s in sources], {"t": "t"})
    assert len(layout.nodes["t"].label_columns) >= 6


def test_edges_skipping_waves_are_routed_through_the_waves_between() -> None:
    chain = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"), ("a", "c")]
    layout = lay_out("abcd", chain)
    rows = {layout.nodes[name].y for name in "bc"}
    # a -> d passes the rows of b and c as a vertical line.
    assert any(("a", "d") in layout.cells.row(y)[x][1] for y in rows for x in layout.cells.row(y))


def test_forty_services() -> None:
    order, edges, labels = plan_graph(generated(40, 90))
    assert len(edges) >= 85
    lay_out(order, edges, labels)


def test_two_hundred_services() -> None:
    order, edges, labels = plan_graph(generated(200, 600))
    lay_out(order, edges, labels)


def test_same_input_same_layout() -> None:
    order, edges, labels = plan_graph(generated(40, 90))
    first, second = compute_layout(order, edges, labels), compute_layout(order, edges, labels)
    assert first.nodes == second.nodes and first.layers == second.layers
    assert dict(first.cells.items()) == dict(second.cells.items())
    assert first == second


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("order", "edges", "message"),
    [
        (["a", "b"], [("a", "b"), ("b", "a")], "cycle"),
        (["a"], [("a", "ghost")], "not in the graph"),
        (["a"], [("a", "a")], "itself"),
        (["a", "a"], [], "only once"),
    ],
)
def test_bad_graphs_are_refused(order: list[str], edges: Edges, message: str) -> None:
    with pytest.raises(LayoutError, match=message):
        compute_layout(order, edges, {})
