#!/usr/bin/env bash
# Set up the virtualenv (if needed) and run the whole test suite.
# Store-backed tests run on SQLite and, when it answers, on PostgreSQL
# (EXPORTS_TEST_POSTGRES_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
.venv/bin/ruff check .
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
# pytest exits 5 when it collected no test: not a failure of the suite, but say so.
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests"
  exit 0
fi
exit "$code"
