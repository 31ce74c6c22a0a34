"""PostgreSQL for the tests: the server of warroom.testing.pg, skipped when its
binaries are missing, or failed under WARROOM_REQUIRE_PG=1 (CI never silently skips)."""

from __future__ import annotations

import os

import pytest

from warroom.testing import pg
from warroom.testing.net import free_port

__all__ = ["USER", "PgServer", "free_port", "require_binaries"]

USER = pg.USER


def require_binaries() -> tuple[str, str]:
    try:
        return pg.find_binaries()
    except pg.PgUnavailable as missing:
        if os.environ.get("WARROOM_REQUIRE_PG"):
            pytest.fail(str(missing))
        pytest.skip(str(missing))


class PgServer(pg.PgServer):
    def __init__(self) -> None:
        require_binaries()
        super().__init__()
