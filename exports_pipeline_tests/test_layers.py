"""The layers import only downwards.

vocabulary, clock, formats < store < demo | engine < storage < webhooks < api | pipeline.

The engine knows nothing of Dagster or FastAPI, the API nothing of Dagster (API and
pipeline meet only in the store's `exports` table), the store nothing above it, the
bottom modules (the vocabulary, the clock, the file formats) nothing of the package at all,
nor anything that reads, encodes or stores rows.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "exports_pipeline"

BOTTOM = ("exports_pipeline", "dagster", "fastapi", "polars", "pyarrow", "sqlalchemy")

FORBIDDEN = {
    "vocabulary": BOTTOM,
    "clock": BOTTOM,
    "formats": BOTTOM,
    "store": (
        "exports_pipeline.demo",
        "exports_pipeline.engine",
        "exports_pipeline.storage",
        "exports_pipeline.api",
        "exports_pipeline.pipeline",
        "dagster",
        "fastapi",
    ),
    "demo": ("exports_pipeline.api", "exports_pipeline.pipeline", "dagster", "fastapi"),
    "engine": ("exports_pipeline.api", "exports_pipeline.pipeline", "dagster", "fastapi"),
    "storage": ("exports_pipeline.api", "exports_pipeline.pipeline", "dagster", "fastapi"),
    "api": ("exports_pipeline.pipeline", "dagster", "dagster_aws"),
    "webhooks": ("exports_pipeline.api", "exports_pipeline.pipeline", "dagster", "fastapi"),
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer: str) -> None:
    module = PACKAGE / f"{layer}.py"
    files = [module] if module.is_file() else sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no modules found in {layer}"
    offending = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in files
        for name in imported_modules(path)
        if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN[layer])
    }
    assert offending == set()
