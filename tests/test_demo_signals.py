"""`warroom demo` leaves nothing behind however it ends (issue 9).

The real `warroom demo` runs on a pseudo-terminal of its own, as in a
terminal window; the test waits for its simulator and poller to be up and
the war room drawn, then ends it the way people and machines do: closing the
window, a hang-up signal, SIGTERM, and kill -9. With --prometheus, the
Prometheus server (a grandchild: it runs tethered, warroom.lifeline) goes too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.prom import require_prometheus
from warroom.testing.ssh import WARROOM, Terminal, alive, children_of, wait_until


def _helpers(pid: int) -> dict[int, str]:
    """The demo's simulator and poller processes (and Prometheus's tether)."""
    return {
        child: line
        for child, line in children_of(pid).items()
        if " simulate run " in line or " poll " in line or " warroom.lifeline " in line
    }


def _prometheus(helpers: dict[int, str]) -> list[int]:
    """The Prometheus servers the demo's tethers run."""
    return [
        server
        for tether, line in helpers.items()
        if " warroom.lifeline " in line
        for server, command in children_of(tether).items()
        if "prometheus" in command
    ]


def _folder(helpers: dict[int, str]) -> Path:
    """The demo's temporary folder, read from the simulator's --plan argument."""
    for line in helpers.values():
        words = line.split()
        if "--plan" in words:
            return Path(words[words.index("--plan") + 1]).parent
    raise AssertionError(f"no --plan among {helpers}")


@contextlib.contextmanager
def _running_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str
) -> Iterator[Terminal]:
    # The demo's temporary folder goes under tmp_path, so nothing escapes even on failure.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.delenv("WARROOM_NOW", raising=False)
    # The terminal's own size, not one a test runner put in the environment.
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    expected = 3 if "--prometheus" in args else 2
    term = Terminal([str(WARROOM), "demo", *args], columns=140, rows=40)
    started: dict[int, str] = {}

    def remember() -> None:
        helpers = _helpers(term.process.pid)
        started.update(helpers)
        started.update(dict.fromkeys(_prometheus(helpers), "prometheus"))

    try:
        term.wait_for(
            lambda: (
                len(_helpers(term.process.pid)) == expected
                and "sarah" in term.screen.display[0]
                and "palette" in term.text()
            ),
            "the demo's war room, simulator and poller",
            timeout=90,
        )
        remember()
        yield term
    finally:
        if term.process.poll() is None:
            remember()
            term.process.kill()
            term.process.wait(10)
        for pid in started:  # whatever a failed test left running
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if term.master >= 0:
            os.close(term.master)


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    with _running_demo(tmp_path, monkeypatch) as term:
        yield term


@pytest.fixture
def prometheus_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    require_prometheus()
    with _running_demo(tmp_path, monkeypatch, "--prometheus") as term:
        yield term


def _gone(pids: list[int]) -> None:
    wait_until(
        lambda: not any(alive(pid) for pid in pids),
        f"the demo's simulator and poller ({pids}) to end",
        timeout=60,
    )


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_signal_stops_the_demo_s_processes_and_deletes_its_folder(
    demo: Terminal, signum: int
) -> None:
    helpers = _helpers(demo.process.pid)
    folder = _folder(helpers)
    assert folder.is_dir()

    demo.process.send_signal(signum)

    assert demo.wait_exit(timeout=30) == 128 + signum
    _gone(list(helpers))
    assert not folder.exists(), f"{folder} was left behind: {list(folder.iterdir())}"


def test_closing_the_window_stops_the_demo_s_processes_and_deletes_its_folder(
    demo: Terminal,
) -> None:
    helpers = _helpers(demo.process.pid)
    folder = _folder(helpers)

    # The terminal goes away: the kernel hangs up on the demo, its controlling process.
    os.close(demo.master)
    demo.master, demo.closed = -1, True

    try:
        demo.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError("warroom demo kept running after its window closed") from None
    _gone(list(helpers))
    assert not folder.exists(), f"{folder} was left behind: {list(folder.iterdir())}"


def test_kill_9_still_ends_the_demo_s_processes(demo: Terminal) -> None:
    helpers = _helpers(demo.process.pid)

    demo.process.kill()  # no handler runs: the children's lifeline must end them

    assert demo.wait_exit(timeout=30) == -signal.SIGKILL
    _gone(list(helpers))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "kill-9"])
def test_prometheus_goes_with_the_demo(prometheus_demo: Terminal, signum: int) -> None:
    helpers = _helpers(prometheus_demo.process.pid)
    servers = _prometheus(helpers)
    assert len(servers) == 1, helpers
    folder = _folder(helpers)
    assert (folder / "prometheus-data").is_dir()  # its TSDB is the demo's

    prometheus_demo.process.send_signal(signum)

    expected = -signal.SIGKILL if signum == signal.SIGKILL else 128 + signum
    assert prometheus_demo.wait_exit(timeout=30) == expected
    _gone([*helpers, *servers])  # after kill -9 the lifeline ends them all
    if signum != signal.SIGKILL:
        assert not folder.exists(), f"{folder} was left behind: {list(folder.iterdir())}"
