"""The action table makes the room: a row added here is a key with a footer
label, a palette entry and a help line, and pressing its key runs its command;
the README's key table is the one the table makes."""

from __future__ import annotations

from textual.widgets import Footer

from tests.churn import lines_of, record_toasts
from tests.conftest import ROOT, read_snapshot
from tests.toy import NUDGE, nudge_handled
from tests.tui_support import OpenRoom, wait_until
from warroom.commands.catalog import ACTIONS
from warroom.store.engine import Store
from warroom.tui.screens.dashboard import DashboardScreen
from warroom.tui.screens.help import HelpScreen, key_table
from warroom.tui.screens.prompt import PromptScreen


async def test_a_row_added_to_the_table_is_a_key_a_palette_entry_and_a_help_line(
    loaded: Store, open_room: OpenRoom
) -> None:
    async with open_room("sarah", actions=(*ACTIONS, NUDGE)) as (app, pilot):
        footer = app.screen.query_one(Footer)
        # The footer recomposes its keys whenever the bindings are refreshed
        # (the first read, focus moving): between the two it has none.
        await wait_until(
            pilot,
            lambda: "N Nudge" in " ".join(str(key.render()) for key in footer.query("FooterKey")),
            "the footer to show the added key",
        )
        palette = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert palette["Nudge a team"] == "Ask the selected service's team to hurry (N)"

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = "\n".join(lines_of(app.screen.query_one("#help-box Static")))
        assert "N  nudge the selected service's team" in help_text
        await pilot.press("escape")

        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await pilot.press("down")  # the key acts on exactly what is highlighted
        chosen = screen.selected
        assert chosen is not None and chosen != "api-gateway"
        with nudge_handled():
            await pilot.press("N")
            assert isinstance(app.screen, PromptScreen)
            await pilot.press(*"T-5", "enter")
            await wait_until(
                pilot,
                lambda: read_snapshot(loaded).log[-1].text.endswith(f"about {chosen}: T-5"),
                "the toy's handler to run",
            )


async def test_a_row_the_viewer_may_not_take_is_greyed_and_says_why(
    loaded: Store, open_room: OpenRoom
) -> None:
    async with open_room("lisa", actions=(*ACTIONS, NUDGE)) as (app, pilot):
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert screen.selected == "api-gateway"  # infra's: lisa is backend's on-call
        assert screen.check_action("nudge", ()) is None  # greyed, not hidden
        palette = {c.title: c.help for c in app.get_system_commands(screen)}
        assert "not for you: lisa (on-call, backend)" in palette["Nudge a team"]
        before = read_snapshot(loaded).log
        said = record_toasts(app)
        await pilot.press("N")
        await wait_until(pilot, lambda: bool(said), "the refusal")
        assert not isinstance(app.screen, PromptScreen)  # refused before asking why
        assert "may not raise a rollback trigger on api-gateway" in said[0], said
        assert read_snapshot(loaded).log == before


def test_the_readme_key_table_is_the_one_the_action_table_makes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n", readme.index("<!-- keys:")) + 1
    shown = readme[start : readme.index("<!-- /keys -->")]
    assert shown == key_table(), (
        "README.md's key table is out of date; put this between its keys markers:\n" + key_table()
    )
