#!/bin/sh
# Entrypoint of docker-compose's one-shot `certs` service: the development CA and the
# services' certificates, plus one certificate for each caller code named on the command
# line — hospitals (H…), pharmacies (P…), pool agencies (450100), province centres (45),
# channels (channel-app) and operators (op-…):
#
#   docker compose run --rm certs H45010000001 450100 op-clearing
#
# The older documented form `… run --rm certs certs H45010000001` still works.
set -eu
[ "${1:-}" = "certs" ] && shift
out="${CROSSCLEAR_CERTS_OUT:-/certs}"
crossclear certs --out "$out" "$@"
# Keys are written 0600; hand them to the services' non-root user (uid 10001) when root.
if [ "$(id -u)" = "0" ]; then
  chown -R "${CROSSCLEAR_CERTS_OWNER:-10001}" "$out"
fi
