"""Download signatures never reach the access log; everything else of the line does."""

from __future__ import annotations

import logging

import pytest

from exports_pipeline.api.access_log import RedactSignatures, redact_access_log

PATH = "/public-api/v1/events/exports/7/download?expires=1796037299&signature=cbe7c41a8a04"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (PATH, "/public-api/v1/events/exports/7/download?expires=1796037299&signature=***"),
        (
            "/x?signature=abc&expires=1",
            "/x?signature=***&expires=1",
        ),
        ("/public-api/v1/events/exports/7", "/public-api/v1/events/exports/7"),
    ],
)
def test_signature_values_are_redacted(path: str, expected: str) -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200), None,
    )  # fmt: skip
    assert RedactSignatures().filter(record)
    assert record.getMessage() == f'127.0.0.1:5000 - "GET {expected} HTTP/1.1" 200'


def test_the_filter_is_installed_once(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("uvicorn.access")
    redact_access_log()
    redact_access_log()
    assert sum(isinstance(f, RedactSignatures) for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", PATH, "1.1", 200)
    assert "cbe7c41a8a04" not in caplog.text
    assert "signature=***" in caplog.text
