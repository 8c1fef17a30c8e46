"""The clock of the service: naive UTC timestamps for the store, dates in a space's timezone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def utcnow() -> dt.datetime:
    """Naive UTC now, the form timestamps take in the store."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def today_in(timezone: str, now: dt.datetime | None = None) -> dt.date:
    """Today's date in an IANA timezone at `now` (aware; default: the current time).

    The last day that has fully ended there is the day before.
    """
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(ZoneInfo(timezone)).date()
