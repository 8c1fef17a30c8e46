"""The Dagster family stays pinned to one matching release."""

from __future__ import annotations

from importlib.metadata import version

import pytest

CORE = "1.13.27"
LIBRARIES = "0.29.27"


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        ("dagster", CORE),
        ("dagster-webserver", CORE),
        ("dagster-graphql", CORE),
        ("dagster-pipes", CORE),
        ("dagster-aws", LIBRARIES),
        ("dagster-postgres", LIBRARIES),
    ],
)
def test_dagster_family_is_one_release(package: str, expected: str) -> None:
    assert version(package) == expected


def test_core_and_libraries_share_the_patch_number() -> None:
    assert version("dagster").split(".")[2] == version("dagster-aws").split(".")[2]
