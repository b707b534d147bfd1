"""Streaming through a real sidecar: per-chunk latency, TTFT overhead, throughput, cancel.

A sidecar runs as a subprocess (`python -m sidecar serve`); a fake OpenAI-compatible
provider (sidecar.dev.fakes.FakeProvider) and one WebSocket client run in this process's
event loop, all on loopback. Every chunk's text is a unique token ("@0000042; "); the
fake's write path is wrapped here (never in sidecar/dev/fakes) to stamp each token when it
is written, and the client stamps it when its delta event arrives: same process, same
clock. Prints one JSON object (progress goes to stderr):
- latency: fake writes a chunk -> the client has its delta event, p50/p99/max in ms,
  paced streams (50 chunks/s) at 1 stream and at 50 concurrent streams;
- ttft: chat.send sent -> first delta event, versus POSTing to the same fake with httpx
  -> first content chunk parsed; medians and their difference;
- throughput: the fake's chunks/s one client receives while the fake streams unpaced
  (5 x 2000 and 50 x 200 chunks; the sidecar joins the chunks of one read into fewer
  deltas, and how many deltas it sent is reported too), versus a bare `websockets`
  server (this file run with --bare-server, a separate process like the sidecar)
  pushing frames of a delta's size; with the CPU share each process used, to tell who
  the bottleneck was;
- cancel: a stream at 20 chunks/s, chat.cancel after 3 deltas -> the fake sees the
  connection closed, and -> the assistant.stream.cancelled event; medians.
Figures move with whatever else the machine runs (two cores: the sidecar and this
process take one each), so the output carries the 1-minute load average at the start.
Usage: python bench/stream.py [--quick] [--profile-sidecar FILE (cProfile stats)]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from sidecar.dev.fakes import FakeProvider, Script
from sidecar.dev.fakes.http import Exchange

TOKEN_BYTES = re.compile(rb"@(\d{7});")
TOKEN_TEXT = re.compile(r"@(\d{7});")
_tokens = itertools.count(1)
WRITTEN: dict[int, int] = {}  # token -> perf_counter_ns when the fake wrote its chunk
RECEIVED: dict[int, int] = {}  # token -> perf_counter_ns when its delta event arrived
GATE: list[asyncio.Event] = []  # while one is here, the fake holds text chunks until it is set
CLK_TCK = os.sysconf("SC_CLK_TCK")
SIDECAR_PID: list[int] = []


def log(message: str) -> None:
    print(f"[stream] {message}", file=sys.stderr, flush=True)


def tokens(n: int) -> list[str]:
    return [f"@{next(_tokens):07d}; " for _ in range(n)]


def token_ids(chunks: Iterable[str]) -> list[int]:
    return [int(TOKEN_TEXT.search(c).group(1)) for c in chunks]


def instrument_fake() -> None:
    """Stamp every token in what the fake writes, just before it goes to the socket."""
    original = Exchange.write

    async def write(self: Exchange, data: bytes) -> None:
        if data:
            found = TOKEN_BYTES.findall(data)
            if found and GATE:
                await GATE[0].wait()
            now = time.perf_counter_ns()
            for token in found:
                WRITTEN[int(token)] = now
        await original(self, data)

    Exchange.write = write  # type: ignore[method-assign]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def snapshot() -> tuple[int, float, float]:
    """(perf_counter_ns, the sidecar's CPU seconds, this process's CPU seconds)."""
    return time.perf_counter_ns(), cpu_seconds(SIDECAR_PID[0]), time.process_time()


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# --- the sidecar and its client ------------------------------------------------------


def launch(data_dir: str, profile: str | None) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    env = {**os.environ, "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "DEEPSEEK_API_KEY": ""}
    python = [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else [])]
    with open(os.path.join(data_dir, "stderr.log"), "wb") as err:
        proc = subprocess.Popen(
            [*python, "-m", "sidecar", "serve", "--data-dir", data_dir],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    return proc, orjson.loads(read_line(proc))


def read_line(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> bytes:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not sel.select(remaining):
            proc.kill()
            raise RuntimeError("no ready line within 20 s")
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            raise RuntimeError("exited before ready")
        buf += chunk
    return buf.split(b"\n", 1)[0]


def stop_sidecar(proc: subprocess.Popen[bytes], data_dir: str, *, failed: bool) -> None:
    """SIGTERM (it must exit 0); show its log when anything went wrong."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait(5)
    if failed or code != 0:
        log(f"sidecar exited {code}; the end of its log:")
        with open(os.path.join(data_dir, "stderr.log"), errors="replace") as f:
            sys.stderr.write(f.read()[-4000:])
        if not failed:
            raise RuntimeError(f"the sidecar exited {code} on SIGTERM")


class Stream:
    """What the client saw of one assistant message."""

    __slots__ = (
        "first_ns",
        "last_ns",
        "deltas",
        "chunks",
        "terminal",
        "terminal_ns",
        "done",
        "progress",
    )

    def __init__(self) -> None:
        self.first_ns = 0
        self.last_ns = 0
        self.deltas = 0
        self.chunks = 0  # the fake's chunks (tokens) the deltas carried: one delta may join several
        self.terminal = ""
        self.terminal_ns = 0
        self.done = asyncio.get_running_loop().create_future()
        self.progress = asyncio.Event()


TERMINALS = frozenset(
    {"assistant.stream.completed", "assistant.stream.cancelled", "assistant.stream.failed"}
)


class Client:
    """A lean JSON-RPC client: stamps each delta on arrival, tracks streams by message id."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.streams: dict[str, Stream] = {}
        self.delta_frame: str | bytes = b""  # one delta frame as received, for its size
        self.texts: dict[str, list[tuple[str, int]]] | None = None  # set: keep delta texts
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, token: str | None = None) -> Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        ws = await connect(url, additional_headers=headers, compression=None, max_size=None)
        return cls(ws)

    def stream(self, message_id: str) -> Stream:
        stream = self.streams.get(message_id)
        if stream is None:
            stream = self.streams[message_id] = Stream()
        return stream

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter_ns()
                msg = orjson.loads(raw)
                if "method" not in msg:
                    fut = self.pending.pop(msg.get("id"), None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                    continue
                params = msg["params"]
                kind = params["type"]
                if kind == "assistant.stream.delta":
                    found = TOKEN_TEXT.findall(params["text"])
                    for token in found:
                        RECEIVED[int(token)] = now
                    stream = self.stream(params["messageId"])
                    stream.chunks += len(found)
                    if self.texts is not None:
                        self.texts.setdefault(params["messageId"], []).append((params["text"], now))
                    if not stream.deltas:
                        stream.first_ns = now
                        self.delta_frame = raw
                    stream.deltas += 1
                    stream.last_ns = now
                    stream.progress.set()
                elif kind in TERMINALS:
                    stream = self.stream(params["messageId"])
                    stream.terminal, stream.terminal_ns = kind, now
                    if not stream.done.done():
                        stream.done.set_result(kind)
        finally:
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))

    def send(self, method: str, params: Any = None) -> asyncio.Future[Any]:
        """Send now; the future resolves to the result (or raises on an error)."""
        ident = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.pending[ident] = fut
        frame = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params is not None:
            frame["params"] = params
        data = orjson.dumps(frame).decode()

        async def go() -> Any:
            await self.ws.send(data)
            msg = await asyncio.wait_for(fut, 30)
            if "error" in msg:
                raise RuntimeError(f"{method} failed: {msg['error']}")
            return msg["result"]

        return asyncio.ensure_future(go())

    async def request(self, method: str, params: Any = None) -> Any:
        return await self.send(method, params)

    async def close(self) -> None:
        await self.ws.close()
        await self.reader


# --- phases --------------------------------------------------------------------------


async def conversations(client: Client, n: int) -> list[str]:
    # titled: an untitled conversation gets a generated title after its first reply,
    # an extra provider call that would take one of the fake's queued scripts
    created = await asyncio.gather(
        *(
            client.request("conversations.create", {"modelId": "bench", "title": f"bench {i}"})
            for i in range(n)
        )
    )
    return [c["conversation"]["id"] for c in created]


async def run_streams(
    client: Client,
    fake: FakeProvider,
    scripts: list[Script],
    timeout: float,
    *,
    gated: bool = False,
) -> tuple[list[Stream], tuple[int, float, float]]:
    """One chat.send per script, all at once, each in its own new conversation; wait for
    every terminal event. `gated`: the fake holds back every text chunk until all the
    requests have reached it (so throughput is not diluted by the sends' own cost).
    Returns the streams and a snapshot() taken as they were let go."""
    convs = await conversations(client, len(scripts))
    fake.enqueue(*scripts)
    if gated:
        GATE.append(asyncio.Event())
    try:
        expected = len(fake.requests) + len(scripts)
        sent = await asyncio.gather(
            *(client.request("chat.send", {"conversationId": c, "content": "go"}) for c in convs)
        )
        if gated:
            deadline = time.monotonic() + 30
            while len(fake.requests) < expected:  # every upstream request is in
                if time.monotonic() > deadline:
                    raise RuntimeError("the sidecar did not call the provider")
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.05)  # and every one is waiting at the gate
    finally:
        opened = snapshot()
        if GATE:
            GATE.pop().set()
    streams = [client.stream(s["assistantMessageId"]) for s in sent]
    await asyncio.wait_for(asyncio.gather(*(s.done for s in streams)), timeout)
    bad = [s.terminal for s in streams if s.terminal != "assistant.stream.completed"]
    if bad:
        raise RuntimeError(f"streams did not complete: {bad[:3]}")
    if len(fake.requests) != expected:
        raise RuntimeError("the sidecar made other provider calls: scripts went astray")
    return streams, opened


async def bench_latency(
    client: Client, fake: FakeProvider, streams: int, chunks: int, rate: float
) -> dict[str, Any]:
    """Paced streams, all sent at once: fake write -> delta event, per chunk; and the
    sidecar's CPU share over the whole phase (sends included)."""
    scripts = [Script(chunks=tokens(chunks), rate=rate) for _ in range(streams)]
    ns0, cpu0, _ = snapshot()
    await run_streams(client, fake, scripts, timeout=chunks / rate + 60)
    ns1, cpu1, _ = snapshot()
    cpu = (cpu1 - cpu0) / ((ns1 - ns0) / 1e9)
    lat = [(RECEIVED[t] - WRITTEN[t]) / 1e6 for s in scripts for t in token_ids(s.chunks or [])]
    return {
        "streams": streams,
        "chunksPerStream": chunks,
        "rate": rate,
        "samples": len(lat),
        "p50Ms": round(statistics.median(lat), 3),
        "p90Ms": round(pct(lat, 90), 3),
        "p99Ms": round(pct(lat, 99), 3),
        "maxMs": round(max(lat), 3),
        "sidecarCpuPct": round(cpu * 100),
    }


CHAT_BODY = {
    "model": "bench",
    "messages": [
        {"role": "system", "content": "You are a helpful AI assistant."},
        {"role": "user", "content": "go"},
    ],
    "stream": True,
    "stream_options": {"include_usage": True},
}


async def direct_ttft(http: httpx.AsyncClient, fake: FakeProvider) -> float:
    fake.enqueue(Script(chunks=tokens(5)))
    first = 0
    start = time.perf_counter_ns()
    async with http.stream("POST", f"{fake.base_url}/chat/completions", json=CHAT_BODY) as r:
        async for line in r.aiter_lines():  # read to the end: no disconnect at the fake
            if first or not line.startswith("data: {"):
                continue
            choices = orjson.loads(line[6:]).get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                first = time.perf_counter_ns()
    return (first - start) / 1e6


async def sidecar_ttft(client: Client, fake: FakeProvider, conversation: str) -> float:
    fake.enqueue(Script(chunks=tokens(5)))
    start = time.perf_counter_ns()
    sent = await client.request("chat.send", {"conversationId": conversation, "content": "go"})
    stream = client.stream(sent["assistantMessageId"])
    await asyncio.wait_for(stream.done, 30)
    return (stream.first_ns - start) / 1e6


async def bench_ttft(client: Client, fake: FakeProvider, tries: int) -> dict[str, Any]:
    convs = await conversations(client, tries + 1)
    via_sidecar, direct = [], []
    async with httpx.AsyncClient() as http:
        await direct_ttft(http, fake)  # open the pooled connection, as the sidecar's is
        await sidecar_ttft(client, fake, convs[-1])
        for conv in convs[:tries]:  # interleaved, so drift hits both alike
            via_sidecar.append(await sidecar_ttft(client, fake, conv))
            direct.append(await direct_ttft(http, fake))
    s, d = statistics.median(via_sidecar), statistics.median(direct)
    return {
        "tries": tries,
        "sidecarMsMedian": round(s, 3),
        "directMsMedian": round(d, 3),
        "overheadMsMedian": round(s - d, 3),
        "sidecarMsMin": round(min(via_sidecar), 3),
        "directMsMin": round(min(direct), 3),
    }


async def bench_throughput(
    client: Client, fake: FakeProvider, streams: int, chunks: int, rounds: int
) -> dict[str, Any]:
    """Unpaced streams, all let go at once: chunks/s over gate-open -> last delta (the
    sidecar joins the chunks of one read into fewer deltas: both are counted), and the
    CPU each process used meanwhile (100 = one core busy); medians over rounds."""
    rates, sidecar_cpu, bench_cpu, deltas = [], [], [], []
    for _ in range(rounds):
        scripts = [Script(chunks=tokens(chunks)) for _ in range(streams)]
        got, (ns0, cpu0, own0) = await run_streams(client, fake, scripts, timeout=90, gated=True)
        ns1, cpu1, own1 = snapshot()
        total = sum(s.chunks for s in got)
        if total != streams * chunks:
            raise RuntimeError(f"expected {streams * chunks} chunks, got {total}")
        deltas.append(sum(s.deltas for s in got))
        rates.append(total / ((max(s.last_ns for s in got) - ns0) / 1e9))
        sidecar_cpu.append((cpu1 - cpu0) / ((ns1 - ns0) / 1e9) * 100)
        bench_cpu.append((own1 - own0) / ((ns1 - ns0) / 1e9) * 100)
    return {
        "streams": streams,
        "chunksPerStream": chunks,
        "rounds": rounds,
        "chunksPerSec": round(statistics.median(rates)),
        "deltas": round(statistics.median(deltas)),
        "sidecarCpuPct": round(statistics.median(sidecar_cpu)),
        "benchCpuPct": round(statistics.median(bench_cpu)),
    }


def start_bare_server() -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--bare-server"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    return proc, int(read_line(proc))


async def bench_bare(frame: str, count: int, rounds: int) -> dict[str, Any]:
    """A bare websockets server in its own process pushes `count` copies of `frame`:
    frames/s over request sent -> last frame received; medians over rounds."""
    proc, port = start_bare_server()
    try:
        client = await Client.open(f"ws://127.0.0.1:{port}")
        message_id = orjson.loads(frame)["params"]["messageId"]
        rates, server_cpu, bench_cpu = [], [], []
        for _ in range(rounds):
            client.streams.pop(message_id, None)
            ns0, cpu0, own0 = time.perf_counter_ns(), cpu_seconds(proc.pid), time.process_time()
            await client.request("bench.push", {"count": count, "frame": frame})
            ns1, cpu1, own1 = time.perf_counter_ns(), cpu_seconds(proc.pid), time.process_time()
            stream = client.stream(message_id)
            if stream.deltas != count:
                raise RuntimeError(f"expected {count} frames, got {stream.deltas}")
            rates.append(count / ((stream.last_ns - ns0) / 1e9))
            server_cpu.append((cpu1 - cpu0) / ((ns1 - ns0) / 1e9) * 100)
            bench_cpu.append((own1 - own0) / ((ns1 - ns0) / 1e9) * 100)
        await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    return {
        "frames": count,
        "rounds": rounds,
        "framesPerSec": round(statistics.median(rates)),
        "serverCpuPct": round(statistics.median(server_cpu)),
        "benchCpuPct": round(statistics.median(bench_cpu)),
    }


def bare_server() -> int:
    """--bare-server: push frames as fast as `websockets` can, the way the sidecar's
    write loop does (one `send` per frame), then answer the request."""
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        async for raw in ws:
            msg = orjson.loads(raw)
            frame = msg["params"]["frame"]
            for _ in range(msg["params"]["count"]):
                await ws.send(frame, text=True)
            await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {}}))

    async def run() -> None:
        stop = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
        async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
            print(server.sockets[0].getsockname()[1], flush=True)
            await stop

    asyncio.run(run())
    return 0


async def bench_cancel(client: Client, fake: FakeProvider, tries: int) -> dict[str, Any]:
    convs = await conversations(client, tries)
    to_disconnect, to_event, to_response = [], [], []
    for conv in convs:
        fake.enqueue(Script(chunks=tokens(200), rate=20))
        sent = await client.request("chat.send", {"conversationId": conv, "content": "go"})
        stream = client.stream(sent["assistantMessageId"])
        while stream.deltas < 3:
            stream.progress.clear()
            await asyncio.wait_for(stream.progress.wait(), 10)
        seen = len(fake.disconnects)
        start_mono, start_ns = time.monotonic(), time.perf_counter_ns()
        cancel = client.send("chat.cancel", {"messageId": sent["assistantMessageId"]})
        deadline = start_mono + 10
        while len(fake.disconnects) <= seen:  # the next disconnect after this cancel
            await fake.wait_disconnect(deadline - time.monotonic())
        to_disconnect.append((fake.disconnects[seen] - start_mono) * 1000)
        if (await cancel) != {"cancelled": True}:
            raise RuntimeError("chat.cancel did not cancel")
        to_response.append((time.perf_counter_ns() - start_ns) / 1e6)
        if await asyncio.wait_for(stream.done, 10) != "assistant.stream.cancelled":
            raise RuntimeError(f"expected a cancelled stream, got {stream.terminal}")
        to_event.append((stream.terminal_ns - start_ns) / 1e6)
    return {
        "tries": tries,
        "rate": 20,
        "toDisconnectMsMedian": round(statistics.median(to_disconnect), 3),
        "toCancelledEventMsMedian": round(statistics.median(to_event), 3),
        "toResponseMsMedian": round(statistics.median(to_response), 3),
        "toDisconnectMsMax": round(max(to_disconnect), 3),
    }


# --- main ----------------------------------------------------------------------------


async def run(quick: bool, profile: str | None) -> dict[str, Any]:
    instrument_fake()
    chunks = 100 if quick else 300
    ttft_tries = 10 if quick else 20
    cancel_tries = 5 if quick else 10
    tp_big = 1000 if quick else 2000  # 5 streams x this; 50 streams x a tenth of it
    rounds = 3 if quick else 5
    # other work on the machine skews every figure here: say how busy it was
    result: dict[str, Any] = {"bench": "stream", "quick": quick, "loadAvg1m": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as data_dir:
        async with FakeProvider("openai-compatible") as fake:
            proc, ready = launch(data_dir, profile)
            SIDECAR_PID[:] = [proc.pid]
            try:
                client = await Client.open(ready["url"], ready["token"])
                await client.request(
                    "initialize", {"protocolVersion": 1, "clientInfo": {"name": "bench"}}
                )
                await client.request("events.subscribe", {})
                await client.request(
                    "providers.configure",
                    {"id": "local", "kind": "openai-compatible", "baseUrl": fake.base_url},
                )
                await client.request(
                    "models.upsert", {"model": {"id": "bench", "provider": "local"}}
                )
                log("warm-up")
                await run_streams(
                    client, fake, [Script(chunks=tokens(20)) for _ in range(3)], timeout=30
                )

                log(f"latency: 1 stream x {chunks} chunks at 50/s")
                one = await bench_latency(client, fake, 1, chunks, 50)
                log(f"latency: 50 streams x {chunks} chunks at 50/s")
                fifty = await bench_latency(client, fake, 50, chunks, 50)
                result["latency"] = {"oneStream": one, "fiftyStreams": fifty}

                log(f"ttft: {ttft_tries} tries each way")
                result["ttft"] = await bench_ttft(client, fake, ttft_tries)

                log(f"throughput: 5 x {tp_big} and 50 x {tp_big // 10} unpaced chunks")
                five = await bench_throughput(client, fake, 5, tp_big, rounds)
                many = await bench_throughput(client, fake, 50, tp_big // 10, rounds)
                frame = client.delta_frame
                frame = frame.decode() if isinstance(frame, bytes) else frame
                log(f"throughput: bare websockets, {5 * tp_big} frames of {len(frame)} bytes")
                bare = await bench_bare(frame, 5 * tp_big, rounds)
                result["throughput"] = {
                    "deltaFrameBytes": len(frame.encode()),
                    "fiveStreams": five,
                    "fiftyStreams": many,
                    "bareWebsockets": bare,
                    "ratioFiveStreams": round(five["chunksPerSec"] / bare["framesPerSec"], 3),
                    "ratioFiftyStreams": round(many["chunksPerSec"] / bare["framesPerSec"], 3),
                }

                log(f"cancel: {cancel_tries} tries at 20 chunks/s")
                result["cancel"] = await bench_cancel(client, fake, cancel_tries)
                await client.close()
            except BaseException:
                stop_sidecar(proc, data_dir, failed=True)
                raise
            stop_sidecar(proc, data_dir, failed=False)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller runs (under 40 s)")
    parser.add_argument(
        "--profile-sidecar", metavar="FILE", help="run the sidecar under cProfile, stats to FILE"
    )
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        return bare_server()
    start = time.perf_counter()
    result = asyncio.run(run(args.quick, args.profile_sidecar))
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
