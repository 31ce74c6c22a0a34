"""What the panes tell their screen. Each message carries the pane that sent it
as its `control`, so that `@on(Message, "#id")` can tell one pane from another."""

from __future__ import annotations

from typing import Generic, TypeVar

from textual.message import Message
from textual.widget import Widget

W = TypeVar("W", bound=Widget)


class WidgetMessage(Message, Generic[W]):
    """A message from `widget`, which is its `control`."""

    def __init__(self, widget: W) -> None:
        super().__init__()
        self.widget = widget

    @property
    def control(self) -> W:
        return self.widget


class ServiceMessage(WidgetMessage[W]):
    """A pane's message about one `service`."""

    def __init__(self, widget: W, service: str) -> None:
        super().__init__(widget)
        self.service = service
