"""Persistence: the SQLite database behind conversations, messages and settings.

The store knows nothing about JSON-RPC, events or sockets; it takes and
returns the wire models of `sidecar.protocol.objects`.
"""

from sidecar.store.db import Store
from sidecar.store.errors import (
    SchemaTooNewError,
    StorageUnavailable,
    StoreError,
    StoreOpenError,
)
from sidecar.store.migrations import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "SchemaTooNewError",
    "StorageUnavailable",
    "Store",
    "StoreError",
    "StoreOpenError",
]
