"""The event recorder (against a real socket) and the recording checker (on handmade files)."""

from __future__ import annotations

import argparse
import asyncio
import json
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import serve

from sidecar.dev import recorder
from sidecar.dev.feed_check import RecordingReport, check_recording
from sidecar.dev.recorder import RecorderError, record

TOKEN = "s3cret-token-never-printed"
MSG = "m-1"


# --- the checker -----------------------------------------------------------------------------


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def numbered(events: list[dict[str, Any]], start: int = 1) -> list[dict[str, Any]]:
    return [{"seq": start + i, "ts": "2026-01-01T00:00:00.000Z", **e} for i, e in enumerate(events)]


def started(mid: str = MSG) -> dict[str, Any]:
    return {"type": "assistant.stream.started", "conversationId": "c-1", "messageId": mid}


def created(mid: str = MSG, role: str = "assistant") -> dict[str, Any]:
    return {
        "type": "message.created",
        "message": {"id": mid, "role": role, "status": "pending", "content": ""},
    }


def delta(index: int, text: str, mid: str = MSG) -> dict[str, Any]:
    return {"type": "assistant.stream.delta", "messageId": mid, "index": index, "text": text}


def terminal(kind: str = "completed", content: str | None = None, mid: str = MSG) -> dict[str, Any]:
    event: dict[str, Any] = {"type": f"assistant.stream.{kind}", "messageId": mid}
    if content is not None:
        event["message"] = {
            "id": mid,
            "role": "assistant",
            "status": "complete",
            "content": content,
        }
    return event


def check(tmp_path: Path, events: list[dict[str, Any]]) -> RecordingReport:
    return check_recording(write_jsonl(tmp_path / "rec.jsonl", events))


def test_good_stream(tmp_path: Path):
    events = numbered(
        [
            {"type": "conversation.created", "conversation": {"id": "c-1"}},
            created(),
            started(),
            delta(0, "Hel"),
            delta(1, "lo, "),
            delta(2, "world"),
            terminal("completed", "Hello, world"),
        ],
        start=10,
    )
    report = check(tmp_path, events)
    assert report.ok, report.problems
    assert (report.events, report.first_seq, report.last_seq) == (7, 10, 16)
    assert report.terminals == {MSG: 1}
    assert report.gaps == [] and report.duplicates == [] and report.open_streams == []
    assert report.to_dict()["ok"] is True


def test_seq_gap(tmp_path: Path):
    report = check(tmp_path, [{"type": "x", "seq": s} for s in (1, 2, 5, 6)])
    assert not report.ok
    assert report.gaps == [{"after": 2, "next": 5, "missing": 2}]
    assert any("gap" in p for p in report.problems)


def test_duplicate_seq_is_reported_and_not_counted_twice(tmp_path: Path):
    events = numbered([started(), delta(0, "a"), terminal("completed", "a")])
    report = check(tmp_path, [*events[:2], events[1], events[2], events[2]])
    assert not report.ok
    assert report.duplicates == [2, 3]
    assert report.terminals == {MSG: 1}  # the replayed terminal is not a second terminal
    assert report.gaps == []


def test_out_of_order_seq(tmp_path: Path):
    report = check(tmp_path, [{"type": "x", "seq": s} for s in (1, 3, 2, 4)])
    assert not report.ok
    assert report.gaps == [{"after": 1, "next": 3, "missing": 1}]
    assert any("out of order" in p for p in report.problems)


def test_two_terminals(tmp_path: Path):
    report = check(
        tmp_path,
        numbered([started(), delta(0, "a"), terminal("completed", "a"), terminal("failed")]),
    )
    assert not report.ok
    assert report.terminals == {MSG: 2}
    assert any("2 terminal events" in p for p in report.problems)


def test_missing_terminal_while_open_is_not_a_failure(tmp_path: Path):
    report = check(tmp_path, numbered([created(), started(), delta(0, "par"), delta(1, "tial")]))
    assert report.ok, report.problems
    assert report.open_streams == [MSG]
    assert report.terminals == {MSG: 0}


def test_missing_terminal_for_a_finished_message_is_a_failure(tmp_path: Path):
    updated = {
        "type": "message.updated",
        "message": {"id": MSG, "role": "assistant", "status": "complete", "content": "a"},
    }
    report = check(tmp_path, numbered([started(), delta(0, "a"), updated]))
    assert not report.ok
    assert report.open_streams == []
    assert any("without a terminal stream event" in p for p in report.problems)


def test_user_messages_need_no_terminal(tmp_path: Path):
    report = check(tmp_path, numbered([created("u-1", role="user")]))
    assert report.ok and report.terminals == {} and report.open_streams == []


def test_each_terminal_kind_counts(tmp_path: Path):
    events = []
    for i, kind in enumerate(("completed", "cancelled", "failed")):
        mid = f"m-{i}"
        events += [created(mid), delta(0, "x", mid), terminal(kind, "x", mid)]
    report = check(tmp_path, numbered(events))
    assert report.ok, report.problems
    assert report.terminals == {"m-0": 1, "m-1": 1, "m-2": 1}


def test_delta_index_gap(tmp_path: Path):
    report = check(
        tmp_path, numbered([started(), delta(0, "a"), delta(2, "c"), terminal("completed")])
    )
    assert not report.ok
    assert any("delta index 2" in p and "expected 1" in p for p in report.problems)


def test_delta_index_must_start_at_zero(tmp_path: Path):
    report = check(tmp_path, numbered([started(), delta(1, "b"), terminal("completed")]))
    assert not report.ok
    assert any("expected 0" in p for p in report.problems)


def test_delta_after_terminal(tmp_path: Path):
    report = check(
        tmp_path, numbered([started(), delta(0, "a"), terminal("cancelled", "a"), delta(1, "b")])
    )
    assert not report.ok
    assert any("after its assistant.stream.cancelled" in p for p in report.problems)


def test_content_mismatch(tmp_path: Path):
    report = check(
        tmp_path,
        numbered([started(), delta(0, "Hel"), delta(1, "lo"), terminal("completed", "Help")]),
    )
    assert not report.ok
    assert any(
        "differs from its deltas" in p and "first difference at 3" in p for p in report.problems
    )


def test_recording_started_mid_stream(tmp_path: Path):
    """The start and first deltas were before the recording: indexes continue, content is not compared."""
    report = check(
        tmp_path,
        numbered([delta(4, "lo"), delta(5, "!"), terminal("completed", "Hello!")], start=50),
    )
    assert report.ok, report.problems
    assert report.terminals == {MSG: 1}


def test_bad_lines(tmp_path: Path):
    path = tmp_path / "rec.jsonl"
    path.write_text('{"type": "x", "seq": 1}\n\nnot json\n[1, 2]\n{"type": "x"}\n{"seq": 2}\n')
    report = check_recording(path)
    assert not report.ok
    assert report.events == 5
    text = "\n".join(report.problems)
    assert "line 3: not JSON" in text
    assert "line 4: not a JSON object" in text
    assert "line 5: no integer seq" in text
    assert "line 6: no string type" in text


def test_empty_recording_is_ok(tmp_path: Path):
    path = tmp_path / "rec.jsonl"
    path.write_text("")
    report = check_recording(path)
    assert report.ok and report.events == 0 and report.first_seq is None


def test_run_check_prints_json_and_exits_by_verdict(tmp_path: Path, capsys):
    good = write_jsonl(
        tmp_path / "good.jsonl", numbered([started(), delta(0, "a"), terminal("completed", "a")])
    )
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"type": "x", "seq": 1}, {"type": "x", "seq": 3}])

    assert recorder.main(["check", str(good)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["events"] == 3 and out["terminals"] == {MSG: 1}

    parser = argparse.ArgumentParser()
    recorder.add_check_arguments(parser)
    assert recorder.run_check(parser.parse_args([str(bad)])) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["gaps"] == [{"after": 1, "next": 3, "missing": 1}]

    assert recorder.run_check(parser.parse_args([str(tmp_path / "missing.jsonl")])) == 2
    assert "cannot read" in capsys.readouterr().err


# --- recording against a real socket -------------------------------------------------------


def note(seq: int, event_type: str = "conversation.deleted") -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "method": event_type,
        "params": {
            "type": event_type,
            "seq": seq,
            "ts": "2026-01-01T00:00:00.000Z",
            "conversationId": f"c{seq}",
        },
    }


class FakeSidecar:
    """Answers initialize and events.subscribe, then pushes `events` (lists become batches)."""

    def __init__(
        self, events: list[Any], *, close_after: bool = True, init_error: bool = False
    ) -> None:
        self.events = events
        self.close_after = close_after
        self.init_error = init_error
        self.requests: list[dict[str, Any]] = []
        self.headers: list[str | None] = []
        self.url = ""

    def process_request(self, connection, request):
        self.headers.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return connection.respond(HTTPStatus.UNAUTHORIZED, "unauthorized\n")
        return None

    async def handler(self, ws) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            self.requests.append(msg)
            if msg["method"] == "initialize":
                if self.init_error:
                    await ws.send(
                        json.dumps(
                            {
                                "jsonrpc": "2.0",
                                "id": msg["id"],
                                "error": {
                                    "code": -32602,
                                    "message": "Invalid params",
                                    "data": {"reason": "INVALID_PARAMS"},
                                },
                            }
                        )
                    )
                    continue
                result = {"protocolVersion": 1, "sessionId": "sess-1", "lastSeq": 3}
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}))
            elif msg["method"] == "events.subscribe":
                # like a replaying server: some events go out before the response
                await ws.send(json.dumps(self.events[0]))
                await ws.send(
                    json.dumps(
                        {"jsonrpc": "2.0", "id": msg["id"], "result": {"lastSeq": 3, "replayed": 1}}
                    )
                )
                for item in self.events[1:]:
                    await ws.send(json.dumps(item))
                if self.close_after:
                    await ws.close()
                    return

    async def __aenter__(self) -> FakeSidecar:
        self._server = await serve(
            self.handler, "127.0.0.1", 0, process_request=self.process_request, compression=None
        ).__aenter__()
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_record_writes_every_notification_until_closed(tmp_path: Path):
    events = [note(1), note(2), [note(3), note(4)], note(5, "conversation.deleted")]
    out = tmp_path / "sub" / "rec.jsonl"
    async with FakeSidecar(events) as server:
        summary = await asyncio.wait_for(record(server.url, TOKEN, out, since=0), 10)
    assert [line["seq"] for line in read_lines(out)] == [1, 2, 3, 4, 5]
    assert read_lines(out)[0] == note(1)["params"]
    assert all(line.endswith("}") for line in out.read_text().splitlines())
    assert summary.stopped == "closed"
    assert (summary.events, summary.first_seq, summary.last_seq) == (5, 1, 5)
    assert summary.session_id == "sess-1"
    assert summary.subscribe_result == {"lastSeq": 3, "replayed": 1}
    assert server.headers == [f"Bearer {TOKEN}"]
    init, sub = server.requests
    assert init["method"] == "initialize" and init["params"] == {
        "protocolVersion": 1,
        "clientInfo": {"name": "recorder"},
    }
    assert sub["method"] == "events.subscribe" and sub["params"] == {"since": 0}
    assert check_recording(out).ok


async def test_record_appends_and_omits_since_when_not_given(tmp_path: Path):
    out = tmp_path / "rec.jsonl"
    async with FakeSidecar([note(1), note(2)]) as server:
        await record(server.url, TOKEN, out)
        await record(server.url, TOKEN, out)
    assert [line["seq"] for line in read_lines(out)] == [1, 2, 1, 2]
    assert server.requests[1]["params"] == {}
    assert check_recording(out).duplicates == [1, 2]


async def test_record_stops_when_the_predicate_says_so(tmp_path: Path):
    out = tmp_path / "rec.jsonl"
    async with FakeSidecar([note(s) for s in range(1, 20)], close_after=False) as server:
        summary = await asyncio.wait_for(
            record(server.url, TOKEN, out, stop_when=lambda e: e["seq"] == 3), 10
        )
    assert [line["seq"] for line in read_lines(out)] == [1, 2, 3]
    assert summary.stopped == "predicate"


async def test_record_stops_after_the_duration(tmp_path: Path):
    out = tmp_path / "rec.jsonl"
    async with FakeSidecar([note(1), note(2)], close_after=False) as server:
        loop = asyncio.get_running_loop()
        began = loop.time()
        summary = await asyncio.wait_for(record(server.url, TOKEN, out, stop_after=0.3), 10)
        assert 0.25 <= loop.time() - began < 5
    assert [line["seq"] for line in read_lines(out)] == [1, 2]
    assert summary.stopped == "duration"


async def test_record_stops_on_the_stop_event(tmp_path: Path):
    out = tmp_path / "rec.jsonl"
    stop = asyncio.Event()
    async with FakeSidecar([note(1)], close_after=False) as server:
        task = asyncio.create_task(record(server.url, TOKEN, out, stop_event=stop))
        for _ in range(200):
            if out.exists() and out.read_text():
                break
            await asyncio.sleep(0.01)
        stop.set()
        summary = await asyncio.wait_for(task, 10)
    assert summary.stopped == "signal" and summary.events == 1


async def test_record_refused_token_raises_without_the_token(tmp_path: Path):
    async with FakeSidecar([note(1)]) as server:
        with pytest.raises(RecorderError) as info:
            await record(server.url, "wrong-" + TOKEN, tmp_path / "rec.jsonl")
    assert "401" in str(info.value)
    assert TOKEN not in str(info.value)


async def test_record_initialize_error_raises(tmp_path: Path):
    async with FakeSidecar([note(1)], init_error=True) as server:
        with pytest.raises(RecorderError, match="initialize failed: -32602.*INVALID_PARAMS"):
            await record(server.url, TOKEN, tmp_path / "rec.jsonl")


async def test_record_cannot_connect(tmp_path: Path):
    async with FakeSidecar([]) as server:
        url = server.url
    with pytest.raises(RecorderError, match="cannot connect"):
        await record(url, TOKEN, tmp_path / "rec.jsonl", open_timeout=2)


def record_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    recorder.add_record_arguments(parser)
    return parser.parse_args(list(argv))


async def test_run_record_cli_never_prints_the_token(tmp_path: Path, capsys, monkeypatch):
    out = tmp_path / "rec.jsonl"
    async with FakeSidecar([note(1), note(2)]) as server:
        args = record_args(
            "--url",
            server.url,
            "--token",
            TOKEN,
            "--out",
            str(out),
            "--since",
            "0",
            "--duration",
            "5",
        )
        assert await recorder.run_record(args) == 0
        assert len(read_lines(out)) == 2

        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        args = record_args("--url", server.url, "--token-file", str(token_file), "--out", str(out))
        assert await recorder.run_record(args) == 0

        monkeypatch.setenv(recorder.TOKEN_ENV, TOKEN)
        assert await recorder.run_record(record_args("--url", server.url, "--out", str(out))) == 0

        monkeypatch.setenv(recorder.TOKEN_ENV, "wrong-" + TOKEN)
        assert await recorder.run_record(record_args("--url", server.url, "--out", str(out))) == 1

        monkeypatch.delenv(recorder.TOKEN_ENV)
        assert await recorder.run_record(record_args("--url", server.url, "--out", str(out))) == 2
    captured = capsys.readouterr()
    assert "recorded 2 events (seq 1..2)" in captured.err
    assert "401" in captured.err and "no token" in captured.err
    assert TOKEN not in captured.out + captured.err


def test_record_arguments_validate():
    with pytest.raises(SystemExit):
        record_args("--url", "ws://x", "--out", "o", "--since", "-1")
    with pytest.raises(SystemExit):
        record_args("--url", "ws://x", "--out", "o", "--duration", "0")
    with pytest.raises(SystemExit):
        record_args("--url", "ws://x", "--out", "o", "--token", "a", "--token-file", "f")
    args = record_args("--url", "ws://x", "--out", "o", "--since", "7", "--duration", "1.5")
    assert (args.since, args.duration, args.out) == (7, 1.5, Path("o"))
