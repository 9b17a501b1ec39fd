# One command per job. Each target bootstraps its own virtualenv from nothing (python3 + PyPI).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED ?= ../shared/data
export BETPIPE_SHARED_DATA ?= $(abspath $(SHARED))

.PHONY: venv demo test test-sqlite lint bench clean evaluate

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "uv==0.13.9"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

## demo: ingest the built-in sample league into ./betpipe-data and show what is there
demo: $(STAMP)
	$(BIN)/betpipe db upgrade
	$(BIN)/betpipe ingest sample
	$(BIN)/betpipe data summary
	$(BIN)/betpipe features build
	$(BIN)/betpipe features sanity-check --competition SAMPLE

## test: the whole suite, on SQLite and (when BETPIPE_TEST_DATABASE_URL is set) on PostgreSQL
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## bench: throughput/latency benchmarks; prints a table and writes bench/results/*.json
bench: $(STAMP)
	$(BIN)/python -m bench

evaluate: $(STAMP)
	$(BIN)/betpipe evaluate

clean:
	rm -rf $(VENV) betpipe-data .pytest_cache .mypy_cache .ruff_cache
