# Hookline: `make serve` runs the service on SQLite, `make test` runs every check and test.
# The first interpreter that really runs and is 3.11+ (a pyenv shim may exist but not run).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve test check lint typecheck unit clean bench chaos

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Hookline needs Python 3.11 or newer (python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[bench]'
	@touch $@

serve: $(VENV)/.installed
	$(BIN)/hookline serve

check: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests scripts examples bench
	$(BIN)/ruff format --check src tests scripts examples bench
	$(BIN)/mypy src

test: check
	$(BIN)/pytest

# The benchmark of issue 6 (bench/): loopback only, bounded (the harness budgets 540 s and
# `timeout` stops it at 600 s; every process it starts is stopped). Needs PostgreSQL and Redis
# on 127.0.0.1 and Debian's wrk (installed here when missing and we are root).
bench: $(VENV)/.bench-installed
	@command -v wrk >/dev/null 2>&1 || apt-get install -y -q wrk >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q wrk >/dev/null 2>&1; } \
		|| echo "bench: no wrk (apt-get install wrk): scenario 4's single-event load is skipped"
	timeout --kill-after=20 600 $(BIN)/python -m bench

# The long fault-injection run of issue 7 (tests/chaos/): 20,000 events per store under every
# fault kind, on SQLite and on a private PostgreSQL 15 cluster (never the shared one); prints
# the figures and writes docs/reliability.md. `make test` runs the short version (the smoke).
CHAOS_SEED ?= 1
chaos: $(VENV)/.dev-installed
	timeout --kill-after=20 900 $(BIN)/python -m tests.chaos --long --seed $(CHAOS_SEED) --write-doc

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
