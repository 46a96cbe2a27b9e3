# Quick start:  make demo  (set up + main job)   |   make test  (set up + lint + tests)
#               make serve (set up + the local web page on http://127.0.0.1:7860)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.openhmr-installed
TORCH_VERSION ?= 2.13.0
LINT_PATHS := $(wildcard src tests benchmarks tools)

.PHONY: setup browser gltf-validator blender demo serve test test-fbx test-slow lint format bench clean

setup: $(STAMP) browser

# torch is installed first and pinned: a bare `torch` requirement on a machine without it
# would pull the CUDA build (several GB). The CPU build of 2.13.0 is what this targets.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install -q -e '.[dev,web]'
	touch $@

# Debian's chromium and its driver, for the browser test (tests/test_web_server.py): installed
# when missing and root, otherwise a note (the test skips without them)
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else echo "chromium or chromedriver missing: the browser test will be skipped" \
		"(apt-get install chromium chromium-driver)"; fi

# the Khronos glTF validator (npm), for the animated-GLB test (tests/test_video.py): installed
# from the lock file when node and npm are there, otherwise a note (the test skips without it)
gltf-validator:
	@if [ -d tools/gltf/node_modules/gltf-validator ]; then :; \
	elif command -v npm >/dev/null; then (cd tools/gltf && npm ci --silent --no-audit --no-fund); \
	else echo "npm missing: the glTF validator test will be skipped"; fi

# Blender as a Python module (bpy, ~360 MB download, ~0.8 GB installed), for the FBX tests
# (tests/test_fbx.py): its own environment, since bpy pins Python 3.11 and numpy < 2 and the
# dev set-up has numpy 2; made when $(BPY_PYTHON) exists, otherwise a note (the tests skip)
BPY_VERSION ?= 5.0.1
BPY_PYTHON ?= python3.11
FBX_VENV ?= .venv-fbx
FBX_STAMP := $(FBX_VENV)/.bpy-$(BPY_VERSION)
blender:
	@if [ -f $(FBX_STAMP) ]; then :; \
	elif command -v $(BPY_PYTHON) >/dev/null; then \
		$(BPY_PYTHON) -m venv $(FBX_VENV) && \
		$(FBX_VENV)/bin/python -m pip install -q bpy==$(BPY_VERSION) && touch $(FBX_STAMP); \
	else echo "$(BPY_PYTHON) missing: the FBX tests will be skipped"; fi

demo: $(STAMP)
	$(BIN)/openhmr demo --out out/demo

# the web page (the web extra is part of the set-up); SERVE_ARGS="--port 8000 --checkpoint C"
serve: $(STAMP)
	$(BIN)/openhmr serve $(SERVE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

# the FBX tests find Blender's Python through OPENHMR_BLENDER_PYTHON
FBX_PYTHON_ENV = $$([ -f $(FBX_STAMP) ] && echo OPENHMR_BLENDER_PYTHON=$(abspath $(FBX_VENV))/bin/python)

test: lint browser gltf-validator blender
	env $(FBX_PYTHON_ENV) $(BIN)/python -m pytest -q

test-fbx: $(STAMP) blender
	@test -f $(FBX_STAMP) || { echo "test-fbx: needs $(BPY_PYTHON) for bpy"; exit 1; }
	env $(FBX_PYTHON_ENV) $(BIN)/python -m pytest -q -rs tests/test_fbx.py

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

format: $(STAMP)
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

bench: $(STAMP)
	$(BIN)/python benchmarks/body_model.py

clean:
	rm -rf out .pytest_cache .ruff_cache
