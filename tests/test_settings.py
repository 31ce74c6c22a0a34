"""warroom.settings: the environment, read in one place, afresh on each call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from warroom.clock import FixedClock, OffsetClock, SystemClock, clock_from_env
from warroom.settings import from_env
from warroom.store.engine import DEFAULT_URL, resolve_url

NAMES = (
    "WARROOM_DB",
    "WARROOM_USER",
    "WARROOM_NOW",
    "WARROOM_CLOCK_OFFSET",
    "WARROOM_AUDIT_KEY_FILE",
    "XDG_CONFIG_HOME",
)


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


def test_each_call_reads_the_environment_as_it_is_now(monkeypatch: pytest.MonkeyPatch) -> None:
    assert from_env().user is None
    monkeypatch.setenv("WARROOM_USER", "mike")
    assert from_env().user == "mike"


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_DB", "")
    monkeypatch.setenv("WARROOM_NOW", "")
    assert resolve_url() == DEFAULT_URL
    assert isinstance(clock_from_env(), SystemClock)


def test_names_are_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("warroom_db", "sqlite:///lower.db")
    assert from_env().db is None


def test_the_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_DB", "sqlite:///env.db")
    assert resolve_url() == "sqlite:///env.db"
    assert resolve_url("sqlite:///flag.db") == "sqlite:///flag.db"


def test_the_clock_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_CLOCK_OFFSET", "-3600")
    offset = clock_from_env()
    assert isinstance(offset, OffsetClock) and offset.offset == timedelta(hours=-1)
    monkeypatch.setenv("WARROOM_NOW", "2024-03-20T13:20:00Z")
    assert clock_from_env() == FixedClock(datetime(2024, 3, 20, 13, 20, tzinfo=UTC))


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("WARROOM_NOW", "yesterday-ish", "$WARROOM_NOW: "),
        ("WARROOM_NOW", "2024-03-20T13:20:00", "$WARROOM_NOW: "),
        ("WARROOM_CLOCK_OFFSET", "soon", "$WARROOM_CLOCK_OFFSET must be a number of seconds"),
        ("WARROOM_CLOCK_OFFSET", "inf", "$WARROOM_CLOCK_OFFSET must be a number of seconds"),
        ("WARROOM_CLOCK_OFFSET", "1e300", "$WARROOM_CLOCK_OFFSET must be a number of seconds"),
    ],
)
def test_a_bad_clock_setting_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as info:
        clock_from_env()
    assert str(info.value).startswith(said)
    assert str(info.value).count("$WARROOM_") == 1
