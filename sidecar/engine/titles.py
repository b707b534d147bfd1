"""Conversation titles, made by a cheap model from the first exchange.

After the first complete reply of an untitled conversation the turn runner calls
`after_reply`, which only schedules a background task: a title never delays a
chat's events. The task asks `settings.titleModelId`, else the cheapest enabled
priced model of the chat's provider, one without reasoning if there is one (else
the chat's model), for a title of at
most five words, records that call's usage (kind "title") and sets the title
(titleSource "generated"), re-checking under the engine lock that nobody titled
the conversation meanwhile. When the call fails or says nothing, the title is the
first user message cut short. `generate` does the same on demand.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

from sidecar.engine.usage import usage_record
from sidecar.protocol.errors import Reason, RpcError
from sidecar.protocol.events import ConversationUpdated, UsageRecorded
from sidecar.protocol.objects import UsageRecord
from sidecar.providers.types import ChatMessage, ChatRequest, ProviderError

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.engine.http_client import SharedHttp
    from sidecar.protocol.objects import Conversation, Message, Model
    from sidecar.providers.types import UsagePart

log = logging.getLogger("sidecar.titles")

SYSTEM_PROMPT = (
    "You name chat conversations. Reply with a short title for the conversation you are "
    "given: at most 5 words, in the conversation's language, without quotes, without "
    "punctuation at the end, and nothing else."
)
INPUT_CHARS = 1200  # per side of the exchange: about 300 tokens
MAX_OUTPUT_TOKENS = 20
MAX_WORDS = 5
MAX_CHARS = 50

_QUOTES = "\"'`“”„‘’‚«»‹›「」『』"
_EDGE = _QUOTES + "*_~#>-•·:;,.!?…–— \t"
_TRAILING = ".,;:!?…-–—·•" + _QUOTES + "*_~ \t"
_LABEL = re.compile(r"^(?:title|titre|título|titolo|titel)\s*[:：]\s*", re.IGNORECASE)


class Titles:
    def __init__(self, engine: Engine, http: SharedHttp) -> None:
        self._e = engine
        self._http = http
        self._running: dict[str, asyncio.Task[None]] = {}  # conversation id -> automatic title

    # -- automatic ----------------------------------------------------------------

    def after_reply(self, message: Message) -> None:
        """A reply finished (its terminal events are out). Synchronous and never blocks:
        at most it schedules the title task."""
        if message.role != "assistant" or message.status != "complete":
            return
        conversation_id = message.conversation_id
        if conversation_id in self._running or conversation_id in self._e.conversations.deleting:
            return
        task = asyncio.create_task(self._auto(message), name=f"title-{conversation_id}")
        self._running[conversation_id] = task
        task.add_done_callback(lambda _: self._running.pop(conversation_id, None))

    async def stop(self, conversation_id: str) -> None:
        """The conversation is being deleted: its automatic title never lands."""
        task = self._running.get(conversation_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        """Shutdown: automatic titles still being made never land."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _auto(self, reply: Message) -> None:
        e = self._e
        conversation_id = reply.conversation_id
        try:
            conversation = await e.repos.conversations.get(conversation_id)
            if conversation is None or conversation.title is not None:
                return
            if await e.repos.messages.has_complete_reply(conversation_id, other_than=reply.id):
                return  # not the first reply: an untitled conversation stays so on purpose
            parent = await e.repos.messages.get(reply.parent_id) if reply.parent_id else None
            user = parent if parent is not None and parent.role == "user" else None
            title, record = await self._make(reply.model_id or conversation.model_id, user, reply)
            async with e.lock:
                if conversation_id in e.conversations.deleting:
                    return
                await self._record(record)
                current = await e.repos.conversations.get(conversation_id)
                if title and current is not None and current.title is None:
                    await self._set(conversation_id, title)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not title conversation %s", conversation_id)

    # -- on demand ------------------------------------------------------------------

    async def generate(self, conversation_id: str) -> str:
        """Title the conversation now (titles.generate); see the method's summary."""
        e = self._e
        async with e.lock:
            conversation = await e.conversations.require(conversation_id)
            _refuse_user_title(conversation)
            path = e.turns.overlay(await e.repos.messages.active_path(conversation_id))
            settings = await e.repos.library.get_settings()
        user = next((m for m in path if m.role == "user"), None)
        after = path[path.index(user) + 1 :] if user is not None else path
        reply = next((m for m in after if m.role == "assistant" and m.content.strip()), None)
        if user is None and reply is None:
            raise RpcError(
                Reason.CONFLICT,
                "the conversation has no message to make a title from yet",
                conversationId=conversation_id,
            )
        model_id = (
            (reply.model_id if reply else None)
            or conversation.model_id
            or settings.default_model_id
            or settings.last_model_id
        )
        title, record = await self._make(model_id, user, reply)
        async with e.lock:
            current = await e.conversations.require(conversation_id)  # deleted meanwhile?
            await self._record(record)
            if current.title_source == "user" or not title:
                return current.title or ""  # the user titled it meanwhile: theirs stays
            await self._set(conversation_id, title)
            return title

    # -- the call -------------------------------------------------------------------

    async def _make(
        self, model_id: str | None, user: Message | None, reply: Message | None
    ) -> tuple[str | None, UsageRecord | None]:
        """(title, usage record of the call): a cleaned model title, else the fallback."""
        title = record = None
        model = await self._model(model_id)
        if model is not None:
            try:
                text, usage = await self._call(model, exchange(user, reply))
                about = user or reply
                record = usage_record(
                    model, usage, "title", about.conversation_id if about else None, None
                )
                title = clean_title(text)
            except RpcError as exc:  # the provider is not configured
                log.info("no generated title: %s", exc.message)
            except ProviderError as exc:
                log.info("title call to %s failed: %s %s", model.id, exc.code, exc.message)
            except Exception:
                log.exception("title call to %s failed", model.id)
        if not title:
            title = fallback_title(user.content if user is not None else "")
        return title or None, record

    async def _call(self, model: Model, text: str) -> tuple[str, UsagePart]:
        from sidecar.providers import create_provider  # start-up time: it imports httpx

        config = await self._e.providers.config(model.provider)
        request = ChatRequest(
            model=model.provider_model,
            system=SYSTEM_PROMPT,
            messages=[ChatMessage(role="user", content=text)],
            max_output_tokens=MAX_OUTPUT_TOKENS,
            profile=model.profile,
        )
        return await create_provider(config, self._http.get(), model.profile.api).complete(request)

    async def _model(self, chat_model_id: str | None) -> Model | None:
        """settings.titleModelId when usable, else the cheapest (input + output price)
        enabled priced model of the chat model's provider, preferring models without
        reasoning, else the chat's model (None: no model at all)."""
        e = self._e
        settings = await e.repos.library.get_settings()
        if settings.title_model_id:
            chosen = await e.models.get(settings.title_model_id)
            if chosen is not None and chosen.enabled and chosen.kind == "chat":
                return chosen
            log.info("title model %s is unknown or disabled", settings.title_model_id)
        chat = await e.models.get(chat_model_id) if chat_model_id else None
        if chat is None:
            return None
        priced = [
            (m, m.pricing.input + m.pricing.output)
            for m in await e.models.list(chat.provider)
            if m.enabled
            and m.kind == "chat"
            and m.pricing is not None
            and m.pricing.input is not None
            and m.pricing.output is not None
        ]
        if not priced:
            return chat
        # A reasoning model may spend the few output tokens thinking and say nothing:
        # the cheapest model without reasoning first, then the cheapest of the rest.
        best = min(
            priced,
            key=lambda mp: (mp[0].capabilities.reasoning, mp[1], mp[0].id != chat.id, mp[0].id),
        )
        return best[0]

    # -- writing (under the engine lock) ----------------------------------------------

    async def _record(self, record: UsageRecord | None) -> None:
        if record is not None:
            await self._e.repos.usage.add(record)
            self._e.bus.publish(UsageRecorded(usage=record))

    async def _set(self, conversation_id: str, title: str) -> None:
        conversation = await self._e.repos.conversations.update(
            conversation_id, title=title, title_source="generated"
        )
        if conversation is not None:
            self._e.bus.publish(ConversationUpdated(conversation=conversation))


def _refuse_user_title(conversation: Conversation) -> None:
    if conversation.title_source == "user":
        raise RpcError(
            Reason.CONFLICT,
            "the user set this title: clear it (conversations.update with title null) "
            "to have one generated",
            conversationId=conversation.id,
        )


# -- text ---------------------------------------------------------------------------------


def _cap(text: str, limit: int = INPUT_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def exchange(user: Message | None, reply: Message | None) -> str:
    """What the title model reads: the first exchange, each side cut to INPUT_CHARS."""
    parts = []
    if user is not None:
        parts.append(f"User: {_cap(user.content)}")
    if reply is not None:
        parts.append(f"Assistant: {_cap(reply.content)}")
    return "\n\n".join(parts)


def clean_title(text: str) -> str:
    """A model's answer as a title: its first line without quotes, Markdown, a "Title:"
    label or end punctuation; at most MAX_WORDS words and MAX_CHARS characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip(" \t*#_`\"'")), "")
    line = line.strip(_EDGE)
    line = _LABEL.sub("", line)
    line = line.replace("**", "").replace("__", "").replace("`", "")
    line = line.strip(_EDGE)
    words = line.split()[:MAX_WORDS]
    title = _fit(" ".join(words), MAX_CHARS)
    return title.rstrip(_TRAILING).lstrip(_EDGE)


def fallback_title(text: str) -> str:
    """The first user message cut short: at most MAX_CHARS characters, on a word
    boundary, with "…" when something was cut."""
    text = " ".join(text.split())
    if len(text) <= MAX_CHARS:
        return text
    head = _fit(text, MAX_CHARS - 1).rstrip(_TRAILING)
    return head + "…" if head else ""


def _fit(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, at the last space if there is one."""
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else text[:limit]).rstrip()
