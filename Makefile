# Neurosteroid CDS — the two commands: `make run` and `make test`.
# Values set in the environment win over these defaults (HOST=0.0.0.0 make run).
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
CDS_AUTH ?= off
CDS_DATABASE_URL ?= sqlite:///./var/cds.db
export CDS_AUTH CDS_DATABASE_URL

.PHONY: run test lint format deps-test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13), "Python 3.11 or 3.12 is required (durable-rules does not import on 3.13)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/cds serve --host $(HOST) --port $(PORT)

deps-test:
	bash scripts/install-test-deps.sh

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(BIN)/.installed deps-test lint
	$(BIN)/cds rules validate rules
	mkdir -p test-results
	$(BIN)/pytest --cucumberjson=test-results/cucumber.json
	$(BIN)/cds rules coverage rules --features features

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(BIN)/.installed
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
