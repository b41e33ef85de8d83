# Overlap — the two commands a newcomer needs are `make demo` and `make test`.
# Everything is installed by scripts/bootstrap.sh from the committed uv.lock.

VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: help setup demo test lint typecheck unit clean

help:
	@echo "make demo   generate a synthetic organisation, run the weekly job, print the report path"
	@echo "make test   lint + type-check + the whole test suite"
	@echo "make lint   ruff + mypy only"
	@echo "make clean  remove demo output and caches (not the environment)"

$(VENV)/.synced: pyproject.toml uv.lock scripts/bootstrap.sh
	@scripts/bootstrap.sh

setup: $(VENV)/.synced

demo: $(VENV)/.synced
	$(BIN)/overlap demo --out demo

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

clean:
	rm -rf demo .pytest_cache .mypy_cache .ruff_cache
