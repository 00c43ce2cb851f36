# evo-relay: `make run` (the demo) and `make test` (lint, types and the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
NODE_STAMP := tests/node_modules/.installed
BENCH_NODE_STAMP := bench/node_modules/.installed

.PHONY: run serve test lint types pytest bench bench-micro install node clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# `make run` installs only what the daemon needs; the test and benchmark tools come with
# `make install` / `make test`.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	touch $@

install: $(STAMP)

$(NODE_STAMP): tests/package.json tests/package-lock.json
	npm ci --prefix tests --no-audit --no-fund --loglevel=error
	touch $@

$(BENCH_NODE_STAMP): bench/package.json bench/package-lock.json
	npm ci --prefix bench --no-audit --no-fund --loglevel=error
	touch $@

node: $(NODE_STAMP) $(BENCH_NODE_STAMP)

run: $(RUN_STAMP)
	$(BIN)/evo-relay demo

serve: $(RUN_STAMP)
	$(BIN)/evo-relay serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) node
	$(BIN)/pytest

test: lint types pytest

bench: $(STAMP) node
	$(BIN)/python -m bench.run

bench-micro: $(STAMP) node
	$(BIN)/python -m bench.run --scenarios micro

clean:
	rm -rf $(VENV) tests/node_modules bench/node_modules .mypy_cache .ruff_cache .pytest_cache
