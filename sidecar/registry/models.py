"""Load and check `models.json`: the models every install knows without configuration.

The file's shape:

    {
      "pricesTakenOn": "YYYY-MM-DD",        the day the prices were checked
      "notes": "...",                       what the prices mean and how sure they are
      "source": {"openai": "...", ...},     where each provider's figures come from
      "models": [ {id, provider, providerModel, displayName, contextWindow,
                   maxOutputTokens, capabilities {tools, vision, reasoning},
                   pricing {input, output, cacheRead, cacheWrite}}, ... ]
    }

Prices are USD per million tokens, like `Pricing` on the wire. A typo in the file
(an unknown key, a missing price, a duplicate id) is a CatalogError at first use,
and tests/test_registry.py loads the shipped file, so it never reaches a release.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pydantic import ValidationError

from sidecar.protocol.objects import Model

DATA_FILE = "models.json"
BUILTIN_PROVIDERS = ("openai", "anthropic", "deepseek")

_TOP_KEYS = frozenset({"pricesTakenOn", "notes", "source", "models"})
_MODEL_KEYS = frozenset(
    {
        "id",
        "provider",
        "providerModel",
        "displayName",
        "enabled",
        "contextWindow",
        "maxOutputTokens",
        "capabilities",
        "pricing",
    }
)
_REQUIRED_MODEL_KEYS = frozenset({"id", "provider", "providerModel", "displayName", "pricing"})
_CAPABILITY_KEYS = frozenset({"tools", "vision", "reasoning"})
_PRICE_KEYS = frozenset({"input", "output", "cacheRead", "cacheWrite"})


class CatalogError(ValueError):
    """The built-in catalog file is malformed."""


@dataclass(frozen=True, slots=True)
class Catalog:
    prices_taken_on: dt.date
    notes: str
    source: dict[str, str]
    models: tuple[Model, ...]

    def by_id(self) -> dict[str, Model]:
        return {m.id: m for m in self.models}


@cache
def catalog() -> Catalog:
    """The shipped catalog, read and checked once per process."""
    raw = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse(json.loads(raw))


def load_catalog() -> list[Model]:
    """The built-in models (`source: "builtin"`), in file order."""
    return list(catalog().models)


def builtin_ids() -> frozenset[str]:
    return frozenset(m.id for m in catalog().models)


def parse(data: Any) -> Catalog:
    """Check a catalog document and turn it into models; CatalogError says what is wrong."""
    if not isinstance(data, dict):
        raise CatalogError("the catalog must be a JSON object")
    _keys(data, _TOP_KEYS, _TOP_KEYS, "the catalog")
    try:
        taken_on = dt.date.fromisoformat(data["pricesTakenOn"])
    except (TypeError, ValueError):
        raise CatalogError("pricesTakenOn must be a YYYY-MM-DD date") from None
    notes, source = data["notes"], data["source"]
    if not isinstance(notes, str) or not notes.strip():
        raise CatalogError("notes must be a non-empty string")
    if not isinstance(source, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in source.items()
    ):
        raise CatalogError("source must map each provider to a non-empty note")
    if not isinstance(data["models"], list) or not data["models"]:
        raise CatalogError("models must be a non-empty list")
    models: list[Model] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["models"]):
        model = _model(entry, f"models[{index}]")
        if model.id in seen:
            raise CatalogError(f"models[{index}]: duplicate id {model.id!r}")
        if model.provider not in source:
            raise CatalogError(f"models[{index}]: no source note for provider {model.provider!r}")
        seen.add(model.id)
        models.append(model)
    return Catalog(prices_taken_on=taken_on, notes=notes, source=dict(source), models=tuple(models))


def _model(entry: Any, where: str) -> Model:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: a model must be an object")
    _keys(entry, _MODEL_KEYS, _REQUIRED_MODEL_KEYS, where)
    if entry["provider"] not in BUILTIN_PROVIDERS:
        raise CatalogError(
            f"{where}: provider must be one of {', '.join(BUILTIN_PROVIDERS)} "
            "(custom backends' models come from models.upsert)"
        )
    if "capabilities" in entry:
        _keys(entry["capabilities"], _CAPABILITY_KEYS, _CAPABILITY_KEYS, f"{where}.capabilities")
    _keys(entry["pricing"], _PRICE_KEYS, _PRICE_KEYS, f"{where}.pricing")
    if not all(isinstance(entry["pricing"][k], int | float) for k in _PRICE_KEYS):
        raise CatalogError(f"{where}.pricing: every price must be a number")
    for limit in ("contextWindow", "maxOutputTokens"):
        value = entry.get(limit)
        if value is not None and (type(value) is not int or value <= 0):
            raise CatalogError(f"{where}.{limit} must be a positive integer")
    try:
        return Model.model_validate({**entry, "source": "builtin"}, strict=True)
    except ValidationError as exc:
        raise CatalogError(f"{where}: {exc}") from None


def _keys(obj: Any, allowed: frozenset[str], required: frozenset[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise CatalogError(f"{where} must be an object")
    unknown = obj.keys() - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    missing = required - obj.keys()
    if missing:
        raise CatalogError(f"{where}: missing keys {', '.join(sorted(missing))}")
