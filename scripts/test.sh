#!/usr/bin/env bash
# Set up the virtualenv (if needed), lint, type-check and run the whole test suite.
# Store-backed tests run on SQLite and, when it answers, on PostgreSQL
# (EXPORTS_TEST_POSTGRES_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
# Test modules run in parallel, EXPORTS_TEST_WORKERS processes (default 2), each module in
# one of them (its module-wide fixtures, such as a started deployment, start once);
# `-n 0` among the arguments runs everything in this process.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
.venv/bin/ruff check .
.venv/bin/mypy
set +e
.venv/bin/python -m pytest -n "${EXPORTS_TEST_WORKERS:-2}" --dist loadfile "$@"
code=$?
set -e
# pytest exits 5 when it collected no test: not a failure of the suite, but say so.
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests"
  exit 0
fi
exit "$code"
