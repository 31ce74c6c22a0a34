"""The room while it changes: a stream of changes from elsewhere, and what a person sees.

`Churn` keeps committing changes through the command layer from a thread of
its own (its own connections, as another terminal would): health samples
for every service (one of them with 5% errors, so its `error-rate` trigger
goes pending and then fires), messages (some carrying terminal escapes),
and runbook steps completed by other people. Tests press keys meanwhile and
check, after each one, what the person saw against what the key did.

`seen_*` read the screen as drawn (the widgets' own lines, the selection marker),
not the widgets' internal state: the point is that what is shown is what is
acted on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from textual.pilot import Pilot
from textual.widget import Widget

from tests.tui_support import wait_until
from warroom.clock import FixedClock
from warroom.commands import CommandError, Commands
from warroom.commands.health import HealthCommands
from warroom.domain.health import Sample
from warroom.store.engine import Store, StoreError
from warroom.tui.app import WarroomApp
from warroom.tui.widgets.comms_log import CommsLog
from warroom.tui.widgets.deploy_table import DeployTable
from warroom.tui.widgets.graph_view import GraphView

TTL = timedelta(seconds=30)
FLOOD = 0.03  # seconds between changes: faster than the app redraws
HOSTILE = "x \x1b[2J\x1b[?1049l \x1b]0;pwned\x07 \x9b2J \x1b]52;c;cHduZWQ=\x07 [bold]markup[/]"
# Who completes steps on whose services (each team's on-call).
ONCALL = {"infra": "raj", "backend": "lisa", "mobile": "omar", "frontend": "kim"}
TEAM = {
    "api-gateway": "infra",
    "logging-service": "infra",
    "auth-service": "backend",
    "user-service": "backend",
    "mobile-backend": "mobile",
    "web-frontend": "frontend",
}


@dataclass
class Churn:
    """Changes from elsewhere, `interval` seconds apart, until stopped (or `limit`).

    Ten commits a second is many times a real room (the poller writes once a
    second, people a few times a minute), so reloads keep landing between a
    person's keys; `FLOOD` is for the tests about the app falling behind.
    """

    store: Store
    clock: FixedClock
    bad: str = "api-gateway"  # the service whose error rate is 5%
    interval: float = 0.1
    limit: int = 3000
    steps: bool = True  # other people complete runbook steps too
    count: int = 0  # changes committed so far
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Churn:
        poller = HealthCommands(self.store, self.clock, "churn-poller")
        assert poller.claim(TTL).held
        self._poller = poller
        self._thread = threading.Thread(target=self._run, name="churn", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            assert not self._thread.is_alive(), "the churn thread did not stop"
        assert not self.errors, f"the churn itself failed: {self.errors!r}"

    def _run(self) -> None:
        kinds: list[Callable[[int], None]] = [self._health, self._message, self._health]
        if self.steps:
            kinds.append(self._step)
        i = 0
        while not self._stop.is_set() and self.count < self.limit:
            try:
                kinds[i % len(kinds)](i)
                self.count += 1
            except (CommandError, StoreError):
                pass  # refused like anyone's command would be: the room goes on
            except BaseException as exc:  # a bug in the churn or the command layer
                self.errors.append(exc)
                return
            i += 1
            self._stop.wait(self.interval)

    def _health(self, i: int) -> None:
        self.clock.advance(timedelta(seconds=5))
        now = self.clock.now()
        samples = [
            Sample(
                name,
                now,
                True,
                None,
                200,
                20.0 + i % 7,
                {"error_rate": 0.05 if name == self.bad else 0.001, "p99_ms": 100.0},
            )
            for name in TEAM
        ]
        self._poller.record(samples, TTL)

    def _message(self, i: int) -> None:
        who = ("pat", "mike", "ana", "jen")[i % 4]
        text = HOSTILE if i % 5 == 0 else f"update {i} from {who}"
        Commands(self.store, self.clock, who).post_message(text)

    def _step(self, i: int) -> None:
        names = list(TEAM)
        name = names[(i // 4) % len(names)]
        Commands(self.store, self.clock, ONCALL[TEAM[name]]).complete_step(name)


async def until(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, tries: int = 500
) -> None:
    """`wait_until` with room for a busy machine: changes keep the app working."""
    await wait_until(pilot, condition, what, tries)


def lines_of(widget: Widget) -> list[str]:
    """The widget's lines as drawn now (what a person or a screen reader gets)."""
    return [widget.render_line(y).text for y in range(widget.size.height)]


def seen_in_table(app: WarroomApp) -> str | None:
    """The service the deploy table marks as selected, read off the screen."""
    marked = [
        line for line in lines_of(app.query_one(DeployTable)) if line.lstrip().startswith("❯")
    ]
    assert len(marked) <= 1, f"more than one row marked: {marked}"
    return marked[0].split()[1] if marked else None


def seen_in_graph(app: WarroomApp) -> str | None:
    """The service the graph marks as selected, read off the screen."""
    for line in lines_of(app.query_one(GraphView)):
        if "❯" in line:
            return line.split("❯", 1)[1].split()[1]
    return None


def log_shows_newest(app: WarroomApp) -> bool:
    """The log's newest line is on screen (the reader did not scroll up)."""
    log = app.query_one(CommsLog).lines
    return log.max_scroll_y == 0 or log.scroll_y >= log.max_scroll_y


def record_toasts(app: WarroomApp) -> list[str]:
    """Every toast the app shows from now on, in order (shown ones expire; this keeps them)."""
    said: list[str] = []
    show = app.notify

    def notify(message: str, **options: Any) -> None:
        said.append(message)
        show(message, **options)

    app.notify = notify  # type: ignore[method-assign]
    return said


def commands_idle(app: WarroomApp) -> bool:
    return all(w.is_finished for w in app.workers if w.group == "commands")
