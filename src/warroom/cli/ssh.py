"""The SSH front door's commands (issue 6): `serve-ssh` is the built-in SSH
server; `ssh-authorized-keys` serves teams that prefer their own sshd. Both
live in warroom.ssh, imported when they run."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path

import click

from warroom.cli.common import clock, common_options, flags, number_option, open_store
from warroom.console import echo, fail
from warroom.domain.text import safe


def _idle_timeout(text: str) -> timedelta | None:
    from warroom.domain.durations import parse_duration

    if text.strip() in {"0", "none", "never"}:
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--idle-timeout") from None
    return value if value.total_seconds() > 0 else None


@common_options
@click.command("serve-ssh")
@click.option(
    "--host",
    default="127.0.0.1",
    help="Address to listen on. The default is reachable from this machine only; "
    "anything else (e.g. 0.0.0.0) is a deliberate choice to let other machines in.",
)
@number_option(
    "--port", low=0, high=65535, default=2222, help="TCP port (0: any free port, printed at start)."
)
@click.option(
    "--host-key",
    "host_key",
    type=click.Path(dir_okay=False, path_type=Path),
    default="warroom_ssh_host_key",
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
@number_option(
    "--max-sessions",
    low=1,
    high=1000,
    default=50,
    help="Sessions open at once; past this, people are told the room is full.",
)
@click.option(
    "--idle-timeout",
    default="2h",
    metavar="DURATION",
    help="End a session after this long without a keypress (30m, 2h; 0: never).",
)
@click.option(
    "--preload/--no-preload",
    default=True,
    help="Fork each session's app from a process that has loaded it already: the war "
    "room appears about three times sooner and sessions share memory.",
)
@click.option(
    "--shared-reader/--own-readers",
    default=True,
    help="Read the room once per change for every session (default), or let each "
    "session's app follow the database itself, as local apps do (for comparison).",
)
def serve_ssh(
    host: str,
    port: int,
    host_key: Path,
    authorized_keys: Path | None,
    max_sessions: int,
    idle_timeout: str,
    preload: bool,
    shared_reader: bool,
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
    from warroom.store.engine import StoreError

    idle = _idle_timeout(idle_timeout)
    given = flags()
    if given.user:
        fail(
            f"serve-ssh does not run as {given.user}: each connecting key decides who "
            "that person is (the plan's ssh_keys); drop --as"
        )
    if authorized_keys is not None:
        try:
            read_extra_keys(authorized_keys)
        except KeyFileError as exc:
            fail(str(exc))
    with open_store() as store:
        try:
            url = absolute_db_url(given.db_url)
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
            release=given.release,
            host=host,
            port=port,
            authorized_keys=authorized_keys,
            max_sessions=max_sessions,
            idle_timeout=idle,
            preload=preload,
            shared_reader=shared_reader,
        )
        try:
            asyncio.run(serve(server, store, clock()))
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


@common_options
@click.command("ssh-authorized-keys")
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
    from warroom.store.engine import StoreError

    given = flags()
    program = command_path or _warroom_executable()
    with open_store() as store:
        try:
            url = absolute_db_url(given.db_url)
            release, people = read_people(store, given.release)
        except StoreError as exc:
            fail(str(exc))
    if release is None:
        if given.release:
            fail(f"release {given.release!r} is not loaded in this database")
        fail(f"no release is loaded in this database; load one with: {store.load_hint()}")
    lines: list[str] = []
    problems: list[str] = []
    for person in people:
        argv = [program, "--db", url, "--as", person.name]
        if given.release:
            argv += ["--release", given.release]
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
