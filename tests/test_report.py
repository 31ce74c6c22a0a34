"""The post-release report tells the scripted day with exactly the numbers worked out by hand.

Every expected figure below comes from tests/release_day.py's script (its
times are in its docstring), never from the code under test. The Markdown is
compared with tests/expected/report-release-day.md: after an intended change
run `WARROOM_UPDATE_EXPECTED=1 pytest tests/test_report.py` and read the
file's diff (it must read well pasted into a wiki or a pull request).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from textual.widgets import Input

from tests.churn import HOSTILE, Churn, record_toasts
from tests.conftest import ROOT, check_everything
from tests.tui_support import OpenRoom, settled, wait_until
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.load import load_plan
from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.plan import parse_plan_text
from warroom.domain.report import Report, Status, build_report
from warroom.reporting import file_name, render
from warroom.reporting.data import report_json, schema
from warroom.reporting.markdown import md
from warroom.reporting.mermaid import label
from warroom.store.engine import Store
from warroom.store.queries import current_release, read_history
from warroom.testing.release_day import at, rehearse
from warroom.tui.screens.prompt import PromptScreen

WARROOM = Path(sys.executable).parent / "warroom"
EXPECTED = ROOT / "tests" / "expected" / "report-release-day.md"
END_OF_DAY = at(14, 41)  # where rehearse() leaves the clock


def s(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


def report_of(store: Store, now: datetime) -> Report:
    with store.read() as session:
        release = current_release(session)
        assert release is not None
        history = read_history(session, release)
    return build_report(history, now)


def validate(data: Any) -> None:
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert not errors, errors


EXTERNAL = re.compile(
    r"https?:|(?:src|href)\s*=|<script|<link|<iframe|<img|@import|url\(", re.IGNORECASE
)


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not EXTERNAL.findall(page), EXTERNAL.findall(page)
    assert "//" not in re.sub(r"<style>.*?</style>", "", page, flags=re.S).replace("://", ""), (
        "a protocol-relative reference"
    )


@pytest.fixture
def day_report(loaded: Store, clock: FixedClock) -> Report:
    rehearse(loaded, clock)
    assert clock.now() == END_OF_DAY
    return report_of(loaded, clock.now())


# ---------------------------------------------------------------- the scripted day, by hand


def test_the_scripted_day_measures_exactly_what_the_script_did(day_report: Report) -> None:
    r = day_report
    assert r.status is Status.IN_PROGRESS  # logging-service failed and was never rolled back
    assert r.as_of == at(14, 41)
    assert r.unsettled == (
        ("logging-service", DeployState.FAILED),
        ("mobile-backend", DeployState.WAITING),
        ("web-frontend", DeployState.WAITING),
    )
    # The decision: GO at 13:31 by sarah, a minute after the 13:30 meeting.
    [go] = r.decisions
    assert (go.kind, go.by, go.at, go.rationale, go.until) == (
        DecisionKind.GO,
        "sarah",
        at(13, 31),
        "all teams ready",
        None,
    )
    # Every item checked by sarah at 13:25: the list complete and each team READY then.
    assert r.go_no_go_done_at == at(13, 25)
    assert [(t.team, t.ready_at) for t in r.teams] == [
        ("infra", at(13, 25)),
        ("backend", at(13, 25)),
        ("mobile", at(13, 25)),
        ("frontend", at(13, 25)),
    ]
    assert {(i.done_by, i.done_at) for t in r.teams for i in t.items} == {("sarah", at(13, 25))}

    by = {x.name: x for x in r.services}
    api, auth, logging, user = (
        by[n] for n in ("api-gateway", "auth-service", "logging-service", "user-service")
    )
    # api-gateway: steps at 14:00, 14:03, 14:06, 14:08 (planned 14:00, 10m).
    assert (api.started_at, api.finished_at, api.duration, api.overrun) == (
        at(14, 0),
        at(14, 8),
        s(8 * 60),
        s(-2 * 60),
    )
    assert api.start_delay == s(0) and api.on_time
    assert api.time_in_state == ((DeployState.DEPLOYING, s(180)), (DeployState.VERIFYING, s(300)))
    assert [(st.done_by, st.done_at) for st in api.steps] == [
        ("raj", at(14, 0)),
        ("raj", at(14, 3)),
        ("raj", at(14, 6)),
        ("raj", at(14, 8)),
    ]
    # auth-service: 14:09 (a minute before its 14:10 plan) to 14:20: 11m against 10m.
    assert (auth.start_delay, auth.duration, auth.overrun) == (s(-60), s(660), s(60))
    assert auth.time_in_state == ((DeployState.DEPLOYING, s(180)), (DeployState.VERIFYING, s(480)))
    # logging-service: started 14:10, failed 14:14, still failed at 14:41.
    assert (logging.started_at, logging.failed_at, logging.failed_reason) == (
        at(14, 10),
        at(14, 14),
        "log shipping lag",
    )
    assert logging.duration is None and logging.state is DeployState.FAILED
    assert logging.time_in_state == (
        (DeployState.DEPLOYING, s(240)),
        (DeployState.FAILED, s(27 * 60)),
    )
    # user-service: 14:21 (planned 14:20) to done at 14:33: 12m against 10m; rolled back at 14:40.
    assert (user.start_delay, user.duration, user.overrun) == (s(60), s(720), s(120))
    assert user.time_in_state == (
        (DeployState.DEPLOYING, s(180)),
        (DeployState.VERIFYING, s(540)),
        (DeployState.DONE, s(240)),
        (DeployState.ROLLING_BACK, s(180)),
    )
    assert (user.state, user.state_since, user.state_by, user.health) == (
        DeployState.ROLLED_BACK,
        at(14, 40),
        "lisa",
        "passing",
    )
    assert by["mobile-backend"].started_at is None and by["web-frontend"].time_in_state == ()

    down, call = r.triggers
    assert down.id == "down@user-service"
    assert (down.pending_at, down.condition_since, down.fired_at) == (
        at(14, 35),
        at(14, 35),
        at(14, 35, 10),
    )
    assert (down.detection, down.acked_by, down.acked_at, down.to_acknowledge) == (
        s(10),
        "lisa",
        at(14, 36),
        s(50),
    )
    assert (down.ended, down.ended_at) == ("resolved", at(14, 37, 5))
    assert call.id == "lead-call@auth-service"
    assert (call.raised_by, call.reason, call.fired_at) == (
        "mike",
        "customers see 500s at login",
        at(14, 38),
    )
    assert (call.detection, call.acked_by, call.to_acknowledge) == (None, "lisa", s(30))

    [rollback] = r.rollbacks
    assert (rollback.service, rollback.cause, rollback.ordered_by, rollback.ordered_at) == (
        "user-service",
        "down@user-service",
        "sarah",
        at(14, 37),
    )
    assert rollback.subgraph == ("web-frontend", "mobile-backend", "user-service")
    assert rollback.plan == ("user-service",)  # its dependents never started
    [step] = rollback.steps
    assert (step.reason, step.rolled_back_at, step.rolled_back_by, step.healthy_at) == (
        "down firing",
        at(14, 40),
        "lisa",
        at(14, 40, 30),
    )
    # Fired 14:35:10 → rolled back 14:40:00 and health passing 14:40:30.
    assert (rollback.trouble_at, rollback.recovered_at, rollback.time_to_recover) == (
        at(14, 35, 10),
        at(14, 40, 30),
        s(5 * 60 + 20),
    )

    m = r.metrics
    assert (m.first_start, m.last_final, m.total_duration, m.total_so_far) == (
        at(14, 0),
        at(14, 40),
        s(40 * 60),
        False,
    )
    assert m.time_to_go == s(60)
    assert (m.services, m.deployed, m.failed, m.rolled_back, m.in_flight, m.not_started) == (
        6,
        2,
        1,
        1,
        0,
        2,
    )
    assert (m.started, m.on_time, m.on_time_share) == (4, 4, 1.0)
    d = m.deploys
    # (8m + 11m + 12m) / 3 = 10m20s against 10m; the worst is user-service's +2m.
    assert (d.count, d.mean, d.mean_expected, d.mean_overrun) == (3, s(620), s(600), s(20))
    assert (d.worst, d.worst_duration, d.worst_expected, d.worst_overrun) == (
        "user-service",
        s(720),
        s(600),
        s(120),
    )
    assert (m.detect.count, m.detect.mean, m.detect.worst) == (1, s(10), s(10))
    # 50 s (down) and 30 s (the lead's call): mean 40 s, worst 50 s.
    assert (m.acknowledge.count, m.acknowledge.mean, m.acknowledge.worst) == (2, s(40), s(50))
    assert m.acknowledge.worst_of == "down@user-service"
    assert (m.recover.count, m.recover.mean, m.recover.worst_of) == (1, s(320), "user-service")

    assert len(r.log) == 37
    assert (r.log[0].at, r.log[0].t) == (at(13, 20), "T-40m")
    fired = next(line for line in r.log if "FIRING" in line.text)
    assert (fired.at, fired.t, fired.author) == (at(14, 35, 10), "T+35m10s", "warroom")


def test_the_markdown_is_the_stored_expected_file(day_report: Report) -> None:
    text = render(day_report, "md")
    if os.environ.get("WARROOM_UPDATE_EXPECTED"):
        EXPECTED.parent.mkdir(exist_ok=True)
        EXPECTED.write_text(text, encoding="utf-8")
    assert text == EXPECTED.read_text(encoding="utf-8"), (
        "the report changed; if on purpose: WARROOM_UPDATE_EXPECTED=1 pytest "
        "tests/test_report.py, then read the file's diff"
    )


def test_the_json_is_the_documented_shape_with_the_same_numbers(day_report: Report) -> None:
    data = json.loads(render(day_report, "json"))
    validate(data)
    assert data["schema"] == 1
    assert data["status"] == "in progress" and data["as_of"] == "2024-03-20T14:41:00Z"
    m = data["metrics"]
    assert (m["total_duration_s"], m["time_to_go_s"]) == (2400, 60)
    assert m["services"] == {
        "total": 6,
        "deployed": 2,
        "failed": 1,
        "rolled_back": 1,
        "in_flight": 0,
        "not_started": 2,
    }
    assert m["started_on_time"] == {"started": 4, "on_time": 4, "share": 1.0, "tolerance_s": 300}
    assert m["deploy_duration"]["mean_s"] == 620
    assert m["time_to_detect"]["mean_s"] == 10
    assert (m["time_to_acknowledge"]["mean_s"], m["time_to_acknowledge"]["worst_s"]) == (40, 50)
    assert m["time_to_recover"] == {
        "count": 1,
        "mean_s": 320,
        "worst_s": 320,
        "worst_of": "user-service",
    }
    [rollback] = data["rollbacks"]
    assert (rollback["recovered_at"], rollback["time_to_recover_s"]) == (
        "2024-03-20T14:40:30Z",
        320,
    )


def test_the_html_page_refers_to_nothing_outside_itself(day_report: Report) -> None:
    page = render(day_report, "html")
    assert_self_contained(page)
    # The same content as the Markdown: its headline, the pictures drawn inline.
    assert "<td>Time to recover (MTTR)</td>" in page and "5m20s" in page
    assert page.count("<svg") == 1 and "Mermaid source" in page


# ---------------------------------------------------------------- other days


def test_a_release_in_progress_says_so_and_measures_so_far(
    loaded: Store, clock: FixedClock
) -> None:
    """A lead's call on api-gateway at 14:04, the rollback ordered at 14:05, read at 14:07."""
    check_everything(loaded, clock)
    clock.set(at(13, 31))
    Commands(loaded, clock, "sarah").decide("go", rationale="ready")
    for moment in (at(14, 0), at(14, 3)):
        clock.set(moment)
        Commands(loaded, clock, "raj").complete_step("api-gateway")
    clock.set(at(14, 4))
    Commands(loaded, clock, "tom").raise_trigger("api-gateway", "p99 doubled")
    clock.set(at(14, 5))
    Commands(loaded, clock, "sarah").start_rollback("api-gateway", reason="tom's call")
    clock.set(at(14, 7))

    r = report_of(loaded, clock.now())

    assert r.status is Status.IN_PROGRESS
    assert r.unsettled[0] == ("api-gateway", DeployState.ROLLING_BACK)
    assert len(r.unsettled) == 6  # the other five wait
    m = r.metrics
    assert (m.total_duration, m.total_so_far) == (s(7 * 60), True)  # 14:00 → now
    api = r.services[0]
    assert api.time_in_state == (
        (DeployState.DEPLOYING, s(180)),
        (DeployState.VERIFYING, s(120)),
        (DeployState.ROLLING_BACK, s(120)),  # so far
    )
    [call] = r.triggers
    assert (call.id, call.fired_at, call.acked_at, call.ended) == (
        "lead-call@api-gateway",
        at(14, 4),
        None,
        "firing",
    )
    [rollback] = r.rollbacks
    assert (rollback.cause, rollback.trouble_at, rollback.recovered_at) == (
        "lead-call@api-gateway",
        at(14, 4),
        None,
    )
    assert (m.deploys.count, m.acknowledge.count, m.recover.count, m.recover.mean) == (
        0,
        0,
        0,
        None,
    )

    text = render(r, "md")
    assert "**In progress** as of 2024-03-20 14:07:00 UTC" in text
    assert "| Total duration | 7m so far (14:00:00 first deploy start → 14:07:00 now) |" in text
    assert "| Time to recover (MTTR) | — |" in text
    assert "still firing" in text and "— (not recovered yet)" in text
    validate(json.loads(render(r, "json")))
    assert_self_contained(render(r, "html"))


def test_a_release_where_nothing_happened_yet(loaded: Store, clock: FixedClock) -> None:
    r = report_of(loaded, clock.now())

    assert r.status is Status.NOT_STARTED and r.nothing_happened
    assert (r.decisions, r.triggers, r.rollbacks, r.unsettled) == ((), (), (), ())
    m = r.metrics
    assert (m.total_duration, m.time_to_go, m.on_time_share, m.started) == (None, None, None, 0)
    assert (m.deploys.mean, m.detect.mean, m.acknowledge.mean, m.recover.mean) == (None,) * 4
    assert all(t.ready_at is None for t in r.teams)
    text = render(r, "md")
    assert "**Not started** as of 2024-03-20 13:20:00 UTC: nothing has been decided" in text
    for line in ("Total duration", "Time to GO", "Time to detect", "Time to recover (MTTR)"):
        assert f"| {line} | — |" in text
    assert "None recorded yet." in text and "No rollback was ordered." in text
    assert "### Team infra: BLOCKED (6 items open)" in text
    data = json.loads(render(r, "json"))
    validate(data)
    assert data["metrics"]["total_duration_s"] is None
    assert_self_contained(render(r, "html"))


def test_a_finished_release_is_complete_and_a_no_go_is_a_no_go(
    loaded: Store, clock: FixedClock
) -> None:
    sarah = Commands(loaded, clock, "sarah")
    check_everything(loaded, clock)
    clock.set(at(13, 31))
    sarah.decide("no-go", rationale="staging is red")
    assert report_of(loaded, clock.now()).status is Status.NO_GO
    clock.set(at(13, 40))
    sarah.decide("go", rationale="staging green again")
    clock.set(at(14, 0))
    oncall = {"infra": "raj", "backend": "lisa", "mobile": "omar", "frontend": "kim"}
    report = report_of(loaded, clock.now())
    for service in report.services:  # in deploy order, a minute a step
        for _ in service.steps:
            clock.advance(s(60))
            Commands(loaded, clock, oncall[service.team]).complete_step(service.name)
    clock.advance(s(600))

    r = report_of(loaded, clock.now())

    assert r.status is Status.COMPLETE and r.unsettled == ()
    # 4 + 4 + 2 + 5 + 4 + 4 = 23 steps, a minute each, from 14:01.
    assert (r.metrics.first_start, r.metrics.total_duration) == (at(14, 1), s(22 * 60))
    assert r.metrics.time_to_go == s(10 * 60)  # the GO at 13:40, after the NO-GO at 13:31
    assert [d.until for d in r.decisions] == [at(13, 40), None]
    assert r.metrics.deployed == 6
    assert "**Complete** as of" in render(r, "md")


def test_what_people_wrote_cannot_act_on_a_page_a_chart_or_a_terminal(
    loaded: Store, clock: FixedClock
) -> None:
    evil = HOSTILE + " | [click](http://evil.example) <script>alert(1)</script> `x` $y$ #h"
    check_everything(loaded, clock)
    Commands(loaded, clock, "sarah").decide("go", rationale=evil)
    Commands(loaded, clock, "mike").post_message(evil)
    r = report_of(loaded, clock.now())

    text = render(r, "md")
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
    assert "<script" not in text and not re.search(r"(?<!\\)\]\(", text)
    said = [line for line in text.splitlines() if "alert(1)" in line and line.startswith("| ")]
    assert said, "the message is in the log table"
    for row in said:  # escaped pipes keep each row's columns
        assert len(re.findall(r"(?<!\\)\|", row)) in {5, 7}, row
    page = render(r, "html")
    assert "<script" not in page and "<a " not in page and "\x1b" not in page
    assert "&lt;script&gt;" in page
    assert json.loads(render(r, "json"))["log"][-1]["text"] == " ".join(evil.split())
    assert "\x1b" not in render(r, "json")  # JSON escapes it as \u001b
    # A Mermaid label cannot be ended early, nor a Markdown cell.
    assert label('1.0"] --> x[<b>#') == "1.0#quot;] --#gt; x[#lt;b#gt;#35;"
    assert md("a|b_c*[d](e)") == r"a\|b\_c\*\[d\](e)"


def test_times_are_on_the_plan_s_clock_and_say_which(sqlite_store: Store, sample_text: str) -> None:
    text = sample_text.replace("timezone: UTC", "timezone: Europe/Berlin")
    clock = FixedClock(at(13, 20))
    load_plan(sqlite_store, parse_plan_text(text), text, loaded_by="sarah", clock=clock)
    check_everything(sqlite_store, clock)
    clock.set(at(13, 31))
    Commands(sqlite_store, clock, "sarah").decide("go", rationale="ready")
    clock.set(at(14, 0))
    Commands(sqlite_store, clock, "raj").complete_step("api-gateway")

    r = report_of(sqlite_store, clock.now())
    markdown = render(r, "md")

    assert "Times are on the plan's clock, CET." in markdown
    assert "- **Deploy window:** 2024-03-20 15:00–17:00 CET" in markdown
    assert "| api-gateway | infra | 15:00:00 | 15:00:00 | 0s (on time) |" in markdown
    assert "planned :p0, 2024-03-20 15:00:00, 2024-03-20 15:10:00" in markdown  # the Gantt too
    assert json.loads(render(r, "json"))["services"][0]["started_at"] == "2024-03-20T14:00:00Z"


def test_a_report_file_name_is_made_of_safe_characters() -> None:
    assert file_name("v2.5.0") == "warroom-report-v2.5.0.md"
    assert file_name("../../etc/passwd", "html") == "warroom-report-etc_passwd.html"


# ---------------------------------------------------------------- the command line


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"WARROOM_DB", "WARROOM_USER"}}
    env["WARROOM_NOW"] = "2024-03-20T14:41:00Z"
    proc = subprocess.run(
        [str(WARROOM), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_warroom_report_writes_each_format_on_either_backend(
    loaded: Store, clock: FixedClock, db_url: str, tmp_path: Path
) -> None:
    rehearse(loaded, clock)
    db = ["--db", db_url]

    written = run("report", *db, "--format", "md", "--output", "day.md", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert written.stdout == f"report written to {tmp_path / 'day.md'}\n"
    assert (tmp_path / "day.md").read_text(encoding="utf-8") == EXPECTED.read_text(encoding="utf-8")
    printed = run("report", *db, "--format", "json", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    data = json.loads(printed.stdout)
    validate(data)
    assert data == report_json(report_of(loaded, END_OF_DAY))
    page = run("report", *db, "--format", "html", "-o", str(tmp_path / "day.html"), cwd=tmp_path)
    assert page.returncode == 0, page.stderr
    assert_self_contained((tmp_path / "day.html").read_text(encoding="utf-8"))

    nowhere = run("report", *db, "--output", str(tmp_path / "missing" / "r.md"), cwd=tmp_path)
    assert nowhere.returncode == 1
    assert nowhere.stderr.startswith("warroom: cannot write the report to ")
    assert nowhere.stderr.count("\n") == 1


def test_warroom_report_without_a_release_refuses_in_one_sentence(
    db_path: Path, tmp_path: Path
) -> None:
    proc = run("report", "--db", f"sqlite:///{db_path}", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("warroom: no release is loaded in this database")


# ---------------------------------------------------------------- the war room


async def test_w_writes_the_report_beside_the_database_while_the_room_changes(
    loaded: Store,
    clock: FixedClock,
    db_url: str,
    open_room: OpenRoom,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # SQLite: beside the database file; PostgreSQL has no file: the current folder.
    folder = tmp_path if db_url.startswith("sqlite") else elsewhere
    expected = folder / "warroom-report-v2.5.0.md"
    check_everything(loaded, clock)
    Commands(loaded, clock, "sarah").decide("go", rationale="ready")

    async with open_room("pat") as (app, pilot):  # an observer may: it only reads
        said = record_toasts(app)
        # The footer recomposes its keys as bindings refresh: wait for them.
        await wait_until(
            pilot,
            lambda: "W Report" in " ".join(str(k.render()) for k in app.screen.query("FooterKey")),
            "the footer to offer W Report",
        )
        palette = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert palette["Write the post-release report"].endswith("(W)")
        with Churn(loaded, clock) as churn:
            await wait_until(pilot, lambda: churn.count > 3, "changes to stream in")
            await pilot.press("W")
            await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), "the prompt")
            await pilot.press("enter")  # the offered place
            await wait_until(
                pilot, lambda: any("Report written to" in t for t in said), "the toast", 500
            )
            assert f"Report written to {expected}" in said
            assert expected.read_text(encoding="utf-8").startswith(
                "# Release v2.5.0: post-release report\n\n**In progress** as of "
            )

            # Somewhere else, and somewhere that cannot be written: the toast says which.
            chosen = tmp_path / "chosen.md"
            for path in (chosen, tmp_path / "missing" / "r.md"):
                await pilot.press("W")
                await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), "the prompt")
                app.screen.query_one("#prompt-input", Input).value = str(path)
                await pilot.press("enter")
            await wait_until(pilot, lambda: len([t for t in said if "eport" in t]) >= 3, "toasts")
        await settled(pilot)
    assert f"Report written to {chosen}" in said and chosen.exists()
    assert any(
        t.startswith(f"The report was not written to {tmp_path / 'missing' / 'r.md'}: ")
        for t in said
    ), said


# ---------------------------------------------------------------- warroom demo


@pytest.mark.slow
def test_the_demo_leaves_its_report_in_the_current_folder_when_you_quit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from warroom.testing.ssh import Terminal

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.delenv("WARROOM_NOW", raising=False)
    monkeypatch.chdir(tmp_path)
    term = Terminal([str(WARROOM), "demo"], columns=140, rows=40)
    try:
        term.wait_for(lambda: "palette" in term.text(), "the demo's war room", timeout=60)
        term.send("\x11")  # ctrl+q
        assert term.wait_exit(timeout=60) == 0
    finally:
        if term.process.poll() is None:
            term.process.kill()
            term.process.wait(10)
    report = tmp_path / "warroom-demo-report.md"
    assert f"warroom demo: the day's report is in {report}" in term.output()
    assert report.read_text(encoding="utf-8").startswith("# Release v2.5.0: post-release report")
    assert list(scratch.iterdir()) == []  # the temporary folder went as usual
