"""The SSH front door's parts on their own: keys, quoting, the host key, the pty bridge."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest

from warroom.clock import FixedClock
from warroom.ssh.hostkey import HostKeyError, load_or_create
from warroom.ssh.keys import (
    KeyFileError,
    PlanPerson,
    authorized_keys_line,
    build_ring,
    forced_command,
    parse_public_key,
    read_extra_keys,
)
from warroom.ssh.pty import PtyChild, WindowSize
from warroom.ssh.server import Room, ServerSettings, absolute_db_url
from warroom.store.engine import Store


def public_key(comment: str = "someone@laptop") -> str:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    return key.export_public_key("openssh").decode().strip()


# ---------------------------------------------------------------- keys


def test_public_keys_are_parsed_or_refused_in_words() -> None:
    text = public_key("mike@laptop")
    key = parse_public_key(text)
    assert key.get_comment() == "mike@laptop"
    assert key.get_fingerprint("sha256").startswith("SHA256:")
    for bad, words in [
        ("", "empty"),
        (text + "\n" + text, "several lines"),
        ("restrict " + text, "not an OpenSSH public key"),
        ("ssh-ed25519 AAAAnotbase64", "not an OpenSSH public key"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_public_key(bad)


def test_the_ring_matches_keys_by_blob_and_reports_what_it_skips() -> None:
    mike, lisa, shared = public_key("mike@a"), public_key("lisa@b"), public_key("shared")
    people = [
        PlanPerson("mike", "team_lead", "backend", (mike, shared)),
        PlanPerson("lisa", "oncall", "backend", (lisa, shared, "not a key")),
    ]
    # The same blob with another comment is the same key: comments decide nothing.
    mike_renamed = mike.rsplit(" ", 1)[0] + " whoever"
    from warroom.ssh.keys import ExtraKey

    ring = build_ring(
        "v2.5.0",
        people,
        [ExtraKey("ghost", public_key(), "extra:3"), ExtraKey("mike", mike_renamed, "extra:4")],
    )
    assert ring.owners(parse_public_key(mike)) == ["mike"]
    assert ring.owners(parse_public_key(lisa)) == ["lisa"]
    assert ring.owners(parse_public_key(shared)) == ["mike", "lisa"]
    assert ring.owners(parse_public_key(public_key())) == []
    assert len(ring.problems) == 2
    assert "lisa's key (plan: lisa.ssh_keys[2]) is skipped" in ring.problems[0]
    assert "extra:3 names 'ghost', who is not a person of release v2.5.0" in ring.problems[1]


def test_nobody_logs_in_as_the_system_even_if_a_plan_names_it() -> None:
    from warroom.ssh.keys import ExtraKey

    plan_key, extra_key = public_key("w@a"), public_key("w@b")
    people = [PlanPerson("warroom", "release_manager", "ops", (plan_key,))]
    ring = build_ring("v2.5.0", people, [ExtraKey("warroom", extra_key, "extra:1")])
    assert ring.owners(parse_public_key(plan_key)) == []
    assert ring.owners(parse_public_key(extra_key)) == []
    assert len(ring.problems) == 2
    assert all("nobody may log in as" in problem for problem in ring.problems)


def test_the_extra_keys_file_names_a_person_per_key(tmp_path: Path) -> None:
    mike, lisa = public_key("mike@old"), public_key("lisa@desk")
    path = tmp_path / "extra"
    path.write_text(
        f'# second laptops\n\nwarroom-person=mike {mike}\nwarroom-person="lisa" {lisa}\n',
        encoding="utf-8",
    )
    keys = read_extra_keys(path)
    assert [(k.person, k.key, k.where) for k in keys] == [
        ("mike", mike, f"{path}:3"),
        ("lisa", lisa, f"{path}:4"),
    ]
    path.write_text(f"# ok\n{mike}\n", encoding="utf-8")
    with pytest.raises(KeyFileError, match=rf"{path}:2: each key needs the person"):
        read_extra_keys(path)
    path.write_text("warroom-person=mike ssh-rsa nonsense\n", encoding="utf-8")
    with pytest.raises(KeyFileError, match=rf"{path}:1: .* is not an OpenSSH public key"):
        read_extra_keys(path)
    with pytest.raises(KeyFileError, match="does not exist"):
        read_extra_keys(tmp_path / "missing")


@pytest.mark.parametrize(
    "argv",
    [
        ["/opt/warroom/bin/warroom", "--db", "sqlite:////srv/war room/w.db", "--as", "mike"],
        ["/usr/bin/warroom", "--db", 'postgresql://u:p"a$s\\w@db/x', "--as", "o'brien"],
    ],
)
def test_forced_commands_survive_sshd_and_the_shell(argv: list[str]) -> None:
    option = forced_command(argv)
    assert '"' not in option.replace('\\"', "")  # no bare quote ends the option early
    # What sshd hands the shell (it only unescapes \"), and what the shell runs.
    assert shlex.split(option.replace('\\"', '"')) == argv


def test_an_authorized_keys_line_restricts_the_key_to_the_war_room() -> None:
    key = public_key("mike@laptop")
    line = authorized_keys_line(["/usr/bin/warroom", "--as", "mike"], key)
    assert line == f'restrict,pty,command="/usr/bin/warroom --as mike" {key}'


def test_sqlite_urls_are_made_absolute_and_passwords_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_db_url("sqlite:///rel/w.db") == f"sqlite:///{tmp_path}/rel/w.db"
    assert (
        absolute_db_url("postgresql://u:secret@db/warroom")
        == "postgresql+psycopg://u:secret@db/warroom"
    )


# ---------------------------------------------------------------- the host key


def test_the_host_key_is_made_once_private_and_then_kept(tmp_path: Path) -> None:
    path = tmp_path / "host_key"
    made = load_or_create(path)
    assert made.created and made.algorithm == "ssh-ed25519"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / "host_key.pub").read_text().startswith("ssh-ed25519 ")
    again = load_or_create(path)
    assert not again.created
    assert again.fingerprint == made.fingerprint


def test_a_host_key_that_cannot_be_used_is_an_error_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "host_key"
    path.write_text("not a key\n")
    path.chmod(0o600)
    with pytest.raises(HostKeyError, match=rf"host key {path} is not a usable"):
        load_or_create(path)
    assert path.read_text() == "not a key\n"
    load_or_create(tmp_path / "good")
    (tmp_path / "good").chmod(0o644)
    with pytest.raises(HostKeyError, match=r"readable by others \(mode 0644\); run: chmod 600"):
        load_or_create(tmp_path / "good")
    with pytest.raises(HostKeyError, match="is not a regular file"):
        load_or_create(tmp_path)
    with pytest.raises(HostKeyError, match="cannot create host key"):
        load_or_create(tmp_path / "no" / "such" / "folder" / "key")


# ---------------------------------------------------------------- the pty bridge


class Recorder:
    def __init__(self) -> None:
        self.output = bytearray()
        self.finished: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.events: list[str] = []

    def on_output(self, data: bytes) -> None:
        assert not self.finished.done(), "output after the finish"
        self.output += data

    def on_finished(self, code: int) -> None:
        self.events.append("finished")
        self.finished.set_result(code)

    def on_backlog(self, backlogged: bool) -> None:
        self.events.append(f"backlog {backlogged}")


TERMINAL = WindowSize(80, 24)


async def start(code: str, size: WindowSize = TERMINAL) -> tuple[Recorder, PtyChild]:
    """A child running Python `code` on a terminal of `size`, and what it does."""
    rec = Recorder()
    child = PtyChild(rec.on_output, rec.on_finished, rec.on_backlog)
    await child.start([sys.executable, "-c", code], {"PATH": os.environ.get("PATH", "")}, size)
    return rec, child


async def until_ready(rec: Recorder) -> None:
    """Wait for the child to print 'ready', which it does once it is set up."""
    for _ in range(400):
        if b"ready" in rec.output:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the child never said it was ready")


async def test_the_child_sees_a_terminal_of_the_given_size_and_all_output_comes_before_the_end() -> (
    None
):
    rec, child = await start(
        "import os, sys; c, r = os.get_terminal_size(0); "
        "print(f'{c}x{r} tty={os.isatty(1)}'); print('z' * 200000); sys.exit(3)",
        WindowSize(132, 43),
    )
    assert await asyncio.wait_for(rec.finished, 20) == 3
    text = rec.output.decode()
    assert "132x43 tty=True" in text
    assert text.count("z") == 200000
    assert not child.running


async def test_a_child_whose_output_is_not_read_waits_and_catches_up() -> None:
    # Far more than a pty buffers: the child cannot finish while nobody reads.
    rec, child = await start("import sys; sys.stdout.write('y' * 2_000_000); sys.stdout.flush()")
    child.pause_output()
    assert child.pid is not None
    # Wait until the child sits in write(2), blocked on the full pty.
    syscall = Path(f"/proc/{child.pid}/syscall")
    write_number = {"x86_64": "1", "aarch64": "64"}.get(os.uname().machine)
    if write_number is not None:
        for _ in range(400):
            if syscall.read_text().split()[0] == write_number:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the child never blocked writing to its terminal")
    received = len(rec.output)
    assert child.running and received < 2_000_000
    child.resume_output()
    assert await asyncio.wait_for(rec.finished, 30) == 0
    assert rec.output.count(b"y") == 2_000_000


async def test_stop_hangs_up_then_kills_a_child_that_ignores_it() -> None:
    rec, child = await start(
        "import signal, sys, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"  # alive until killed
    )
    await until_ready(rec)
    child.stop(grace=0.5)
    assert await asyncio.wait_for(rec.finished, 20) == -signal.SIGKILL


async def test_keys_for_a_child_that_does_not_read_them_are_held_back() -> None:
    rec, child = await start(
        "import sys, termios, time\n"
        "a = termios.tcgetattr(0); a[3] &= ~(termios.ICANON | termios.ECHO)\n"
        "termios.tcsetattr(0, termios.TCSANOW, a)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"  # and never read a key
    )
    await until_ready(rec)
    for _ in range(64):
        child.write(b"k" * 8192)  # 512 KiB of keys into a few KiB of pty buffer
    assert "backlog True" in rec.events
    child.stop(grace=2)
    await asyncio.wait_for(rec.finished, 20)


def test_a_sessions_app_inherits_only_what_it_needs(
    monkeypatch: pytest.MonkeyPatch, sqlite_store: Store, tmp_path: Path
) -> None:
    for name, value in {
        "PATH": "/usr/bin",
        "PGPASSFILE": "/srv/pgpass",
        "WARROOM_NOW": "2024-03-20T13:20:00Z",
        "WARROOM_USER": "sarah",
        "SSH_AUTH_SOCK": "/tmp/agent.sock",
        "DISPLAY": ":0",
        "TERM": "screen",
        "COLUMNS": "80",
    }.items():
        monkeypatch.setenv(name, value)
    settings = ServerSettings(
        db_url="sqlite:////srv/warroom.db", host_key=load_or_create(tmp_path / "k")
    )
    env = Room(settings, sqlite_store, FixedClock(datetime(2024, 3, 20, tzinfo=UTC))).child_env()
    assert env["PATH"] == "/usr/bin" and env["PGPASSFILE"] == "/srv/pgpass"
    assert env["WARROOM_NOW"] == "2024-03-20T13:20:00Z"
    assert env["WARROOM_DB"] == "sqlite:////srv/warroom.db"
    for name in ("WARROOM_USER", "SSH_AUTH_SOCK", "DISPLAY", "TERM", "COLUMNS"):
        assert name not in env


def test_the_test_terminal_hangs_up_its_client_even_under_nohup() -> None:
    """Terminal.close() is a window closing: its client gets SIGHUP and ends,
    even if this process ignores hang-ups (nohup), which exec would pass on."""
    from warroom.testing.ssh import Terminal

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        term = Terminal(
            [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]
        )  # the child lives until it is hung up (or killed after close()'s timeout)
        term.wait_for(lambda: "up" in term.text(), "the child to start", 30)
        term.close()
        assert term.process.returncode == -signal.SIGHUP
    finally:
        signal.signal(signal.SIGHUP, previous)
