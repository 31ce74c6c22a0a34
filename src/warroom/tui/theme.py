"""How states look, in one place for every pane."""

from __future__ import annotations

from warroom.domain.lifecycle import DeployState

STATE_STYLE: dict[DeployState, str] = {
    DeployState.WAITING: "dim",
    DeployState.DEPLOYING: "bold yellow",
    DeployState.VERIFYING: "bold cyan",
    DeployState.DONE: "bold green",
    DeployState.FAILED: "bold white on red",
    DeployState.ROLLING_BACK: "bold magenta",
    DeployState.ROLLED_BACK: "magenta",
}

HEALTH_STYLE: dict[str, tuple[str, str]] = {
    "healthy": ("● ok", "green"),
    "failing": ("✗ failing", "bold red"),
    "stale": ("? stale", "dim yellow"),
    "unknown": ("– n/a", "dim"),
}

FIRING_STYLE = "bold white on red"
LATE_STYLE = "bold red"
SYSTEM_STYLE = "dim italic"
