"""Run every benchmark and print one table (issue 15 item 1).

    python benchmarks/run.py [--quick] [--only NAME ...] [--json FILE] [--markdown FILE]
                             [--readme README.md]

Each `benchmarks/bench_NAME.py` runs in a subprocess of its own (imports and
state do not leak between them; one that crashes or times out is a row
saying so) and hands back its figures as JSON in a temp file. The table:
figure, value (p50 / tail, or a total), goal, verdict; above it the machine
(cores, CPU model, Python, SQLite, PostgreSQL when a benchmark started one,
Textual, SQLAlchemy) and the load average at the start and the end. Under a
figure over its goal: why (the top of a profile, or what a multi-process
benchmark knows).

In a full run, each benchmark starts once the CPU is mostly idle again
(what the one before started may still be winding down), waiting at most
90 s and saying so.

`--quick` runs a subset with smaller sizes (each benchmark decides), about a
minute on an idle 2-core machine; its figures are marked `(quick)` and are
not comparable with the full ones. Needs only the package (and the `bench`
extra for `ssh`).

`--readme FILE` writes the table (and, under it, why each figure over its
goal missed) between the `<!-- benchmarks:begin -->` and
`<!-- benchmarks:end -->` lines of FILE: the README's performance section is
this table, never typed by hand.

Before measuring, the package's bytecode is compiled: an installed package
has its `.pyc` files, and a source tree whose stale `.pyc` cannot be rewritten
(PYTHONDONTWRITEBYTECODE=1) would otherwise compile modules afresh in every
measured process.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata
import importlib.util
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, fields
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # `python -I` does not add the script's folder

from figures import Figure  # noqa: E402

BENCHES = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
# Not in --quick: what they measure needs minutes whatever the size (`--only` runs them).
NOT_QUICK = {
    "prometheus": "two pollers, 15 s warm-up and 5 s intervals each",
    "ssh": "real ssh clients and sessions; needs the bench extra (pyte)",
}
TIMEOUT = {True: 300.0, False: 3600.0}  # seconds per benchmark, quick or not


# ---------------------------------------------------------------- the child


def child(name: str, quick: bool, out: Path) -> None:
    """In the subprocess: run one benchmark, write its figures as JSON to `out`."""
    import importlib

    import figures

    module = importlib.import_module(f"bench_{name}")
    found = module.run(quick)
    for figure in found:
        figure.quick = figure.quick or quick
    out.write_text(
        json.dumps({"figures": [asdict(f) for f in found], "context": figures.CONTEXT}),
        encoding="utf-8",
    )


# ---------------------------------------------------------------- the runner


def run_one(name: str, quick: bool) -> tuple[list[Figure], dict[str, str], float, str]:
    """Figures, context, seconds taken and the child's output (for --verbose)."""
    with tempfile.TemporaryDirectory(prefix="warroom-bench-") as folder:
        out = Path(folder) / "figures.json"
        command = [sys.executable, __file__, "--child", name, "--out", str(out)]
        if quick:
            command.append("--quick")
        started = time.monotonic()
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=TIMEOUT[quick], check=False
            )
            output, failure = done.stdout + done.stderr, ""
            if done.returncode != 0 or not out.exists():
                tail = [line for line in done.stderr.splitlines() if line.strip()]
                failure = f"exit {done.returncode}: " + (tail[-1] if tail else "no output")
        except subprocess.TimeoutExpired as expired:
            output = str(expired.stdout or "") + str(expired.stderr or "")
            failure = f"timed out after {TIMEOUT[quick]:.0f} s"
        took = time.monotonic() - started
        if failure:
            return [Figure(name, None, "", error=failure[:120])], {}, took, output
        data = json.loads(out.read_text(encoding="utf-8"))
    known = {f.name for f in fields(Figure)}
    found = [Figure(**{k: v for k, v in f.items() if k in known}) for f in data["figures"]]
    if not found:
        found = [Figure(name, None, "", note="skipped: returned no figures")]
    return found, data["context"], took, output


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine(loads: tuple[float, float], context: dict[str, str], quick: bool) -> list[str]:
    backends = (
        f"SQLite {sqlite3.sqlite_version}, PostgreSQL {context.get('PostgreSQL', 'not used')}"
    )
    extra = "".join(f", {k} {v}" for k, v in sorted(context.items()) if k != "PostgreSQL")
    return [
        f"machine: {os.cpu_count()} cores, {cpu_model()}",
        f"python {platform.python_version()}; {backends}{extra}; "
        f"Textual {version('textual')}, SQLAlchemy {version('sqlalchemy')}",
        f"load average (1 min): {loads[0]:.2f} at start, {loads[1]:.2f} at end"
        + ("; --quick: smaller sizes, fewer runs (marked quick)" if quick else ""),
    ]


def rows(results: list[tuple[str, Figure]]) -> list[tuple[str, str, str, str]]:
    out = []
    for bench, f in results:
        label = f"{bench}: {f.name}" + (" (quick)" if f.quick else "")
        value = f.value_text()
        if f.error:
            value = f.error
        elif f.value is None and f.note:
            value = f.note
        out.append((label, value, f.goal_text(), f.verdict()))
    return out


HEAD = ("figure", "p50 / tail, or total", "goal", "verdict")


def table(results: list[tuple[str, Figure]]) -> str:
    body = rows(results)
    widths = [max(len(r[i]) for r in [HEAD, *body]) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(HEAD, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines)


def markdown(header: list[str], results: list[tuple[str, Figure]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"- {line}" for line in header] + ["", "| " + " | ".join(HEAD) + " |"]
    lines.append("|" + "---|" * len(HEAD))
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows(results)]
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"


def into_readme(text: str, header: list[str], results: list[tuple[str, Figure]]) -> str:
    """`text` with what lies between its BEGIN and END lines replaced by the table
    (and why each figure over its goal missed). Raises ValueError without them."""
    lines = text.splitlines(keepends=True)
    marks = [i for i, line in enumerate(lines) if line.strip() in (BEGIN, END)]
    if len(marks) != 2 or lines[marks[0]].strip() != BEGIN:
        raise ValueError(f"expected one {BEGIN} line and then one {END} line")
    body = markdown(header, results)
    explained = why(results)
    if explained:
        body += "\nWhy the figures over their goals missed (from this run):\n\n```\n"
        body += explained + "\n```\n"
    generated = "<!-- generated by `python benchmarks/run.py --readme README.md`; do not edit -->\n"
    return "".join(lines[: marks[0] + 1]) + generated + body + "".join(lines[marks[1] :])


def idle_share(seconds: float) -> float:
    """The share of CPU time spent idle over the next `seconds` (1.0 without /proc)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, all

    try:
        idle_before, total_before = sample()
        time.sleep(seconds)  # the measurement window itself
        idle_after, total_after = sample()
    except (OSError, ValueError, IndexError):
        return 1.0
    return (idle_after - idle_before) / max(1, total_after - total_before)


QUIET_IDLE, QUIET_LIMIT = 0.85, 90.0  # idle share wanted; seconds to wait for it at most


def quiet() -> float:
    """Wait until the CPU is mostly idle before a benchmark (what the last one
    started may still be winding down: fifty apps, a PostgreSQL being removed);
    seconds waited. A full run's figures should not depend on their order."""
    started = time.monotonic()
    while time.monotonic() - started < QUIET_LIMIT and idle_share(0.5) < QUIET_IDLE:
        pass
    return time.monotonic() - started


def compile_package() -> None:
    spec = importlib.util.find_spec("warroom")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)


def why(results: list[tuple[str, Figure]]) -> str:
    parts = []
    for bench, f in results:
        if f.over:
            parts.append(f"why {bench}: {f.name} is over its goal:")
            parts += [
                "    " + line for line in (f.why or "(the benchmark gave no reason)").splitlines()
            ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset, about a minute idle")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=BENCHES, help="these only")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write figures as JSON")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table")
    parser.add_argument(
        "--readme",
        type=Path,
        metavar="FILE",
        help="write the table between the benchmarks:begin/end lines of FILE",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show each benchmark's own output"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.quick, args.out)
        return

    names = args.only or [n for n in BENCHES if not (args.quick and n in NOT_QUICK)]
    if args.readme is not None:  # refuse a file without the lines before measuring
        try:
            into_readme(args.readme.read_text(encoding="utf-8"), [], [])
        except (OSError, ValueError) as error:
            parser.error(f"--readme {args.readme}: {error}")
    compile_package()
    start_load = os.getloadavg()[0]
    print(f"running {len(names)} benchmarks ({'quick' if args.quick else 'full'}), "
          f"load average {start_load:.2f} on {os.cpu_count()} cores", flush=True)  # fmt: skip
    results: list[tuple[str, Figure]] = []
    context: dict[str, str] = {}
    took: dict[str, float] = {}
    for name in names:
        print(f"  {name} ...", end="", flush=True)
        waited = 0.0 if args.quick else quiet()
        if waited >= 1:
            print(f" (waited {waited:.0f} s for a quiet CPU)", end="", flush=True)
        found, used, seconds, output = run_one(name, args.quick)
        print(f" {seconds:.0f} s", flush=True)
        if args.verbose:
            print("    " + output.strip().replace("\n", "\n    "))
        results += [(name, f) for f in found]
        context.update(used)
        took[name] = seconds
    header = machine((start_load, os.getloadavg()[0]), context, args.quick)
    print()
    print("\n".join(header))
    print()
    print(table(results))
    skipped = [n for n in NOT_QUICK if n not in names and args.quick and not args.only]
    if skipped:
        print("not in --quick: " + "; ".join(f"{n} ({NOT_QUICK[n]})" for n in skipped))
    print("time per benchmark: " + ", ".join(f"{n} {s:.0f} s" for n, s in took.items()))
    explained = why(results)
    if explained:
        print()
        print(explained)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": header,
                    "figures": [{"benchmark": b, **asdict(f)} for b, f in results],
                    "seconds": took,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    if args.markdown:
        args.markdown.write_text(markdown(header, results), encoding="utf-8")
    if args.readme:
        text = args.readme.read_text(encoding="utf-8")
        args.readme.write_text(into_readme(text, header, results), encoding="utf-8")


if __name__ == "__main__":
    main()
