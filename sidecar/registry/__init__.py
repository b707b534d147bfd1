"""The built-in model catalog: current chat models of the built-in providers, with prices.

The data is `models.json` beside this module (package data), read and checked on
first use and cached for the life of the process. Nothing here runs at import,
so the engine can import this module without slowing startup.
"""

from sidecar.registry.models import (
    BUILTIN_PROVIDERS,
    Catalog,
    CatalogError,
    builtin_ids,
    catalog,
    load_catalog,
)

__all__ = [
    "BUILTIN_PROVIDERS",
    "Catalog",
    "CatalogError",
    "builtin_ids",
    "catalog",
    "load_catalog",
]
