"""A destination for the tests: it records what it was given and holds what a real one
would (the files of each export, a push of the same export again replacing them)."""

from __future__ import annotations

from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.storage.destinations import PublishedFiles


class RecordingDestination:
    """Every push in order (`pushes`, `sources`), and the files held per export
    (`held`): pushing an export twice holds what pushing it once did."""

    def __init__(self) -> None:
        self.pushes: list[PublishedFiles] = []
        self.sources: list[ExportStorage] = []
        self.held: dict[int, PublishedFiles] = {}

    def push(self, published: PublishedFiles, source: ExportStorage) -> None:
        self.pushes.append(published)
        self.sources.append(source)
        self.held[published.export_id] = published
