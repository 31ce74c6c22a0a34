"""Hostile plan files: each reproduction of issue 10 refused by `check` with a
location, quickly, and without a traceback.

Plans that used to exhaust the process (billion laughs, /dev/zero, a FIFO)
run in a subprocess with a memory limit and a timeout, so that a regression
fails the test instead of the machine.
"""

from __future__ import annotations

import base64
import os
import resource
import subprocess
import sys
from pathlib import Path

import asyncssh
import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import String
from sqlmodel import AutoString

from tests.conftest import SAMPLE
from warroom.domain import limits
from warroom.domain.plan import PlanInvalid, PlanIssue, _to_health_url, parse_plan_text
from warroom.store import models as m

WARROOM = Path(sys.executable).parent / "warroom"
SOURCE = "plan.yaml"
SAMPLE_TEXT = SAMPLE.read_text(encoding="utf-8")


def edit(old: str, new: str, text: str = SAMPLE_TEXT) -> str:
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def refused(text: str) -> PlanIssue:
    """The one issue `check` finds in `text`; it must say where."""
    with pytest.raises(PlanInvalid) as info:
        parse_plan_text(text, source=SOURCE)
    assert len(info.value.issues) == 1, info.value.render()
    issue = info.value.issues[0]
    assert issue.line is not None, issue
    return issue


def _limit_memory() -> None:
    # 1 GiB: far more than a plan needs, far less than a billion laughs takes.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def warroom(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real executable, bounded in memory and time; never a traceback."""
    env = {**os.environ, "WARROOM_USER": "sarah"}
    proc = subprocess.run(
        [str(WARROOM), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_limit_memory,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "MemoryError" not in proc.stderr, proc.stderr
    return proc


BILLION_LAUGHS = "".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
        *(
            f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


# ---------------------------------------------------------------- exhausting the process


@pytest.mark.parametrize("command", ["check", "load"])
def test_billion_laughs_is_refused_quickly_with_a_line(tmp_path: Path, command: str) -> None:
    plan = tmp_path / "laughs.yaml"
    plan.write_text(BILLION_LAUGHS, encoding="utf-8")
    args = ["check", str(plan)]
    if command == "load":
        args = ["load", "--db", f"sqlite:///{tmp_path / 'w.db'}", str(plan)]
    proc = warroom(*args, cwd=tmp_path)
    assert proc.returncode == 1
    # Level f (line 6) is the first past the cap: 597,871 values against e's 66,430.
    assert f"{plan}:6: the plan grows past {limits.MAX_PLAN_VALUES} values" in proc.stderr
    assert not (tmp_path / "w.db").exists()


def test_a_few_anchors_and_aliases_still_load() -> None:
    text = edit(
        '    health: {url: "http://127.0.0.1:9101/health", interval: 5s, timeout: 2s}\n',
        '    health: &probe {url: "http://127.0.0.1:9101/health", interval: 5s, timeout: 2s}\n',
    )
    text = edit(
        '    health: {url: "http://127.0.0.1:9102/health", interval: 5s, timeout: 2s}\n',
        "    health: *probe\n",
        text,
    )
    plan = parse_plan_text(text)
    assert plan.services[1].health == plan.services[0].health


def test_an_alias_inside_its_own_value_is_refused() -> None:
    issue = refused(edit("go_no_go:\n", "loop: &loop [*loop]\ngo_no_go:\n"))
    assert "an alias refers to a value that contains it" in issue.message
    assert issue.line == SAMPLE_TEXT.splitlines().index("go_no_go:") + 1


def test_deep_nesting_is_refused_with_a_line() -> None:
    depth = limits.MAX_PLAN_DEPTH + 5
    issue = refused(edit("go_no_go:\n", "deep: " + "[" * depth + "]" * depth + "\ngo_no_go:\n"))
    assert f"nest more than {limits.MAX_PLAN_DEPTH} deep" in issue.message


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_check_refuses_what_is_not_a_regular_file(tmp_path: Path, special: str) -> None:
    path = special
    if special == "fifo":
        path = str(tmp_path / "plan.fifo")
        os.mkfifo(path)  # nobody writes to it: reading would block forever
    proc = warroom("check", path, cwd=tmp_path)
    assert proc.returncode == 1
    assert f"{path}: the plan is not a regular file" in proc.stderr


def test_a_plan_past_the_size_cap_is_refused(tmp_path: Path) -> None:
    plan = tmp_path / "big.yaml"
    padding = "#" * 99 + "\n"
    plan.write_text(SAMPLE_TEXT + padding * (limits.MAX_PLAN_BYTES // 100), encoding="utf-8")
    proc = warroom("check", str(plan), cwd=tmp_path)
    assert proc.returncode == 1
    assert f"the plan is larger than {limits.MAX_PLAN_BYTES // 1024} KiB" in proc.stderr


def test_load_of_a_non_utf8_file_is_a_located_sentence(tmp_path: Path) -> None:
    plan = tmp_path / "latin1.yaml"
    plan.write_bytes(SAMPLE_TEXT.encode("utf-8").replace(b"manager: sarah", b"manager: s\xe4rah"))
    proc = warroom("load", "--db", f"sqlite:///{tmp_path / 'w.db'}", str(plan), cwd=tmp_path)
    assert proc.returncode == 1
    line = SAMPLE_TEXT.splitlines().index("manager: sarah") + 1
    assert f"{plan}:{line}: the plan is not UTF-8 text" in proc.stderr


# ---------------------------------------------------------------- overflowing numbers


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("interval: 5s, timeout: 2s}\n    rollback: {command: \"kubectl rollout undo deployment/api-gateway\"",
         "interval: 99999999999999999999h, timeout: 2s}\n    rollback: {command: \"kubectl rollout undo deployment/api-gateway\"",
         "services[0].health.interval"),
        ("expected_duration: 5m", "expected_duration: 999999999999h", "services[2].expected_duration"),
        ("expected_duration: 5m", "expected_duration: 99999999h", "services[2].expected_duration"),
        ("expected_duration: 5m", "expected_duration: 169h", "services[2].expected_duration"),
        ("deployment/auth\", expected_duration: 2m}", "deployment/auth\", expected_duration: 99999999h}",
         "services[1].rollback.expected_duration"),
    ],
)  # fmt: skip
def test_durations_past_a_week_are_refused(old: str, new: str, where: str) -> None:
    issue = refused(edit(old, new))
    assert issue.location == where
    assert "durations in a plan are at most a week" in issue.message


def test_a_rule_holding_for_ever_is_refused_at_its_column() -> None:
    issue = refused(edit("error_rate > 1% for 2m", "error_rate > 1% for 99999999999999999999h"))
    assert issue.location == "triggers[0].when"
    assert issue.message.startswith("column 21: duration")


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z"]
)
def test_times_out_of_range_are_refused(moment: str) -> None:
    issue = refused(edit("start: 2024-03-20T14:00:00Z", f"start: {moment}"))
    assert issue.location == "window.start"
    assert "is out of range" in issue.message


def test_a_schedule_longer_than_a_year_is_refused() -> None:
    # Sixty services of a week each, one after the other: 420 days.
    chain = "".join(
        f"  - {{name: s{n}, team: ops, version: '1', expected_duration: 168h"
        + (f", depends_on: [s{n - 1}]}}\n" if n else "}\n")
        for n in range(60)
    )
    head = SAMPLE_TEXT[: SAMPLE_TEXT.index("services:")]
    tail = "readiness: {}\ntriggers: []\n"
    text = head + "services:\n" + chain + tail
    issue = refused(text)
    # Week 53 ends past 366 days: s52 is the first service planned too late.
    assert issue.location == "services[52].expected_duration"
    assert "runs past 366 days from the window's start at s52" in issue.message


# ---------------------------------------------------------------- what load would refuse


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('depends_on: [api-gateway]\n    expected_duration: 10m\n    health: {url: "http://127.0.0.1:9102',
         'depends_on: [api-gateway, api-gateway]\n    expected_duration: 10m\n    health: {url: "http://127.0.0.1:9102',
         "services[1].depends_on[1]"),
        ("{name: down, ", "{name: down, services: [api-gateway, api-gateway], ", "triggers[2].services[1]"),
    ],
)  # fmt: skip
def test_a_service_listed_twice_is_refused(old: str, new: str, where: str) -> None:
    issue = refused(edit(old, new))
    assert issue.location == where
    assert "'api-gateway' is listed twice" in issue.message


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("version: 1.8.0", 'version: "1.8\\0"', "services[0].version"),
        ("- Deploy scripts ready", '- "Deploy\\0scripts"', "go_no_go[7]"),
        ("Verify log shipping", '"Verify \\x1b[2J log shipping"', "services[2].steps[1]"),
        ("release: v2.5.0", 'release: "v2.5.0\\x9b"', "release"),
    ],
)
def test_nul_and_control_characters_in_text_are_refused(old: str, new: str, where: str) -> None:
    issue = refused(edit(old, new))
    assert issue.location == where
    assert "control character" in issue.message


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("{name: pat,", "{name: " + "p" * 101 + ",", "people[9].name"),
        ("- name: logging-service", "- name: " + "l" * 201, "services[2].name"),
        ("release: v2.5.0", "release: " + "v" * 201, "release"),
        ("version: 1.8.0", "version: " + "1" * 101, "services[0].version"),
        ("- Deploy scripts ready", "- " + "d" * 501, "go_no_go[7]"),
        ('{command: "kubectl rollout undo deployment/auth"',
         '{command: "' + "k" * 501 + '"', "services[1].rollback.command"),
    ],
)  # fmt: skip
def test_text_longer_than_its_column_is_refused(old: str, new: str, where: str) -> None:
    issue = refused(edit(old, new))
    assert issue.location == where
    assert "at most" in issue.message


def test_text_as_long_as_its_column_is_accepted() -> None:
    plan = parse_plan_text(
        edit("release: v2.5.0", "release: " + "v" * limits.RELEASE_LENGTH)
        .replace("{name: pat,", "{name: " + "p" * limits.NAME_LENGTH + ",")
        .replace("- Deploy scripts ready", "- " + "d" * limits.TEXT_LENGTH)
    )
    assert len(plan.release) == limits.RELEASE_LENGTH


def test_limits_match_the_database_columns() -> None:
    """The domain cannot import the store, so its limits are copies: hold them together."""

    def length(model: type, column: str) -> int:
        kind = model.__table__.c[column].type  # type: ignore[attr-defined]
        assert isinstance(kind, String | AutoString), (model, column, kind)
        assert kind.length is not None
        return int(kind.length)

    assert length(m.Release, "name") == limits.RELEASE_LENGTH
    assert length(m.Release, "timezone") == limits.TIMEZONE_LENGTH
    for model, column in [
        (m.Release, "manager"),
        (m.Person, "name"),
        (m.Person, "team"),
        (m.Service, "name"),
        (m.Service, "team"),
        (m.Service, "owner"),
        (m.TriggerRule, "name"),
        (m.TriggerState, "rule"),
        (m.TriggerState, "service"),
        (m.ChecklistItem, "team"),
        (m.Freeze, "name"),
        (m.GateOverride, "target"),  # "window" or a freeze's name
        (m.HoldRelease, "service"),
    ]:
        assert length(model, column) >= limits.NAME_LENGTH, (model, column)
    assert length(m.Freeze, "reason") >= limits.TEXT_LENGTH
    assert length(m.Freeze, "rrule") >= limits.RRULE_LENGTH
    assert length(m.Service, "version") >= limits.VERSION_LENGTH
    assert length(m.Service, "previous_version") >= limits.VERSION_LENGTH
    assert length(m.Service, "health_url") >= limits.URL_LENGTH
    assert length(m.Service, "rollback_command") >= limits.COMMAND_LENGTH
    assert length(m.RunbookStep, "text") >= limits.TEXT_LENGTH
    assert length(m.ChecklistItem, "text") >= limits.TEXT_LENGTH
    assert length(m.TriggerRule, "description") >= limits.TEXT_LENGTH
    assert length(m.TriggerRule, "when") >= limits.WHEN_LENGTH
    # Checklist ids are TEAM-N.
    assert length(m.ChecklistItem, "key") >= limits.NAME_LENGTH + 1 + len(str(sys.maxsize))


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ('"pat\\n"', "bad name"),
        ('"pat\\r\\n"', "bad name"),
        ("warroom", "the name warroom itself acts under"),
        ("WarRoom", "the name warroom itself acts under"),
    ],
)
def test_names_a_person_cannot_have_are_refused(name: str, phrase: str) -> None:
    issue = refused(edit("{name: pat,", f"{{name: {name},"))
    assert issue.location == "people[9].name"
    assert phrase in issue.message


def test_a_team_called_gng_would_clash_with_go_no_go_ids() -> None:
    text = SAMPLE_TEXT.replace("team: mobile", "team: gng").replace("  mobile:\n", "  gng:\n")
    issue = refused(text)
    assert issue.location == "readiness.gng"
    assert "would give readiness items the ids of the go/no-go checklist" in issue.message


# ---------------------------------------------------------------- ssh keys


def _public_line(algorithm: str) -> str:
    key = asyncssh.generate_private_key(algorithm)
    return key.export_public_key("openssh").decode("ascii").strip()


def _with_key(line: str) -> str:
    return edit("team: support}", f'team: support, ssh_keys: ["{line}"]}}')


@pytest.mark.parametrize("algorithm", ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"])
def test_whole_keys_pass_and_truncated_keys_are_refused(algorithm: str) -> None:
    line = _public_line(algorithm)
    assert parse_plan_text(_with_key(line)).people[9].ssh_keys == (line,)

    kind, body, *_ = line.split()
    blob = base64.b64decode(body)
    # Cut short but still valid base64 holding the right type: what a paste
    # that lost its end looks like. The server's own parser refuses it too.
    cut = f"{kind} {base64.b64encode(blob[: len(blob) - 8]).decode()} pat@laptop"
    with pytest.raises((asyncssh.KeyImportError, ValueError)):
        asyncssh.import_public_key(cut)
    issue = refused(_with_key(cut))
    assert issue.location == "people[9].ssh_keys[0]"
    assert "damaged or incomplete" in issue.message


# ---------------------------------------------------------------- health urls


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/health",
        "http://127.0.0.1:9101/he\\r\\nalth",
        "http://127.0.0.1:9101/ health",
        "http://127.0.0.1:99999/health",
        "http://h\\x00ost/",
    ],
)
def test_health_urls_the_poller_cannot_use_are_refused(url: str) -> None:
    issue = refused(edit("http://127.0.0.1:9101/health", url))
    assert issue.location == "services[0].health.url"
    assert issue.message.startswith("bad health url")


URL_PARTS = st.sampled_from(
    ["http://", "https://", "ftp://", "[", "]", "::1", "127.0.0.1", "host", ":", "80", "99999",
     "/", "health", "?", "#", "@", "%", "%zz", " ", "\r\n", "\x00", "é", "-", ".", "[::1]", "user"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(URL_PARTS, min_size=1, max_size=8).map("".join))
@example("http://][::1]")  # urlsplit finds a host in it; httpx does not
@example("http://a..b/")
@example("http://80127.0.0.1")  # four numbers are an IPv4 address to httpx, not a name
def test_every_health_url_check_accepts_is_one_httpx_can_request(url: str) -> None:
    try:
        accepted = _to_health_url(url)
    except ValueError:
        return
    parsed = httpx.URL(accepted)
    assert parsed.scheme in {"http", "https"}
    assert parsed.host
    httpx.Request("GET", parsed)
