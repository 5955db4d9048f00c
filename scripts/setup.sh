#!/usr/bin/env bash
# Set-up shared by the README's commands: virtualenv, install, code generation, and the
# PostgreSQL and RabbitMQ servers the project needs. Safe to run again: each step is
# skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
      echo "$candidate"; return 0
    fi
  done
  echo "setup: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  py=$(find_python)
  echo "setup: creating virtualenv .venv with $py"
  "$py" -m venv .venv
fi

stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing crossclear and its dependencies (log: .venv/pip.log)"
  if ! { .venv/bin/pip install --upgrade pip && .venv/bin/pip install -e '.[dev]'; } >.venv/pip.log 2>&1; then
    tail -n 30 .venv/pip.log >&2
    echo "setup: pip install failed (full log in .venv/pip.log)" >&2
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi

.venv/bin/python -m shared.codegen >/dev/null
.venv/bin/python scripts/ensure_servers.py
