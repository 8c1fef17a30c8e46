"""The benchmarks' own dependencies, beyond the service's: a missing one ends the script with
one line naming the package and the command that adds it, not a traceback."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

INSTALL = ".venv/bin/pip install -e '.[bench]'"


def require(module: str, *, needed_for: str) -> ModuleType:
    """Import `module`, or exit (status 2) saying it is needed for `needed_for`."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module.split(".")[0]:
            raise
        script = sys.argv[0].rsplit("/", 1)[-1]
        raise SystemExit(
            f"{script}: {needed_for} needs the package {module}, not installed here; "
            f"add it with: {INSTALL}"
        ) from None
