"""Export a conversation (a JSON document of the whole tree, or Markdown of the active
branch) and import a JSON export as a new conversation.

Import keeps everything but the ids: new ids are handed out in the order of the
document's ids, so siblings keep their order (the oldest reply stays the "Main"
branch) and branch names, the active leaf and parents all map over. A reply that
was still streaming when exported arrives `interrupted`, like after a crash.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import TYPE_CHECKING

from sidecar.engine.attachments import has_file
from sidecar.ids import new_id, now_iso
from sidecar.protocol.errors import InvalidParams
from sidecar.protocol.events import ConversationCreated
from sidecar.protocol.objects import Attachment, Conversation, Message
from sidecar.protocol.transfer import (
    DOCUMENT_FORMAT,
    DOCUMENT_VERSION,
    ConversationDocument,
    DocumentMessage,
)

if TYPE_CHECKING:
    from pathlib import Path

    from sidecar.engine import Engine

UNFINISHED = frozenset({"pending", "streaming"})


class Transfer:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    @property
    def _folder(self) -> Path:
        return self._e.repos.database.path.parent / "attachments"

    # -- export -----------------------------------------------------------------

    async def export(self, conversation_id: str, format: str) -> ConversationDocument | str:
        e = self._e
        async with e.lock:  # one consistent snapshot, live text of running replies included
            conversation = await e.conversations.require(conversation_id)
            if format == "markdown":
                path = e.turns.overlay(await e.repos.messages.active_path(conversation_id))
                return to_markdown(conversation, path)
            messages = e.turns.overlay(await e.repos.messages.in_conversation(conversation_id))
            names = await e.repos.messages.branch_names(conversation_id)
        images = [a.id for m in messages for a in m.attachments if has_file(a.mime_type)]
        data = await asyncio.to_thread(_read_images, self._folder, images) if images else {}
        return ConversationDocument(
            format=DOCUMENT_FORMAT,
            version=DOCUMENT_VERSION,
            exported_at=now_iso(),
            conversation=conversation.model_dump(by_alias=False),
            messages=[_document_message(m, data) for m in messages],
            branch_names=names,
        )

    # -- import -----------------------------------------------------------------

    async def import_(self, document: ConversationDocument) -> tuple[Conversation, int]:
        """Store `document` as a new conversation; publishes one conversation.created."""
        ordered = _check_tree(document)
        # New ids in the order of the old ones: sibling order, hence branches, survive.
        ids = {old: new_id() for old in sorted([m.id for m in document.messages])}
        attachment_ids = {
            old: new_id()
            for old in sorted({a.id for m in document.messages for a in m.attachments})
        }
        images: list[tuple[str, bytes]] = []
        messages = []
        conversation_id = new_id()
        for i in ordered:
            m = document.messages[i]
            attachments = []
            for j, a in enumerate(m.attachments):
                attachment_id = attachment_ids[a.id]
                if a.data is not None:
                    try:
                        images.append((attachment_id, base64.b64decode(a.data, validate=True)))
                    except (binascii.Error, ValueError):
                        raise InvalidParams(
                            "not valid base64",
                            _loc("messages", i, "attachments", j, "data"),
                        ) from None
                attachments.append(
                    Attachment.model_validate(
                        a.model_dump(by_alias=False, exclude={"data"}) | {"id": attachment_id}
                    )
                )
            messages.append(
                Message.model_validate(
                    m.model_dump(by_alias=False, exclude={"attachments"})
                    | {
                        "id": ids[m.id],
                        "conversation_id": conversation_id,
                        "parent_id": ids[m.parent_id] if m.parent_id is not None else None,
                        "status": "interrupted" if m.status in UNFINISHED else m.status,
                        "attachments": attachments,
                    }
                )
            )
        source = document.conversation
        conversation = Conversation.model_validate(
            source.model_dump(by_alias=False)
            | {
                "id": conversation_id,
                "active_leaf_id": ids.get(source.active_leaf_id or ""),
                "updated_at": max(now_iso(), source.updated_at),  # just arrived: list it first
            }
        )
        names = {ids[leaf]: name for leaf, name in document.branch_names.items()}
        if images:
            await asyncio.to_thread(_write_images, self._folder, images)
        e = self._e
        async with e.lock:
            await e.repos.transfer.import_conversation(conversation, messages, names)
            seq = e.bus.publish(ConversationCreated(conversation=conversation))
        return conversation, seq


# -- checks ---------------------------------------------------------------------------


def _loc(*parts: str | int) -> tuple[str, ...]:
    """Where a problem is, like pydantic says it (list indexes stay integers)."""
    return ("document", *parts)  # type: ignore[return-value]


def _check_tree(document: ConversationDocument) -> list[int]:
    """The indexes of the document's messages, every parent before its children.

    Raises InvalidParams (at the offending member) for a duplicate id, a parent that is
    not in the document, a cycle, an active leaf or a named branch that does not exist.
    """
    messages = document.messages
    index: dict[str, int] = {}
    for i, m in enumerate(messages):
        if m.id in index:
            raise InvalidParams(
                f"message id {m.id} appears twice (also at {index[m.id]})",
                _loc("messages", i, "id"),
            )
        index[m.id] = i
    children: dict[str | None, list[int]] = {}
    for i, m in enumerate(messages):
        if m.parent_id is not None and m.parent_id not in index:
            raise InvalidParams(
                f"parent {m.parent_id} is not a message of the document",
                _loc("messages", i, "parentId"),
            )
        children.setdefault(m.parent_id, []).append(i)
    ordered: list[int] = []
    stack = list(reversed(children.get(None, [])))
    while stack:  # iterative: long chats are deeper than Python's recursion limit
        i = stack.pop()
        ordered.append(i)
        stack.extend(reversed(children.get(messages[i].id, [])))
    if len(ordered) != len(messages):
        reached = set(ordered)
        first = next(i for i in range(len(messages)) if i not in reached)
        raise InvalidParams(
            "the messages' parents make a cycle: every message must descend from a root",
            _loc("messages", first, "parentId"),
        )
    leaf = document.conversation.active_leaf_id
    if leaf is not None and leaf not in index:
        raise InvalidParams(
            f"active leaf {leaf} is not a message of the document",
            _loc("conversation", "activeLeafId"),
        )
    for leaf_id, name in document.branch_names.items():
        if leaf_id not in index or children.get(leaf_id):
            raise InvalidParams(
                f"branch name key {leaf_id} is not a leaf message of the document",
                _loc("branchNames", leaf_id),
            )
        if not 0 < len(name) <= 200:
            raise InvalidParams(
                "a branch name has 1 to 200 characters", _loc("branchNames", leaf_id)
            )
    return ordered


# -- documents -------------------------------------------------------------------------


def _document_message(m: Message, images: dict[str, bytes]) -> DocumentMessage:
    data = m.model_dump(by_alias=False, exclude={"conversation_id"})
    for a in data["attachments"]:
        raw = images.get(a["id"])
        a["data"] = base64.b64encode(raw).decode() if raw is not None else None
    return DocumentMessage.model_validate(data, strict=False)


def _read_images(folder: Path, ids: list[str]) -> dict[str, bytes]:
    out = {}
    for ident in ids:
        path = folder / ident
        if path.is_file():
            out[ident] = path.read_bytes()
    return out


def _write_images(folder: Path, images: list[tuple[str, bytes]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for ident, raw in images:
        (folder / ident).write_bytes(raw)


# -- Markdown ---------------------------------------------------------------------------

ROLE_HEADINGS = {"user": "User", "assistant": "Assistant"}
STATUS_NOTES = {
    "pending": "waiting for the reply",
    "streaming": "still streaming when exported",
    "cancelled": "stopped",
    "interrupted": "interrupted",
    "failed": "failed",
}
LENGTH_NOTE = {"length": "cut off at the model's length limit"}


def to_markdown(conversation: Conversation, path: list[Message]) -> str:
    """The active branch as readable Markdown: the title, then each message under a role
    heading, thinking folded in a <details> block, tool calls listed."""
    out = [f"# {_one_line(conversation.title) or 'Untitled conversation'}", ""]
    for m in path:
        heading = ROLE_HEADINGS.get(m.role, m.role.capitalize())
        if m.role == "assistant" and m.model_id:
            heading += f" ({m.model_id})"
        out += [f"## {heading}", ""]
        if m.thinking:
            out += [
                "<details>",
                "<summary>Thinking</summary>",
                "",
                m.thinking.strip(),
                "",
                "</details>",
                "",
            ]
        if m.content:
            out += [m.content.strip(), ""]
        for a in m.attachments:
            out += [f"> Attachment: {a.name} ({a.mime_type}, {a.size} bytes)", ""]
        if m.tool_calls:
            out += ["**Tool calls**", ""]
            for call in m.tool_calls:
                arguments = json.dumps(call.arguments, ensure_ascii=False)
                line = f"- `{call.name}` {_code(arguments)}: {call.status}"
                if call.error:
                    line += f" ({_one_line(call.error)})"
                elif call.result is not None:
                    line += f" → {_code(json.dumps(call.result, ensure_ascii=False))}"
                out.append(line)
            out.append("")
        note = STATUS_NOTES.get(m.status) or LENGTH_NOTE.get(m.finish_reason or "")
        if note:
            if m.error is not None:
                note += f": {_one_line(m.error.message)}"
            out += [f"_({note})_", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _one_line(text: str | None) -> str:
    return " ".join(text.split()) if text else ""


def _code(text: str, limit: int = 500) -> str:
    """Inline code that survives backticks in the text."""
    text = _one_line(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
