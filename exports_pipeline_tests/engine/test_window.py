"""The day of an export is [local midnight, next local midnight) in UTC, DST included."""

from __future__ import annotations

import datetime as dt

import pytest

from exports_pipeline.engine.window import day_window_utc

T = dt.datetime


@pytest.mark.parametrize(
    ("date", "timezone", "start", "end", "hours"),
    [
        (dt.date(2024, 5, 1), "UTC", T(2024, 5, 1), T(2024, 5, 2), 24),
        (dt.date(2024, 3, 10), "America/New_York", T(2024, 3, 10, 5), T(2024, 3, 11, 4), 23),
        (dt.date(2024, 11, 3), "America/New_York", T(2024, 11, 3, 4), T(2024, 11, 4, 5), 25),
        (dt.date(2024, 3, 31), "Europe/London", T(2024, 3, 31), T(2024, 3, 31, 23), 23),
        (dt.date(2024, 5, 1), "Asia/Kolkata", T(2024, 4, 30, 18, 30), T(2024, 5, 1, 18, 30), 24),
        # Lord Howe Island moves its clocks by half an hour.
        (
            dt.date(2024, 4, 7),
            "Australia/Lord_Howe",
            T(2024, 4, 6, 13),
            T(2024, 4, 7, 13, 30),
            24.5,
        ),
        # Santiago springs forward at midnight: the day begins at 01:00 local.
        (dt.date(2024, 9, 8), "America/Santiago", T(2024, 9, 8, 4), T(2024, 9, 9, 3), 23),
    ],
)
def test_day_window(date, timezone, start, end, hours) -> None:  # type: ignore[no-untyped-def]
    assert day_window_utc(date, timezone) == (start, end)
    assert (end - start) / dt.timedelta(hours=1) == hours


def test_window_is_naive_utc() -> None:
    start, end = day_window_utc(dt.date(2024, 1, 1), "Asia/Tokyo")
    assert start.tzinfo is None and end.tzinfo is None
