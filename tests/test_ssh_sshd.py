"""The OpenSSH way: `warroom ssh-authorized-keys` lines in a real sshd's authorized_keys.

Debian's sshd runs on 127.0.0.1 with its own config, host key and
authorized_keys file in tmp_path (`sshd -D -e -f CONFIG`), and the real ssh
client logs in as the user running the tests: mike's key opens the war room
as mike through the forced command, and a key that is not in the file gets
nowhere. scripts/test-deps installs openssh-server, so a missing sshd fails.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import free_port
from warroom.testing.ssh import (
    first_frame,
    make_key,
    plan_with_keys,
    require,
    ssh_session,
    wait_until,
    warroom,
)

pytestmark = pytest.mark.slow

SSHD = "/usr/sbin/sshd"


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A private sshd on 127.0.0.1; yields its port and its authorized_keys file."""
    binary = require(SSHD)
    if os.geteuid() == 0:
        # sshd running as root insists on its privilege-separation folder,
        # which Debian's service script creates at boot.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_key = tmp_path / "sshd_host_key"
    subprocess.run(
        [require("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
        check=True,
        capture_output=True,
        timeout=20,
    )
    authorized = tmp_path / "authorized_keys"
    authorized.write_text("")
    port = free_port()
    config = tmp_path / "sshd_config"
    config.write_text(
        f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile none
AuthorizedKeysFile {authorized}
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers {getpass.getuser()}
LogLevel VERBOSE
"""
    )
    process = subprocess.Popen(
        [binary, "-D", "-e", "-f", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        wait_until(
            lambda: (
                any(f"Server listening on 127.0.0.1 port {port}" in x for x in lines)
                or process.poll() is not None
            ),
            "sshd to listen",
        )
        assert process.poll() is None, "sshd did not start:\n" + "".join(lines)
        yield port, authorized
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        reader.join(5)


def test_a_real_sshd_runs_the_war_room_from_the_generated_lines(
    tmp_path: Path, db_path: Path, sshd: tuple[int, Path]
) -> None:
    port, authorized = sshd
    mike, stranger = make_key(tmp_path, "mike"), make_key(tmp_path, "stranger")
    plan = plan_with_keys(tmp_path, {"mike": [mike.public]})
    db = f"sqlite:///{db_path}"
    warroom("load", str(plan), "--as", "sarah", "--db", db)
    authorized.write_text(warroom("ssh-authorized-keys", "--db", db))
    assert re.search(
        r'^restrict,pty,command=".*--as mike tui --via ssh" ', authorized.read_text(), re.M
    )

    user = getpass.getuser()
    with ssh_session(port, mike.path, user) as term:
        first_frame(term, "mike", "team lead, backend")
        term.wait_for_text("mike (ssh)")  # the forced command marks the session as SSH
        term.send("\x11")  # ctrl+q
        assert term.wait_exit() == 0
    with ssh_session(port, stranger.path, user) as term:
        assert term.wait_exit() == 255
        assert "Permission denied (publickey)" in term.output()
