# One command per job. Each target bootstraps its own virtualenv from nothing (python3 + PyPI).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED ?= ../shared/data
export BETPIPE_SHARED_DATA ?= $(abspath $(SHARED))
# The PostgreSQL leg of `make bench` (a throw-away schema is created and dropped); unset it to skip.
export BETPIPE_BENCH_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: venv demo test lint bench clean evaluate ci-tools

$(STAMP): pyproject.toml requirements.lock requirements-crosscheck.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "uv==0.13.9"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --target $(VENV)/crosscheck -r requirements-crosscheck.lock
	touch $(STAMP)

venv: $(STAMP)

## demo: the whole chain on the built-in sample league, in a fresh store under betpipe-data/demo: ingest, features,
## evaluate the models and promote the best-ranked one (`evaluate --promote-best`), backtest, paper-bet the next
## matchday (one scheduler cycle), play it out and settle, bankroll
DEMO_DIR := betpipe-data/demo
DEMO_ENV := BETPIPE_DATA_DIR=$(DEMO_DIR) BETPIPE_DATABASE_URL=sqlite:///$(DEMO_DIR)/betpipe.sqlite \
	BETPIPE_PIPELINE__BOOK=sample_soft BETPIPE_PIPELINE__SHARP_BOOK=sample_sharp BETPIPE_PIPELINE__SOURCE=none \
	BETPIPE_RISK__MAX_PRICE_AGE_SECONDS=345600
demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(DEMO_ENV) $(BIN)/betpipe db upgrade
	$(DEMO_ENV) $(BIN)/betpipe ingest sample
	$(DEMO_ENV) $(BIN)/betpipe data summary
	$(DEMO_ENV) $(BIN)/betpipe features build
	$(DEMO_ENV) $(BIN)/betpipe features sanity-check --competition SAMPLE
	@echo "evaluate the candidates walk-forward against the market, then train and promote the one ranked best:"
	$(DEMO_ENV) $(BIN)/betpipe evaluate --sport soccer --model elo_logit --model dixon_coles --model gbm --promote-best
	$(DEMO_ENV) $(BIN)/betpipe models list
	$(DEMO_ENV) $(BIN)/betpipe backtest --competition SAMPLE --from 2020-2021 --to 2024-2025 --book sample_soft \
		--sharp-book sample_sharp --in-process --out $(DEMO_DIR)/backtest
	$(DEMO_ENV) $(BIN)/betpipe run --once --as-of next-matchday
	$(DEMO_ENV) $(BIN)/betpipe run --once --job results --as-of next-matchday+4
	$(DEMO_ENV) $(BIN)/betpipe bets list
	$(DEMO_ENV) $(BIN)/betpipe bankroll
	@echo "backtest HTML report: $$(ls $(abspath $(DEMO_DIR))/backtest/*.html)"

## ci-tools: Debian packages only CI installs (as root; .ci/run calls this, `make test` never does): chromium for the
## dashboard screenshot test. compose.yaml needs no docker: it is checked against the compose specification's JSON
## schema (check-jsonschema, a dev dependency), and by `docker compose config` only where docker already is.
## Without root or apt the step says so and only the screenshot test skips.
ci-tools:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "chromium could not be installed: the dashboard browser test will skip"

## test: the whole suite, on SQLite and (when BETPIPE_TEST_DATABASE_URL is set) on PostgreSQL. It installs nothing
## outside .venv: tests whose tools are missing (chromium, docker) skip and say why.
## Nothing is written into the repository: pytest's, Python's, numba's and hypothesis's caches go to CACHE_DIR.
## `tests` is named, so the run never depends on where pytest finds its rootdir and never collects nothing (exit 5).
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/betpipe
test: $(STAMP)
	PYTHONPYCACHEPREFIX=$(CACHE_DIR)/pycache NUMBA_CACHE_DIR=$(CACHE_DIR)/numba HYPOTHESIS_STORAGE_DIRECTORY=$(CACHE_DIR)/hypothesis \
		HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -q -o cache_dir=$(CACHE_DIR)/pytest tests

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## bench: throughput/latency benchmarks; prints a table and writes bench/results/*.json
bench: $(STAMP)
	$(BIN)/python -m bench

## evaluate: the shared real data into its own store, then every model vs the market (soccer ~6 min CPU, ~3 min on 2 idle cores; NFL ~1 min)
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
