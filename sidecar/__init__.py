"""The chat sidecar: one process that owns provider streaming, storage and events.

Kept import-free on purpose: `sidecar serve` must reach its ready line fast, so
every module imports only what its own job needs.
"""

# The one place each version is set: pyproject.toml reads __version__, and the ready
# line, `initialize`, schema/ and `make dist` take both from here. Bump __version__ with
# every release (and add its section to docs/changelog.md); bump PROTOCOL_VERSION only
# for a change old clients cannot handle (a removed or renamed method, event or field).
__version__ = "0.2.0"
PROTOCOL_VERSION = 1

# httpx imports its own command line (click, pygments) whenever click is importable, and
# the MCP SDK brings click (its server side needs uvicorn). The sidecar never runs httpx's
# command line: keep it, and the memory it costs, out of every process.
__import__("sys").modules.setdefault("httpx._main", None)
