"""What a health probe means (DESIGN.md, "Health endpoints"), as pure functions.

A probe is an HTTP GET. It fails on a connection error, a timeout, a non-2xx
status, or a JSON body whose `status` is a failing word; it passes on a 2xx
with no body, plain text, or a JSON `status` of pass/ok/UP/healthy/warn.
Numeric top-level JSON fields are metrics; the probe's own round trip is
`latency_ms`. Values that cannot be true (NaN, an error rate above 1, a
negative duration) are dropped with a note rather than believed.

An endpoint is untrusted input, so everything it can make us keep is bounded:
the body (MAX_BODY bytes, read by the probe), its nesting (MAX_DEPTH: deeper
JSON fails the probe instead of blowing Python's recursion limit), the metrics
kept per sample (MAX_METRICS: the first ones, and the sample says it was
truncated), metric names (MAX_NAME) and every reason or note (MAX_REASON).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate, repeat
from operator import sub
from statistics import median

FAILING = frozenset({"fail", "down", "error"})
PASSING = frozenset({"pass", "ok", "up", "healthy", "warn"})
MAX_BODY = 1024 * 1024  # bytes read from a health endpoint; more is not a health response
MAX_DEPTH = 32  # JSON nesting; health documents are two or three levels deep
MAX_METRICS = 100  # numeric fields kept per sample (in document order)
MAX_NAME = 100  # characters in a metric name; longer keys are not metrics
MAX_REASON = 200  # characters in a reason or note built from an endpoint's text
MAX_NOTES = 10


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
    # Metrics that come from elsewhere (Prometheus) and have no value in this
    # sample, each with why: a rule on one is "no data", saying so. Not stored
    # (the sample's reason carries a summary); the poller judges it in memory.
    missing: Mapping[str, str] = field(default_factory=dict)

    def metric(self, name: str) -> float | None:
        if name == "latency_ms" and self.latency_ms is not None:
            return self.latency_ms
        return self.metrics.get(name)


def bounded(text: str, limit: int = MAX_REASON) -> str:
    """`text` cut to at most `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failed(reason: str) -> Outcome:
    return Outcome(ok=False, reason=bounded(reason))


# A JSON string (escapes included), so brackets inside strings are not counted.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but the brackets
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether `body`, read as JSON, nests arrays/objects more than `limit` deep.

    Checked before parsing: the json module recurses once per level, so
    200,000 `[` would raise RecursionError. Linear and C-speed: a body with
    few brackets (every real health response) is answered by counting alone.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(_DEPTH_STEP, _BRACKETS)
    # Each opener is 2, each closer 0; minus one each gives the running depth.
    return max(accumulate(map(sub, brackets, repeat(1))), default=0) > limit


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
    if text[:1] in (b"[", b"{") and too_deep(text):
        return failed(
            f"body nested too deeply (more than {MAX_DEPTH} levels); not a health response"
        )
    try:
        document = json.loads(text)
    except RecursionError:  # too_deep() should have caught it; never let it escape
        return failed(
            f"body nested too deeply (more than {MAX_DEPTH} levels); not a health response"
        )
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
    numeric = 0
    for key, value in document.items():
        name = str(key)
        number, note = _metric(name, value)
        if number is not None:
            if len(name) > MAX_NAME:
                note = f"a metric name {len(name)} characters long; ignored"
            else:
                numeric += 1
                if numeric <= MAX_METRICS:
                    metrics[name] = number
        if note and len(notes) < MAX_NOTES:
            notes.append(bounded(note))
    # Kept, not dropped: the sample is believed for its first MAX_METRICS
    # fields and says it was cut, so nobody mistakes it for the whole story.
    truncated = (
        f"kept the first {MAX_METRICS} of {numeric} numeric fields"
        if numeric > MAX_METRICS
        else None
    )
    status = document.get("status")
    if isinstance(status, str):
        word = status.strip().lower()
        if word in FAILING:
            reason = f"status {bounded(status, 40)!r}"
            if truncated:
                reason += f" ({truncated})"
            return Outcome(ok=False, reason=bounded(reason), metrics=metrics, notes=tuple(notes))
        if word not in PASSING:
            notes.append(f"unknown status {bounded(status, 40)!r} taken as passing")
    return Outcome(ok=True, reason=truncated, metrics=metrics, notes=tuple(notes))


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
