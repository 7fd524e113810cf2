# The two commands of the README: `make conformance` (the main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install prometheus conformance test unit bench lint clean

install: $(STAMP) prometheus

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "progressive needs Python 3.11 or newer (found %d.%d)" % sys.version_info[:2])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

prometheus:
	@bash scripts/ensure-prometheus.sh

conformance: install
	$(BIN)/progressive conformance --platform local --engine bundled --report-dir reports/out

test: install
	$(BIN)/pytest -q tests suites

unit: install
	$(BIN)/pytest -q -m "not integration" tests

bench: install
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check progressive load reports suites tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .progressive reports/out .pytest_cache
