"""The looks panes share, by name: component classes styled in styles/warroom.tcss.

A deploy state, a service's health and a firing trigger look the same in the
graph, the deploy table and a service's runbook; the stylesheet says how,
each pane declares the names in its COMPONENT_CLASSES and draws with
`get_component_rich_style(name, partial=True)`.
"""

from __future__ import annotations

from rich.style import Style
from textual.widget import Widget

from warroom.domain.lifecycle import DeployState

FIRING = "trigger--firing"
PENDING = "trigger--pending"
LATE = "time--late"
HELD = "state--held"  # a waiting service held by a trigger or failure upstream
FREEZE = "time--freeze"  # a freeze on the countdown's bar
OVERRIDE = "time--override"  # an override on the countdown's bar
HEALTHS = ("healthy", "failing", "stale", "unknown")


def state(state: DeployState) -> str:
    """The look of a deploy state: `state--rolling-back`."""
    return f"state--{state.value.replace('_', '-')}"


def health(health: str) -> str:
    """The look of a health state (`healthy`, `failing`, `stale`, anything else: `unknown`)."""
    return f"health--{health if health in HEALTHS else 'unknown'}"


STATES = frozenset(state(s) for s in DeployState)
HEALTH = frozenset(health(h) for h in HEALTHS)


def style(widget: Widget, name: str) -> Style:
    """How `widget` draws the look `name`: only what the stylesheet sets for it."""
    return widget.get_component_rich_style(name, partial=True)
