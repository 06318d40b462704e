# crunch — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

# Each area of the project adds its own targets (and test steps) in mk/*.mk.
EXTRA_TESTS :=
TEST_PREREQS :=
LINT_PREREQS :=
include $(sort $(wildcard mk/*.mk))

.PHONY: help venv run test test-py lint fmt clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml requirements.txt requirements-dev.txt
	@# Debian splits venv out of python3: install it when it is missing (root only).
	$(PYTHON) -m venv $(VENV) || { [ "$$(id -u)" = 0 ] && apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
		&& $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed ## create the virtual environment with pinned dependencies

run: venv ## serve every route on http://127.0.0.1:8080 (one process, no Kubernetes)
	CRUNCH_LOG_FORMAT=$${CRUNCH_LOG_FORMAT:-text} $(BIN)/crunch serve --host 127.0.0.1 --port $${CRUNCH_PORT:-8080}

lint: venv $(LINT_PREREQS) ## ruff + mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test-py: venv $(TEST_PREREQS) ## the Python test suite (real uvicorn, real workers)
	$(BIN)/pytest -q

test: lint test-py $(EXTRA_TESTS) ## everything CI runs: lint, tests, packaging checks

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
