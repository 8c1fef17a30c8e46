"""The events store: tables, migrations, loader, demo data, API keys, exports records."""
