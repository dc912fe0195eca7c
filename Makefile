# The project's commands. `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
UV := .tools/bin/uv
ARGS ?=

.PHONY: help install assets fmt lint test test-unit test-integration test-e2e check run run-proxy migrate up down logs clis bench clean

help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-18s %s\n", $$1, $$2}'

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==0.13.9

.venv/.installed: pyproject.toml uv.lock | .tools/bin/uv
	$(UV) sync --frozen --python python3.11
	@touch $@

install: .venv/.installed ## Create .venv with runtime and dev dependencies
	@if [ -f package.json ]; then $(MAKE) --no-print-directory assets; fi

assets: ## Install front-end assets from the npm lock file
	@if [ -f package.json ]; then npm ci --no-audit --no-fund --loglevel=error && $(PY) -m tools.assets; fi

fmt: install ## Format and autofix
	.venv/bin/ruff format services tests bench tools
	.venv/bin/ruff check --fix services tests bench tools

lint: install ## Verify formatting, lint, types and import contracts (no changes)
	.venv/bin/ruff format --check services tests bench tools
	.venv/bin/ruff check services tests bench tools
	.venv/bin/mypy
	.venv/bin/lint-imports --no-logo --cache-dir .cache/import-linter

test: install lint ## Lint, then unit, integration and end-to-end tests (ARGS= passes to pytest)
	$(PY) -m pytest tests/unit tests/integration tests/e2e -q $(ARGS)

test-unit: install ## Unit tests only
	$(PY) -m pytest tests/unit -q $(ARGS)

test-integration: install ## Integration tests only
	$(PY) -m pytest tests/integration -q $(ARGS)

test-e2e: install ## End-to-end tests (whole product as processes)
	$(PY) -m pytest tests/e2e -q $(ARGS)

check: clis test ## Everything CI runs (installs the coding-agent CLIs first)

run: install ## Run the whole product locally (no Docker)
	$(PY) -m tools.run

run-proxy: install ## Run only the proxy with the local config
	$(PY) -m tools.run --only proxy

migrate: install ## Apply database migrations to DATABASE_URL
	$(PY) -m services.core.migrate

up: ## Start the Docker Compose stack (infrastructure/manage.sh up)
	infrastructure/manage.sh up

down: ## Stop the Docker Compose stack
	infrastructure/manage.sh down

logs: ## Follow the Docker Compose stack's logs
	infrastructure/manage.sh logs

clis: install ## Install the pinned coding-agent CLIs for tests/e2e/clis (npm ci into .cache/clis, ~0.9 GB)
	$(PY) -m tools.clis install

bench: install ## Run the benchmarks and print figures
	@command -v wrk >/dev/null || { echo "make bench needs wrk (apt-get install -y wrk)"; exit 1; }
	$(PY) -m bench.proxy_overhead
	$(PY) -m bench.proxy_workers
	$(PY) -m bench.collector_ingest --events 50000 --rollup-events 0
	$(PY) -m bench.limits_overhead

clean: ## Remove caches (keeps .run data)
	rm -rf .mypy_cache .ruff_cache .pytest_cache .hypothesis test-artifacts .cache/import-linter .import_linter_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
