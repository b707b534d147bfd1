"""Attack surface: nobody without the token, from a foreign page or through a rebinding
host gets in; no frame crashes the sidecar or changes what it stores.

- handshakes: no token, wrong tokens, foreign Origins (`null`, `file://`, look-alikes
  of the Tauri origins), foreign Host headers; the count accepted (101) must be 0;
- frames: an oversized one (closed with 1009), deeply nested ones, a batch of 300,000
  calls (refused whole, while another client is answered at once);
- fuzz: FRAMES generated frames (tests/soak/fuzz.py) through initialized connections;
  every request must be answered with an error or a read, none with an internal error,
  and the database and the event feed must not change;
and the process must be up at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import connect

from sidecar.rpc.api import METHODS
from tests.soak.common import Feed, Run
from tests.soak.fuzz import READ_ONLY, Frames
from tests.test_transport import handshake

WINDOW = 40  # fuzz frames sent before waiting for a marker answer
CONNECTIONS = 3
READ_RESULTS = {
    frozenset(METHODS[name].result.model_json_schema(by_alias=True)["properties"])
    for name in (*READ_ONLY, "initialize")
}


def attempts(port: int, token: str) -> list[tuple[str, dict[str, str], str]]:
    """(category, headers, path) of upgrades that must all be refused."""
    host = {"Host": f"127.0.0.1:{port}"}
    auth = {**host, "Authorization": f"Bearer {token}"}
    out: list[tuple[str, dict[str, str], str]] = [
        ("noToken", host, "/"),
        ("noToken", {**host, "Authorization": "Bearer"}, "/"),
        ("noToken", {**host, "Authorization": ""}, "/?token="),
    ]
    for wrong in (
        "wrong",
        token[:-1],
        token + "x",
        token.upper(),
        " " + token + "x",
        token[: len(token) // 2],
    ):
        out += [
            ("wrongToken", {**host, "Authorization": f"Bearer {wrong}"}, "/"),
            ("wrongToken", host, f"/?token={wrong}"),
        ]
    out.append(("wrongToken", {**host, "Authorization": f"Basic {token}"}, "/"))
    out.append(("wrongToken", {**host, "Authorization": f"Token {token}"}, "/"))
    for origin in (
        "null",
        "file://",
        "file:///index.html",
        "tauri://localhost.evil.example",
        "http://tauri.localhost.evil.example",
        "https://tauri.localhost.evil.example",
        "tauri://evil.example",
        "tauri://localhost:1420",
        "https://tauri.localhost:443",
        "TAURI://LOCALHOST",
        "tauri://localhost/",
        "http://localhost",
        f"http://127.0.0.1:{port}",
        "https://evil.example",
        "chrome-extension://abcdefghijklmnop",
    ):
        out.append(("foreignOrigin", {**auth, "Origin": origin}, "/"))
        out.append(("foreignOrigin", {**host, "Origin": origin}, f"/?token={token}"))
    for bad_host in (
        "evil.example",
        f"evil.example:{port}",
        f"127.0.0.1.evil.example:{port}",
        f"localhost.evil.example:{port}",
        f"127.0.0.1:{port + 1}",
        "127.0.0.1",
        "localhost",
        f"0.0.0.0:{port}",
        f"127.0.0.2:{port}",
        f"[::ffff:127.0.0.1]:{port}",
        "",
    ):
        headers = {k: v for k, v in auth.items() if k != "Host"} | {"Host": bad_host}
        out.append(("foreignHost", headers, "/"))
    return out


async def run(run: Run, *, rounds: int = 10, frames: int = 100_000) -> dict[str, Any]:
    data = run.root / "attack"
    sidecar = run.launch(data)
    setup = await Feed.connect(run, sidecar)
    ids = [
        (await setup.request("conversations.create", {"title": f"keep {i}"}))["conversation"]["id"]
        for i in range(3)
    ]
    await setup.request("systemPrompts.create", {"name": "p", "content": "be brief"})
    last_seq = setup.last_seq
    await setup.close()
    before = dump(data / "sidecar.db")

    tried: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    for _ in range(rounds):
        for category, headers, path in attempts(sidecar.port, run.token):
            tried[category] += 1
            with contextlib.suppress(OSError, IndexError, ValueError):  # refused outright: fine
                if await asyncio.to_thread(handshake, sidecar.port, headers, path) == 101:
                    accepted[category] += 1

    frame_figures = await hostile_frames(run, sidecar)
    fuzz = await fuzz_run(run, sidecar, ids, frames)

    probe = await Feed.connect(run, sidecar)
    alive = (await probe.request("settings.get")) is not None
    after_seq = (await probe.request("initialize", {"protocolVersion": 1}))["lastSeq"]
    await probe.close()
    changed = int(dump(data / "sidecar.db") != before)
    assert sidecar.terminate() == 0
    return {
        "handshakes": {"tried": sum(tried.values()), **dict(tried)},
        "frames": frame_figures,
        "fuzz": fuzz,
        "mustBeZero": {
            "handshakesAccepted": sum(accepted.values()),
            "sidecarDown": int(not alive),
            "fuzzInternalErrors": fuzz["internalErrors"],
            "fuzzUnanswered": fuzz["unanswered"],
            "fuzzWritesAnswered": fuzz["writesAnswered"],
            "stateChanges": changed + int(after_seq != last_seq),
            "framesNotRefused": frame_figures["notRefused"],
        },
    }


def dump(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
        return list(con.iterdump())


async def open_ws(run: Run, sidecar: Any) -> Any:
    ws = await connect(
        sidecar.url,
        additional_headers={"Authorization": f"Bearer {run.token}"},
        max_size=None,
        compression=None,
    )
    await ws.send(
        '{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":1}}'
    )
    run.scanner.append(await ws.recv())
    return ws


async def hostile_frames(run: Run, sidecar: Any) -> dict[str, Any]:
    """Oversized, deeply nested, and a batch of 300,000 calls while another client waits."""
    not_refused = 0
    ws = await open_ws(run, sidecar)
    await ws.send("x" * (16 * 1024 * 1024 + 1))
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            run.scanner.append(await asyncio.wait_for(ws.recv(), 30))
    oversized_close = ws.close_code
    not_refused += int(oversized_close != 1009)

    ws = await open_ws(run, sidecar)
    for n in (1000, 100_000, 1_000_000):
        for frame in ("[" * n + "]" * n, '{"a":' * n + "1" + "}" * n):
            await ws.send(frame)
            answer = await asyncio.wait_for(ws.recv(), 60)
            run.scanner.append(answer)
            not_refused += int('"error"' not in answer)
    calls = ",".join(['{"jsonrpc":"2.0","id":1,"method":"settings.get"}'] * 300_000)
    probe = await Feed.connect(run, sidecar)
    started = time.monotonic()
    await ws.send(f"[{calls}]")
    await probe.request("settings.get")
    probe_ms = round((time.monotonic() - started) * 1000, 1)
    answer = await asyncio.wait_for(ws.recv(), 60)
    run.scanner.append(answer)
    batch_refused = '"INVALID_REQUEST"' in answer and len(answer) < 1000
    not_refused += int(not batch_refused)
    await probe.close()
    await ws.close()
    return {
        "oversizedCloseCode": oversized_close,
        "nestedFramesAnswered": 6,
        "hugeBatchRefused": batch_refused,
        "otherClientAnsweredDuringHugeBatchMs": probe_ms,
        "notRefused": not_refused,
    }


async def fuzz_run(run: Run, sidecar: Any, ids: list[str], total: int) -> dict[str, Any]:
    """Send generated frames over CONNECTIONS connections at once (one builds its next
    window while the sidecar answers the others) until `total` reached the dispatcher:
    frames refused with OVERLOADED (the sidecar shedding load, as it should) do not count."""
    codes: Counter[str] = Counter()
    figures = {"frames": 0, "internalErrors": 0, "unanswered": 0, "writesAnswered": 0}
    first_internal: list[str] = []
    started = time.monotonic()

    async def one(seed: int, count: int) -> None:
        ws = await open_ws(run, sidecar)
        generated = iter(Frames(seed=seed, ids=ids))
        done = window = 0
        mine: Counter[str] = Counter()  # OVERLOADED answers never reached the dispatcher
        while done - mine["OVERLOADED"] < count:
            sent = [next(generated) for _ in range(WINDOW)]
            for frame in sent:
                await ws.send(frame)
            done += len(sent)
            window += 1
            marker = f"marker-{window}"
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": marker, "method": "settings.get"}))
            try:  # answers may overtake each other; the marker closes the window
                while True:
                    raw = await asyncio.wait_for(ws.recv(), 30)
                    run.scanner.append(raw)
                    answer = json.loads(raw)
                    if isinstance(answer, dict) and answer.get("id") == marker:
                        break
                    for item in answer if isinstance(answer, list) else [answer]:
                        tally(item, mine, figures, first_internal, sent)
            except (TimeoutError, websockets.ConnectionClosed):
                figures["unanswered"] += 1  # the connection died or hung: reconnect, go on
                ws = await open_ws(run, sidecar)
        with contextlib.suppress(TimeoutError):  # stragglers of the last window
            while True:
                raw = await asyncio.wait_for(ws.recv(), 1.0)
                run.scanner.append(raw)
                answer = json.loads(raw)
                for item in answer if isinstance(answer, list) else [answer]:
                    tally(item, mine, figures, first_internal, [])
        figures["frames"] += done - mine["OVERLOADED"]
        codes.update(mine)
        await ws.close()

    share = -(-total // CONNECTIONS)
    await asyncio.gather(
        *(one(seed, min(share, total - seed * share)) for seed in range(CONNECTIONS))
    )
    seconds = time.monotonic() - started
    return {
        **figures,
        "seconds": round(seconds, 1),
        "framesPerSecond": round(figures["frames"] / seconds),
        "answers": dict(codes.most_common()),
        "firstInternalError": first_internal[:1],
    }


def tally(
    item: Any,
    codes: Counter[str],
    figures: dict[str, int],
    first_internal: list[str],
    window: list[Any],
) -> None:
    if not isinstance(item, dict):
        codes["notAnObject"] += 1
        return
    if "result" in item:
        codes["result"] += 1
        # Only reads may succeed; a result to a write would be a state change.
        if not isinstance(item["result"], dict) or frozenset(item["result"]) not in READ_RESULTS:
            figures["writesAnswered"] += 1
        return
    reason = (item.get("error", {}).get("data") or {}).get("reason", "?")
    codes[reason] += 1
    if reason == "INTERNAL_ERROR":
        figures["internalErrors"] += 1
        if not first_internal:
            first_internal.append(repr(window)[:600])
