"""`warroom check` and `warroom load`: plan files in (read by warroom.planfile)."""

from __future__ import annotations

import json
import os

import click

from warroom.cli.common import clock, common_options, flags, open_store
from warroom.console import echo, fail


@click.command()
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print waves and orders as JSON.")
def check(plan: str, as_json: bool) -> None:
    """Validate PLAN without a database; print deploy waves and rollback order."""
    from warroom.domain import graph as g
    from warroom.domain.plan import PlanInvalid
    from warroom.planfile import read_plan

    try:
        parsed = read_plan(plan, os.environ).plan
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
    if parsed.freezes:
        echo("Freezes: " + ", ".join(spec.name for spec in parsed.freezes))
    if parsed.notify:
        echo(
            "Notifications: "
            + ", ".join(f"{spec.name} ({spec.destination().kind})" for spec in parsed.notify)
        )


@common_options
@click.command()
@click.argument("plan", type=click.Path(dir_okay=False))
def load(plan: str) -> None:
    """Validate PLAN and import it in one transaction; a bad plan writes nothing."""
    from warroom.commands import CommandError
    from warroom.commands.load import load_plan
    from warroom.domain.plan import PlanInvalid
    from warroom.planfile import read_plan
    from warroom.store.engine import StoreError

    try:
        parsed, text = read_plan(plan, os.environ)
    except PlanInvalid as exc:
        echo(exc.render(), err=True)
        fail(f"{plan} is not a valid plan ({exc}); nothing was loaded")
    with open_store(create_missing=True) as store:
        try:
            result = load_plan(store, parsed, text, loaded_by=flags().identity, clock=clock())
        except (CommandError, StoreError) as exc:
            fail(str(exc))
        echo(f"{result.describe()} ({store.display_url()})")
