"""Export ids as the API reads them: ASCII decimal digits naming 1 to 2**63-1, nothing else."""

from __future__ import annotations

import pytest

from exports_pipeline.api.export_ids import is_export_id, parse_export_id
from exports_pipeline.store.exports import MAX_EXPORT_ID


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("0042", 42),
        (str(2**63 - 1), 2**63 - 1),
        (str(2**63), None),
        ("0", None),
        ("", None),
        ("-1", None),
        ("+1", None),
        ("1.0", None),
        ("1e3", None),
        (" 1", None),
        ("\u0661", None),  # an Arabic-Indic one: a digit, but not ASCII
        ("1" * 20, None),
        ("9" * 5000, None),  # never handed to int(), which refuses over 4300 digits
    ],
)
def test_parse_export_id(text: str, expected: int | None) -> None:
    assert parse_export_id(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, False), (1, True), (MAX_EXPORT_ID, True), (MAX_EXPORT_ID + 1, False), (-5, False)],
)
def test_is_export_id(value: int, expected: bool) -> None:
    assert is_export_id(value) is expected


def test_the_largest_id_is_the_largest_bigint() -> None:
    assert MAX_EXPORT_ID == 2**63 - 1
