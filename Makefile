# Every target sets up what it needs on a fresh machine (a venv from the lock file).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test schema bench lint clean dist soak

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python -m sidecar.demo

test: setup
	$(BIN)/python -m pytest

# The one-folder executable for Tauri's externalBin: dist/sidecar-<target-triple>/ plus its
# .sha256 (packaging/build.py; skipped when dist/ was built from the same sources).
dist: setup
	$(BIN)/python packaging/build.py --out dist

schema: setup
	$(BIN)/python -m sidecar.protocol.export

bench: setup
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/stream.py

# Reliability and security under faults, load and attack: one JSON report (5-10 min).
soak: setup
	$(BIN)/python -m tests.soak

lint: setup
	$(BIN)/ruff check sidecar tests bench
	$(BIN)/ruff format --check sidecar tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
