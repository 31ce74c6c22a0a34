"""Files that ship with warroom: stylesheets and the sample plan.

They live at the top of the repository (styles/, sample_data/) so people find
them, and are copied into the wheel under warroom/ (see pyproject.toml), so
look inside the package first and fall back to the source checkout.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent.parent


def resource(folder: str, name: str) -> Path:
    for base in (_PACKAGE / folder, _CHECKOUT / folder):
        candidate = base / name
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{folder}/{name} is missing from this installation of warroom")


def stylesheet(name: str = "warroom.tcss") -> Path:
    return resource("styles", name)


def sample_plan() -> Path:
    return resource("sample_data", "release-v2.5.0.yaml")


def prometheus_sample_plan() -> Path:
    """The sample release with its rule metrics from Prometheus (`warroom demo --prometheus`)."""
    return resource("sample_data", "release-v2.5.0-prometheus.yaml")
