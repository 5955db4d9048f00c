#!/usr/bin/env bash
# The main job: set-up (virtualenv, install, code generation, PostgreSQL and RabbitMQ),
# then simulated months of cross-region traffic on a simulated clock, each month cleared in
# its own period on day 5 of the next.
# Arguments go to `crossclear simulate`, e.g. scripts/simulate.sh --months 3 --scale medium --seed 7
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/crossclear simulate "$@"
