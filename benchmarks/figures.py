"""What a benchmark hands back: figures with their goals, and why one missed.

Every `bench_*.py` has `run(quick: bool) -> list[Figure]` (what
`benchmarks/run.py` calls, in a subprocess of its own) and a `main()` that
prints its own lines for people who run it alone. A goal is an upper bound
in the figure's unit, on the value named by `judge`: the median ("p50"),
the tail ("p95", "p99" or "max", whichever `tail` says the figure keeps) or
the total of a one-shot measurement.

Why a figure missed: `profile_call` (cProfile of an in-process measurement)
and `profile_process` (cProfile of a fresh `python` process: a cold CLI
command) give the top entries by cumulative time; a benchmark runs them
only for a figure over its goal, after measuring, so profiling never slows
what is measured. A multi-process measurement says what it knows (phases,
counts) in `why` instead.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TOP = 8  # profile entries printed under a figure that missed its goal
MULTI_PROCESS = (
    "multi-process measurement: a profile needs py-spy on the child "
    "(`py-spy record --pid PID` or `py-spy top --pid PID` while it runs)"
)

# What the benchmarks in this process used, for the table's header (e.g.
# {"PostgreSQL": "16.4"}): set with `used`.
CONTEXT: dict[str, str] = {}


def used(what: str, version: str) -> None:
    """Record a server or tool a benchmark used (the runner prints it in the header)."""
    CONTEXT[what] = version


@dataclass
class Figure:
    """One measured figure. `value` is the median (or the total); `p95` the tail."""

    name: str
    value: float | None
    unit: str
    goal: float | None = None
    kind: str = "p50/p95"  # or "total": one measurement, no spread
    p95: float | None = None
    note: str = ""
    tail: str = "p95"  # what `p95` holds: "p95", "p99" or "max"
    judge: str = "p50"  # which value the goal bounds: "p50" or "tail" ("total" for kind total)
    quick: bool = False
    why: str = ""  # filled when over goal: profile entries or the phases it knows
    samples: int = 0
    error: str = ""  # the benchmark crashed or timed out: this row says so

    def judged(self) -> float | None:
        if self.kind == "total" or self.judge == "p50":
            return self.value
        return self.p95

    @property
    def over(self) -> bool:
        judged = self.judged()
        return self.goal is not None and judged is not None and judged >= self.goal

    def verdict(self) -> str:
        if self.error:
            return "CRASHED"
        if self.value is None:
            return "skipped" if self.note.startswith("skipped") else "no data"
        if self.goal is None:
            return "-"
        return "OVER GOAL" if self.over else "ok"

    def goal_text(self) -> str:
        if self.goal is None:
            return "-"
        which = "" if self.kind == "total" else (self.tail if self.judge == "tail" else "p50")
        return f"{which} < {_num(self.goal)} {self.unit}".strip()

    def value_text(self) -> str:
        if self.value is None:
            return "-"
        if self.kind == "total" or self.p95 is None:
            return f"{_num(self.value)} {self.unit}"
        return f"{_num(self.value)} / {_num(self.p95)} {self.unit} ({self.tail})"


def _num(x: float) -> str:
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def pct(samples: list[float], q: float) -> float:
    """The q-quantile (0..1) by rank, as the benchmarks have always taken it."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def from_samples(
    name: str,
    seconds: list[float],
    goal_s: float | None,
    *,
    tail: str = "p95",
    judge: str = "p50",
    quick: bool = False,
    note: str = "",
    unit: str = "ms",
) -> Figure:
    """A p50/tail figure from samples in seconds, shown in ms (or s with unit="s")."""
    scale = 1000.0 if unit == "ms" else 1.0
    if not seconds:
        return Figure(name, None, unit, _scaled(goal_s, scale), quick=quick, note=note)
    if tail == "max":
        high = max(seconds)
    elif tail == "p99":
        high = pct(seconds, 0.99)
    else:
        high = pct(seconds, 0.95)
    return Figure(
        name,
        statistics.median(seconds) * scale,
        unit,
        _scaled(goal_s, scale),
        p95=high * scale,
        tail=tail,
        judge=judge,
        quick=quick,
        note=note,
        samples=len(seconds),
    )


def _scaled(goal: float | None, scale: float) -> float | None:
    return None if goal is None else goal * scale


# Frames that wrap everything (the event loop, Textual's message dispatch, the
# import machinery, the command line around a command): at the top of any
# cumulative listing, they say nothing.
PLUMBING = (
    "asyncio/",
    "textual/_callback.py",
    "textual/message_pump.py",
    "concurrent/futures/",
    "threading.py",
    "click/core.py",
    "warroom/__main__.py",
    "warroom/cli/common.py",
)


def _package(file_name: str) -> str | None:
    """The top-level package a `<module>` frame of an `__init__.py` belongs to."""
    path = Path(file_name)
    if path.name != "__init__.py" or "site-packages" not in path.parts:
        return None
    rest = path.parts[path.parts.index("site-packages") + 1 :]
    return rest[0] if len(rest) == 2 else None


# Builtins that wrap other work (a call through a context, an attribute lookup
# that imports lazily, a class statement): also plumbing at the top.
WRAPPING_BUILTINS = ("exec", "__import__", "_contextvars.Context", "hasattr", "__build_class__")


def top_of(stats: pstats.Stats, what: str) -> str:
    """The top entries by cumulative time, without the frames that wrap everything
    (PLUMBING, WRAPPING_BUILTINS, imports); imports get lines of their own, by package."""
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in raw.values())
    entries = sorted(raw.items(), key=lambda kv: -kv[1][3])
    imports = max(
        (ct for (_, _, name), (*_, ct, _) in entries if name == "_find_and_load"), default=0.0
    )
    lines = [f"cProfile of {what} ({total:.2f} s profiled), top {TOP} by cumulative time:"]
    if imports:
        packages = sorted(
            (
                (ct, package)
                for (file_name, _, name), (*_, ct, _) in entries
                if name == "<module>" and (package := _package(file_name))
            ),
            reverse=True,
        )[:TOP]
        lines.append(f"  imports (importlib's _find_and_load, outermost): {imports:.3f} s")
        lines.append(
            "    by package (cumulative; a package's count includes what it imports): "
            + ", ".join(f"{package} {took:.3f} s" for took, package in packages)
        )
    shown = 0
    for (file_name, line, name), (_, ncalls, tottime, cumtime, _) in entries:
        if file_name.startswith("<frozen") or name == "<module>":
            continue
        if file_name == "~" and any(word in name for word in WRAPPING_BUILTINS):
            continue
        if any(part in file_name for part in PLUMBING):
            continue
        where = f"{Path(file_name).name}:{line}" if file_name != "~" else "builtin"
        lines.append(f"  {cumtime:8.3f} s cum {tottime:8.3f} s own  {ncalls:>8}  {name} ({where})")
        shown += 1
        if shown == TOP:
            break
    return "\n".join(lines)


def profile_call(fn: Callable[[], object], what: str) -> str:
    """Run `fn` once under cProfile; its top entries, saying what was profiled."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    return top_of(pstats.Stats(profiler), what)


def profile_process(argv: list[str], what: str, env: dict[str, str] | None = None) -> str:
    """Run `python ARGV` once under cProfile (argv as after `python`: a script and its
    arguments, or `-c CODE ARGS`); its top entries. A failure says so, never raises."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "profile.out"
        if argv and argv[0] == "-c":
            script = Path(folder) / "child.py"
            script.write_text(argv[1], encoding="utf-8")
            argv = [str(script), *argv[2:]]
        done = subprocess.run(
            [sys.executable, "-m", "cProfile", "-o", str(out), *argv],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=600,
        )
        if not out.exists():
            return f"profiling {what} failed: {done.stderr.strip()[-300:]}"
        return top_of(pstats.Stats(str(out)), what)


def profile_pid(pid: int, seconds: int, what: str) -> str:
    """Sample the running process `pid` with py-spy for `seconds` (the thread holding
    the GIL only: where its CPU goes, not where it waits); the top entries by own
    samples and by samples under them. Says why when py-spy is missing or refused."""
    spy = shutil.which("py-spy") or script("py-spy")
    if not Path(spy).exists():
        return f"{MULTI_PROCESS} (py-spy is not installed: pip install py-spy, or the bench extra)"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "stacks.txt"
        done = subprocess.run(
            [
                *(spy, "record", "--pid", str(pid), "--duration", str(seconds)),
                *("--rate", "100", "--gil", "--nonblocking", "--format", "raw", "-o", str(out)),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 60,
        )
        if not out.exists():
            return f"py-spy could not sample {what}: {done.stderr.strip()[-300:]}"
        return top_stacks(out.read_text(encoding="utf-8"), what)


def top_stacks(collapsed: str, what: str) -> str:
    """The top entries of py-spy's collapsed stacks (`frame;frame;... count` lines)."""
    own: dict[str, int] = {}
    under: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")[1:]]  # the first is the thread
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            under[frame] = under.get(frame, 0) + n
    if not total:
        return f"py-spy sampled nothing of {what} (was it idle?)"
    lines = [f"py-spy of {what} ({total} samples of the thread holding the GIL):"]
    lines.append(f"  top {TOP} by own samples:")
    lines += [f"    {n * 100 / total:5.1f}%  {name}" for name, n in _most(own)]
    lines.append(f"  top {TOP} by samples under them (outside the event loop's own frames):")
    lines += [
        f"    {n * 100 / total:5.1f}%  {name}"
        for name, n in _most({k: v for k, v in under.items() if not _plumbing(k)})
    ]
    return "\n".join(lines)


def _frame(text: str) -> str:
    """`function (path/file.py:line)` as `function (file.py)`."""
    name, _, where = text.partition(" (")
    return f"{name} ({Path(where.rstrip(')').rsplit(':', 1)[0]).name})" if where else name


def _plumbing(frame: str) -> bool:
    """Frames every sample passes through (the CLI, the loop, a thread's start)."""
    return frame.endswith(
        ("(core.py)", "(runners.py)", "(base_events.py)", "(events.py)", "(threading.py)")
    ) or frame.startswith(("<module>", "_worker ", "_WorkItem.run", "common_options", "poll "))


def _most(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: -kv[1])[:TOP]


def explain(figure: Figure, why: Callable[[], str]) -> Figure:
    """Fill `figure.why` from `why()` when the figure is over its goal (profiling only then)."""
    if figure.over:
        try:
            figure.why = why()
        except Exception as error:  # a broken profile must not lose the figure
            figure.why = f"could not say why: {type(error).__name__}: {error}"
    return figure


def on_postgres(measure: Callable[[str], list[Figure]]) -> list[Figure]:
    """`measure(url)` against a PostgreSQL of the benchmark's own (started the way
    the tests start theirs, warroom.testing.pg) with an empty `warroom` database,
    removed afterwards; without PostgreSQL's binaries, one row saying so."""
    from warroom.testing.pg import PgServer, PgUnavailable

    try:
        server = PgServer()
    except PgUnavailable as missing:
        print(missing)
        return [Figure("postgresql", None, "", note=f"skipped: {missing}")]
    server.init()
    server.start()
    try:
        server.admin("CREATE DATABASE warroom")
        used("PostgreSQL", server.version())
        return measure(server.url("warroom"))
    finally:
        server.stop("fast")
        server.remove()


def script(name: str) -> str:
    """The console script `name` of this interpreter's environment (e.g. warroom)."""
    return str(Path(sys.executable).parent / name)


def machine_cores() -> int:
    return os.cpu_count() or 0


@dataclass
class Result:
    """What a child process hands the runner (as JSON)."""

    figures: list[Figure] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)
