"""The fast encoding of text deltas (rpc/frames.notification) gives exactly the bytes of the
pydantic model's own JSON (rpc/frames.model_frame), the schema's source of truth."""

from __future__ import annotations

import orjson
import pytest

from sidecar.protocol.events import StreamDelta
from sidecar.rpc.frames import model_frame, notification
from tests.chat_env import chat_env

TEXTS = [
    "",
    "Hello",
    'quotes " and \\ backslashes \\" /slash',
    "\n\r\t\b\f",
    "".join(chr(c) for c in range(0x20)) + "\x7f",
    "\u2028\u2029 line separators",
    "héllo ✓ 🦊 𝄞 \ufeff \ufffd",
    "<script>&amp;</script>",
    "x" * 100_000,
]


def test_the_fast_path_knows_every_field_of_the_model():
    # a new field on StreamDelta must reach the fast path too (rpc/frames.notification)
    assert list(StreamDelta.model_fields) == [
        "type",
        "seq",
        "ts",
        "conversation_id",
        "message_id",
        "index",
        "text",
    ]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("index", [0, 7, 2**53 + 1])
def test_a_delta_frame_is_byte_identical_to_the_model_frame(text, index):
    event = StreamDelta(conversation_id="0192-c", message_id="0192-m", index=index, text=text)
    event.seq, event.ts = 123456789, "2026-12-06T17:00:00.123456Z"
    assert notification(event) == model_frame(event)


async def test_delta_frames_on_the_wire_are_the_model_frames(tmp_path):
    async with chat_env(tmp_path) as env:
        sent = await env.send("hi")
        await env.terminal(sent["assistantMessageId"])
        frames = [r if isinstance(r, bytes) else r.encode() for r in env.client.raw]
        deltas = [f for f in frames if b'"method":"assistant.stream.delta"' in f]
        assert deltas
        for frame in deltas:
            event = StreamDelta.model_validate(orjson.loads(frame)["params"])
            assert model_frame(event) == frame
