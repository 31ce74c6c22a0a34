"""The service dependency graph: waves, orders, blast radius, schedule, cycles."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import networkx as nx
import pytest

from warroom.domain import graph as g
from warroom.domain.lifecycle import DeployState
from warroom.domain.plan import Plan

W = DeployState.WAITING
DONE = DeployState.DONE
START = datetime(2024, 3, 20, 14, 0, tzinfo=UTC)

SAMPLE_WAVES = [
    ["api-gateway"],
    ["auth-service", "logging-service"],
    ["user-service"],
    ["mobile-backend"],
    ["web-frontend"],
]


def _graph(deps: Mapping[str, Sequence[str]], order: Sequence[str] | None = None) -> g.Graph:
    return g.build_graph(list(order if order is not None else deps), deps)


def minutes(**values: int) -> dict[str, timedelta]:
    return {name: timedelta(minutes=m) for name, m in values.items()}


@pytest.fixture
def diamond() -> g.Graph:
    # a <- b, a <- c, b,c <- d   (d depends on b and c, both depend on a)
    return _graph({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]})


@pytest.fixture
def sample(sample_plan: Plan) -> g.Graph:
    graph: g.Graph = sample_plan.graph()
    return graph


# ---------------------------------------------------------------- build_graph


def test_build_graph_edges_point_from_dependency_to_dependent(diamond: g.Graph) -> None:
    assert set(diamond.edges) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}
    assert [diamond.position(n) for n in "abcd"] == [0, 1, 2, 3]


def test_build_graph_ignores_unknown_dependencies() -> None:
    graph = _graph({"a": ["ghost"], "b": ["a", "phantom"]})
    assert set(graph.nodes) == {"a", "b"}
    assert set(graph.edges) == {("a", "b")}


def test_build_graph_keeps_services_without_dependencies_entry() -> None:
    graph = g.build_graph(["a", "b"], {})
    assert list(graph.nodes) == ["a", "b"]
    assert graph.edges == []


# ---------------------------------------------------------------- waves and orders


def test_sample_waves(sample: g.Graph) -> None:
    assert g.waves(sample) == SAMPLE_WAVES


def test_sample_deploy_and_rollback_order(sample: g.Graph) -> None:
    flat = [name for wave in SAMPLE_WAVES for name in wave]
    assert g.deploy_order(sample) == flat
    assert g.rollback_order(sample) == list(reversed(flat))


def test_waves_keep_plan_order_within_a_wave() -> None:
    graph = _graph({"z": [], "m": [], "a": [], "y": ["a"], "b": ["z"]})
    assert g.waves(graph) == [["z", "m", "a"], ["y", "b"]]


def test_diamond_waves_and_orders(diamond: g.Graph) -> None:
    assert g.waves(diamond) == [["a"], ["b", "c"], ["d"]]
    assert g.deploy_order(diamond) == ["a", "b", "c", "d"]
    assert g.rollback_order(diamond) == ["d", "c", "b", "a"]


def test_disconnected_services_share_waves() -> None:
    graph = _graph({"a": [], "b": ["a"], "x": [], "y": ["x"], "lone": []})
    assert g.waves(graph) == [["a", "x", "lone"], ["b", "y"]]
    assert g.blast_radius(graph, "a") == {"b"}
    assert g.dependencies(graph, "y") == {"x"}


def test_empty_graph() -> None:
    graph = g.build_graph([], {})
    assert g.waves(graph) == []
    assert g.deploy_order(graph) == []
    assert g.rollback_order(graph) == []
    assert g.startable(graph, {}) == []
    assert g.missing_dependencies(graph, []) == {}
    assert g.schedule(graph, START, {}) == {}
    assert g.critical_path(graph, {}) == []
    assert g.find_cycles(graph) == []


# ---------------------------------------------------------------- blast radius and dependencies


def test_blast_radius_is_transitive_and_excludes_self(sample: g.Graph) -> None:
    assert g.blast_radius(sample, "auth-service") == {
        "user-service",
        "mobile-backend",
        "web-frontend",
    }
    assert g.blast_radius(sample, "api-gateway") == set(sample.nodes) - {"api-gateway"}
    assert g.blast_radius(sample, "web-frontend") == set()
    assert g.blast_radius(sample, "logging-service") == set()


def test_dependencies_are_transitive_and_exclude_self(sample: g.Graph) -> None:
    assert g.dependencies(sample, "web-frontend") == {
        "api-gateway",
        "auth-service",
        "user-service",
        "mobile-backend",
    }
    assert g.dependencies(sample, "logging-service") == {"api-gateway"}
    assert g.dependencies(sample, "api-gateway") == set()


def test_diamond_blast_radius_and_dependencies(diamond: g.Graph) -> None:
    assert g.blast_radius(diamond, "a") == {"b", "c", "d"}
    assert g.blast_radius(diamond, "b") == {"d"}
    assert g.dependencies(diamond, "d") == {"a", "b", "c"}


# ---------------------------------------------------------------- rollback_plan


def test_rollback_plan_only_lists_what_needs_rollback_in_rollback_order(
    sample: g.Graph,
) -> None:
    states = {
        "api-gateway": DONE,
        "auth-service": DONE,
        "logging-service": DeployState.FAILED,
        "user-service": DeployState.VERIFYING,
        "mobile-backend": W,
        "web-frontend": W,
    }
    assert g.rollback_plan(sample, "auth-service", states) == ["user-service", "auth-service"]
    assert g.rollback_plan(sample, "api-gateway", states) == [
        "user-service",
        "logging-service",
        "auth-service",
        "api-gateway",
    ]


def test_rollback_plan_skips_rolled_back_and_unknown_states(diamond: g.Graph) -> None:
    states = {"a": DONE, "b": DeployState.ROLLED_BACK, "c": DeployState.DEPLOYING}
    # d has no state: treated as waiting, nothing to undo.
    assert g.rollback_plan(diamond, "a", states) == ["c", "a"]
    assert g.rollback_plan(diamond, "b", states) == []


def test_rollback_plan_of_service_with_nothing_deployed_is_empty(sample: g.Graph) -> None:
    assert g.rollback_plan(sample, "api-gateway", {}) == []


# ---------------------------------------------------------------- startable


def test_startable_with_nothing_done_is_the_first_wave(sample: g.Graph) -> None:
    assert g.startable(sample, {}) == ["api-gateway"]


def test_startable_needs_every_dependency_done(sample: g.Graph) -> None:
    states = {"api-gateway": DONE, "auth-service": DONE, "logging-service": DeployState.DEPLOYING}
    assert g.startable(sample, states) == ["user-service"]


def test_startable_excludes_services_that_are_not_waiting(diamond: g.Graph) -> None:
    states = {"a": DONE, "b": DeployState.DEPLOYING, "c": W}
    assert g.startable(diamond, states) == ["c"]


def test_startable_keeps_plan_order(diamond: g.Graph) -> None:
    assert g.startable(diamond, {"a": DONE}) == ["b", "c"]


def test_startable_respects_allowed_scope(diamond: g.Graph) -> None:
    assert g.startable(diamond, {"a": DONE}, allowed=["c", "d"]) == ["c"]
    assert g.startable(diamond, {}, allowed=["b"]) == []
    assert g.startable(diamond, {}, allowed=[]) == []


def test_startable_does_not_treat_failed_dependency_as_done(diamond: g.Graph) -> None:
    assert g.startable(diamond, {"a": DeployState.FAILED}) == []


# ---------------------------------------------------------------- missing_dependencies


def test_missing_dependencies_empty_when_subset_is_closed(sample: g.Graph) -> None:
    assert g.missing_dependencies(sample, ["api-gateway", "logging-service"]) == {}
    assert g.missing_dependencies(sample, list(sample.nodes)) == {}
    assert g.missing_dependencies(sample, []) == {}


def test_missing_dependencies_lists_transitive_deps_in_plan_order(sample: g.Graph) -> None:
    missing = g.missing_dependencies(sample, ["web-frontend", "auth-service"])
    assert missing == {
        "auth-service": ["api-gateway"],
        "web-frontend": ["api-gateway", "user-service", "mobile-backend"],
    }
    # Members are reported in plan order, whatever order the subset came in.
    assert list(missing) == ["auth-service", "web-frontend"]


def test_missing_dependencies_ignores_unknown_names(diamond: g.Graph) -> None:
    assert g.missing_dependencies(diamond, ["b", "ghost"]) == {"b": ["a"]}


# ---------------------------------------------------------------- schedule and critical path


def test_schedule_sample(sample: g.Graph, sample_plan: Plan) -> None:
    durations = {s.name: s.expected_duration for s in sample_plan.services}
    slots = g.schedule(sample, sample_plan.window.start, durations)
    at = {
        name: (slot.start.strftime("%H:%M"), slot.end.strftime("%H:%M"))
        for name, slot in slots.items()
    }
    assert at == {
        "api-gateway": ("14:00", "14:10"),
        "auth-service": ("14:10", "14:20"),
        "logging-service": ("14:10", "14:15"),
        "user-service": ("14:20", "14:30"),
        "mobile-backend": ("14:30", "14:40"),
        "web-frontend": ("14:40", "14:50"),
    }


def test_schedule_diamond_starts_after_the_later_dependency(diamond: g.Graph) -> None:
    slots = g.schedule(diamond, START, minutes(a=10, b=5, c=20, d=10))
    assert slots["a"] == g.Slot(START, START + timedelta(minutes=10))
    assert slots["b"].start == slots["c"].start == START + timedelta(minutes=10)
    assert slots["d"].start == max(slots["b"].end, slots["c"].end) == START + timedelta(minutes=30)
    assert slots["d"].end == START + timedelta(minutes=40)


def test_schedule_missing_duration_counts_as_zero(diamond: g.Graph) -> None:
    slots = g.schedule(diamond, START, minutes(a=10))
    assert slots["b"] == g.Slot(START + timedelta(minutes=10), START + timedelta(minutes=10))
    assert slots["d"].start == START + timedelta(minutes=10)


def test_critical_path_sample(sample: g.Graph, sample_plan: Plan) -> None:
    durations = {s.name: s.expected_duration for s in sample_plan.services}
    assert g.critical_path(sample, durations) == [
        "api-gateway",
        "auth-service",
        "user-service",
        "mobile-backend",
        "web-frontend",
    ]


def test_critical_path_diamond_follows_the_longer_branch(diamond: g.Graph) -> None:
    assert g.critical_path(diamond, minutes(a=10, b=5, c=20, d=10)) == ["a", "c", "d"]
    assert g.critical_path(diamond, minutes(a=10, b=30, c=20, d=10)) == ["a", "b", "d"]


def test_critical_path_tie_prefers_plan_order(diamond: g.Graph) -> None:
    assert g.critical_path(diamond, minutes(a=10, b=5, c=5, d=10)) == ["a", "b", "d"]


def test_critical_path_of_disconnected_services_picks_the_longest_chain() -> None:
    graph = _graph({"a": [], "b": ["a"], "x": [], "y": ["x"]})
    assert g.critical_path(graph, minutes(a=1, b=1, x=5, y=1)) == ["x", "y"]


def test_critical_path_single_service() -> None:
    assert g.critical_path(_graph({"solo": []}), minutes(solo=3)) == ["solo"]


# ---------------------------------------------------------------- find_cycles


def test_find_cycles_none_in_a_dag(sample: g.Graph, diamond: g.Graph) -> None:
    assert g.find_cycles(sample) == []
    assert g.find_cycles(diamond) == []


def test_find_cycles_self_loop() -> None:
    graph = _graph({"a": ["a"], "b": ["a"]})
    assert g.find_cycles(graph) == [["a"]]


def test_find_cycles_three_members_in_depends_on_order() -> None:
    # a depends on b, b on c, c on a.
    graph = _graph({"a": ["b"], "b": ["c"], "c": ["a"]})
    assert g.find_cycles(graph) == [["a", "b", "c"]]


def test_find_cycles_starts_at_first_member_in_plan_order() -> None:
    # Same cycle, listed so that c comes first in the plan.
    graph = _graph({"c": ["a"], "a": ["b"], "b": ["c"]})
    assert g.find_cycles(graph) == [["c", "a", "b"]]


def test_find_cycles_two_separate_cycles_sorted_by_plan_position() -> None:
    graph = _graph(
        {"ok": [], "x": ["y"], "a": ["b"], "b": ["a"], "y": ["x"], "after": ["ok"]},
    )
    assert g.find_cycles(graph) == [["x", "y"], ["a", "b"]]


def test_find_cycles_self_loop_and_two_cycle_together() -> None:
    graph = _graph({"a": ["b"], "b": ["a"], "c": ["c"]})
    assert g.find_cycles(graph) == [["a", "b"], ["c"]]


def test_find_cycles_in_a_tangle_starts_at_its_first_member() -> None:
    deps = {"a": ["b"], "b": ["c"], "c": ["b", "a"]}
    graph = _graph(deps)
    [cycle] = g.find_cycles(graph)
    assert cycle[0] == "a"
    # And it is a real cycle in the depends_on direction.
    for member, next_member in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
        assert next_member in deps[member]


# ---------------------------------------------------------------- a large generated DAG


Big = tuple[g.Graph, list[str], dict[str, list[str]]]


def _random_dag(
    seed: int, size: int = 1000, edges: int = 3000
) -> tuple[list[str], dict[str, list[str]]]:
    """A DAG whose plan order differs from its topological order."""
    rng = random.Random(seed)
    topo = [f"svc-{i:04d}" for i in range(size)]
    rng.shuffle(topo)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < edges:
        i, j = sorted(rng.sample(range(size), 2))
        pairs.add((i, j))
    deps: dict[str, list[str]] = {name: [] for name in topo}
    for i, j in sorted(pairs):
        deps[topo[j]].append(topo[i])
    plan_order = list(topo)
    rng.shuffle(plan_order)
    return plan_order, deps


@pytest.fixture(scope="module", params=[7, 2024])
def big(request: pytest.FixtureRequest) -> Big:
    order, deps = _random_dag(request.param)
    return g.build_graph(order, deps), order, deps


def test_big_dag_has_the_requested_shape(big: Big) -> None:
    graph, _, _ = big
    assert len(graph) == 1000
    assert len(graph.edges) == 3000
    assert g.find_cycles(graph) == []


def test_big_dag_waves(big: Big) -> None:
    graph, order, deps = big
    waves = g.waves(graph)
    wave_of = {name: index for index, wave in enumerate(waves) for name in wave}
    position = {name: index for index, name in enumerate(order)}
    assert sorted(wave_of) == sorted(order)  # every service exactly once
    assert sum(len(w) for w in waves) == len(order)
    for name, needs in deps.items():
        for dep in needs:
            assert wave_of[dep] < wave_of[name], (dep, name)
    for wave in waves:
        assert [position[n] for n in wave] == sorted(position[n] for n in wave)
    # Each service sits in the earliest wave its dependencies allow.
    for name, needs in deps.items():
        expected = max((wave_of[d] + 1 for d in needs), default=0)
        assert wave_of[name] == expected


def test_big_dag_orders(big: Big) -> None:
    graph, order, deps = big
    deploy = g.deploy_order(graph)
    assert sorted(deploy) == sorted(order)
    assert g.rollback_order(graph) == list(reversed(deploy))
    index = {name: i for i, name in enumerate(deploy)}
    for name, needs in deps.items():
        for dep in needs:
            assert index[dep] < index[name]


def test_big_dag_schedule_respects_every_edge(big: Big) -> None:
    graph, order, deps = big
    rng = random.Random(99)
    durations = {name: timedelta(seconds=rng.randint(30, 900)) for name in order}
    slots = g.schedule(graph, START, durations)
    assert set(slots) == set(order)
    for name, needs in deps.items():
        slot = slots[name]
        assert slot.end - slot.start == durations[name]
        assert slot.start == max((slots[d].end for d in needs), default=START)
    # The critical path is a chain of edges that ends when the release ends.
    path = g.critical_path(graph, durations)
    for dep, name in itertools.pairwise(path):
        assert dep in deps[name]
    assert deps[path[0]] == []
    assert slots[path[-1]].end == max(slot.end for slot in slots.values())
    assert sum((durations[n] for n in path), timedelta(0)) == slots[path[-1]].end - START


def test_big_dag_blast_radius_and_dependencies(big: Big) -> None:
    graph, order, _ = big
    rng = random.Random(5)
    for name in rng.sample(order, 40):
        radius = g.blast_radius(graph, name)
        assert name not in radius
        for dependent in radius:
            assert name in g.dependencies(graph, dependent)
        # Direct dependents are inside, and so is everything they reach.
        for child in graph.successors(name):
            assert child in radius
            assert g.blast_radius(graph, child) <= radius


def test_big_dag_closed_subsets_and_startable(big: Big) -> None:
    graph, order, deps = big
    deploy = g.deploy_order(graph)
    prefix = deploy[:300]
    assert g.missing_dependencies(graph, prefix) == {}
    # Everything in the prefix done: startable are exactly the waiting services
    # whose dependencies all lie inside the prefix.
    states = dict.fromkeys(prefix, DONE)
    done = set(prefix)
    expected = [n for n in order if n not in done and all(d in done for d in deps[n])]
    assert g.startable(graph, states) == expected
    assert g.startable(graph, {}) == g.waves(graph)[0]
    # Dropping a needed service makes the subset not closed.
    needed = next(d for n in prefix for d in deps[n])
    missing = g.missing_dependencies(graph, [n for n in prefix if n != needed])
    assert missing
    assert all(needed in absent for absent in missing.values())


def test_big_dag_agrees_with_networkx(big: Big) -> None:
    """The graph is ours (the room starts without networkx): networkx is the
    reference for what it works out."""
    graph, order, _ = big
    reference: nx.DiGraph[str] = nx.DiGraph()
    reference.add_nodes_from(order)
    reference.add_edges_from(graph.edges)
    assert [set(wave) for wave in g.waves(graph)] == [
        set(generation) for generation in nx.topological_generations(reference)
    ]
    for name in random.Random(11).sample(order, 60):
        assert g.blast_radius(graph, name) == nx.descendants(reference, name)
        assert g.dependencies(graph, name) == nx.ancestors(reference, name)
        assert set(graph.predecessors(name)) == set(reference.predecessors(name))
    assert sorted(map(sorted, g.components(graph))) == sorted(
        map(sorted, nx.weakly_connected_components(reference))
    )


def test_components_are_in_plan_order() -> None:
    graph = _graph({"x": [], "a": [], "b": ["a"], "y": ["x"], "c": []}, order="xabyc")
    assert g.components(graph) == [["x", "y"], ["a", "b"], ["c"]]


def test_waves_refuse_a_cycle() -> None:
    with pytest.raises(g.CycleError):
        g.waves(_graph({"a": ["b"], "b": ["a"]}))
    with pytest.raises(g.CycleError):
        g.waves(_graph({"a": ["a"]}))


def test_an_edge_given_twice_is_one_edge() -> None:
    graph = _graph({"a": [], "b": ["a", "a"]})
    assert graph.edges == [("a", "b")]
    assert graph.predecessors("b") == ("a",)
