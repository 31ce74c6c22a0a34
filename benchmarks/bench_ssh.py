"""SSH front door benchmarks (issues 6 and 15). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_ssh.py [--first-frames 7] [--sessions 20] [--presses 60]
        [--room 50] [--changes 40] [--own-readers]

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

- The full room (issue 15): --room N real `ssh` clients (N = 50) in one
  `warroom serve-ssh`, each on a pseudo-terminal of its own whose raw byte
  stream the benchmark reads (no terminal emulator: pyte for fifty sessions
  would cost more than the apps). A message with a unique marker is
  committed by this process every ~1 s (--changes of them); the figure is
  the time from just before the commit until the marker has appeared in
  every session's stream: p50 and p99 over the changes, goal p99 < 250 ms
  (and, as a second figure, the same per session). Also the CPU the
  server, the apps and the clients spend per change, and memory per
  additional session: the PSS of the server, the preloaded helper and every
  app together with N sessions, less the same with N/5, over the
  difference. `--own-readers` runs the server the old way (each app follows
  the database itself) for comparison.

Everything runs on 127.0.0.1 on this machine: server, clients and apps
share its cores, so the figures include the clients' and the emulator's cost.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import select
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from figures import MULTI_PROCESS, Figure, explain, from_samples  # noqa: E402

try:
    from warroom.testing.ssh import (
        SERVICES,
        Key,
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
WHY: dict[str, str] = {}  # figure name -> what the measurement says about a missed goal

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


@dataclass
class Options:
    first_frames: int = 7
    sessions: int = 20
    presses: int = 60
    key_rate: float = 1.0  # keys/s per other session
    message_every: float = 2.0  # seconds (0: none)
    room: int = 50  # sessions in the full-room measurement (0: skip it)
    changes: int = 40
    shared_reader: bool = True
    # Run the server (and so every session's app) from another checkout's
    # src/, e.g. the commit before a change, for before/after figures.
    server_src: str | None = None


def run(quick: bool = False) -> list[Figure]:
    """Quick: 2 first frames, 4 sessions, 10 presses, a room of 10 with 8 changes."""
    if MISSING:
        return [Figure("ssh front door", None, "", note=f"skipped: {MISSING}")]
    options = Options()
    if quick:
        options = Options(first_frames=2, sessions=4, presses=10, room=10, changes=8)
    figures = measure(options)
    return [explain(f, partial(why_missed, f.name)) for f in figures]


def why_missed(name: str) -> str:
    return WHY.get(name, MULTI_PROCESS)


def main() -> None:
    if MISSING:
        raise SystemExit(MISSING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Options()
    parser.add_argument("--first-frames", type=int, default=defaults.first_frames)
    parser.add_argument("--sessions", type=int, default=defaults.sessions)
    parser.add_argument("--presses", type=int, default=defaults.presses)
    parser.add_argument(
        "--key-rate", type=float, default=defaults.key_rate, help="keys/s per other session"
    )
    parser.add_argument(
        "--message-every", type=float, default=defaults.message_every, help="seconds (0: none)"
    )
    parser.add_argument(
        "--room", type=int, default=defaults.room, help="sessions in the full room (0: skip)"
    )
    parser.add_argument("--changes", type=int, default=defaults.changes)
    parser.add_argument(
        "--own-readers", action="store_true", help="each app reads for itself (the old way)"
    )
    parser.add_argument("--only-room", action="store_true", help="skip first frames and keypresses")
    parser.add_argument(
        "--server-src",
        metavar="DIR",
        help="run serve-ssh from this src/ (another checkout's) for the full room",
    )
    args = parser.parse_args()
    options = Options(
        first_frames=0 if args.only_room else args.first_frames,
        sessions=0 if args.only_room else args.sessions,
        presses=args.presses,
        key_rate=args.key_rate,
        message_every=args.message_every,
        room=args.room,
        changes=args.changes,
        shared_reader=not args.own_readers,
        server_src=args.server_src,
    )
    measure(options)


def measure(options: Options) -> list[Figure]:
    """Every figure of `options`, printed as measured and handed back."""
    os.environ["WARROOM_NOW"] = "2024-03-20T13:20:00Z"
    FIGURES.clear()
    folder = Path(tempfile.mkdtemp(prefix="warroom-bench-ssh-"))
    try:
        measure_all(options, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return list(FIGURES)


def measure_all(args: Options, folder: Path) -> None:
    keys = {name: make_key(folder, name) for name in PEOPLE}
    plan = plan_with_keys(folder, {name: [key.public] for name, key in keys.items()})
    db = f"sqlite:///{folder / 'warroom.db'}"
    warroom("load", str(plan), "--as", "sarah", "--db", db)
    print(f"warroom SSH front door, {os.cpu_count()} cores, SQLite in a temporary folder")

    if args.room:
        measure_room(args, db, keys, folder)

    # ---------------------------------------------------------------- first frame
    for label, options in (("preloaded", ()), ("--no-preload", ("--no-preload",))):
        if not args.first_frames:
            break
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

    if not args.sessions:
        return
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
            pressed = background.keys + len(busy)
            print(
                "  CPU while active (of 2 cores = 200%): "
                + ", ".join(f"{k} {(after[k] - before[k]) / elapsed * 100:.0f}%" for k in groups)
                + f"; the apps spend {(after['apps'] - before['apps']) / pressed * 1000:.0f} ms per key"
            )
        finally:
            for term in terms:
                term.close()


# ---------------------------------------------------------------- the full room


def descendants(pid: int) -> list[int]:
    """`pid`'s live descendants (the preloaded helper and every session's app)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def room_pss_kib(server_pid: int) -> int:
    """PSS of the server, its helper and every app it started, together."""
    return sum(memory_kib(pid)[1] for pid in [server_pid, *descendants(server_pid)])


class Streams:
    """The raw output of every session's client, read without emulating a terminal."""

    def __init__(self, terms: list[Terminal]) -> None:
        self.terms = terms
        self.tails = [b""] * len(terms)

    def drain(self, timeout: float) -> None:
        """Read whatever arrives within `timeout` (keeps every client's pty empty)."""
        self.wait_for(b"", timeout, want=False)

    def wait_for(self, marker: bytes, timeout: float, want: bool = True) -> list[float | None]:
        """perf_counter time at which each session's stream first showed `marker`."""
        seen: list[float | None] = [None] * len(self.terms)
        by_fd = {term.master: i for i, term in enumerate(self.terms) if not term.closed}
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline and (not want or None in seen):
            ready, _, _ = select.select(list(by_fd), [], [], 0.01)
            now = time.perf_counter()
            for fd in ready:
                index = by_fd[fd]
                try:
                    data = os.read(fd, 1 << 16)
                except OSError:
                    data = b""
                if not data:
                    by_fd.pop(fd, None)
                    continue
                if want and seen[index] is None:
                    window = self.tails[index] + data
                    if marker in window:
                        seen[index] = now
                    self.tails[index] = window[-64:]
        return seen


def measure_room(args: Options, db: str, keys: dict[str, Key], folder: Path) -> None:
    from warroom.clock import clock_from_env
    from warroom.commands import Commands
    from warroom.store.engine import Store

    mode = "one shared reader" if args.shared_reader else "own readers"
    extra: tuple[str, ...] = () if args.shared_reader else ("--own-readers",)
    env = None
    if args.server_src:
        mode = f"server from {args.server_src}"
        extra, env = (), {"PYTHONPATH": args.server_src}
    names = list(PEOPLE)
    count = args.room
    small = max(1, count // 5)
    label = f"{count} sessions, {mode}"
    with serve_ssh(
        db, folder, "--max-sessions", str(count + 10), "--idle-timeout", "0", *extra, env=env
    ) as server:
        server.wait_for_line("app preloaded")
        terms: list[Terminal] = []
        store = Store(db)
        try:
            sarah = Commands(store, clock_from_env(), "sarah")
            pss: dict[int, int] = {}
            for target in (small, count):
                start = time.perf_counter()
                while len(terms) < target:
                    name = names[len(terms) % len(names)]
                    terms.append(Terminal(ssh_argv(server.port, keys[name].path, name)))
                wanted = [names[i % len(names)] for i in range(len(terms))]
                all_drawn(terms, wanted, start)
                settle(terms)
                pss[target] = room_pss_kib(server.process.pid)
            per_session = (pss[count] - pss[small]) / (count - small) / 1024
            streams = Streams(terms)
            groups = {
                "server": [server.process.pid],
                "apps": list(server.sessions()),
                "ssh clients": [term.process.pid for term in terms],
            }
            every: list[float] = []
            each: list[float] = []
            missed = 0
            # What the room costs with nothing happening (clock ticks, heartbeats).
            quiet = {k: sum(cpu_seconds(p) for p in v) for k, v in groups.items()}
            quiet_start = time.perf_counter()
            streams.drain(5)
            quiet_time = time.perf_counter() - quiet_start
            before = {k: sum(cpu_seconds(p) for p in v) for k, v in groups.items()}
            idle = {k: (before[k] - quiet[k]) / quiet_time for k in groups}
            started = time.perf_counter()
            for number in range(args.changes):
                streams.drain(0.8 + random.random() * 0.4)  # about a change a second, not in step
                marker = f"mark{number:04d}x{random.randrange(10**6):06d}"
                committed = time.perf_counter()
                sarah.post_message(f"bench {marker}")
                seen = streams.wait_for(marker.encode(), 10)
                times = [t - committed for t in seen if t is not None]
                missed += len(seen) - len(times)
                each += times
                if len(times) == len(seen):
                    every.append(max(times))
            elapsed = time.perf_counter() - started
            after = {k: sum(cpu_seconds(p) for p in v) for k, v in groups.items()}
        finally:
            store.dispose()
            for term in terms:
                term.close()
    cores = os.cpu_count() or 1
    changes = max(1, args.changes)
    work = {k: (after[k] - before[k] - idle[k] * elapsed) / changes for k in groups}
    total = sum(work.values())
    # Every session must draw the change before the last one shows it: with
    # perfect sharing that takes total/cores; half the goal is left for
    # waking fifty processes and the clients' own share.
    needed = max(1, -(-int(total * 1000) // 125))
    why = (
        f"the room's CPU per change is {total * 1000:.0f} ms ({work['apps'] * 1000 / count:.1f} ms "
        f"in each of {count} apps, {work['server'] * 1000:.0f} ms in the server): on {cores} "
        f"cores that alone is {total * 1000 / cores:.0f} ms with perfect sharing; with half the "
        f"goal as the budget for it, the goal needs about {needed} cores of this speed"
    )
    name = f"ssh change -> visible in all {label}"
    WHY[name] = why
    FIGURES.append(from_samples(name, every, 0.25, tail="p99", judge="tail"))
    FIGURES.append(
        from_samples(f"ssh change -> visible per session, {label}", each, None, tail="p99")
    )
    FIGURES.append(
        Figure(f"ssh memory per additional session (PSS), {mode}", per_session, "MiB", kind="total")
    )
    load = os.getloadavg()[0]
    print(
        f"\nthe full room, {mode}: {count} sessions, {args.changes} changes about a second apart "
        f"(load average {load:.1f})"
    )
    if every:
        print(
            f"change → visible in all {count}: p50 {ms(statistics.median(every))}, "
            f"p99 {ms(pct(every, 99))}, max {ms(max(every))}   (goal p99 < 250 ms)"
        )
    if each:
        print(
            f"change → visible per session: p50 {ms(statistics.median(each))}, "
            f"p99 {ms(pct(each, 99))}" + (f"; {missed} never seen within 10 s" if missed else "")
        )
    print(f"  {why}")
    print(
        "  CPU per change, beyond what the idle room uses meanwhile: "
        + ", ".join(
            f"{k} {(after[k] - before[k] - idle[k] * elapsed) / changes * 1000:.0f} ms"
            for k in groups
        )
        + "; idle: "
        + ", ".join(f"{k} {idle[k] * 100:.1f}%" for k in groups)
        + " of a core"
    )
    print(
        f"memory per additional session (PSS of server, helper and apps, {small} → {count} "
        f"sessions): {per_session:.1f} MiB; all {count}: {pss[count] / 1024:.0f} MiB"
    )


def settle(terms: list[Terminal], quiet: float = 1.0, limit: float = 60) -> None:
    """Read every session until none has printed anything for `quiet` seconds."""
    deadline = time.monotonic() + limit
    last = time.monotonic()
    masters = [t.master for t in terms if not t.closed]
    while time.monotonic() - last < quiet and time.monotonic() < deadline:
        ready, _, _ = select.select(masters, [], [], 0.05)
        for fd in ready:
            with contextlib.suppress(OSError):
                if os.read(fd, 1 << 16):
                    last = time.monotonic()


if __name__ == "__main__":
    main()
