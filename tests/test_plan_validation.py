"""Plan validation: a table row per kind of error, then every error at once.

Variants of the sample are made by editing its YAML text (so line numbers
stay meaningful) or by building small dicts with ISO strings for
`validate_plan`; the plan loader keeps timestamps as strings, so
`yaml.safe_load` of the sample would not give the same data.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from functools import reduce
from operator import getitem
from pathlib import Path
from typing import Any

import pytest
import yaml

from warroom.domain.plan import (
    Plan,
    PlanInvalid,
    PlanIssue,
    parse_plan_text,
    validate_plan,
)
from warroom.domain.rules import NoData, RuleOptions
from warroom.planfile import read_plan

SOURCE = "release.yaml"
ACCEPTED_DURATIONS = (
    "use a number with a unit h, m, s or ms, combined largest first, like 90s, 10m or 1h30m"
)
UNKNOWN_FIELD = "unknown field (check the spelling against the plan format)"


# ---------------------------------------------------------------- helpers


def edit(text: str, old: str, new: str) -> str:
    """Replace `old`, which must occur exactly once, by `new`."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """The 1-based line holding `needle`, which must be on exactly one line."""
    hits = [number for number, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}"
    return hits[0]


def invalid(text: str) -> PlanInvalid:
    with pytest.raises(PlanInvalid) as info:
        parse_plan_text(text, source=SOURCE)
    return info.value


def only_issue(text: str) -> PlanIssue:
    err = invalid(text)
    assert len(err.issues) == 1, err.render()
    return err.issues[0]


def base() -> dict[str, Any]:
    """A small valid plan as raw data, timestamps as ISO strings."""
    return {
        "release": "v1.0.0",
        "manager": "sarah",
        "window": {"start": "2024-03-20T14:00:00Z", "end": "2024-03-20T16:00:00Z"},
        "rollback_until": "2024-03-20T18:00:00Z",
        "go_no_go_at": "2024-03-20T13:30:00Z",
        "people": [
            {"name": "sarah", "role": "release_manager", "team": "ops"},
            {"name": "tom", "role": "team_lead", "team": "infra"},
            {"name": "raj", "role": "oncall", "team": "infra"},
        ],
        "services": [
            {"name": "a", "team": "infra", "version": "1.0.0"},
            {"name": "b", "team": "infra", "version": "1.0.0", "depends_on": ["a"]},
        ],
    }


def dict_issues(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(PlanInvalid) as info:
        validate_plan(data)
    assert all(issue.line is None for issue in info.value.issues)
    return [(issue.location, issue.message) for issue in info.value.issues]


def test_base_dict_is_valid_both_ways() -> None:
    assert validate_plan(base()).release == "v1.0.0"
    assert parse_plan_text(yaml.safe_dump(base())).services[1].depends_on == ("a",)


# ---------------------------------------------------------------- valid plans


def test_sample_plan_is_valid(sample_plan: Plan) -> None:
    assert sample_plan.release == "v2.5.0"
    assert sample_plan.manager == "sarah"
    assert [s.name for s in sample_plan.services] == [
        "api-gateway",
        "auth-service",
        "logging-service",
        "user-service",
        "mobile-backend",
        "web-frontend",
    ]
    assert sample_plan.window.start == datetime(2024, 3, 20, 14, 0, tzinfo=UTC)
    assert sample_plan.window.end == datetime(2024, 3, 20, 16, 0, tzinfo=UTC)
    assert sample_plan.services[2].expected_duration == timedelta(minutes=5)
    assert [t.rule.describe() for t in sample_plan.triggers] == [
        "error_rate > 1% for 2m",
        "p99_ms > 2x baseline for 2m",
        "health failing for 3 checks",
        "error_rate > 0.5% for 1m",
    ]
    assert [t.options.dry_run for t in sample_plan.triggers] == [False, False, False, True]
    assert sample_plan.teams == ["ops", "infra", "backend", "mobile", "frontend", "support"]


def test_the_sample_plan_declares_a_recurring_and_a_one_off_freeze(sample_plan: Plan) -> None:
    weekly, black_friday = (spec.freeze() for spec in sample_plan.freezes)
    assert weekly.name == "Friday afternoons" and weekly.rrule == "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16"
    assert weekly.duration == timedelta(hours=64)
    assert (black_friday.start, black_friday.end) == (
        datetime(2024, 11, 29, tzinfo=UTC),
        datetime(2024, 12, 3, tzinfo=UTC),
    )
    # Neither falls on release day: the demo's normal flow is not blocked.
    day = (sample_plan.go_no_go_at, sample_plan.rollback_until)
    assert not weekly.periods("UTC", *day) and not black_friday.periods("UTC", *day)


def test_read_plan_reads_the_sample_file(sample_plan: Plan) -> None:
    path = Path(__file__).resolve().parent.parent / "sample_data" / "release-v2.5.0.yaml"
    assert read_plan(str(path)).plan == sample_plan


def test_versions_stay_strings(sample_text: str) -> None:
    text = edit(sample_text, "version: 1.8.0\n", "version: 2.10\n")
    text = edit(text, "previous_version: 1.7.0\n", "previous_version: 2.9\n")
    text = edit(text, "version: 2.0.0\n", "version: 3\n")
    plan = parse_plan_text(text)
    assert plan.services[0].version == "2.10"
    assert plan.services[0].previous_version == "2.9"
    assert plan.services[4].version == "3"


def test_offsets_are_converted_to_utc(sample_text: str) -> None:
    text = edit(
        sample_text, "go_no_go_at: 2024-03-20T13:30:00Z", "go_no_go_at: 2024-03-20T14:30:00+01:00"
    )
    plan = parse_plan_text(text)
    assert plan.go_no_go_at == datetime(2024, 3, 20, 13, 30, tzinfo=UTC)
    assert plan.go_no_go_at.tzinfo is UTC


def test_default_steps_apply_to_services_without_steps(sample_plan: Plan) -> None:
    by_name = {s.name: s for s in sample_plan.services}
    mobile = by_name["mobile-backend"]
    assert mobile.steps is None
    assert sample_plan.steps_for(mobile) == (
        "Deploy",
        "Run smoke tests",
        "Check error rates",
        "Verify integrations",
    )
    assert sample_plan.steps_for(by_name["logging-service"]) == (
        "Deploy 1.4.0",
        "Verify log shipping",
    )


def test_built_in_default_steps_when_the_plan_has_none() -> None:
    plan = validate_plan(base())
    assert plan.steps_for(plan.services[0]) == ("Deploy", "Run smoke tests", "Verify")


def test_owner_of_named_owner_else_team_oncall(sample_plan: Plan) -> None:
    owners = {s.name: sample_plan.owner_of(s) for s in sample_plan.services}
    assert owners == {
        "api-gateway": "raj",
        "auth-service": "lisa",
        "logging-service": "raj",
        "user-service": "lisa",  # named owner
        "mobile-backend": "omar",
        "web-frontend": "kim",
    }


def test_owner_of_falls_back_to_team_lead_then_none(sample_text: str) -> None:
    no_oncall = parse_plan_text(
        edit(sample_text, "  - {name: kim,   role: oncall,    team: frontend}\n", "")
    )
    assert no_oncall.owner_of(no_oncall.services[5]) == "jen"
    # support has only an observer: nobody to own its service.
    observers_only = parse_plan_text(
        edit(sample_text, "    team: frontend\n", "    team: support\n")
    )
    assert observers_only.owner_of(observers_only.services[5]) is None


def test_named_owner_wins_over_oncall(sample_text: str) -> None:
    text = edit(sample_text, "    team: mobile\n", "    team: mobile\n    owner: ana\n")
    plan = parse_plan_text(text)
    assert plan.owner_of(plan.services[4]) == "ana"


# ---------------------------------------------------------------- one error at a time

# Each row edits the sample's text once: the plan is refused with exactly this
# error ("location: message"), reported on the line where the edit ends.
TEXT_ERRORS = {
    "unknown dependency": (
        "depends_on: [auth-service]\n",
        "depends_on: [billing]\n",
        "services[3].depends_on[0]: unknown service 'billing'",
    ),
    "cycle named from its first member in the plan": (
        "    version: 1.8.0\n",
        "    version: 1.8.0\n    depends_on: [logging-service]\n",
        "services[0].depends_on: dependency cycle: api-gateway -> logging-service -> api-gateway",
    ),
    "duplicate service": (
        "- name: logging-service\n",
        "- name: auth-service\n",
        "services[2].name: duplicate service name 'auth-service' (also services[1])",
    ),
    "duplicate person": (
        "{name: kim,",
        "{name: jen,",
        "people[8].name: duplicate person name 'jen' (also people[7])",
    ),
    "duplicate trigger": (
        "{name: latency,",
        "{name: error-rate,",
        "triggers[1].name: duplicate trigger name 'error-rate' (also triggers[0])",
    ),
    "unknown team of a service": (
        "    team: frontend\n",
        "    team: payments\n",
        "services[5].team: unknown team 'payments': no person in people is on it",
    ),
    "unknown team in readiness": (
        "  frontend:\n",
        "  payments:\n",
        "readiness.payments: unknown team 'payments': no person in people is on it",
    ),
    "unknown manager": (
        "manager: sarah\n",
        "manager: bob\n",
        "manager: unknown person 'bob': the manager must be listed in people",
    ),
    "unknown owner": ("owner: lisa\n", "owner: zed\n", "services[3].owner: unknown person 'zed'"),
    "manager who is not a release manager": (
        "manager: sarah\n",
        "manager: tom\n",
        "manager: tom is team_lead; the manager's role must be release_manager",
    ),
    "trigger scoped to an unknown service": (
        'when: "health failing for 3 checks"',
        'when: "health failing for 3 checks", services: [api-gateway, billing]',
        "triggers[2].services[1]: unknown service 'billing'",
    ),
    "bad duration": (
        "expected_duration: 5m\n",
        "expected_duration: 10 minutes\n",
        f"services[2].expected_duration: bad duration '10 minutes': {ACCEPTED_DURATIONS}",
    ),
    "timestamp without a zone": (
        "rollback_until: 2024-03-20T18:00:00Z",
        "rollback_until: 2024-03-20T18:00:00",
        "rollback_until: timestamp 2024-03-20T18:00:00 has no time zone: add Z or an offset like +01:00",
    ),
    "bad timestamp": (
        "go_no_go_at: 2024-03-20T13:30:00Z",
        "go_no_go_at: half past one",
        "go_no_go_at: bad timestamp 'half past one': use ISO 8601 with a zone, like 2024-03-20T14:00:00Z",
    ),
    "window ending before it starts": (
        "end: 2024-03-20T16:00:00Z",
        "end: 2024-03-20T13:00:00Z",
        "window.end: the window ends before it starts",
    ),
    "window ending as it starts": (
        "end: 2024-03-20T16:00:00Z",
        "end: 2024-03-20T14:00:00Z",
        "window.end: the window ends before it starts",
    ),
    "rollback window ending before the deploy window": (
        "rollback_until: 2024-03-20T18:00:00Z",
        "rollback_until: 2024-03-20T15:00:00Z",
        "rollback_until: the rollback window ends before the deploy window does",
    ),
    "go-no-go after the window starts": (
        "go_no_go_at: 2024-03-20T13:30:00Z",
        "go_no_go_at: 2024-03-20T14:30:00Z",
        "go_no_go_at: the go/no-go meeting is after the deploy window starts",
    ),
    "trigger rule that does not parse": (
        'when: "error_rate > 1% for 2m"',
        'when: "error_rate > for 2m"',
        "triggers[0].when: column 14: expected a number, a percentage or Nx baseline, got 'for' in 'error_rate > for 2m'",
    ),
    "unknown role": (
        "role: observer,",
        "role: watcher,",
        "people[9].role: unknown role 'watcher': use one of release_manager, team_lead, oncall, observer",
    ),
    "misspelt field": (
        "previous_version: 1.7.0\n",
        "previous_verison: 1.7.0\n",
        f"services[0].previous_verison: {UNKNOWN_FIELD}",
    ),
    "unknown time zone": (
        "timezone: UTC\n",
        "timezone: Mars/Olympus\n",
        "timezone: unknown time zone 'Mars/Olympus': use an IANA name like UTC or Europe/Berlin",
    ),
    "health timeout as long as the interval": (
        '9101/health", interval: 5s, timeout: 2s',
        '9101/health", interval: 5s, timeout: 5s',
        "services[0].health.timeout: the timeout must be shorter than the interval",
    ),
    "key written twice": (
        "    version: 1.8.0\n",
        "    version: 1.8.0\n    version: 1.8.1\n",
        "services[0].version: duplicate key: it is written twice",
    ),
    "top-level key written twice": (
        "description: A tighter error-rate rule on trial}\n",
        "description: A tighter error-rate rule on trial}\nrelease: v2.5.1\n",
        "release: duplicate key: it is written twice",
    ),
}


@pytest.mark.parametrize(("old", "new", "error"), TEXT_ERRORS.values(), ids=TEXT_ERRORS)
def test_an_error_is_reported_on_the_line_written(
    sample_text: str, old: str, new: str, error: str
) -> None:
    # The line on which the new text ends.
    line = sample_text[: sample_text.index(old)].count("\n") + new.rstrip("\n").count("\n") + 1
    assert invalid(edit(sample_text, old, new)).render() == f"{SOURCE}:{line}: {error}"


# ---------------------------------------------------------------- a trigger's options

ERROR_RULE_ENTRY = '{name: error-rate, when: "error_rate > 1% for 2m",'
DOWN_ENTRY = '{name: down,       when: "health failing for 3 checks",'

# Each row adds options to one trigger of the sample: the plan is refused with
# exactly this error, on that trigger's line.
OPTION_ERRORS = {
    "keep_firing_for not a duration": (
        ERROR_RULE_ENTRY,
        "keep_firing_for: 1 minute",
        f"triggers[0].keep_firing_for: bad duration '1 minute': {ACCEPTED_DURATIONS}",
    ),
    "keep_firing_for of zero": (
        ERROR_RULE_ENTRY,
        "keep_firing_for: 0s",
        "triggers[0].keep_firing_for: duration '0s' must be more than zero",
    ),
    "keep_firing_for over a week": (
        ERROR_RULE_ENTRY,
        "keep_firing_for: 200h",
        "triggers[0].keep_firing_for: duration '200h' is longer than 168h: "
        "durations in a plan are at most a week",
    ),
    "unknown no_data": (
        ERROR_RULE_ENTRY,
        "no_data: maybe",
        "triggers[0].no_data: unknown no_data 'maybe': use one of ignore, breach, inconclusive",
    ),
    "inconclusive_after of zero": (
        ERROR_RULE_ENTRY,
        "no_data: inconclusive, inconclusive_after: 0",
        "triggers[0].inconclusive_after: expected a whole number from 1 to 10000, got '0'",
    ),
    "inconclusive_after as text": (
        ERROR_RULE_ENTRY,
        "no_data: inconclusive, inconclusive_after: three",
        "triggers[0].inconclusive_after: expected a whole number from 1 to 10000, got 'three'",
    ),
    "inconclusive_after without no_data inconclusive": (
        ERROR_RULE_ENTRY,
        "no_data: breach, inconclusive_after: 3",
        "triggers[0].inconclusive_after: inconclusive_after counts samples without data "
        "before asking the release manager: it needs no_data: inconclusive",
    ),
    "dry_run not true or false": (
        ERROR_RULE_ENTRY,
        "dry_run: sometimes",
        "triggers[0].dry_run: expected true or false, got 'sometimes'",
    ),
    "dry_run quoted": (
        ERROR_RULE_ENTRY,
        'dry_run: "true"',
        "triggers[0].dry_run: expected true or false, got 'true'",
    ),
    "negative error_limit": (
        ERROR_RULE_ENTRY,
        "error_limit: -1",
        "triggers[0].error_limit: expected a whole number from 0 to 10000, got '-1'",
    ),
    "error_limit over the cap": (
        ERROR_RULE_ENTRY,
        "error_limit: 10001",
        "triggers[0].error_limit: expected a whole number from 0 to 10000, got '10001'",
    ),
    "no_data on a health rule": (
        DOWN_ENTRY,
        "no_data: breach",
        "triggers[2].no_data: no_data does not apply to 'health failing for 3 checks': "
        "every probe is data for it",
    ),
    "error_limit on a health rule": (
        DOWN_ENTRY,
        "error_limit: 2",
        "triggers[2].error_limit: error_limit does not apply to 'health failing for 3 checks': "
        "a failing probe is what it watches",
    ),
    "misspelt option": (
        ERROR_RULE_ENTRY,
        "keep_firing: 1m",
        f"triggers[0].keep_firing: {UNKNOWN_FIELD}",
    ),
}


# Each row edits the sample's freezes: `warroom check` (and load) refuses
# with exactly this error, on the line written (a field left out: on its
# freeze's first line).
WEEKLY_RULE = 'rrule: "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16"'
ONE_OFF = "{name: Black Friday, start: 2024-11-29T00:00:00Z, end: 2024-12-03T00:00:00Z, reason: peak traffic}"
FREEZE_ERRORS = {
    "bad rrule": (
        WEEKLY_RULE,
        'rrule: "FREQ=WEEKLY;BYDAY=FRI;BYHOUR=16"',
        "freezes[0].rrule: not a valid RRULE: invalid 'BYDAY': FRI",
    ),
    "rrule that is not one": (
        WEEKLY_RULE,
        'rrule: "every friday"',
        "freezes[0].rrule: 'EVERY FRIDAY' is not a NAME=VALUE part of an RRULE",
    ),
    "rrule too fine": (
        WEEKLY_RULE,
        'rrule: "FREQ=MINUTELY"',
        "freezes[0].rrule: FREQ=MINUTELY is too fine for a freeze: a freeze recurs at most hourly",
    ),
    "rrule counting from nowhere": (
        WEEKLY_RULE,
        'rrule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR"',
        "freezes[0].rrule: a rule with INTERVAL counts from its first occurrence: give the "
        "freeze a `start` in 'FREQ=WEEKLY;INTERVAL=2;BYDAY=FR'",
    ),
    "rrule with no day": (
        WEEKLY_RULE,
        'rrule: "FREQ=WEEKLY;BYHOUR=16"',
        "freezes[0].rrule: say which day a WEEKLY rule falls on (like BYDAY=FR or BYMONTHDAY=1), "
        "or give the freeze a `start` it counts from in 'FREQ=WEEKLY;BYHOUR=16'",
    ),
    "missing name": (
        "  - name: Friday afternoons\n    rrule:",
        "  - rrule:",
        "freezes[0].name: required field is missing",
    ),
    "empty name": (
        "name: Black Friday,",
        "name: '',",
        "freezes[1].name: must not be empty",
    ),
    "the window's name": (
        "name: Black Friday,",
        "name: Window,",
        "freezes[1].name: 'window' names the deploy window in overrides: call the freeze something else",
    ),
    "a name twice": (
        "name: Black Friday,",
        "name: friday AFTERNOONS,",
        "freezes[1].name: duplicate freeze name 'friday AFTERNOONS' (also freezes[0]): "
        "overrides name a freeze, so each name is used once",
    ),
    "end before start": (
        "end: 2024-12-03T00:00:00Z",
        "end: 2024-11-28T00:00:00Z",
        "freezes[1].end: the freeze ends before it starts",
    ),
    "end missing": (
        ", end: 2024-12-03T00:00:00Z",
        "",
        "freezes[1].end: required field is missing (a one-off freeze has a start and an end; "
        "a recurring one an rrule and a duration)",
    ),
    "bad start": (
        "start: 2024-11-29T00:00:00Z",
        "start: 2024-11-29",
        "freezes[1].start: timestamp 2024-11-29 has no time zone: add Z or an offset like +01:00",
    ),
    "duration missing": (
        "    duration: 64h                             # ... until Monday 08:00\n",
        "",
        "freezes[0].duration: a recurring freeze needs a duration, like 8h",
        "- name: Friday afternoons",
    ),
    "duration zero": (
        "duration: 64h ",
        "duration: 0m ",
        "freezes[0].duration: duration '0m' must be more than zero",
    ),
    "duration past a week": (
        "duration: 64h ",
        "duration: 169h ",
        "freezes[0].duration: duration '169h' is longer than 168h: durations in a plan are at most a week",
    ),
    "duration on a one-off": (
        "reason: peak traffic}",
        "reason: peak traffic, duration: 1h}",
        "freezes[1].duration: a duration goes with an rrule: a one-off freeze has a start and an end",
    ),
    "end on a recurring one": (
        "    reason: no deploys into the weekend\n",
        "    reason: no deploys into the weekend\n    end: 2024-12-01T00:00:00Z\n",
        "freezes[0].end: a recurring freeze lasts a `duration` from each occurrence, not until an `end`",
    ),
    "unknown key": (
        "reason: peak traffic}",
        "reason: peak traffic, colour: red}",
        f"freezes[1].colour: {UNKNOWN_FIELD}",
    ),
    "not a list": (
        "freezes:\n",
        "freezes: Fridays\nfrozen:\n",
        f"frozen: {UNKNOWN_FIELD}",
    ),
}


@pytest.mark.parametrize(("entry", "options", "error"), OPTION_ERRORS.values(), ids=OPTION_ERRORS)
def test_a_bad_trigger_option_is_reported_at_its_field_and_line(
    sample_text: str, entry: str, options: str, error: str
) -> None:
    text = edit(sample_text, entry, f"{entry} {options},")
    assert invalid(text).render() == f"{SOURCE}:{line_of(text, entry)}: {error}"


def test_trigger_options_parse_into_the_rules_options(sample_text: str) -> None:
    text = edit(
        sample_text,
        ERROR_RULE_ENTRY,
        f"{ERROR_RULE_ENTRY} keep_firing_for: 1m, no_data: inconclusive, inconclusive_after: 4,"
        " dry_run: true, error_limit: 2,",
    )
    trigger = parse_plan_text(text).triggers[0]
    assert trigger.options == RuleOptions(
        keep_firing_for=timedelta(minutes=1),
        no_data=NoData.INCONCLUSIVE,
        inconclusive_after=4,
        dry_run=True,
        error_limit=2,
    )
    assert trigger.options.describe() == (
        "keep_firing_for 1m, no_data inconclusive after 4, error_limit 2, dry run"
    )
    # Without any: the rule as it always was.
    assert parse_plan_text(sample_text).triggers[0].options == RuleOptions()


@pytest.mark.parametrize("row", FREEZE_ERRORS.values(), ids=FREEZE_ERRORS)
def test_a_bad_freeze_is_refused_with_its_location(sample_text: str, row: tuple[str, ...]) -> None:
    old, new, error, *at = row
    text = edit(sample_text, old, new)
    line = sample_text[: sample_text.index(old)].count("\n") + new.rstrip("\n").count("\n") + 1
    if at:
        line = line_of(text, at[0])
    issue = invalid(text).issues
    rendered = [i.render(SOURCE) for i in issue]
    assert f"{SOURCE}:{line}: {error}" in rendered, rendered


def test_a_freeze_list_of_the_wrong_kind_is_located(sample_text: str) -> None:
    text = sample_text[: sample_text.index("freezes:\n")] + "freezes: Fridays\n"
    issue = only_issue(text)
    assert (issue.location, issue.message) == ("freezes", "expected a list, got str")
    assert issue.line == line_of(text, "freezes: Fridays")


DROP = object()  # remove the field instead

# Each row changes one field of base(): the plan is refused with exactly this
# error, and no line (a dict has none).
DATA_ERRORS = {
    "self dependency": (
        "services[1].depends_on",
        ["b"],
        "services[1].depends_on: dependency cycle: b -> b",
    ),
    "team lead without a team": (
        "people[1].team",
        DROP,
        "people[1].team: a team_lead needs a team",
    ),
    "duration without a unit": (
        "services[0].expected_duration",
        10,
        "services[0].expected_duration: bad duration 10: add a unit, like 10s or 10m",
    ),
    "zero duration": (
        "services[0].expected_duration",
        "0s",
        "services[0].expected_duration: duration '0s' must be more than zero",
    ),
    "unknown top-level field": ("relase_notes", "x", f"relase_notes: {UNKNOWN_FIELD}"),
    "health timeout against the default interval": (
        "services[0].health",
        {"url": "http://127.0.0.1:9/health", "timeout": "10s"},
        "services[0].health.timeout: the timeout must be shorter than the interval",
    ),
    "health url that is not http": (
        "services[0].health",
        {"url": "ftp://example.com/health"},
        "services[0].health.url: bad health url 'ftp://example.com/health': use http:// or https:// and a host",
    ),
    "section that is not a list": (
        "services",
        {"a": {"team": "infra"}},
        "services: expected a list, got dict",
    ),
    # Checks that need a missing field are skipped, not reported as noise.
    **{
        f"missing {key}": (key, DROP, f"{key}: required field is missing")
        for key in ["release", "manager", "window", "rollback_until", "go_no_go_at", "services"]
    },
}


@pytest.mark.parametrize(("where", "value", "error"), DATA_ERRORS.values(), ids=DATA_ERRORS)
def test_an_error_in_plan_data_is_reported_at_its_field(
    where: str, value: object, error: str
) -> None:
    plan: Any = base()
    *path, last = [int(key) if key.isdigit() else key for key in re.findall(r"[^.\[\]]+", where)]
    parent = reduce(getitem, path, plan)
    if value is DROP:
        del parent[last]
    else:
        parent[last] = value
    with pytest.raises(PlanInvalid) as info:
        validate_plan(plan)
    assert info.value.render() == error


# ---------------------------------------------------------------- references


def test_dependency_cycle_names_every_member_in_order() -> None:
    data = base()
    data["services"] = [
        {"name": "a", "team": "infra", "version": "1", "depends_on": ["b"]},
        {"name": "b", "team": "infra", "version": "1", "depends_on": ["c"]},
        {"name": "c", "team": "infra", "version": "1", "depends_on": ["a"]},
    ]
    assert dict_issues(data) == [("services[0].depends_on", "dependency cycle: a -> b -> c -> a")]


def test_two_cycles_are_both_reported() -> None:
    data = base()
    data["services"] = [
        {"name": n, "team": "infra", "version": "1", "depends_on": [d]}
        for n, d in [("x", "y"), ("c", "a"), ("a", "b"), ("b", "c"), ("y", "x")]
    ]
    assert dict_issues(data) == [
        ("services[0].depends_on", "dependency cycle: x -> y -> x"),
        ("services[1].depends_on", "dependency cycle: c -> a -> b -> c"),
    ]


# ---------------------------------------------------------------- field values


def test_missing_required_service_field(sample_text: str) -> None:
    text = edit(sample_text, "    version: 2.0.0\n", "")
    issue = only_issue(text)
    assert issue.location == "services[4].version"
    assert issue.message == "required field is missing"
    # The line of the service that lacks it.
    assert issue.line == line_of(text, "- name: mobile-backend")


def test_missing_people() -> None:
    data = base()
    del data["people"]
    issues = dict_issues(data)
    assert issues[0] == ("people", "required field is missing")
    assert ("manager", "unknown person 'sarah': the manager must be listed in people") in issues


# ---------------------------------------------------------------- YAML itself


def test_merge_key_override_is_not_a_duplicate(sample_text: str) -> None:
    text = edit(sample_text, "  - name: api-gateway\n", "  - &gw\n    name: api-gateway\n")
    text = edit(
        text,
        "  - name: logging-service\n    team: infra\n",
        "  - <<: *gw\n    name: logging-service\n",
    )
    plan = parse_plan_text(text, source=SOURCE)
    assert plan.services[2].name == "logging-service"
    assert plan.services[2].team == "infra"


def test_invalid_yaml_syntax_reports_its_line(sample_text: str) -> None:
    text = edit(sample_text, "timezone: UTC\n", "timezone: UTC: Z\n")
    err = invalid(text)
    [issue] = err.issues
    assert issue.location == ""
    assert issue.message.startswith("not valid YAML:")
    assert issue.line == line_of(text, "timezone: UTC: Z")
    assert err.render() == f"{SOURCE}:{issue.line}: {issue.message}"


def test_unclosed_bracket_is_invalid_yaml() -> None:
    err = invalid("release: v1\nmanager: [sarah\nwindow: x\n")
    [issue] = err.issues
    assert issue.message.startswith("not valid YAML:")
    assert issue.line == 3


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "plain words\n"])
def test_plan_must_be_a_mapping(text: str) -> None:
    [issue] = invalid(text).issues
    assert issue.location == ""
    assert issue.message.startswith("a plan is a YAML mapping")


# ---------------------------------------------------------------- every error at once


def test_all_errors_are_reported_at_once_with_lines(sample_text: str) -> None:
    text = sample_text
    text = edit(text, "go_no_go_at: 2024-03-20T13:30:00Z", "go_no_go_at: 2024-03-20T13:30:00")
    text = edit(text, "role: observer,", "role: watcher,")
    text = edit(text, "expected_duration: 5m\n", "expected_duration: 5 minutes\n")
    text = edit(text, "depends_on: [auth-service]\n", "depends_on: [billing]\n")
    text = edit(text, "    version: 2.0.0\n", "    versoin: 2.0.0\n")
    text = edit(text, 'when: "error_rate > 1% for 2m"', 'when: "error_rate > for 2m"')

    err = invalid(text)
    expected = [
        ("go_no_go_at", line_of(text, "go_no_go_at:"), "has no time zone"),
        ("people[9].role", line_of(text, "watcher"), "unknown role 'watcher'"),
        ("services[2].expected_duration", line_of(text, "5 minutes"), "bad duration '5 minutes'"),
        ("services[3].depends_on[0]", line_of(text, "[billing]"), "unknown service 'billing'"),
        ("services[4].versoin", line_of(text, "versoin"), "unknown field"),
        (
            "services[4].version",
            line_of(text, "- name: mobile-backend"),
            "required field is missing",
        ),
        ("triggers[0].when", line_of(text, "error_rate > for 2m"), "column 14"),
    ]
    assert len(err.issues) == len(expected), err.render()
    assert str(err) == f"{len(expected)} errors in the plan"
    # Reported in reading order, by line.
    by_location = {issue.location: issue for issue in err.issues}
    assert [i.location for i in err.issues] == [
        loc for loc, _, _ in sorted(expected, key=lambda e: e[1])
    ]
    for location, line, phrase in expected:
        issue = by_location[location]
        assert issue.line == line, location
        assert phrase in issue.message, location

    rendered = err.render().splitlines()
    assert len(rendered) == len(expected)
    for issue, out in zip(err.issues, rendered, strict=True):
        assert out == f"{SOURCE}:{issue.line}: {issue.location}: {issue.message}"


def test_one_bad_entry_does_not_hide_the_next() -> None:
    data = base()
    data["services"][0]["expected_duration"] = "soon"
    data["services"][1]["team"] = "nobody"
    data["services"][1]["depends_on"] = ["ghost"]
    data["people"][2]["role"] = "intern"
    locations = [location for location, _ in dict_issues(data)]
    assert sorted(locations) == sorted(
        [
            "services[0].expected_duration",
            "services[1].team",
            "services[1].depends_on[0]",
            "people[2].role",
        ]
    )


def test_single_error_message_is_singular() -> None:
    data = base()
    data["services"][0]["owner"] = "nobody"
    with pytest.raises(PlanInvalid) as info:
        validate_plan(data)
    assert str(info.value) == "1 error in the plan"
    # From a dict there is no line and no source.
    assert info.value.render() == "services[0].owner: unknown person 'nobody'"


def test_issue_render_forms() -> None:
    issue = PlanIssue("manager", "unknown person 'bob'", 3)
    assert issue.render("p.yaml") == "p.yaml:3: manager: unknown person 'bob'"
    assert issue.render() == "line 3: manager: unknown person 'bob'"
    assert PlanIssue("manager", "m").render("p.yaml") == "p.yaml: manager: m"
    assert PlanIssue("", "m").render() == "m"


def test_dict_variant_survives_yaml_round_trip() -> None:
    data = copy.deepcopy(base())
    data["services"][0]["version"] = "2.10"
    data["window"]["start"] = "2024-03-20T14:00:00"
    with pytest.raises(PlanInvalid) as info:
        parse_plan_text(yaml.safe_dump(data), source=SOURCE)
    [issue] = info.value.issues
    assert issue.location == "window.start"
    assert issue.line is not None
    assert info.value.render().startswith(f"{SOURCE}:{issue.line}: window.start: timestamp")


# ---------------------------------------------------------------- reading plan files (warroom.planfile)


def test_read_plan_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(PlanInvalid) as info:
        read_plan(str(path))
    [issue] = info.value.issues
    assert issue.message.startswith("cannot read the plan")
    assert info.value.render().startswith(f"{path}: cannot read the plan")


def test_read_plan_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("release: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(PlanInvalid) as info:
        read_plan(str(path))
    [issue] = info.value.issues
    assert issue.message.startswith("the plan is not UTF-8 text (byte 13 is not)")
    assert issue.line == 1


def test_read_plan_errors_carry_the_path_and_line(tmp_path: Path, sample_text: str) -> None:
    path = tmp_path / "plan.yaml"
    text = edit(sample_text, "owner: lisa\n", "owner: zed\n")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlanInvalid) as info:
        read_plan(str(path))
    line = line_of(text, "owner: zed")
    assert info.value.render() == f"{path}:{line}: services[3].owner: unknown person 'zed'"


def test_ssh_keys_are_checked_when_the_plan_is_read(sample_text: str) -> None:
    import base64

    good_blob = base64.b64encode(
        b"\x00\x00\x00\x0bssh-ed25519" + b"\x00\x00\x00\x20" + b"k" * 32
    ).decode()
    text = sample_text.replace(
        "  - {name: mike,  role: team_lead, team: backend}",
        f'  - {{name: mike,  role: team_lead, team: backend, ssh_keys: ["ssh-ed25519 {good_blob} mike@laptop", '
        f'"ssh-ed25519 AAAAnotbase64!", "ssh-rsa {good_blob}", "hello"]}}',
    )
    with pytest.raises(PlanInvalid) as info:
        parse_plan_text(text, source="p.yaml")
    messages = {issue.location: issue.message for issue in info.value.issues}
    assert "people[3].ssh_keys[0]" not in messages
    assert "not valid base64" in messages["people[3].ssh_keys[1]"]
    assert "does not hold an ssh-rsa key" in messages["people[3].ssh_keys[2]"]
    assert messages["people[3].ssh_keys[3]"].startswith("not an OpenSSH public key")
