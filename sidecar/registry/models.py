"""Load and check `models.json`: the models every install knows without configuration.

The file's shape:

    {
      "pricesTakenOn": "YYYY-MM-DD",        the day the prices were checked
      "notes": "...",                       what the prices mean and how sure they are
      "source": {"openai": "...", ...},     where each provider's figures come from
      "models": [ {id, provider, providerModel, displayName, aliases?, contextWindow,
                   maxOutputTokens, capabilities {tools, vision, reasoning, audio},
                   profile {api, thinking, efforts, sampling}, sendReasoningBack?,
                   pricing {input, output, cacheRead, cacheWrite} | null,
                   pricesTakenOn?, priceSource}, ... ],
      "retired": [ {id, provider, aliases?, retiredOn, replacedBy?, note,
                    pricing?, pricesTakenOn?, priceSource?}, ... ],
      "notChat": [ {id | prefix, reason}, ... ]   ids that name no chat model, and why
    }

Every model has a profile (what its API accepts: `ModelProfile`), and the adapters build
requests from it alone; `capabilities.reasoning` is true exactly when the profile's
thinking is not "none". A model's prices carry the day they were taken (its own
`pricesTakenOn`, else the file's) and their source. A retired model's names keep old
conversations working: with `replacedBy` they become aliases of that model (with a note
saying so in `aliasNotes`); without, a chat with them is refused with the note. Either
way its past calls stay its own (see `recorded_model`), at the prices it had.

Prices are USD per million tokens, like `Pricing` on the wire; `"pricing": null` (said
outright, never left out) is a model whose price could not be confirmed: its calls
cost null. A typo in the file (an unknown key, a missing price, a duplicate id or
alias) is a CatalogError at first use, and tests/test_registry.py loads the shipped
file, so it never reaches a release.

Model ids and aliases (one rule for every path: chat.send/regenerate/edit, chat.record,
usage.summary, the TypeScript router, the legacy importer):

- an id names its model; an alias (a model's `aliases`: the old app's ids such as
  `gpt-4-1`, dated snapshots such as `claude-sonnet-4-5-20250929`) names the model that
  lists it. Catalog ids stay canonical: what messages and usage records store.
- `merged` puts the user's models (models.upsert) over the built-in ones. An id always
  wins over an alias, so a user model whose id is a built-in alias takes that name;
  between aliases, a user model's win over built-in ones. A user model that overrides
  a built-in id keeps that id's built-in aliases. Each alias is listed once, on the
  model it resolves to, so clients can resolve with the list alone.
- a retired model's names (its id and aliases) send a new call to its replacement, but
  what it answered before is recorded under its own id at its own prices: a chat.record
  of an old reply, the importer's rows and usage.summary's groups never move its calls
  to the replacement or re-price them (`recorded_model`).
- `resolve_model` answers from such a list; `resolve_alias` from the built-in catalog
  alone (no store, no I/O). `not_chat_reason` says why an id that resolves to nothing
  cannot chat (an image or speech model, the old app's local CLI).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pydantic import ValidationError

from sidecar.protocol.objects import Model, Pricing

DATA_FILE = "models.json"
BUILTIN_PROVIDERS = ("openai", "anthropic", "deepseek")

_TOP_KEYS = frozenset({"pricesTakenOn", "notes", "source", "models", "notChat", "retired"})
_REQUIRED_TOP_KEYS = _TOP_KEYS - {"notChat", "retired"}
_MODEL_KEYS = frozenset(
    {
        "id",
        "provider",
        "providerModel",
        "displayName",
        "aliases",
        "enabled",
        "contextWindow",
        "maxOutputTokens",
        "capabilities",
        "profile",
        "sendReasoningBack",
        "pricing",
        "pricesTakenOn",
        "priceSource",
        "kind",
        "transcriptFormat",
    }
)
_OPTIONAL_MODEL_KEYS = frozenset(
    {"aliases", "enabled", "contextWindow", "maxOutputTokens", "sendReasoningBack", "pricesTakenOn"}
    | {"kind", "transcriptFormat"}
)
_REQUIRED_MODEL_KEYS = _MODEL_KEYS - _OPTIONAL_MODEL_KEYS
_CAPABILITY_KEYS = frozenset({"tools", "vision", "reasoning", "audio"})
_PROFILE_KEYS = frozenset({"api", "thinking", "efforts", "sampling"})
_RETIRED_KEYS = frozenset(
    {"id", "provider", "aliases", "retiredOn", "replacedBy", "note"}
    | {"pricing", "pricesTakenOn", "priceSource"}
)
_REQUIRED_RETIRED_KEYS = frozenset({"id", "provider", "retiredOn", "note"})
_PRICE_KEYS = frozenset({"input", "output", "cacheRead", "cacheWrite"})
_TRANSCRIPTION_PRICE_KEYS = frozenset({"audioInput", "perMinute"})
_NOT_CHAT_KEYS = frozenset({"id", "prefix", "reason"})
MAX_ID = 200  # like ModelInput.id


class CatalogError(ValueError):
    """The built-in catalog file is malformed."""


@dataclass(frozen=True, slots=True)
class NotChat:
    """An id (or every id starting with `prefix`) that names no chat model; `reason`
    follows the id in the error: "dall-e-3 is an image model, not a chat model"."""

    id: str | None
    prefix: str | None
    reason: str

    def matches(self, model_id: str) -> bool:
        if self.id is not None:
            return model_id == self.id
        return self.prefix is not None and model_id.startswith(self.prefix)


@dataclass(frozen=True, slots=True)
class Retired:
    """A model its provider shut down: `replaced_by` answers new calls for it, else they
    are refused. Its past calls stay its own: `as_recorded` is the model they were made
    with, at the prices it had (`pricing`; None when the catalog never knew them)."""

    id: str
    provider: str
    retired_on: dt.date
    replaced_by: str | None
    note: str
    aliases: tuple[str, ...] = ()
    pricing: Pricing | None = None
    prices_taken_on: dt.date | None = None
    price_source: str | None = None

    def names(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    def reason(self) -> str:
        return f"was retired by {self.provider} on {self.retired_on.isoformat()}: {self.note}"

    def as_recorded(self) -> Model:
        """The retired model as records of its calls name and price it; it cannot chat."""
        return Model(
            id=self.id,
            provider=self.provider,
            provider_model=self.id,
            display_name=self.id,
            aliases=list(self.aliases),
            enabled=False,
            pricing=self.pricing,
            prices_taken_on=None if self.prices_taken_on is None else str(self.prices_taken_on),
            price_source=self.price_source,
            source="builtin",
        )


@dataclass(frozen=True, slots=True)
class Catalog:
    prices_taken_on: dt.date
    notes: str
    source: dict[str, str]
    models: tuple[Model, ...]
    not_chat: tuple[NotChat, ...] = ()
    retired: tuple[Retired, ...] = ()

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


# --- ids and aliases -----------------------------------------------------------------


def resolve_model(models: Iterable[Model], model_id: str) -> Model | None:
    """The model `model_id` names in `models` (a list as `merged` makes it, or the
    catalog's): the one with that id, else the one listing it in `aliases`; None if
    none does."""
    by_alias = None
    for model in models:
        if model.id == model_id:
            return model
        if by_alias is None and model_id in model.aliases:
            by_alias = model
    return by_alias


def retired_model(model_id: str, retired: Iterable[Retired] | None = None) -> Retired | None:
    """The retired model `model_id` names (its id or one of its aliases), among `retired`
    (the built-in catalog's unless given)."""
    among = catalog().retired if retired is None else retired
    return next((r for r in among if model_id in r.names()), None)


def recorded_model(
    models: Iterable[Model], model_id: str, retired: Iterable[Retired] | None = None
) -> Model | None:
    """The model a call made under `model_id` is recorded as: the one it names, except a
    retired model's name, whose replacement answers new calls but whose own calls stay
    its own (under its id, at its prices: `Retired.as_recorded`). None: nothing names it.

    For what was answered before (chat.record, the importer, usage.summary); a new call
    goes to `resolve_model`."""
    model = resolve_model(models, model_id)
    gone = retired_model(model_id, retired)
    if gone is not None and (model is None or model.id != model_id):
        if model is None or model.id == gone.replaced_by:  # not a user model's alias
            return gone.as_recorded()
    return model


def resolve_alias(model_id: str) -> str | None:
    """The canonical built-in id that history keeps for `model_id` (itself for a built-in
    id, the model's id for one of its aliases, a retired model's id for its names), or
    None when no built-in model answers to it.

    The built-in catalog alone: user models are the store's (`Engine.models.resolve`
    answers with both). Synchronous, no I/O, safe to call per row."""
    model = recorded_model(catalog().models, model_id)
    return None if model is None else model.id


def not_chat_reason(model_id: str) -> str | None:
    """Why `model_id` can never be a chat model of the sidecar ("dall-e-3 is an image
    model, not a chat model"), or None when the catalog knows no reason. For an id that
    resolves to nothing, or to a transcription model (`transcription_reason`): a user
    model may take any id."""
    model = resolve_model(catalog().models, model_id)
    if model is not None and model.kind != "chat":
        return transcription_reason(model_id, model)
    for entry in catalog().not_chat:
        if entry.matches(model_id):
            return f"{model_id} {entry.reason}"
    retired = retired_model(model_id)
    if retired is not None and retired.replaced_by is None:
        return f"{_called(model_id, retired)} {retired.reason()}"
    return None


_PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "deepseek": "DeepSeek"}


def transcription_reason(name: str, model: Model) -> str:
    """Why a chat refuses a transcription model: "whisper-1 is a speech-to-text model
    (OpenAI's transcription), not a chat model; audio.transcribe takes it"."""
    owner = _PROVIDER_NAMES.get(model.provider, model.provider)
    return (
        f"{name} is a speech-to-text model ({owner}'s transcription), not a chat model; "
        "audio.transcribe takes it"
    )


def merged(user_models: Iterable[Model]) -> list[Model]:
    """Built-in and user models as one list, the way models.list shows it: a user
    model replaces the built-in one with its id; each model lists the aliases that
    resolve to it (see the module's rules); sorted by provider, then id."""
    builtin = {m.id: m for m in catalog().models}
    users = {
        m.id: m if m.source == "user" else m.model_copy(update={"source": "user"})
        for m in user_models
    }
    by_id = {**builtin, **users}
    owner: dict[str, str] = {}  # alias -> the id it resolves to
    for model in (*users.values(), *builtin.values()):
        for alias in model.aliases:
            if alias not in by_id and alias not in owner:
                owner[alias] = model.id
    aliases: dict[str, list[str]] = {}
    for alias, model_id in owner.items():
        aliases.setdefault(model_id, []).append(alias)
    notes = {
        alias: note
        for model in (*builtin.values(), *users.values())
        for alias, note in model.alias_notes.items()
    }
    models = [_with_aliases(m, aliases.get(m.id, []), notes) for m in by_id.values()]
    return sorted(models, key=lambda m: (m.provider, m.id))


def _with_aliases(model: Model, aliases: list[str], notes: dict[str, str]) -> Model:
    """`model` listing exactly `aliases`, each with its note if it has one."""
    alias_notes = {a: notes[a] for a in aliases if a in notes}
    if model.aliases == aliases and model.alias_notes == alias_notes:
        return model
    return model.model_copy(update={"aliases": aliases, "alias_notes": alias_notes})


def parse(data: Any) -> Catalog:
    """Check a catalog document and turn it into models; CatalogError says what is wrong."""
    if not isinstance(data, dict):
        raise CatalogError("the catalog must be a JSON object")
    _keys(data, _TOP_KEYS, _REQUIRED_TOP_KEYS, "the catalog")
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
        model = _model(entry, f"models[{index}]", taken_on)
        if model.id in seen:
            raise CatalogError(f"models[{index}]: duplicate id {model.id!r}")
        if model.provider not in source:
            raise CatalogError(f"models[{index}]: no source note for provider {model.provider!r}")
        seen.add(model.id)
        models.append(model)
    names: dict[str, str] = {m.id: f"the id of {m.id}" for m in models}
    for index, model in enumerate(models):
        for alias in model.aliases:
            if alias in names:
                raise CatalogError(f"models[{index}]: alias {alias!r} is already {names[alias]}")
            names[alias] = f"an alias of {model.id}"
    retired = _retired(data.get("retired", []), names, seen)
    models = [_answering_for(m, retired) for m in models]
    not_chat = _not_chat(data.get("notChat", []), names)
    return Catalog(
        prices_taken_on=taken_on,
        notes=notes,
        source=dict(source),
        models=tuple(models),
        not_chat=not_chat,
        retired=retired,
    )


def _retired(entries: Any, names: dict[str, str], ids: set[str]) -> tuple[Retired, ...]:
    """The `retired` list: names no model has, each replaced by a catalog model or refused,
    with the prices the model had where the catalog knew them. Adds each name to `names`
    (so notChat cannot refuse it)."""
    if not isinstance(entries, list):
        raise CatalogError("retired must be a list")
    out: list[Retired] = []
    for index, entry in enumerate(entries):
        where = f"retired[{index}]"
        _keys(entry, _RETIRED_KEYS, _REQUIRED_RETIRED_KEYS, where)
        model_id, note = entry["id"], entry["note"]
        if not isinstance(model_id, str) or not 0 < len(model_id) <= MAX_ID:
            raise CatalogError(f"{where}.id must be a non-empty string")
        aliases = _aliases(entry, where)
        for name in (model_id, *aliases):
            if name in names:
                raise CatalogError(f"{where}: {name!r} is already {names[name]}")
            names[name] = f"a name of the retired {model_id}"
        if entry["provider"] not in BUILTIN_PROVIDERS:
            raise CatalogError(f"{where}.provider must be one of {', '.join(BUILTIN_PROVIDERS)}")
        if not isinstance(note, str) or not note.strip():
            raise CatalogError(f"{where}.note must be a non-empty string")
        try:
            retired_on = dt.date.fromisoformat(entry["retiredOn"])
        except (TypeError, ValueError):
            raise CatalogError(f"{where}.retiredOn must be a YYYY-MM-DD date") from None
        replaced_by = entry.get("replacedBy")
        if replaced_by is not None and replaced_by not in ids:
            raise CatalogError(f"{where}.replacedBy must be the id of a model in the catalog")
        pricing, taken_on = None, None
        if entry.get("pricing") is not None:
            _keys(entry, _RETIRED_KEYS, frozenset({"pricesTakenOn", "priceSource"}), where)
            taken_on = _prices_taken_on(entry, where, retired_on)
            pricing = Pricing.model_validate(entry["pricing"])
        out.append(
            Retired(
                model_id,
                entry["provider"],
                retired_on,
                replaced_by,
                note.strip(),
                tuple(aliases),
                pricing,
                taken_on,
                entry.get("priceSource") if pricing is not None else None,
            )
        )
    return tuple(out)


def _answering_for(model: Model, retired: tuple[Retired, ...]) -> Model:
    """`model` with the retired ids it replaces as aliases, each with its note."""
    mine = [r for r in retired if r.replaced_by == model.id]
    if not mine:
        return model
    notes = {
        name: f"{_called(name, r)} {r.reason().rstrip('.')}; {model.display_name} answers for it"
        for r in mine
        for name in r.names()
    }
    return model.model_copy(
        update={
            "aliases": [*model.aliases, *notes],
            "alias_notes": {**model.alias_notes, **notes},
        }
    )


def _called(name: str, retired: Retired) -> str:
    return name if name == retired.id else f"{name} (a name of {retired.id})"


def _not_chat(entries: Any, names: dict[str, str]) -> tuple[NotChat, ...]:
    """The `notChat` list: each entry one `id` or one `prefix`, and a `reason`; none may
    name a model (an id or alias of the catalog)."""
    if not isinstance(entries, list):
        raise CatalogError("notChat must be a list")
    out: list[NotChat] = []
    for index, entry in enumerate(entries):
        where = f"notChat[{index}]"
        _keys(entry, _NOT_CHAT_KEYS, frozenset({"reason"}), where)
        given = [k for k in ("id", "prefix") if k in entry]
        if len(given) != 1:
            raise CatalogError(f"{where}: give exactly one of id, prefix")
        value, reason = entry[given[0]], entry["reason"]
        if not isinstance(value, str) or not value or len(value) > MAX_ID:
            raise CatalogError(f"{where}.{given[0]} must be a non-empty string")
        if not isinstance(reason, str) or not reason.strip():
            raise CatalogError(f"{where}.reason must be a non-empty string")
        item = NotChat(
            id=value if given[0] == "id" else None,
            prefix=value if given[0] == "prefix" else None,
            reason=reason.strip(),
        )
        clash = next((n for n in names if item.matches(n)), None)
        if clash is not None:
            raise CatalogError(f"{where} would refuse {clash!r}, {names[clash]}")
        out.append(item)
    return tuple(out)


def _model(entry: Any, where: str, taken_on: dt.date) -> Model:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: a model must be an object")
    _keys(entry, _MODEL_KEYS, _REQUIRED_MODEL_KEYS, where)
    if entry["provider"] not in BUILTIN_PROVIDERS:
        raise CatalogError(
            f"{where}: provider must be one of {', '.join(BUILTIN_PROVIDERS)} "
            "(custom backends' models come from models.upsert)"
        )
    _keys(entry["capabilities"], _CAPABILITY_KEYS, _CAPABILITY_KEYS, f"{where}.capabilities")
    _keys(entry["profile"], _PROFILE_KEYS, _PROFILE_KEYS, f"{where}.profile")
    thinks = entry["profile"]["thinking"] != "none"
    if entry["capabilities"]["reasoning"] is not thinks:
        raise CatalogError(
            f"{where}: capabilities.reasoning must be {str(thinks).lower()} for thinking "
            f"{entry['profile']['thinking']!r}"
        )
    taken_on = _prices_taken_on(entry, where, taken_on)
    _aliases(entry, where)
    for limit in ("contextWindow", "maxOutputTokens"):
        value = entry.get(limit)
        if value is not None and (type(value) is not int or value <= 0):
            raise CatalogError(f"{where}.{limit} must be a positive integer")
    fields = {**entry, "pricesTakenOn": taken_on.isoformat(), "source": "builtin"}
    try:
        return Model.model_validate(fields, strict=True)
    except ValidationError as exc:
        raise CatalogError(f"{where}: {exc}") from None


def _prices_taken_on(entry: dict[str, Any], where: str, taken_on: dt.date) -> dt.date:
    """Check an entry's `pricing`, `priceSource` and `pricesTakenOn`; the day its prices
    were taken (its own, else `taken_on`, the file's)."""
    source = entry["priceSource"]
    if not isinstance(source, str) or not source.strip():
        raise CatalogError(f"{where}.priceSource must be a non-empty string")
    if "pricesTakenOn" in entry:
        try:
            taken_on = dt.date.fromisoformat(entry["pricesTakenOn"])
        except (TypeError, ValueError):
            raise CatalogError(f"{where}.pricesTakenOn must be a YYYY-MM-DD date") from None
    if entry["pricing"] is not None:  # null: said outright, the price is unknown
        prices = entry["pricing"]
        transcribes = entry.get("kind") == "transcription"
        allowed = _PRICE_KEYS | (_TRANSCRIPTION_PRICE_KEYS if transcribes else frozenset())
        _keys(prices, allowed, _PRICE_KEYS, f"{where}.pricing")
        # A transcription model billed by the minute has no token prices: null, said outright.
        if not all(
            (isinstance(v, int | float) and v >= 0) or (v is None and transcribes)
            for v in prices.values()
        ):
            raise CatalogError(f"{where}.pricing: every price must be a number, not negative")
    return taken_on


def _aliases(entry: dict[str, Any], where: str) -> list[str]:
    aliases = entry.get("aliases", [])
    if (
        not isinstance(aliases, list)
        or not all(isinstance(a, str) and 0 < len(a) <= MAX_ID for a in aliases)
        or len(set(aliases)) != len(aliases)
        or entry["id"] in aliases
    ):
        raise CatalogError(f"{where}.aliases must be distinct non-empty strings, other than the id")
    return aliases


def _keys(obj: Any, allowed: frozenset[str], required: frozenset[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise CatalogError(f"{where} must be an object")
    unknown = obj.keys() - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    missing = required - obj.keys()
    if missing:
        raise CatalogError(f"{where}: missing keys {', '.join(sorted(missing))}")
