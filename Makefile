# Quick start:  make demo  (set up + main job)   |   make test  (set up + lint + tests)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.openhmr-installed
TORCH_VERSION ?= 2.13.0
LINT_PATHS := $(wildcard src tests benchmarks tools)

.PHONY: setup demo test test-slow lint format bench clean

setup: $(STAMP)

# torch is installed first and pinned: a bare `torch` requirement on a machine without it
# would pull the CUDA build (several GB). The CPU build of 2.13.0 is what this targets.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/openhmr demo --out out/demo

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

test: lint
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

format: $(STAMP)
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

bench: $(STAMP)
	$(BIN)/python benchmarks/body_model.py

clean:
	rm -rf out .pytest_cache .ruff_cache
