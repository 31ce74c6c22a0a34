"""SSH front door benchmarks (issue 6). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_ssh.py [--first-frames 7] [--sessions 20] [--presses 60]

- First frame: from starting the real `ssh` client to the war room fully
  drawn in its terminal (header with the person and role, and the footer),
  read through pyte; with sessions forked from the preloaded app (the
  default) and started from scratch (`--no-preload`). Goal: under 1.5 s.
- N concurrent sessions (people of the sample plan, two sessions each at
  N = 20): memory per session (RSS and PSS of each session's app process),
  and keypress-to-repaint in one of them — a cursor move in the deploy
  table, timed from the key written to the client's terminal until the
  emulated screen shows the cursor on the next row — first with the others
  idle, then with them active: each presses an arrow key (--key-rate per
  second, spread out, not in step) and someone posts to the room every 2 s
  (every app redraws its log). Goal: p95 under 100 ms. Also the CPU the
  server, the apps and the ssh clients use meanwhile.

Everything runs on 127.0.0.1 on this machine: server, clients and apps
share its cores, so the figures include the clients' and the emulator's cost.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from figures import MULTI_PROCESS, Figure, explain, from_samples  # noqa: E402

try:
    from warroom.testing.ssh import (
        SERVICES,
        Terminal,
        first_frame,
        highlighted_service,
        is_drawn,
        make_key,
        plan_with_keys,
        serve_ssh,
        ssh_argv,
        warroom,
    )
except ImportError as missing:  # pyte: the bench extra
    MISSING: str | None = f"{missing.name} is missing: pip install -e '.[bench]'"
else:
    MISSING = None

FIGURES: list[Figure] = []  # what run() hands back

PEOPLE = {
    "sarah": "release manager, ops",
    "tom": "team lead, infra",
    "raj": "on-call, infra",
    "mike": "team lead, backend",
    "lisa": "on-call, backend",
    "ana": "team lead, mobile",
    "omar": "on-call, mobile",
    "jen": "team lead, frontend",
    "kim": "on-call, frontend",
    "pat": "observer, support",
}
DOWN, UP = "\x1b[B", "\x1b[A"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def all_drawn(terms: list[Terminal], names: list[str], since: float) -> list[float]:
    """Seconds from `since` until each terminal showed its war room (all read at once)."""
    drawn: dict[int, float] = {}
    deadline = since + 120
    while len(drawn) < len(terms):
        if time.perf_counter() > deadline:
            raise AssertionError(f"only {len(drawn)} of {len(terms)} sessions were drawn")
        ready, _, _ = select.select([t.master for t in terms if not t.closed], [], [], 0.05)
        for index, term in enumerate(terms):
            if term.master in ready:
                term.pump(0)
            if index not in drawn and is_drawn(term, names[index], PEOPLE[names[index]]):
                drawn[index] = time.perf_counter() - since
    return list(drawn.values())


def measure_presses(term: Terminal, presses: int) -> list[float]:
    """Move the deploy table's cursor down and up; time each key until the screen shows it."""
    term.send("2")  # focus the deploy table
    term.wait_for(lambda: highlighted_service(term) is not None, "the deploy table's cursor", 10)
    timings: list[float] = []
    direction = 1
    for _ in range(presses):
        current = highlighted_service(term)
        assert current is not None
        index = SERVICES.index(current)
        if not 0 <= index + direction < len(SERVICES):
            direction = -direction
        expected = SERVICES[index + direction]
        start = time.perf_counter()
        term.send(DOWN if direction > 0 else UP)
        deadline = start + 10
        while highlighted_service(term) != expected:
            term.pump(0.001)
            if time.perf_counter() > deadline:
                raise AssertionError(f"the cursor never reached {expected}")
        timings.append(time.perf_counter() - start)
        term.pump(0.02)  # let the rest of the frame arrive before the next key
    return timings


class Background:
    """Other sessions kept busy: their output drained, arrow keys at `rate` Hz each."""

    def __init__(self, terms: list[Terminal], rate: float) -> None:
        self.terms = terms
        self.rate = rate
        self.stop = threading.Event()
        self.keys = 0
        self._threads = [
            threading.Thread(target=self._drain, daemon=True),
            threading.Thread(target=self._press, daemon=True),
        ]

    def __enter__(self) -> Background:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(5)

    def _drain(self) -> None:
        masters = {term.master: term for term in self.terms}
        while not self.stop.is_set():
            ready, _, _ = select.select(list(masters), [], [], 0.05)
            for fd in ready:
                try:
                    os.read(fd, 65536)
                except OSError:
                    masters.pop(fd, None)

    def _press(self) -> None:
        # Spread evenly, one session at a time, as people do not press in step.
        if self.rate <= 0 or not self.terms:
            return
        interval = 1 / (self.rate * len(self.terms))
        step = 0
        while not self.stop.wait(interval):
            term = self.terms[step % len(self.terms)]
            rounds = step // len(self.terms)
            with contextlib.suppress(OSError):
                term.send(DOWN if (rounds // 3) % 2 == 0 else UP)
            self.keys += 1
            step += 1


def post_messages(db: str, every: float, stop: threading.Event) -> None:
    from warroom.clock import clock_from_env
    from warroom.commands import Commands
    from warroom.store.engine import Store

    store = Store(db)
    sarah = Commands(store, clock_from_env(), "sarah")
    number = 0
    if every <= 0:
        return
    while not stop.wait(every):
        sarah.post_message(f"bench status {number}")
        number += 1
    store.dispose()


def run(quick: bool = False) -> list[Figure]:
    """Quick: 2 first frames, 4 sessions, 10 presses."""
    if MISSING:
        return [Figure("ssh front door", None, "", note=f"skipped: {MISSING}")]
    argv = ["--first-frames", "2", "--sessions", "4", "--presses", "10"] if quick else []
    FIGURES.clear()
    sys.argv = [sys.argv[0], *argv]
    main()
    return [explain(f, lambda: MULTI_PROCESS) for f in FIGURES]


def main() -> None:
    if MISSING:
        raise SystemExit(MISSING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-frames", type=int, default=7)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--key-rate", type=float, default=1.0, help="keys/s per other session")
    parser.add_argument("--message-every", type=float, default=2.0, help="seconds (0: none)")
    args = parser.parse_args()

    os.environ["WARROOM_NOW"] = "2024-03-20T13:20:00Z"
    folder = Path(tempfile.mkdtemp(prefix="warroom-bench-ssh-"))
    try:
        measure_all(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure_all(args: argparse.Namespace, folder: Path) -> None:
    keys = {name: make_key(folder, name) for name in PEOPLE}
    plan = plan_with_keys(folder, {name: [key.public] for name, key in keys.items()})
    db = f"sqlite:///{folder / 'warroom.db'}"
    warroom("load", str(plan), "--as", "sarah", "--db", db)
    print(f"warroom SSH front door, {os.cpu_count()} cores, SQLite in a temporary folder")

    # ---------------------------------------------------------------- first frame
    for label, options in (("preloaded", ()), ("--no-preload", ("--no-preload",))):
        with serve_ssh(db, folder, "--idle-timeout", "0", *options) as server:
            if not options:
                server.wait_for_line("app preloaded")
            times: list[float] = []
            for _ in range(args.first_frames):
                start = time.perf_counter()
                term = Terminal(ssh_argv(server.port, keys["mike"].path, "mike"))
                try:
                    first_frame(term, "mike", PEOPLE["mike"])
                    times.append(time.perf_counter() - start)
                finally:
                    term.close()
            FIGURES.append(from_samples(f"ssh -> first full frame, {label}", times, 1.5))
            print(
                f"ssh → first full frame, {label} ({len(times)} runs): "
                f"p50 {ms(statistics.median(times))}, min {ms(min(times))}, max {ms(max(times))}"
                "   (goal < 1500 ms)"
            )

    with serve_ssh(db, folder, "--max-sessions", "100", "--idle-timeout", "0") as server:
        # ------------------------------------------------------------ N sessions
        names = list(PEOPLE)
        terms: list[Terminal] = []
        try:
            storm = time.perf_counter()
            for index in range(args.sessions):
                name = names[index % len(names)]
                terms.append(Terminal(ssh_argv(server.port, keys[name].path, name)))
            drawn = all_drawn(terms, [names[i % len(names)] for i in range(len(terms))], storm)
            forked = sum(", forked)" in line for line in server.lines)
            print(
                f"\n{args.sessions} people connecting at the same moment: all drawn after "
                f"{max(drawn):.1f} s (p50 {statistics.median(drawn):.1f} s; "
                f"{forked} forked from the preloaded app)"
            )
            apps = server.sessions()
            memory = [memory_kib(pid) for pid in apps]
            server_rss, _ = memory_kib(server.process.pid)
            rss = [r for r, _ in memory]
            pss = [p for _, p in memory]
            print(
                f"{len(apps)} concurrent sessions: per session RSS mean {statistics.mean(rss) / 1024:.0f} MiB "
                f"(max {max(rss) / 1024:.0f}), PSS mean {statistics.mean(pss) / 1024:.0f} MiB; "
                f"server RSS {server_rss / 1024:.0f} MiB"
            )
            measured, others = terms[0], terms[1:]
            with Background(others, rate=0):
                idle = measure_presses(measured, args.presses)
            FIGURES.append(from_samples("ssh keypress -> repaint, others idle", idle, None))
            print(
                f"keypress → repaint, others idle ({len(idle)} keys): "
                f"p50 {ms(statistics.median(idle))}, p95 {ms(pct(idle, 95))}, max {ms(max(idle))}"
            )
            stop = threading.Event()
            poster = threading.Thread(
                target=post_messages, args=(db, args.message_every, stop), daemon=True
            )
            if args.message_every > 0:
                poster.start()
            groups = {
                "server": [server.process.pid],
                "apps": list(apps),
                "ssh clients": [term.process.pid for term in terms],
            }
            try:
                with Background(others, rate=args.key_rate) as background:
                    before = {k: sum(cpu_seconds(p) for p in v) for k, v in groups.items()}
                    started = time.perf_counter()
                    busy = measure_presses(measured, args.presses)
                    elapsed = time.perf_counter() - started
                    after = {k: sum(cpu_seconds(p) for p in v) for k, v in groups.items()}
            finally:
                stop.set()
                if poster.is_alive():
                    poster.join(5)
            FIGURES.append(
                from_samples(
                    f"ssh keypress -> repaint, {len(others)} others active", busy, 0.1, judge="tail"
                )
            )
            print(
                f"keypress → repaint, {len(others)} others active "
                f"({background.keys / elapsed:.0f} keys/s among them, "
                f"a message every {args.message_every:g} s): "
                f"p50 {ms(statistics.median(busy))}, p95 {ms(pct(busy, 95))}, max {ms(max(busy))}"
                "   (goal p95 < 100 ms)"
            )
            keys = background.keys + len(busy)
            print(
                "  CPU while active (of 2 cores = 200%): "
                + ", ".join(f"{k} {(after[k] - before[k]) / elapsed * 100:.0f}%" for k in groups)
                + f"; the apps spend {(after['apps'] - before['apps']) / keys * 1000:.0f} ms per key"
            )
        finally:
            for term in terms:
                term.close()


if __name__ == "__main__":
    main()
