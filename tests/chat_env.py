"""A sidecar process wired to a fake provider: what every chat test starts from."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidecar.dev.fakes import FakeProvider, Script
from tests.harness import SIDECAR, Client, Sidecar, launch

API_KEY = "sk-test-DISTINCTIVE-KEY-0f9e8d7c6b5a"
TOKEN = "launch-token-DISTINCTIVE-1a2b3c4d5e6f"
PRICING = {"input": 2.0, "output": 8.0, "cacheRead": 0.5, "cacheWrite": 2.5}

# provider id in the sidecar for each kind (custom backends get their own id)
PROVIDER_IDS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "deepseek": "deepseek",
    "openai-compatible": "local",
    "ollama": "ollama",
}
# the model name each kind's test model sends upstream (a fake Ollama knows only the
# models it has pulled)
UPSTREAM_MODELS = {"ollama": "qwen3:8b"}


@dataclass
class ChatEnv:
    sidecar: Sidecar
    client: Client
    fake: FakeProvider
    kind: str
    provider_id: str
    model_id: str
    conversation_id: str

    async def send(self, content: str = "Hello there", **params: Any) -> dict[str, str]:
        return await self.client.request(
            "chat.send", {"conversationId": self.conversation_id, "content": content, **params}
        )

    async def terminal(self, message_id: str, timeout: float = 20.0) -> dict[str, Any]:
        return await self.client.wait_for(
            lambda e: (
                e.get("messageId") == message_id
                and e["type"].startswith("assistant.stream.")
                and e["type"].rsplit(".", 1)[1] in ("completed", "cancelled", "failed")
            ),
            timeout,
        )

    async def settled(self, message_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """Wait for the message.updated that follows a terminal event; return the stored message."""
        event = await self.client.wait_for(
            lambda e: (
                e["type"] == "message.updated"
                and e["message"]["id"] == message_id
                and e["message"]["status"] not in ("pending", "streaming")
            ),
            timeout,
        )
        return event["message"]

    def events_of(self, message_id: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.client.events
            if e.get("messageId") == message_id
            or (e["type"].startswith("message.") and e.get("message", {}).get("id") == message_id)
            or (e["type"] == "usage.recorded" and e["usage"]["messageId"] == message_id)
        ]

    async def stored(self, message_id: str) -> dict[str, Any]:
        got = await self.client.request(
            "conversations.get", {"conversationId": self.conversation_id}
        )
        return next(m for m in got["messages"] if m["id"] == message_id)


def check_events(events: list[dict[str, Any]], path: Path) -> None:
    """Run the recorder's replay checker over everything a client received."""
    from sidecar.dev.feed_check import check_recording

    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    report = check_recording(path)
    assert report.ok, report.to_dict()


@asynccontextmanager
async def chat_env(
    tmp_path: Path,
    kind: str = "openai",
    *,
    idle_timeout: float = 3.0,
    max_retries: int = 2,
    args: tuple[str, ...] = (),
    default: Script | None = None,
    command: Sequence[str] = SIDECAR,
    stdin: int | None = None,
    api: str | None = "chat",
):
    """`api` is the provider's wire API for the openai kind (the default tests speak chat
    completions; None leaves the kind's default, the Responses API)."""
    async with FakeProvider(kind, default=default) as fake:
        fake.api_key = API_KEY
        sidecar = launch(
            tmp_path / "data",
            "--token",
            TOKEN,
            *args,
            env={"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "DEEPSEEK_API_KEY": ""},
            stdin=stdin,
            command=command,
        )
        client = await Client.open(sidecar)
        provider_id = PROVIDER_IDS[kind]
        await client.request(
            "providers.configure",
            {
                "id": provider_id,
                "kind": kind,
                "baseUrl": fake.base_url,
                "apiKey": API_KEY,
                "idleTimeoutSeconds": idle_timeout,
                "maxRetries": max_retries,
                **({"api": api} if api is not None and kind == "openai" else {}),
            },
        )
        model_id = f"{kind}-model"
        await client.request(
            "models.upsert",
            {
                "model": {
                    "id": model_id,
                    "provider": provider_id,
                    "providerModel": UPSTREAM_MODELS.get(kind, f"upstream-{kind}"),
                    "pricing": PRICING,
                }
            },
        )
        conv = await client.request(
            "conversations.create",
            {"modelId": model_id, "systemPrompt": "Be brief.", "title": "Test chat"},
        )
        env = ChatEnv(
            sidecar, client, fake, kind, provider_id, model_id, conv["conversation"]["id"]
        )
        try:
            yield env
            check_events(client.events, tmp_path / "events.jsonl")
        finally:
            await client.close()
            sidecar.terminate()
            log = sidecar.stderr()
            assert API_KEY not in log and TOKEN not in log, "a secret reached the logs"
            received = "".join(r if isinstance(r, str) else r.decode() for r in client.raw)
            assert API_KEY not in received and TOKEN not in received, (
                "a secret reached a result or event"
            )
            assert sidecar.proc.stdout.read() == b"", "stdout holds the ready line only"
