"""The local day of an export as a half-open UTC interval."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def _local_midnight_utc(date: dt.date, zone: ZoneInfo) -> dt.datetime:
    # fold=0 picks the first of two midnights on a fall-back day; on a day whose midnight
    # falls in a spring-forward gap it maps to the instant of the transition, which is
    # when that local day actually begins.
    local = dt.datetime.combine(date, dt.time(0), tzinfo=zone)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def day_window_utc(date: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """`[start, end)` in naive UTC of the local day `date` in the IANA `timezone`.

    The interval runs from local midnight of `date` to local midnight of the next day, so a
    DST day is 23 or 25 hours long.
    """
    zone = ZoneInfo(timezone)
    return (
        _local_midnight_utc(date, zone),
        _local_midnight_utc(date + dt.timedelta(days=1), zone),
    )
