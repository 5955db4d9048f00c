#!/usr/bin/env bash
# Chaos run (not part of `make test`): set-up, then scripts/chaos.py — the three services
# under settlement load on a private PostgreSQL cluster and RabbitMQ node while processes,
# the broker and the database are killed; conservation checked across both schemas.
# Arguments go to scripts/chaos.py, e.g. scripts/chaos.sh --load-s 120 --hospitals 4
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python scripts/chaos.py "$@"
