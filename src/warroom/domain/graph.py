"""The service dependency graph and everything derived from it.

Edges point from a dependency to its dependent (`api-gateway -> auth-service`):
deploy order follows the edges, rollback order goes against them. Every
function is pure and keeps the plan's own order wherever the graph leaves a
choice, so the same plan always yields the same waves and orders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import networkx as nx

from warroom.domain.lifecycle import DeployState


def build_graph(order: Sequence[str], depends_on: Mapping[str, Iterable[str]]) -> nx.DiGraph[str]:
    """A DiGraph over `order` (plan order kept as the `position` node attribute).

    Dependencies naming services outside `order` are ignored here; plan
    validation reports them.
    """
    graph: nx.DiGraph[str] = nx.DiGraph()
    for position, name in enumerate(order):
        graph.add_node(name, position=position)
    for name in order:
        for dep in depends_on.get(name, ()):
            if dep in graph:
                graph.add_edge(dep, name)
    return graph


def _position(graph: nx.DiGraph[str], name: str) -> int:
    return int(graph.nodes[name].get("position", 0))


def find_cycles(graph: nx.DiGraph[str]) -> list[list[str]]:
    """One cycle per strongly connected tangle, each as its members in order.

    The cycle starts at the member that comes first in the plan and follows
    the `depends_on` direction, so `a -> b -> a` reads "a depends on b, which
    depends on a".
    """
    cycles: list[list[str]] = []
    for component in nx.strongly_connected_components(graph):
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
        reverse = graph.subgraph(members).reverse(copy=False)
        back = min(
            (nx.shortest_path(reverse, dep, start) for dep in reverse.successors(start)),
            key=lambda path: (len(path), [_position(graph, n) for n in path]),
        )
        cycles.append([start, *back[:-1]])
    cycles.sort(key=lambda c: _position(graph, c[0]))
    return cycles


def waves(graph: nx.DiGraph[str]) -> list[list[str]]:
    """Deploy waves: each wave's services depend only on earlier waves."""
    return [
        sorted(generation, key=lambda n: _position(graph, n))
        for generation in nx.topological_generations(graph)
    ]


def deploy_order(graph: nx.DiGraph[str]) -> list[str]:
    return [name for wave in waves(graph) for name in wave]


def rollback_order(graph: nx.DiGraph[str]) -> list[str]:
    """Reverse deploy order: dependents are rolled back before what they depend on."""
    return list(reversed(deploy_order(graph)))


def blast_radius(graph: nx.DiGraph[str], service: str) -> set[str]:
    """Every service that depends on `service`, directly or transitively."""
    return set(nx.descendants(graph, service))


def dependencies(graph: nx.DiGraph[str], service: str) -> set[str]:
    """Everything `service` needs, directly or transitively."""
    return set(nx.ancestors(graph, service))


def rollback_plan(
    graph: nx.DiGraph[str], service: str, states: Mapping[str, DeployState]
) -> list[str]:
    """The affected subgraph of `service` (itself and its dependents) that has
    anything to undo, in the order it must be rolled back."""
    affected = blast_radius(graph, service) | {service}
    return [
        name
        for name in rollback_order(graph)
        if name in affected and states.get(name, DeployState.WAITING).needs_rollback
    ]


def startable(
    graph: nx.DiGraph[str],
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


def missing_dependencies(graph: nx.DiGraph[str], subset: Iterable[str]) -> dict[str, list[str]]:
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
    graph: nx.DiGraph[str], window_start: datetime, durations: Mapping[str, timedelta]
) -> dict[str, Slot]:
    """Planned start/end per service: as early as its dependencies allow.

    A service starts when the last of its dependencies is planned to end (or
    at the window start) and takes its expected duration.
    """
    slots: dict[str, Slot] = {}
    for name in nx.topological_sort(graph):
        start = max(
            (slots[dep].end for dep in graph.predecessors(name)),
            default=window_start,
        )
        slots[name] = Slot(start, start + durations.get(name, timedelta(0)))
    return slots


def critical_path(graph: nx.DiGraph[str], durations: Mapping[str, timedelta]) -> list[str]:
    """The chain of services that decides when the whole release can finish."""
    if graph.number_of_nodes() == 0:
        return []
    finish: dict[str, timedelta] = {}
    best_parent: dict[str, str | None] = {}
    for name in nx.topological_sort(graph):
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
