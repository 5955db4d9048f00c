# The few commands a contributor needs. Each does its own set-up (scripts/setup.sh).
.PHONY: setup test simulate up certs fmt lint bench chaos lock codegen

setup:
	scripts/setup.sh

test:
	scripts/test.sh

simulate:
	scripts/simulate.sh

# Faults under load on a private PostgreSQL cluster and RabbitMQ node (docs/chaos.md);
# not part of `make test`. Needs root.
chaos:
	scripts/chaos.sh

# Development mode (plaintext, caller code in a header) unless CROSSCLEAR_TLS_DIR is set.
up: setup
	CROSSCLEAR_INSECURE_DEV=$${CROSSCLEAR_INSECURE_DEV:-true} .venv/bin/crossclear up

certs: setup
	.venv/bin/crossclear certs

fmt: setup
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

# Regenerate the protobuf code committed in shared/pb (after a change to protos/ or to the
# grpcio-tools / mypy-protobuf versions); the tests fail while it is stale.
codegen: setup
	.venv/bin/python -m shared.codegen

# Regenerate the hashed lockfiles from pyproject.toml's ranges: requirements.lock (runtime +
# dev, what set-up installs) and requirements-runtime.lock (the image; same versions).
# Current pins are kept where they still fit; `make lock UPGRADE=1` takes the newest allowed.
# Then `make setup` installs the new lock (and `make codegen` if grpcio-tools moved).
UV_VERSION := 0.13.9
UV_COMPILE = .venv/bin/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock' --quiet \
	$(if $(UPGRADE),--upgrade)
lock:
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/uv --version 2>/dev/null | grep -q '^uv $(UV_VERSION)\b' || \
		.venv/bin/pip install --quiet 'uv==$(UV_VERSION)'
	$(UV_COMPILE) --extra dev -o requirements.lock
	$(UV_COMPILE) -c requirements.lock -o requirements-runtime.lock
