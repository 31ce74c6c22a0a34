"""The service dependency graph and everything derived from it.

Edges point from a dependency to its dependent (`api-gateway -> auth-service`):
deploy order follows the edges, rollback order goes against them. Every
function is pure and keeps the plan's own order wherever the graph leaves a
choice, so the same plan always yields the same waves and orders.

The graph is a small class of our own over the standard library (waves come
from `graphlib`): the room asks it for waves, blast radii and dependencies
before its first frame, and networkx, which is ~285 modules and ~70 ms to
import, is the tenth of the room's start-up that a six-service plan does not
need. Finding cycles, for plan validation, still asks networkx.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from warroom.domain.lifecycle import DeployState

CycleError = graphlib.CycleError  # raised by `waves` (and what uses it) on a cyclic graph


class Graph:
    """Services in plan order and the edges between them; not changed once built."""

    __slots__ = ("_position", "_pred", "_succ")

    def __init__(self, order: Sequence[str]) -> None:
        self._position = {name: index for index, name in enumerate(dict.fromkeys(order))}
        # Ordered sets (dicts): an edge given twice is one edge, in first-given order.
        self._pred: dict[str, dict[str, None]] = {name: {} for name in self._position}
        self._succ: dict[str, dict[str, None]] = {name: {} for name in self._position}

    def _add_edge(self, dependency: str, dependent: str) -> None:
        self._succ[dependency][dependent] = None
        self._pred[dependent][dependency] = None

    def __contains__(self, name: object) -> bool:
        return name in self._position

    def __iter__(self) -> Iterator[str]:
        return iter(self._position)

    def __len__(self) -> int:
        return len(self._position)

    @property
    def nodes(self) -> tuple[str, ...]:
        """Every service, in plan order."""
        return tuple(self._position)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """(dependency, dependent) pairs."""
        return [(src, dst) for src, dependents in self._succ.items() for dst in dependents]

    def position(self, name: str) -> int:
        """Where `name` stands in the plan."""
        return self._position[name]

    def predecessors(self, name: str) -> tuple[str, ...]:
        """What `name` depends on directly."""
        return tuple(self._pred[name])

    def successors(self, name: str) -> tuple[str, ...]:
        """What depends on `name` directly."""
        return tuple(self._succ[name])

    def has_edge(self, dependency: str, dependent: str) -> bool:
        return dependent in self._succ.get(dependency, {})

    def reachable(self, name: str, *, forward: bool) -> set[str]:
        """Everything reachable from `name` along the edges (forward) or against
        them, `name` itself excluded."""
        step = self._succ if forward else self._pred
        seen: set[str] = set()
        todo = list(step[name])
        while todo:
            here = todo.pop()
            if here not in seen:
                seen.add(here)
                todo.extend(step[here])
        seen.discard(name)
        return seen


def build_graph(order: Sequence[str], depends_on: Mapping[str, Iterable[str]]) -> Graph:
    """The graph over `order` (plan order kept).

    Dependencies naming services outside `order` are ignored here; plan
    validation reports them.
    """
    graph = Graph(order)
    for name in graph:
        for dep in depends_on.get(name, ()):
            if dep in graph:
                graph._add_edge(dep, name)
    return graph


def _position(graph: Graph, name: str) -> int:
    return graph.position(name)


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle per strongly connected tangle, each as its members in order.

    The cycle starts at the member that comes first in the plan and follows
    the `depends_on` direction, so `a -> b -> a` reads "a depends on b, which
    depends on a".
    """
    import networkx as nx  # here: only plan validation looks for cycles

    tangled: nx.DiGraph[str] = nx.DiGraph()
    tangled.add_nodes_from(graph.nodes)
    tangled.add_edges_from(graph.edges)
    cycles: list[list[str]] = []
    for component in nx.strongly_connected_components(tangled):
        members = sorted(component, key=lambda n: _position(graph, n))
        start = members[0]
        if len(members) == 1 and not graph.has_edge(start, start):
            continue
        if graph.has_edge(start, start):
            cycles.append([start])
            continue
        # Walk dependent -> dependency so the cycle reads in the "depends on"
        # direction, and take the shortest way back to `start` so the cycle
        # really passes through the member the plan lists first.
        reverse = tangled.subgraph(members).reverse(copy=False)
        back = min(
            (nx.shortest_path(reverse, dep, start) for dep in reverse.successors(start)),
            key=lambda path: (len(path), [_position(graph, n) for n in path]),
        )
        cycles.append([start, *back[:-1]])
    cycles.sort(key=lambda c: _position(graph, c[0]))
    return cycles


def waves(graph: Graph) -> list[list[str]]:
    """Deploy waves: each wave's services depend only on earlier waves.
    Raises CycleError if the graph has a cycle."""
    sorter = graphlib.TopologicalSorter({name: graph.predecessors(name) for name in graph})
    sorter.prepare()
    found: list[list[str]] = []
    while sorter.is_active():
        wave = sorted(sorter.get_ready(), key=graph.position)
        found.append(wave)
        sorter.done(*wave)
    return found


def deploy_order(graph: Graph) -> list[str]:
    return [name for wave in waves(graph) for name in wave]


def rollback_order(graph: Graph) -> list[str]:
    """Reverse deploy order: dependents are rolled back before what they depend on."""
    return list(reversed(deploy_order(graph)))


def blast_radius(graph: Graph, service: str) -> set[str]:
    """Every service that depends on `service`, directly or transitively."""
    return graph.reachable(service, forward=True)


def dependencies(graph: Graph, service: str) -> set[str]:
    """Everything `service` needs, directly or transitively."""
    return graph.reachable(service, forward=False)


def rollback_plan(graph: Graph, service: str, states: Mapping[str, DeployState]) -> list[str]:
    """The affected subgraph of `service` (itself and its dependents) that has
    anything to undo, in the order it must be rolled back."""
    affected = blast_radius(graph, service) | {service}
    return [
        name
        for name in rollback_order(graph)
        if name in affected and states.get(name, DeployState.WAITING).needs_rollback
    ]


def startable(
    graph: Graph,
    states: Mapping[str, DeployState],
    allowed: Iterable[str] | None = None,
) -> list[str]:
    """Services that may start now: waiting, inside `allowed` (a decision's
    scope; None means every service) and with every dependency done."""
    scope = set(graph.nodes) if allowed is None else set(allowed)
    ready = [
        name
        for name in graph.nodes
        if name in scope
        and states.get(name, DeployState.WAITING) is DeployState.WAITING
        and all(states.get(dep) is DeployState.DONE for dep in graph.predecessors(name))
    ]
    return sorted(ready, key=lambda n: _position(graph, n))


def missing_dependencies(graph: Graph, subset: Iterable[str]) -> dict[str, list[str]]:
    """For a PARTIAL subset: each member's dependencies (transitive) left out of it.

    An empty result means the subset is closed under dependencies and can be
    deployed on its own.
    """
    chosen = set(subset)
    missing: dict[str, list[str]] = {}
    known = [name for name in chosen if name in graph]  # unknown names are reported elsewhere
    for name in sorted(known, key=lambda n: _position(graph, n)):
        absent = dependencies(graph, name) - chosen
        if absent:
            missing[name] = sorted(absent, key=lambda n: _position(graph, n))
    return missing


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime


def schedule(
    graph: Graph, window_start: datetime, durations: Mapping[str, timedelta]
) -> dict[str, Slot]:
    """Planned start/end per service: as early as its dependencies allow.

    A service starts when the last of its dependencies is planned to end (or
    at the window start) and takes its expected duration.
    """
    slots: dict[str, Slot] = {}
    for name in deploy_order(graph):
        start = max(
            (slots[dep].end for dep in graph.predecessors(name)),
            default=window_start,
        )
        slots[name] = Slot(start, start + durations.get(name, timedelta(0)))
    return slots


def critical_path(graph: Graph, durations: Mapping[str, timedelta]) -> list[str]:
    """The chain of services that decides when the whole release can finish."""
    if not len(graph):
        return []
    finish: dict[str, timedelta] = {}
    best_parent: dict[str, str | None] = {}
    for name in deploy_order(graph):
        parent = max(
            graph.predecessors(name),
            key=lambda dep: (finish[dep], -_position(graph, dep)),
            default=None,
        )
        base = finish[parent] if parent is not None else timedelta(0)
        finish[name] = base + durations.get(name, timedelta(0))
        best_parent[name] = parent
    last: str | None = max(finish, key=lambda n: (finish[n], -_position(graph, n)))
    path: list[str] = []
    while last is not None:
        path.append(last)
        last = best_parent[last]
    return list(reversed(path))


def components(graph: Graph) -> list[list[str]]:
    """The parts of the graph no edge joins, each in plan order, ordered by
    their first member."""
    seen: set[str] = set()
    found: list[list[str]] = []
    for name in graph:
        if name in seen:
            continue
        part, todo = [], [name]
        seen.add(name)
        while todo:
            here = todo.pop()
            part.append(here)
            for other in (*graph.successors(here), *graph.predecessors(here)):
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        found.append(sorted(part, key=graph.position))
    return found
