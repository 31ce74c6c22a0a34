"""Where rule metrics come from besides the health JSON: Prometheus (pure).

A plan may name a Prometheus server and one PromQL query per metric for the
whole release (`metrics: {prometheus: ..., service_label: ..., queries: ...}`),
with per-service overrides (`services[i].metrics: {METRIC: PROMQL}`). Rules
are written the same whichever source a metric comes from.

A query names its service in one of two ways:

- **`$service`**, replaced by the service's name: the query runs once per
  service per interval. `$` followed by a word is a placeholder (PromQL has
  no `$` of its own; Grafana writes its variables the same way); a `$` that
  is not followed by a letter or `_` (a regex anchor such as `"/api$"`) is
  left as written. `$service` is the only placeholder; any other is an error.
- **grouping by the service label** (`sum by (service) (...)`): no
  placeholder; the poller asks once per interval for every service and
  splits the answer by the label's value.

Everything here is pure: planning which HTTP requests a poll makes
(`plan_queries`) and reading what Prometheus answered (`read_vector`) are
tested without a server; the HTTP itself is warroom.health.prometheus's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

PLACEHOLDER = "$service"
PLACEHOLDERS = frozenset({"service"})
MAX_QUERY = 2000  # characters in one PromQL query
MAX_QUERIES = 50  # metrics with a query, per release or per service
DEFAULT_SERVICE_LABEL = "service"

_PLACEHOLDER = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
# The probe's own round trip: a query may not take its name.
RESERVED_METRICS = frozenset({"latency_ms"})


def query_problem(query: str, service_label: str) -> str | None:
    """What is wrong with a query's shape as far as warroom can see, else None.

    PromQL itself is Prometheus's to judge (`warroom metrics test` asks it);
    here: the placeholders, and whether the result can be told apart by service.
    """
    if not query.strip():
        return "the query is empty"
    if len(query) > MAX_QUERY:
        return f"the query is {len(query)} characters long: use at most {MAX_QUERY}"
    for match in _PLACEHOLDER.finditer(query):
        name = match.group(1)
        if match.group(0).startswith("${"):
            return f"write the placeholder as {PLACEHOLDER}, not {match.group(0)!r}"
        if name not in PLACEHOLDERS:
            return f"unknown placeholder ${name}: the only one is {PLACEHOLDER}"
    if not is_per_service(query) and not re.search(
        rf"(?<![A-Za-z0-9_]){re.escape(service_label)}(?![A-Za-z0-9_])", query
    ):
        return (
            f"the query neither uses {PLACEHOLDER} nor groups by the label "
            f"{service_label!r}: its answer could not be told apart by service "
            f'(add `by ({service_label})` or a matcher like {{{service_label}="{PLACEHOLDER}"}})'
        )
    return None


def is_per_service(query: str) -> bool:
    """Whether the query names its service with the placeholder (run once per service)."""
    return any(m.group(1) == "service" for m in _PLACEHOLDER.finditer(query))


def for_service(query: str, service: str) -> str:
    """The query with `$service` replaced by the service's name.

    Service names are letters, digits, `-`, `_` and `.` (the plan says so),
    so the name is safe inside a quoted label value as it is.
    """
    return _PLACEHOLDER.sub(lambda m: service if m.group(1) == "service" else m.group(0), query)


# ---------------------------------------------------------------- the plan's part


@dataclass(frozen=True)
class Auth:
    """Where the credentials are: names of environment variables, never values."""

    bearer_token_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.bearer_token_env, self.username_env, self.password_env) if n)


@dataclass(frozen=True)
class MetricsSource:
    """A release's Prometheus and its queries, as the plan says them."""

    url: str
    auth: Auth = Auth()
    timeout: timedelta | None = None  # None: each service's health timeout
    service_label: str = DEFAULT_SERVICE_LABEL
    queries: Mapping[str, str] = field(default_factory=dict)
    # Per service: its overrides of (or additions to) the release's queries.
    overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def queries_for(self, service: str) -> dict[str, str]:
        """Every metric of `service` that comes from Prometheus, and its query."""
        return {**self.queries, **self.overrides.get(service, {})}

    def metrics(self) -> frozenset[str]:
        """Every metric name some service reads from Prometheus."""
        names = set(self.queries)
        for extra in self.overrides.values():
            names.update(extra)
        return frozenset(names)


@dataclass(frozen=True)
class Request:
    """One HTTP query of one poll: a grouped query answers for many services."""

    metric: str
    query: str  # as sent (placeholder replaced)
    services: tuple[str, ...]  # whose values it carries
    grouped: bool  # split by the service label; else the answer is one service's


def plan_queries(source: MetricsSource, services: Iterable[str]) -> list[Request]:
    """The requests one poll of `services` makes: one per grouped query (shared
    by every service that uses it unchanged), one per service for the rest."""
    grouped: dict[tuple[str, str], list[str]] = {}
    out: list[Request] = []
    for service in services:
        for metric, query in source.queries_for(service).items():
            if is_per_service(query):
                out.append(Request(metric, for_service(query, service), (service,), False))
            else:
                grouped.setdefault((metric, query), []).append(service)
    for (metric, query), members in grouped.items():
        out.append(Request(metric, query, tuple(members), True))
    return out


# ---------------------------------------------------------------- what Prometheus says


@dataclass(frozen=True)
class Reading:
    """A metric's value for one service from one answer, or why there is none."""

    value: float | None
    why: str | None = None  # set when value is None: "no data" and the reason


class AnswerError(ValueError):
    """The answer is not an instant vector or scalar Prometheus would send."""


def _number(text: object) -> float:
    if not isinstance(text, str):
        raise AnswerError(f"a sample value is {type(text).__name__}, not a string")
    try:
        return float(text)
    except ValueError:
        raise AnswerError(f"a sample value {text[:40]!r} is not a number") from None


def read_vector(
    answer: object, request: Request, service_label: str
) -> tuple[dict[str, Reading], int]:
    """Each service's reading from a `/api/v1/query` answer (parsed JSON).

    Returns the readings and how many series were in it. Raises AnswerError
    for an error answer or an unexpected shape (the message is the reason).
    Empty results and NaN are *no data*, with the reason, never a value.
    """
    if not isinstance(answer, dict):
        raise AnswerError("the answer is not a JSON object")
    if answer.get("status") != "success":
        error_type = str(answer.get("errorType") or "error")[:40]
        said = str(answer.get("error") or "no message")[:160]
        raise AnswerError(f"the query failed ({error_type}: {said})")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise AnswerError("the answer has no data")
    kind = data.get("resultType")
    result = data.get("result")
    series: list[tuple[Mapping[str, str], float]] = []
    if kind == "scalar":
        if not isinstance(result, list) or len(result) != 2:
            raise AnswerError("a scalar answer without [time, value]")
        series.append(({}, _number(result[1])))
    elif kind == "vector":
        if not isinstance(result, list):
            raise AnswerError("a vector answer without a result list")
        for item in result:
            if not isinstance(item, dict):
                raise AnswerError("a series is not an object")
            labels = item.get("metric") or {}
            value = item.get("value")
            if not isinstance(labels, dict) or not isinstance(value, list) or len(value) != 2:
                raise AnswerError("a series without labels and [time, value]")
            series.append(({str(k): str(v) for k, v in labels.items()}, _number(value[1])))
    else:
        raise AnswerError(
            f"the query gives a {str(kind)[:20]}, not an instant vector: "
            "use an instant query (no [range] at the end)"
        )
    return _split(series, request, service_label), len(series)


def _judged(metric: str, value: float) -> Reading:
    if math.isnan(value):
        return Reading(None, f"no data from Prometheus for {metric}: the query gives NaN")
    if math.isinf(value):
        return Reading(None, f"no data from Prometheus for {metric}: the query gives {value}")
    return Reading(value)


def _split(
    series: Sequence[tuple[Mapping[str, str], float]], request: Request, label: str
) -> dict[str, Reading]:
    metric = request.metric
    if request.grouped:
        values: dict[str, float] = {}
        for labels, value in series:
            name = labels.get(label)
            if name is not None:
                values.setdefault(name, value)
        out = {}
        for service in request.services:
            if service in values:
                out[service] = _judged(metric, values[service])
            else:
                out[service] = Reading(
                    None,
                    f"no data from Prometheus for {metric}: no series with "
                    f"{label}={service!r} in the answer ({len(series)} series)",
                )
        return out
    (service,) = request.services
    if not series:
        return {service: Reading(None, f"no data from Prometheus for {metric}: empty result")}
    if len(series) == 1:
        return {service: _judged(metric, series[0][1])}
    mine = [value for labels, value in series if labels.get(label) == service]
    if len(mine) == 1:
        return {service: _judged(metric, mine[0])}
    return {
        service: Reading(
            None,
            f"no data from Prometheus for {metric}: {len(series)} series and "
            f"{len(mine) or 'none'} labelled {label}={service!r}; aggregate to one",
        )
    }


def failed(request: Request, reason: str) -> dict[str, Reading]:
    """Every service of `request` without data, for one reason (unreachable, an error)."""
    why = f"no data from Prometheus for {request.metric}: {reason}"
    return {service: Reading(None, why) for service in request.services}
