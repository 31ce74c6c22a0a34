"""What a health probe means (DESIGN.md, "Health endpoints"), as pure functions.

A probe is an HTTP GET. It fails on a connection error, a timeout, a non-2xx
status, or a JSON body whose `status` is a failing word; it passes on a 2xx
with no body, plain text, or a JSON `status` of pass/ok/UP/healthy/warn.
Numeric top-level JSON fields are metrics; the probe's own round trip is
`latency_ms`. Values that cannot be true (NaN, an error rate above 1, a
negative duration) are dropped with a note rather than believed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

FAILING = frozenset({"fail", "down", "error"})
PASSING = frozenset({"pass", "ok", "up", "healthy", "warn"})
MAX_BODY = 1024 * 1024  # bytes read from a health endpoint; more is not a health response


@dataclass(frozen=True)
class Outcome:
    """The verdict on one response (or on its absence)."""

    ok: bool
    reason: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sample:
    """One probe of one service, as stored."""

    service: str
    at: datetime
    ok: bool
    reason: str | None
    status_code: int | None
    latency_ms: float | None
    metrics: Mapping[str, float]

    def metric(self, name: str) -> float | None:
        if name == "latency_ms" and self.latency_ms is not None:
            return self.latency_ms
        return self.metrics.get(name)


def failed(reason: str) -> Outcome:
    return Outcome(ok=False, reason=reason)


def _metric(name: str, value: object) -> tuple[float | None, str | None]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, None  # not a metric (strings, lists, objects): ignored silently
    number = float(value)
    if not math.isfinite(number):
        return None, f"{name} is not a finite number; ignored"
    if number < 0:
        return None, f"{name} is negative ({number:g}); ignored"
    if name == "error_rate" and number > 1:
        return None, f"error_rate {number:g} is not a fraction between 0 and 1; ignored"
    return number, None


def classify(status_code: int, body: bytes, content_type: str | None = None) -> Outcome:
    """Judge a complete HTTP response."""
    if not 200 <= status_code < 300:
        return failed(f"HTTP {status_code}")
    text = body.strip()
    if not text:
        return Outcome(ok=True)
    says_json = bool(content_type) and "json" in (content_type or "").lower()
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        if says_json:
            return failed("the body claims to be JSON but does not parse")
        return Outcome(ok=True, notes=("plain-text body",))
    if not isinstance(document, dict):
        return Outcome(
            ok=True, notes=(f"JSON body is a {type(document).__name__}, not an object: no metrics",)
        )
    notes: list[str] = []
    metrics: dict[str, float] = {}
    for name, value in document.items():
        number, note = _metric(str(name), value)
        if number is not None:
            metrics[str(name)] = number
        if note:
            notes.append(note)
    status = document.get("status")
    if isinstance(status, str):
        word = status.strip().lower()
        if word in FAILING:
            return Outcome(
                ok=False, reason=f"status {status!r}", metrics=metrics, notes=tuple(notes)
            )
        if word not in PASSING:
            notes.append(f"unknown status {status!r} taken as passing")
    return Outcome(ok=True, metrics=metrics, notes=tuple(notes))


def health_state(
    last: Sample | None, interval: timedelta, now: datetime, polled: bool = True
) -> str:
    """ "healthy", "failing", "stale" or "unknown" for a service's newest sample.

    Stale means older than three intervals, or nobody holds the poller lease:
    old health is never shown as current health.
    """
    if last is None:
        return "unknown"
    if not polled or now - last.at > 3 * interval:
        return "stale"
    return "healthy" if last.ok else "failing"


def baseline(samples: Sequence[Sample], metric: str, before: datetime) -> float | None:
    """The median of `metric` over samples taken before `before` (a deploy start)."""
    values = [v for s in samples if s.at < before and (v := s.metric(metric)) is not None]
    return float(median(values)) if values else None
