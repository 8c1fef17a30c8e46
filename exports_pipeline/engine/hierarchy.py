"""Stage 2: the ad hierarchy of touchpoints, reading only the levels the request needs.

The chain runs from the touchpoint's `ad_id` through `ads` → `adsets` → `campaigns` →
`ad_accounts` of the same space. An id field is the link as the level below recorded it
(`ad_id` is the touchpoint's own, `adset_id` the ad's, `campaign_id` the ad set's,
`account_id` the campaign's); a name field comes from its level's row. Where the chain
breaks (organic traffic, an unknown ad, a missing level), what lies beyond is null.
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa

from exports_pipeline.engine.frames import StoreReader, store_reader
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.store.schema import ad_accounts, ads, adsets, campaigns
from exports_pipeline.vocabulary import AD_HIERARCHY_FIELDS

# Each level: its table, the link column it is looked up by, and the columns it provides.
_LEVELS: tuple[tuple[sa.Table, str, tuple[str, ...]], ...] = (
    (ads, "ad_id", ("ad_name", "adset_id")),
    (adsets, "adset_id", ("adset_name", "campaign_id")),
    (campaigns, "campaign_id", ("campaign_name", "account_id")),
    (ad_accounts, "account_id", ("account_name",)),
)
# Above this many distinct links a level is read for the whole space rather than by id.
_MAX_LINKS_BY_ID = 10_000


def hierarchy_levels(fields: list[str] | None) -> int:
    """How many levels (0 = none, 4 = up to `ad_accounts`) the requested fields need."""
    depth = 0
    for level, (_, _, provided) in enumerate(_LEVELS, start=1):
        if any(field in provided for field in fields or ()):
            depth = level
    return depth


def _read_level(
    reader: StoreReader,
    table: sa.Table,
    link: str,
    provided: tuple[str, ...],
    space_id: str,
    links: pl.Series,
) -> pl.DataFrame:
    statement = sa.select(table.c[link], *(table.c[name] for name in provided)).where(
        table.c.space_id == space_id
    )
    wanted = links.drop_nulls().unique().sort()
    if len(wanted) <= _MAX_LINKS_BY_ID:
        statement = statement.where(table.c[link].in_(wanted.to_list()))
    schema = {link: pl.String(), **{name: pl.String() for name in provided}}
    return reader.read(statement, schema)


def resolve_ad_hierarchy(
    engine: sa.Engine, *, space_id: str, touchpoints: pl.DataFrame, request: ExportRequest
) -> pl.DataFrame:
    """`touchpoints` plus the hierarchy columns the requested fields need, and no others.

    Levels above the highest requested field are not read (asking for `ad_name` reads
    `ads` only). Only touchpoints of requested sources are looked up: no other touchpoint
    can end up in the export.
    """
    depth = hierarchy_levels(request.fields)
    if depth == 0 or touchpoints.is_empty():
        added = [name for _, _, provided in _LEVELS[:depth] for name in provided]
        return touchpoints.with_columns(pl.lit(None, dtype=pl.String).alias(n) for n in added)
    exported = touchpoints.filter(pl.col("source").is_in(request.sources or ()))
    links = exported.select("ad_id").unique()
    resolved = links
    with store_reader(engine) as reader:
        for table, link, provided in _LEVELS[:depth]:
            level = _read_level(reader, table, link, provided, space_id, resolved[link])
            resolved = resolved.join(level, on=link, how="left")
    added = [f for f in AD_HIERARCHY_FIELDS if f != "ad_id" and f in resolved.columns]
    return touchpoints.join(
        resolved.select("ad_id", *added).filter(pl.col("ad_id").is_not_null()),
        on="ad_id",
        how="left",
    )
