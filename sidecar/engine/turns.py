"""The turn runner: one assistant reply from `chat.send` to its one terminal event.

A turn is a task independent of any connection: a client that drops never
stops it; only `chat.cancel` (or shutdown) does. Provider parts become events
on the bus as they arrive (the hot path: no awaits, no I/O), while the text is
kept in memory and written to the store in batches by one flusher every
FLUSH_INTERVAL, so a crash loses at most that window. Snapshots read the live
text of running turns from here, so they always agree with their `seq`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import orjson

from sidecar.engine.attachments import load_images, prepare
from sidecar.engine.prompt import build_request, step_messages
from sidecar.engine.tools import Enabled
from sidecar.engine.usage import usage_record
from sidecar.ids import new_id, now_iso
from sidecar.protocol.errors import InvalidParams, Reason, RpcError, not_found
from sidecar.protocol.events import (
    ConversationUpdated,
    MessageCreated,
    MessageUpdated,
    SettingsUpdated,
    StreamCancelled,
    StreamCompleted,
    StreamDelta,
    StreamFailed,
    StreamRetrying,
    StreamStarted,
    ThinkingCompleted,
    ThinkingDelta,
    ThinkingStarted,
    ToolFailed,
    UsageRecorded,
)
from sidecar.protocol.objects import ErrorInfo, Message, Step, ToolCall, Usage, UsageRecord
from sidecar.providers import types as parts
from sidecar.providers.types import ToolSpec
from sidecar.store.errors import storage_problem

if TYPE_CHECKING:
    import httpx

    from sidecar.engine import Engine
    from sidecar.protocol.methods import AttachmentInput, ChatSendParams
    from sidecar.protocol.objects import Conversation, Model
    from sidecar.providers.types import ChatRequest, ProviderConfig

log = logging.getLogger("sidecar.turns")

FLUSH_INTERVAL = 0.25
SAVE_RETRY_INTERVAL = 1.0  # a final write that failed (full disk, lock) is tried again this often
MAX_TOOL_STEPS = 8  # provider calls that may ask for tools in one turn


class Turn:
    """The live state of one streaming assistant message."""

    __slots__ = (
        "message",
        "model",
        "task",
        "started",
        "stop_reason",
        "content",
        "thinking",
        "index",
        "thinking_open",
        "tools",
        "usage",
        "finish",
        "status",
        "done",
        "omitted",
        "enabled",
        "calls",
        "steps",
        "step_usages",
        "signature",
        "redacted",
        "folders",
    )

    def __init__(self, message: Message, model: Model) -> None:
        self.message = message
        self.model = model
        self.task: asyncio.Task[None] | None = None
        self.started = False
        self.stop_reason: str | None = None  # "cancelled" or "interrupted" once asked to stop
        self.content: list[str] = []
        self.thinking: list[str] = []
        self.index = 0
        self.thinking_open = False
        self.tools: dict[int, list[str]] = {}  # index -> [id, name, arguments...]
        self.usage: parts.UsagePart | None = None
        self.finish: str | None = None
        self.status = "pending"
        self.done = asyncio.Event()
        self.omitted = 0  # path messages left out of the prompt (context budget)
        self.enabled: dict[str, Enabled] = {}  # tools this turn may call
        self.calls: list[ToolCall] = []  # every tool call of every step
        self.steps: list[Step] = []  # where each tool-calling step ended
        self.step_usages: list[parts.UsagePart] = []
        self.signature: str | None = None  # Anthropic: the current step's thinking signature
        self.redacted: list[str] = []  # Anthropic: the current step's redacted thinking blocks
        self.folders: tuple[str, ...] = ()

    def live(self, stored: Message) -> Message:
        """`stored` with what has streamed so far (for snapshots)."""
        return stored.model_copy(
            update={
                "content": "".join(self.content),
                "thinking": "".join(self.thinking) or None,
                "status": self.status,
            }
        )


class Turns:
    def __init__(self, engine: Engine) -> None:
        self._e = engine
        self.active: dict[str, Turn] = {}
        self._dirty: set[Turn] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self._send_lock = asyncio.Lock()
        self._flush_failing = False
        self.unsaved: dict[str, tuple[Message, list[UsageRecord]]] = {}
        """Final messages whose write failed: published, shown in snapshots, retried."""
        self._saver: asyncio.Task[None] | None = None

    # -- commands -------------------------------------------------------------

    async def send(self, p: ChatSendParams, connection: str = "") -> tuple[str, str]:
        e = self._e
        async with (
            self._send_lock
        ):  # two sends with one clientRequestId: the second finds the first
            if p.client_request_id is not None:
                earlier = await e.repos.messages.client_request(p.client_request_id)
                if earlier is not None:
                    return earlier
            async with e.lock:
                conversation = await e.conversations.require(p.conversation_id)
                parent_id = (
                    p.parent_id
                    if "parent_id" in p.model_fields_set
                    else conversation.active_leaf_id
                )
                await self.check_parent(conversation.id, parent_id)
                enabled = e.tools.enable(p.tools, connection)
                user, assistant = await self._begin(
                    conversation,
                    p.model_id,
                    parent_id,
                    p.content,
                    p.attachments,
                    p.client_request_id,
                    enabled,
                )
                return user, assistant

    async def regenerate(
        self,
        message_id: str,
        model_id: str | None,
        tools: tuple[str, ...] | list[str] = (),
        connection: str = "",
    ) -> str:
        """A new sibling of an assistant message: the same user message, answered again."""
        e = self._e
        async with e.lock:
            old = await self._require_message(message_id, "assistant")
            conversation = await e.conversations.require(old.conversation_id)
            enabled = e.tools.enable(list(tools), connection)
            _, assistant = await self._begin(
                conversation,
                model_id or conversation.model_id or old.model_id,
                old.parent_id,
                None,
                [],
                None,
                enabled,
            )
            return assistant

    async def edit(
        self,
        message_id: str,
        content: str,
        model_id: str | None,
        tools: tuple[str, ...] | list[str] = (),
        connection: str = "",
    ) -> tuple[str, str]:
        """A new sibling of a user message with new content, and a reply to it."""
        e = self._e
        async with e.lock:
            old = await self._require_message(message_id, "user")
            conversation = await e.conversations.require(old.conversation_id)
            enabled = e.tools.enable(list(tools), connection)
            return await self._begin(
                conversation, model_id, old.parent_id, content, [], None, enabled
            )

    async def _require_message(self, message_id: str, role: str) -> Message:
        message = await self._e.repos.messages.get(message_id)
        if message is None:
            raise not_found("message", message_id)
        if message.role != role:
            raise InvalidParams(f"message {message_id} is not a {role} message", ("messageId",))
        return message

    async def check_parent(self, conversation_id: str, parent_id: str | None) -> None:
        """A new turn may follow `parent_id`: a message of the conversation, not streaming."""
        if parent_id is None:
            return
        parent = await self._e.repos.messages.get(parent_id)
        if parent is None or parent.conversation_id != conversation_id:
            raise not_found("message", parent_id)
        if parent_id in self.active:
            raise RpcError(
                Reason.CONFLICT,
                "that reply is still streaming: cancel it or wait",
                messageId=parent_id,
            )

    async def _begin(
        self,
        conversation: Conversation,
        model_id: str | None,
        parent_id: str | None,
        content: str | None,
        attachments: list[AttachmentInput],
        client_request_id: str | None,
        enabled: dict[str, Enabled] | None = None,
    ) -> tuple[str, str]:
        """Store the turn's messages, publish them and start the reply (under the engine lock).

        With `content` None there is no new user message: the reply answers `parent_id`.
        Everything is checked before anything is stored, so a refused call changes nothing.
        """
        e = self._e
        settings = await e.repos.library.get_settings()
        model_id = (
            model_id or conversation.model_id or settings.default_model_id or settings.last_model_id
        )
        if not model_id:
            raise InvalidParams(
                "no model: pass modelId, or set the conversation's or the default model",
                ("modelId",),
            )
        model = await e.models.usable(model_id)
        config = await e.providers.config(model.provider)
        folder = e.repos.database.path.parent / "attachments"
        stored_attachments = await prepare(attachments, model, folder) if attachments else []
        now = now_iso()
        user = None
        if content is not None:
            user = Message(
                id=new_id(),
                conversation_id=conversation.id,
                parent_id=parent_id,
                role="user",
                content=content,
                status="complete",
                attachments=stored_attachments,
                created_at=now,
                updated_at=now,
            )
        assistant = Message(
            id=new_id(),
            conversation_id=conversation.id,
            parent_id=user.id if user else parent_id,
            role="assistant",
            content="",
            status="pending",
            model_id=model.id,
            provider=model.provider,
            created_at=now,
            updated_at=now,
        )
        await e.repos.messages.add_turn(user, assistant, client_request_id)
        if user is not None:
            e.bus.publish(MessageCreated(message=user))
        e.bus.publish(MessageCreated(message=assistant))
        updated = await e.repos.conversations.get(conversation.id)
        assert updated is not None
        e.bus.publish(ConversationUpdated(conversation=updated))
        if settings.last_model_id != model.id:
            settings = settings.model_copy(update={"last_model_id": model.id})
            try:  # a convenience: never worth leaving the stored turn without its reply
                await e.repos.library.save_settings(settings)
                e.bus.publish(SettingsUpdated(settings=settings))
            except Exception as exc:
                if storage_problem(exc) is None:
                    raise
                log.warning("last used model not saved: %s", storage_problem(exc))
        path = [
            m for m in await e.repos.messages.active_path(conversation.id) if m.id != assistant.id
        ]
        system = await self._system_prompt(conversation, settings)
        request, omitted = build_request(
            model, conversation, system, path, await load_images(path, folder)
        )
        turn = Turn(assistant, model)
        turn.omitted = omitted
        if enabled:
            turn.enabled = enabled
            turn.folders = tuple(settings.tool_folders)
            request.tools = [
                ToolSpec(
                    name=t.tool.name,
                    description=t.tool.description,
                    input_schema=t.tool.input_schema,
                )
                for t in enabled.values()
            ]
        self.active[assistant.id] = turn
        turn.task = asyncio.create_task(
            self._run(turn, request, config), name=f"turn-{assistant.id}"
        )
        return (user.id if user else assistant.parent_id or ""), assistant.id

    async def cancel(self, message_id: str) -> bool:
        turn = self.active.get(message_id)
        if turn is None:
            if await self._e.repos.messages.get(message_id) is None:
                raise not_found("message", message_id)
            return False
        self._stop(turn, "cancelled")
        await turn.done.wait()
        return True

    async def end_conversation(self, conversation_id: str) -> None:
        """Cancel every reply running in the conversation and wait for their terminal
        events; a final write still being retried is dropped (the rows are going)."""
        turns = [t for t in self.active.values() if t.message.conversation_id == conversation_id]
        for turn in turns:
            self._stop(turn, "cancelled")
        for turn in turns:
            await turn.done.wait()
        for message_id, (final, _) in list(self.unsaved.items()):
            if final.conversation_id == conversation_id:
                del self.unsaved[message_id]

    def overlay(self, messages: list[Message]) -> list[Message]:
        """Messages as a snapshot must show them: running turns with their live text."""
        active, unsaved = self.active, self.unsaved
        if not active and not unsaved:
            return messages
        return [
            active[m.id].live(m)
            if m.id in active
            else _with_final(m, unsaved[m.id][0])
            if m.id in unsaved
            else m
            for m in messages
        ]

    def live_status(self, message_id: str) -> str | None:
        """The status a snapshot must show when it is not (yet) the stored one."""
        turn = self.active.get(message_id)
        if turn is not None:
            return turn.status
        unsaved = self.unsaved.get(message_id)
        return None if unsaved is None else unsaved[0].status

    async def close(self) -> None:
        """Shutdown: every running turn ends `interrupted`, its text stored."""
        turns = list(self.active.values())
        for turn in turns:
            self._stop(turn, "interrupted")
        for turn in turns:
            await turn.done.wait()
        for task in (self._flusher, self._saver):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._save_unsaved()  # a last try; else the next start marks them interrupted
        if self._http is not None:
            await self._http.aclose()

    # -- the run --------------------------------------------------------------

    def _stop(self, turn: Turn, reason: str) -> None:
        if turn.stop_reason is None:
            turn.stop_reason = reason
            if turn.started and turn.task is not None:
                turn.task.cancel()

    async def _run(self, turn: Turn, request: ChatRequest, config: ProviderConfig) -> None:
        error: ErrorInfo | None = None
        try:
            turn.started = True
            if turn.stop_reason is not None:
                raise asyncio.CancelledError
            from sidecar.providers import create_provider

            provider = create_provider(config, self._client())
            message = turn.message
            turn.status = "streaming"
            self._e.bus.publish(
                StreamStarted(
                    conversation_id=message.conversation_id,
                    message_id=message.id,
                    model_id=turn.model.id,
                    provider=turn.model.provider,
                    omitted_messages=turn.omitted,
                )
            )
            self._mark(turn)
            while True:
                async for part in provider.stream(request):
                    self._on_part(turn, part)
                if turn.finish is None:
                    raise parts.ProviderError(
                        "incomplete_stream",
                        "the stream ended without a finish reason",
                        retryable=True,
                    )
                if turn.finish != "tool_calls" or not turn.enabled or not turn.tools:
                    break
                if len(turn.steps) >= MAX_TOOL_STEPS:
                    turn.finish = "max_tool_steps"
                    break
                await self._tool_step(turn, request)
            status = "complete"
        except asyncio.CancelledError:
            status = turn.stop_reason or "cancelled"
        except parts.ProviderError as exc:
            status = "failed"
            error = ErrorInfo(
                code=exc.code,
                message=exc.message,
                retryable=exc.retryable,
                http_status=exc.http_status,
            )
        except Exception:
            log.exception("turn %s failed", turn.message.id)
            status = "failed"
            error = ErrorInfo(
                code="internal", message="the sidecar hit an internal error", retryable=False
            )
        if status == "interrupted":
            error = ErrorInfo(
                code="interrupted", message="the sidecar stopped mid-stream", retryable=True
            )
        await asyncio.shield(self._finish(turn, status, error))

    async def _tool_step(self, turn: Turn, request: ChatRequest) -> None:
        """Run the calls of the step that just ended, then extend the request for the next one."""
        start_c = turn.steps[-1].content_end if turn.steps else 0
        start_t = turn.steps[-1].thinking_end if turn.steps else 0
        if turn.thinking_open:
            self._close_thinking(turn)
        calls = self._end_step(turn)  # numbers the calls with this step's index
        step = self._close_step(turn)
        m = turn.message
        ids = {"conversation_id": m.conversation_id, "message_id": m.id}
        for call in calls:
            await self._e.tools.run(ids, call, turn.enabled.get(call.name), turn.folders)
        content, thinking = "".join(turn.content), "".join(turn.thinking)
        request.messages.extend(
            step_messages(
                content[start_c : step.content_end],
                thinking[start_t : step.thinking_end] or None,
                step,
                calls,
            )
        )
        turn.finish = None

    def _close_step(self, turn: Turn) -> Step:
        """Record where the provider call that just ended stopped, with the thinking the
        provider needs back unchanged (its signature, its redacted blocks)."""
        step = Step(
            content_end=sum(map(len, turn.content)),
            thinking_end=sum(map(len, turn.thinking)),
            thinking_signature=turn.signature,
            redacted_thinking=turn.redacted,
        )
        turn.steps.append(step)
        turn.signature, turn.redacted = None, []
        return step

    def _on_part(self, turn: Turn, part: parts.Part) -> None:
        """One provider part -> events. The hot path: synchronous, no I/O."""
        kind = type(part)
        message = turn.message
        if kind is parts.TextDelta:
            if not part.text:
                return
            if turn.thinking_open:
                self._close_thinking(turn)
            turn.content.append(part.text)
            index = turn.index
            turn.index = index + 1
            self._e.bus.publish(
                StreamDelta(
                    conversation_id=message.conversation_id,
                    message_id=message.id,
                    index=index,
                    text=part.text,
                )
            )
            self._mark(turn)
        elif kind is parts.ThinkingDelta:
            if not part.text:
                return
            if not turn.thinking_open:
                turn.thinking_open = True
                self._e.bus.publish(
                    ThinkingStarted(conversation_id=message.conversation_id, message_id=message.id)
                )
            turn.thinking.append(part.text)
            self._e.bus.publish(
                ThinkingDelta(
                    conversation_id=message.conversation_id, message_id=message.id, text=part.text
                )
            )
            self._mark(turn)
        elif kind is parts.ToolCallStart:
            turn.tools[part.index] = [part.id, part.name]
        elif kind is parts.ToolCallDelta:
            turn.tools.setdefault(part.index, ["", ""]).append(part.arguments)
        elif kind is parts.UsagePart:
            turn.usage = part
        elif kind is parts.ThinkingSignature:
            turn.signature = part.signature
        elif kind is parts.RedactedThinking:
            if part.data:
                turn.redacted.append(part.data)
        elif kind is parts.Finish:
            turn.finish = part.reason
        elif kind is parts.Retrying:
            self._e.bus.publish(
                StreamRetrying(
                    conversation_id=message.conversation_id,
                    message_id=message.id,
                    attempt=part.attempt,
                    delay_ms=part.delay_ms,
                    reason=part.reason,
                )
            )

    def _close_thinking(self, turn: Turn) -> None:
        turn.thinking_open = False
        m = turn.message
        self._e.bus.publish(ThinkingCompleted(conversation_id=m.conversation_id, message_id=m.id))

    async def _finish(self, turn: Turn, status: str, error: ErrorInfo | None) -> None:
        e = self._e
        m = turn.message
        try:
            async with e.lock:
                if turn.thinking_open:
                    self._close_thinking(turn)
                self._end_step(turn)
                if turn.signature is not None or turn.redacted:
                    self._close_step(turn)  # later turns send this thinking back
                records = [
                    usage_record(turn.model, u, "chat", m.conversation_id, m.id)
                    for u in turn.step_usages
                ]
                usage = _summed(records) if records else None
                unfinished = [c for c in turn.calls if c.status in ("proposed", "running")]
                for call in unfinished:
                    call.status, call.error = "failed", "the turn ended before the call finished"
                final = m.model_copy(
                    update={
                        "content": "".join(turn.content),
                        "thinking": "".join(turn.thinking) or None,
                        "status": status,
                        "usage": usage,
                        "error": error,
                        "tool_calls": turn.calls,
                        "steps": turn.steps,
                        "updated_at": max(now_iso(), m.updated_at),
                    }
                )
                self._dirty.discard(turn)
                try:
                    await e.repos.messages.finish(final, records)
                except Exception as exc:
                    problem = storage_problem(exc)
                    if problem is None:
                        raise
                    # The words stay in memory and the write is retried; clients hear now.
                    log.error("message %s not saved: %s; will retry", m.id, problem)
                    status, error = (
                        "failed",
                        ErrorInfo(
                            code="storage",
                            message=f"the reply could not be saved: {problem}",
                            retryable=True,
                        ),
                    )
                    final = final.model_copy(update={"status": status, "error": error})
                    self.unsaved[m.id] = (final, records)
                    self._start_saver()
                del self.active[m.id]
                turn.status = status
                for record in records:
                    e.bus.publish(UsageRecorded(usage=record))
                ids = {"conversation_id": m.conversation_id, "message_id": m.id}
                for call in unfinished:  # a call the UI shows as waiting ends too
                    if call.executor is not None:  # its proposed/started event went out
                        e.bus.publish(ToolFailed(**ids, call_id=call.id, error=call.error or ""))
                if status == "complete":
                    e.bus.publish(
                        StreamCompleted(
                            **ids, finish_reason=turn.finish or "stop", usage=usage, message=final
                        )
                    )
                elif status == "cancelled":
                    e.bus.publish(StreamCancelled(**ids, message=final))
                else:
                    assert error is not None
                    e.bus.publish(StreamFailed(**ids, error=error, message=final))
                e.bus.publish(MessageUpdated(message=final))
                if m.id not in self.unsaved:
                    e.titles.after_reply(final)  # schedules only: never delays the events above
        finally:
            turn.done.set()

    def _end_step(self, turn: Turn) -> list[ToolCall]:
        """Close the current provider call: keep its usage, turn its tool parts into calls."""
        if turn.usage is not None:
            turn.step_usages.append(turn.usage)
            turn.usage = None
        calls = _tool_calls(turn.tools, len(turn.steps))
        turn.tools = {}
        turn.calls.extend(calls)
        return calls

    # -- batched writes ---------------------------------------------------------

    def _mark(self, turn: Turn) -> None:
        self._dirty.add(turn)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop(), name="stream-flusher")

    async def _flush_loop(self) -> None:
        """Write every dirty stream's text in one transaction, at most every FLUSH_INTERVAL."""
        while self._dirty or self.active:
            await asyncio.sleep(FLUSH_INTERVAL)
            if not self._dirty:
                continue
            batch, self._dirty = self._dirty, set()
            now = now_iso()
            rows = [
                ("".join(t.content), "".join(t.thinking) or None, t.status, now, t.message.id)
                for t in batch
                if t.message.id in self.active
            ]
            try:
                await self._e.repos.messages.flush_streams(rows)
            except Exception as exc:
                if not self._flush_failing:  # once per outage, not every 250 ms
                    problem = storage_problem(exc)
                    if problem is None:
                        log.exception("could not write streamed text; will retry")
                    else:
                        log.error("could not write streamed text: %s; will retry", problem)
                self._flush_failing = True
                self._dirty |= batch
            else:
                if self._flush_failing:
                    log.info("streamed text is being written again")
                self._flush_failing = False

    def _start_saver(self) -> None:
        if self._saver is None or self._saver.done():
            self._saver = asyncio.create_task(self._save_loop(), name="unsaved-messages")

    async def _save_loop(self) -> None:
        while self.unsaved:
            await asyncio.sleep(SAVE_RETRY_INTERVAL)
            await self._save_unsaved()

    async def _save_unsaved(self) -> None:
        """Write the final messages that could not be written when their turn ended."""
        for message_id, (final, records) in list(self.unsaved.items()):
            try:
                await self._e.repos.messages.finish(final, records)
            except Exception as exc:
                if storage_problem(exc) is None:
                    log.exception("message %s cannot be saved", message_id)
                    del self.unsaved[message_id]
                return  # still failing: try again later
            del self.unsaved[message_id]
            log.info("message %s saved", message_id)

    # -- helpers --------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=64),
                follow_redirects=False,
            )
        return self._http

    async def _system_prompt(self, conversation, settings) -> str | None:  # noqa: ANN001
        if conversation.system_prompt is not None:
            return conversation.system_prompt
        prompt_id = conversation.settings.system_prompt_id
        if prompt_id:
            for prompt in await self._e.repos.library.list_system_prompts():
                if prompt.id == prompt_id:
                    return prompt.content
        return settings.default_system_prompt


_FINAL_FIELDS = (
    "content",
    "thinking",
    "status",
    "usage",
    "error",
    "tool_calls",
    "steps",
    "updated_at",
)


def _with_final(stored: Message, final: Message) -> Message:
    """`stored` (of whatever snapshot type) showing the final state not yet written."""
    return stored.model_copy(update={name: getattr(final, name) for name in _FINAL_FIELDS})


def _summed(records: list[UsageRecord]) -> Usage:
    """A message's usage: its provider calls added up (cost null if any call had no price)."""
    costs = [r.cost_usd for r in records]
    return Usage(
        input_tokens=sum(r.input_tokens for r in records),
        output_tokens=sum(r.output_tokens for r in records),
        reasoning_tokens=sum(r.reasoning_tokens for r in records),
        cache_read_tokens=sum(r.cache_read_tokens for r in records),
        cache_write_tokens=sum(r.cache_write_tokens for r in records),
        cost_usd=None if None in costs else round(sum(costs), 10),  # type: ignore[arg-type]
    )


def _tool_calls(tools: dict[int, list[str]], step: int = 0) -> list[ToolCall]:
    calls = []
    for index in sorted(tools):
        call_id, name, *fragments = tools[index]
        text = "".join(fragments)
        try:
            arguments = orjson.loads(text) if text else {}
        except orjson.JSONDecodeError:
            arguments = {"_unparsed": text}
        if not isinstance(arguments, dict):
            arguments = {"_value": arguments}
        calls.append(
            ToolCall(
                id=new_id(),
                provider_call_id=call_id or None,
                name=name,
                arguments=arguments,
                status="proposed",
                step=step,
            )
        )
    return calls
