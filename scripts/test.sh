#!/usr/bin/env bash
# The whole test suite: set-up, lint, format check, type check, then every test against
# the real PostgreSQL and RabbitMQ.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy --strict shared services/filing/domain services/settlement/domain services/clearing/domain
echo "== pytest"; .venv/bin/pytest -q "$@"
