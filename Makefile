# The two commands a newcomer runs: `make demo` and `make test`. `make ui` browses what the demo made.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= $(shell command -v python3.11 || command -v python3)
export ROUTE_ASSETS_HOME ?= $(CURDIR)/var
export DAGSTER_HOME ?= $(ROUTE_ASSETS_HOME)/dagster
BRIEF ?= examples/briefs/summer-glow.yaml

.PHONY: demo test ui lint clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "route_assets needs Python 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/route-assets install-models
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/route-assets validate $(BRIEF)
	$(BIN)/route-assets plan $(BRIEF)
	$(BIN)/route-assets run $(BRIEF)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

# One worker per core (at most 4): each worker has its own emulator, S3 and PostgreSQL servers.
test: lint
	$(BIN)/pytest -n auto --maxprocesses 4

ui: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
