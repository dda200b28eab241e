# The two commands a new user needs:  make run  and  make test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= firebreak.example.yml
PYTEST_ARGS ?=
# The suite waits on processes and sockets far more than it computes (about 450 s of CPU in
# 6 minutes on two cores): six workers on two cores (docs/development.md, "How long the suite takes").
PYTEST_WORKERS ?= 6

# Every dependency pinned, with hashes: what the suite was run with (docs/development.md).
TEST_LOCK    := requirements/test.lock
RUNTIME_LOCK := requirements/runtime.lock
BUILD_LOCK   := requirements/build.lock
UV_VERSION   ?= 0.13.9
# One lock for every platform and Python from 3.11 (the image runs 3.12).
PIN = $(BIN)/uv pip compile --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock"
COMPILE = $(PIN) setup.cfg

.PHONY: run test lint lock lock-upgrade bench demo bench-runbooks bench-soak bench-scaleout bench-compare setup system-deps-run system-deps-test clean

# Installed again whenever the lock (or the package's own metadata) changes.
# pip and the build backend come from build.lock too: pip builds the package with them, fetching
# nothing unpinned (--no-build-isolation).
$(BIN)/.installed: setup.cfg pyproject.toml $(TEST_LOCK) $(BUILD_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r $(BUILD_LOCK)
	$(BIN)/pip install -q --require-hashes -r $(TEST_LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv==$(UV_VERSION)

## Pin what setup.cfg asks for (install_requires and the test extra): new requirements are
## added, the pins already there kept while they still fit. Then `make setup` installs them.
lock: $(BIN)/uv
	$(COMPILE) --extra test -o $(TEST_LOCK)
	$(COMPILE) -c $(TEST_LOCK) -o $(RUNTIME_LOCK)
	$(PIN) requirements/build.in -c $(TEST_LOCK) -o $(BUILD_LOCK)

## The same, moving every pin to the newest release setup.cfg allows.
lock-upgrade: $(BIN)/uv
	$(COMPILE) --extra test --upgrade -o $(TEST_LOCK)
	$(COMPILE) -c $(TEST_LOCK) --upgrade -o $(RUNTIME_LOCK)
	$(PIN) requirements/build.in -c $(TEST_LOCK) --upgrade -o $(BUILD_LOCK)

setup: system-deps-run $(BIN)/.installed

system-deps-run:
	@scripts/system-deps.sh run

system-deps-test:
	@scripts/system-deps.sh test

## Start the receiver on SQLite with the example configuration.
run: setup
	$(BIN)/firebreak check-config --config $(CONFIG)
	$(BIN)/firebreak serve --config $(CONFIG)

## Lint, type-check, check the import contracts (.importlinter) and run the whole suite
## (real Alertmanager, SQLite and PostgreSQL).
# Compiled modules are kept for the next run even where PYTHONDONTWRITEBYTECODE is set (as in
# the image): otherwise each worker rewrites and compiles every test module again (collecting
# took 12.0 s of CPU per worker instead of 7.5 s) and each `firebreak serve` the suite starts
# compiles the package again (1.2 s of CPU to import instead of 1.07 s).
# --durations: the slowest tests of each run are named at its end, where a new long pole shows.
test: setup system-deps-test lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(PYTEST_WORKERS) --durations=20 $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check receiver tests bench examples scripts
	$(BIN)/ruff format --check receiver tests bench examples scripts
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

## The self-healing story on loopback: demo service, Prometheus, Alertmanager, Firebreak.
demo: setup system-deps-test
	$(BIN)/python scripts/demo.py

## Webhook throughput and latency against a bare aiohttp handler, then webhook to notification
## (ten runs: its target must hold in at least 9 of 10), then webhook to first runbook step.
bench: setup
	$(BIN)/python bench/webhook_bench.py
	$(BIN)/python bench/notify_bench.py --runs 10
	$(BIN)/python bench/runbook_bench.py

## Webhook to first runbook step started (median target < 100 ms).
bench-runbooks: setup
	$(BIN)/python bench/runbook_bench.py

## Sustained ingest at half the measured maximum for 5 minutes (SOAK_ARGS="--minutes 2").
bench-soak: setup
	$(BIN)/python bench/soak_bench.py $(SOAK_ARGS)

## Ingest with 1, 2 and 3 replicas on one PostgreSQL database, each replica under a CPU quota
## (as root; SCALEOUT_ARGS="--cpu-quota 0" runs them uncapped).
bench-scaleout: setup
	$(BIN)/python bench/scaleout_bench.py $(SCALEOUT_ARGS)

## Firebreak on SQLite and on PostgreSQL against a bare aiohttp handler, in one run, as ratios
## (COMPARE_ARGS=--with-alerta: and against Alerta 9, installed from PyPI into a venv under /tmp).
bench-compare: setup
	$(BIN)/python bench/compare.py $(COMPARE_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
