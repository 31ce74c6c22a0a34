"""The real `warroom` command on PostgreSQL: every kind of command, migrations included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SAMPLE
from tests.pg import PgServer

WARROOM = str(Path(sys.executable).parent / "warroom")


def test_a_release_day_on_postgres_from_the_command_line(
    pg_server: PgServer, tmp_path: Path
) -> None:
    name = pg_server.create_database()  # empty: the CLI must create the schema itself
    url = pg_server.url(name)
    env = {k: v for k, v in os.environ.items() if k not in {"WARROOM_DB", "WARROOM_USER"}}
    env["WARROOM_NOW"] = "2024-03-20T13:20:00Z"

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [WARROOM, *args, "--db", url],
            check=False,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Traceback" not in proc.stderr
        assert (proc.returncode == 0) is ok, proc.stderr
        return proc

    try:
        assert "loaded release v2.5.0" in run("load", str(SAMPLE), "--as", "sarah").stdout
        status = json.loads(run("status", "--json").stdout)
        keys = [item["id"] for item in status["checklists"]]
        run("decide", "go", "--as", "lisa", ok=False)
        run("item", "check", *keys, "--as", "sarah")
        run("decide", "go", "--as", "sarah", "--why", "ready")
        env["WARROOM_NOW"] = "2024-03-20T14:00:00Z"  # the deploy window opens
        for _ in range(4):
            run("step", "done", "api-gateway", "--as", "raj")
        run("step", "done", "api-gateway", "--as", "raj", ok=False)  # no steps left
        run("step", "done", "auth-service", "--as", "lisa")
        run("deploy", "fail", "auth-service", "--as", "lisa", "--reason", "5xx")
        run("rollback", "start", "api-gateway", "--as", "sarah", ok=False)  # dependents first
        run("rollback", "start", "auth-service", "--as", "sarah")
        run("rollback", "done", "auth-service", "--as", "lisa")
        run("say", "rolled back auth", "--as", "mike")
        status = json.loads(run("status", "--json").stdout)
        states = {s["name"]: s["state"] for s in status["services"]}
        assert states["api-gateway"] == "done" and states["auth-service"] == "rolled_back"
        assert status["log"][-1]["text"] == "rolled back auth"
        assert "audit chain intact" in run("audit", "verify").stdout
    finally:
        pg_server.drop_database(name)
