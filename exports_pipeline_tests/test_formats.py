"""One registry of file formats: each format's name, extension and type, known without a writer."""

from __future__ import annotations

import subprocess
import sys

import pytest

from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.formats import (
    DEFAULT_FORMAT,
    FILE_FORMATS,
    ExportFormat,
    file_format,
    format_titles,
)


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


def test_storage_and_the_api_name_and_serve_files_without_loading_a_writer() -> None:
    # A fresh interpreter: this one has long imported the writer for other tests. (Polars
    # itself the API loads: the request's rules ask the attribution models, frames of it.)
    modules = ["exports_pipeline.storage.factory", "exports_pipeline.api.app"]
    writers = ["exports_pipeline.engine.write", "pyarrow"]
    code = f"import sys, {', '.join(modules)}; print([m for m in {writers} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
