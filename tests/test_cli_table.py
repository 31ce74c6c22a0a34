"""The CLI's action subcommands are made from the action table (commands/catalog.py).

Adding an action is one row and one handler: the row alone puts it on the
command line, with its arguments, help and who may; running it goes
through `execute` like every other command.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.conftest import read_snapshot
from tests.toy import NUDGE, nudge_handled
from warroom.cli import build_cli, main
from warroom.commands.catalog import ACTIONS, Ask, Spec
from warroom.domain.roles import who_may
from warroom.store.engine import Store

NOW = "2024-03-20T13:20:00Z"


def subcommand(cli: click.Group, path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group), path
        found = command.commands.get(name)
        assert found is not None, f"`warroom {' '.join(path)}` is missing"
        command = found
    return command


def test_a_toy_row_is_a_subcommand_with_its_help_and_arguments() -> None:
    cli = build_cli((*ACTIONS, NUDGE))
    runner = CliRunner()

    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0
    assert "\n  team\n" in top.output.split("Commands:", 1)[1]  # no GROUP_HELP entry: bare
    help_ = runner.invoke(cli, ["team", "nudge", "--help"])
    assert help_.exit_code == 0, help_.output
    assert "Usage: warroom team nudge [OPTIONS] SERVICE" in help_.output
    assert "Nudge SERVICE's team to get a move on." in help_.output
    assert "Who may: the release manager, or the owning team's team lead." in help_.output
    assert "--reason TEXT   Why the hurry? (goes in the log)  [required]" in help_.output
    # The table passed in is the table used: `main` has no such subcommand.
    assert "team" not in main.commands


def test_a_toy_row_runs_its_command_through_execute(sqlite_loaded: Store, db_path: Path) -> None:
    cli = build_cli((*ACTIONS, NUDGE))
    runner = CliRunner(env={"WARROOM_NOW": NOW, "WARROOM_USER": None})
    db = ["--db", f"sqlite:///{db_path}"]

    with nudge_handled():
        done = runner.invoke(
            cli, [*db, "team", "nudge", "user-service", "--reason", "T-5", "--as", "mike"]
        )
        refused = runner.invoke(
            cli, [*db, "team", "nudge", "web-frontend", "--reason", "T-5", "--as", "mike"]
        )

    assert done.exit_code == 0, done.output
    assert done.output == "nudged team backend\n"
    last = read_snapshot(sqlite_loaded).log[-1]
    assert (last.author, last.text) == ("mike", "Team backend nudged about user-service: T-5")
    # The row's permission is the command layer's: mike leads backend, not frontend.
    assert refused.exit_code == 1 and "belongs to team frontend" in refused.output
    missing = runner.invoke(cli, [*db, "team", "nudge", "user-service", "--as", "mike"])
    assert missing.exit_code == 2 and "--reason" in missing.output


@pytest.mark.parametrize(
    "spec",
    [s for s in ACTIONS if s.subcommand],
    ids=lambda s: s.subcommand.path if s.subcommand else "",
)
def test_every_row_with_a_cli_path_is_a_subcommand_of_warroom(spec: Spec) -> None:
    assert spec.subcommand is not None
    command = subcommand(main, spec.subcommand.words)
    assert command.help is not None
    assert command.help.startswith(spec.subcommand.help)
    if spec.permission is not None:
        assert f"Who may: {who_may(spec.permission)}." in command.help
    options = {name for param in command.params for name in param.opts}
    assert {"--db", "--as", "--release"} <= options
    assert ("--reason" in options) == (spec.ask in {Ask.REASON, Ask.OVERRIDE, Ask.ANSWER})
