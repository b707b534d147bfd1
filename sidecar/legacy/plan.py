"""What an import adds: the old rows as sidecar objects, and the configuration it lacks.

Two parts, written differently (see `command.py`):
- the history (system prompts, conversations, messages, branch names, usage):
  rows with stable ids, stored by `TransferRepo.add_missing` in one transaction;
- the configuration (custom backends and keys, models, settings): requests to
  the engine's own services, made only for what the sidecar does not have yet,
  so keys go wherever the provider service keeps them and nothing set in the
  sidecar is overwritten.

Mapping notes: a title "New Conversation" is the old app's placeholder and
becomes null; other titles are marked `generated`. Every old message is
`complete` (the old app stored replies only once finished). A message's
`usage` sums its usage rows; each row is also a usage record of kind `chat`.
Text and JSON attachments are read from their files and kept inline, like the
sidecar does; other files are copied into the sidecar's attachments folder
under the attachment's new id. A custom backend becomes an `openai-compatible`
provider whose base URL ends in `/v1` (Ollama's native `/api/chat` included).
"""

from __future__ import annotations

import itertools
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from sidecar.engine.attachments import is_image, is_text
from sidecar.legacy import read, tree
from sidecar.protocol.methods import ProvidersConfigureParams
from sidecar.protocol.objects import (
    DEFAULT_SYSTEM_PROMPT,
    Attachment,
    Conversation,
    ConversationSettings,
    Message,
    ModelInput,
    SettingsPatch,
    SystemPrompt,
    Usage,
    UsageRecord,
)
from sidecar.registry import BUILTIN_PROVIDERS, catalog

if TYPE_CHECKING:
    from sidecar.engine import Engine

PLACEHOLDER_TITLE = "New Conversation"
LAST_MODEL_KEYS = ("last_used_model", "lastUsedModel", "last_model", "selected_model")
_PREFIXES = {
    "openai": ("gpt-", "o1", "o3", "o4", "chatgpt"),
    "anthropic": ("claude",),
    "deepseek": ("deepseek",),
}
_CAPABILITIES = {
    "tools": ("tools", "function_calling", "functionCalling"),
    "vision": ("vision", "images", "image"),
    "reasoning": ("reasoning", "thinking"),
}


# -- configuration ------------------------------------------------------------------


@dataclass(slots=True)
class Config:
    providers: list[ProvidersConfigureParams] = field(default_factory=list)
    models: list[ModelInput] = field(default_factory=list)
    settings: SettingsPatch | None = None
    backend_ids: dict[str, str] = field(default_factory=dict)
    """Old custom backend id -> sidecar provider id."""
    model_ids: dict[str, str] = field(default_factory=dict)
    """Old model name -> sidecar model id, for the models of the old `models` table."""
    model_providers: dict[str, str] = field(default_factory=dict)
    """Old model name -> sidecar provider id."""
    known_models: set[str] = field(default_factory=set)
    skipped_backends: int = 0

    def counts(self) -> dict[str, int]:
        keys = sum(1 for p in self.providers if p.api_key is not None)
        return {
            "providers": sum(1 for p in self.providers if p.kind is not None),
            "apiKeys": keys,
            "models": len(self.models),
            "preferences": len(self.settings.preferences or {}) if self.settings else 0,
            "settings": len(self.settings.model_fields_set - {"preferences"})
            if self.settings
            else 0,
        }

    def provider_of(self, model: str | None) -> str | None:
        """The sidecar provider that serves an old model name, as well as it can tell."""
        if not model:
            return None
        if model in self.model_providers:
            return self.model_providers[model]
        builtin = catalog().by_id().get(model)
        if builtin is not None:
            return builtin.provider
        lowered = model.lower()
        return next((p for p, starts in _PREFIXES.items() if lowered.startswith(starts)), None)


async def config(engine: Engine, data: read.LegacyData) -> Config:
    """The configuration requests an import makes: only for what the sidecar lacks."""
    out = Config()
    providers = {p.id: p for p in await engine.providers.list()}
    used: set[str] = set()
    for backend in data.backends:
        url = openai_base_url(backend.url)
        if url is None:
            out.skipped_backends += 1
            continue
        provider_id = _backend_id(backend.name or backend.id, url, providers, used)
        out.backend_ids[backend.id] = provider_id
        key = backend.api_key or None
        current = providers.get(provider_id)
        if current is None:
            fields: dict[str, Any] = {"api_key": key} if key else {}
            out.providers.append(
                ProvidersConfigureParams(
                    id=provider_id,
                    kind="openai-compatible",
                    name=(backend.name or provider_id)[:200],
                    base_url=url,
                    **fields,
                )
            )
        elif key and current.key_source != "stored":
            out.providers.append(ProvidersConfigureParams(id=provider_id, api_key=key))
    for item in data.api_keys:
        current = providers.get(item.provider)
        if item.provider in BUILTIN_PROVIDERS and item.api_key and current is not None:
            if current.key_source != "stored":
                out.providers.append(
                    ProvidersConfigureParams(id=item.provider, api_key=item.api_key)
                )

    models = {m.id: m for m in await engine.models.list()}
    out.known_models = set(models)
    for legacy in data.models:
        if legacy.custom_backend_id or legacy.provider == "custom":
            provider_id = out.backend_ids.get(legacy.custom_backend_id or "")
        else:
            provider_id = legacy.provider if legacy.provider in BUILTIN_PROVIDERS else None
        if provider_id is None:
            continue
        model_id = legacy.model_id
        taken_by = models.get(model_id)
        if model_id in out.model_ids.values() or (taken_by and taken_by.provider != provider_id):
            model_id = f"{provider_id}/{legacy.model_id}"
        out.model_ids.setdefault(legacy.model_id, model_id)
        out.model_providers.setdefault(legacy.model_id, provider_id)
        out.known_models.add(model_id)
        enabled = legacy.enabled is None or bool(legacy.enabled)
        current_model = models.get(model_id)
        if current_model is None:
            out.models.append(
                ModelInput(
                    id=model_id[:200],
                    provider=provider_id,
                    provider_model=legacy.model_id[:200],
                    display_name=(legacy.name or legacy.model_id)[:200],
                    enabled=enabled,
                    context_window=legacy.context_window
                    if isinstance(legacy.context_window, int) and legacy.context_window > 0
                    else None,
                    capabilities=_capabilities(legacy.capabilities),
                )
            )
        elif current_model.source == "builtin" and current_model.enabled != enabled:
            out.models.append(
                ModelInput.model_validate(
                    current_model.model_dump(by_alias=False, exclude={"source"})
                    | {"enabled": enabled}
                )
            )
    out.settings = await _settings(engine, data, out)
    return out


async def apply_config(engine: Engine, planned: Config) -> None:
    """Make the requests, through the same services `providers.configure`, `models.upsert`
    and `settings.update` use (keys end up in the provider key storage)."""
    for params in planned.providers:
        await engine.providers.configure(params)
    for model in planned.models:
        await engine.models.upsert(model)
    if planned.settings is not None:
        await engine.settings.update(planned.settings)


async def _settings(engine: Engine, data: read.LegacyData, planned: Config) -> SettingsPatch | None:
    current = await engine.settings.get()
    values = {p.key: read.json_or_text(p.value) for p in data.preferences if p.key}
    patch: dict[str, Any] = {}
    preferences = {k: v for k, v in values.items() if k not in current.preferences}
    if preferences:
        patch["preferences"] = preferences
    last = next((values[k] for k in LAST_MODEL_KEYS if isinstance(values.get(k), str)), None)
    if last and current.last_model_id is None:
        patch["last_model_id"] = planned.model_ids.get(last, last)
    default = next((p.content for p in data.system_prompts if p.is_default and p.content), None)
    if default and default != current.default_system_prompt:
        if current.default_system_prompt == DEFAULT_SYSTEM_PROMPT:
            patch["default_system_prompt"] = default
    return SettingsPatch(**patch) if patch else None


def _capabilities(text: str | None) -> dict[str, bool] | None:
    value = read.json_or_text(text)
    if not isinstance(value, dict):
        return None
    return {
        name: any(value.get(k) is True for k in synonyms)
        for name, synonyms in _CAPABILITIES.items()
    }


def openai_base_url(url: str) -> str | None:
    """The OpenAI-compatible base URL (ending before /chat/completions) of a backend URL
    the old app stored; None when it is not an http(s) URL."""
    url = url.strip()
    if not url:
        return None
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in url:
        return None
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/api/chat", "/api/generate", "/api"):
        if path.endswith(suffix):
            path = path[: -len(suffix)] + ("/v1" if suffix.startswith("/api") else "")
            break
    if not path:
        path = "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _backend_id(name: str, url: str, providers: dict[str, Any], used: set[str]) -> str:
    """A provider id made from the backend's name: the first one that is free, or that an
    earlier import gave it (a provider with that id and this URL)."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")[:90] or "custom"
    if slug in BUILTIN_PROVIDERS:
        slug = f"{slug}-custom"
    for n in itertools.count(1):
        candidate = slug if n == 1 else f"{slug}-{n}"
        current = providers.get(candidate)
        if candidate not in used and (current is None or current.base_url == url):
            used.add(candidate)
            return candidate
    raise AssertionError("unreachable")


# -- history --------------------------------------------------------------------------


@dataclass(slots=True)
class History:
    system_prompts: list[SystemPrompt] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    branch_names: list[tuple[str, str, str]] = field(default_factory=list)
    usage: list[UsageRecord] = field(default_factory=list)
    files: list[tuple[Path, str]] = field(default_factory=list)
    """(the old app's file, the sidecar attachment id it is stored under)."""
    attachments: int = 0
    missing_files: int = 0
    merged_branches: int = 0
    skipped_messages: int = 0


def history(
    data: read.LegacyData,
    *,
    files_dir: Path,
    provider_of: Callable[[str | None], str | None],
    known_models: set[str],
) -> History:
    """Every old row as the sidecar object it becomes. `files_dir` is where relative
    attachment paths start (the old app's data folder)."""
    out = History()
    prompt_ids: dict[str, str] = {}
    for p in data.system_prompts:
        ms = p.created_at or 0
        prompt = SystemPrompt(
            id=tree.stable_id("system_prompt", p.id, ms, p.row_order),
            name=(p.name or "Imported prompt")[:200],
            content=p.content,
            created_at=read.iso(ms),
            updated_at=read.iso(max(ms, p.updated_at or 0)),
        )
        prompt_ids[p.id] = prompt.id
        out.system_prompts.append(prompt)

    branches = _group(data.branches, lambda b: b.conversation_id)
    messages = _group(data.messages, lambda m: m.conversation_id)
    attachments = _group(data.attachments, lambda a: a.message_id)
    usage_rows = _group(data.usage, lambda u: u.message_id or "")
    message_ids: dict[str, tuple[str, str]] = {}  # old message id -> (conversation, message)
    for c in data.conversations:
        t = tree.build(c, branches.get(c.id, []), messages.get(c.id, []))
        ms = c.created_at or 0
        conversation_id = tree.stable_id("conversation", c.id, ms, c.row_order)
        out.merged_branches += t.merged
        out.skipped_messages += t.skipped
        last_ms = max([ms, c.updated_at or 0, *(n.ms for n in t.nodes)])
        title = c.title if c.title and c.title.strip() != PLACEHOLDER_TITLE else None
        out.conversations.append(
            Conversation(
                id=conversation_id,
                title=title,
                title_source="generated" if title else None,
                model_id=c.model if c.model in known_models else None,
                system_prompt=t.system_prompt,
                settings=ConversationSettings(
                    system_prompt_id=prompt_ids.get(c.system_prompt_id or "")
                ),
                active_leaf_id=t.active_leaf_id,
                created_at=read.iso(ms),
                updated_at=read.iso(last_ms),
            )
        )
        for old_id, new_id in t.ids.items():
            message_ids[old_id] = (conversation_id, new_id)
        for node in t.nodes:
            m = node.message
            rows = usage_rows.get(m.id, [])
            model = m.model if m.role == "assistant" else None
            out.messages.append(
                Message(
                    id=node.id,
                    conversation_id=conversation_id,
                    parent_id=node.parent_id,
                    role=m.role,  # type: ignore[arg-type]
                    content=m.content,
                    status="complete",
                    model_id=model,
                    provider=provider_of(model),
                    attachments=[
                        _attachment(a, node.ms, files_dir, out) for a in attachments.get(m.id, [])
                    ],
                    usage=_sum_usage(rows) if rows and m.role == "assistant" else None,
                    created_at=read.iso(node.ms),
                    updated_at=read.iso(node.ms),
                )
            )
        out.branch_names += [(conversation_id, leaf, name[:200]) for leaf, name in t.names.items()]

    for u in data.usage:
        conversation_id, message_id = message_ids.get(u.message_id or "", (None, None))
        ms = u.created_at or 0
        out.usage.append(
            UsageRecord(
                id=tree.stable_id("usage", u.id, ms, u.row_order),
                conversation_id=conversation_id,
                message_id=message_id,
                model_id=u.model or "unknown",
                provider=provider_of(u.model) or "unknown",
                kind="chat",
                input_tokens=u.prompt_tokens or 0,
                output_tokens=u.completion_tokens or 0,
                cost_usd=u.estimated_cost,
                created_at=read.iso(ms),
            )
        )
    return out


def _group(rows: list[Any], key: Callable[[Any], str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for row in rows:
        out.setdefault(key(row), []).append(row)
    return out


def _sum_usage(rows: list[read.Usage]) -> Usage:
    costs = [u.estimated_cost for u in rows if u.estimated_cost is not None]
    return Usage(
        input_tokens=sum(u.prompt_tokens or 0 for u in rows),
        output_tokens=sum(u.completion_tokens or 0 for u in rows),
        cost_usd=sum(costs) if costs else None,
    )


def _attachment(a: read.Attachment, ms: int, files_dir: Path, out: History) -> Attachment:
    """The sidecar attachment of an old one: text read inline, other bytes queued for copying."""
    name = a.name or Path(a.file_path or "attachment").name
    mime = a.mime_type or mimetypes.guess_type(name)[0] or _MIME_BY_TYPE.get(a.type or "", "")
    mime = mime or "application/octet-stream"
    attachment_id = tree.stable_id("attachment", a.id, ms, a.row_order)
    path = Path(a.file_path) if a.file_path else None
    if path is not None and not path.is_absolute():
        path = files_dir / path
    out.attachments += 1
    size, text = a.size or 0, None
    if path is None or not path.is_file():
        out.missing_files += 1
    elif is_text(mime) and not is_image(mime):
        raw = path.read_bytes()
        try:
            text, size = raw.decode("utf-8"), len(raw)
        except UnicodeDecodeError:
            out.files.append((path, attachment_id))
    else:
        size = path.stat().st_size
        out.files.append((path, attachment_id))
    return Attachment(id=attachment_id, name=name, mime_type=mime, size=size, text=text)


_MIME_BY_TYPE = {"text": "text/plain", "json": "application/json", "image": "image/png"}
