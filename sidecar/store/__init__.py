"""Persistence: the SQLite database behind conversations, messages and settings.

One `Database` (opening, migrations, locking, transactions) and small
repositories over it, one per module (`<concern>_repo.py` holds `<Concern>Repo`),
held together by `Repositories`. The store knows nothing about JSON-RPC, events
or sockets; it takes and returns the wire models of `sidecar.protocol.objects`.
"""

from sidecar.store.database import Database
from sidecar.store.errors import (
    SchemaTooNewError,
    StorageUnavailable,
    StoreError,
    StoreOpenError,
)
from sidecar.store.migrations import SCHEMA_VERSION
from sidecar.store.repositories import Repositories

__all__ = [
    "SCHEMA_VERSION",
    "Database",
    "Repositories",
    "SchemaTooNewError",
    "StorageUnavailable",
    "StoreError",
    "StoreOpenError",
]
