"""Unit tests of the JSON-RPC boundary: a failing handler never leaks its exception text."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

from sidecar import logs
from sidecar.protocol.methods import InitializeParams, InitializeResult
from sidecar.rpc import dispatch
from sidecar.rpc.method import Family
from sidecar.rpc.session import Session

SECRET = "sk-test-THIS-IS-A-FAKE-KEY-0123456789"


class Peer:
    """A transport that keeps what the session sends."""

    key = "peer"

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)

    def subscribe(self, since: int | None) -> int:
        return 0


def session(*, initialized: bool) -> Session:
    services = SimpleNamespace(config=SimpleNamespace(max_inflight=4))
    s = Session(services, Peer())  # type: ignore[arg-type]
    if initialized:
        s.initialize()
    return s


async def test_internal_error_has_no_exception_text(monkeypatch, caplog):
    logs.redact(SECRET)
    family = Family()

    @family("initialize", "fails", before_initialize=True)
    async def boom(session: Session, p: InitializeParams) -> InitializeResult:
        raise RuntimeError(f"upstream said: invalid key {SECRET}")

    monkeypatch.setitem(dispatch.TABLE, "initialize", dispatch._serve(family["initialize"]))
    frame = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}'
    with caplog.at_level(logging.ERROR, logger="sidecar.rpc"):
        answer = json.loads(await dispatch.dispatch(frame, session(initialized=False)))
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
    frame = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "systemPrompts.create",
            "params": {"name": SECRET, "content": 5},
        }
    ).encode()
    answer = json.loads(await dispatch.dispatch(frame, session(initialized=True)))
    assert answer["error"]["code"] == -32602
    assert answer["error"]["data"]["errors"] == [
        {"type": "string_type", "loc": ["content"], "msg": "Input should be a valid string"}
    ]
    assert SECRET not in json.dumps(answer)


async def test_a_batch_is_answered_in_its_order_each_element_on_its_own():
    frame = json.dumps(
        [
            {"jsonrpc": "2.0", "id": "a", "method": "nope.missing"},
            7,
            {"jsonrpc": "2.0", "method": "settings.get"},  # a notification: no answer
            {"jsonrpc": "2.0", "id": "b", "method": "tools.list", "params": [1]},
            {"jsonrpc": "2.0", "id": "c", "method": "x", "extra": 1},
        ]
    ).encode()
    answers = json.loads(await dispatch.dispatch(frame, session(initialized=True)))
    assert [(a["id"], a["error"]["code"], a["error"]["data"]) for a in answers] == [
        ("a", -32601, {"reason": "METHOD_NOT_FOUND", "method": "nope.missing"}),
        (None, -32600, {"reason": "INVALID_REQUEST"}),
        (
            "b",
            -32602,
            {
                "reason": "INVALID_PARAMS",
                "errors": [{"loc": [], "msg": "params must be an object (by-name)"}],
            },
        ),
        ("c", -32600, {"reason": "INVALID_REQUEST"}),
    ]


async def test_before_initialize_only_initialize_is_served():
    frame = b'{"jsonrpc":"2.0","id":3,"method":"settings.get"}'
    answer = json.loads(await dispatch.dispatch(frame, session(initialized=False)))
    assert answer["error"] == {
        "code": -32005,
        "message": "Call initialize first",
        "data": {"reason": "NOT_INITIALIZED"},
    }


def test_overloaded_answers_each_request_of_a_frame():
    frame = b'[{"jsonrpc":"2.0","id":1,"method":"settings.get"},{"jsonrpc":"2.0","method":"settings.get"},7]'
    answers = json.loads(dispatch.refuse(dispatch.read(frame)[0]))
    assert [a["id"] for a in answers] == [1, None]
    assert (
        answers[0]["error"]["data"]["reason"] == "OVERLOADED"
        and answers[0]["error"]["code"] == -32006
    )
    assert answers[1]["error"]["code"] == -32600


async def test_a_session_refuses_past_its_in_flight_limit_at_once():
    s = session(initialized=True)
    s.receive(json.dumps([{"jsonrpc": "2.0", "id": i, "method": "x"} for i in range(5)]))
    (answer,) = s._peer.sent  # type: ignore[attr-defined]
    assert json.loads(answer)["error"]["data"] == {
        "reason": "INVALID_REQUEST",
        "detail": "a batch may hold at most 4 requests",
    }
