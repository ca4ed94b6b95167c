# Forebear's front door: `make serve` and `make test` work from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml sdk/pyproject.toml | sha1sum | cut -c1-12)
# MLflow's virtualenv (see its rule below); `make test` and `make bench` both use it.
MLFLOW_VENV := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed-3.17.2
SERVICES := $(PY) scripts/services.py

.PHONY: help install browser services stop status serve test fuzz bench schema check

help:
	@echo "make serve     install, start Neo4j and MinIO, serve the API and the web app on 127.0.0.1:8000"
	@echo "make test      install, run the suite on throw-away Neo4j and MinIO servers (and chromium)"
	@echo "make browser   install Debian's chromium for the web app's tests (apt)"
	@echo "make services  start only the local Neo4j and MinIO (make stop stops them)"
	@echo "make fuzz      fuzz /graphql from its schema (schemathesis), and the hostile inputs"
	@echo "make bench     run the benchmarks"
	@echo "make schema    export schema.graphql from the code"
	@echo "make check     ruff and mypy"

$(STAMP): pyproject.toml sdk/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: Forebear needs Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet -e './sdk[gto]'
	rm -f $(VENV)/.installed-* && touch $@

# The web app: npm packages from the lock file (again only when it changes), then the bundle
# the API serves at / (again when a source changes). Nothing of it is committed.
WEB_DEPS := web/node_modules/.installed-$(shell sha1sum web/package-lock.json | cut -c1-12)
WEB_SOURCES := $(shell find web/src -type f) web/index.html web/vite.config.ts web/tsconfig.json

$(WEB_DEPS): web/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: the web app needs Node.js 20 and npm"; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web/dist/index.html: $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run --silent build

install: $(STAMP) web/dist/index.html

# The browser the web app's tests drive: Debian's chromium (Playwright cannot download one
# here), installed once with apt.
browser:
	@command -v chromium >/dev/null || { \
		echo "installing Debian's chromium for the browser tests"; \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }; \
		else sudo apt-get install -y -q chromium; fi; }

services: install
	$(SERVICES) up

stop:
	@if [ -x $(PY) ]; then $(SERVICES) down; else python3 scripts/services.py down; fi

status: install
	$(SERVICES) status

serve: services
	$(PY) -m api

# Throw-away servers on free ports under .services/test, stopped when pytest ends; a
# developer's `make services` data is never touched.
test: install browser $(MLFLOW_STAMP)
	cd web && npm test --silent
	$(SERVICES) install
	$(SERVICES) run -- $(PY) -m pytest $(PYTEST_ARGS)

# Every query and mutation with FUZZ_EXAMPLES generated argument sets each (the suite runs 10),
# against a real server: no answer may be a 500 or an INTERNAL error.
FUZZ_EXAMPLES ?= 200
fuzz: install
	$(SERVICES) install
	$(SERVICES) run -- env FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/api/test_fuzz.py tests/api/test_hostile.py

# Benchmarks print medians and ratios against the peer each names; see bench/*.py.
# MLflow (the registry peer, and the server `forebear import mlflow` is tested against) lives
# in a virtualenv of its own: its pins clash with ours.

$(MLFLOW_STAMP):
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet mlflow==3.17.2
	touch $@

# ML Metadata (the lineage peer) needs protobuf < 5, hence a virtualenv of its own too.
MLMD_VENV := .venv-mlmd
MLMD_STAMP := $(MLMD_VENV)/.installed-1.17.1

$(MLMD_STAMP):
	$(PYTHON) -m venv $(MLMD_VENV)
	$(MLMD_VENV)/bin/python -m pip install --quiet ml-metadata==1.17.1 'protobuf<5'
	touch $@

bench: install browser $(MLFLOW_STAMP) $(MLMD_STAMP)
	$(SERVICES) install
	$(SERVICES) run --run-dir .services/bench -- $(PY) -m bench.artifacts
	$(SERVICES) run --run-dir .services/bench -- $(PY) -m bench.floor
	$(SERVICES) run --run-dir .services/bench -- env MLFLOW_VENV=$(MLFLOW_VENV) $(PY) -m bench.registry
	$(SERVICES) run --run-dir .services/bench -- env MLFLOW_VENV=$(MLFLOW_VENV) $(PY) -m bench.sdk
	$(SERVICES) run --run-dir .services/bench -- env MLMD_VENV=$(MLMD_VENV) $(PY) -m bench.lineage
	$(SERVICES) run --run-dir .services/bench -- $(PY) -m bench.web
	$(SERVICES) run --run-dir .services/bench -- $(PY) -m bench.webhooks
	$(SERVICES) run --run-dir .services/bench -- $(PY) -m bench.openlineage
	$(SERVICES) run --run-dir .services/bench -- env MLFLOW_VENV=$(MLFLOW_VENV) $(PY) -m bench.imports
	$(SERVICES) run --run-dir .services/bench -- env MLFLOW_VENV=$(MLFLOW_VENV) $(PY) -m bench.writers

schema: install
	$(PY) scripts/export_schema.py schema.graphql

check: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
