"""Keeping download credentials out of the access log.

A local download URL's `signature` is a credential for 15 minutes; uvicorn's access log
would otherwise write it out with every download.
"""

from __future__ import annotations

import logging
import re

_SIGNATURE = re.compile(r"(signature=)[^&\s]*")


class RedactSignatures(logging.Filter):
    """Replaces the value of every `signature=` query parameter by `***`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SIGNATURE.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        record.msg = _SIGNATURE.sub(r"\1***", str(record.msg))
        return True


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    """Install `RedactSignatures` on the access logger once (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactSignatures) for f in logger.filters):
        logger.addFilter(RedactSignatures())
