"""The dependency graph laid out as a grid of characters, wave 1 on top.

Pure (no Textual), so it runs in a thread worker and is tested on its own.
grandalf's SugiyamaLayout does the graph drawing proper: it orders each wave
to reduce crossings and places it horizontally (Brandes-Köpf), with dummy
vertices standing in for edges that skip waves. This module only turns that
into whole columns and draws edges in the "channel" rows between waves:

     ✓ api-gateway        a node: its label with one pad cell on both sides
      │    └──────┐       a channel: one track row per overlapping segment,
      ▼           ▼       then the arrowhead row just above the target label
     ○ auth-service  ○ logging-service
"""

from __future__ import annotations

import heapq
import unicodedata
from bisect import bisect_left, bisect_right, insort
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

from grandalf.graphs import Edge, Vertex, graph_core
from grandalf.layouts import DummyVertex, SugiyamaLayout, VertexViewer

from warroom.domain import graph as g

EdgeKey = tuple[str, str]
Cell = tuple[str, frozenset[EdgeKey]]

ARROW = "▼"
_UP, _DOWN, _LEFT, _RIGHT = 1, 2, 4, 8
# Indexed by the sides a cell's line reaches (a bit mask of the four above).
_BOX = " ╵╷│╴┘┐┤╶└┌├─┴┬┼"
_COMPONENT_GAP = 3  # blank columns between unconnected parts of the graph
# grandalf's ordering sweeps (down, up, down): more barely reduce crossings
# on release plans but cost seconds on 1,000-service ones.
_ORDERING_ROUNDS = 1.5


class LayoutError(ValueError):
    """The graph cannot be laid out (bad input) or an edge could not be routed."""


@dataclass(frozen=True)
class NodeBox:
    """Where a node sits: row `y`, columns `x` to `x + width - 1`. The first
    and last columns are padding; the label starts at `x + 1`, and edges
    leave and enter through `label_columns`."""

    x: int
    y: int
    width: int

    @property
    def label_columns(self) -> range:
        return range(self.x + 1, self.x + self.width - 1)

    def contains(self, x: int, y: int) -> bool:
        return y == self.y and self.x <= x < self.x + self.width


@dataclass(frozen=True)
class GraphLayout:
    """A drawn graph. `cells` is the edge drawing only (node labels are drawn
    by the caller in their boxes); `layers` lists each wave's nodes from left
    to right; `routed` is every edge drawn."""

    width: int
    height: int
    nodes: Mapping[str, NodeBox]
    cells: EdgeCells
    routed: frozenset[EdgeKey]
    layers: tuple[tuple[str, ...], ...]


@dataclass(slots=True, eq=False)
class _Item:
    """One slot in a wave: a node, or a dummy (one column of a long edge)."""

    key: str | EdgeKey
    width: int
    x: int = 0

    @property
    def dummy(self) -> bool:
        return isinstance(self.key, tuple)

    @property
    def middle(self) -> int:
        return self.x + self.width // 2


@dataclass(slots=True, eq=False)
class _Segment:
    """An edge's part in one channel: down from column `a` under `top`,
    along horizontal `track`, down column `b` into `bottom`."""

    edge: EdgeKey
    top: _Item
    bottom: _Item
    a: int = -1
    b: int = -1
    track: int = -1


class _Sugiyama(SugiyamaLayout):  # type: ignore[misc]  # grandalf is untyped
    conflicts: Collection[tuple[object, object]]

    def _detect_alignment_conflicts(self) -> None:
        # grandalf keeps these in a list it searches once per vertex pair; a
        # set takes a 1,000-service layout from about 8 s to under 1 s.
        super()._detect_alignment_conflicts()
        self.conflicts = set(self.conflicts)


def cell_width(text: str) -> int:
    """Terminal cells `text` takes (wide East Asian characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def compute_layout(
    order: Sequence[str], edges: Sequence[tuple[str, str]], labels: Mapping[str, str]
) -> GraphLayout:
    """Lay out `order`'s nodes in waves with every edge in `edges` routed.

    Edges point from a dependency to its dependent and must form a DAG over
    `order`; a node's label defaults to its name (only its width matters
    here). Same input, same layout. Raises LayoutError on bad input, and if
    any edge could not be drawn, rather than leaving it out.
    """
    names = list(order)
    if len(set(names)) != len(names):
        raise LayoutError("each node may appear only once in the order")
    known = set(names)
    unique = list(dict.fromkeys(edges))
    depends_on: dict[str, list[str]] = {}
    for src, dst in unique:
        if src not in known or dst not in known:
            raise LayoutError(f"edge {src} -> {dst} names a node that is not in the graph")
        if src == dst:
            raise LayoutError(f"{src} cannot depend on itself")
        depends_on.setdefault(dst, []).append(src)
    graph = g.build_graph(names, depends_on)
    try:
        waves = g.waves(graph)
    except g.CycleError:
        raise LayoutError("the dependencies form a cycle, so they have no waves") from None
    rank = {name: number for number, wave in enumerate(waves) for name in wave}
    # Wide enough for the label and for one port column per edge.
    widths = {
        name: max(
            cell_width(labels.get(name, name)),
            len(graph.predecessors(name)),
            len(graph.successors(name)),
        )
        + 2
        for name in names
    }

    components = g.components(graph)
    component = {name: index for index, members in enumerate(components) for name in members}
    inner: list[list[EdgeKey]] = [[] for _ in components]
    for edge in unique:
        inner[component[edge[0]]].append(edge)
    layers: list[list[_Item]] = [[] for _ in waves]
    nodes: dict[str, _Item] = {}
    dummies: dict[tuple[EdgeKey, int], _Item] = {}
    offset = 0
    for members, own in zip(components, inner, strict=True):
        placed = _sugiyama(members, own, widths, rank)
        shift = offset - min(left for _, _, left in placed)
        for r, item, left in placed:
            item.x = left + shift
            layers[r].append(item)
            if isinstance(item.key, tuple):
                dummies[item.key, r] = item
            else:
                nodes[item.key] = item
        offset = max(item.x + item.width for _, item, _ in placed) + _COMPONENT_GAP
    _resolve_columns(layers)

    channels: list[list[_Segment]] = [[] for _ in waves[1:]]
    for src, dst in unique:
        between = (dummies[(src, dst), r] for r in range(rank[src] + 1, rank[dst]))
        path = [nodes[src], *between, nodes[dst]]
        for step, r in enumerate(range(rank[src], rank[dst])):
            channels[r].append(_Segment((src, dst), path[step], path[step + 1]))
    rows = [0]
    for number, segments in enumerate(channels):
        rows.append(rows[-1] + 2 + max(_route_channel(number, segments), 1))
    broken: set[EdgeKey] = set()
    for number, segments in enumerate(channels):
        broken |= _verify(segments, rows[number + 1] - rows[number] - 2)
    if broken:
        missing = ", ".join(f"{s} -> {d}" for s, d in unique if (s, d) in broken)
        raise LayoutError(f"could not route {missing}")
    passing = [
        [(item.x, item.key) for item in layer if isinstance(item.key, tuple)] for layer in layers
    ]
    return GraphLayout(
        width=max((item.x + item.width for layer in layers for item in layer), default=0),
        height=rows[-1] + 1 if waves else 0,
        nodes={name: NodeBox(nodes[name].x, rows[rank[name]], nodes[name].width) for name in names},
        cells=EdgeCells(rows if waves else [], passing, channels),
        routed=frozenset(unique),
        layers=tuple(tuple(str(item.key) for item in layer if not item.dummy) for layer in layers),
    )


def _sugiyama(
    members: list[str], edges: list[EdgeKey], widths: Mapping[str, int], rank: Mapping[str, int]
) -> list[tuple[int, _Item, int]]:
    """grandalf's drawing of one connected component: (wave, item, left
    column) in wave order, each wave left to right."""
    vertices = {name: Vertex(name) for name in members}
    for name, vertex in vertices.items():
        vertex.view = VertexViewer(w=widths[name], h=1)
    # Ordered lists in: grandalf.graphs.Graph would gather the edges in a set,
    # and the drawing would change from run to run.
    core = graph_core(list(vertices.values()), [Edge(vertices[s], vertices[d]) for s, d in edges])
    sugiyama = _Sugiyama(core)
    sugiyama.xspace = 1
    roots = [vertices[name] for name in members if rank[name] == 0]
    sugiyama.init_all(roots=roots, inverted_edges=[])  # a DAG: nothing to invert
    dummy_edge: dict[DummyVertex, EdgeKey] = {}
    for edge, controls in sugiyama.ctrls.items():
        for vertex in controls.values():
            if isinstance(vertex, DummyVertex):
                vertex.view.w = 1  # a dummy is a column of line, not a label
                dummy_edge[vertex] = (edge.v[0].data, edge.v[1].data)
    sugiyama.draw(_ORDERING_ROUNDS)
    placed: list[tuple[int, _Item, int]] = []
    for r, layer in enumerate(sugiyama.layers):
        for vertex in layer:
            if isinstance(vertex, DummyVertex):
                item = _Item(dummy_edge[vertex], 1)
            elif rank[vertex.data] != r:  # grandalf ranks by longest path, as waves do
                raise LayoutError(f"{vertex.data} landed outside wave {rank[vertex.data] + 1}")
            else:
                item = _Item(vertex.data, widths[vertex.data])
            placed.append((r, item, round(vertex.view.xy[0] - item.width / 2)))
    return placed


def _resolve_columns(layers: list[list[_Item]]) -> None:
    """Make grandalf's columns non-overlapping: items keep their order in the
    wave and move right only as far as needed. A dummy also steps off any
    column where a different long edge comes down from the wave above, as
    two fixed vertical lines in one column could not be told apart."""
    above: dict[int, str | EdgeKey] = {}
    for layer in layers:
        cursor = 0
        previous: _Item | None = None
        here: dict[int, str | EdgeKey] = {}
        for item in layer:
            gap = 1 if previous is not None and previous.dummy and item.dummy else 0
            x = max(item.x, cursor + gap)
            if item.dummy:
                while above.get(x, item.key) != item.key:
                    x += 1
                here[x] = item.key
            item.x, cursor, previous = x, x + item.width, item
        above = here


def _spread(desired: list[int], columns: range, blocked: set[int]) -> list[int]:
    """Distinct columns in ascending order, each as near its (ascending)
    desired column as the others allow; off `blocked` ones if there is room."""
    free = [c for c in columns if c not in blocked]
    if len(free) < len(desired):
        free = list(columns)
    count, room = len(desired), len(free)
    picks: list[int] = []
    for want in desired:
        i = min(bisect_left(free, want), room - 1)
        if i > 0 and want - free[i - 1] <= free[i] - want:
            i -= 1
        picks.append(max(i, picks[-1] + 1) if picks else i)
    # Whatever got pushed past the right end is pulled back, still distinct.
    for j in range(count - 1, -1, -1):
        picks[j] = min(picks[j], room - count + j, picks[j + 1] - 1 if j < count - 1 else room)
    return [free[i] for i in picks]


def _route_channel(number: int, segments: list[_Segment]) -> int:
    """Pick port columns and tracks for one channel; return the tracks used.

    A node's edges leave in the order of their targets (so they do not cross
    each other) and aim straight down. Ports keep off columns where another
    edge's line runs down, so that vertical lines never share a column.
    """
    leaving: dict[str, list[_Segment]] = {}
    entering: dict[str, list[_Segment]] = {}
    for seg in segments:
        if seg.top.dummy:
            seg.a = seg.top.x
        else:
            leaving.setdefault(seg.edge[0], []).append(seg)
        if seg.bottom.dummy:
            seg.b = seg.bottom.x
        else:
            entering.setdefault(seg.edge[1], []).append(seg)
    fixed_bottoms = {seg.b for seg in segments if seg.bottom.dummy}
    for group in leaving.values():
        group.sort(key=lambda s: (s.bottom.middle, s.edge))
        box = group[0].top
        want = [min(max(s.bottom.middle, box.x + 1), box.x + box.width - 2) for s in group]
        ports = _spread(
            want, range(box.x + 1, box.x + box.width - 1), fixed_bottoms - {s.b for s in group}
        )
        for seg, port in zip(group, ports, strict=True):
            seg.a = port
    tops = {seg.a for seg in segments}
    for group in entering.values():
        group.sort(key=lambda s: (s.a, s.edge))
        box = group[0].bottom
        want = [min(max(s.a, box.x + 1), box.x + box.width - 2) for s in group]
        ports = _spread(want, range(box.x + 1, box.x + box.width - 1), tops - {s.a for s in group})
        for seg, port in zip(group, ports, strict=True):
            seg.b = port
    return _assign_tracks(number, [seg for seg in segments if seg.a != seg.b])


def _assign_tracks(number: int, bent: list[_Segment]) -> int:
    """Greedy interval colouring: each bent segment takes the highest track
    where it touches no other. One that enters its target through the column
    another leaves from (when ports ran out of room) must turn below that
    one, or their vertical lines would overlap: those go in that order."""
    leaves_at = {seg.a: index for index, seg in enumerate(bent)}
    after: list[list[int]] = [[] for _ in bent]
    waiting = [0] * len(bent)
    for index, seg in enumerate(bent):
        first = leaves_at.get(seg.b)
        if first is not None and first != index:
            after[first].append(index)
            waiting[index] += 1

    def priority(index: int) -> tuple[int, int, EdgeKey, int]:
        seg = bent[index]
        return (min(seg.a, seg.b), max(seg.a, seg.b), seg.edge, index)

    ready = [priority(i) for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    floor = [0] * len(bent)
    tracks: list[list[tuple[int, int]]] = []
    while ready:
        lo, hi, _, index = heapq.heappop(ready)
        track = floor[index]
        while track < len(tracks) and _overlaps(tracks[track], lo, hi):
            track += 1
        if track == len(tracks):
            tracks.append([])
        insort(tracks[track], (lo, hi))
        bent[index].track = track
        for later in after[index]:
            floor[later] = max(floor[later], track + 1)
            waiting[later] -= 1
            if waiting[later] == 0:
                heapq.heappush(ready, priority(later))
    stuck = ", ".join(f"{s.edge[0]} -> {s.edge[1]}" for s in bent if s.track < 0)
    if stuck:
        raise LayoutError(f"could not route {stuck} below wave {number + 1}: their lines cross")
    return len(tracks)


def _overlaps(track: list[tuple[int, int]], lo: int, hi: int) -> bool:
    at = bisect_left(track, (lo, hi))
    return (at > 0 and track[at - 1][1] >= lo) or (at < len(track) and track[at][0] <= hi)


def _verify(segments: Sequence[_Segment], last: int) -> set[EdgeKey]:
    """Edges whose line shares cells with another's in a channel whose arrow
    row is `last` (crossing at right angles is fine): a router bug if any."""
    spans: dict[tuple[str, int], list[tuple[int, int, EdgeKey]]] = {}
    for seg in segments:
        lo, hi = sorted((seg.a, seg.b))
        parts = (
            [("column", seg.a, 0, last)]
            if lo == hi
            else [
                ("column", seg.a, 0, seg.track),
                ("column", seg.b, seg.track, last),
                ("track", seg.track, lo, hi),
            ]
        )
        for kind, where, start, end in parts:
            spans.setdefault((kind, where), []).append((start, end, seg.edge))
    wrong = {seg.edge for seg in segments if seg.a != seg.b and seg.track < 0}
    for group in spans.values():
        group.sort()
        reach, holder = group[0][1], group[0][2]
        for start, end, edge in group[1:]:
            if start <= reach:
                wrong |= {holder, edge}
            if end > reach:
                reach, holder = end, edge
    return wrong


class EdgeCells(Mapping[tuple[int, int], Cell]):
    """The edge drawing as (x, y) -> (character, edges through that cell),
    worked out a row at a time on demand: a 1,000-service plan draws millions
    of line cells, and only the rows someone looks at need them."""

    def __init__(
        self,
        rows: Sequence[int],
        passing: Sequence[Sequence[tuple[int, EdgeKey]]],
        channels: Sequence[Sequence[_Segment]],
    ) -> None:
        self._rows = tuple(rows)  # each wave's node row
        self._passing = passing  # per wave: the long edges crossing its row
        self._channels = channels  # per channel: its routed segments
        self._height = self._rows[-1] + 1 if self._rows else 0
        self._single: dict[EdgeKey, frozenset[EdgeKey]] = {}
        self._cache: dict[int, dict[int, Cell]] = {}
        self._len: int | None = None

    def row(self, y: int) -> Mapping[int, Cell]:
        """The cells of row `y`, by column."""
        cells = self._cache.get(y)
        if cells is None:
            cells = self._build(y)
            if len(self._cache) >= 512:  # bound what a huge graph may hold on to
                del self._cache[next(iter(self._cache))]
            self._cache[y] = cells
        return cells

    def __getitem__(self, at: tuple[int, int]) -> Cell:
        return self.row(at[1])[at[0]]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for y in range(self._height):
            for x in self.row(y):
                yield x, y

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(len(self.row(y)) for y in range(self._height))
        return self._len

    def _group(self, edges: list[EdgeKey]) -> frozenset[EdgeKey]:
        if len(edges) > 1:
            return frozenset(edges)
        # Most cells carry one edge: share one frozenset per edge.
        group = self._single.get(edges[0])
        if group is None:
            group = self._single[edges[0]] = frozenset(edges)
        return group

    def _build(self, y: int) -> dict[int, Cell]:
        r = bisect_right(self._rows, y) - 1
        if r < 0 or y >= self._height:
            return {}
        if y == self._rows[r]:
            return {x: ("│", self._group([edge])) for x, edge in self._passing[r]}
        local = y - self._rows[r] - 1
        last = self._rows[r + 1] - self._rows[r] - 2  # the arrowhead row
        sides: dict[int, int] = {}
        owners: dict[int, list[EdgeKey]] = {}

        def mark(x: int, side: int, edge: EdgeKey) -> None:
            sides[x] = sides.get(x, 0) | side
            owners.setdefault(x, []).append(edge)

        arrows: dict[int, EdgeKey] = {}
        for seg in self._channels[r]:
            a, b, edge = seg.a, seg.b, seg.edge
            if local == last and not seg.bottom.dummy:
                arrows[b] = edge
            elif a == b or local < seg.track:
                mark(a, _UP | _DOWN, edge)
            elif local > seg.track:
                mark(b, _UP | _DOWN, edge)
            else:
                toward, back = (_RIGHT, _LEFT) if b > a else (_LEFT, _RIGHT)
                mark(a, _UP | toward, edge)
                for x in range(min(a, b) + 1, max(a, b)):  # inlined: runs can be long
                    sides[x] = sides.get(x, 0) | _LEFT | _RIGHT
                    owners.setdefault(x, []).append(edge)
                mark(b, back | _DOWN, edge)
        cells = {x: (_BOX[side], self._group(owners[x])) for x, side in sides.items()}
        cells.update((x, (ARROW, self._group([edge]))) for x, edge in arrows.items())
        return cells
