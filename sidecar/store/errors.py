"""Why a store could not be opened; the CLI turns these into a startup error."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's own errors."""


class StoreOpenError(StoreError):
    """The database file cannot be opened or is not a database."""


class SchemaTooNewError(StoreOpenError):
    """The database was migrated by a newer sidecar; opening it could corrupt it."""
