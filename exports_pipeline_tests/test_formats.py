"""One registry of file formats: each format's name, extension and type, known without a writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.formats import (
    DEFAULT_FORMAT,
    FILE_FORMATS,
    ExportFormat,
    file_format,
    format_titles,
)
from exports_pipeline_tests.test_layers import PACKAGE, imported_modules


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_a_format_is_its_name(fmt: ExportFormat) -> None:
    assert fmt == fmt.value and f"{fmt}" == fmt.value and ExportFormat(fmt.value) is fmt
    # A name finds the same entry as its member (callers outside the package pass names).
    assert file_format(fmt.value) is file_format(fmt) is FILE_FORMATS[fmt]
    assert file_format(fmt).name is fmt


def test_an_unknown_format_is_refused_naming_the_known_ones() -> None:
    known = "expected one of ndjson, csv, parquet"
    with pytest.raises(ValueError, match=rf"^unknown export format 'xml': {known}$"):
        file_format("xml")


def test_titles_read_as_a_sentence() -> None:
    assert format_titles() == "gzip NDJSON, gzip CSV or Parquet"


def test_the_request_offers_every_format_and_defaults_to_the_default() -> None:
    schema = ExportRequest.model_json_schema()["properties"]["format"]
    assert schema["enum"] == [fmt.value for fmt in ExportFormat]
    assert ExportRequest.model_validate({"date": "2024-01-15"}).file_format is DEFAULT_FORMAT
    request = ExportRequest.model_validate({"date": "2024-01-15", "format": "csv"})
    assert request.format is ExportFormat.CSV and request.to_params()["format"] == "csv"


def _modules(folder: str, *, but: tuple[str, ...] = ()) -> list[Path]:
    return [p for p in sorted((PACKAGE / folder).rglob("*.py")) if p.name not in but]


@pytest.mark.parametrize(
    "path",
    # publish.py writes the export; every other module only names or serves its files.
    [*_modules("storage", but=("publish.py",)), *_modules("api")],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_storage_and_the_api_learn_file_names_and_types_without_the_writer(path: Path) -> None:
    assert "exports_pipeline.engine.write" not in imported_modules(path)
