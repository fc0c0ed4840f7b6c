# The README's commands. Every target installs what it needs first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
RUNBOOK ?= runbooks/standard.yaml
PYTEST_ARGS ?=

.PHONY: install test test-fast gameday stack-up stack-down stack-status lint clean

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
