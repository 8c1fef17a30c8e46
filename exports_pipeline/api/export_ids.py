"""Export ids as the API reads them: ASCII decimal digits naming an id from 1 to
`MAX_EXPORT_ID` (the store's largest); anything else names no export."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

from exports_pipeline.store.exports import MAX_EXPORT_ID

# At most 19 digits are read: int() refuses more than 4300 with a ValueError (a 500).
MAX_DIGITS = len(str(MAX_EXPORT_ID))


def _whole_number(value: object) -> object:
    """An export id is written in decimal digits: `1.0`, `1e3` or `+1` name no export."""
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        raise ValueError("must be a whole number written in digits")
    return value


ExportId = Annotated[int, BeforeValidator(_whole_number)]
"""An export id in a path: a whole number (`is_export_id` tells whether it can name one)."""


def is_export_id(value: int) -> bool:
    """True when `value` is in the range of export ids."""
    return 1 <= value <= MAX_EXPORT_ID


def parse_export_id(text: str) -> int | None:
    """The export id written in `text` (ASCII decimal digits, 1 to 2**63-1), else None."""
    if not (0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if is_export_id(value) else None
