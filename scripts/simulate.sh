#!/usr/bin/env bash
# The main job: set-up (virtualenv, install, code generation, PostgreSQL and RabbitMQ),
# then a simulated month of cross-region traffic and its month-end clearing.
# Arguments go to `crossclear simulate`, e.g. scripts/simulate.sh --scale medium --seed 7
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/crossclear simulate "$@"
