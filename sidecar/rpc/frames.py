"""The JSON-RPC envelope of what the sidecar writes: events as notifications, and JSON.

Light on purpose: the bus takes `notification` as its encoder before the ready
line, so this module imports nothing but orjson.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from sidecar.protocol.events import Event

_HEAD = b'{"jsonrpc":"2.0","method":"'
_MID = b'","params":'


_DELTA = "assistant.stream.delta"


def notification(event: Event) -> bytes:
    """An event as the notification frame every subscriber gets (its `type` is the method).

    A text delta (most of what is sent) is encoded straight from its fields: the same
    bytes as the model's own JSON (tests/test_frames_fast.py checks), at half the cost."""
    if event.type == _DELTA:
        d = event.__dict__
        return orjson.dumps(
            {
                "jsonrpc": "2.0",
                "method": _DELTA,
                "params": {
                    "type": _DELTA,
                    "seq": d["seq"],
                    "ts": d["ts"],
                    "conversationId": d["conversation_id"],
                    "messageId": d["message_id"],
                    "index": d["index"],
                    "text": d["text"],
                },
            }
        )
    return model_frame(event)


def model_frame(event: Event) -> bytes:
    """Any event through its pydantic model: the wire's definition."""
    return b"".join((_HEAD, event.type.encode(), _MID, event.model_dump_json().encode(), b"}"))


def encode(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # an id past 64 bits, echoed back
        return json.dumps(obj, separators=(",", ":")).encode()


def _float_id(obj: Any) -> bool:
    """Whether a request (or a batch's, one level down: batches do not nest) has a float id.

    Never recursive: a frame of 1,000 nested arrays once blew the stack here."""
    items = obj if isinstance(obj, list) else (obj,)
    return any(isinstance(item, dict) and isinstance(item.get("id"), float) for item in items)


def parse(frame: str | bytes) -> Any:
    """Decode a frame; raises ValueError on anything that is not JSON.

    orjson reads integers past 64 bits as floats and refuses numbers past a
    double; both are valid JSON, so the stdlib parser (exact integers) takes
    over in those rare cases, and an id is always echoed exactly as sent.
    """
    try:
        obj = orjson.loads(frame)
        if not _float_id(obj):
            return obj
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(frame)
    except (ValueError, RecursionError) as exc:
        raise ValueError("not valid JSON") from exc
