# The two commands of the README: `make conformance` (the main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install prometheus optional k8s-tools conformance test unit bench lint wheel-check clean

install: $(STAMP) prometheus optional k8s-tools

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "progressive needs Python 3.11 or newer (found %d.%d)" % sys.version_info[:2])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

prometheus:
	@bash scripts/ensure-prometheus.sh

# wrk (bench_compare) and Chromium (the browser test of the reports), where the machine allows;
# without them the install goes on, says how to get them, and what needs them skips.
optional:
	@bash scripts/ensure-optional.sh

# Kubernetes, etcd and Flagger for --platform k8s-local, built from the package's Go wrapper
# modules into the user cache (`progressive tools path`; cold: about 10 min on 2 cores; warm:
# nothing to do). Without Go it says how to get it and the rest of the install goes on.
# Another Kubernetes: make k8s-tools K8S_VERSION=1.36.3
k8s-tools: $(STAMP)
	@$(BIN)/progressive tools install $(if $(K8S_VERSION),--kubernetes-version $(K8S_VERSION))

conformance: install
	$(BIN)/progressive conformance --platform local --engine bundled --report-dir reports/out

test: install
	$(BIN)/pytest -q tests suites

unit: install
	$(BIN)/pytest -q -m "not integration" tests

bench: install
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check progressive load suites tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

# The product as users install it: sdist + wheel, twine check, the wheel in a fresh venv run
# from an empty directory (conformance subset, render, the example project): about 2 min.
wheel-check: install
	bash scripts/wheel-check.sh

clean:
	rm -rf $(VENV) .progressive reports/out .pytest_cache dist build progressive.egg-info
