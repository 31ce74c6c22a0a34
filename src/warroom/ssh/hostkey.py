"""The server's own identity: one host key, made once, kept forever.

Team leads' ssh clients remember the host key on first connect and warn
loudly if it ever changes, so a key that silently changed would train people
to ignore exactly the warning that protects them. Hence: generate only when
the file does not exist, and treat an existing file that cannot be used as an
error to fix by hand, never as a reason to make a new one.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import asyncssh

DEFAULT_HOST_KEY = "warroom_ssh_host_key"


class HostKeyError(Exception):
    """The host key file cannot be used; one sentence naming the file."""


@dataclass(frozen=True)
class HostKey:
    key: asyncssh.SSHKey
    path: Path
    created: bool

    @property
    def fingerprint(self) -> str:
        return self.key.get_fingerprint("sha256")

    @property
    def algorithm(self) -> str:
        return self.key.get_algorithm()


def load_or_create(path: Path) -> HostKey:
    """Read the host key at `path`, or create an ed25519 one (mode 0600) if there is none."""
    if os.path.lexists(path):
        return HostKey(_read(path), path, created=False)
    return HostKey(_create(path), path, created=True)


def _read(path: Path) -> asyncssh.SSHKey:
    try:
        info = path.stat()
    except OSError as exc:
        raise HostKeyError(f"cannot read host key {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise HostKeyError(f"host key {path} is not a regular file")
    if info.st_mode & 0o077:
        # What sshd refuses too: a private key others can read is no secret.
        raise HostKeyError(
            f"host key {path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run: chmod 600 {path}"
        )
    try:
        return asyncssh.read_private_key(path)
    except OSError as exc:
        raise HostKeyError(f"cannot read host key {path}: {exc.strerror}") from None
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise HostKeyError(
            f"host key {path} is not a usable unencrypted OpenSSH private key ({exc}); "
            "fix it or move it away to have a new one made (clients will then warn that the key changed)"
        ) from None


def _create(path: Path) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519", comment="warroom host key")
    try:
        # O_EXCL: if someone else created the file meanwhile, fail rather than overwrite it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise HostKeyError(f"cannot create host key {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.export_private_key("openssh"))
    # The public half beside it, for people to put in known_hosts ahead of time.
    # A convenience only (the fingerprint is printed anyway), so a failure is no error.
    public = path.with_name(path.name + ".pub")
    with contextlib.suppress(OSError):
        public.write_bytes(key.export_public_key("openssh"))
    return key
