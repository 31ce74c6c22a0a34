"""The log pane grows without a layout pass of the screen, and says so if Textual changes."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.message import Message
from textual.messages import Layout

from warroom.tui.widgets import scrollbars
from warroom.tui.widgets.comms_log import LogLines


class LogApp(App[None]):
    """The log's lines on their own, in a pane of fixed size."""

    CSS = "LogLines { height: 6; }"

    def compose(self) -> ComposeResult:
        yield LogLines(id="log-lines", wrap=True, markup=False, min_width=20)


def test_the_cheap_way_is_taken_on_the_installed_textual() -> None:
    # Fails after a Textual upgrade that moved or removed Widget._scroll_update:
    # read scrollbars.py against the new Textual, then add its version to CHECKED.
    assert scrollbars.CHEAP


@pytest.mark.parametrize("cheap", [True, False], ids=["cheap", "public"])
async def test_a_growing_log_follows_its_lines_and_lays_out_the_screen_only_the_public_way(
    monkeypatch: pytest.MonkeyPatch, cheap: bool
) -> None:
    monkeypatch.setattr(scrollbars, "CHEAP", cheap)
    layouts: list[Message] = []
    app = LogApp()

    def hook(message: Message) -> None:
        if isinstance(message, Layout):
            layouts.append(message)

    async with app.run_test(size=(40, 10), message_hook=hook) as pilot:
        log = app.query_one(LogLines)
        for number in range(10):  # past the pane's height: the scrollbar is there
            log.write(f"line {number}")
        await pilot.pause()
        before = len(layouts)
        for number in range(10, 20):
            log.write(f"line {number}")
            await pilot.pause()
        assert log.vertical_scrollbar.window_virtual_size == len(log.lines) == 20
        assert log.scroll_y == log.max_scroll_y > 0  # it followed the newest line
        assert (len(layouts) > before) is not cheap
