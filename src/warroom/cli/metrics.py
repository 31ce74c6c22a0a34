"""`warroom metrics test`: run a plan's PromQL queries now and print what they return."""

from __future__ import annotations

import click

from warroom.cli.common import common_options, flags, open_store
from warroom.console import echo, fail
from warroom.domain.text import safe


@click.group()
def metrics() -> None:
    """Rule metrics from Prometheus (the plan's `metrics:`)."""


@common_options
@metrics.command("test")
@click.argument("service", required=False)
@click.option(
    "--plan",
    "plan_path",
    metavar="PLAN",
    type=click.Path(dir_okay=False),
    help="A plan file (default: the loaded release's plan, from --db).",
)
def test(service: str | None, plan_path: str | None) -> None:
    """Run each Prometheus query of the plan now (for SERVICE, or every service)
    and print each service's value, or why there is none.

    Exits 1 when any query gives no data for a service it should answer for.
    """
    import asyncio

    from warroom.domain.plan import Plan, PlanInvalid, parse_plan_text
    from warroom.planfile import read_plan

    plan: Plan
    if plan_path is not None:
        try:
            plan = read_plan(plan_path).plan
        except PlanInvalid as exc:
            echo(exc.render(), err=True)
            fail(f"{plan_path} is not a valid plan ({exc})")
    else:
        from warroom.commands.health import plan_text

        with open_store() as store:
            text = plan_text(store, flags().release)
        if text is None:
            fail("no release is loaded: load one, or name a plan file with --plan")
        import os

        try:
            plan = parse_plan_text(text, env=os.environ)
        except PlanInvalid as exc:
            echo(exc.render(), err=True)
            fail(f"the loaded release's plan cannot be used here ({exc})")
    source = plan.metrics_source()
    if source is None:
        fail(
            "the plan names no Prometheus (metrics: in the plan); every metric comes from the health JSON"
        )
    names = [s.name for s in plan.services]
    if service is not None:
        if service not in names:
            fail(f"unknown service {service!r}: the plan has {', '.join(names)}")
        names = [service]
    timeouts = {
        s.name: (s.health.timeout.total_seconds() if s.health else 2.0) for s in plan.services
    }
    if not asyncio.run(_run(source, names, timeouts)):
        raise SystemExit(1)


async def _run(source: object, names: list[str], timeouts: dict[str, float]) -> bool:
    import os

    from warroom.domain import metrics as mx
    from warroom.health.prometheus import ConfigError, PrometheusClient

    assert isinstance(source, mx.MetricsSource)
    try:
        client = PrometheusClient(source, os.environ)
    except ConfigError as exc:
        fail(str(exc))
    good = True
    try:
        echo(f"Prometheus at {safe(source.url)} (service label {source.service_label!r})")
        for request in mx.plan_queries(source, names):
            timeout = (
                source.timeout.total_seconds()
                if source.timeout
                else min(timeouts[n] for n in request.services)
            )
            how = "grouped, one request for all" if request.grouped else request.services[0]
            echo(f"\n{request.metric} ({how}): {safe(request.query)}")
            readings = await client.ask(request, timeout)
            for name in request.services:
                reading = readings[name]
                if reading.value is not None:
                    echo(f"  {name:<24} {reading.value:g}")
                else:
                    good = False
                    echo(f"  {name:<24} {safe(reading.why or 'no data')}")
    finally:
        await client.aclose()
    return good
