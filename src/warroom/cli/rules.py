"""`warroom rules backtest`: replay a rule over the samples the room recorded.

A team tunes a rule after a release (or tries one before trusting it) by
asking what it would have done: when it would have gone pending, fired and
resolved on a service, with a sparkline of what it watches. RULE is a rule
of the plan (its options too) or an expression the plan does not have
(`"error_rate > 2% for 1m"`); options can be tried on either.

The replay goes through the very function the live poller evaluates rules
with (domain/triggers.py `evaluate`), over the stored samples, with the
service in the deploy state the record says it was in at each sample; so
for a rule of the plan it finds the moments the poller found, as long as
the samples are still kept (the poller keeps 30 minutes) and the replay
starts where the live rule was quiet. (The poller judges a sample when it
records it, a moment after taking it: a deploy state that changed in that
moment is the one case where the two can differ.) Nobody acknowledges a replay: a
firing trigger is taken as acknowledged at once, so it resolves when its
condition clears, as the live one does once acknowledged.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from warroom.cli.common import clock, common_options, flags, open_store
from warroom.console import echo, fail

if TYPE_CHECKING:
    from sqlalchemy import Row
    from sqlmodel import Session

    from warroom.domain.health import Sample
    from warroom.domain.lifecycle import DeployState
    from warroom.domain.rules import Rule, RuleOptions
    from warroom.domain.triggers import TriggerStatus
    from warroom.store import models as m

COLUMNS = 60  # the sparkline's width at most


@dataclass(frozen=True)
class Series:
    """What the room recorded about one service, for a replay."""

    zone: str
    samples: tuple[Sample, ...]
    states: tuple[tuple[datetime, DeployState], ...]  # the service's state from each moment on
    interval: timedelta  # its health interval: a gap longer than 3 of them breaks a streak
    rules: dict[str, m.TriggerRule]  # the plan's rules, by name
    baselines: dict[str, float | None]  # each rule's stored baseline on this service

    def state_at(self, moment: datetime) -> DeployState:
        from warroom.domain.lifecycle import DeployState

        index = bisect.bisect_right([at for at, _ in self.states], moment)
        return self.states[index - 1][1] if index else DeployState.WAITING

    @property
    def deploy_started_at(self) -> datetime | None:
        from warroom.domain.lifecycle import DeployState

        starts = [at for at, state in self.states if state is DeployState.DEPLOYING]
        return starts[-1] if starts else None


def read_series(
    session: Session, release: Row[Any], service: str, since: datetime, until: datetime | None
) -> Series:
    """`service`'s samples from `since` to `until` and its deploy states over the
    day (from the record), read in one transaction."""
    from sqlmodel import select

    from warroom.domain.lifecycle import DeployState
    from warroom.store import models as m
    from warroom.store.queries import read_history, recent_samples

    row = session.exec(
        select(m.Service).where(m.Service.release_id == release.id, m.Service.name == service)
    ).first()
    if row is None:
        names = session.exec(select(m.Service.name).where(m.Service.release_id == release.id)).all()
        fail(f"unknown service {service!r}; services are: {', '.join(names)}")
    history = read_history(session, release)
    states = [(release.loaded_at, DeployState.WAITING)]
    for event in history.events:
        image = event.after.get("services", {}).get(service)
        if image is not None:
            states.append((event.at, DeployState(image["state"])))
    rules = {
        r.name: r
        for r in session.exec(select(m.TriggerRule).where(m.TriggerRule.release_id == release.id))
    }
    baselines = {
        t.rule: t.baseline
        for t in session.exec(
            select(m.TriggerState).where(
                m.TriggerState.release_id == release.id, m.TriggerState.service == service
            )
        )
    }
    assert release.id is not None
    return Series(
        zone=release.timezone,
        samples=recent_samples(session, release.id, service, since, until),
        states=tuple(states),
        interval=timedelta(seconds=row.health_interval_s or 5),
        rules=rules,
        baselines=baselines,
    )


@dataclass(frozen=True)
class Backtest:
    name: str  # the plan's rule name, or the expression
    rule: Rule
    options: RuleOptions
    baseline: float | None
    turns: list[tuple[Sample, TriggerStatus]]
    samples: tuple[Sample, ...]


def _resolve(series: Series, text: str) -> tuple[Rule, RuleOptions, frozenset[DeployState]]:
    """RULE as the plan's rule (its options and watched states) or as an expression."""
    from warroom.domain.lifecycle import DeployState
    from warroom.domain.plan import WATCHED_BY_DEFAULT
    from warroom.domain.rules import RuleOptions, RuleSyntaxError, parse_rule

    planned = series.rules.get(text)
    if planned is not None:
        states = json.loads(planned.states) if planned.states else WATCHED_BY_DEFAULT
        return parse_rule(planned.when), planned.options, frozenset(map(DeployState, states))
    try:
        rule = parse_rule(text)
    except RuleSyntaxError as exc:
        names = ", ".join(series.rules) or "none"
        fail(
            f"{text!r} is neither a rule of the plan ({names}) nor a rule expression: "
            f"{exc.message} at column {exc.column}"
        )
    return rule, RuleOptions(), frozenset(map(DeployState, WATCHED_BY_DEFAULT))


def _baseline(series: Series, name: str, rule: Rule, earlier: tuple[Sample, ...]) -> float | None:
    """A plan rule's stored baseline; for an expression, the median before the
    deploy started, from the samples still kept, else a stored baseline of the
    same metric."""
    from warroom.domain import health as h
    from warroom.domain.rules import BaselineRule, parse_rule

    if not isinstance(rule, BaselineRule):
        return None
    if name in series.rules:
        return series.baselines.get(name)
    started = series.deploy_started_at
    if started is not None:
        value = h.baseline(earlier, rule.metric, started)
        if value is not None:
            return value
    for other, stored in series.baselines.items():
        planned = series.rules.get(other)
        if stored is not None and planned is not None:
            known = parse_rule(planned.when)
            if isinstance(known, BaselineRule) and known.metric == rule.metric:
                return stored
    return None


def backtest(
    series: Series, text: str, overrides: dict[str, Any], earlier: tuple[Sample, ...]
) -> Backtest:
    """Replay RULE (`text`) over the series, its options changed by `overrides`;
    `earlier` are every sample still kept, for a new rule's baseline."""
    from warroom.domain.triggers import replay, turns

    rule, options, watched = _resolve(series, text)
    options = replace(options, **overrides)
    baseline = _baseline(series, text, rule, earlier)
    replayed = replay(
        rule,
        options,
        series.samples,
        baseline,
        max_gap=3 * series.interval,
        state_at=series.state_at,
        watched=watched,
    )
    return Backtest(text, rule, options, baseline, turns(replayed), series.samples)


# ---------------------------------------------------------------- output


def _sparkline(test: Backtest) -> tuple[str, str]:
    """The metric as text, and what its ends and limit are."""
    from warroom.domain.charts import chart, metric_of, text_sparkline

    samples = test.samples
    first, last = samples[0].at, samples[-1].at
    span = max(last - first, timedelta(seconds=1))
    drawn = chart(
        test.rule, samples, test.baseline, end=last, span=span, columns=min(COLUMNS, len(samples))
    )
    known = [c.value for c in drawn.columns if c.value is not None]
    low = drawn.shown(min(known)) if known else "—"
    notes = [f"low {low}", f"high {drawn.shown(drawn.highest)}"]
    if drawn.limit is not None:
        notes.append(f"limit {drawn.shown(drawn.limit)}")
    return f"{metric_of(test.rule)} {text_sparkline(drawn.values)}", ", ".join(notes)


def text_report(test: Backtest, service: str, zone: str) -> str:
    from warroom.domain.text import safe
    from warroom.domain.timeline import when, zone_name
    from warroom.domain.triggers import Phase

    described = test.rule.describe()
    title = test.name if test.name == described else f"{test.name} ({described})"
    options = test.options.describe()
    lines = [f"Backtest of {safe(title)} on {safe(service)}" + (f" [{options}]" if options else "")]
    if not test.samples:
        lines.append("No samples were recorded for it in that time (the poller keeps 30 minutes).")
        return "\n".join(lines)
    first, last = test.samples[0].at, test.samples[-1].at
    lines.append(
        f"{len(test.samples)} samples from {when(first, zone, '%Y-%m-%d %H:%M:%S')} "
        f"to {when(last, zone, '%H:%M:%S')} (times in {zone_name(first, zone)})"
    )
    spark, notes = _sparkline(test)
    lines.append(f"{safe(spark)}  ({safe(notes)})")
    if not test.turns:
        lines.append("It would have stayed quiet.")
    for sample, status in test.turns:
        label = str(status.phase).upper() if status.phase is Phase.FIRING else str(status.phase)
        if status.phase is Phase.FIRING and not status.holding:
            label = "cleared"
        lines.append(f"{when(sample.at, zone, '%H:%M:%S')}  {label:<12}  {safe(status.detail)}")
    fired = [
        s.at for s, status in test.turns if status.phase is Phase.FIRING and status.fired_at == s.at
    ]
    if fired:
        times = ", ".join(when(at, zone, "%H:%M:%S") for at in fired)
        lines.append(f"It would have fired {len(fired)} time{'s' * (len(fired) != 1)}: {times}.")
    lines.append(
        "(Nobody acknowledges a replay: a firing trigger resolves when its condition clears.)"
    )
    return "\n".join(lines)


def json_report(test: Backtest, service: str) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

    return {
        "rule": test.name,
        "when": test.rule.describe(),
        "service": service,
        "options": test.options.describe(),
        "baseline": test.baseline,
        "samples": len(test.samples),
        "from": iso(test.samples[0].at) if test.samples else None,
        "to": iso(test.samples[-1].at) if test.samples else None,
        "turns": [
            {
                "at": iso(sample.at),
                "state": str(status.phase),
                "holding": status.holding,
                "since": iso(status.since),
                "fired_at": iso(status.fired_at),
                "detail": status.detail,
            }
            for sample, status in test.turns
        ],
    }


# ---------------------------------------------------------------- the command


def _moment(value: str | None, zone: str, option: str) -> datetime | None:
    """An ISO 8601 time; without an offset, on the plan's clock."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(
            f"{option} {value!r} is not a time: use ISO 8601, like 2024-03-20T14:30:00Z "
            f"(without a zone, the plan's: {zone})"
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))


def _positive(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    from warroom.domain.durations import parse_duration

    if value is None:
        return None
    try:
        duration = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if not duration:
        raise click.BadParameter("must be more than zero")
    return duration


@click.group("rules")
def rules() -> None:
    """Try the plan's trigger rules, and new ones, on what the room recorded."""


@common_options
@click.command("backtest")
@click.argument("rule")
@click.option("--service", required=True, help="The service whose recorded samples to replay.")
@click.option(
    "--from",
    "since",
    metavar="TIME",
    help="Start here (ISO 8601; default: the oldest sample kept).",
)
@click.option(
    "--to", "until", metavar="TIME", help="End here (ISO 8601; default: the newest sample)."
)
@click.option(
    "--keep-firing-for",
    callback=_positive,
    metavar="DURATION",
    help="Try keep_firing_for (like 1m).",
)
@click.option(
    "--no-data",
    type=click.Choice(["ignore", "breach", "inconclusive"]),
    help="Try what no data means.",
)
@click.option(
    "--inconclusive-after", type=click.IntRange(1, 10_000), help="Try inconclusive_after."
)
@click.option("--error-limit", type=click.IntRange(0, 10_000), help="Try an error_limit.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (UTC ISO 8601).")
def backtest_command(
    rule: str,
    service: str,
    since: str | None,
    until: str | None,
    keep_firing_for: timedelta | None,
    no_data: str | None,
    inconclusive_after: int | None,
    error_limit: int | None,
    as_json: bool,
) -> None:
    """Replay RULE over SERVICE's recorded samples: when it would have gone
    pending, fired and resolved, and a sparkline of what it watches.

    RULE is a rule of the plan (by name, with its options) or a rule
    expression such as "error_rate > 2% for 1m". Times are shown on the
    plan's clock, saying which zone.
    """
    from warroom.domain.rules import NoData
    from warroom.store.engine import StoreError
    from warroom.store.queries import current_release, recent_samples

    clock()  # a bad $WARROOM_NOW refuses here, as everywhere
    overrides: dict[str, Any] = {}
    if keep_firing_for is not None:
        overrides["keep_firing_for"] = keep_firing_for
    if no_data is not None:
        overrides["no_data"] = NoData(no_data)
    if inconclusive_after is not None:
        overrides["inconclusive_after"] = inconclusive_after
    if error_limit is not None:
        overrides["error_limit"] = error_limit
    with open_store() as store:
        try:
            with store.read() as session:
                wanted = flags().release
                release = current_release(session, wanted)
                if release is None:
                    fail(
                        f"release {wanted!r} is not loaded in this database"
                        if wanted
                        else f"no release is loaded in this database; load one with: {store.load_hint()}"
                    )
                zone = release.timezone
                start = _moment(since, zone, "--from") or datetime(1970, 1, 1, tzinfo=UTC)
                end = _moment(until, zone, "--to")
                if end is not None and end < start:
                    fail("--to is before --from")
                series = read_series(session, release, service, start, end)
                assert release.id is not None
                earlier = recent_samples(
                    session, release.id, service, datetime(1970, 1, 1, tzinfo=UTC)
                )
        except StoreError as exc:
            fail(str(exc))
    test = backtest(series, rule, overrides, earlier)
    if as_json:
        click.echo(json.dumps(json_report(test, service), indent=2))
    else:
        echo(text_report(test, service, series.zone))  # sanitised once more on the way out


rules.add_command(backtest_command)
