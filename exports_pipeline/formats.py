"""The file formats of an export (SPEC 4 and 6.6) and the manifest listing its parts.

One registry: per `ExportFormat`, its file extension, its Content-Type and its title in
words. The request takes its `format` values from here, the writer its file names (and,
keyed by the same `ExportFormat`, its encoders: `engine.write.ENCODERS`), storage the key
extensions and Content-Types it stores objects under, and the API the types it serves.

A bottom module: it imports nothing of the package and nothing that encodes (Polars,
pyarrow), so what a file is called and how it is served is known without loading a writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class ExportFormat(StrEnum):
    """An export's file format; a member is its name (`ExportFormat.CSV == "csv"`)."""

    NDJSON = "ndjson"
    CSV = "csv"
    PARQUET = "parquet"


# The format of an export whose request names none (and of exports from before formats).
DEFAULT_FORMAT = ExportFormat.NDJSON


@dataclass(frozen=True)
class FileFormat:
    """How files of one export format are named and served, and what they are in words."""

    name: ExportFormat
    extension: str
    content_type: str
    title: str


FILE_FORMATS: Mapping[ExportFormat, FileFormat] = {
    ExportFormat.NDJSON: FileFormat(
        ExportFormat.NDJSON, ".ndjson.gz", "application/gzip", "gzip NDJSON"
    ),
    ExportFormat.CSV: FileFormat(ExportFormat.CSV, ".csv.gz", "application/gzip", "gzip CSV"),
    ExportFormat.PARQUET: FileFormat(
        ExportFormat.PARQUET, ".parquet", "application/vnd.apache.parquet", "Parquet"
    ),
}

MANIFEST_NAME = "manifest.json"
MANIFEST_CONTENT_TYPE = "application/json"


def file_format(format: ExportFormat) -> FileFormat:
    """The file of `format`; a `ValueError` naming the known formats for any other name."""
    try:
        return FILE_FORMATS[format]
    except KeyError:
        known = ", ".join(FILE_FORMATS)
        raise ValueError(f"unknown export format {format!r}: expected one of {known}") from None


def format_titles() -> str:
    """Every format's title in registry order, as a sentence says them: `a, b or c`."""
    titles = [fmt.title for fmt in FILE_FORMATS.values()]
    return " or ".join(filter(None, [", ".join(titles[:-1]), titles[-1]]))
