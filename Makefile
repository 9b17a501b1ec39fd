# One command per job. Each target bootstraps its own virtualenv from nothing (python3 + PyPI).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED ?= ../shared/data
export BETPIPE_SHARED_DATA ?= $(abspath $(SHARED))
# The PostgreSQL leg of `make bench` (a throw-away schema is created and dropped); unset it to skip.
export BETPIPE_BENCH_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

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
	$(BIN)/betpipe train --sport soccer --model gbm --promote
	$(BIN)/betpipe evaluate --sport soccer --model elo_logit --model dixon_coles --model gbm
	$(BIN)/betpipe models list

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

## evaluate: the shared real data into its own store, then every model vs the market (soccer ~20 min, NFL ~1 min)
EVAL_ENV := BETPIPE_DATA_DIR=betpipe-data/evaluation BETPIPE_DATABASE_URL=sqlite:///betpipe-data/evaluation/betpipe.sqlite
evaluate: $(STAMP)
	$(EVAL_ENV) $(BIN)/betpipe db upgrade
	$(EVAL_ENV) $(BIN)/betpipe ingest football-data $(SHARED)/football-data
	$(EVAL_ENV) $(BIN)/betpipe ingest nflverse $(SHARED)/nflverse/games.csv
	$(EVAL_ENV) $(BIN)/betpipe features sanity-check --competition E0
	$(EVAL_ENV) $(BIN)/betpipe evaluate --sport soccer --markdown betpipe-data/evaluation/soccer.md --reliability betpipe-data/evaluation/reliability_soccer.svg
	$(EVAL_ENV) $(BIN)/betpipe evaluate --sport american_football --markdown betpipe-data/evaluation/nfl.md

clean:
	rm -rf $(VENV) betpipe-data .pytest_cache .mypy_cache .ruff_cache
