# Overlap — the two commands a newcomer needs are `make demo` and `make test`.
# Everything is installed by scripts/bootstrap.sh from the committed uv.lock.

VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_WORKERS ?= 2
SIZE   ?= S

.PHONY: help setup demo demo-cli airflow test lint typecheck unit clean bench compose-check

help:
	@echo "make demo   generate a synthetic organisation, run the weekly job, print the report path"
	@echo "make test   lint + type-check + the whole test suite"
	@echo "make lint   ruff + mypy only"
	@echo "make bench  benchmarks against their targets (SIZE=S|M|L|all, default S); writes benchmarks/results.json"
	@echo "make airflow  local Airflow (api-server, scheduler, dag-processor) on localhost:8080, admin/admin"
	@echo "make demo-cli the same demo without Airflow (overlap demo)"
	@echo "make compose-check  build the image, bring docker-compose.yml up (docker or podman), run the demo DAG, tear down"
	@echo "make clean  remove demo output and caches (not the environment)"

$(VENV)/.synced: pyproject.toml uv.lock scripts/bootstrap.sh
	@scripts/bootstrap.sh

setup: $(VENV)/.synced

# The weekly DAG itself (airflow dags test) on a generated organisation in demo/.
demo: $(VENV)/.synced
	@scripts/airflow-demo.sh

demo-cli: $(VENV)/.synced
	$(BIN)/overlap demo --out demo

airflow: $(VENV)/.synced
	@scripts/airflow-local.sh

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

# Not part of `make test`: measures, never fails on a missed target (docs/performance.md).
bench: $(VENV)/.synced
	$(BIN)/python -m benchmarks.run --size $(SIZE)

# Not part of `make test`: minutes, and needs docker or podman (+ podman-compose). Where no
# registry is reachable, first: sudo scripts/build-base-image.sh (docs/airflow.md).
compose-check: $(VENV)/.synced
	@scripts/compose-check.sh

clean:
	rm -rf demo airflow-home .pytest_cache .mypy_cache .ruff_cache
