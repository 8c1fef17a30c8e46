"""Tests and benchmarks share helpers only through `exports_pipeline_tests.support`.

No module imports a conftest or a test module (pytest imports those itself: importing one
again runs its module code twice and couples unrelated tests), and conftest files hold
only fixtures and pytest hooks. Nothing, package or tests, imports a private module of
Dagster (`dagster._core...`): only its public API.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "exports_pipeline_tests"
SCANNED = sorted([*TESTS.rglob("*.py"), *(REPO / "benchmarks").rglob("*.py")])


def _is_test_module(part: str) -> bool:
    return part == "conftest" or part.startswith("test_")


def forbidden_imports(source: str) -> list[str]:
    """The imports in `source` that reach a conftest, a test module, or a part of
    `exports_pipeline_tests` other than its `support` package; relative imports too."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append(f"relative import from {'.' * node.level}{node.module or ''}")
                continue
            # Each imported name as if it were a module: `from package import test_x`
            # imports a test module as surely as `import package.test_x` does.
            modules = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            outside_support = parts[0] == "exports_pipeline_tests" and parts[1:2] != ["support"]
            if outside_support or any(_is_test_module(part) for part in parts):
                found.append(module)
    return found


def private_dagster_imports(source: str) -> list[str]:
    """The modules `source` imports from that are private to Dagster or a Dagster library
    (a part of the dotted name starts with `_`)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0].startswith("dagster") and any(p.startswith("_") for p in parts[1:]):
                found.append(module)
    return found


def non_fixture_definitions(source: str) -> list[str]:
    """Top-level statements of a conftest that are not imports, fixtures or pytest hooks."""
    found: list[str] = []
    for index, node in enumerate(ast.parse(source).body):
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the module docstring
        if isinstance(node, ast.FunctionDef) and (
            node.name.startswith("pytest_") or any(_is_fixture(d) for d in node.decorator_list)
        ):
            continue
        found.append(f"line {node.lineno}: {ast.unparse(node).splitlines()[0]}")
    return found


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return ast.unparse(target) == "pytest.fixture"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from exports_pipeline_tests.support.api import Keys", []),
        ("from exports_pipeline_tests.support import oracle", []),
        ("import exports_pipeline_tests.support.served", []),
        ("from exports_pipeline.store import schema", []),
        ("from exports_pipeline_tests import support", []),
        (
            "from exports_pipeline_tests.api.conftest import Keys",
            ["exports_pipeline_tests.api.conftest.Keys"],
        ),
        ("import conftest", ["conftest"]),
        ("from conftest import Keys", ["conftest.Keys"]),
        (
            "from exports_pipeline_tests.pipeline.test_integration import REPO",
            ["exports_pipeline_tests.pipeline.test_integration.REPO"],
        ),
        (
            "from exports_pipeline_tests.pipeline import test_integration",
            ["exports_pipeline_tests.pipeline.test_integration"],
        ),
        ("from exports_pipeline_tests import conftest", ["exports_pipeline_tests.conftest"]),
        (
            "import exports_pipeline_tests.storage.test_s3",
            ["exports_pipeline_tests.storage.test_s3"],
        ),
        (
            "from exports_pipeline_tests.engine import oracle",
            ["exports_pipeline_tests.engine.oracle"],
        ),
        ("from .conftest import Keys", ["relative import from .conftest"]),
        ("from . import served", ["relative import from ."]),
    ],
)
def test_the_scan_flags_what_it_must(source: str, expected: list[str]) -> None:
    assert forbidden_imports(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('"""Doc."""\nimport pytest\n\n@pytest.fixture\ndef a(): ...', []),
        ("@pytest.fixture(scope='module')\ndef a(): ...\ndef pytest_configure(config): ...", []),
        ("def helper(): ...", ["line 1: def helper():"]),
        ("X = 1", ["line 1: X = 1"]),
        ("class Keys: ...", ["line 1: class Keys:"]),
    ],
)
def test_the_conftest_scan_flags_what_it_must(source: str, expected: list[str]) -> None:
    assert non_fixture_definitions(source) == expected


@pytest.mark.parametrize("path", SCANNED, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_reach_no_test_module_and_no_conftest(path: Path) -> None:
    assert forbidden_imports(path.read_text()) == []


@pytest.mark.parametrize(
    "path", sorted(TESTS.rglob("conftest.py")), ids=lambda p: str(p.relative_to(REPO))
)
def test_conftest_files_hold_only_fixtures_and_hooks(path: Path) -> None:
    assert non_fixture_definitions(path.read_text()) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from dagster import DagsterInstance, QueuedRunCoordinator", []),
        ("import dagster_postgres", []),
        (
            "from dagster._core.run_coordinator import QueuedRunCoordinator",
            ["dagster._core.run_coordinator"],
        ),
        ("import dagster._core.instance", ["dagster._core.instance"]),
        ("from dagster_aws.s3._x import y", ["dagster_aws.s3._x"]),
    ],
)
def test_the_dagster_scan_flags_what_it_must(source: str, expected: list[str]) -> None:
    assert private_dagster_imports(source) == expected


@pytest.mark.parametrize(
    "path",
    [*SCANNED, *sorted((REPO / "exports_pipeline").rglob("*.py"))],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_only_the_public_api_of_dagster_is_imported(path: Path) -> None:
    assert private_dagster_imports(path.read_text()) == []
