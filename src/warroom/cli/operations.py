"""Running the room: the TUI, the health poller, the demo, and the audit chain's checks."""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from warroom.cli.common import (
    clock,
    common_options,
    db_option,
    flags,
    number_option,
    open_store,
)
from warroom.console import echo, fail
from warroom.domain.text import safe

if TYPE_CHECKING:
    from warroom.domain.moment import Moment
    from warroom.store.audit import ChainReport
    from warroom.store.engine import Store


def run_tui(
    via: str = "terminal", replay: Moment | None = None, *, replaying: bool = False
) -> None:
    """Open the war room as the current identity, or refuse in one sentence;
    `replaying`: on a replay at `replay` (None: the end of the record)."""
    from warroom.store.engine import StoreError, normalise_url
    from warroom.store.relay import FD_ENV
    from warroom.tui.app import AppConfig, create_app

    given = flags()
    url = given.db_url
    try:
        normalise_url(url)
    except StoreError as exc:
        fail(str(exc))
    # Refuse here, in one sentence, what the war room could only retry forever:
    # a missing SQLite file (never created by opening it) or one that is not a
    # database. A database without a release yet is fine: the room waits for one.
    with open_store() as store:
        at = _replay_moment(store, replay) if replaying else None
    # A session of `warroom serve-ssh`: the server hands us its reads on this socket.
    room_fd = os.environ.pop(FD_ENV, None) if via == "ssh" else None
    config = AppConfig(
        db_url=url,
        identity=given.identity,
        clock=clock(),
        release=given.release,
        via=via,
        replay=replaying,
        replay_at=at,
        room_fd=int(room_fd) if room_fd else None,
        owns_process=True,
    )
    if via == "ssh":
        # Over SSH the terminal can vanish at any moment: leave the room cleanly on a hang-up.
        from warroom.ssh.remote import run_remote_app

        run_remote_app(config)
        return
    create_app(config).run()


@common_options
@click.command()
@click.option(
    "--via",
    type=click.Choice(["terminal", "ssh"]),
    default="terminal",
    hidden=True,
    help="How this person is connected (shown in everyone's header); SSH front doors pass ssh.",
)
def tui(via: str) -> None:
    """Open the war-room TUI (the same as `warroom` with no command)."""
    run_tui(via)


class MomentType(click.ParamType["Moment", Any]):
    """A moment of release day as `--at` takes it (domain/moment.py)."""

    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Moment:
        from warroom.domain.moment import Moment, parse_moment

        if isinstance(value, Moment):
            return value
        try:
            return parse_moment(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _replay_moment(store: Store, moment: Moment | None) -> datetime | None:
    """`moment` on the clock of the release replayed (None stays None: the end
    of the record); a database without a release refuses."""
    from warroom.store.engine import StoreError
    from warroom.store.queries import current_release

    given = flags()
    try:
        with store.rows() as session:
            release = current_release(session, given.release)
            window_start, zone = (release.window_start, release.timezone) if release else (None, "")
    except StoreError as exc:
        fail(str(exc))
    if window_start is None:
        named = f"release {given.release}" if given.release else "release"
        fail(f"no {named} is loaded in this database: there is no record to replay")
    return moment.resolve(window_start, zone) if moment is not None else None


@common_options
@click.command()
@click.option(
    "--at",
    "moment",
    type=MomentType(),
    default=None,
    show_default=False,
    help="The moment to open at (default: the end of the record): 2024-03-20T14:37:00Z, "
    "14:37[:05] on the release's day in the plan's time zone, or T-30m / T+1h05m "
    "from the window's start.",
)
def replay(moment: Moment | None) -> None:
    """The war room as it was at a moment of the day, read-only, rebuilt from the audit chain.

    Keys move through the day: , and . step one event, [ and ] one minute,
    { and } ten minutes, < and > to the previous or next trigger change or
    decision. Every action key is refused; esc goes to the live room.
    """
    run_tui(replay=moment, replaying=True)


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan (which compares false with every bound)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(
                f"{value!r} is not a number; give one from {self.min:g} to {self.max:g}", param, ctx
            )
        return number


@common_options
@click.command()
@number_option(
    "--concurrency", low=1, high=10_000, default=100, help="Probes in flight at once (1 to 10,000)."
)
@click.option(
    "--flush",
    "flush_interval",
    type=FiniteFloatRange(0.01, 60),
    default=0.1,
    help="Seconds between writes of collected samples (0.01 to 60): lower detects sooner, "
    "higher costs less CPU with many endpoints.",
)
def poll(concurrency: int, flush_interval: float) -> None:
    """Poll every service's health endpoint and evaluate the rollback triggers.

    Run as many as you like (on several hosts): one holds the release's poller
    lease and polls, the others stand by and take over within two intervals
    if it dies. Ctrl-C or SIGTERM hands the lease over at once (probes still
    under way get a moment to finish, then are cut off).
    """
    import asyncio
    import logging
    import signal

    from warroom.health.poller import Poller
    from warroom.store.engine import StoreError

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    # "skipped: maximum number of running instances reached" is the design (a
    # slow endpoint does not pile up probes of itself), not news.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    given = flags()

    def say(text: str) -> None:
        echo(f"warroom poll: {safe(text)}", err=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        poller = Poller(
            given.db_url,
            clock(),
            release=given.release,
            concurrency=concurrency,
            flush_interval=flush_interval,
            on_status=say,
        )
        await poller.run(stop)

    try:
        asyncio.run(run())
    except StoreError as exc:
        fail(str(exc))


@click.command()
@click.option(
    "--as", "user", metavar="NAME", help="Who to be (default: sarah, the release manager)."
)
@click.option("--keep", is_flag=True, help="Keep the temporary database, plan and logs afterwards.")
@click.option(
    "--prometheus",
    is_flag=True,
    help="Read the rules' error rate and p99 through a real Prometheus (installed on this "
    "machine: apt-get install prometheus) scraping the simulated services.",
)
def demo(user: str | None, keep: bool, prometheus: bool) -> None:
    """Rehearse a whole release day: sample plan, simulated services, poller, war room.

    Everything runs on a temporary SQLite database and free local ports, on a
    clock that starts just before the go/no-go meeting; it is all removed
    when you quit, and the day's report is left in ./warroom-demo-report.md
    (W writes it there too). Press F in the war room to inject a fault into
    a service. With --prometheus the rule metrics come from PromQL queries to
    a Prometheus server the demo starts too (the sample plan
    release-v2.5.0-prometheus.yaml).
    """
    from pathlib import Path

    from warroom.demo import DemoRefused, DemoRoom, run_demo
    from warroom.tui.app import AppConfig, WarroomApp, create_app

    identity = user or flags().user or "sarah"
    # Outside the temporary folder, which goes when the demo does.
    report_to = Path.cwd() / "warroom-demo-report.md"

    def build(room: DemoRoom) -> WarroomApp:
        return create_app(
            AppConfig(
                db_url=room.db_url,
                identity=identity,
                clock=room.clock,
                simulator_url=room.control_url,
                db_label="the demo database (temporary)",
                report_to=report_to,
            )
        )

    # A closed window or a dropped SSH connection tears the room down as quitting does.
    try:
        code = run_demo(build, keep, report_to, prometheus=prometheus)
    except DemoRefused as exc:
        fail(str(exc))
    sys.exit(code)


# ---------------------------------------------------------------- the audit chain


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


def _checkpoint(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    from warroom.store.audit import parse_checkpoint

    if value is None:
        return None
    try:
        return parse_checkpoint(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _verified(checkpoint: Any = None) -> Any:
    """The chain's report; exits 1 with the first problem found."""
    from warroom.store import audit as chain
    from warroom.store.engine import StoreError

    with open_store() as store:
        try:
            with store.read() as session:
                report = chain.verify(session, store.audit_keys, checkpoint)
        except StoreError as exc:
            fail(str(exc))
    if report.problem is not None:
        fail(_broken(report))
    return report


def _broken(report: ChainReport) -> str:
    """What `audit verify` (and every command that verifies first) says of a broken chain."""
    assert report.problem is not None
    return f"audit chain broken after {report.events} good events: {report.problem.message}"


@db_option
@audit.command("verify")
@click.option(
    "--checkpoint",
    metavar="N:HASH",
    callback=_checkpoint,
    help="A checkpoint from `warroom audit head`, kept elsewhere: also prove that the "
    "chain still holds its N events, unchanged.",
)
def audit_verify(checkpoint: Any) -> None:
    """Check the audit chain; exit 1 naming the first bad event."""
    report = _verified(checkpoint)
    notes = []
    if checkpoint is not None:
        notes.append(f"checkpoint {checkpoint.events} holds")
    if report.events and not report.sealed:
        notes.append(
            "not sealed yet: written by a warroom without an audit key; the next change seals it"
        )
    extra = f" ({'; '.join(notes)})" if notes else ""
    click.echo(f"audit chain intact: {report.events} events{extra}")


@db_option
@audit.command("head")
def audit_head() -> None:
    """Verify the chain, then print a checkpoint (N:HASH) to keep somewhere else.

    Later, `warroom audit verify --checkpoint N:HASH` proves that none of the
    first N events changed or went missing since — even if someone with the
    database and its audit key rewrote the chain.
    """
    click.echo(str(_verified().head))


def _instant(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    """An ISO 8601 time with its zone (Z or an offset), as an aware UTC datetime."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{safe(repr(value))} is not a time; give ISO 8601 with a zone, "
            "such as 2024-03-20T14:00:00Z or 2024-03-20T16:00:00+02:00"
        ) from None
    if moment.tzinfo is None:
        raise click.BadParameter(
            f"{safe(repr(value))} has no timezone; add Z or an offset such as +00:00"
        )
    return moment.astimezone(UTC)


@db_option
@audit.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    help="jsonl: one JSON object per event and line; csv: a header row, then one row per event.",
)
@click.option(
    "--since",
    metavar="TIME",
    callback=_instant,
    help="Start at the first event stamped at or after this time (ISO 8601 with Z or an offset).",
)
@click.option(
    "--until",
    metavar="TIME",
    callback=_instant,
    help="End at the last event stamped at or before this time (ISO 8601 with Z or an offset).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE (created whole, or not at all) instead of stdout.",
    show_default=False,
)
def audit_export(
    fmt: str, since: datetime | None, until: datetime | None, output: Path | None
) -> None:
    """Verify the audit chain, then write its events for auditors.

    Each event (id, at, actor, action, release_id, payload, prev_hash, hash)
    exactly as its hash covers it, so the chain can be re-verified without
    warroom: the README shows how, with Python's standard library and the
    database's audit key file. The export is one unbroken run of the chain:
    a full one starts from the genesis hash (64 zeros), a --since/--until one
    from the hash of the event before it. A broken chain is refused as
    `warroom audit verify` refuses it, and nothing is written.
    """
    from warroom.store import audit as chain
    from warroom.store import auditexport
    from warroom.store.engine import StoreError

    if since is not None and until is not None and until < since:
        raise click.BadParameter(
            f"{until.isoformat()} is before --since {since.isoformat()}", param_hint="'--until'"
        )
    with open_store() as store:
        try:
            # One snapshot for both passes: what is written is what was verified.
            with store.snapshot() as session:
                report = chain.verify(session, store.audit_keys)
                if report.problem is not None:
                    fail(_broken(report))
                ids = auditexport.span(session, report.events, since, until)
                events = auditexport.records(session, ids)
                if output is None:
                    _to_stdout(events, fmt)
                    return
                with auditexport.replacing(output) as handle:
                    count = auditexport.write(events, handle, fmt)
        except StoreError as exc:
            fail(str(exc))
        except BrokenPipeError:
            _reader_gone()
        except OSError as exc:
            fail(f"cannot write {output or 'stdout'}: {exc.strerror or exc}")
    which = {0: "", 1: f" (#{ids.start})"}.get(count, f" (#{ids.start} to #{ids.stop - 1})")
    echo(f"wrote {count} audit event{'' if count == 1 else 's'}{which} to {output}", err=True)


def _to_stdout(events: Iterable[dict[str, Any]], fmt: str) -> int:
    """Write the export to stdout as UTF-8, whatever the terminal's encoding."""
    from warroom.store import auditexport

    stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        return auditexport.write(events, stream, fmt)
    finally:
        stream.detach()  # flushes, and leaves stdout itself open


def _reader_gone() -> NoReturn:
    """The reader of stdout stopped early (`| head`): stop quietly, as other tools do."""
    # Python would report the failed flush of stdout at exit; point it at nothing.
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(1)
