"""The action table makes the room: a row added here is a key with a footer
label, a palette entry and a help line, and pressing its key runs its command;
the README's key table is the one the table makes."""

from __future__ import annotations

from textual.widgets import Footer

from tests.churn import lines_of
from tests.conftest import ROOT, read_snapshot
from tests.tui_support import OpenRoom, wait_until
from warroom.commands.catalog import ACTIONS, TALKING, HelpLine, Spec, Target
from warroom.commands.defs import PostMessage
from warroom.domain.roles import Action
from warroom.store.engine import Store
from warroom.tui.screens.dashboard import DashboardScreen
from warroom.tui.screens.help import HelpScreen, key_table

# TODO(merge): once commands/handlers.py is on this branch, the toy gets a
# command of its own — `@dataclass(frozen=True) class Wave(Command[str]):
# service: str` — built by the row below (`build=lambda s: Wave(s.name)`), and
# the test runs inside `with registered(Wave, wave):` with a handler that
# posts the line; until then it builds a command `execute` already runs.
WAVE = Spec(
    "wave",
    HelpLine(TALKING, "y", "wave at the selected service's team"),
    Target.SERVICE,
    key="y",
    label="Wave",
    permission=Action.COMPLETE_STEP,  # only whoever works on the service
    title="Wave at a team",
    summary="Say hello to the selected service's team",
    build=lambda s: PostMessage(f"waving at {s.name}'s team"),
)


async def test_a_row_added_to_the_table_is_a_key_a_palette_entry_and_a_help_line(
    loaded: Store, open_room: OpenRoom
) -> None:
    async with open_room("sarah", actions=(*ACTIONS, WAVE)) as (app, pilot):
        footer = app.screen.query_one(Footer)
        assert "y Wave" in " ".join(str(key.render()) for key in footer.query("FooterKey"))
        palette = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert palette["Wave at a team"] == "Say hello to the selected service's team (y)"

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = "\n".join(lines_of(app.screen.query_one("#help-box Static")))
        assert "y  wave at the selected service's team" in help_text
        await pilot.press("escape")

        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        said = f"waving at {screen.selected}'s team"
        await pilot.press("y")
        await wait_until(
            pilot, lambda: read_snapshot(loaded).log[-1].text == said, "the key's command"
        )


async def test_a_row_the_viewer_may_not_take_is_greyed_and_says_why(
    loaded: Store, open_room: OpenRoom
) -> None:
    async with open_room("lisa", actions=(*ACTIONS, WAVE)) as (app, pilot):
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert screen.selected == "api-gateway"  # infra's: lisa is backend's on-call
        assert screen.check_action("wave", ()) is None  # greyed, not hidden
        palette = {c.title: c.help for c in app.get_system_commands(screen)}
        assert "not for you: lisa (on-call, backend)" in palette["Wave at a team"]
        before = read_snapshot(loaded).log
        await pilot.press("y")
        await pilot.pause()
        toasts = [n.message for n in app._notifications]
        assert any("api-gateway belongs to team infra" in t for t in toasts), toasts
        assert read_snapshot(loaded).log == before


def test_the_readme_key_table_is_the_one_the_action_table_makes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n", readme.index("<!-- keys:")) + 1
    shown = readme[start : readme.index("<!-- /keys -->")]
    assert shown == key_table(), (
        "README.md's key table is out of date; put this between its keys markers:\n" + key_table()
    )
