"""Why a store could not be opened; the CLI turns these into a startup error."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's own errors."""


class StoreOpenError(StoreError):
    """The database file cannot be opened or is not a database."""


class SchemaTooNewError(StoreOpenError):
    """The database was migrated by a newer sidecar; opening it could corrupt it."""


class StorageUnavailable(StoreError):
    """The database (or the key store) cannot do what was asked right now: the disk is
    full or read-only, another process holds a lock, the file is damaged. `kind` is a
    stable name for clients, the message is safe to show."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# SQLite's primary result codes (the low byte of the extended code) -> (kind, what it means).
_SQLITE_PROBLEMS = {
    5: ("locked", "the database is locked by another process"),  # SQLITE_BUSY
    6: ("locked", "the database is locked by another process"),  # SQLITE_LOCKED
    8: ("readonly", "the database is read-only"),  # SQLITE_READONLY
    10: ("io", "the disk reported an I/O error"),  # SQLITE_IOERR
    11: ("corrupt", "the database file is damaged"),  # SQLITE_CORRUPT
    13: ("full", "the disk is full"),  # SQLITE_FULL
    14: ("unavailable", "the database file cannot be opened"),  # SQLITE_CANTOPEN
    26: ("corrupt", "the database file is not a database"),  # SQLITE_NOTADB
}


def storage_problem(exc: BaseException) -> StorageUnavailable | None:
    """The StorageUnavailable a database exception means, or None when it is not a
    problem of the storage itself (a bug in a query, a constraint)."""
    if isinstance(exc, StorageUnavailable):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    problem = _SQLITE_PROBLEMS.get(code & 0xFF)
    if problem is None:
        return None
    kind, text = problem
    return StorageUnavailable(kind, f"storage unavailable: {text}")
