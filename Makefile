# The README's commands. Every target installs what it needs first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
RUNBOOK ?= runbooks/standard.yaml
PYTEST_ARGS ?=
SERVE_ARGS ?=

.PHONY: install test test-fast gameday serve lab stack-up stack-down stack-status lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name gameday --display-name "GameDay (.venv)" >/dev/null
	touch $(STAMP)

install: $(STAMP)

## Run the whole test suite (slow end-to-end tests included).
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Everything but the tests marked slow.
test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## Start the local stack, run a GameDay on it, stop the stack, say where the results are.
gameday: install
	$(BIN)/gameday run $(RUNBOOK) --start-stack

## JupyterLab on 127.0.0.1 with the GameDay session notebook open (kernel: this .venv).
## RUNBOOK=runbooks/x.yaml builds and opens a session notebook for that runbook instead.
lab: install
	$(BIN)/python -m gameday.lab --runbook $(RUNBOOK)

## Benchmarks (BENCHMARKS.md): one table on stdout, raw figures in bench/results/.
## BENCH_ARGS passes options, e.g. `make bench BENCH_ARGS="-n 3 --only detection"`.
BENCH_ARGS ?=
bench: install bench-tools
	$(BIN)/python -m bench $(BENCH_ARGS)

## hey and wrk (the independent load tools of the measurement check), from Debian.
bench-tools:
	@command -v hey >/dev/null && command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q hey wrk || \
	    { apt-get update -q && apt-get install -y -q hey wrk; }; \
	  elif command -v sudo >/dev/null; then sudo apt-get install -y -q hey wrk; \
	  else echo "bench: install hey and wrk first: apt-get install -y hey wrk" >&2; exit 1; fi; }

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
