"""`warroom demo` leaves nothing behind however it ends (issue 9).

The real `warroom demo` runs on a pseudo-terminal of its own, as in a
terminal window; the test waits for its simulator and poller to be up and
the war room drawn, then ends it the way people and machines do: closing the
window, a hang-up signal, SIGTERM, and kill -9.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ssh_support import WARROOM, Terminal, alive, children_of, wait_until


def _helpers(pid: int) -> dict[int, str]:
    """The demo's simulator and poller processes."""
    return {
        child: line
        for child, line in children_of(pid).items()
        if " simulate run " in line or " poll " in line
    }


def _folder(helpers: dict[int, str]) -> Path:
    """The demo's temporary folder, read from the simulator's --plan argument."""
    for line in helpers.values():
        words = line.split()
        if "--plan" in words:
            return Path(words[words.index("--plan") + 1]).parent
    raise AssertionError(f"no --plan among {helpers}")


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    # The demo's temporary folder goes under tmp_path, so nothing escapes even on failure.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.delenv("WARROOM_NOW", raising=False)
    # The terminal's own size, not one a test runner put in the environment.
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    term = Terminal([str(WARROOM), "demo"], columns=140, rows=40)
    started: dict[int, str] = {}
    try:
        term.wait_for(
            lambda: (
                len(_helpers(term.process.pid)) == 2
                and "sarah" in term.screen.display[0]
                and "palette" in term.text()
            ),
            "the demo's war room, simulator and poller",
            timeout=60,
        )
        started.update(_helpers(term.process.pid))
        yield term
    finally:
        if term.process.poll() is None:
            started.update(_helpers(term.process.pid))
            term.process.kill()
            term.process.wait(10)
        for pid in started:  # whatever a failed test left running
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if term.master >= 0:
            os.close(term.master)


def _gone(pids: list[int]) -> None:
    wait_until(
        lambda: not any(alive(pid) for pid in pids),
        f"the demo's simulator and poller ({pids}) to end",
        timeout=30,
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
