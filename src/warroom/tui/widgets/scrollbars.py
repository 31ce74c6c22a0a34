"""Growing a widget without a layout pass of the whole screen: warroom's one
private Textual call, kept here and checked against the versions it was
written for.

A widget's `virtual_size` is a reactive that asks for a layout pass of the
screen whenever it changes. For a widget whose own size does not depend on
its content (the log pane is `1fr`), only its scrollbars need to hear of
the growth; Textual has no public call for that, and `Widget._scroll_update`
is what Textual itself runs after a layout pass. On any other Textual than
the ones below, `grown` takes Textual's public way instead: the layout pass,
correct and dearer (benchmarks/bench_log.py measures both).
"""

from __future__ import annotations

import textual
from textual.geometry import Size
from textual.widget import Widget

CHECKED = frozenset({8})  # Textual major versions `_scroll_update` was read in
CHEAP = int(textual.__version__.split(".")[0]) in CHECKED and hasattr(Widget, "_scroll_update")


def grown(widget: Widget, virtual_size: Size) -> None:
    """`widget`'s virtual size became `virtual_size`; its own size did not change."""
    if CHEAP:
        widget._scroll_update(virtual_size)
    else:
        widget.refresh(layout=True)
