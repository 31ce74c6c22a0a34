"""`warroom status` and `warroom report`: the room's state and its record, read."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from warroom.cli.common import clock, common_options, flags, open_store
from warroom.console import echo, fail
from warroom.reporting import FORMATS

if TYPE_CHECKING:
    from typing import Any

    from sqlalchemy import Connection, Row

    from warroom.store.engine import Store


def _release(session: Connection, store: Store) -> Row[Any]:
    """The release --release names (default: the one loaded last), or refuse."""
    from warroom.store.queries import current_release

    wanted = flags().release
    release = current_release(session, wanted)
    if release is None and wanted:
        fail(f"release {wanted!r} is not loaded in this database")
    if release is None:
        fail(f"no release is loaded in this database; load one with: {store.load_hint()}")
    return release


@common_options
@click.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output (documented in the README)."
)
def status(as_json: bool) -> None:
    """The current state of the release."""
    from warroom.status import status_json, status_text
    from warroom.store.engine import StoreError
    from warroom.store.queries import load_snapshot

    time = clock()
    with open_store() as store:
        try:
            with store.rows() as session:
                release = _release(session, store)
                now = time.now()
                snapshot = load_snapshot(session, release, now=now)
        except StoreError as exc:
            fail(str(exc))
    if as_json:
        click.echo(json.dumps(status_json(snapshot, now), indent=2))
    else:
        click.echo(status_text(snapshot, now))


@common_options
@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="md",
    help="md: Markdown for a wiki or a pull request (Mermaid pictures); html: one "
    "self-contained page; json: the versioned shape of report.schema.json.",
)
@click.option(
    "--output",
    "-o",
    metavar="FILE",
    default="-",
    help="Write the report to FILE (default: standard output).",
)
def report(fmt: str, output: str) -> None:
    """The post-release report, computed from the release's record.

    What deployed and how long it took against the plan, who decided what
    and when, every trigger with its detection and acknowledgement times,
    every rollback with its time to recover, the headline metrics (defined
    in the README) and the whole communication log. A release still in
    progress says so, as of now.
    """
    from warroom.domain.report import build_report
    from warroom.reporting import render, save
    from warroom.store.engine import StoreError
    from warroom.store.queries import read_history

    # A batch read of a whole day: its objects (a dict per image of 100,000
    # events) hold no cycles, and the cyclic collector would walk all of them
    # again and again, half the command's time. The process ends right after.
    gc.disable()
    time = clock()
    with open_store() as store:
        try:
            # One read transaction: the plan, every event and the log agree.
            with store.rows() as session:
                history = read_history(session, _release(session, store))
        except StoreError as exc:
            fail(str(exc))
    text = render(build_report(history, time.now()), fmt)
    if output == "-":
        echo(text.removesuffix("\n"))
        return
    try:
        written = save(Path(output), text)
    except OSError as exc:
        fail(f"cannot write the report to {output}: {exc.strerror or exc}")
    echo(f"report written to {written}")
