"""Generate large, valid release plans for benchmarks (deterministic)."""

from __future__ import annotations

import random
from typing import Any

import yaml


def generate(services: int = 1000, edges: int = 3000, teams: int = 20, seed: int = 7) -> str:
    """A plan with `services` services and about `edges` dependency edges.

    Edges only point from a later service to an earlier one, so the graph is
    a DAG by construction.
    """
    # Each service may depend on any of the 60 before it: more edges than
    # that cannot be drawn (and asking for them would never return).
    possible = sum(min(60, later) for later in range(services))
    if edges > possible:
        raise ValueError(f"{services} services have at most {possible} edges, not {edges}")
    rng = random.Random(seed)
    names = [f"svc-{index:04d}" for index in range(services)]
    team_names = [f"team-{index:02d}" for index in range(teams)]
    deps: list[set[str]] = [set() for _ in names]
    added = 0
    while added < edges:
        later = rng.randrange(1, services)
        earlier = rng.randrange(max(0, later - 60), later)
        if names[earlier] not in deps[later]:
            deps[later].add(names[earlier])
            added += 1
    people: list[dict[str, Any]] = [{"name": "rm", "role": "release_manager", "team": "ops"}]
    for team in team_names:
        people.append({"name": f"{team}-lead", "role": "team_lead", "team": team})
        people.append({"name": f"{team}-oncall", "role": "oncall", "team": team})
    plan: dict[str, Any] = {
        "release": f"bench-{services}",
        "manager": "rm",
        "timezone": "UTC",
        "window": {"start": "2024-03-20T14:00:00Z", "end": "2024-03-21T14:00:00Z"},
        "rollback_until": "2024-03-21T18:00:00Z",
        "go_no_go_at": "2024-03-20T13:30:00Z",
        "people": people,
        "services": [
            {
                "name": name,
                "team": team_names[index % teams],
                "version": f"1.{index}.0",
                "previous_version": f"1.{index}.0-prev",
                "depends_on": sorted(deps[index]),
                "expected_duration": "2m",
                "health": {"url": f"http://127.0.0.1:{20000 + index}/health"},
            }
            for index, name in enumerate(names)
        ],
        "readiness": {team: ["PRs merged", "CI green"] for team in team_names},
        "go_no_go": ["All teams READY", "Rollback scripts tested"],
        "triggers": [{"name": "error-rate", "when": "error_rate > 1% for 2m"}],
    }
    return yaml.safe_dump(plan, sort_keys=False)


if __name__ == "__main__":
    print(generate())
