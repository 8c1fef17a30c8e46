"""Demo data of the events store, generated (not a production path)."""
