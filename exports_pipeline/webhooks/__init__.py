"""Webhooks (SPEC 6.5): the rule for receiver URLs and the sender of due deliveries.

Plain functions over the store, httpx and `standardwebhooks`; the API checks URLs with
`addresses`, the pipeline's sensor calls `sender`. Neither Dagster nor FastAPI here.
"""
