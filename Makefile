# Every target sets up what it needs on a fresh machine (a venv from the lock file).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TS     := clients/ts
NPM_STAMP := $(TS)/node_modules/.installed
# The import linter lives in its own venv: its CLI libraries (click, rich) would
# otherwise be imported by httpx (which loads its own CLI when click is present).
LINT_VENV  := .venv-lint
LINT_STAMP := $(LINT_VENV)/.installed

.PHONY: setup setup-ts demo test schema bench lint clean dist soak mcp-servers

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

$(LINT_STAMP): requirements-lint.lock
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-lint.lock
	touch $(LINT_STAMP)

# The TypeScript package's tree, exactly as its package-lock.json pins it.
$(NPM_STAMP): $(TS)/package-lock.json $(TS)/package.json
	cd $(TS) && npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

setup-ts: $(NPM_STAMP)

# The MCP servers the tests run (nobody here wrote them), pinned, each in its own tree:
# mcp-server-time (PyPI) in .venv-mcp, @modelcontextprotocol/server-everything (npm) in
# tests/mcp_servers/node_modules from its package-lock.json.
MCP_DIR   := tests/mcp_servers
MCP_VENV  := .venv-mcp
MCP_STAMP := $(MCP_VENV)/.installed
MCP_NPM_STAMP := $(MCP_DIR)/node_modules/.installed

$(MCP_STAMP): $(MCP_DIR)/requirements.lock
	$(PYTHON) -m venv $(MCP_VENV)
	$(MCP_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(MCP_DIR)/requirements.lock
	touch $(MCP_STAMP)

$(MCP_NPM_STAMP): $(MCP_DIR)/package-lock.json $(MCP_DIR)/package.json
	cd $(MCP_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $(MCP_NPM_STAMP)

mcp-servers: $(MCP_STAMP) $(MCP_NPM_STAMP)

# The demo chat page next to a sidecar and a fake provider; prints its URL, Ctrl-C stops.
# (`$(BIN)/python -m sidecar.dev.demo` is the terminal version: one chat, printed.)
demo: setup setup-ts
	cd $(TS) && npm run build --silent
	cd $(TS) && SIDECAR_PYTHON=$(CURDIR)/$(BIN)/python node demo/serve.mjs

# Lint (style and the import layers), the Python suite, then the TypeScript package (types in sync with schema/, strict typecheck,
# build, unit and integration tests against a real sidecar, npm pack contents), then the
# demo page in headless Chromium.
test: lint setup-ts mcp-servers
	$(BIN)/python -m pytest
	cd $(TS) && SIDECAR_PYTHON=$(CURDIR)/$(BIN)/python npm run check
	cd $(TS) && SIDECAR_PYTHON=$(CURDIR)/$(BIN)/python npm run e2e

# The one-folder executable for Tauri's externalBin: dist/sidecar-<target-triple>/ plus its
# .sha256 (packaging/build.py; skipped when dist/ was built from the same sources).
dist: setup
	$(BIN)/python packaging/build.py --out dist

schema: setup
	$(BIN)/python -m sidecar.dev.schema

bench: setup
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/stream.py
	$(BIN)/python bench/upstream.py

# Reliability and security under faults, load and attack: one JSON report (5-10 min).
soak: setup
	$(BIN)/python -m tests.soak

# Style, and the layers of pyproject.toml's [tool.importlinter]: no upward import, no circle.
lint: setup $(LINT_STAMP)
	$(BIN)/ruff check sidecar tests bench
	$(BIN)/ruff format --check sidecar tests bench
	$(LINT_VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) $(LINT_VENV) $(MCP_VENV) .pytest_cache .ruff_cache
