"""Unit tests of the JSON-RPC boundary: a failing handler never leaks its exception text."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

from sidecar import logs
from sidecar.protocol.methods import InitializeResult
from sidecar.rpc import dispatch

SECRET = "sk-test-THIS-IS-A-FAKE-KEY-0123456789"


async def boom(conn, params) -> InitializeResult:
    raise RuntimeError(f"upstream said: invalid key {SECRET}")


async def test_internal_error_has_no_exception_text(monkeypatch, caplog):
    logs.redact(SECRET)
    monkeypatch.setitem(dispatch._METHODS, "initialize", dispatch._wrap("initialize", boom))
    conn = SimpleNamespace(initialized=False)
    frame = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}'
    with caplog.at_level(logging.ERROR, logger="sidecar.rpc"):
        answer = json.loads(await dispatch.dispatch(frame, conn))
    assert answer == {
        "jsonrpc": "2.0",
        "error": {
            "code": -32603,
            "message": "Internal error",
            "data": {"reason": "INTERNAL_ERROR"},
        },
        "id": 1,
    }
    # The log keeps the traceback for developers, with the secret scrubbed by our formatters.
    record = caplog.records[-1]
    for formatter in (logs._ScrubbingFormatter("%(message)s"), logs._JsonFormatter()):
        text = formatter.format(record)
        assert "RuntimeError" in text and SECRET not in text and logs.REDACTED in text


async def test_validation_details_never_echo_the_input():
    conn = SimpleNamespace(initialized=True)
    frame = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "systemPrompts.create",
            "params": {"name": SECRET, "content": 5},
        }
    ).encode()
    answer = json.loads(await dispatch.dispatch(frame, conn))
    assert answer["error"]["code"] == -32602
    assert answer["error"]["data"]["errors"] == [
        {"type": "string_type", "loc": ["content"], "msg": "Input should be a valid string"}
    ]
    assert SECRET not in json.dumps(answer)


async def test_overloaded_answers_each_request_of_a_frame():
    frame = b'[{"jsonrpc":"2.0","id":1,"method":"settings.get"},{"jsonrpc":"2.0","method":"settings.get"},7]'
    answers = json.loads(dispatch.overloaded(frame))
    assert [a["id"] for a in answers] == [1, None]
    assert (
        answers[0]["error"]["data"]["reason"] == "OVERLOADED"
        and answers[0]["error"]["code"] == -32006
    )
    assert answers[1]["error"]["code"] == -32600
