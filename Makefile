# The README's commands. Every target installs what it needs first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
RUNBOOK ?= runbooks/standard.yaml
PYTEST_ARGS ?=
SERVE_ARGS ?=

.PHONY: install test test-fast test-deps images docker-engine gameday gameday-compose serve lab \
	stack-up stack-down stack-status lint clean

# Debian's python3 has no venv module without python3-venv: install it where we may.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV) || \
	  { bash tests/system.sh packages python3-venv && $(PY) -m venv --clear $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name gameday --display-name "GameDay (.venv)" >/dev/null
	touch $(STAMP)

install: $(STAMP)

## Run the whole test suite (slow end-to-end tests included), as CI does (.ci/run).
test: install test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## What the suite needs from the system, installed and started where this machine allows
## (root or sudo): chromium, docker.io + Compose v2, a running engine, the stack images.
## Whatever it cannot do it says; the tests that need it then skip saying why.
test-deps: install
	@bash tests/system.sh

## The compose stack's images with no registry (images/build.sh; cached: seconds when warm).
images: install
	PYTHON=$(BIN)/python bash images/build.sh

## Start a Docker engine if none answers (the docker service, or dockerd as root).
docker-engine: install
	$(BIN)/python tests/dockerd/engine.py

## Everything but the tests marked slow.
test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## Start the local stack, run a GameDay on it, stop the stack, say where the results are.
gameday: install
	$(BIN)/gameday run $(RUNBOOK) --start-stack

## The same GameDay through Docker: the images of `make images`, docker-compose.local.yml.
gameday-compose: images
	GAMEDAY_COMPOSE_FILE=docker-compose.yml:docker-compose.local.yml \
	  $(BIN)/gameday run $(RUNBOOK) --target compose --start-stack

## JupyterLab on 127.0.0.1 with the GameDay session notebook open (kernel: this .venv).
## RUNBOOK=runbooks/x.yaml builds and opens a session notebook for that runbook instead.
lab: install
	$(BIN)/python -m gameday.lab --runbook $(RUNBOOK)

## Benchmarks (BENCHMARKS.md): one table on stdout, raw figures in bench/results/.
## BENCH_ARGS passes options, e.g. `make bench BENCH_ARGS="-n 3 --only detection"`.
BENCH_ARGS ?=
bench: install bench-tools
	$(BIN)/python -m bench $(BENCH_ARGS)

## hey and wrk (the independent load tools of the measurement check) and nginx (the fast
## server the load generator's ceiling is measured against), from Debian.
BENCH_DEBS := hey wrk nginx-light
bench-tools:
	@command -v hey >/dev/null && command -v wrk >/dev/null && \
	  { command -v nginx >/dev/null || test -x /usr/sbin/nginx; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q $(BENCH_DEBS) || \
	    { apt-get update -q && apt-get install -y -q $(BENCH_DEBS); }; \
	  elif command -v sudo >/dev/null; then sudo apt-get install -y -q $(BENCH_DEBS); \
	  else echo "bench: install them first: apt-get install -y $(BENCH_DEBS)" >&2; exit 1; fi; }

## Serve the deployments gameday/standard, gameday/nightly (cron) and gameday/smoke;
## starts a Prefect server on 127.0.0.1:4200 when PREFECT_API_URL is unset.
serve: install
	$(BIN)/gameday serve $(SERVE_ARGS)

stack-up: install
	$(BIN)/gameday stack up

stack-down: install
	$(BIN)/gameday stack down

stack-status: install
	$(BIN)/gameday stack status

lint: install
	$(BIN)/ruff check src stack flows tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .gameday .pytest_cache
