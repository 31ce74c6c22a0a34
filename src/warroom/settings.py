"""warroom's settings from the environment, read in one place.

    WARROOM_DB              the database URL (`--db` wins)
    WARROOM_USER            who acts (`--as` wins)
    WARROOM_NOW             pins the clock to an ISO 8601 instant (scripts, tests)
    WARROOM_CLOCK_OFFSET    shifts real time by this many seconds (`warroom demo`)
    WARROOM_AUDIT_KEY_FILE  where the audit key lives (store/auditkey.py)
    XDG_CONFIG_HOME         where PostgreSQL databases' audit keys live

Each call to `from_env()` reads the environment afresh: a test or a forked
SSH session that changes it is seen at once. An empty variable counts as
unset. Values are kept as written; the module that uses one says what a bad
value means, in its own sentence, and only when it needs the value — a bad
`$WARROOM_NOW` does not stop `warroom check`.

Not settings, so not here: how processes hand things to each other
(`$WARROOM_LIFELINE_FD` in lifeline.py, the environment `warroom demo` and
`warroom serve-ssh` give their children) and `$WARROOM_SIMULATOR_URL`,
which is the `--control` option's own click default.

pydantic-settings costs about 100 ms to import on its own, 10 ms once
SQLAlchemy has loaded pydantic: import this module where a setting is read,
not at the top of modules that `warroom --help` loads.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The environment's settings; None where a variable is unset or empty."""

    # The exact names, as documented: no prefix magic, no case folding.
    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, frozen=True)

    db: str | None = Field(default=None, validation_alias="WARROOM_DB")
    user: str | None = Field(default=None, validation_alias="WARROOM_USER")
    now: str | None = Field(default=None, validation_alias="WARROOM_NOW")
    clock_offset: str | None = Field(default=None, validation_alias="WARROOM_CLOCK_OFFSET")
    audit_key_file: str | None = Field(default=None, validation_alias="WARROOM_AUDIT_KEY_FILE")
    config_home: str | None = Field(default=None, validation_alias="XDG_CONFIG_HOME")


def from_env() -> Settings:
    """The settings as the environment holds them now."""
    return Settings()
