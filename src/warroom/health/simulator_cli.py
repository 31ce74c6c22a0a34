"""`warroom simulate`: run the service simulator, and inject faults into it.

    warroom simulate [run] [--plan PLAN] [--control-port 9100] [--seed N]
    warroom simulate fault SERVICE [--error-rate 5%] [--latency 800ms] [--down]
                                   [--hang] [--garbage] [--status 500] [--clear]

asyncio, aiohttp, httpx and the plan parser are imported inside the commands: this
module is imported by `warroom` itself, and `warroom --help` must stay fast.
"""

from __future__ import annotations

import contextlib
import signal
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click

from warroom.console import echo, fail
from warroom.domain.text import safe

if TYPE_CHECKING:
    from warroom.domain.plan import Plan
    from warroom.health.simulator import Fault, Simulator

# Equal to simulator.DEFAULT_CONTROL_PORT (a test checks): importing that
# module here would load aiohttp for every `warroom` command.
CONTROL_PORT = 9100
CONTROL_URL = f"http://127.0.0.1:{CONTROL_PORT}"
CONTROL_ENV = "WARROOM_SIMULATOR_URL"
REQUEST_TIMEOUT_S = 5.0

PLAN_HELP = "Plan whose services to serve (default: the sample plan, release v2.5.0)."
CONTROL_PORT_HELP = f"Port of the control API on 127.0.0.1 (default {CONTROL_PORT})."
SEED_HELP = "Seed for the healthy noise, so runs repeat (default: fresh each run)."


# ---------------------------------------------------------------- option values
# Callbacks rather than click.ParamType subclasses: ParamType is generic only
# from click 8.4, and the project supports 8.1 on.


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """An error rate: `5%` or `0.05`, as a fraction."""
    if value is None:
        return None
    text = value.strip()
    try:
        rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a rate: write a percentage like 5% or a fraction like 0.05"
        ) from None
    if not 0 <= rate <= 1:
        hint = f" (did you mean {text}%?)" if not text.endswith("%") and rate <= 100 else ""
        raise click.BadParameter(f"{text} is not between 0% and 100%{hint}")
    return rate


def _milliseconds(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A latency written as a duration (`800ms`, `2s`), in milliseconds."""
    if value is None:
        return None
    from warroom.domain.durations import parse_duration

    try:
        return parse_duration(value).total_seconds() * 1000
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


# ---------------------------------------------------------------- the group


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--plan", metavar="PLAN", type=click.Path(dir_okay=False), help=PLAN_HELP)
@click.option("--control-port", type=click.IntRange(1, 65535), help=CONTROL_PORT_HELP)
@click.option("--seed", type=int, help=SEED_HELP)
@click.pass_context
def simulate(
    ctx: click.Context, plan: str | None, control_port: int | None, seed: int | None
) -> None:
    """Serve the plan's health endpoints on 127.0.0.1, with faults to inject.

    With no command, runs the simulator (the same as `warroom simulate run`).
    """
    given = plan is not None or control_port is not None or seed is not None
    if ctx.invoked_subcommand is None:
        _serve(plan, control_port or CONTROL_PORT, seed)
    elif ctx.invoked_subcommand == "run":
        # `warroom simulate --seed 3 run` means what it says: run's own
        # options win, these fill in what it leaves out.
        ctx.meta[_GROUP_OPTIONS] = (plan, control_port, seed)
    elif given:
        raise click.UsageError(
            f"--plan, --control-port and --seed are for running the simulator, "
            f"not for `warroom simulate {ctx.invoked_subcommand}`"
        )


_GROUP_OPTIONS = "warroom.simulate.options"


@simulate.command()
@click.option("--plan", metavar="PLAN", type=click.Path(dir_okay=False), help=PLAN_HELP)
@click.option("--control-port", type=click.IntRange(1, 65535), help=CONTROL_PORT_HELP)
@click.option("--seed", type=int, help=SEED_HELP)
@click.pass_context
def run(ctx: click.Context, plan: str | None, control_port: int | None, seed: int | None) -> None:
    """Run the simulator until Ctrl-C."""
    group_plan, group_port, group_seed = ctx.meta.get(_GROUP_OPTIONS, (None, None, None))
    _serve(
        plan or group_plan,
        control_port or group_port or CONTROL_PORT,
        seed if seed is not None else group_seed,
    )


# ---------------------------------------------------------------- run


def _load(plan_path: str | None) -> Plan:
    from warroom.domain.plan import PlanInvalid
    from warroom.planfile import read_plan
    from warroom.resources import sample_plan

    path = plan_path or str(sample_plan())
    try:
        return read_plan(path).plan
    except PlanInvalid as exc:
        echo(exc.render(), err=True)
        fail(f"{path} is not a valid plan ({exc})")


def _serve(plan_path: str | None, control_port: int, seed: int | None) -> None:
    import asyncio

    from warroom.health.simulator import Simulator, SimulatorError

    plan = _load(plan_path)
    try:
        simulator = Simulator.from_plan(
            plan,
            control_port,
            seed,
            note=lambda line: echo(f"warroom: {safe(line)}", err=True),
            on_fault=_print_change,
        )
    except SimulatorError as exc:
        fail(str(exc))
    if not simulator.urls():
        fail("the plan has no service with a health url on 127.0.0.1 to simulate")
    try:
        asyncio.run(_run_until_stopped(simulator, plan.release))
    except SimulatorError as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # where signal handlers cannot be installed
        pass
    click.echo("simulator stopped")


async def _run_until_stopped(simulator: Simulator, release: str) -> None:
    import asyncio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not on Windows; Ctrl-C then arrives as KeyboardInterrupt instead.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await simulator.start()
    try:
        _print_banner(simulator, release)
        await stop.wait()
    finally:
        await simulator.stop()


def _print_banner(simulator: Simulator, release: str) -> None:
    urls = simulator.urls()
    width = max(len(name) for name in urls)
    example = next(iter(urls))
    control = (
        "" if simulator.control_port == CONTROL_PORT else f" --control {simulator.control_url}"
    )
    lines = [
        f"Simulating release {release}: {len(urls)} service{'s' if len(urls) != 1 else ''} on 127.0.0.1",
        *(f"  {name:<{width}}  {url}" for name, url in urls.items()),
        f"Control API: {simulator.control_url}/faults",
        "Inject a fault from another terminal:",
        f"  warroom simulate fault {example} --error-rate 5%{control}",
        f"  warroom simulate fault {example} --latency 800ms{control}",
        f"  warroom simulate fault {example} --down{control}    (or --hang, --garbage, --status 500)",
        f"  warroom simulate fault {example} --clear{control}",
        "Press Ctrl-C to stop.",
    ]
    echo("\n".join(lines))


def _print_change(name: str, fault: Fault) -> None:
    echo(f"{datetime.now():%H:%M:%S}  {safe(name)}: {safe(fault.describe())}")


# ---------------------------------------------------------------- fault


@simulate.command()
@click.argument("service")
@click.option(
    "--error-rate", metavar="RATE", callback=_rate, help="Report this error rate: 5% or 0.05."
)
@click.option(
    "--latency",
    metavar="DURATION",
    callback=_milliseconds,
    help="Answer this much later, like 800ms or 2s.",
)
@click.option("--down", is_flag=True, help="Stop listening: connections are refused.")
@click.option("--hang", is_flag=True, help="Accept requests and never answer.")
@click.option("--garbage", is_flag=True, help="Answer 200 with a body that is not JSON.")
@click.option("--status", type=click.IntRange(200, 599), help="Answer with this HTTP status.")
@click.option("--clear", is_flag=True, help="Back to healthy.")
@click.option(
    "--control",
    metavar="URL",
    default=CONTROL_URL,
    envvar=CONTROL_ENV,
    show_default=True,
    help=f"The simulator's control API (also ${CONTROL_ENV}).",
)
def fault(
    service: str,
    error_rate: float | None,
    latency: float | None,
    down: bool,
    hang: bool,
    garbage: bool,
    status: int | None,
    clear: bool,
    control: str,
) -> None:
    """Set how SERVICE misbehaves in a running simulator.

    The options replace the service's current fault as a whole: what is not
    given is healthy. Several combine, e.g. --error-rate 5% --latency 800ms.
    """
    body: dict[str, Any] = {}
    if error_rate is not None:
        body["error_rate"] = error_rate
    if latency is not None:
        body["latency_ms"] = latency
    for name, flag in (("down", down), ("hang", hang), ("garbage", garbage)):
        if flag:
            body[name] = True
    if status is not None:
        body["status"] = status
    if clear and body:
        raise click.UsageError("--clear cannot be combined with a fault: it means healthy")
    if not clear and not body:
        raise click.UsageError(
            "say what to inject (--error-rate, --latency, --down, --hang, --garbage, "
            "--status) or --clear"
        )
    answer = _post(control, service, {"clear": True} if clear else body)
    echo(f"{safe(service)}: {safe(str(answer.get('summary', 'done')))}")


def _post(control: str, service: str, body: dict[str, Any]) -> dict[str, Any]:
    import httpx

    url = f"{control.rstrip('/')}/faults/{quote(service, safe='')}"
    try:
        response = httpx.post(url, json=body, timeout=REQUEST_TIMEOUT_S)
    except httpx.ConnectError:
        fail(
            f"nothing answers at {control}: start the simulator with `warroom simulate` "
            "or point --control at it"
        )
    except httpx.TimeoutException:
        fail(f"the simulator at {control} did not answer within {REQUEST_TIMEOUT_S:g}s")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        fail(f"cannot reach the simulator at {control}: {exc}")
    try:
        answer = response.json()
    except (ValueError, UnicodeDecodeError):
        answer = None
    if not isinstance(answer, dict):
        fail(
            f"{control} answered HTTP {response.status_code} without the simulator's JSON: "
            "is --control pointing at `warroom simulate`?"
        )
    if response.is_error:
        fail(str(answer.get("error") or f"the simulator answered HTTP {response.status_code}"))
    return answer


if __name__ == "__main__":
    simulate(prog_name="warroom simulate")
