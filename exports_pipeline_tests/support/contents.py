"""What a store holds, for checking that a request changed nothing it must not."""

from __future__ import annotations

import sqlalchemy as sa

from exports_pipeline.store.schema import metadata, rate_limit_counters


def store_contents(engine: sa.Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table the store has, by table name, sorted; rate limit counters
    left out (every authenticated request counts). A dropped table is missing here."""
    with engine.connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
        return {
            table.name: sorted((tuple(row) for row in conn.execute(sa.select(table))), key=repr)
            for table in metadata.sorted_tables
            if table.name in present and table is not rate_limit_counters
        } | {"(tables)": sorted((name,) for name in present)}


def store_dump(engine: sa.Engine) -> str:
    """Every row of every table, rate limit counters included, as one text."""
    with engine.connect() as conn:
        reflected = sa.MetaData()
        reflected.reflect(conn)
        return "\n".join(
            repr(tuple(row))
            for table in reflected.sorted_tables
            for row in conn.execute(sa.select(table))
        )
