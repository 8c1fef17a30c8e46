"""The export engine: request rules, extract, ad hierarchy, attribution, write.

Plain functions over Polars frames and SQLAlchemy; nothing here imports Dagster or FastAPI.
"""
