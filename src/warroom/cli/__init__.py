"""The `warroom` command line.

Every subcommand takes `--db` (else `$WARROOM_DB`, else sqlite:///warroom.db)
and `--as` (else `$WARROOM_USER`, else the login name). Refusals exit 1 with
one sentence on stderr and write nothing; usage errors exit 2.

One module per group: plans.py (check, load), actions.py (every action of
the table in commands/catalog.py), views.py (status, report), rules.py (rules
backtest), notify.py (notify status, notify test), operations.py (tui, replay, poll, demo, audit), ssh.py (the SSH
front door); the simulator's commands
live with it (warroom.health.simulator_cli, also runnable on its own).
common.py holds what they share.

Heavy modules (SQLAlchemy, Textual; networkx for `check`) are imported inside the
commands that need them, so `warroom --help` and `warroom status` start fast.
"""

from __future__ import annotations

from collections.abc import Iterable

import click

from warroom.cli.actions import add_actions
from warroom.cli.common import Flags, common_params
from warroom.cli.metrics import metrics
from warroom.cli.notify import notify
from warroom.cli.operations import audit, demo, poll, replay, run_tui, tui
from warroom.cli.plans import check, load
from warroom.cli.rules import rules
from warroom.cli.ssh import serve_ssh, ssh_authorized_keys
from warroom.cli.views import report, status
from warroom.commands.catalog import ACTIONS, Spec
from warroom.health.simulator_cli import simulate

__all__ = ["RUN_ON", "build_cli", "main"]

# The commands that run until stopped, other than the war room itself: the
# `warroom` program paused the cyclic collector for its start-up, and these
# turn it back on before they start (warroom/collector.py). A one-shot
# command ends with it paused; the war room (no command, or `tui`) turns it
# back on once its first read is on screen.
RUN_ON = frozenset({"poll", "serve-ssh", "simulate", "replay", "demo"})


def build_cli(actions: Iterable[Spec]) -> click.Group:
    """The whole `warroom` command, its action subcommands made from `actions`."""

    @click.group(
        "warroom",
        params=common_params(),
        invoke_without_command=True,
        # Every subcommand's --help shows its options' defaults (an option
        # whose default only means "not given" says show_default=False).
        context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
    )
    @click.version_option(package_name="warroom")
    @click.pass_context
    def cli(ctx: click.Context, db: str | None, user: str | None, release: str | None) -> None:
        """warroom — the terminal war room for release day.

        With no command, opens the war-room TUI as --as NAME (or $WARROOM_USER,
        or your login name) on --db URL (or $WARROOM_DB, or ./warroom.db).
        """
        from warroom import collector
        from warroom.lifeline import watch_from_env

        if ctx.invoked_subcommand in RUN_ON:
            collector.resume()  # the war room itself resumes it after its first frame
        watch_from_env()  # started by `warroom demo`: end with it
        ctx.obj = Flags(db=db, user=user, release=release)
        if ctx.invoked_subcommand is None:
            run_tui()

    for command in (
        check,
        load,
        status,
        report,
        rules,
        metrics,
        tui,
        replay,
        poll,
        demo,
        audit,
        serve_ssh,
        ssh_authorized_keys,
        notify,
    ):
        cli.add_command(command)
    cli.add_command(simulate)
    add_actions(cli, actions)
    return cli


main = build_cli(ACTIONS)
