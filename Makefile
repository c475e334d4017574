# One command each on a fresh machine: every target makes .venv and installs when needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo run test test-matrix bench check lint typecheck clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/samen demo

run: $(STAMP)
	$(BIN)/samen run

test: $(STAMP)
	$(BIN)/python -m pytest

# The Matrix tests alone: they start a real Synapse (a dev dependency) once per session.
test-matrix: $(STAMP)
	$(BIN)/python -m pytest tests/adapters/matrix

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check bot adapters tests bench
	$(BIN)/ruff format --check bot adapters tests bench

typecheck: $(STAMP)
	$(BIN)/mypy bot/core

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
