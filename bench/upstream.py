"""The sidecar against an upstream in its own process that writes one SSE event per write.

bench/stream.py runs its fake provider inside the measuring process; an unpaced fake
there writes a whole stream without yielding, so the sidecar reads many events per
socket read. A real provider sends one event per write, spread out. This bench
starts such an upstream (this file with --serve: a bare asyncio HTTP/1.1 server
speaking OpenAI's chat-completions SSE, one `transport.write` per event, chunked) and
reads it twice in the same run: directly with httpx (what any client pays), and
through a sidecar subprocess over its WebSocket. Every chunk's text carries the
upstream's perf_counter_ns at the write (CLOCK_MONOTONIC: one clock for every process
on the machine), so each reader stamps its arrival against the same clock.

Phases (one JSON object on stdout, progress on stderr):
- fullSpeed: 50 streams, unpaced (the upstream yields to its loop after each write, so
  streams interleave): chunks/s (first upstream write -> last arrival), CPU per chunk
  (the sidecar's from /proc/PID/stat utime+stime; the direct reader's own), the rate
  ratio sidecar / direct;
- paced: 50 streams x 100 chunks/s: arrival latency p50/p99/max for each reader, the
  sidecar's added latency (its percentile minus direct's), the spread of per-stream
  p99s (a starved stream shows there), CPU per chunk;
- setup: the sidecar's CPU for one chat.send of a 1-chunk reply (request, store, events);
- ttft: chat.send (into a conversation with one exchange already, stored by chat.record,
  with a clientRequestId as the app's client sends it) -> first delta vs POST -> first
  content chunk, interleaved; and the
  first chat.send after a fresh launch vs later ones made the same way, each after a
  pause of PAUSE seconds (a person's messages come after a pause too, and waking a
  process that slept costs on its own: back-to-back sends would make any first one look
  slow), also reported against the back-to-back ones, and the same ratio for the direct
  reader: its first request on a new connection against later ones, each after the same
  pause (what a new connection costs any client); and the added time again with an
  upstream that takes THINK ms before it answers, as every real model does (what the
  sidecar does while the model reads the prompt is not on the path to the first token);
- peers (BENCH_PEERS=litellm): the same full-speed and paced phases through a LiteLLM
  proxy, installed on demand into .venv-bench-litellm; skipped with a note otherwise.
Figures move with the machine's load: the output carries the 1-minute load average.
Usage: python bench/upstream.py [--quick] [--profile-sidecar FILE] [--py-spy FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx
import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stream import CLK_TCK, Client, cpu_seconds, launch, log, pct, read_line, stop_sidecar  # noqa: E402

STAMP = re.compile(r"@(\d+);")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THINK = 20  # ms an upstream takes to answer in the ttft phase's second half
PAUSE = 1.0  # s before the first chat.send after launch, and before each one it is compared with


# --- the upstream (its own process) ---------------------------------------------------


def serve_upstream() -> int:
    """--serve: an OpenAI-compatible streaming endpoint. The last message's content says
    what to send: "n=<chunks> rate=<per second, 0 unpaced> think=<ms before the answer>"."""

    def event(obj: dict[str, Any]) -> bytes:
        data = b"data: " + orjson.dumps(obj) + b"\n\n"
        return b"%x\r\n%s\r\n" % (len(data), data)

    def chunk(text: str | None, finish: str | None = None) -> dict[str, Any]:
        delta = {"content": text} if text is not None else {}
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "bench",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    usage = {**chunk(None), "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1}}
    tail = event(usage) + event_raw(b"[DONE]") + b"0\r\n\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in header.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = orjson.loads(await reader.readexactly(length)) if length else {}
                if b"/models" in header.split(b"\r\n", 1)[0]:
                    data = b'{"object":"list","data":[{"id":"bench"}]}'
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n%s" % (len(data), data)
                    )
                    continue
                content = body["messages"][-1]["content"]
                if isinstance(content, list):
                    content = " ".join(p.get("text", "") for p in content)
                found = dict(re.findall(r"(\w+)=(\d+)", content))
                n, rate = int(found.get("n", 5)), int(found.get("rate", 0))
                if think := int(found.get("think", 0)):
                    await asyncio.sleep(think / 1000)  # a real model reads the prompt first
                writer.write(head)
                start = time.perf_counter()
                for i in range(n):
                    if rate:
                        wait = start + i / rate - time.perf_counter()
                        if wait > 0:
                            await asyncio.sleep(wait)
                    text = f"@{time.perf_counter_ns()}; "
                    writer.write(event(chunk(text)))  # one event, one write
                    await writer.drain()
                    if not rate:
                        await asyncio.sleep(0)  # let the other streams write theirs
                writer.write(event(chunk(None, "stop")) + tail)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await stop

    asyncio.run(run())
    return 0


def event_raw(data: bytes) -> bytes:
    payload = b"data: " + data + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def start_upstream() -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # (its connections' tasks, cancelled as it stops)
    )
    return proc, f"http://127.0.0.1:{int(read_line(proc))}/v1"


# --- readers ----------------------------------------------------------------------------


class Arrivals:
    """Chunks seen by one reader in one phase: per stream, (written ns, arrived ns)."""

    def __init__(self, streams: int) -> None:
        self.per_stream: list[list[tuple[int, int]]] = [[] for _ in range(streams)]

    def add(self, stream: int, text: str, now: int) -> None:
        for stamp in STAMP.findall(text):
            self.per_stream[stream].append((int(stamp), now))

    def figures(self, expected: int) -> dict[str, Any]:
        pairs = [p for s in self.per_stream for p in s]
        if len(pairs) != expected:
            raise RuntimeError(f"expected {expected} chunks, saw {len(pairs)}")
        lat = [(a - w) / 1e6 for w, a in pairs]
        span = (max(a for _, a in pairs) - min(w for w, _ in pairs)) / 1e9
        p99s = [pct([(a - w) / 1e6 for w, a in s], 99) for s in self.per_stream if len(s) > 1]
        return {
            "chunks": len(pairs),
            "chunksPerSec": round(len(pairs) / span),
            "p50Ms": round(statistics.median(lat), 3),
            "p99Ms": round(pct(lat, 99), 3),
            "maxMs": round(max(lat), 3),
            "streamP99MsMin": round(min(p99s), 3),
            "streamP99MsMax": round(max(p99s), 3),
        }


def body(n: int, rate: int, think: int = 0) -> dict[str, Any]:
    return {
        "model": "bench",
        "messages": [{"role": "user", "content": f"n={n} rate={rate} think={think}"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def direct_stream(
    http: httpx.AsyncClient,
    url: str,
    n: int,
    rate: int,
    arrivals: Arrivals,
    i: int,
    think: int = 0,
) -> int:
    """Read one stream as a plain httpx client would: lines, JSON per data line.
    Returns perf_counter_ns at the first content chunk."""
    first = 0
    request = body(n, rate, think)
    async with http.stream("POST", f"{url}/chat/completions", json=request) as r:
        async for line in r.aiter_lines():
            if not line.startswith("data: {"):
                continue
            choices = orjson.loads(line[6:]).get("choices") or [{}]
            text = choices[0].get("delta", {}).get("content")
            if text:
                now = time.perf_counter_ns()
                first = first or now
                arrivals.add(i, text, now)
    return first


async def direct_phase(
    http: httpx.AsyncClient, url: str, streams: int, n: int, rate: int
) -> dict[str, Any]:
    arrivals = Arrivals(streams)
    cpu0 = time.process_time()
    await asyncio.gather(*(direct_stream(http, url, n, rate, arrivals, i) for i in range(streams)))
    result = arrivals.figures(streams * n)
    result["readerCpuMicrosPerChunk"] = round((time.process_time() - cpu0) / (streams * n) * 1e6, 1)
    return result


class Sidecar:
    """A sidecar subprocess configured with the upstream, and a client of it."""

    def __init__(self, proc: subprocess.Popen[bytes], data_dir: str, client: Client) -> None:
        self.proc, self.data_dir, self.client = proc, data_dir, client
        self.convs = 0

    @classmethod
    async def start(cls, data_dir: str, url: str, profile: str | None) -> Sidecar:
        proc, ready = launch(data_dir, profile)
        client = await Client.open(ready["url"], ready["token"])
        await client.request("initialize", {"protocolVersion": 1, "clientInfo": {"name": "b"}})
        await client.request("events.subscribe", {})
        await client.request(
            "providers.configure", {"id": "up", "kind": "openai-compatible", "baseUrl": url}
        )
        await client.request("models.upsert", {"model": {"id": "bench", "provider": "up"}})
        return cls(proc, data_dir, client)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def sys_cpu(self) -> float:
        """Of which in the kernel (stime): system calls, wake-ups."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[12]) / CLK_TCK

    def threads(self) -> dict[str, float]:
        """CPU seconds per thread name (the event loop is the one named like the process)."""
        out: dict[str, float] = {}
        root = f"/proc/{self.proc.pid}/task"
        for tid in os.listdir(root):
            try:
                with open(f"{root}/{tid}/stat") as f:
                    head, rest = f.read().rsplit(")", 1)
            except OSError:
                continue
            name = "loop" if tid == str(self.proc.pid) else head.split("(", 1)[1]
            fields = rest.split()
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
        return out

    async def conversations(self, n: int) -> list[str]:
        # titled: an untitled one gets a generated title, an extra upstream call
        created = await asyncio.gather(
            *(
                self.client.request(
                    "conversations.create", {"modelId": "bench", "title": f"b{self.convs + i}"}
                )
                for i in range(n)
            )
        )
        self.convs += n
        return [c["conversation"]["id"] for c in created]

    async def histories(self, convs: list[str]) -> None:
        """One earlier exchange in each conversation, as a person's messages have: stored
        with chat.record, so no provider call is made before the first chat.send."""
        reply = {"content": "Earlier answer.", "modelId": "bench", "status": "complete"}
        await asyncio.gather(
            *(
                self.client.request(
                    "chat.record",
                    {"conversationId": c, "content": "Earlier question", "reply": reply},
                )
                for c in convs
            )
        )

    async def send(self, conv: str, n: int, rate: int, think: int = 0) -> tuple[int, str]:
        """chat.send as the app's client sends it (with a clientRequestId); returns
        (perf_counter_ns before sending, assistant message id)."""
        start = time.perf_counter_ns()
        params = {
            "conversationId": conv,
            "content": f"n={n} rate={rate} think={think}",
            "clientRequestId": secrets.token_hex(8),
        }
        sent = await self.client.request("chat.send", params)
        return start, sent["assistantMessageId"]

    async def phase(self, streams: int, n: int, rate: int) -> dict[str, Any]:
        convs = await self.conversations(streams)
        arrivals = Arrivals(streams)
        ids: dict[str, int] = {}
        client = self.client
        texts = client.texts = {}
        cpu0, threads0, sys0 = self.cpu(), self.threads(), self.sys_cpu()
        sent = await asyncio.gather(*(self.send(c, n, rate) for c in convs))
        for i, (_, mid) in enumerate(sent):
            ids[mid] = i
        await self.wait([mid for _, mid in sent])
        cpu1, threads1, sys1 = self.cpu(), self.threads(), self.sys_cpu()
        for mid, i in ids.items():
            for text, now in texts.pop(mid, []):
                arrivals.add(i, text, now)
        result = arrivals.figures(streams * n)
        result["sidecarCpuMicrosPerChunk"] = round((cpu1 - cpu0) / (streams * n) * 1e6, 1)
        result["deltaEvents"] = sum(client.streams[mid].deltas for mid in ids)
        # what each of the people sending at once waits for their first words, and for
        # the whole reply (chat.send -> first delta, -> last delta)
        firsts = [(client.streams[mid].first_ns - start) / 1e6 for start, mid in sent]
        lasts = [(client.streams[mid].last_ns - start) / 1e6 for start, mid in sent]
        result["sendToFirstDeltaMsP50"] = round(statistics.median(firsts), 2)
        result["sendToFirstDeltaMsMax"] = round(max(firsts), 2)
        result["sendToLastDeltaMsMax"] = round(max(lasts), 2)
        result["kernelMicrosPerChunk"] = round((sys1 - sys0) / (streams * n) * 1e6, 1)
        per_thread = {k: v - threads0.get(k, 0.0) for k, v in threads1.items()}
        loop = per_thread.pop("loop", 0.0)
        result["loopThreadMicrosPerChunk"] = round(loop / (streams * n) * 1e6, 1)
        result["otherThreadsMicrosPerChunk"] = round(
            sum(per_thread.values()) / (streams * n) * 1e6, 1
        )
        return result

    async def wait(self, message_ids: list[str]) -> None:
        streams = [self.client.stream(m) for m in message_ids]
        await asyncio.wait_for(asyncio.gather(*(s.done for s in streams)), 120)
        bad = [s.terminal for s in streams if s.terminal != "assistant.stream.completed"]
        if bad:
            raise RuntimeError(f"streams did not complete: {bad[:3]}")

    async def ttft(self, conv: str, think: int = 0) -> float:
        start, mid = await self.send(conv, 5, 0, think)
        stream = self.client.stream(mid)
        await self.wait([mid])
        return (stream.first_ns - start) / 1e6

    async def stop(self, failed: bool = False) -> None:
        if not failed:
            await self.client.close()
        stop_sidecar(self.proc, self.data_dir, failed=failed)


async def setup_cost(sidecar: Sidecar, tries: int) -> float:
    """The sidecar's CPU (ms) for one chat.send of a 1-chunk reply, sent one after another
    (/proc counts in clock ticks: the total over `tries` divided)."""
    convs = await sidecar.conversations(tries)
    cpu0 = sidecar.cpu()
    for conv in convs:
        _, mid = await sidecar.send(conv, 1, 0)
        await sidecar.wait([mid])
    return round((sidecar.cpu() - cpu0) * 1000 / tries, 2)


async def direct_ttft(http: httpx.AsyncClient, url: str, think: int = 0) -> float:
    start = time.perf_counter_ns()
    first = await direct_stream(http, url, 5, 0, Arrivals(1), 0, think)
    return (first - start) / 1e6


# --- the LiteLLM peer -------------------------------------------------------------------


def litellm_python() -> str | None:
    """A venv with LiteLLM's proxy (installed on first use), or None with a note."""
    venv = os.path.join(ROOT, ".venv-bench-litellm")
    python = os.path.join(venv, "bin", "python")
    try:
        if not os.path.exists(os.path.join(venv, ".installed")):
            log("installing litellm[proxy] into .venv-bench-litellm (once)")
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run(
                [python, "-m", "pip", "install", "--quiet", "litellm[proxy]"],
                check=True,
                timeout=900,
            )
            open(os.path.join(venv, ".installed"), "w").close()
        return python
    except (subprocess.SubprocessError, OSError) as exc:
        log(f"note: LiteLLM skipped: it could not be installed ({exc})")
        return None


def spawn(
    command: list[str], log_file: str = os.devnull, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with open(log_file, "wb") as err:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env)


async def litellm_peer(url: str, streams: int, n: int, rate_n: int) -> dict[str, Any] | None:
    python = litellm_python()
    if python is None:
        return None
    with tempfile.TemporaryDirectory(prefix="bench-litellm-") as tmp:
        config = os.path.join(tmp, "config.yaml")
        with open(config, "w") as f:
            f.write(
                "model_list:\n  - model_name: bench\n    litellm_params:\n"
                f"      model: openai/bench\n      api_base: {url}\n      api_key: none\n"
            )
        port = 40000 + os.getpid() % 20000
        key = "sk-bench-" + secrets.token_hex(16)
        litellm = os.path.join(os.path.dirname(python), "litellm")
        proc = spawn(
            [litellm, "--config", config, "--port", str(port), "--num_workers", "1"],
            os.path.join(tmp, "log"),
            # the cost map shipped in the package: no fetch from the network at start
            {
                **os.environ,
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_LOG": "ERROR",
                "LITELLM_MASTER_KEY": key,  # it refuses to start without one
            },
        )
        base = f"http://127.0.0.1:{port}"
        try:
            auth = {"authorization": f"Bearer {key}"}
            limits = httpx.Limits(max_connections=100)
            async with httpx.AsyncClient(timeout=120, limits=limits, headers=auth) as h:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        if (await h.get(f"{base}/health/liveliness")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline or proc.poll() is not None:
                        log("note: LiteLLM skipped: its proxy did not start")
                        return None
                    await asyncio.sleep(0.5)
                await direct_phase(h, base, 3, 20, 0)  # warm-up
                out = {}
                for name, rate, count in (("fullSpeed", 0, n), ("paced", 100, rate_n)):
                    cpu0 = cpu_seconds(proc.pid)
                    out[name] = await direct_phase(h, base, streams, count, rate)
                    cpu = cpu_seconds(proc.pid) - cpu0
                    out[name]["proxyCpuMicrosPerChunk"] = round(cpu / (streams * count) * 1e6, 1)
                return out
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


# --- main -------------------------------------------------------------------------------


def added(sidecar: dict[str, Any], direct: dict[str, Any]) -> dict[str, float]:
    return {
        "p50Ms": round(sidecar["p50Ms"] - direct["p50Ms"], 3),
        "p99Ms": round(sidecar["p99Ms"] - direct["p99Ms"], 3),
    }


async def run(
    quick: bool, profile: str | None, pyspy: str | None, phases: list[str]
) -> dict[str, Any]:
    streams = 50
    n_full = 200 if quick else 400
    n_paced = 200 if quick else 400  # at 100/s: 2 or 4 seconds per stream
    rounds = 1 if quick else 3
    tries = 10 if quick else 20
    paused = 3 if quick else 7  # later sends, each after PAUSE
    fresh_tries = 2 if quick else 4  # direct requests on a new connection, each after PAUSE
    result: dict[str, Any] = {"bench": "upstream", "quick": quick, "loadAvg1m": os.getloadavg()[0]}
    upstream, url = start_upstream()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    spy = None
    try:
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            with tempfile.TemporaryDirectory(prefix="bench-upstream-") as data_dir:
                first = Sidecar.start(data_dir, url, profile)
                sidecar = await first
                try:
                    convs = await sidecar.conversations(2 * tries + 1 + paused)
                    await sidecar.histories(convs)
                    log("ttft: the first chat.send after launch, then interleaved tries")
                    # an app's first message comes a moment after its launch, as here
                    await asyncio.sleep(PAUSE)
                    first_ms = await sidecar.ttft(convs[-1])
                    after_pause = []
                    for conv in convs[tries : tries + paused]:
                        await asyncio.sleep(PAUSE)
                        after_pause.append(await sidecar.ttft(conv))
                    paused_ms = statistics.median(after_pause)
                    await direct_ttft(http, url)
                    # what a new connection costs any client: the direct reader's first
                    # request on a fresh httpx client against its later ones, each after
                    # the same pause
                    fresh, reused = [], []
                    for _ in range(fresh_tries):
                        await asyncio.sleep(PAUSE)
                        async with httpx.AsyncClient(timeout=60) as new_client:
                            fresh.append(await direct_ttft(new_client, url))
                        await asyncio.sleep(PAUSE)
                        reused.append(await direct_ttft(http, url))
                    new_connection = statistics.median(fresh) / statistics.median(reused)
                    via, direct = [], []
                    for conv in convs[:tries]:
                        via.append(await sidecar.ttft(conv))
                        direct.append(await direct_ttft(http, url))
                    later = statistics.median(via)
                    # an upstream that takes THINK ms to answer, as every real model does:
                    # what the sidecar does meanwhile is off the path to the first token
                    via_t, direct_t = [], []
                    for conv in convs[tries + paused : 2 * tries + paused]:
                        via_t.append(await sidecar.ttft(conv, THINK))
                        direct_t.append(await direct_ttft(http, url, THINK))
                    thinking = statistics.median(via_t) - statistics.median(direct_t)
                    result["ttft"] = {
                        "tries": tries,
                        "sidecarMsMedian": round(later, 3),
                        "directMsMedian": round(statistics.median(direct), 3),
                        "addedMsMedian": round(later - statistics.median(direct), 3),
                        "firstSendMs": round(first_ms, 3),
                        "afterPauseMsMedian": round(paused_ms, 3),
                        "firstSendRatio": round(first_ms / paused_ms, 2),
                        "firstOverBackToBack": round(first_ms / later, 2),
                        "directNewConnectionRatio": round(new_connection, 2),
                        "thinkMs": THINK,
                        "addedMsMedianThinking": round(thinking, 3),
                    }
                    log("setup: one chat.send of a 1-chunk reply")
                    result["setupCpuMsPerSend"] = await setup_cost(sidecar, tries)
                    await sidecar.phase(5, 20, 0)  # warm-up
                    await direct_phase(http, url, 5, 20, 0)
                    if pyspy:
                        py_spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
                        pid = str(sidecar.proc.pid)
                        spy = spawn(
                            [py_spy, "record", "-r", "400", "-o", pyspy, "-f", "raw", "-p", pid]
                        )
                    for name, rate, n in (("fullSpeed", 0, n_full), ("paced", 100, n_paced)):
                        if phases and name not in phases:
                            continue
                        via_runs, direct_runs = [], []
                        for r in range(rounds):
                            log(f"{name}: {streams} x {n} chunks, rate {rate or 'unpaced'}, #{r}")
                            direct_runs.append(await direct_phase(http, url, streams, n, rate))
                            via_runs.append(await sidecar.phase(streams, n, rate))
                        d, s = median_run(direct_runs), median_run(via_runs)
                        result[name] = {
                            "streams": streams,
                            "chunksPerStream": n,
                            "rate": rate,
                            "rounds": rounds,
                            "direct": d,
                            "sidecar": s,
                            "rateRatio": round(s["chunksPerSec"] / d["chunksPerSec"], 3),
                            "added": added(s, d),
                        }
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)
                        spy.wait(30)
                    await sidecar.stop()
                except BaseException:
                    await sidecar.stop(failed=True)
                    raise
            if "litellm" in os.environ.get("BENCH_PEERS", ""):
                log("peer: LiteLLM proxy")
                peer = await litellm_peer(url, streams, n_full, n_paced)
                result["litellm"] = peer if peer is not None else "skipped"
    finally:
        upstream.send_signal(signal.SIGTERM)
        upstream.wait(10)
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the rounds."""
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one round of shorter streams")
    parser.add_argument("--profile-sidecar", metavar="FILE", help="cProfile stats to FILE")
    parser.add_argument("--py-spy", metavar="FILE", help="py-spy samples of the phases to FILE")
    parser.add_argument("--phases", default="", help="only these, e.g. paced (default: all)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve_upstream()
    start = time.perf_counter()
    result = asyncio.run(
        run(args.quick, args.profile_sidecar, args.py_spy, [p for p in args.phases.split(",") if p])
    )
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
