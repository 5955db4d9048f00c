# The few commands a contributor needs. Each does its own set-up (scripts/setup.sh).
.PHONY: setup test simulate up certs fmt lint bench

setup:
	scripts/setup.sh

test:
	scripts/test.sh

simulate:
	scripts/simulate.sh

# Development mode (plaintext, caller code in a header) unless CROSSCLEAR_TLS_DIR is set.
up: setup
	CROSSCLEAR_INSECURE_DEV=$${CROSSCLEAR_INSECURE_DEV:-true} .venv/bin/crossclear up

certs: setup
	.venv/bin/crossclear certs

fmt: setup
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
