"""The `warroom` command line, end to end: the real executable in a subprocess.

Every test runs in its own tmp_path with a pinned clock ($WARROOM_NOW) and its
own SQLite file ($WARROOM_DB, or --db, or the default warroom.db in the cwd).
No test may see a Python traceback on stderr: `run` checks that for all of them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

WARROOM = Path(sys.executable).parent / "warroom"
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "release-v2.5.0.yaml"
NOW = "2024-03-20T13:20:00Z"
WINDOW_OPENS = "2024-03-20T14:00:00Z"  # no deploy starts before it
PEOPLE = ["sarah", "tom", "raj", "mike", "lisa", "ana", "omar", "jen", "kim", "pat"]
LOGIN_VARS = ("LOGNAME", "USER", "LNAME", "USERNAME")

CYCLE_PLAN = """\
release: cyclic-1.0
manager: sarah
window: {start: 2024-03-20T14:00:00Z, end: 2024-03-20T16:00:00Z}
rollback_until: 2024-03-20T18:00:00Z
go_no_go_at: 2024-03-20T13:30:00Z
people:
  - {name: sarah, role: release_manager, team: ops}
services:
  - {name: alpha, team: ops, version: "1.0", depends_on: [gamma]}
  - {name: beta,  team: ops, version: "1.0", depends_on: [alpha]}
  - {name: gamma, team: ops, version: "1.0", depends_on: [beta]}
  - {name: delta, team: ops, version: "1.0"}
"""

# One service without runbook steps: the only way `deploy done` is the move
# that finishes a deploy (with steps, the last step finishes it).
NO_STEPS_PLAN = """\
release: mini-1.0
manager: sarah
window: {start: 2024-03-20T14:00:00Z, end: 2024-03-20T16:00:00Z}
rollback_until: 2024-03-20T18:00:00Z
go_no_go_at: 2024-03-20T13:30:00Z
default_steps: []
people:
  - {name: sarah, role: release_manager, team: ops}
  - {name: raj, role: oncall, team: infra}
services:
  - {name: cache, team: infra, version: "2.0", previous_version: "1.9"}
"""


# ---------------------------------------------------------------- helpers


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the real `warroom` executable; no command may ever show a traceback."""
    proc = subprocess.run(
        [str(WARROOM), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr, f"warroom {' '.join(args)} crashed:\n{proc.stderr}"
    return proc


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{proc.args!r} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def assert_refused(proc: subprocess.CompletedProcess[str]) -> str:
    """A refusal: exit 1, nothing on stdout, exactly one `warroom: ` line on stderr."""
    assert proc.returncode == 1, describe(proc)
    assert proc.stdout == "", describe(proc)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, describe(proc)
    assert lines[0].startswith("warroom: "), describe(proc)
    assert len(lines[0]) > len("warroom: ") + 10, describe(proc)
    return lines[0]


def dump(db: Path) -> str:
    """Every schema object and row of the SQLite file, to prove a refusal wrote nothing."""
    with closing(sqlite3.connect(db)) as conn:
        return "\n".join(conn.iterdump())


@dataclass
class Cli:
    cwd: Path
    env: dict[str, str]
    db: Path

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(*args, cwd=self.cwd, env=self.env)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = self(*args)
        assert proc.returncode == 0, describe(proc)
        return proc

    def refused(self, *args: str) -> str:
        """Run a command that must be refused and must leave the database unchanged."""
        before = dump(self.db)
        line = assert_refused(self(*args))
        assert dump(self.db) == before, f"refused `warroom {' '.join(args)}` changed the database"
        return line

    def status(self, *extra: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.ok("status", "--json", *extra).stdout)
        return data


def service(status: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [s for s in status["services"] if s["name"] == name]
    assert len(matches) == 1, f"service {name} not in status"
    found: dict[str, Any] = matches[0]
    return found


def item(status: dict[str, Any], key: str) -> dict[str, Any]:
    matches = [i for i in status["checklists"] if i["id"] == key]
    assert len(matches) == 1, f"checklist item {key} not in status"
    found: dict[str, Any] = matches[0]
    return found


def trigger(status: dict[str, Any], name: str, on: str) -> dict[str, Any]:
    matches = [t for t in status["triggers"] if t["name"] == name and t["service"] == on]
    assert len(matches) == 1, f"trigger {name}@{on} not in status"
    found: dict[str, Any] = matches[0]
    return found


def steps_done_by(cli: Cli, name: str, who: str, count: int) -> None:
    for _ in range(count):
        cli.ok("step", "done", name, "--as", who)


def wave_lines(stdout: str) -> list[list[str]]:
    lines = stdout.splitlines()
    start = lines.index("Deploy waves:") + 1
    waves: list[list[str]] = []
    for line in lines[start:]:
        head, dot, rest = line.strip().partition(". ")
        if not dot or not head.isdigit():
            break
        assert int(head) == len(waves) + 1, line
        waves.append(rest.split(", "))
    return waves


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "test-warroom.db"


@pytest.fixture
def env(db: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment.pop("WARROOM_USER", None)
    environment["WARROOM_NOW"] = NOW
    environment["WARROOM_DB"] = f"sqlite:///{db}"
    return environment


@pytest.fixture
def cli(tmp_path: Path, env: dict[str, str], db: Path) -> Cli:
    return Cli(tmp_path, env, db)


@pytest.fixture
def loaded(cli: Cli) -> Cli:
    cli.ok("load", str(SAMPLE), "--as", "sarah")
    return cli


@pytest.fixture
def ready(loaded: Cli) -> Cli:
    """The sample with every go/no-go and readiness item checked by the release manager."""
    keys = [i["id"] for i in loaded.status()["checklists"]]
    loaded.ok("item", "check", *keys, "--as", "sarah")
    return loaded


@pytest.fixture
def go(ready: Cli) -> Cli:
    """GO recorded (at 13:20), and the clock at 14:00, when the deploy window opens."""
    ready.ok("decide", "go", "--as", "sarah", "--why", "all teams ready")
    ready.env["WARROOM_NOW"] = WINDOW_OPENS
    return ready


# ---------------------------------------------------------------- check


def test_check_prints_waves_api_gateway_first_web_frontend_last(cli: Cli) -> None:
    proc = cli.ok("check", str(SAMPLE))
    assert proc.stderr == ""
    waves = wave_lines(proc.stdout)
    assert waves[0] == ["api-gateway"]
    assert waves[-1] == ["web-frontend"]
    assert sorted(name for wave in waves for name in wave) == sorted(
        [
            "api-gateway",
            "auth-service",
            "logging-service",
            "user-service",
            "mobile-backend",
            "web-frontend",
        ]
    )
    assert "v2.5.0" in proc.stdout
    assert "Rollback order: web-frontend" in proc.stdout
    # check needs no database and creates none.
    assert not cli.db.exists()
    assert not (cli.cwd / "warroom.db").exists()


def test_check_json_orders(cli: Cli) -> None:
    data = json.loads(cli.ok("check", "--json", str(SAMPLE)).stdout)
    assert {"waves", "deploy_order", "rollback_order"} <= set(data)
    waves, deploy, rollback = data["waves"], data["deploy_order"], data["rollback_order"]
    assert waves[0] == ["api-gateway"]
    assert waves[-1] == ["web-frontend"]
    assert rollback == list(reversed(deploy))
    assert deploy == [name for wave in waves for name in wave]
    # Dependencies come first in the deploy order.
    for first, then in [
        ("api-gateway", "auth-service"),
        ("api-gateway", "logging-service"),
        ("auth-service", "user-service"),
        ("user-service", "mobile-backend"),
        ("mobile-backend", "web-frontend"),
    ]:
        assert deploy.index(first) < deploy.index(then)


def test_check_cycle_exits_1_naming_every_member(cli: Cli) -> None:
    plan = cli.cwd / "cycle.yaml"
    plan.write_text(CYCLE_PLAN, encoding="utf-8")
    proc = cli("check", str(plan))
    assert proc.returncode == 1, describe(proc)
    assert proc.stdout == ""
    cycle_lines = [line for line in proc.stderr.splitlines() if "cycle" in line]
    assert cycle_lines, proc.stderr
    for member in ("alpha", "beta", "gamma"):
        assert member in cycle_lines[0]
    assert "delta" not in cycle_lines[0]
    assert proc.stderr.splitlines()[-1].startswith("warroom: ")


def test_check_refuses_a_bad_freeze_with_its_file_and_line_and_load_writes_nothing(
    cli: Cli,
) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    plan = cli.cwd / "frozen.yaml"
    plan.write_text(text.replace("BYDAY=FR;BYHOUR=16", "BYDAY=FRI;BYHOUR=16"), encoding="utf-8")
    line = text[: text.index("BYDAY=FR;BYHOUR=16")].count("\n") + 1
    for command in ("check", "load"):
        proc = (
            cli(command, str(plan), "--as", "sarah")
            if command == "load"
            else cli(command, str(plan))
        )
        assert proc.returncode == 1, describe(proc)
        assert (
            f"{plan}:{line}: freezes[0].rrule: not a valid RRULE: invalid 'BYDAY': FRI"
            in proc.stderr
        )
    assert not cli.db.exists()
    assert "Freezes: Friday afternoons, Black Friday" in cli.ok("check", str(SAMPLE)).stdout


def test_check_missing_file_is_a_sentence_not_a_crash(cli: Cli) -> None:
    proc = cli("check", "no-such-plan.yaml")
    assert proc.returncode == 1, describe(proc)
    assert "no-such-plan.yaml" in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("warroom: ")


# ---------------------------------------------------------------- load


def test_load_cycle_prints_cycle_and_creates_nothing(cli: Cli) -> None:
    plan = cli.cwd / "cycle.yaml"
    plan.write_text(CYCLE_PLAN, encoding="utf-8")
    proc = cli("load", str(plan), "--as", "sarah")
    assert proc.returncode == 1, describe(proc)
    assert proc.stdout == ""
    for member in ("alpha", "beta", "gamma"):
        assert member in proc.stderr
    assert "cycle" in proc.stderr
    assert "nothing was loaded" in proc.stderr.splitlines()[-1]
    assert not cli.db.exists()
    status = cli("status")
    assert status.returncode == 1
    assert f"warroom --db sqlite:///{cli.db} load PLAN --as MANAGER" in status.stderr


def test_load_cycle_into_a_used_database_writes_nothing(loaded: Cli) -> None:
    plan = loaded.cwd / "cycle.yaml"
    plan.write_text(CYCLE_PLAN, encoding="utf-8")
    before = dump(loaded.db)
    proc = loaded("load", str(plan), "--as", "sarah")
    assert proc.returncode == 1, describe(proc)
    assert "alpha" in proc.stderr and "beta" in proc.stderr and "gamma" in proc.stderr
    assert dump(loaded.db) == before
    assert loaded.status()["release"]["name"] == "v2.5.0"
    assert loaded("status", "--release", "cyclic-1.0").returncode == 1


def test_a_non_utf8_plan_gets_the_same_located_error_from_check_and_load(cli: Cli) -> None:
    plan = cli.cwd / "latin1.yaml"
    plan.write_bytes(SAMPLE.read_bytes().replace(b"manager: sarah", b"manager: s\xe4rah"))
    line = SAMPLE.read_text(encoding="utf-8").splitlines().index("manager: sarah") + 1
    checked = cli("check", str(plan))
    loaded = cli("load", str(plan), "--as", "sarah")
    for proc in (checked, loaded):
        assert proc.returncode == 1, describe(proc)
        assert proc.stdout == ""
        first, last = proc.stderr.splitlines()
        assert first.startswith(f"{plan}:{line}: the plan is not UTF-8 text (byte "), first
        assert last.startswith(f"warroom: {plan} is not a valid plan (1 error in the plan)")
    assert checked.stderr.splitlines()[0] == loaded.stderr.splitlines()[0]
    assert loaded.stderr.rstrip().endswith("; nothing was loaded")
    assert not cli.db.exists()


def test_load_sample_twice_is_a_no_op(cli: Cli) -> None:
    first = cli.ok("load", str(SAMPLE), "--as", "sarah")
    assert "loaded release v2.5.0" in first.stdout
    assert "6 services in 5 waves" in first.stdout
    before = dump(cli.db)
    second = cli.ok("load", str(SAMPLE), "--as", "sarah")
    assert "already loaded" in second.stdout
    assert second.stderr == ""
    assert dump(cli.db) == before
    assert len(cli.status()["log"]) == 1


def test_load_different_plan_under_same_release_name_is_refused(loaded: Cli) -> None:
    changed = loaded.cwd / "changed.yaml"
    changed.write_text(
        SAMPLE.read_text(encoding="utf-8").replace("version: 1.8.0", "version: 1.8.1"),
        encoding="utf-8",
    )
    line = loaded.refused("load", str(changed), "--as", "sarah")
    assert "v2.5.0" in line
    assert "different plan" in line
    assert service(loaded.status(), "api-gateway")["version"] == "1.8.0"


def test_release_option_selects_among_loaded_releases(loaded: Cli) -> None:
    other = loaded.cwd / "v2.6.0.yaml"
    other.write_text(
        SAMPLE.read_text(encoding="utf-8").replace("release: v2.5.0", "release: v2.6.0"),
        encoding="utf-8",
    )
    loaded.ok("load", str(other), "--as", "sarah")
    assert loaded.status()["release"]["name"] == "v2.6.0"  # the one loaded last
    assert loaded.status("--release", "v2.5.0")["release"]["name"] == "v2.5.0"
    loaded.ok("say", "on", "the", "old", "one", "--as", "pat", "--release", "v2.5.0")
    assert loaded.status("--release", "v2.5.0")["log"][-1]["text"] == "on the old one"
    assert len(loaded.status()["log"]) == 1
    line = loaded.refused("say", "hello", "--as", "pat", "--release", "v9")
    assert "v9" in line


def test_status_unknown_release_names_it(loaded: Cli) -> None:
    # Regression: this used to say "no release is loaded" although v2.5.0 is.
    line = assert_refused(loaded("status", "--release", "v9"))
    assert "'v9'" in line
    assert "no release is loaded" not in line


# ---------------------------------------------------------------- where the database is


def test_db_option_on_the_command_line(cli: Cli) -> None:
    other = cli.cwd / "elsewhere.db"
    url = f"sqlite:///{other}"
    proc = cli.ok("load", str(SAMPLE), "--as", "sarah", "--db", url)
    assert "elsewhere.db" in proc.stdout
    assert other.exists()
    assert not cli.db.exists()  # $WARROOM_DB was overridden
    assert cli.status("--db", url)["release"]["name"] == "v2.5.0"
    # The group-level --db works too.
    assert json.loads(cli.ok("--db", url, "status", "--json").stdout)["release"]["name"] == "v2.5.0"
    missing = cli("status")
    assert missing.returncode == 1
    assert f"warroom --db sqlite:///{cli.db} load PLAN --as MANAGER" in missing.stderr


def test_default_database_is_warroom_db_in_the_cwd(cli: Cli) -> None:
    del cli.env["WARROOM_DB"]
    proc = cli.ok("load", str(SAMPLE), "--as", "sarah")
    assert "sqlite:///warroom.db" in proc.stdout
    assert (cli.cwd / "warroom.db").exists()
    assert not cli.db.exists()
    assert cli.status()["release"]["name"] == "v2.5.0"


def test_bad_clock_is_a_sentence(loaded: Cli) -> None:
    loaded.env["WARROOM_NOW"] = "yesterday-ish"
    line = assert_refused(loaded("status"))
    assert "$WARROOM_NOW" in line


# ---------------------------------------------------------------- status


def test_status_without_database_says_how_to_load(cli: Cli) -> None:
    line = assert_refused(cli("status"))
    assert f"warroom --db sqlite:///{cli.db} load PLAN --as MANAGER" in line
    assert not cli.db.exists()  # status never creates a database


def _open_tui(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    """`warroom [tui]` where it must refuse before drawing anything (no terminal given:
    a war room that started anyway would hang until the timeout fails the test)."""
    proc = subprocess.run(
        [str(WARROOM), *args],
        cwd=cli.cwd,
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.mark.parametrize(
    "command", [(), ("tui",), ("replay",)], ids=["warroom", "warroom tui", "warroom replay"]
)
def test_the_war_room_refuses_a_database_that_does_not_exist(
    cli: Cli, command: tuple[str, ...]
) -> None:
    missing = cli.cwd / "typo.db"
    line = assert_refused(_open_tui(cli, "--db", f"sqlite:///{missing}", *command))
    assert f"no warroom database at {missing}" in line
    assert f"warroom --db sqlite:///{missing} load PLAN --as MANAGER" in line
    assert not missing.exists()  # looking never creates a database


@pytest.mark.parametrize(
    "command", [(), ("tui",), ("replay",)], ids=["warroom", "warroom tui", "warroom replay"]
)
def test_the_war_room_refuses_a_file_that_is_not_a_database(
    cli: Cli, command: tuple[str, ...]
) -> None:
    notes = cli.cwd / "notes.txt"
    text = "release notes for v2.5.0, not a database at all\n" * 20
    notes.write_text(text, encoding="utf-8")
    line = assert_refused(_open_tui(cli, "--db", f"sqlite:///{notes}", *command))
    assert f"{notes} is not a warroom database" in line
    assert "--db" in line
    assert notes.read_text(encoding="utf-8") == text


def test_a_file_that_is_not_a_database_is_named_by_every_command(cli: Cli) -> None:
    notes = cli.cwd / "notes.txt"
    notes.write_text("not a database\n" * 50, encoding="utf-8")
    cli.env["WARROOM_DB"] = f"sqlite:///{notes}"
    for args in (("status",), ("say", "hello", "--as", "sarah"), ("audit", "verify")):
        line = assert_refused(cli(*args))
        assert f"{notes} is not a warroom database" in line, args


def test_status_json_shape(loaded: Cli) -> None:
    data = loaded.status()
    release = data["release"]
    assert release["name"] == "v2.5.0"
    assert release["window"] == {"start": "2024-03-20T14:00:00Z", "end": "2024-03-20T16:00:00Z"}
    assert release["decision"] is None
    assert release["now"] == NOW

    assert [s["name"] for s in data["services"]] == [
        "api-gateway",
        "auth-service",
        "logging-service",
        "user-service",
        "mobile-backend",
        "web-frontend",
    ]
    for svc in data["services"]:
        assert {"name", "team", "version", "state", "health", "steps"} <= set(svc)
        assert svc["state"] == "waiting"
        for step in svc["steps"]:
            assert {"done", "by", "at"} <= set(step)
            assert step["done"] is False and step["by"] is None and step["at"] is None
    gateway = service(data, "api-gateway")
    assert gateway["team"] == "infra"
    assert gateway["version"] == "1.8.0"
    assert gateway["steps"][0]["text"] == "Deploy 1.8.0"
    assert len(service(data, "user-service")["steps"]) == 5
    assert len(service(data, "mobile-backend")["steps"]) == 4  # default_steps

    ids = [i["id"] for i in data["checklists"]]
    assert len(ids) == 29
    assert [f"gng-{n}" for n in range(1, 9)] == [i for i in ids if i.startswith("gng-")]
    assert [f"backend-{n}" for n in range(1, 7)] == [i for i in ids if i.startswith("backend-")]
    for entry in data["checklists"]:
        assert set(entry) >= {"id", "text", "team", "done", "by", "at"}
        assert entry["done"] is False and entry["by"] is None and entry["at"] is None
    assert item(data, "gng-1")["team"] is None
    assert item(data, "backend-4") == {
        "id": "backend-4",
        "text": "Database migrations ready",
        "team": "backend",
        "done": False,
        "by": None,
        "at": None,
    }

    assert len(data["triggers"]) == 4 * 6  # error-rate-trial is a dry run, evaluated too
    for trig in data["triggers"]:
        assert {"name", "service", "state", "since", "fired_at", "acked_by"} <= set(trig)
        assert trig["dry_run"] is (trig["name"] == "error-rate-trial") and not trig["gates"]
        assert trig["fired_at"] is None and trig["acked_by"] is None
    assert trigger(data, "error-rate", "user-service")["state"] == "inactive"

    assert len(data["log"]) == 1
    assert {"at", "author", "text"} <= set(data["log"][0])
    assert data["log"][0]["author"] == "sarah"
    assert data["log"][0]["at"] == NOW
    assert "v2.5.0" in data["log"][0]["text"]


def test_status_text(loaded: Cli) -> None:
    out = loaded.ok("status").stdout
    assert "Release v2.5.0" in out
    assert "decision: none yet" in out
    for name in (
        "api-gateway",
        "auth-service",
        "logging-service",
        "user-service",
        "mobile-backend",
        "web-frontend",
    ):
        assert name in out
    assert "Go/no-go checklist: 0/8 checked" in out
    assert "gng-1" in out


HOSTILE = "deploy \x1b]0;pwned\x07 done \x1b[2J gone \x9b31m red \x08\x08 back \u202eevil"
CONTROLS = ("\x1b", "\x07", "\x9b", "\x08", "\u202e")


@pytest.mark.parametrize(
    ("day", "now", "local"),
    [
        # Berlin is on CET (UTC+1) in March, on CEST (UTC+2) in July.
        (
            "2024-03-20",
            "2024-03-20T13:20:00Z",
            {
                "13:20": "14:20",
                "13:30": "14:30",
                "14:00": "15:00",
                "16:00": "17:00",
                "18:00": "19:00",
                "zone": "CET",
            },
        ),
        (
            "2024-07-10",
            "2024-07-10T13:20:00Z",
            {
                "13:20": "15:20",
                "13:30": "15:30",
                "14:00": "16:00",
                "16:00": "18:00",
                "18:00": "20:00",
                "zone": "CEST",
            },
        ),
    ],
    ids=["CET", "CEST"],
)
def test_status_text_shows_times_on_the_plan_s_clock(
    cli: Cli, day: str, now: str, local: dict[str, str]
) -> None:
    plan = cli.cwd / "berlin.yaml"
    text = SAMPLE.read_text(encoding="utf-8").replace("timezone: UTC", "timezone: Europe/Berlin")
    plan.write_text(text.replace("2024-03-20", day), encoding="utf-8")
    cli.env["WARROOM_NOW"] = now
    cli.ok("load", str(plan), "--as", "sarah")
    cli.ok("item", "check", *[i["id"] for i in cli.status()["checklists"]], "--as", "sarah")
    cli.ok("decide", "go", "--as", "sarah", "--why", "all green")
    zone = local["zone"]

    out = cli.ok("status").stdout

    assert f"now {local['13:20']} {zone}" in out
    assert f"go/no-go {local['13:30']} {zone}" in out
    assert f"window {day} {local['14:00']}–{local['16:00']} {zone}" in out
    assert f"rollback until {local['18:00']} {zone}" in out
    assert f"by sarah at {local['13:20']} {zone}" in out
    assert f"Services (deploy waves; times in {zone})" in out
    assert "api-gateway" in out and f"planned {local['14:00']}" in out
    assert f"Log (times in {zone})" in out
    assert f"  {local['13:20']}:00 " in out
    assert "UTC" not in out  # the load's log line too is on the plan's clock
    # Scripts keep UTC ISO-8601.
    assert cli.status()["release"]["window"]["start"] == f"{day}T14:00:00Z"
    # Refusals that quote a time use the same clock.
    line = cli.refused("item", "check", "gng-1", "--as", "sarah")
    assert f"already checked by sarah at {local['13:20']}:00 {zone}" in line


def test_status_text_shows_what_people_wrote_inert(ready: Cli) -> None:
    ready.ok("decide", "go", "--as", "sarah", "--why", HOSTILE)
    ready.env["WARROOM_NOW"] = WINDOW_OPENS
    ready.ok("say", HOSTILE, "--as", "mike")
    ready.ok("deploy", "start", "api-gateway", "--as", "raj")
    ready.ok("deploy", "fail", "api-gateway", "--as", "raj", "--reason", HOSTILE)

    out = ready.ok("status").stdout

    for control in CONTROLS:
        assert control not in out, f"{control!r} reached the terminal"
    assert "deploy ␛]0;pwned␇ done ␛[2J gone \\x9b31m red ␈␈ back \\u202eevil" in out
    # The rationale (decision line and its log line), the message, the failure reason.
    assert out.count("␛]0;pwned␇") == 4
    # JSON escapes control characters itself and keeps the text as written.
    assert any(entry["text"] == HOSTILE for entry in ready.status()["log"])


def test_cli_output_shows_what_people_wrote_inert(cli: Cli) -> None:
    # A plan whose texts carry escape sequences is refused, and the refusal
    # quotes them inert; what people type at run time is shown inert too.
    hostile = "\\e]0;pwned\\a \\e[2J \\x9b31m \\b\\u202e"
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("steps: [Deploy 1.8.0,", f'steps: ["Deploy {hostile}",', 1)
    text = text.replace("  - All services show READY", f'  - "All READY {hostile}"', 1)
    plan = cli.cwd / "hostile.yaml"
    plan.write_text(text, encoding="utf-8")
    outputs = [cli("load", str(plan), "--as", "sarah"), cli("check", str(plan))]
    assert all(proc.returncode == 1 for proc in outputs)
    assert "hostile.yaml:37: services[0].steps[0]: control character" in outputs[0].stderr
    outputs.append(cli.ok("load", str(SAMPLE), "--as", "sarah"))
    keys = [i["id"] for i in cli.status()["checklists"]]
    outputs.append(cli.ok("item", "check", *keys, "--as", "sarah"))
    cli.ok("decide", "go", "--as", "sarah", "--why", HOSTILE)
    cli.env["WARROOM_NOW"] = WINDOW_OPENS
    outputs.append(cli.ok("step", "done", "api-gateway", "--as", "raj"))
    outputs.append(cli.ok("deploy", "fail", "api-gateway", "--reason", HOSTILE, "--as", "raj"))
    outputs.append(cli.ok("say", HOSTILE, "--as", "mike"))
    outputs.append(cli("say", "x", "--as", "nobody\x1b[2J"))
    outputs.append(cli("status"))

    for proc in outputs:
        for control in CONTROLS:
            assert control not in proc.stdout + proc.stderr, (control, describe(proc))
    shown = "".join(proc.stdout + proc.stderr for proc in outputs)
    assert "␛]0;pwned␇" in shown  # the status text shows the message, inert
    assert "nobody" in shown  # refused, its name quoted inert
    assert cli.status()["log"][-1]["text"].startswith(HOSTILE.split(maxsplit=1)[0])


# ---------------------------------------------------------------- identity


def test_as_wins_over_warroom_user(loaded: Cli) -> None:
    loaded.env["WARROOM_USER"] = "pat"
    loaded.ok("say", "from", "mike", "--as", "mike")
    assert loaded.status()["log"][-1]["author"] == "mike"
    # The group-level --as works as well.
    loaded.ok("--as", "jen", "say", "from", "jen")
    assert loaded.status()["log"][-1]["author"] == "jen"


def test_warroom_user_wins_over_login_name(loaded: Cli) -> None:
    for var in LOGIN_VARS:
        loaded.env[var] = "kim"
    loaded.env["WARROOM_USER"] = "pat"
    loaded.ok("say", "hello")
    assert loaded.status()["log"][-1]["author"] == "pat"


def test_login_name_is_the_last_resort(loaded: Cli) -> None:
    for var in LOGIN_VARS:
        loaded.env[var] = "lisa"
    loaded.ok("say", "lisa", "here")
    assert loaded.status()["log"][-1]["author"] == "lisa"
    # ...and lisa's role applies: an on-call engineer cannot decide.
    assert "lisa" in loaded.refused("decide", "no-go", "--why", "nope")


@pytest.mark.parametrize("how", ["--as", "WARROOM_USER", "login"])
def test_unknown_person_is_refused_listing_who_can_act(loaded: Cli, how: str) -> None:
    args = ["say", "let", "me", "in"]
    if how == "--as":
        args += ["--as", "mallory"]
    elif how == "WARROOM_USER":
        loaded.env["WARROOM_USER"] = "mallory"
    else:
        for var in LOGIN_VARS:
            loaded.env[var] = "mallory"
    line = loaded.refused(*args)
    assert "mallory" in line
    for person in PEOPLE:
        assert person in line
    assert len(loaded.status()["log"]) == 1


@pytest.mark.parametrize("how", ["--as", "WARROOM_USER", "login"])
@pytest.mark.parametrize(
    "args", [("decide", "no-go", "--why", "x"), ("item", "uncheck", "gng-1")], ids=str
)
def test_nobody_can_act_as_the_system(loaded: Cli, how: str, args: tuple[str, ...]) -> None:
    """`warroom` is the poller's and the SSH front door's name, not a way in for people."""
    loaded.ok("item", "check", "gng-1", "--as", "sarah")
    argv = list(args)
    if how == "--as":
        argv += ["--as", "warroom"]
    elif how == "WARROOM_USER":
        loaded.env["WARROOM_USER"] = "warroom"
    else:
        for var in LOGIN_VARS:
            loaded.env[var] = "warroom"
    line = loaded.refused(*argv)
    assert "not a person" in line
    assert {"--as": "--as warroom", "WARROOM_USER": "$WARROOM_USER", "login": "login name"}[
        how
    ] in line


# ---------------------------------------------------------------- the "Done when" story


def test_done_when_story(loaded: Cli) -> None:
    # An on-call engineer cannot decide; nothing changes.
    before = loaded.status()
    line = loaded.refused("decide", "go", "--as", "lisa")
    assert "lisa" in line and "release manager" in line
    assert loaded.status() == before

    # The release manager checks every item and decides GO.
    keys = [i["id"] for i in before["checklists"]]
    checked = loaded.ok("item", "check", *keys, "--as", "sarah")
    assert len(checked.stdout.splitlines()) == len(keys)
    after_check = loaded.status()
    assert all(
        i["done"] and i["by"] == "sarah" and i["at"] == NOW for i in after_check["checklists"]
    )
    loaded.ok("decide", "go", "--as", "sarah")
    loaded.env["WARROOM_NOW"] = WINDOW_OPENS  # no deploy starts before the window opens
    decided = loaded.status()
    assert decided["release"]["decision"]["kind"] == "GO"
    assert decided["release"]["decision"]["by"] == "sarah"

    # lisa cannot start auth-service before infra finished api-gateway...
    before = loaded.status()
    assert "api-gateway" in loaded.refused("step", "done", "auth-service", "--as", "lisa")
    # ...and cannot do api-gateway's steps herself: another team's service.
    assert "infra" in loaded.refused("step", "done", "api-gateway", "--as", "lisa")
    assert loaded.status() == before

    # Infra (raj and tom) work through api-gateway's runbook.
    steps_done_by(loaded, "api-gateway", "raj", 2)
    assert "api-gateway" in loaded.refused("step", "done", "auth-service", "--as", "lisa")
    steps_done_by(loaded, "api-gateway", "tom", 2)
    gateway = service(loaded.status(), "api-gateway")
    assert gateway["state"] == "done"
    assert [s["by"] for s in gateway["steps"]] == ["raj", "raj", "tom", "tom"]

    # Now lisa works through auth-service's runbook.
    steps_done_by(loaded, "auth-service", "lisa", 1)
    auth = service(loaded.status(), "auth-service")
    assert auth["state"] == "deploying"
    assert auth["steps"][0] == {
        **auth["steps"][0],
        "done": True,
        "by": "lisa",
        "at": WINDOW_OPENS,
    }
    steps_done_by(loaded, "auth-service", "lisa", 3)
    assert service(loaded.status(), "auth-service")["state"] == "done"

    # Still never another team's service.
    assert "infra" in loaded.refused("step", "done", "logging-service", "--as", "lisa")


# ---------------------------------------------------------------- deploys


def test_deploy_start_allowed_and_refused(loaded: Cli) -> None:
    assert "decision" in loaded.refused("deploy", "start", "api-gateway", "--as", "raj")
    keys = [i["id"] for i in loaded.status()["checklists"]]
    loaded.ok("item", "check", *keys, "--as", "sarah")
    loaded.ok("decide", "go", "--as", "sarah")
    assert "opens at 14:00 UTC" in loaded.refused("deploy", "start", "api-gateway", "--as", "raj")
    loaded.env["WARROOM_NOW"] = WINDOW_OPENS

    assert "api-gateway" in loaded.refused("deploy", "start", "auth-service", "--as", "lisa")
    assert "infra" in loaded.refused("deploy", "start", "api-gateway", "--as", "lisa")
    proc = loaded.ok("deploy", "start", "api-gateway", "--as", "raj")
    assert "api-gateway" in proc.stdout
    gateway = service(loaded.status(), "api-gateway")
    assert gateway["state"] == "deploying"
    assert gateway["state_by"] == "raj"
    assert "already deploying" in loaded.refused("deploy", "start", "api-gateway", "--as", "raj")


def test_deploy_done_refused_while_steps_are_open(go: Cli) -> None:
    assert "waiting" in go.refused("deploy", "done", "api-gateway", "--as", "raj")
    go.ok("deploy", "start", "api-gateway", "--as", "raj")
    go.ok("step", "done", "api-gateway", "--as", "raj")
    line = go.refused("deploy", "done", "api-gateway", "--as", "raj")
    assert "3 runbook steps" in line
    assert service(go.status(), "api-gateway")["state"] == "deploying"


def test_deploy_done_allowed_for_a_service_without_steps(cli: Cli) -> None:
    plan = cli.cwd / "mini.yaml"
    plan.write_text(NO_STEPS_PLAN, encoding="utf-8")
    cli.ok("load", str(plan), "--as", "sarah")
    cli.ok("decide", "go", "--as", "sarah")
    cli.env["WARROOM_NOW"] = WINDOW_OPENS
    cli.ok("deploy", "start", "cache", "--as", "raj")
    proc = cli.ok("deploy", "done", "cache", "--as", "raj")
    assert "cache is done" in proc.stdout
    status = cli.status()
    assert service(status, "cache")["state"] == "done"
    assert any("cache" in entry["text"] and "done" in entry["text"] for entry in status["log"])
    assert "done" in cli.refused("deploy", "done", "cache", "--as", "raj")


def test_deploy_fail_allowed_and_refused(go: Cli) -> None:
    assert "not started" in go.refused(
        "deploy", "fail", "api-gateway", "--as", "raj", "--reason", "x"
    )
    go.ok("deploy", "start", "api-gateway", "--as", "raj")
    assert "infra" in go.refused("deploy", "fail", "api-gateway", "--as", "lisa", "--reason", "x")
    go.ok("deploy", "fail", "api-gateway", "--as", "raj", "--reason", "pods crashlooping")
    status = go.status()
    assert service(status, "api-gateway")["state"] == "failed"
    assert "pods crashlooping" in status["log"][-1]["text"]
    assert "already failed" in go.refused(
        "deploy", "fail", "api-gateway", "--as", "raj", "--reason", "x"
    )


def test_deploy_fail_needs_a_reason(go: Cli) -> None:
    go.ok("deploy", "start", "api-gateway", "--as", "raj")
    before = dump(go.db)
    missing = go("deploy", "fail", "api-gateway", "--as", "raj")
    assert missing.returncode == 2, describe(missing)
    assert "--reason" in missing.stderr
    assert "say what went wrong with api-gateway" in go.refused(
        "deploy", "fail", "api-gateway", "--as", "raj", "--reason", "  "
    )
    assert dump(go.db) == before
    assert service(go.status(), "api-gateway")["state"] == "deploying"


def test_go_no_go_item_refusal_names_the_release_manager_only(ready: Cli) -> None:
    line = ready.refused("item", "uncheck", "gng-1", "--as", "lisa")
    assert line.endswith("may not check or uncheck gng-1: only the release manager can"), line


# ---------------------------------------------------------------- runbook steps


def test_step_done_in_order_only(go: Cli) -> None:
    line = go.refused("step", "done", "api-gateway", "--step", "2", "--as", "raj")
    assert "#1" in line and "#2" in line
    go.ok("step", "done", "api-gateway", "--step", "1", "--as", "raj")
    assert "#2" in go.refused("step", "done", "api-gateway", "--step", "1", "--as", "raj")
    go.ok("step", "done", "api-gateway", "--step", "2", "--as", "raj")
    steps = service(go.status(), "api-gateway")["steps"]
    assert [s["done"] for s in steps] == [True, True, False, False]
    assert service(go.status(), "api-gateway")["state"] == "verifying"


def test_step_undo_allowed_and_refused(go: Cli) -> None:
    assert "no completed" in go.refused("step", "undo", "api-gateway", "--as", "raj")
    go.ok("step", "done", "api-gateway", "--as", "raj")
    assert "infra" in go.refused("step", "undo", "api-gateway", "--as", "lisa")
    go.ok("step", "undo", "api-gateway", "--as", "raj")
    gateway = service(go.status(), "api-gateway")
    assert gateway["steps"][0]["done"] is False
    assert gateway["steps"][0]["by"] is None

    # A done service cannot be reopened once a dependent started on its strength.
    steps_done_by(go, "api-gateway", "raj", 4)
    go.ok("step", "done", "auth-service", "--as", "lisa")
    line = go.refused("step", "undo", "api-gateway", "--as", "raj")
    assert "auth-service" in line
    assert service(go.status(), "api-gateway")["state"] == "done"


# ---------------------------------------------------------------- rollback


def test_rollback_goes_in_reverse_dependency_order(go: Cli) -> None:
    steps_done_by(go, "api-gateway", "raj", 4)
    go.ok("step", "done", "auth-service", "--as", "lisa")

    assert "release manager" in go.refused("rollback", "start", "auth-service", "--as", "lisa")
    # api-gateway cannot roll back while auth-service still carries the new release.
    assert "auth-service" in go.refused("rollback", "start", "api-gateway", "--as", "sarah")
    assert "not rolling back" in go.refused("rollback", "done", "auth-service", "--as", "lisa")
    assert "nothing to roll back" in go.refused(
        "rollback", "start", "logging-service", "--as", "sarah"
    )

    go.ok("rollback", "start", "auth-service", "--as", "sarah", "--reason", "error spike")
    assert service(go.status(), "auth-service")["state"] == "rolling_back"
    assert "infra" in go.refused("rollback", "done", "auth-service", "--as", "raj")
    go.ok("rollback", "done", "auth-service", "--as", "lisa")
    assert service(go.status(), "auth-service")["state"] == "rolled_back"

    go.ok("rollback", "start", "api-gateway", "--as", "sarah")
    go.ok("rollback", "done", "api-gateway", "--as", "tom")
    status = go.status()
    assert service(status, "api-gateway")["state"] == "rolled_back"
    assert "rolled back" in go.refused("rollback", "start", "api-gateway", "--as", "sarah")


# ---------------------------------------------------------------- checklist items


def test_item_check_and_uncheck_by_a_team_lead(loaded: Cli) -> None:
    proc = loaded.ok("item", "check", "backend-1", "--as", "mike")
    assert "backend-1" in proc.stdout
    checked = item(loaded.status(), "backend-1")
    assert checked["done"] is True and checked["by"] == "mike" and checked["at"] == NOW

    assert "infra" in loaded.refused("item", "check", "infra-1", "--as", "mike")
    assert "release manager" in loaded.refused("item", "check", "gng-1", "--as", "mike")
    assert "already checked" in loaded.refused("item", "check", "backend-1", "--as", "mike")
    assert "unknown" in loaded.refused("item", "check", "backend-99", "--as", "mike")

    loaded.ok("item", "uncheck", "backend-1", "--as", "mike")
    unchecked = item(loaded.status(), "backend-1")
    assert unchecked["done"] is False and unchecked["by"] is None
    assert "not checked" in loaded.refused("item", "uncheck", "backend-1", "--as", "mike")

    loaded.ok("item", "check", "infra-1", "--as", "sarah")
    assert "infra" in loaded.refused("item", "uncheck", "infra-1", "--as", "mike")
    assert "release manager" in loaded.refused("item", "check", "backend-2", "--as", "lisa")


def test_item_check_of_several_keys_is_all_or_nothing(loaded: Cli) -> None:
    # Regression: each key used to be its own transaction, so backend-1 stayed
    # checked although the command was refused on infra-1.
    line = loaded.refused("item", "check", "backend-1", "infra-1", "--as", "mike")
    assert "infra-1" in line
    assert item(loaded.status(), "backend-1")["done"] is False
    loaded.ok("item", "check", "backend-1", "backend-2", "--as", "mike")
    loaded.refused("item", "uncheck", "backend-1", "backend-2", "backend-3", "--as", "mike")
    status = loaded.status()
    assert item(status, "backend-1")["done"] and item(status, "backend-2")["done"]


# ---------------------------------------------------------------- the decision


def test_decide_go_and_no_go(loaded: Cli) -> None:
    line = loaded.refused("decide", "go", "--as", "sarah")
    assert "gng-1" in line
    assert "rationale" in loaded.refused("decide", "no-go", "--as", "sarah")
    assert "lisa" in loaded.refused("decide", "no-go", "--why", "x", "--as", "lisa")
    loaded.ok("decide", "no-go", "--why", "staging is broken", "--as", "sarah")
    decision = loaded.status()["release"]["decision"]
    assert decision["kind"] == "NO-GO"
    assert decision["rationale"] == "staging is broken"
    assert decision["by"] == "sarah" and decision["at"] == NOW
    assert "NO-GO" in loaded.refused("deploy", "start", "api-gateway", "--as", "raj")


def test_decide_partial_must_be_closed_under_dependencies(ready: Cli) -> None:
    line = ready.refused(
        "decide", "partial", "auth-service", "--why", "mobile not ready", "--as", "sarah"
    )
    assert "api-gateway" in line
    assert "rationale" in ready.refused(
        "decide", "partial", "api-gateway", "auth-service", "--as", "sarah"
    )
    assert "PARTIAL" in ready.refused("decide", "go", "api-gateway", "--as", "sarah")
    ready.ok(
        "decide",
        "partial",
        "auth-service",
        "api-gateway",
        "--why",
        "mobile not ready",
        "--as",
        "sarah",
    )
    decision = ready.status()["release"]["decision"]
    assert decision["kind"] == "PARTIAL"
    assert decision["subset"] == ["api-gateway", "auth-service"]
    ready.env["WARROOM_NOW"] = WINDOW_OPENS
    assert "PARTIAL" in ready.refused("deploy", "start", "logging-service", "--as", "raj")
    ready.ok("deploy", "start", "api-gateway", "--as", "raj")


def test_override_and_hold_release_from_the_command_line(ready: Cli) -> None:
    ready.env["WARROOM_NOW"] = "2024-03-20T13:31:00Z"
    ready.ok("decide", "go", "--as", "sarah")
    assert "opens at 14:00 UTC" in ready.refused("step", "done", "api-gateway", "--as", "raj")
    assert "only the release manager" in ready.refused(
        "override", "window", "--for", "15m", "--reason", "early", "--as", "raj"
    )
    proc = ready.ok("override", "window", "--for", "15m", "--reason", "early", "--as", "sarah")
    assert proc.stdout == "the deploy window is overridden until 13:46:00 UTC\n"
    ready.ok("step", "done", "api-gateway", "--as", "raj")
    overrides = ready.status()["overrides"]
    assert [(o["target"], o["until"], o["active"]) for o in overrides] == [
        ("window", "2024-03-20T13:46:00Z", True)
    ]
    ready.ok("deploy", "fail", "api-gateway", "--as", "raj", "--reason", "routing")
    status = ready.status()
    assert status["holds"][0] == {"service": "auth-service", "held_by": ["api-gateway"]}
    assert "auth-service" not in status["startable"]
    usage = ready("hold", "release", "auth-service", "--as", "sarah")
    assert usage.returncode == 2 and "--reason" in usage.stderr
    ready.ok("hold", "release", "auth-service", "--reason", "not routed", "--as", "sarah")
    assert "auth-service" not in [h["service"] for h in ready.status()["holds"]]


def test_decide_usage_error_exits_2(loaded: Cli) -> None:
    proc = loaded("decide", "maybe", "--as", "sarah")
    assert proc.returncode == 2
    assert "maybe" in proc.stderr


# ---------------------------------------------------------------- messages and triggers


def test_say(loaded: Cli) -> None:
    assert loaded.ok("say", "deploy", "in", "ten", "--as", "pat").stdout.strip() == "message posted"
    entry = loaded.status()["log"][-1]
    assert entry == {**entry, "author": "pat", "text": "deploy in ten", "at": NOW}
    assert "empty" in loaded.refused("say", "   ", "--as", "pat")
    assert "2000" in loaded.refused("say", "x" * 2001, "--as", "pat")


def test_trigger_raise_then_ack(loaded: Cli) -> None:
    assert "infra" in loaded.refused(
        "trigger", "raise", "api-gateway", "--reason", "x", "--as", "mike"
    )
    assert "lisa" in loaded.refused(
        "trigger", "raise", "user-service", "--reason", "x", "--as", "lisa"
    )
    proc = loaded.ok("trigger", "raise", "user-service", "--reason", "error spike", "--as", "mike")
    assert "lead-call@user-service" in proc.stdout
    firing = trigger(loaded.status(), "lead-call", "user-service")
    assert firing["state"] == "firing"
    assert firing["fired_at"] == NOW
    assert firing["acked_by"] is None
    assert "already firing" in loaded.refused(
        "trigger", "raise", "user-service", "--reason", "again", "--as", "mike"
    )

    assert "backend" in loaded.refused("ack", "lead-call@user-service", "--as", "raj")
    loaded.ok("ack", "lead-call@user-service", "--as", "lisa")
    acked = trigger(loaded.status(), "lead-call", "user-service")
    assert acked["acked_by"] == "lisa"
    assert acked["state"] != "firing"
    assert "not firing" in loaded.refused("ack", "lead-call@user-service", "--as", "lisa")


def test_ack_unknown_trigger_is_refused(loaded: Cli) -> None:
    line = loaded.refused("ack", "no-such-rule@user-service", "--as", "lisa")
    assert "no-such-rule@user-service" in line
    assert "not firing" in loaded.refused("ack", "error-rate@user-service", "--as", "lisa")


def test_trigger_raise_needs_a_reason(loaded: Cli) -> None:
    proc = loaded("trigger", "raise", "user-service", "--as", "mike")
    assert proc.returncode == 2
    assert "--reason" in proc.stderr


# ---------------------------------------------------------------- audit


def test_audit_verify_counts_events_and_detects_tampering(loaded: Cli) -> None:
    loaded.ok("say", "hello", "--as", "pat")  # event 2
    loaded.ok("item", "check", "backend-1", "--as", "mike")  # event 3
    loaded.ok("trigger", "raise", "user-service", "--reason", "spike", "--as", "mike")  # event 4
    loaded.refused("decide", "go", "--as", "lisa")  # no event
    proc = loaded.ok("audit", "verify")
    assert "intact" in proc.stdout
    assert "4 events" in proc.stdout

    # The append-only trigger stops an honest UPDATE...
    with closing(sqlite3.connect(loaded.db)) as conn:
        with pytest.raises(sqlite3.DatabaseError):
            conn.execute("UPDATE audit_event SET payload = '{}' WHERE id = 3")
        conn.rollback()
    assert loaded.ok("audit", "verify").returncode == 0

    # ...but a deliberate one is caught by the hash chain.
    with closing(sqlite3.connect(loaded.db)) as conn:
        conn.execute("DROP TRIGGER audit_event_no_update")
        conn.execute(
            """UPDATE audit_event SET payload = '{"item":"backend-1","forged":true}' WHERE id = 3"""
        )
        conn.commit()
    line = assert_refused(loaded("audit", "verify"))
    assert "#3" in line
    assert "2 good events" in line


def test_audit_head_checkpoint_proves_the_chain_up_to_it(loaded: Cli) -> None:
    loaded.ok("say", "hello", "--as", "pat")
    checkpoint = loaded.ok("audit", "head").stdout.strip()
    count, _, digest = checkpoint.partition(":")
    assert count == "2" and len(digest) == 64
    loaded.ok("say", "later", "--as", "pat")
    proc = loaded.ok("audit", "verify", "--checkpoint", checkpoint)
    assert "intact: 3 events" in proc.stdout and "checkpoint 2 holds" in proc.stdout

    # The tail cut off, the head moved back: refused with and without the checkpoint.
    with closing(sqlite3.connect(loaded.db)) as conn:
        conn.execute("DROP TRIGGER audit_event_no_delete")
        conn.execute("DELETE FROM audit_event WHERE id >= 2")
        conn.execute(
            "UPDATE audit_head SET last_id = 1, last_hash = (SELECT hash FROM audit_event)"
        )
        conn.commit()
    assert "seal does not match" in assert_refused(loaded("audit", "verify"))
    line = assert_refused(loaded("audit", "verify", "--checkpoint", checkpoint))
    assert "1 good events" in line
    assert_refused(loaded("audit", "head"))  # no checkpoint of a broken chain

    bad = loaded("audit", "verify", "--checkpoint", "2:nothex")
    assert bad.returncode == 2 and "not an audit checkpoint" in bad.stderr


def test_audit_verify_names_a_malformed_event(loaded: Cli) -> None:
    loaded.ok("say", "hello", "--as", "pat")
    with closing(sqlite3.connect(loaded.db)) as conn:
        conn.execute("DROP TRIGGER audit_event_no_update")
        conn.execute("UPDATE audit_event SET at = 'not a date' WHERE id = 2")
        conn.commit()
    line = assert_refused(loaded("audit", "verify"))
    assert "audit event #2 is malformed: its at is 'not a date'" in line


# ---------------------------------------------------------------- refusals and help


@pytest.mark.parametrize(
    "args",
    [
        ("decide", "go", "--as", "lisa"),
        ("step", "done", "api-gateway", "--as", "lisa"),
        ("deploy", "start", "no-such-service", "--as", "sarah"),
        ("item", "check", "gng-1", "--as", "pat"),
        ("ack", "bogus", "--as", "lisa"),
    ],
)
def test_a_refusal_is_one_warroom_line_on_stderr(loaded: Cli, args: tuple[str, ...]) -> None:
    loaded.refused(*args)


def test_group_help_lists_subcommands(cli: Cli) -> None:
    proc = cli.ok("--help")
    commands = proc.stdout.split("Commands:", 1)[1]
    for name in (
        "check",
        "load",
        "status",
        "deploy",
        "step",
        "rollback",
        "item",
        "decide",
        "say",
        "ack",
        "trigger",
        "audit",
    ):
        assert f"  {name} " in commands or f"  {name}\n" in commands, name
    deploy = cli.ok("deploy", "--help").stdout
    for name in ("start", "done", "fail"):
        assert name in deploy.split("Commands:", 1)[1]
