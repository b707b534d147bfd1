"""`python -m sidecar.dev.demo`: the terminal demo, one chat end to end on a fresh machine.

(`make demo` serves the demo chat page instead: clients/ts/demo/serve.mjs.)

Starts a fake OpenAI-compatible provider on loopback (or uses a real provider
when OPENAI_API_KEY, ANTHROPIC_API_KEY or DEEPSEEK_API_KEY is set) and a
sidecar on a throwaway data dir, both as child processes exactly as the
desktop app would start the sidecar. It configures the provider and a model,
sends a message, prints the reply as it streams, prints how to connect
yourself, and keeps both running until Ctrl-C (or for DEMO_SECONDS seconds).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile

from websockets.asyncio.client import connect

REAL = (  # (env var, provider id, model sent upstream)
    ("OPENAI_API_KEY", "openai", "gpt-6-luna"),
    ("ANTHROPIC_API_KEY", "anthropic", "claude-haiku-4-5"),
    ("DEEPSEEK_API_KEY", "deepseek", "deepseek-flash"),
)


def _start(args: list[str]) -> tuple[subprocess.Popen[bytes], dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", *args], stdout=subprocess.PIPE, stdin=subprocess.PIPE
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


async def _chat(ready: dict, provider: dict | None, model: tuple[str, str]) -> None:
    headers = {"Authorization": f"Bearer {ready['token']}"}
    async with connect(ready["url"], additional_headers=headers) as ws:
        ids = iter(range(1, 1_000_000))
        events: list[dict] = []  # events that came while waiting for a response, in order

        async def call(method: str, params: dict) -> dict:
            ident = next(ids)
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
            )
            while True:
                message = json.loads(await ws.recv())
                if message.get("id") == ident:
                    if "error" in message:
                        raise RuntimeError(f"{method}: {message['error']['message']}")
                    return message["result"]
                if "method" in message:  # a reply's first events may come before its ids
                    events.append(message["params"])

        async def next_event() -> dict:
            return events.pop(0) if events else json.loads(await ws.recv()).get("params", {})

        await call("initialize", {"protocolVersion": 1, "clientInfo": {"name": "demo"}})
        await call("events.subscribe", {})
        if provider is not None:
            await call("providers.configure", provider)
        provider_id, upstream = model
        await call(
            "models.upsert",
            {"model": {"id": "demo-model", "provider": provider_id, "providerModel": upstream}},
        )
        conv = await call("conversations.create", {"title": "Demo", "modelId": "demo-model"})
        question = "Hello! In one sentence, what is a sidecar process?"
        print(f"\nyou:       {question}\nassistant: ", end="", flush=True)
        sent = await call(
            "chat.send", {"conversationId": conv["conversation"]["id"], "content": question}
        )
        while True:
            event = await next_event()
            if event.get("messageId") != sent["assistantMessageId"]:
                continue
            if event["type"] == "assistant.stream.delta":
                print(event["text"], end="", flush=True)
            elif event["type"] in ("assistant.stream.completed", "assistant.stream.cancelled"):
                usage = event["message"]["usage"] or {}
                print(
                    f"\n           [{event['message']['status']}, {usage.get('inputTokens', 0)} in / "
                    f"{usage.get('outputTokens', 0)} out tokens]"
                )
                return
            elif event["type"] == "assistant.stream.failed":
                print(
                    f"\n           [failed: {event['error']['code']}: {event['error']['message']}]"
                )
                return


def main() -> int:
    seconds = float(os.environ.get("DEMO_SECONDS", "0")) or None
    real = next(((p, m) for var, p, m in REAL if os.environ.get(var)), None)
    children: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="sidecar-demo-") as data_dir:
        try:
            if real is None:
                fake, fake_ready = _start(
                    ["sidecar.dev.fakes", "--kind", "openai-compatible", "--rate", "25"]
                )
                children.append(fake)
                print(f"fake provider: {fake_ready['baseUrl']} (OpenAI-compatible, 25 chunks/s)")
                provider = {
                    "id": "local",
                    "kind": "openai-compatible",
                    "name": "Demo fake",
                    "baseUrl": fake_ready["baseUrl"],
                }
                model = ("local", "demo-echo")
            else:
                print(f"using the real {real[0]} provider (key from the environment)")
                provider, model = None, real
            sidecar, ready = _start(["sidecar", "serve", "--data-dir", data_dir, "--watch-stdin"])
            children.append(sidecar)
            print(f"sidecar ready: {ready['url']}  (pid {ready['pid']}, data dir {data_dir})")
            asyncio.run(_chat(ready, provider, model))
            print(
                "\nConnect yourself (any WebSocket client):\n"
                f"  URL:    {ready['url']}/?token={ready['token']}\n"
                f"  or header  Authorization: Bearer {ready['token']}\n"
                '  first frame: {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}\n'
                "Press Ctrl-C to stop."
            )
            sidecar.wait(timeout=seconds)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            pass
        finally:
            for child in reversed(children):
                child.terminate()
                child.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
