"""The public HTTP API (FastAPI): create exports, read their status, download files.

`create_app()` builds the app; nothing (settings, engine, storage) is built at import
time. The API meets the pipeline only in the store's `exports` table.
"""
