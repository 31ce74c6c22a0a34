"""`warroom status`: the room's state, for people and for scripts."""

from __future__ import annotations

import json

import click

from warroom.cli.common import clock, common_options, flags, open_store
from warroom.console import fail


@common_options
@click.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output (documented in the README)."
)
def status(as_json: bool) -> None:
    """The current state of the release."""
    from warroom.status import status_json, status_text
    from warroom.store.engine import StoreError
    from warroom.store.queries import current_release, load_snapshot

    time = clock()
    with open_store() as store:
        try:
            with store.read() as session:
                wanted = flags().release
                release = current_release(session, wanted)
                if release is None and wanted:
                    fail(f"release {wanted!r} is not loaded in this database")
                if release is None:
                    fail(
                        f"no release is loaded in this database; load one with: {store.load_hint()}"
                    )
                now = time.now()
                snapshot = load_snapshot(session, release, now=now)
        except StoreError as exc:
            fail(str(exc))
    if as_json:
        click.echo(json.dumps(status_json(snapshot, now), indent=2))
    else:
        click.echo(status_text(snapshot, now))
