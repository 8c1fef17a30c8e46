"""Event export service: API, Dagster pipeline and Polars export engine."""
