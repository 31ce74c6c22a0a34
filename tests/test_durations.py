"""Durations as written in plans (`10m`, `1h30m`) and the T± clock notation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from warroom.domain.durations import format_clock_offset, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", timedelta(minutes=10)),
        ("90s", timedelta(seconds=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("2m30s", timedelta(minutes=2, seconds=30)),
        ("1h", timedelta(hours=1)),
        ("1h30m15s250ms", timedelta(hours=1, minutes=30, seconds=15, milliseconds=250)),
        ("5m30ms", timedelta(minutes=5, milliseconds=30)),
        ("0s", timedelta(0)),
        ("  10m  ", timedelta(minutes=10)),
    ],
)
def test_parse_duration_accepts_compact_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["10 minutes", "", "   ", "10", "m", "1.5m", "1m1h", "30s2m", "10M", "-5m", "1h 30m"],
)
def test_parse_duration_rejects_other_forms_and_says_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    message = str(info.value)
    assert f"bad duration {text.strip()!r}" in message
    # The message teaches the accepted syntax: units and examples.
    assert "h, m, s or ms" in message
    assert "90s" in message and "10m" in message and "1h30m" in message


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(minutes=2), "2m"),
        (timedelta(seconds=45), "45s"),
        (timedelta(0), "0s"),
        (timedelta(hours=2), "2h"),
        (timedelta(hours=1, seconds=5), "1h5s"),
        (timedelta(minutes=2, seconds=5), "2m5s"),
        (timedelta(minutes=-30), "-30m"),
        (timedelta(seconds=-90), "-1m30s"),
    ],
)
def test_format_duration(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


@pytest.mark.parametrize("seconds", [1, 59, 60, 61, 90, 3599, 3600, 3661, 5400, 86400])
def test_format_duration_round_trips_through_parse(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(minutes=-30), "T-30m"),
        (timedelta(hours=1, minutes=5), "T+1h05m"),
        (timedelta(0), "T-0"),
        (timedelta(hours=2), "T+2h00m"),
        (timedelta(hours=-1, minutes=-5), "T-1h05m"),
        (timedelta(minutes=10), "T+10m"),
        (timedelta(minutes=2, seconds=5), "T+2m05s"),
        (timedelta(seconds=-90), "T-1m30s"),
        (timedelta(seconds=45), "T+45s"),
        (timedelta(seconds=-7), "T-7s"),
        (timedelta(hours=47, minutes=59), "T+47h59m"),
        (timedelta(days=-982, hours=-3, minutes=-1), "T-982d03h"),
    ],
)
def test_format_clock_offset(delta: timedelta, expected: str) -> None:
    assert format_clock_offset(delta) == expected
