"""The turn runner: one assistant reply from `chat.send` to its one terminal event.

A turn is a task independent of any connection: a client that drops never
stops it; only `chat.cancel` (or shutdown) does. This module is the driver:
it stores and starts turns, reads provider parts and publishes the events the
turn's state machine (`turn_state.py`) makes of them, a read's text in at most
two deltas (`delta_batch.py`), runs tool steps, and leaves the writing of
streamed text to the stream writer (`stream_writer.py`). Snapshots read the
live text of running turns from here, so they always agree with their `seq`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sidecar.engine.attachments import load_images, prepare
from sidecar.engine.delta_batch import DeltaBatch
from sidecar.engine.request import build_request, step_messages
from sidecar.engine.stream_writer import StreamWriter
from sidecar.engine.turn_state import TurnState
from sidecar.ids import new_id, now_iso
from sidecar.protocol.errors import InvalidParams, Reason, RpcError, not_found
from sidecar.protocol.events import (
    ConversationUpdated,
    MessageCreated,
    SettingsUpdated,
)
from sidecar.protocol.objects import ErrorInfo, Message
from sidecar.providers.types import Part, ProviderError, TextDelta, ThinkingDelta, ToolSpec
from sidecar.store.errors import storage_problem
from sidecar.store.message_repo import Leaf

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.engine.http_client import SharedHttp
    from sidecar.engine.tools import Enabled
    from sidecar.protocol.methods import (
        AttachmentInput,
        ChatEditParams,
        ChatRecordParams,
        ChatRegenerateParams,
        ChatSendParams,
    )
    from sidecar.protocol.objects import Conversation, MessageStatus, Settings
    from sidecar.providers.types import ChatRequest, ProviderConfig

log = logging.getLogger("sidecar.turns")

FIRST_WORDS = (TextDelta, ThinkingDelta)  # what ends a reply's opening


class Turn:
    """A running turn: its state machine, and what the driver needs to run and stop it."""

    __slots__ = ("state", "task", "started", "stored", "stop_reason", "done", "enabled", "folders")

    def __init__(self, state: TurnState) -> None:
        self.state = state
        self.task: asyncio.Task[None] | None = None
        self.started = False
        # The provider call starts while the turn's messages are stored: True once they
        # are (and announced), False when storing them failed and the turn is dropped.
        self.stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.stop_reason: MessageStatus | None = None  # "cancelled" or "interrupted"
        self.done = asyncio.Event()
        self.enabled: dict[str, Enabled] = {}  # tools this turn may call
        self.folders: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Place:
    """Where a new turn goes (`Turns.place`)."""

    conversation: Conversation
    parent_id: str | None
    branch: list[Message]  # stored, root first, up to parent_id (empty when None)


class Turns:
    def __init__(self, engine: Engine, http: SharedHttp) -> None:
        self._e = engine
        self._http = http
        self.active: dict[str, Turn] = {}
        self._writer = StreamWriter(engine.repos.messages)

    # -- commands -------------------------------------------------------------

    async def send(self, p: ChatSendParams, connection: str = "") -> tuple[str, str]:
        """A user message and a reply to it: (user message id, assistant message id)."""
        e = self._e
        await e.mcp.loaded()  # the MCP servers' tools can be named
        # the check and the write in one step: of two sends with one clientRequestId,
        # the second finds the first
        async with e.lock:
            place = self.place(p)
            if isinstance(place, tuple):
                return place
            system = p.system_prompt
            if p.system_prompt_id is not None:
                system = (await e.system_prompts.require(p.system_prompt_id)).content
            enabled = e.tools.enable(p.tools, connection)
            return await self._begin(
                place.conversation,
                p.model_id,
                place.parent_id,
                p.content,
                p.attachments,
                p.client_request_id,
                enabled,
                system=system,
                branch=place.branch,
            )

    def place(self, p: ChatSendParams | ChatRecordParams) -> Place | tuple[str, str]:
        """Where a new turn goes, read at once and checked (under the engine lock): the
        conversation, the parent it follows (`parentId`, else the active leaf) and the
        stored branch up to it. NOT_FOUND for an unknown conversation or a parent
        outside it, CONFLICT while the parent still streams. An earlier call with the
        same `clientRequestId` gives its (user, assistant) ids instead, to return as they
        are."""
        e = self._e
        given = "parent_id" in p.model_fields_set
        reads = e.repos.messages.before_turn(
            p.conversation_id, p.parent_id if given else Leaf.ACTIVE, p.client_request_id
        )
        if reads.earlier is not None:
            return reads.earlier
        conversation = reads.conversation
        if conversation is None or conversation.id in e.conversations.deleting:
            raise not_found("conversation", p.conversation_id)
        parent_id = p.parent_id if given else conversation.active_leaf_id
        if parent_id is not None and not reads.branch:
            raise not_found("message", parent_id)
        if parent_id in self.active:
            raise RpcError(
                Reason.CONFLICT,
                "that reply is still streaming: cancel it or wait",
                messageId=parent_id,
            )
        return Place(conversation, parent_id, reads.branch)

    async def regenerate(self, p: ChatRegenerateParams, connection: str = "") -> str:
        """A new sibling of an assistant message: the same user message, answered again."""
        e = self._e
        await e.mcp.loaded()
        async with e.lock:
            old = await self._require_message(p.message_id, "assistant")
            conversation = await e.conversations.require(old.conversation_id)
            enabled = e.tools.enable(p.tools, connection)
            _, assistant = await self._begin(
                conversation,
                p.model_id or conversation.model_id or old.model_id,
                old.parent_id,
                None,
                [],
                None,
                enabled,
            )
            return assistant

    async def edit(self, p: ChatEditParams, connection: str = "") -> tuple[str, str]:
        """A new sibling of a user message with new content, and a reply to it."""
        e = self._e
        await e.mcp.loaded()
        async with e.lock:
            old = await self._require_message(p.message_id, "user")
            conversation = await e.conversations.require(old.conversation_id)
            enabled = e.tools.enable(p.tools, connection)
            return await self._begin(
                conversation, p.model_id, old.parent_id, p.content, [], None, enabled
            )

    async def _require_message(self, message_id: str, role: str) -> Message:
        message = await self._e.repos.messages.get(message_id)
        if message is None:
            raise not_found("message", message_id)
        if message.role != role:
            raise InvalidParams(f"message {message_id} is not a {role} message", ("messageId",))
        return message

    async def _begin(
        self,
        conversation: Conversation,
        model_id: str | None,
        parent_id: str | None,
        content: str | None,
        attachments: list[AttachmentInput],
        client_request_id: str | None,
        enabled: dict[str, Enabled] | None = None,
        *,
        system: str | None = None,
        branch: list[Message] | None = None,
    ) -> tuple[str, str]:
        """Store the turn's messages, publish them and start the reply (under the engine lock).

        With `content` None there is no new user message: the reply answers `parent_id`.
        `system`: this turn's system prompt ("" for none), else the conversation's.
        `branch`: the stored messages up to `parent_id`, when the caller read them.
        Everything is checked before anything is stored or sent, so a refused call changes
        nothing. The provider call starts while the messages are stored, its parts held
        until they are (storing overlaps the connect and the model's first token); when
        storing fails, the call is closed and nothing is published.
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
        # The request: the stored branch the reply follows, and the new user message.
        if branch is not None:
            path = list(branch)
        elif parent_id is not None:
            path = await e.repos.messages.branch_messages(conversation.id, parent_id)
        else:
            path = []
        if user is not None:
            path.append(user)
        if system is None:
            system = await e.system_prompts.for_conversation(conversation, settings)
        request, omitted = build_request(
            model, conversation, system, path, await load_images(path, folder)
        )
        turn = Turn(TurnState(assistant, model, omitted))
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
        try:
            updated = await e.repos.messages.add_turn(user, assistant, client_request_id)
        except BaseException:
            turn.stored.set_result(False)  # nothing stored: the call is closed, nothing told
            turn.task.cancel()
            raise
        try:
            if user is not None:
                e.bus.publish(MessageCreated(message=user))
            e.bus.publish(MessageCreated(message=assistant))
            e.bus.publish(ConversationUpdated(conversation=updated))
            if settings.last_model_id != model.id:
                await self._note_last_model(settings, model.id)
            e.bus.publish(turn.state.start())
            self._writer.watch(turn.state)
        finally:
            turn.stored.set_result(True)  # stored: its parts may be published
        return (user.id if user else assistant.parent_id or ""), assistant.id

    async def _note_last_model(self, settings: Settings, model_id: str) -> None:
        """Remember the model last used: a convenience, never worth failing a stored turn."""
        e = self._e
        settings = settings.model_copy(update={"last_model_id": model_id})
        try:
            await e.repos.library.save_settings(settings)
        except Exception as exc:
            if storage_problem(exc) is None:
                raise
            log.warning("last used model not saved: %s", storage_problem(exc))
        else:
            e.bus.publish(SettingsUpdated(settings=settings))

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
        turns = [
            t for t in self.active.values() if t.state.message.conversation_id == conversation_id
        ]
        await self._cancel_all(turns)
        self._writer.drop(conversation_id)

    async def end_messages(self, message_ids: list[str]) -> None:
        """Cancel the replies running as `message_ids` and wait for their terminal events
        (and their final writes)."""
        await self._cancel_all([self.active[m] for m in message_ids if m in self.active])

    async def _cancel_all(self, turns: list[Turn]) -> None:
        for turn in turns:
            self._stop(turn, "cancelled")
        for turn in turns:
            await turn.done.wait()

    # -- what snapshots show ----------------------------------------------------

    def overlay(self, messages: list[Message]) -> list[Message]:
        """Messages as a snapshot must show them: running turns with their live text."""
        active, unsaved = self.active, self._writer.unsaved
        if not active and not unsaved:
            return messages
        return [
            active[m.id].state.live(m)
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
            return turn.state.status
        unsaved = self._writer.unsaved.get(message_id)
        return None if unsaved is None else unsaved[0].status

    async def close(self) -> None:
        """Shutdown: every running turn ends `interrupted`, its text stored."""
        turns = list(self.active.values())
        for turn in turns:
            self._stop(turn, "interrupted")
        for turn in turns:
            await turn.done.wait()
        await self._writer.close()

    # -- the run --------------------------------------------------------------

    def _stop(self, turn: Turn, reason: MessageStatus) -> None:
        if turn.stop_reason is None:
            turn.stop_reason = reason
            if turn.started and turn.task is not None:
                turn.task.cancel()

    async def _run(self, turn: Turn, request: ChatRequest, config: ProviderConfig) -> None:
        state = turn.state
        status: MessageStatus
        error: ErrorInfo | None = None
        batch = DeltaBatch(state.feed, self._e.bus.publish)
        try:
            turn.started = True
            if turn.stop_reason is not None:
                raise asyncio.CancelledError
            from sidecar.providers import create_provider  # start-up time: it imports httpx

            provider = create_provider(config, self._http.get(), request.profile.api)
            add = batch.add
            opening = True  # until the reply's first words are out
            while True:
                async for part in provider.stream(request):
                    if opening:
                        opening = await self._opening(turn, part, add)
                        continue
                    add(part)  # the hot path: no await from part to event
                batch.flush()
                if not state.call_ended(bool(turn.enabled)):
                    break
                await self._tool_step(turn, request)
            status = "complete"
        except asyncio.CancelledError:
            status = turn.stop_reason or "cancelled"
        except ProviderError as exc:
            status = "failed"
            error = exc.info()
        except Exception:
            log.exception("turn %s failed", state.message.id)
            status = "failed"
            error = ErrorInfo(
                code="internal", message="the sidecar hit an internal error", retryable=False
            )
        batch.flush()  # text held when the turn was stopped or failed is part of the reply
        await asyncio.shield(self._finish(turn, status, error))

    @staticmethod
    async def _opening(turn: Turn, part: Part, add: Callable[[Part], None]) -> bool:
        """A part before the reply's first words; whether the opening goes on. The call
        started while the turn was stored: its parts wait for that. The first words then
        leave before the rest of the read that brought them is parsed (the task yields
        once, so the connections' writers send them)."""
        if not await turn.stored:
            raise asyncio.CancelledError  # nothing stored: the turn is being dropped
        add(part)
        if type(part) in FIRST_WORDS:
            await asyncio.sleep(0)
            return False
        return True

    async def _tool_step(self, turn: Turn, request: ChatRequest) -> None:
        """Run the calls of the step that just ended, then extend the request for the next one."""
        e = self._e
        step = turn.state.end_tool_step()
        for event in step.events:
            e.bus.publish(event)
        m = turn.state.message
        ids = {"conversation_id": m.conversation_id, "message_id": m.id}
        for call in step.calls:
            await e.tools.run(ids, call, turn.enabled.get(call.name), turn.folders)
        request.messages.extend(
            step_messages(
                step.content,
                step.thinking,
                step.step,
                step.calls,
                vision=turn.state.model.capabilities.vision,
            )
        )

    async def _finish(self, turn: Turn, status: MessageStatus, error: ErrorInfo | None) -> None:
        e = self._e
        state = turn.state
        m = state.message
        try:
            if not await turn.stored:  # nothing was stored or told: nothing to end
                del self.active[m.id]
                return
            async with e.lock:
                final = state.end(status, error)
                try:
                    await e.repos.messages.finish(final.message, final.records)
                except Exception as exc:
                    problem = storage_problem(exc)
                    if problem is None:
                        raise
                    # The words stay in memory and the write is retried; clients hear now.
                    log.error("message %s not saved: %s; will retry", m.id, problem)
                    final = final.unsaved(problem)
                    self._writer.keep(final.message, final.records)
                self._writer.forget(state)
                del self.active[m.id]
                state.status = final.message.status
                for event in final.events:
                    e.bus.publish(event)
                if m.id not in self._writer.unsaved:
                    # schedules only: never delays the events above
                    e.titles.after_reply(final.message)
        finally:
            turn.done.set()


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
