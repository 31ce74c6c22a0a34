"""Fuzzing plan files and rule expressions: `check` is the whole truth.

Plans are structure-aware mutations of the sample: a value replaced by a
hostile one, a key dropped or added, a list entry repeated, the text cut
short. Whatever `check` accepts must load on SQLite and on PostgreSQL;
whatever it refuses is refused with located errors, never a traceback.

CI runs a bounded number of examples; set WARROOM_FUZZ_EXAMPLES for more.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLE
from tests.pg import PgServer
from warroom.clock import FixedClock
from warroom.commands.load import load_plan
from warroom.domain.plan import Plan, PlanInvalid, parse_plan_text
from warroom.domain.rules import RuleSyntaxError, parse_rule
from warroom.store.engine import Store

EXAMPLES = int(os.environ.get("WARROOM_FUZZ_EXAMPLES", "60"))
# Per example: generous for a loaded CI machine, yet a hang fails fast.
DEADLINE_MS = 5_000

SAMPLE_TEXT = SAMPLE.read_text(encoding="utf-8")
# Every scalar as a string (BaseLoader), as the plan loader mostly sees them.
SAMPLE_DATA: dict[str, Any] = yaml.load(SAMPLE_TEXT, Loader=yaml.BaseLoader)

HOSTILE = [
    "", " ", "\x00", "a\x00b", "pat\n", "x" * 101, "x" * 201, "x" * 501, "x" * 9000,
    "99999999999999999999h", "169h", "168h", "0s", "1ms", "-5m", "10", "1h30m",
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2024-03-20T14:00:00",
    "2024-03-20T15:00:00Z", "2024-13-40T99:00:00Z", "1969-12-31T23:59:59Z",
    "http://[::1/health", "http://a\r\nb/", "http://127.0.0.1:99999/", "https://h/x?y#z",
    "warroom", "gng", "api-gateway", "auth-service", "sarah", "lisa", "backend", "ops",
    "release_manager", "oncall", "observer", "bogus", "Europe/Berlin", "Mars/Olympus",
    "health failing for 0 checks", "health failing for 99999999999 checks",
    "error_rate > 1% for 99999999999999999999h", "p99_ms > 2x baseline for 2m",
    "\x1b[2J", "\u202eevil", "caf\u00e9", "\ud800", "\x85", "ssh-ed25519 AAAA",
    "deploying", "waiting", "9" * 5000,
]  # fmt: skip

# Values check should accept in most places they land: at the limits, odd
# but legal. These find what check lets through and a database refuses.
PLAUSIBLE = [
    "x" * 100, "v" * 200, "d" * 500, "caf\u00e9 \u2615 \u202e", "tab\there", "two\nlines",
    "168h", "1ms", "59m59s", "2024-03-20T13:00:00+05:45", "2024-03-20T16:30:00Z",
    "http://[::1]:8080/health", "https://user@example.com/h?x=1#f", "http://127.0.0.1/",
    "api-gateway", "auth-service", "user-service", "sarah", "lisa", "raj", "backend", "infra",
    "p99_ms > 2x baseline for 168h", "health failing for 10000 checks", "0", "2.10", 7,
]  # fmt: skip

leaves = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=30),
    st.integers(),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(HOSTILE), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated_plans(draw: st.DrawFn, plausible: bool = False) -> str:
    """The sample plan's YAML after one to three structure-aware mutations
    (`plausible`: mostly values that check should accept)."""
    data = copy.deepcopy(SAMPLE_DATA)
    pool = st.sampled_from(PLAUSIBLE) if plausible else values
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent, last = _at(data, path[:-1]), path[-1]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "repeat", "swap"]))
        if action == "replace":
            parent[last] = draw(pool)
        elif action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(HOSTILE))] = draw(pool)
        elif action == "add":
            parent.insert(last, draw(pool))
        elif action == "repeat" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        else:  # swap with another value of the plan: valid parts in wrong places
            other = draw(st.sampled_from(paths))
            if other[: len(path)] != path and path[: len(other)] != other:
                parent[last] = copy.deepcopy(_at(data, other))
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=draw(st.booleans()))
    if not plausible and draw(st.integers(0, 9)) == 0:  # sometimes the file is cut short
        text = text[: draw(st.integers(0, len(text)))]
    return text


def _parse(text: str) -> Plan | None:
    """Parse `text`; a refusal must be located, printable, and only PlanInvalid."""
    try:
        return parse_plan_text(text, source="fuzz.yaml")
    except PlanInvalid as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.line is not None or issue.location, issue
        rendered = exc.render()
        rendered.encode("utf-8")  # printable on a UTF-8 terminal: no lone surrogates
        assert not any(ch < " " and ch != "\n" for ch in rendered), rendered
        return None


@settings(
    max_examples=EXAMPLES,
    deadline=DEADLINE_MS,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_plans())
def test_check_of_a_mutated_plan_is_a_plan_or_located_errors(text: str) -> None:
    _parse(text)


@pytest.fixture(scope="module")
def backends(_migrated_template: Path, pg_server: PgServer) -> Iterator[tuple[Path, PgServer]]:
    yield _migrated_template, pg_server


CLOCK = FixedClock(datetime(2024, 3, 20, 13, 20, tzinfo=UTC))


def _load_on(url: str, plan: Plan, text: str) -> None:
    store = Store(url)
    try:
        result = load_plan(store, plan, text, loaded_by=plan.manager, clock=CLOCK)
    finally:
        store.dispose()
    assert result.created


@settings(
    max_examples=max(EXAMPLES // 2, 10),
    deadline=None,  # a PostgreSQL database per accepted plan: bounded by the count instead
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_plans(plausible=True))
def test_every_plan_check_accepts_loads_on_both_backends(
    backends: tuple[Path, PgServer], text: str
) -> None:
    plan = _parse(text)
    if plan is None:
        return
    template, server = backends
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "warroom.db"
        shutil.copyfile(template, db)
        _load_on(f"sqlite:///{db}", plan, text)
    name = server.create_database(template="warroom_template")
    try:
        _load_on(server.url(name), plan, text)
    finally:
        server.drop_database(name)


# ---------------------------------------------------------------- rules

RULE_WORDS = [
    "error_rate", "p99_ms", "health", "failing", "for", "checks", "baseline", ">", ">=", "<",
    "<=", "==", "!=", "=", "1", "0", "1%", "2.5", "2x", "0x", "1.5x", "2m", "90s", "1h30m",
    "500ms", "0s", "169h", "99999999999999999999h", "9" * 5000, "10 minutes", "%", "x", "-",
    "\x00", "\u0663", "1e9", ".", "", " ", "\t", "Health", "FOR",
]  # fmt: skip

rule_texts = st.one_of(
    st.lists(st.sampled_from(RULE_WORDS), max_size=8).map(" ".join),
    st.lists(st.sampled_from(RULE_WORDS), max_size=8).map("".join),
    st.text(max_size=40),
)


@settings(max_examples=EXAMPLES * 3, deadline=DEADLINE_MS)
@given(rule_texts)
def test_a_rule_parses_or_names_its_column(text: str) -> None:
    try:
        rule = parse_rule(text)
    except RuleSyntaxError as exc:
        assert 1 <= exc.column <= len(text) + 1, (text, exc.column)
        assert str(exc).startswith(f"column {exc.column}: ")
        return
    assert rule.describe()
