"""Moments as `warroom replay --at` takes them: each form, resolved on a release's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from warroom.domain.moment import ACCEPTED, parse_moment

WINDOW = datetime(2024, 3, 20, 14, 0, tzinfo=UTC)
BERLIN_WINDOW = datetime(2024, 3, 20, 13, 0, tzinfo=UTC)  # 14:00 CET


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2024, 3, 20, hh, mm, ss, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "zone", "window", "expected"),
    [
        ("2024-03-20T14:37:00Z", "UTC", WINDOW, at(14, 37)),
        ("2024-03-20T15:37:00+01:00", "UTC", WINDOW, at(14, 37)),
        ("2024-03-20 14:37:05+00:00", "UTC", WINDOW, at(14, 37, 5)),
        ("14:37", "UTC", WINDOW, at(14, 37)),
        ("14:37:05", "UTC", WINDOW, at(14, 37, 5)),
        ("9:05", "UTC", WINDOW, at(9, 5)),
        # On the plan's clock: 15:37 in Berlin on the window's day is 14:37 UTC.
        ("15:37", "Europe/Berlin", BERLIN_WINDOW, at(14, 37)),
        ("T-30m", "UTC", WINDOW, at(13, 30)),
        ("T+1h05m", "UTC", WINDOW, at(15, 5)),
        ("T+37m05s", "UTC", WINDOW, at(14, 37, 5)),
        ("T+45s", "UTC", WINDOW, at(14, 0, 45)),
        ("T-0", "UTC", WINDOW, WINDOW),
        ("T+2d03h", "UTC", WINDOW, WINDOW + timedelta(days=2, hours=3)),
        ("  T + 10m ", "UTC", WINDOW, at(14, 10)),
    ],
)
def test_each_accepted_form_resolves_on_the_release_clock(
    text: str, zone: str, window: datetime, expected: datetime
) -> None:
    assert parse_moment(text).resolve(window, zone) == expected


def test_a_time_of_day_is_on_the_day_the_window_opens_in_the_plans_zone() -> None:
    # A window opening at 23:30 UTC on the 20th is the 21st in Tokyo: 09:00 there is the 21st's.
    late = datetime(2024, 3, 20, 23, 30, tzinfo=UTC)
    assert parse_moment("09:00").resolve(late, "Asia/Tokyo") == datetime(
        2024, 3, 21, 0, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("yesterday", "is not a moment"),
        ("", "is not a moment"),
        ("T+", "is not a moment"),
        ("T-30 minutes", "is not a moment"),
        ("25:00", "is not a time of day"),
        ("14:60", "is not a time of day"),
        ("2024-03-20T14:37:00", "has no time zone"),
        ("2024-13-20T14:37:00Z", "is not a valid ISO 8601 time"),
    ],
)
def test_anything_else_is_refused_saying_what_is_accepted(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as refused:
        parse_moment(text)
    if "time zone" not in says:
        assert ACCEPTED in str(refused.value)
