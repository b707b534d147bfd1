"""What an import adds: the old rows as sidecar objects, and the configuration it lacks.

Two parts, written differently (see `command.py`):
- the history (system prompts, conversations, messages, branch names, usage):
  rows with stable ids, stored by `TransferRepo.add_missing` in one transaction;
- the configuration (custom backends and keys, models, settings): requests to
  the engine's own services, made only for what the sidecar does not have yet,
  so keys go to the key store and nothing set in the sidecar is overwritten.

Every row the import leaves is counted in `Skips` with the reason the report
prints: nothing is lost without a word.
"""

from __future__ import annotations

import itertools
import mimetypes
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from sidecar.legacy import read, tree
from sidecar.protocol.methods import ProvidersConfigureParams
from sidecar.protocol.objects import (
    Attachment,
    Conversation,
    ConversationSettings,
    Message,
    ModelInput,
    SettingsPatch,
    SystemPrompt,
    ToolCall,
    Usage,
    UsageRecord,
)
from sidecar.registry import (
    BUILTIN_PROVIDERS,
    catalog,
    not_chat_reason,
    resolve_alias,
    retired_model,
)

if TYPE_CHECKING:
    from sidecar.engine import Engine

PLACEHOLDER_TITLE = "New Conversation"
LAST_MODEL_KEY = "last_used_model"
OLLAMA_URL = "http://localhost:11434"
_NOT_CHAT_PROVIDERS = {"claude_cli": "runs a local CLI (claude_cli), which the sidecar does not"}
_MIME_BY_TYPE = {"image": "image/png", "audio": "audio/webm"}


class Skips(Counter[tuple[str, str]]):
    """(kind, why) -> how many rows of that kind the import leaves for that reason."""

    def add(self, kind: str, why: str, count: int = 1) -> None:
        if count:
            self[(kind, why)] += count

    def by_kind(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (kind, why), count in sorted(self.items()):
            out.setdefault(kind, {})[why] = count
        return out


# -- configuration ------------------------------------------------------------------


@dataclass(slots=True)
class Config:
    providers: list[ProvidersConfigureParams] = field(default_factory=list)
    models: list[ModelInput] = field(default_factory=list)
    settings: SettingsPatch | None = None
    backend_providers: dict[str, str] = field(default_factory=dict)
    """Old custom backend id, and name -> sidecar provider id."""
    model_ids: dict[str, str] = field(default_factory=dict)
    """An old model id or backend name -> the sidecar model id it is now."""
    model_providers: dict[str, str] = field(default_factory=dict)
    """An old model id or backend name -> the sidecar provider that serves it."""
    known_models: set[str] = field(default_factory=set)

    def counts(self) -> dict[str, int]:
        return {
            "providers": sum(1 for p in self.providers if p.kind is not None),
            "apiKeys": sum(1 for p in self.providers if p.api_key is not None),
            "models": len(self.models),
            "preferences": len(self.settings.preferences or {}) if self.settings else 0,
        }

    def model_of(self, old: str | None) -> str | None:
        """The sidecar model id of an old model id (or a custom backend's name)."""
        if not old:
            return None
        if old in self.model_ids:
            return self.model_ids[old]
        return resolve_alias(old) or old

    def provider_of(self, old: str | None) -> str | None:
        """The sidecar provider that serves an old model id, as well as it can tell."""
        if not old:
            return None
        if old in self.model_providers:
            return self.model_providers[old]
        builtin = catalog().by_id().get(self.model_of(old) or "") or retired_model(old)
        return builtin.provider if builtin is not None else None


async def config(engine: Engine, data: read.LegacyData, skips: Skips) -> Config:
    """The configuration requests an import makes: only for what the sidecar lacks."""
    out = Config()
    providers = {p.id: p for p in await engine.providers.list()}
    planned: dict[str, ProvidersConfigureParams] = {}

    def provide(provider_id: str, key: str | None, **new: Any) -> None:
        """Add the provider if it is new; give it the key if it has none of its own."""
        current = providers.get(provider_id)
        if current is None and provider_id not in planned and new:
            planned[provider_id] = ProvidersConfigureParams(id=provider_id, **new)
            out.providers.append(planned[provider_id])
        if key and (current is None or current.key_source != "stored"):
            target = planned.get(provider_id)
            if target is None:
                target = planned[provider_id] = ProvidersConfigureParams(id=provider_id)
                out.providers.append(target)
            target.api_key = key

    used: set[str] = set()
    for backend in sorted(data.backends, key=lambda b: (b.created_at or 0, b.row_order)):
        url = openai_base_url(backend.url)
        if url is None:
            skips.add("providers", "a custom backend without an http(s) URL")
            continue
        provider_id = _backend_id(backend.name or backend.id, url, providers, used)
        out.backend_providers[backend.id] = provider_id
        if backend.name:
            out.backend_providers[backend.name] = provider_id
            out.model_providers[backend.name] = provider_id
        name = (backend.name or provider_id)[:200]
        provide(provider_id, backend.api_key, kind="openai-compatible", name=name, base_url=url)
    for item in data.api_keys:
        if item.provider in BUILTIN_PROVIDERS and item.key:
            provide(item.provider, item.key)
        elif item.key:
            skips.add("apiKeys", f"a key for {item.provider}, which has no provider here")

    models = {m.id: m for m in await engine.models.list()}
    out.known_models = set(models)
    for legacy in data.models:
        provider_id = _model_provider(legacy, data, out, skips, provide)
        if provider_id is None:
            continue
        builtin = catalog().by_id().get(resolve_alias(legacy.model_name) or "")
        chats = builtin is not None and builtin.kind == "chat"
        if not chats and (why := not_chat_reason(legacy.model_name)):
            skips.add("models", why)
            continue
        if builtin is None and retired_model(legacy.model_name) is not None:
            skips.add("models", "a retired model (its id now names the model that replaced it)")
            continue
        if builtin is not None and builtin.provider == provider_id:
            model_id = builtin.id
        else:
            model_id = legacy.model_name
            taken = models.get(model_id)
            if model_id in out.model_ids.values() or (taken and taken.provider != provider_id):
                model_id = f"{provider_id}/{legacy.model_name}"
        out.model_ids.setdefault(legacy.model_name, model_id)
        out.model_providers.setdefault(legacy.model_name, provider_id)
        out.known_models.add(model_id)
        enabled = legacy.enabled is None or bool(legacy.enabled)
        current = models.get(model_id)
        if current is None:
            out.models.append(
                ModelInput(
                    id=model_id[:200],
                    provider=provider_id,
                    provider_model=legacy.model_name[:200],
                    display_name=legacy.model_name[:200],
                    enabled=enabled,
                )
            )
        elif current.source == "builtin" and current.enabled != enabled:
            fields = current.model_dump(by_alias=False, exclude={"source"})
            out.models.append(ModelInput.model_validate(fields | {"enabled": enabled}))
    for backend in data.backends:  # usage rows name the backend: its one model, if so
        served = [
            out.model_ids[m.model_name]
            for m in data.models
            if m.custom_backend_id == backend.id and m.model_name in out.model_ids
        ]
        if backend.name and len(served) == 1:
            out.model_ids.setdefault(backend.name, served[0])
    out.settings = await _settings(engine, data, out)
    return out


def _model_provider(
    legacy: read.Model,
    data: read.LegacyData,
    out: Config,
    skips: Skips,
    provide: Callable[..., None],
) -> str | None:
    """The sidecar provider of an old `models` row; None (and a skip) when it has none."""
    kind = legacy.provider
    if kind in BUILTIN_PROVIDERS:
        return kind
    if kind == "custom":
        by_url = {openai_base_url(b.url): b.id for b in data.backends}
        backend = legacy.custom_backend_id or by_url.get(openai_base_url(legacy.url or ""))
        provider_id = out.backend_providers.get(backend or "")
        if provider_id is None:
            skips.add("models", "a custom model whose backend is gone")
        return provider_id
    if kind == "ollama":  # the old app's own Ollama models: Ollama's native API
        url = ollama_base_url(legacy.url or "") or OLLAMA_URL
        provide("ollama", None, kind="ollama", name="Ollama", base_url=url)
        return "ollama"
    skips.add("models", _NOT_CHAT_PROVIDERS.get(kind, f"provider {kind!r} is not known here"))
    return None


async def apply_config(engine: Engine, planned: Config) -> None:
    """Make the requests, through the same services `providers.configure`, `models.upsert`
    and `settings.update` use (keys end up in the key store)."""
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
    last = values.get(LAST_MODEL_KEY)
    if isinstance(last, str) and last and current.last_model_id is None:
        patch["last_model_id"] = planned.model_of(last)
    others = {k: v for k, v in values.items() if k != LAST_MODEL_KEY}
    preferences = {k: v for k, v in others.items() if k not in current.preferences}
    if preferences:
        patch["preferences"] = preferences
    return SettingsPatch(**patch) if patch else None


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


def ollama_base_url(url: str) -> str | None:
    """The server root of an Ollama URL the old app stored (its native `/api/...` or its
    OpenAI-compatible `/v1/...` path), for the `ollama` kind; None when not http(s)."""
    base = openai_base_url(url)
    return base.removesuffix("/v1") if base is not None else None


def _backend_id(name: str, url: str, providers: dict[str, Any], used: set[str]) -> str:
    """A provider id made from the backend's name: the first one that is free, or that an
    earlier import gave it (a provider with that id and this URL)."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")[:90] or "custom"
    if slug in BUILTIN_PROVIDERS or slug == "ollama":
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

    def leave_out(self, gone: set[str]) -> None:
        """Drop what hangs off the conversations and messages in `gone` (deleted in the
        sidecar since an earlier import), so the import does not bring them back."""
        dropped = [m for m in self.messages if m.id in gone or m.conversation_id in gone]
        attachment_ids = {a.id for m in dropped for a in m.attachments}
        self.conversations = [c for c in self.conversations if c.id not in gone]
        self.messages = [
            m for m in self.messages if m.id not in gone and m.conversation_id not in gone
        ]
        self.usage = [u for u in self.usage if not {u.conversation_id, u.message_id} & gone]
        self.branch_names = [n for n in self.branch_names if not {n[0], n[1]} & gone]
        self.files = [f for f in self.files if f[1] not in attachment_ids]


def history(data: read.LegacyData, *, files_dir: Path, planned: Config, skips: Skips) -> History:
    """Every old row as the sidecar object it becomes. `files_dir` is the old app's
    `attachments/` folder."""
    out = History()
    for p in data.system_prompts:
        ms = p.created_at or 0
        out.system_prompts.append(
            SystemPrompt(
                id=tree.stable_id("system_prompt", p.id, ms, p.row_order),
                name=(p.name or "Untitled")[:200],
                content=p.content,
                created_at=read.iso(ms),
                updated_at=read.iso(max(ms, p.updated_at or 0)),
            )
        )

    messages = _group(data.messages, lambda m: m.conversation_id)
    branches = _group(data.branches, lambda b: b.conversation_id)
    message_conversation = {m.id: m.conversation_id for m in data.messages}
    rows = _group(data.tree, lambda r: message_conversation.get(r.message_id, ""))
    attachments = _group(data.attachments, lambda a: a.message_id)
    usage_rows = _group(data.usage, lambda u: u.message_id or "")
    tools = _group(data.tool_executions, lambda t: t.message_id)
    thinking = _group(data.thinking, lambda t: t.message_id)
    placed: dict[str, tuple[str, str]] = {}  # old message id -> (conversation, message)
    for c in data.conversations:
        t = tree.build(c, messages.get(c.id, []), branches.get(c.id, []), rows.get(c.id, []))
        ms = c.created_at or 0
        conversation_id = tree.stable_id("conversation", c.id, ms, c.row_order)
        skips.add("messages", "a role other than user or assistant", t.skipped)
        for name, older in t.same_as:
            skips.add("branches", f"{name!r} shows the same messages as {older!r}")
        for name in t.empty:
            skips.add("branches", f"{name!r} holds no message")
        title = c.name.strip() if c.name and c.name.strip() != PLACEHOLDER_TITLE else None
        used = [
            planned.model_of(u.model_name)
            for n in t.nodes
            for u in usage_rows.get(n.message.id, [])
        ]
        last_model = next((m for m in reversed(used) if m in planned.known_models), None)
        out.conversations.append(
            Conversation(
                id=conversation_id,
                title=title,
                title_source="generated" if title else None,
                model_id=last_model,
                system_prompt=None,
                settings=ConversationSettings(),
                active_leaf_id=t.active_leaf_id,
                created_at=read.iso(ms),
                updated_at=read.iso(max([ms, *(n.ms for n in t.nodes)])),
            )
        )
        for node in t.nodes:
            m = node.message
            placed[m.id] = (conversation_id, node.id)
            usage = usage_rows.get(m.id, [])
            assistant = m.role == "assistant"
            model = planned.model_of(usage[0].model_name) if usage and assistant else None
            out.messages.append(
                Message(
                    id=node.id,
                    conversation_id=conversation_id,
                    parent_id=node.parent_id,
                    role=m.role,  # type: ignore[arg-type]
                    content=m.content,
                    status="complete",
                    model_id=model,
                    provider=planned.provider_of(usage[0].model_name) if model else None,
                    thinking=_thinking(thinking.get(m.id, [])) if assistant else None,
                    tool_calls=[_tool_call(x, node.ms) for x in tools.get(m.id, [])],
                    attachments=[
                        _attachment(a, node.ms, files_dir, out, skips)
                        for a in attachments.get(m.id, [])
                    ],
                    usage=_sum_usage(usage) if usage and assistant else None,
                    created_at=read.iso(node.ms),
                    updated_at=read.iso(node.ms),
                )
            )
        out.branch_names += [(conversation_id, end, name[:200]) for end, name in t.names.items()]

    for u in data.usage:
        if u.message_id not in placed:
            skips.add("usage", "usage of a message that is not there")
            continue
        conversation_id, message_id = placed[u.message_id]
        ms = u.created_at or 0
        out.usage.append(
            UsageRecord(
                id=tree.stable_id("usage", u.id, ms, u.row_order),
                conversation_id=conversation_id,
                message_id=message_id,
                model_id=planned.model_of(u.model_name) or "unknown",
                provider=planned.provider_of(u.model_name) or "unknown",
                kind="chat",
                input_tokens=u.prompt_tokens or 0,
                output_tokens=u.completion_tokens or 0,
                cost_usd=u.estimated_cost,
                created_at=read.iso(ms),
            )
        )
    _count_strays(data, placed, skips)
    return out


def _count_strays(data: read.LegacyData, placed: dict[str, Any], skips: Skips) -> None:
    """Rows that hang off no imported message: said, not silently dropped."""
    conversations = {c.id for c in data.conversations}
    skips.add(
        "messages",
        "in no conversation",
        sum(1 for m in data.messages if m.conversation_id not in conversations),
    )
    for kind, rows in (
        ("attachments", data.attachments),
        ("toolExecutions", data.tool_executions),
        ("thinking", data.thinking),
    ):
        skips.add(
            kind,
            "of a message that is not there",
            sum(1 for r in rows if r.message_id not in placed),
        )


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


def _thinking(rows: list[read.Thinking]) -> str | None:
    ordered = sorted(rows, key=lambda r: (r.iteration_number or 0, r.row_order))
    text = "\n\n".join(r.content for r in ordered if r.content)
    return text or None


def _tool_call(x: read.ToolExecution, ms: int) -> ToolCall:
    arguments = read.json_or_text(x.parameters)
    return ToolCall(
        id=tree.stable_id("tool_call", x.id, ms, x.row_order),
        name=(x.tool_name or "tool")[:200],
        arguments=arguments if isinstance(arguments, dict) else {"input": arguments},
        status="completed" if x.success else "failed",
        result=read.json_or_text(x.result),
        error=x.error or None,
        step=max(x.iteration_number or 0, 0),
    )


def _attachment(
    a: read.Attachment, ms: int, files_dir: Path, out: History, skips: Skips
) -> Attachment:
    """The sidecar attachment of an old one: `text/*` is inline text, anything else is a
    file in the old app's attachments folder, queued for copying."""
    kind = (a.attachment_type or "").strip()
    name = (a.name or a.data or "attachment")[:255]
    attachment_id = tree.stable_id("attachment", a.id, ms, a.row_order)
    transcript = a.transcript or None
    if kind.startswith("text/"):
        text = a.data or ""
        return Attachment(
            id=attachment_id,
            name=name,
            mime_type=kind,
            size=len(text.encode()),
            text=text,
            transcript=transcript,
        )
    mime = a.mime_type or mimetypes.guess_type(name)[0] or _MIME_BY_TYPE.get(kind, "")
    mime = mime or "application/octet-stream"
    path = files_dir / (a.data or "")
    size = 0
    if a.data and Path(a.data).name == a.data and path.is_file():
        size = path.stat().st_size
        out.files.append((path, attachment_id))
    else:
        skips.add("attachmentFiles", "the file is not in the attachments folder")
    return Attachment(id=attachment_id, name=name, mime_type=mime, size=size, transcript=transcript)
