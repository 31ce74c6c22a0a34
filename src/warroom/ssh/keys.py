"""Whose key is this: the people of the loaded release and their public keys.

Keys come from two places. The plan's `ssh_keys` of each person (loaded into
the store, so a newly loaded plan applies to the next connection), and an
optional extra file for keys that should not live in a plan kept in git.
The extra file uses OpenSSH authorized_keys lines with one option naming the
person the key belongs to:

    # team leads' second laptops
    warroom-person=mike ssh-ed25519 AAAAC3Nza... mike@old-laptop
    warroom-person="lisa" ssh-rsa AAAAB3Nza... lisa@desktop

Keys are compared by their public blob, never by comment.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from sqlmodel import select

from warroom.domain.roles import SYSTEM_NAME
from warroom.store import models as m
from warroom.store.engine import Store
from warroom.store.queries import current_release

PERSON_OPTION = "warroom-person"
_EXTRA_LINE = re.compile(
    rf"^{PERSON_OPTION}=(?P<q>\"?)(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?P=q)\s+(?P<key>\S.*)$"
)


class KeyFileError(Exception):
    """The extra authorized-keys file cannot be used; the message names file and line."""


@dataclass(frozen=True)
class PlanPerson:
    name: str
    role: str
    team: str | None
    ssh_keys: tuple[str, ...]


@dataclass(frozen=True)
class ExtraKey:
    person: str
    key: str  # "ssh-ed25519 AAAA... comment"
    where: str  # "FILE:LINE"


@dataclass(frozen=True)
class KeyUse:
    """One listing of a key: whose it is and where it was listed."""

    person: str
    where: str  # "plan" or "FILE:LINE"


@dataclass
class KeyRing:
    """Every usable key of one release, by public blob."""

    release: str | None
    people: frozenset[str]
    uses: dict[bytes, list[KeyUse]] = field(default_factory=dict)
    # Keys that could not be used, in words, for the server's log.
    problems: list[str] = field(default_factory=list)

    def owners(self, key: asyncssh.SSHKey) -> list[str]:
        """The people a key belongs to (usually one; a key shared by several is ambiguous)."""
        names: list[str] = []
        for use in self.uses.get(key.public_data, []):
            if use.person not in names:
                names.append(use.person)
        return names

    def add(self, text: str, use: KeyUse) -> None:
        try:
            key = parse_public_key(text)
        except ValueError as exc:
            self.problems.append(f"{use.person}'s key ({use.where}) is skipped: {exc}")
            return
        if use.person == SYSTEM_NAME:
            self.problems.append(
                f"the key at {use.where} is for {SYSTEM_NAME!r}, the name warroom's own "
                "machinery acts under, which nobody may log in as; it is skipped"
            )
            return
        if use.person not in self.people:
            self.problems.append(
                f"the key at {use.where} names {use.person!r}, who is not a person of "
                f"release {self.release}; it is skipped"
            )
            return
        self.uses.setdefault(key.public_data, []).append(use)


def parse_public_key(text: str) -> asyncssh.SSHKey:
    """An OpenSSH public key line (`TYPE BASE64 [comment]`); ValueError saying what is wrong."""
    line = text.strip()
    if not line:
        raise ValueError("it is empty")
    if "\n" in line or "\r" in line:
        raise ValueError("it spans several lines; put one key per entry")
    try:
        return asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError):
        shown = line if len(line) <= 40 else line[:37] + "..."
        raise ValueError(
            f"{shown!r} is not an OpenSSH public key (expected 'ssh-ed25519 AAAA... comment')"
        ) from None


def fingerprint(key: asyncssh.SSHKey) -> str:
    """SHA256:... exactly as `ssh-keygen -l` and the ssh client print it."""
    return key.get_fingerprint("sha256")


def read_people(store: Store, release: str | None) -> tuple[str | None, list[PlanPerson]]:
    """The release (the one loaded last, unless named) and its people with their keys."""
    with store.read() as session:
        row = current_release(session, release)
        if row is None:
            return None, []
        people = session.exec(
            select(m.Person).where(m.Person.release_id == row.id).order_by(m.Person.name)
        ).all()
        return row.name, [
            PlanPerson(p.name, p.role, p.team, tuple(json.loads(p.ssh_keys or "[]")))
            for p in people
        ]


def read_extra_keys(path: Path) -> list[ExtraKey]:
    """Parse the extra authorized-keys file; KeyFileError naming the first bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(f"authorized-keys file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise KeyFileError(f"cannot read authorized-keys file {path}: {reason}") from None
    keys: list[ExtraKey] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        match = _EXTRA_LINE.match(line)
        if match is None:
            raise KeyFileError(
                f"{where}: each key needs the person it belongs to in front of it, "
                f"like: {PERSON_OPTION}=mike ssh-ed25519 AAAA... mike@laptop"
            )
        try:
            parse_public_key(match["key"])
        except ValueError as exc:
            raise KeyFileError(f"{where}: {exc}") from None
        keys.append(ExtraKey(match["name"], match["key"], where))
    return keys


def build_ring(
    release: str | None, people: Sequence[PlanPerson], extra: Iterable[ExtraKey] = ()
) -> KeyRing:
    ring = KeyRing(release, frozenset(p.name for p in people))
    for person in people:
        for index, text in enumerate(person.ssh_keys):
            ring.add(text, KeyUse(person.name, f"plan: {person.name}.ssh_keys[{index}]"))
    for key in extra:
        ring.add(key.key, KeyUse(key.person, key.where))
    return ring


# ---------------------------------------------------------------- the OpenSSH way


def forced_command(argv: Sequence[str]) -> str:
    """`argv` as a shell command line inside an authorized_keys `command="..."` option.

    sshd hands the command to the account's shell, so every word is
    shell-quoted; inside the option's double quotes OpenSSH only knows `\\"`.
    """
    return shlex.join(argv).replace('"', '\\"')


def authorized_keys_line(command_argv: Sequence[str], key_text: str) -> str:
    """One line for ~/.ssh/authorized_keys: this key may only open the war room."""
    # Re-exported rather than copied, so whatever the plan holds, the line
    # carries one well-formed key (and its comment, which says whose it is).
    key = parse_public_key(key_text)
    public = key.export_public_key("openssh").decode("utf-8").strip()
    return f'restrict,pty,command="{forced_command(command_argv)}" {public}'
