"""The `warroom` command line.

Every subcommand takes `--db` (else `$WARROOM_DB`, else sqlite:///warroom.db)
and `--as` (else `$WARROOM_USER`, else the login name). Refusals exit 1 with
one sentence on stderr and write nothing; usage errors exit 2.

Heavy modules (SQLAlchemy, networkx, Textual) are imported inside the
commands that need them, so `warroom --help` and `warroom status` start fast.
"""

from __future__ import annotations

import getpass
import json
import math
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import update_wrapper
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from warroom.console import echo, fail
from warroom.domain.text import safe

if TYPE_CHECKING:
    from warroom.clock import Clock
    from warroom.commands import Commands
    from warroom.store.engine import Store

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Settings:
    db: str | None = None
    user: str | None = None
    release: str | None = None

    @property
    def identity(self) -> str:
        """Who acts: --as, else $WARROOM_USER, else the login name; never the system's name."""
        from warroom.domain.roles import SYSTEM_NAME
        from warroom.settings import from_env

        env = from_env().user
        name = self.user or env or _login_name()
        if name == SYSTEM_NAME:
            # The system actor is an object inside warroom, never a name anyone can claim.
            if self.user:
                where, fix = "--as warroom", "pass --as with your own name from the plan"
            elif env:
                where, fix = (
                    "$WARROOM_USER=warroom",
                    "set $WARROOM_USER (or --as) to your own name from the plan",
                )
            else:
                where, fix = (
                    "your login name, warroom,",
                    "pass --as with your own name from the plan",
                )
            fail(f"{where} names warroom's own machinery, not a person; {fix}")
        return name


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def common_options(func: F) -> F:
    """--db/--as/--release on every subcommand, overriding the group's."""

    def wrapper(
        db: str | None, user: str | None, release: str | None, *args: Any, **kwargs: Any
    ) -> Any:
        ctx = click.get_current_context()
        settings: Settings = ctx.ensure_object(Settings)
        settings.db = db or settings.db
        settings.user = user or settings.user
        settings.release = release or settings.release
        return ctx.invoke(func, *args, **kwargs)

    # Copy the function's metadata (and its click params) first, then add ours.
    update_wrapper(wrapper, func)
    wrapper = click.option("--release", "release", metavar="NAME", help=RELEASE_HELP)(wrapper)
    wrapper = click.option("--as", "user", metavar="NAME", help=AS_HELP)(wrapper)
    wrapper = click.option("--db", "db", metavar="URL", help=DB_HELP)(wrapper)
    return wrapper  # type: ignore[return-value]


DB_HELP = "Database URL (default: $WARROOM_DB, else sqlite:///warroom.db)."
AS_HELP = "Act as this person from the plan (default: $WARROOM_USER, else the login name)."
RELEASE_HELP = "Release to act on (default: the one loaded last)."


def _settings() -> Settings:
    return click.get_current_context().ensure_object(Settings)


def _clock() -> Clock:
    from warroom.clock import clock_from_env

    try:
        return clock_from_env()
    except ValueError as exc:
        fail(str(exc))


@contextmanager
def _store(create_missing: bool = False) -> Iterator[Store]:
    from warroom.store.engine import Store, StoreError, resolve_url
    from warroom.store.migrate import ensure_schema

    try:
        store = Store(resolve_url(_settings().db), create_missing=create_missing)
        ensure_schema(store)
    except StoreError as exc:
        fail(str(exc))
    try:
        yield store
    finally:
        store.dispose()


def _run(action: Callable[[Commands], str]) -> None:
    """Run one command as the current identity; print what happened or refuse."""
    from warroom.commands import CommandError, Commands
    from warroom.store.engine import StoreError

    settings = _settings()
    with _store() as store:
        commands = Commands(store, _clock(), settings.identity, settings.release)
        try:
            echo(action(commands))
        except (CommandError, StoreError) as exc:
            fail(str(exc))


# ---------------------------------------------------------------- the group


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db", metavar="URL", help=DB_HELP)
@click.option("--as", "user", metavar="NAME", help=AS_HELP)
@click.option("--release", "release", metavar="NAME", help=RELEASE_HELP)
@click.version_option(package_name="warroom")
@click.pass_context
def main(ctx: click.Context, db: str | None, user: str | None, release: str | None) -> None:
    """warroom — the terminal war room for release day.

    With no command, opens the war-room TUI as --as NAME (or $WARROOM_USER,
    or your login name) on --db URL (or $WARROOM_DB, or ./warroom.db).
    """
    from warroom.lifeline import watch_from_env

    watch_from_env()  # started by `warroom demo`: end with it
    ctx.obj = Settings(db=db, user=user, release=release)
    if ctx.invoked_subcommand is None:
        _run_tui()


def _run_tui(via: str = "terminal") -> None:
    from warroom.store.engine import StoreError, normalise_url, resolve_url
    from warroom.tui.app import AppConfig, create_app

    settings = _settings()
    url = resolve_url(settings.db)
    try:
        normalise_url(url)
    except StoreError as exc:
        fail(str(exc))
    # Refuse here, in one sentence, what the war room could only retry forever:
    # a missing SQLite file (never created by opening it) or one that is not a
    # database. A database without a release yet is fine: the room waits for one.
    with _store():
        pass
    config = AppConfig(
        db_url=url, identity=settings.identity, clock=_clock(), release=settings.release, via=via
    )
    if via == "ssh":
        # Over SSH the terminal can vanish at any moment: leave the room cleanly on a hang-up.
        from warroom.ssh.remote import run_remote_app

        run_remote_app(config)
        return
    create_app(config).run()


@main.command()
@common_options
@click.option(
    "--via",
    type=click.Choice(["terminal", "ssh"]),
    default="terminal",
    hidden=True,
    help="How this person is connected (shown in everyone's header); SSH front doors pass ssh.",
)
def tui(via: str) -> None:
    """Open the war-room TUI (the same as `warroom` with no command)."""
    _run_tui(via)


# ---------------------------------------------------------------- plans


@main.command()
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print waves and orders as JSON.")
def check(plan: str, as_json: bool) -> None:
    """Validate PLAN without a database; print deploy waves and rollback order."""
    from warroom.domain import graph as g
    from warroom.domain.plan import PlanInvalid
    from warroom.planfile import read_plan

    try:
        parsed = read_plan(plan).plan
    except PlanInvalid as exc:
        echo(exc.render(), err=True)
        fail(f"{plan} is not a valid plan ({exc})")
    graph = parsed.graph()
    waves = g.waves(graph)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "release": parsed.release,
                    "waves": waves,
                    "deploy_order": g.deploy_order(graph),
                    "rollback_order": g.rollback_order(graph),
                },
                indent=2,
            )
        )
        return
    echo(
        f"{plan}: release {parsed.release} is valid — {len(parsed.services)} services, {len(waves)} waves"
    )
    echo("Deploy waves:")
    for number, wave in enumerate(waves, start=1):
        echo(f"  {number}. {', '.join(wave)}")
    echo("Rollback order: " + " → ".join(g.rollback_order(graph)))


@main.command()
@common_options
@click.argument("plan", type=click.Path(dir_okay=False))
def load(plan: str) -> None:
    """Validate PLAN and import it in one transaction; a bad plan writes nothing."""
    from warroom.commands import CommandError
    from warroom.commands.load import load_plan
    from warroom.domain.plan import PlanInvalid
    from warroom.planfile import read_plan
    from warroom.store.engine import StoreError

    try:
        parsed, text = read_plan(plan)
    except PlanInvalid as exc:
        echo(exc.render(), err=True)
        fail(f"{plan} is not a valid plan ({exc}); nothing was loaded")
    with _store(create_missing=True) as store:
        try:
            result = load_plan(store, parsed, text, loaded_by=_settings().identity, clock=_clock())
        except (CommandError, StoreError) as exc:
            fail(str(exc))
        echo(f"{result.describe()} ({store.display_url()})")


@main.command()
@common_options
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output (documented in the README)."
)
def status(as_json: bool) -> None:
    """The current state of the release."""
    from warroom.status import status_json, status_text
    from warroom.store.engine import StoreError
    from warroom.store.queries import current_release, load_snapshot

    clock = _clock()
    with _store() as store:
        try:
            with store.read() as session:
                wanted = _settings().release
                release = current_release(session, wanted)
                if release is None and wanted:
                    fail(f"release {wanted!r} is not loaded in this database")
                if release is None:
                    fail(
                        f"no release is loaded in this database; load one with: {store.load_hint()}"
                    )
                now = clock.now()
                snapshot = load_snapshot(session, release, now=now)
        except StoreError as exc:
            fail(str(exc))
    if as_json:
        click.echo(json.dumps(status_json(snapshot, now), indent=2))
    else:
        click.echo(status_text(snapshot, now))


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan (which compares false with every bound)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(
                f"{value!r} is not a number; give one from {self.min:g} to {self.max:g}", param, ctx
            )
        return number


@main.command()
@common_options
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Probes in flight at once (1 to 10,000).",
)
@click.option(
    "--flush",
    "flush_interval",
    type=FiniteFloatRange(0.01, 60),
    default=0.1,
    show_default=True,
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
    from warroom.store.engine import StoreError, resolve_url

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    # "skipped: maximum number of running instances reached" is the design (a
    # slow endpoint does not pile up probes of itself), not news.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    settings = _settings()

    def say(text: str) -> None:
        echo(f"warroom poll: {safe(text)}", err=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        poller = Poller(
            resolve_url(settings.db),
            _clock(),
            release=settings.release,
            concurrency=concurrency,
            flush_interval=flush_interval,
            on_status=say,
        )
        await poller.run(stop)

    try:
        asyncio.run(run())
    except StoreError as exc:
        fail(str(exc))


@main.command()
@click.option(
    "--as", "user", metavar="NAME", help="Who to be (default: sarah, the release manager)."
)
@click.option("--keep", is_flag=True, help="Keep the temporary database, plan and logs afterwards.")
def demo(user: str | None, keep: bool) -> None:
    """Rehearse a whole release day: sample plan, simulated services, poller, war room.

    Everything runs on a temporary SQLite database and free local ports, on a
    clock that starts just before the go/no-go meeting; it is all removed
    when you quit. Press F in the war room to inject a fault into a service.
    """
    from warroom.demo import DemoRoom, run_demo
    from warroom.tui.app import AppConfig, WarroomApp, create_app

    identity = user or _settings().user or "sarah"

    def build(room: DemoRoom) -> WarroomApp:
        return create_app(
            AppConfig(
                db_url=room.db_url,
                identity=identity,
                clock=room.clock,
                simulator_url=room.control_url,
                db_label="the demo database (temporary)",
            )
        )

    # A closed window or a dropped SSH connection tears the room down as quitting does.
    sys.exit(run_demo(build, keep))


def _register_simulator() -> None:
    # The simulator's commands live with it (warroom.health.simulator_cli);
    # its heavy imports happen only when one of them runs.
    from warroom.health.simulator_cli import simulate

    main.add_command(simulate)


_register_simulator()


# ---------------------------------------------------------------- actions


@main.group()
def deploy() -> None:
    """Start, finish or fail a service's deploy."""


@deploy.command("start")
@common_options
@click.argument("service")
def deploy_start(service: str) -> None:
    """Start deploying SERVICE (needs GO/PARTIAL and every dependency done)."""
    _run(lambda c: c.start_deploy(service))


@deploy.command("done")
@common_options
@click.argument("service")
def deploy_done(service: str) -> None:
    """Mark SERVICE done (every runbook step must be complete)."""
    _run(lambda c: c.finish_deploy(service))


@deploy.command("fail")
@common_options
@click.argument("service")
@click.option("--reason", required=True, help="What went wrong (goes in the log).")
def deploy_fail(service: str, reason: str) -> None:
    """Mark SERVICE's deploy failed, saying what went wrong."""
    _run(lambda c: c.fail_deploy(service, reason))


@main.group()
def step() -> None:
    """Complete or reopen runbook steps (in order)."""


@step.command("done")
@common_options
@click.argument("service")
@click.option("--step", "number", type=int, help="Refuse unless this is the next step's number.")
def step_done(service: str, number: int | None) -> None:
    """Mark SERVICE's next runbook step complete."""
    _run(lambda c: c.complete_step(service, number))


@step.command("undo")
@common_options
@click.argument("service")
def step_undo(service: str) -> None:
    """Reopen SERVICE's last completed runbook step."""
    _run(lambda c: c.undo_step(service))


@main.group()
def rollback() -> None:
    """Order a rollback (release manager) or mark one finished."""


@rollback.command("start")
@common_options
@click.argument("service")
@click.option("--reason", default="", help="Why (goes in the log).")
def rollback_start(service: str, reason: str) -> None:
    """Order SERVICE rolled back (its dependents must be rolled back first)."""
    _run(lambda c: c.start_rollback(service, reason))


@rollback.command("done")
@common_options
@click.argument("service")
def rollback_done(service: str) -> None:
    """Mark SERVICE's rollback finished."""
    _run(lambda c: c.finish_rollback(service))


@main.group()
def item() -> None:
    """Check or uncheck go/no-go and readiness items (ids from `warroom status --json`)."""


@item.command("check")
@common_options
@click.argument("keys", nargs=-1, required=True)
def item_check(keys: tuple[str, ...]) -> None:
    """Check one or more items, e.g. backend-3 gng-1 (all or none)."""
    _run(lambda c: c.set_items(keys, True))


@item.command("uncheck")
@common_options
@click.argument("keys", nargs=-1, required=True)
def item_uncheck(keys: tuple[str, ...]) -> None:
    """Uncheck one or more items."""
    _run(lambda c: c.set_items(keys, False))


@main.command()
@common_options
@click.argument("kind", type=click.Choice(["go", "no-go", "partial"], case_sensitive=False))
@click.argument("services", nargs=-1)
@click.option("--why", "rationale", default="", help="Rationale (required for NO-GO and PARTIAL).")
def decide(kind: str, services: tuple[str, ...], rationale: str) -> None:
    """Record the go/no-go decision: go, no-go, or partial SERVICE... (release manager)."""
    _run(lambda c: c.decide(kind, list(services), rationale))


@main.command()
@common_options
@click.argument("words", nargs=-1, required=True)
def say(words: tuple[str, ...]) -> None:
    """Post a message to the communication log."""
    _run(lambda c: c.post_message(" ".join(words)))


@main.command()
@common_options
@click.argument("trigger")
def ack(trigger: str) -> None:
    """Acknowledge a firing trigger (id like error-rate@user-service)."""
    _run(lambda c: c.ack_trigger(trigger))


@main.group()
def trigger() -> None:
    """Rollback triggers raised by people (a lead's call)."""


@trigger.command("raise")
@common_options
@click.argument("service")
@click.option("--reason", required=True, help="Why a rollback is called for.")
def trigger_raise(service: str, reason: str) -> None:
    """Raise a rollback trigger on SERVICE (its team lead or the release manager)."""
    _run(lambda c: c.raise_trigger(service, reason))


@main.group()
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

    with _store() as store:
        try:
            with store.read() as session:
                report = chain.verify(session, store.audit_keys, checkpoint)
        except StoreError as exc:
            fail(str(exc))
    if report.problem is not None:
        fail(f"audit chain broken after {report.events} good events: {report.problem.message}")
    return report


@audit.command("verify")
@common_options
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


@audit.command("head")
@common_options
def audit_head() -> None:
    """Verify the chain, then print a checkpoint (N:HASH) to keep somewhere else.

    Later, `warroom audit verify --checkpoint N:HASH` proves that none of the
    first N events changed or went missing since — even if someone with the
    database and its audit key rewrote the chain.
    """
    click.echo(str(_verified().head))


# ---------------------------------------------------------------- SSH front door (issue 6)
#
# `serve-ssh` is the built-in SSH server; `ssh-authorized-keys` serves teams
# that prefer their own sshd. Both live in warroom.ssh, imported lazily.


def _idle_timeout(text: str) -> timedelta | None:
    from warroom.domain.durations import parse_duration

    if text.strip() in {"0", "none", "never"}:
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--idle-timeout") from None
    return value if value.total_seconds() > 0 else None


@main.command("serve-ssh")
@common_options
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. The default is reachable from this machine only; "
    "anything else (e.g. 0.0.0.0) is a deliberate choice to let other machines in.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=2222,
    show_default=True,
    help="TCP port (0: any free port, printed at start).",
)
@click.option(
    "--host-key",
    "host_key",
    type=click.Path(dir_okay=False, path_type=Path),
    default="warroom_ssh_host_key",
    show_default=True,
    help="The server's private host key: created (ed25519, mode 0600) if the file does not "
    "exist, never replaced; a file that cannot be used is an error.",
)
@click.option(
    "--authorized-keys",
    "authorized_keys",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Extra keys besides the plan's ssh_keys, re-read on each connection: "
    "authorized_keys lines, each starting with warroom-person=NAME.",
)
@click.option(
    "--max-sessions",
    type=click.IntRange(1, 1000),
    default=30,
    show_default=True,
    help="Sessions open at once; past this, people are told the room is full.",
)
@click.option(
    "--idle-timeout",
    default="2h",
    show_default=True,
    metavar="DURATION",
    help="End a session after this long without a keypress (30m, 2h; 0: never).",
)
@click.option(
    "--preload/--no-preload",
    default=True,
    show_default=True,
    help="Fork each session's app from a process that has loaded it already: the war "
    "room appears about three times sooner and sessions share memory.",
)
def serve_ssh(
    host: str,
    port: int,
    host_key: Path,
    authorized_keys: Path | None,
    max_sessions: int,
    idle_timeout: str,
    preload: bool,
) -> None:
    """The SSH front door: `ssh -p 2222 mike@HOST` opens the war room as mike.

    Only public keys of the loaded release's people (their ssh_keys, plus
    --authorized-keys) get in, and the key decides who you are. Each session
    runs its own war room; connects, disconnects and refusals go to the audit log.
    """
    import asyncio
    import ipaddress

    from warroom.ssh.hostkey import HostKeyError, load_or_create
    from warroom.ssh.keys import KeyFileError, read_extra_keys
    from warroom.ssh.server import ListenError, ServerSettings, absolute_db_url, serve
    from warroom.store.engine import StoreError, resolve_url

    idle = _idle_timeout(idle_timeout)
    settings = _settings()
    if settings.user:
        fail(
            f"serve-ssh does not run as {settings.user}: each connecting key decides who "
            "that person is (the plan's ssh_keys); drop --as"
        )
    if authorized_keys is not None:
        try:
            read_extra_keys(authorized_keys)
        except KeyFileError as exc:
            fail(str(exc))
    with _store() as store:
        try:
            url = absolute_db_url(resolve_url(settings.db))
        except StoreError as exc:
            fail(str(exc))
        try:
            key = load_or_create(host_key)
        except HostKeyError as exc:
            fail(str(exc))
        if key.created:
            click.echo(f"created host key {host_key} ({key.algorithm}, {key.fingerprint})")
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            click.echo(
                f"warroom: listening on {host}, reachable from other machines; "
                "only keys of the plan's people get in",
                err=True,
            )
        server = ServerSettings(
            db_url=url,
            host_key=key,
            release=settings.release,
            host=host,
            port=port,
            authorized_keys=authorized_keys,
            max_sessions=max_sessions,
            idle_timeout=idle,
            preload=preload,
        )
        try:
            asyncio.run(serve(server, store, _clock()))
        except ListenError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            pass


def _warroom_executable() -> str:
    """The absolute path of the `warroom` that sshd should run."""
    argv0 = sys.argv[0]
    if os.path.basename(argv0) == "warroom" and os.path.isfile(argv0):
        return os.path.abspath(argv0)
    beside = Path(sys.executable).parent / "warroom"
    if beside.is_file():
        return str(beside)
    found = shutil.which("warroom")
    if found:
        return os.path.abspath(found)
    fail("cannot tell where the warroom executable is; pass --command-path /path/to/warroom")


@main.command("ssh-authorized-keys")
@common_options
@click.option(
    "--command-path",
    metavar="PATH",
    help="The warroom executable sshd should run (default: this one's absolute path).",
)
def ssh_authorized_keys(command_path: str | None) -> None:
    """Print authorized_keys lines for your own sshd: each person's keys open the war room as them.

    Each line is `restrict,pty,command="warroom --db URL --as NAME tui --via ssh" KEY`;
    put them in the authorized_keys of the account people ssh into.
    """
    from sqlalchemy.engine import make_url

    from warroom.ssh.keys import authorized_keys_line, read_people
    from warroom.ssh.server import absolute_db_url
    from warroom.store.engine import StoreError, resolve_url

    settings = _settings()
    program = command_path or _warroom_executable()
    with _store() as store:
        try:
            url = absolute_db_url(resolve_url(settings.db))
            release, people = read_people(store, settings.release)
        except StoreError as exc:
            fail(str(exc))
    if release is None:
        if settings.release:
            fail(f"release {settings.release!r} is not loaded in this database")
        fail(f"no release is loaded in this database; load one with: {store.load_hint()}")
    lines: list[str] = []
    problems: list[str] = []
    for person in people:
        argv = [program, "--db", url, "--as", person.name]
        if settings.release:
            argv += ["--release", settings.release]
        argv += ["tui", "--via", "ssh"]
        for index, key in enumerate(person.ssh_keys):
            try:
                lines.append(authorized_keys_line(argv, key))
            except ValueError as exc:
                problems.append(f"{person.name}.ssh_keys[{index}]: {exc}")
    if problems:
        for problem in problems:
            echo(f"warroom: {safe(problem)}", err=True)
        fail(
            f"release {release} has {len(problems)} unusable ssh_keys; fix the plan and load it again"
        )
    if not lines:
        fail(f"nobody in release {release} has ssh_keys; add them to the people in the plan")
    if make_url(url).password:
        click.echo(
            "warroom: note: these lines contain the database password; "
            "consider a ~/.pgpass file for the account instead",
            err=True,
        )
    echo(f"# warroom: release {safe(release)}, {len(lines)} keys (warroom ssh-authorized-keys)")
    for line in lines:
        click.echo(line)


if __name__ == "__main__":  # pragma: no cover
    main()
