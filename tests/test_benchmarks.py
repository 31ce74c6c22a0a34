"""`benchmarks/run.py` prints one table: the machine, then a row per figure with
its goal and verdict. Shape only: no timing is asserted (the machine may be busy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def test_quick_run_of_one_benchmark_prints_the_machine_and_a_judged_row(tmp_path: Path) -> None:
    markdown = tmp_path / "table.md"
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            str(RUN),
            "--quick",
            "--only",
            "foundation",
            "--markdown",
            str(markdown),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "cores" in out and "python 3." in out and "load average" in out
    rows = [line for line in out.splitlines() if line.startswith("foundation: warroom check")]
    assert len(rows) == 1, out
    assert "p50 < 1000 ms" in rows[0]
    assert rows[0].rstrip().endswith(("ok", "OVER GOAL"))
    table = markdown.read_text(encoding="utf-8")
    assert "| figure | p50 / tail, or total | goal | verdict |" in table
    assert "CRASHED" not in out
