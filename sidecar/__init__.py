"""The chat sidecar: one process that owns provider streaming, storage and events.

Kept import-free on purpose: `sidecar serve` must reach its ready line fast, so
every module imports only what its own job needs.
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
