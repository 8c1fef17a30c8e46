"""The partitions of the export job: one per export date.

An export's date is a calendar day in its space's timezone, and a space may ask for its
own *today*. The latest "today" anywhere on Earth is today in UTC+14 (Pacific/Kiritimati),
so the daily partitions are laid out in that timezone with `end_offset=1`: the last key is
the current (still running) day there, and every date that is today or earlier in any
IANA timezone is a key. The partition's own time window is never used; only its key.
"""

from __future__ import annotations

import datetime as dt

from dagster import DailyPartitionsDefinition

from exports_pipeline.settings import FIRST_EXPORT_DATE

PARTITIONS_START = FIRST_EXPORT_DATE
LATEST_TIMEZONE = "Pacific/Kiritimati"

export_date_partitions = DailyPartitionsDefinition(
    start_date=PARTITIONS_START.isoformat(),
    timezone=LATEST_TIMEZONE,
    end_offset=1,
    fmt="%Y-%m-%d",
)


def is_export_date_partition(date: dt.date) -> bool:
    """True when `date` is a partition key right now (not before the start, not in the future)."""
    return export_date_partitions.has_partition_key(date.isoformat())
