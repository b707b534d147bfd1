"""The built-in model catalog: current chat models of the built-in providers, with prices.

The data is `models.json` beside this module (package data), read and checked on
first use and cached for the life of the process. Nothing here runs at import,
so the engine can import this module without slowing startup.

`resolve_alias(model_id) -> str | None` maps any id the built-in catalog answers to
(an id, or an alias such as the old app's `gpt-4-1`) to its canonical id;
`resolve_model(models, model_id)` finds the model a new call goes to over a merged list
(`merged`) that includes the user's models; `recorded_model` the model a past call is
recorded as (a retired model's name stays that model, not its replacement).
"""

from sidecar.registry.models import (
    BUILTIN_PROVIDERS,
    Catalog,
    CatalogError,
    NotChat,
    Retired,
    builtin_ids,
    catalog,
    load_catalog,
    merged,
    not_chat_reason,
    recorded_model,
    resolve_alias,
    resolve_model,
    retired_model,
    transcription_reason,
)

__all__ = [
    "BUILTIN_PROVIDERS",
    "Catalog",
    "CatalogError",
    "NotChat",
    "Retired",
    "builtin_ids",
    "catalog",
    "load_catalog",
    "merged",
    "not_chat_reason",
    "recorded_model",
    "resolve_alias",
    "resolve_model",
    "retired_model",
    "transcription_reason",
]
