"""`chat.record`: a turn that ran outside the sidecar joins the conversation.

While the app migrates, a provider routed to "frontend" still streams through the
app's own TypeScript code. Recording each finished turn here (a stopped or failed
one too, with its partial text) keeps one history: the stores fed by the sidecar
show it at once, its usage is counted, its conversation gets a title, and nothing
waits for the next legacy import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.engine.usage import priced_record
from sidecar.ids import new_id, now_iso
from sidecar.protocol.errors import InvalidParams
from sidecar.protocol.events import ConversationUpdated, MessageCreated, UsageRecorded
from sidecar.protocol.objects import Message, Usage

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.methods import ChatRecordParams


class ExternalTurns:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    async def record(self, p: ChatRecordParams) -> tuple[str, str]:
        """Store the user's message (if given) and the reply as it ended; (user message
        id, reply id)."""
        e = self._e
        async with e.lock:  # the repeat check and the write in one step
            place = e.turns.place(p)
            if isinstance(place, tuple):
                return place
            conversation, parent_id = place.conversation, place.parent_id
            if p.content is None and (not place.branch or place.branch[-1].role != "user"):
                # without content the reply answers its parent again: a user message
                raise InvalidParams(
                    "without content, parentId must be the user message the reply answers",
                    ("parentId",),
                )
            reply = p.reply
            model = await e.models.recorded(reply.model_id)  # an id, an alias, a retired id
            reply_id = new_id()
            records = []
            usage = None
            if reply.usage is not None:
                record = priced_record(model, reply.usage, "chat", conversation.id, reply_id)
                records.append(record)
                usage = Usage(**record.model_dump(include=set(Usage.model_fields)))
            now = now_iso()
            user = None
            if p.content is not None:
                user = Message(
                    id=new_id(),
                    conversation_id=conversation.id,
                    parent_id=parent_id,
                    role="user",
                    content=p.content,
                    status="complete",
                    created_at=now,
                    updated_at=now,
                )
            assistant = Message(
                id=reply_id,
                conversation_id=conversation.id,
                parent_id=user.id if user is not None else parent_id,
                role="assistant",
                content=reply.content,
                thinking=reply.thinking,
                status=reply.status,
                model_id=model.id,
                provider=model.provider,
                usage=usage,
                error=reply.error if reply.status == "failed" else None,
                finish_reason=(reply.finish_reason or "stop")
                if reply.status == "complete"
                else None,
                created_at=now,
                updated_at=now,
            )
            updated = await e.repos.messages.add_turn(user, assistant, p.client_request_id, records)
            if user is not None:
                e.bus.publish(MessageCreated(message=user))
            e.bus.publish(MessageCreated(message=assistant))
            for record in records:
                e.bus.publish(UsageRecorded(usage=record))
            e.bus.publish(ConversationUpdated(conversation=updated))
        e.titles.after_reply(assistant)
        answered = user.id if user is not None else assistant.parent_id
        assert answered is not None  # checked above: a reply always answers a user message
        return answered, assistant.id
