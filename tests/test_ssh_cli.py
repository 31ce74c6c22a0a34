"""`warroom serve-ssh` and `warroom ssh-authorized-keys` as people run them.

Bad input ends in one sentence and exit 1 (2 for usage), never a traceback;
the authorized_keys lines parse with `ssh-keygen` and carry the right keys.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
from pathlib import Path

import pytest

from warroom.testing.ssh import (
    NOW,
    WARROOM,
    Key,
    make_key,
    plan_with_keys,
    require,
    serve_ssh,
    warroom,
)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(WARROOM), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "WARROOM_NOW": NOW},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def keyed(tmp_path: Path, db_path: Path) -> tuple[str, dict[str, Key]]:
    keys = {name: make_key(tmp_path, name) for name in ("mike", "lisa")}
    plan = plan_with_keys(tmp_path, {name: [key.public] for name, key in keys.items()})
    db = f"sqlite:///{db_path}"
    warroom("load", str(plan), "--as", "sarah", "--db", db)
    return db, keys


# ---------------------------------------------------------------- serve-ssh refusals


def test_serve_ssh_refuses_bad_input_in_one_sentence(
    tmp_path: Path, keyed: tuple[str, dict[str, Key]]
) -> None:
    db, _ = keyed
    bad_key = tmp_path / "bad_host_key"
    bad_key.write_text("garbage\n")
    bad_key.chmod(0o600)
    result = run("serve-ssh", "--db", db, "--host-key", str(bad_key))
    assert result.returncode == 1
    assert f"host key {bad_key} is not a usable" in result.stderr
    assert bad_key.read_text() == "garbage\n"  # never replaced

    new_key = tmp_path / "new_host_key"
    result = run("serve-ssh", "--db", db, "--host-key", str(new_key), "--port", "70000")
    assert result.returncode == 2
    assert not new_key.exists()

    extra = tmp_path / "extra"
    extra.write_text("# comment\nssh-ed25519 AAAA\n")
    result = run("serve-ssh", "--db", db, "--authorized-keys", str(extra), cwd=tmp_path)
    assert result.returncode == 1
    assert f"{extra}:2: each key needs the person it belongs to" in result.stderr

    result = run("serve-ssh", "--db", db, "--idle-timeout", "soon", cwd=tmp_path)
    assert result.returncode == 2
    assert "bad duration 'soon'" in result.stderr

    result = run("serve-ssh", "--db", f"sqlite:///{tmp_path}/none.db", cwd=tmp_path)
    assert result.returncode == 1
    assert "no warroom database at" in result.stderr

    # The key decides who you are; a server-wide identity would only mislead.
    result = run("serve-ssh", "--db", db, "--as", "mike", cwd=tmp_path)
    assert result.returncode == 1
    assert "serve-ssh does not run as mike: each connecting key decides" in result.stderr


def test_serve_ssh_says_when_the_port_is_taken(
    tmp_path: Path, keyed: tuple[str, dict[str, Key]]
) -> None:
    db, _ = keyed
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(
            "serve-ssh", "--db", db, "--port", str(port), "--host-key", str(tmp_path / "k")
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"warroom: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_the_host_key_is_created_once_and_kept_across_restarts(
    tmp_path: Path, keyed: tuple[str, dict[str, Key]]
) -> None:
    db, _ = keyed
    with serve_ssh(db, tmp_path) as first:
        created = first.wait_for_line(r"created host key .*host_key \(ssh-ed25519, SHA256:")
    assert first.process.returncode == 0
    assert oct((tmp_path / "host_key").stat().st_mode & 0o777) == "0o600"
    fingerprint = re.search(r"SHA256:\S+?(?=\))", created)
    assert fingerprint is not None
    with serve_ssh(db, tmp_path) as second:
        listening = second.wait_for_line("listening on")
    assert fingerprint.group(0) in listening
    assert not any("created host key" in line for line in second.lines)
    # Stopped cleanly, saying so.
    assert any("stopped" in line for line in second.lines)


# ---------------------------------------------------------------- ssh-authorized-keys


def test_authorized_keys_lines_parse_and_carry_each_persons_key(
    tmp_path: Path, keyed: tuple[str, dict[str, Key]]
) -> None:
    db, keys = keyed
    result = run("ssh-authorized-keys", "--db", db, "--command-path", "/opt/war room/warroom")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# warroom: release v2.5.0, 2 keys")
    body = lines[1:]
    assert len(body) == 2
    path = tmp_path / "authorized_keys"
    path.write_text(result.stdout)
    listed = subprocess.run(
        [require("ssh-keygen"), "-l", "-E", "sha256", "-f", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.splitlines()
    assert sorted(line.split()[1] for line in listed) == sorted(
        key.fingerprint for key in keys.values()
    )
    for person, line in zip(["lisa", "mike"], body, strict=True):  # people in name order
        match = re.fullmatch(r'restrict,pty,command="((?:[^"\\]|\\.)*)" (.*)', line)
        assert match is not None, line
        argv = shlex.split(match.group(1).replace('\\"', '"'))
        assert argv == [
            "/opt/war room/warroom",
            "--db",
            db,
            "--as",
            person,
            "tui",
            "--via",
            "ssh",
        ]
        assert match.group(2) == keys[person].public


def test_authorized_keys_default_to_this_warroom_and_an_absolute_database(
    tmp_path: Path, keyed: tuple[str, dict[str, Key]], db_path: Path
) -> None:
    result = run("ssh-authorized-keys", "--db", f"sqlite:///{db_path.name}", cwd=db_path.parent)
    assert result.returncode == 0, result.stderr
    assert f'command="{WARROOM} --db sqlite:///{db_path} --as lisa tui --via ssh"' in result.stdout


def test_a_plan_with_a_bad_key_is_refused_when_loaded(tmp_path: Path, db_path: Path) -> None:
    """A broken key is found when the plan is read, not when mike first connects."""
    plan = plan_with_keys(tmp_path, {"mike": ["ssh-ed25519 not-a-key mike@laptop"]})
    db = f"sqlite:///{db_path}"
    result = run("load", str(plan), "--as", "sarah", "--db", db)
    assert result.returncode == 1
    assert "ssh_keys[0]: the ssh-ed25519 key's body is not valid base64" in result.stderr
    assert "nothing was loaded" in result.stderr


def test_authorized_keys_without_keys_or_release_say_what_to_do(
    tmp_path: Path, db_path: Path
) -> None:
    db = f"sqlite:///{db_path}"
    result = run("ssh-authorized-keys", "--db", db, "--command-path", "/usr/bin/warroom")
    assert result.returncode == 1
    assert "no release is loaded" in result.stderr
    plan = plan_with_keys(tmp_path, {})
    warroom("load", str(plan), "--as", "sarah", "--db", db)
    result = run("ssh-authorized-keys", "--db", db, "--command-path", "/usr/bin/warroom")
    assert result.returncode == 1
    assert "nobody in release v2.5.0 has ssh_keys" in result.stderr
