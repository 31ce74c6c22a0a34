"""The secret that seals the audit chain, kept outside the database.

Event hashes are HMAC-SHA256 under this key, so someone who can edit the
database but cannot read the key file cannot recompute the chain after
changing, adding or removing an event. Where the key lives:

- `$WARROOM_AUDIT_KEY_FILE`, if set (either backend);
- SQLite: next to the database file, `warroom.db` → `warroom.db.audit-key`;
- PostgreSQL: `$XDG_CONFIG_HOME/warroom/audit-keys/DBNAME@HOST-PORT.key`
  (`~/.config/...` when XDG_CONFIG_HOME is unset); every machine and account
  that writes the database needs a copy (or `$WARROOM_AUDIT_KEY_FILE`).

The first write to a database creates the key (mode 0600, created whole or
not at all), while holding the database's write lock, and records the key's
id — never the key — in `audit_head.key_id`, so a writer holding another key
or none is refused before it writes an event nobody could verify.

The file also says which event was the first sealed one: events written
before it (by a warroom that did not seal its chain yet) keep their plain
SHA-256 hashes. That number lives in the key file rather than the database
so that an attacker cannot move it to unseal later events.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from warroom.settings import from_env
from warroom.store.engine import StoreError

KEY_FILE_ENV = "WARROOM_AUDIT_KEY_FILE"
_FORMAT = "warroom-audit-key"
_KEY_ID_LABEL = b"warroom audit key id"


class AuditKeyError(StoreError):
    """The audit key cannot be found or used; the message says what to do."""


@dataclass(frozen=True)
class AuditKey:
    secret: bytes
    first_sealed: int  # events with a smaller id predate the key (plain SHA-256)
    path: Path | None  # None: an in-memory database's key, gone with the process

    @property
    def key_id(self) -> str:
        """A public name for the key (an HMAC of a fixed label: it reveals nothing of it)."""
        return hmac.new(self.secret, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]

    def seals(self, event_id: int) -> bool:
        return event_id >= self.first_sealed

    def mac(self, material: bytes) -> str:
        return hmac.new(self.secret, material, hashlib.sha256).hexdigest()


def default_key_path(url: URL, sqlite_path: Path | None) -> Path | None:
    """Where the key of this database lives; None for an in-memory SQLite database."""
    settings = from_env()
    configured = settings.audit_key_file
    if configured:
        return Path(configured).expanduser().absolute()
    if url.get_backend_name() == "sqlite":
        if sqlite_path is None:
            return None
        resolved = sqlite_path.absolute()
        return resolved.with_name(resolved.name + ".audit-key")
    base = settings.config_home or str(Path.home() / ".config")
    name = f"{url.database or 'postgres'}@{url.host or 'localhost'}-{url.port or 5432}.key"
    return Path(base) / "warroom" / "audit-keys" / name.replace(os.sep, "_")


def read_key(path: Path) -> AuditKey | None:
    """The key in `path`, None when there is no such file; AuditKeyError if it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditKeyError(
            f"cannot read the audit key file {path}: {exc.strerror}; "
            "give this account read access to it"
        ) from None
    try:
        data = json.loads(text)
        if data.get("format") != _FORMAT:
            raise ValueError
        secret = bytes.fromhex(data["key"])
        first = data["first_sealed_event"]
        if len(secret) < 32 or not isinstance(first, int) or first < 1:
            raise ValueError
    except (ValueError, TypeError, KeyError, AttributeError):
        raise AuditKeyError(
            f"{path} is not a warroom audit key file; restore it from a backup "
            f"(or point ${KEY_FILE_ENV} at the right one)"
        ) from None
    return AuditKey(secret, first, path)


def create_key(path: Path, first_sealed: int, database: str) -> AuditKey:
    """Write a new key to `path` (0600), or return the one another process just wrote."""
    body = json.dumps(
        {
            "format": _FORMAT,
            "comment": "the secret that seals warroom's audit chain: keep it private and backed up",
            "database": database,
            "first_sealed_event": first_sealed,
            "key": secrets.token_hex(32),
        },
        indent=2,
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Write a private temporary file, then link it into place: the key
        # appears whole or not at all, and never replaces an existing one.
        fd, temp = tempfile.mkstemp(prefix=".audit-key-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            # If another writer made it first, theirs is the key.
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
        finally:
            os.unlink(temp)
    except OSError as exc:
        raise AuditKeyError(
            f"cannot create the audit key file {path}: {exc.strerror}; make its folder "
            f"writable or point ${KEY_FILE_ENV} at a file this account may create"
        ) from None
    key = read_key(path)
    assert key is not None  # just linked, or linked by someone else
    return key


class AuditKeys:
    """The key of one database, found (or made) on first use and then kept."""

    def __init__(self, path: Path | None, database: str) -> None:
        self.path = path
        self.database = database
        self._key: AuditKey | None = None

    def for_reading(self) -> AuditKey | None:
        """The key if there is one; None when it was never made (or is missing)."""
        if self._key is None and self.path is not None:
            self._key = read_key(self.path)
        return self._key

    def for_writing(self, key_id: str | None, last_id: int) -> AuditKey:
        """The key to seal the next event with; made now if the chain has none yet.

        `key_id` and `last_id` come from the locked `audit_head` row, so two
        writers cannot both decide to make a key.
        """
        key = self.for_reading()
        if key is None:
            if key_id is not None:
                raise AuditKeyError(
                    f"this database's audit chain is sealed with key {key_id}, but there is "
                    f"no key file at {self.path}: copy the key file from the machine that "
                    f"first wrote the database there, or point ${KEY_FILE_ENV} at it"
                )
            if self.path is None:
                key = AuditKey(secrets.token_bytes(32), last_id + 1, None)
            else:
                key = create_key(self.path, last_id + 1, self.database)
            self._key = key
        elif key_id is None and key.first_sealed > last_id + 1:
            # The key was made when the chain already had more events than
            # it has now: events were removed, or this is another database's key.
            raise AuditKeyError(
                f"the audit key file {key.path} was made when this database's audit chain "
                f"had {key.first_sealed - 1} events, but it now has {last_id}: events were "
                "removed, or the key belongs to another database; run `warroom audit verify`"
            )
        if key_id is not None and key_id != key.key_id:
            raise AuditKeyError(
                f"the audit key file {key.path} holds key {key.key_id}, but this database's "
                f"audit chain is sealed with key {key_id}: use the key file of this database "
                f"(${KEY_FILE_ENV})"
            )
        return key
