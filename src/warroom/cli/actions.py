"""The action subcommands, made from the action table (commands/catalog.py).

Each row with a `subcommand` (a `Cli` part) becomes one subcommand at its
path: its help is the part's `help` and who may act (from the row's
`permission`, in the words of domain/roles.py); its arguments are what the
row points at (`target`) and asks for (`ask`, and the part's
`reason_required` and `step`). Running it
fills a `Subject` from them, builds the row's command value and runs it
through `execute`, exactly as the TUI's key does; refusals come from the
command layer. So an action reaches the CLI by being a row: nothing here
names one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import click

from warroom.cli.common import common_options, run_command
from warroom.commands.catalog import Ask, Cli, Spec, Subject, Target
from warroom.domain.lifecycle import DecisionKind
from warroom.domain.roles import who_may
from warroom.domain.triggers import Answer

# Help of the groups the table's paths make (`warroom deploy --help`); a
# path's group missing here gets no help line, nothing worse.
GROUP_HELP = {
    "deploy": "Start, finish or fail a service's deploy.",
    "step": "Complete or reopen runbook steps (in order).",
    "rollback": "Order a rollback (release manager) or mark one finished.",
    "item": "Check or uncheck go/no-go and readiness items (ids from `warroom status --json`).",
    "trigger": "Rollback triggers: raise one by hand (a lead's call), answer an inconclusive one.",
    "hold": "Holds: services kept from starting by a trigger or failure upstream.",
}


@dataclass(frozen=True)
class Given:
    """One command-line parameter of an action, and the part of the Subject it gives."""

    param: click.Parameter
    into: Callable[[Subject, Any], Subject]


def _given(spec: Spec, cli: Cli) -> list[Given]:
    """The parameters of `spec`'s subcommand, in the order the command line takes them."""
    given: list[Given] = []
    match spec.target:
        case Target.SERVICE:
            given.append(Given(click.Argument(["service"]), lambda s, v: replace(s, name=v)))
        case Target.TRIGGER | Target.INCONCLUSIVE:
            given.append(Given(click.Argument(["trigger"]), lambda s, v: replace(s, name=v)))
        case Target.ITEM:
            given.append(
                Given(
                    click.Argument(["keys"], nargs=-1, required=True),
                    lambda s, v: replace(s, names=tuple(v)),
                )
            )
    if spec.ask is Ask.ANSWER:
        answers = click.Choice([answer.value for answer in Answer], case_sensitive=False)
        given.append(
            Given(
                click.Argument(["answer"], type=answers),
                lambda s, v: replace(s, answer=Answer(v.lower())),
            )
        )
    match spec.ask:
        case Ask.REASON | Ask.ANSWER:
            # Required, or empty by default; never both: click 8.5 takes even an
            # explicit default of None as a value, and would stop asking for it.
            reason = (
                click.Option(["--reason"], required=True, help=spec.question)
                if cli.reason_required
                else click.Option(["--reason"], default="", show_default=False, help=spec.question)
            )
            given.append(Given(reason, lambda s, v: replace(s, reason=v)))
        case Ask.DECISION:
            kinds = click.Choice(
                [kind.value.lower() for kind in DecisionKind], case_sensitive=False
            )
            given += [
                Given(
                    click.Argument(["kind"], type=kinds),
                    lambda s, v: replace(s, kind=DecisionKind.parse(v)),
                ),
                Given(click.Argument(["services"], nargs=-1), lambda s, v: replace(s, subset=v)),
                Given(
                    click.Option(
                        ["--why", "rationale"],
                        default="",
                        show_default=False,
                        help="Rationale (required for NO-GO and PARTIAL).",
                    ),
                    lambda s, v: replace(s, reason=v),
                ),
            ]
        case Ask.OVERRIDE:
            given += [
                Given(click.Argument(["target"]), lambda s, v: replace(s, name=v)),
                Given(
                    click.Option(
                        ["--for", "duration"],
                        required=True,
                        metavar="DURATION",
                        help="How long it lasts, like 15m or 1h (at most 4h).",
                    ),
                    lambda s, v: replace(s, duration=v),
                ),
                Given(
                    click.Option(["--reason"], required=True, help="Why (goes in the log)."),
                    lambda s, v: replace(s, reason=v),
                ),
            ]
        case Ask.MESSAGE:
            given.append(
                Given(
                    click.Argument(["words"], nargs=-1, required=True),
                    lambda s, v: replace(s, text=" ".join(v)),
                )
            )
    if cli.step:
        given.append(
            Given(
                click.Option(
                    ["--step", "number"],
                    type=int,
                    help="Refuse unless this is the next step's number.",
                ),
                lambda s, v: replace(s, position=v),
            )
        )
    return given


def _help(spec: Spec, cli: Cli) -> str:
    if spec.permission is None:
        return cli.help
    return f"{cli.help}\n\nWho may: {who_may(spec.permission)}."


def action_command(spec: Spec, cli: Cli) -> click.Command:
    """The subcommand `cli` of one row of the table (named by its path's last word)."""
    build = spec.build
    assert build is not None, f"{spec.name} has a CLI path but builds no command"
    given = _given(spec, cli)

    def callback(**values: Any) -> None:
        subject = Subject()
        for part in given:
            subject = part.into(subject, values[part.param.name or ""])
        run_command(build(subject))

    return common_options(
        click.Command(
            cli.words[-1],
            callback=callback,
            params=[part.param for part in given],
            help=_help(spec, cli),
        )
    )


def add_actions(cli: click.Group, actions: Iterable[Spec]) -> None:
    """Add a subcommand for every row of `actions` with a `cli` path, making its groups."""
    for spec in actions:
        if spec.subcommand is None:
            continue
        parent = cli
        for name in spec.subcommand.words[:-1]:
            group = parent.commands.get(name)
            if group is None:
                group = click.Group(name, help=GROUP_HELP.get(name))
                parent.add_command(group)
            assert isinstance(group, click.Group), f"{name} is a command, not a group"
            parent = group
        parent.add_command(action_command(spec, spec.subcommand))
