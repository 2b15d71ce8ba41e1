# idpsync: `make demo` and `make test` each set up everything they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup services demo test lint unit clean bench

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

services:
	bash scripts/services.sh

demo: setup
	$(PY) scripts/demo.py

lint: setup
	$(VENV)/bin/ruff check src tests scripts $(wildcard benchmarks)
	$(VENV)/bin/ruff format --check src tests scripts $(wildcard benchmarks)
	$(VENV)/bin/mypy

# The suite in parallel (pytest-xdist): JOBS workers, each module's tests kept together on one.
JOBS ?= auto
test: setup services lint
	$(PY) -m pytest -q -n $(JOBS) --dist loadfile

unit: setup
	$(PY) -m pytest -q -m "not slow"

SIZE ?= S
IDP ?= entra,google,keycloak,okta,onelogin
RUNS ?= 3
bench: setup services
	$(PY) -m benchmarks.run --size $(SIZE) --idp $(IDP) --runs $(RUNS)

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache
