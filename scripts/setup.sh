#!/usr/bin/env bash
# Set-up shared by the README's commands: virtualenv, install, tools, and the PostgreSQL
# and RabbitMQ servers the project needs. Safe to run again: each step is skipped when
# already done.
#
# Python packages come from requirements.lock (exact versions, hashes checked; `make lock`
# regenerates it from pyproject.toml). buf comes from package-lock.json (`npm ci`).
# Generated protobuf code is committed in shared/pb: set-up only generates it when it is
# missing; `make codegen` regenerates it after a change to protos/ or to the lock.
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

# Re-install whenever the lock (or pyproject.toml, for the editable install) changes.
stamp=".venv/.installed-$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing crossclear and its locked dependencies (log: .venv/pip.log)"
  if ! {
    .venv/bin/pip install --require-hashes -r requirements.lock &&
      .venv/bin/pip install --no-deps --no-build-isolation -e .
  } >.venv/pip.log 2>&1; then
    tail -n 30 .venv/pip.log >&2
    echo "setup: pip install failed (full log in .venv/pip.log)" >&2
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# buf (protobuf lint and breaking-change check) from the npm registry, pinned by
# package-lock.json.
npm_stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f "$npm_stamp" ] || [ ! -x node_modules/.bin/buf ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: npm is required to install buf (Node.js 18+ with npm; e.g. apt-get install npm)" >&2
    exit 1
  fi
  echo "setup: installing buf (npm ci; log: .venv/npm.log)"
  if ! npm ci --ignore-scripts --no-audit --no-fund >.venv/npm.log 2>&1; then
    tail -n 30 .venv/npm.log >&2
    echo "setup: npm ci failed (full log in .venv/npm.log)" >&2
    exit 1
  fi
  rm -f node_modules/.installed-*
  touch "$npm_stamp"
fi

if [ ! -f shared/pb/__init__.py ]; then
  echo "setup: shared/pb is missing: generating it (commit it: it is checked by the tests)"
  .venv/bin/python -m shared.codegen
fi

# The browser test of the web filing page drives Debian's chromium with its matching
# chromium-driver (Selenium is told to download nothing). Installed when missing where
# apt-get is usable; elsewhere the test is skipped, and this says why.
if [ ! -x /usr/bin/chromedriver ] || ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    echo "setup: installing chromium and chromium-driver for the browser test (log: .venv/apt.log)"
    if ! { apt-get install -y chromium chromium-driver fonts-noto-cjk ||
           { apt-get update && apt-get install -y chromium chromium-driver fonts-noto-cjk; }; \
         } >.venv/apt.log 2>&1; then
      echo "setup: apt-get could not install chromium (see .venv/apt.log): the browser test will be skipped" >&2
    fi
  else
    echo "setup: chromium and chromium-driver are missing and apt-get is not usable here (needs root" \
      "on Debian/Ubuntu): install them (apt-get install chromium chromium-driver), or the browser" \
      "test of the web filing page is skipped" >&2
  fi
fi

.venv/bin/python scripts/ensure_servers.py
