"""Foundation benchmarks (issue 2). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_foundation.py

- `warroom check` on a generated 1,000-service / ~3,000-edge plan, whole
  process (goal < 1 s), and the graph functions on it (goal < 50 ms each).
- Cold start of `warroom status` on the sample plan (goal < 0.5 s).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from figures import Figure, explain, from_samples, profile_call, profile_process  # noqa: E402
from genplan import generate  # noqa: E402

WARROOM = str(Path(sys.executable).parent / "warroom")


def timed_runs(
    args: list[str], runs: int, env: dict[str, str] | None = None, cwd: str | None = None
) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, env=env, cwd=cwd)
        samples.append(time.perf_counter() - start)
    return samples


def report(label: str, samples: list[float], goal: float) -> Figure:
    med = statistics.median(samples)
    verdict = "ok" if med < goal else "OVER GOAL"
    print(
        f"{label:<52} median {med * 1000:7.1f} ms  min {min(samples) * 1000:7.1f} ms  (goal < {goal * 1000:.0f} ms) {verdict}"
    )
    return from_samples(label.strip(), samples, goal)


def best_of(fn: Callable[[], object], runs: int = 5) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def run(quick: bool = False) -> list[Figure]:
    """Quick: 2 runs of each command instead of 5 and 10."""
    from warroom.domain import graph as g
    from warroom.domain.lifecycle import DeployState
    from warroom.domain.plan import parse_plan_text

    cli_runs, status_runs = (2, 3) if quick else (5, 10)
    out: list[Figure] = []
    with tempfile.TemporaryDirectory() as scratch:
        big = Path(scratch) / "big.yaml"
        big.write_text(generate(1000, 3000), encoding="utf-8")
        check = [WARROOM, "check", str(big)]
        figure = report(
            "warroom check, 1,000 services / 3,000 edges", timed_runs(check, cli_runs), 1.0
        )
        out.append(explain(figure, lambda: profile_process(check, "one cold `warroom check`")))

        start = time.perf_counter()
        plan = parse_plan_text(big.read_text(encoding="utf-8"))
        parsed = time.perf_counter() - start
        print(f"{'  of which parse + validate (in process)':<52} {parsed * 1000:7.1f} ms")
        out.append(
            Figure("of which parse + validate (in process)", parsed * 1000, "ms", kind="total")
        )
        graph = plan.graph()
        print(f"  graph: {len(graph)} nodes, {len(graph.edges)} edges")
        durations = {s.name: s.expected_duration for s in plan.services}
        states = {name: DeployState.DONE for name in list(graph.nodes)[:500]}
        middle = plan.services[500].name
        cases: dict[str, Callable[[], object]] = {
            "waves": lambda: g.waves(graph),
            "deploy_order": lambda: g.deploy_order(graph),
            "rollback_order": lambda: g.rollback_order(graph),
            "blast_radius (middle service)": lambda: g.blast_radius(graph, middle),
            "startable (half done)": lambda: g.startable(graph, states),
            "missing_dependencies (first 500)": lambda: g.missing_dependencies(
                graph, list(graph.nodes)[:500]
            ),
            "schedule": lambda: g.schedule(graph, plan.window.start, durations),
            "critical_path": lambda: g.critical_path(graph, durations),
            "find_cycles": lambda: g.find_cycles(graph),
        }
        for label, fn in cases.items():
            figure = report(f"  {label}", best_of(fn), 0.05)
            figure.name = f"graph: {label}"
            out.append(explain(figure, lambda fn=fn, label=label: profile_call(fn, label)))  # type: ignore[misc]

        env = {
            **os.environ,
            "WARROOM_DB": f"sqlite:///{scratch}/status.db",
            "WARROOM_NOW": "2024-03-20T13:20:00Z",
        }
        subprocess.run(
            [WARROOM, "load", str(ROOT / "sample_data" / "release-v2.5.0.yaml"), "--as", "sarah"],
            check=True,
            capture_output=True,
            env=env,
        )
        for label, argv in (
            ("warroom status cold start, sample plan", [WARROOM, "status"]),
            ("warroom status --json cold start, sample plan", [WARROOM, "status", "--json"]),
        ):
            figure = report(label, timed_runs(argv, status_runs, env=env), 0.5)
            why = partial(profile_process, argv, f"one cold `{' '.join(argv[1:])}`", env)
            out.append(explain(figure, why))
        out.append(
            report(
                "python -c pass (interpreter floor)",
                timed_runs([sys.executable, "-c", "pass"], status_runs),
                0.5,
            )
        )
    return out


def main() -> None:
    run()


if __name__ == "__main__":
    main()
