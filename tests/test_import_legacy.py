"""`sidecar import-legacy`: the old app's `app.db`, built here by its migrations' shape at
every version users have, filled the way its code fills it, imported into a real store
and looked at through a real sidecar the way a user would."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from sidecar.dev.fakes import FakeProvider
from sidecar.legacy.plan import openai_base_url
from sidecar.legacy.schema import SCHEMAS
from tests.harness import Client, Sidecar, launch

BACKEND_KEY = "sk-legacy-backend-DISTINCT-7d1e"
OPENAI_KEY = "sk-legacy-openai-DISTINCT-42aa"
ANTHROPIC_KEY = "sk-ant-legacy-DISTINCT-93bc"
MCP_KEY = "mcp-legacy-key-DISTINCT-5e0f"
KEYS = (BACKEND_KEY, OPENAI_KEY, ANTHROPIC_KEY, MCP_KEY)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
OGG = b"OggS" + bytes(range(100))
LONG = ("🌍 долгий текст, 長い文章. " * 7000)[:150_000]  # any Unicode, 150k characters
NO_ENV_KEYS = {"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "DEEPSEEK_API_KEY": ""}
DAY1, DAY2, DAY3 = 1_762_000_000, 1_762_090_000, 1_762_180_000  # Unix seconds, 1 day apart
VERSIONS = sorted(SCHEMAS)
LISBON = ["Plan Lisbon", "Day 1: Alfama.", "Add Sintra", "Day 2: Sintra.", "Packing?", "Light."]


def build_app_db(
    folder: Path, version: int, backend_url: str = "http://localhost:11434/v1/chat/completions"
) -> Path:
    """The old app's data folder: `app.db` at `version`, and its `attachments/`."""
    (folder / "attachments").mkdir(parents=True)
    (folder / "attachments" / "4f2c-fox.png").write_bytes(PNG)
    (folder / "attachments" / "77aa-memo.ogg").write_bytes(OGG)
    path = folder / "app.db"
    db = sqlite3.connect(path)
    db.executescript(SCHEMAS[version])
    db.execute(f"PRAGMA user_version = {version}")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def columns(table: str) -> set[str]:
        return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}

    def add(table: str, **row: Any) -> None:
        row = {k: v for k, v in row.items() if k in columns(table)}
        db.execute(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )

    # Lisbon: six messages on Main, a user message and its reply in the same second.
    add("conversations", id="c1", name="Lisbon ✈️ trip", created_at=DAY1)
    add("branches", id="main-c1", conversation_id="c1", name="Main", created_at=DAY1)
    times = [DAY1, DAY1, DAY2, DAY2, DAY2 + 60, DAY2 + 60]
    roles = ["user", "assistant"] * 3
    for i, (text, role, at) in enumerate(zip(LISBON, roles, times, strict=True), 1):
        add("messages", id=f"m{i}", content=text, role=role, conversation_id="c1", created_at=at)
        add("message_tree", message_id=f"m{i}", parent_message_id=f"m{i - 1}" if i > 1 else None,
            branch_id="main-c1", branch_point=int(i in (2, 4, 6)), created_at=at)  # fmt: skip

    def branch(branch_id: str, name: str, upto: int, at: int) -> None:
        """What "create a branch from message m<upto>" does: copy Main's path up to it."""
        add("branches", id=branch_id, conversation_id="c1", name=name, created_at=at)
        for i in range(1, upto + 1):
            add("message_tree", message_id=f"m{i}", parent_message_id=f"m{i - 1}" if i > 1 else None,
                branch_id=branch_id, created_at=at)  # fmt: skip

    branch("b2", "Branch 2", 2, DAY1 + 5)
    branch("b3", "Packing list", 4, DAY2 + 10)  # made as "Branch 3", renamed
    branch("b4", "Branch 4", 6, DAY2 + 70)  # from the last message: the same as Main

    add("message_attachments", id="a1", message_id="m1", name="fox.png", data="4f2c-fox.png",
        attachment_type="image", mime_type="image/png", size_bytes=len(PNG), created_at=DAY1)  # fmt: skip
    add("message_attachments", id="a2", message_id="m1", name="notes.txt", data="pack light\n",
        attachment_type="text/plain", created_at=DAY1)  # fmt: skip
    add("message_attachments", id="a3", message_id="m3", name="memo.ogg", data="77aa-memo.ogg",
        attachment_type="audio", transcript="add Sintra please", created_at=DAY2)  # fmt: skip
    add("message_usage", id="u1", message_id="m2", model_name="gpt-4-1", prompt_tokens=100,
        completion_tokens=20, total_tokens=120, estimated_cost=0.001, created_at=DAY1)  # fmt: skip
    add("message_usage", id="u2", message_id="m4", model_name="claude-sonnet-4-5-20250929",
        prompt_tokens=200, completion_tokens=30, total_tokens=230, estimated_cost=0.002,
        created_at=DAY2)  # fmt: skip
    add("message_usage", id="u3", message_id="m6", model_name="My Ollama", prompt_tokens=50,
        completion_tokens=10, total_tokens=60, estimated_cost=0.0, created_at=DAY2 + 60)  # fmt: skip
    if "message_tool_executions" in tables:
        add("message_tool_executions", id="t1", message_id="m4", tool_name="web_search",
            parameters='{"q": "Sintra"}', result="Sintra: palaces", success=1, duration=420,
            timestamp=DAY2, iteration_number=1)  # fmt: skip
        add("message_agent_thinking", id="k1", message_id="m4", stage="planning",
            content="They want a day trip.", timestamp=DAY2, iteration_number=1)  # fmt: skip

    # An untitled chat from before branches: no message_tree rows; a very long message.
    add("conversations", id="c2", name="New Conversation", created_at=DAY3)
    add("messages", id="n1", content=LONG, role="user", conversation_id="c2", created_at=DAY3)
    add("messages", id="n2", content="Résumé: ✓", role="assistant", conversation_id="c2",
        created_at=DAY3)  # fmt: skip
    add("message_usage", id="u4", message_id="n2", model_name="deepseek-reasoner",
        prompt_tokens=40000, completion_tokens=5, total_tokens=40005, estimated_cost=0.01,
        created_at=DAY3)  # fmt: skip

    add("models", provider="openai", model_name="gpt-4o", enabled=0)
    add("models", provider="anthropic", model_name="claude-sonnet-4-5-20250929", enabled=1)
    add("models", provider="claude_cli", model_name="claude-cli-sonnet", enabled=1)
    add("models", provider="openai", model_name="whisper-1", enabled=1)
    add("models", provider="ollama", model_name="qwen3:8b", url="http://localhost:11434/api/chat",
        enabled=1)  # fmt: skip
    add("api_keys", provider="openai", key=OPENAI_KEY)
    add("api_keys", provider="anthropic", key=ANTHROPIC_KEY)
    if "custom_backends" in tables:
        add("custom_backends", id="cb1", name="My Ollama", url=backend_url, api_key=BACKEND_KEY,
            created_at=DAY1 * 1000)  # fmt: skip
        add("models", provider="custom", model_name="llama3", enabled=1, custom_backend_id="cb1")
    add("system_prompts", id="p1", name="Travel", content="You plan trips.", created_at=DAY1,
        updated_at=DAY2)  # fmt: skip
    add("system_prompts", id="p2", content="Be terse.", created_at=DAY1, updated_at=DAY1)
    if "user_preferences" in tables:
        add("user_preferences", key="last_used_model", value="gpt-4-1", updated_at=DAY3)
        add("user_preferences", key="theme", value="dark", updated_at=DAY3)
    if "users" in tables:
        add("users", id="u", name="me")
    if "agent_sessions" in tables:
        add("agent_sessions", id="s1", conversation_id="c1", created_at=DAY2)
    if "mcp_servers" in tables:
        add("mcp_servers", id="x1", name="Team docs", url="https://mcp.example.com/mcp",
            auth_type="api_key", api_key=MCP_KEY, created_at=DAY2)  # fmt: skip
        add("mcp_servers", id="x2", name="Odd", url="npx some-server", created_at=DAY2)
    db.commit()
    db.close()
    return path


def import_legacy(legacy: Path | None, data: Path, *flags: str, as_json: bool = True,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    command = [sys.executable, "-m", "sidecar", "import-legacy", "--data-dir", str(data)]
    command += (
        (["--db", str(legacy)] if legacy else []) + [*flags] + (["--json"] if as_json else [])
    )
    full_env = {**os.environ, **NO_ENV_KEYS, **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=full_env)


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    for key in KEYS:
        assert key not in done.stdout + done.stderr, "a key reached the output"
    return json.loads(done.stdout)


async def error_of(client: Client, method: str, params: dict[str, Any]) -> dict[str, Any]:
    response = await client.call(method, params)
    assert "error" in response, response
    return response["error"]


def expected_added(version: int) -> dict[str, int]:
    later = version >= 32
    return {
        "conversations": 2,
        "messages": 8,
        "branches": 2,  # Branch 2 and Packing list; Branch 4 shows what Main shows
        "attachments": 3,
        "attachmentFiles": 2,
        "toolExecutions": 1 if later else 0,
        "thinking": 1 if later else 0,
        "usage": 4,
        "systemPrompts": 2,
        "providers": 2 if later else 1,  # Ollama, and My Ollama (a custom backend)
        "apiKeys": 3 if later else 2,
        # gpt-4o disabled, qwen3:8b, llama3 (Claude Sonnet 4.5 is retired)
        "models": 3 if later else 2,
        "preferences": 1 if version >= 43 else 0,
        "mcpServers": 1 if version >= 45 else 0,
    }


@pytest.mark.parametrize("version", VERSIONS)
async def test_every_version_imports_what_the_user_saw(tmp_path, version):
    legacy = build_app_db(tmp_path / "dev.michalmlak.ai_agent", version)
    data = tmp_path / "data"
    dry = report(import_legacy(legacy, data, "--dry-run"))
    assert dry["dryRun"] is True and dry["added"] == expected_added(version)
    assert dry["schemaVersion"] == version
    assert not data.exists(), "a dry run writes nothing"

    done = report(import_legacy(legacy, data))
    assert done["added"] == expected_added(version)
    assert all(n > 0 for reasons in done["skipped"].values() for n in reasons.values())
    assert done["skipped"]["branches"] == {"'Branch 4' shows the same messages as 'Main'": 1}
    assert done["skipped"]["models"] == {
        "runs a local CLI (claude_cli), which the sidecar does not": 1,
        "whisper-1 is a speech-to-text model (OpenAI's transcription), not a chat model; "
        "audio.transcribe takes it": 1,
        "a retired model (its id now names the model that replaced it)": 1,
    }
    if version >= 45:
        assert done["found"]["mcpServers"] == 2
        assert done["skipped"]["mcpServers"] == {"a server without an http(s) URL": 1}
        assert "mcp_servers" not in done["tablesLeft"]
    if version >= 43:
        assert done["tablesLeft"]["users"] == {"rows": 1, "why": "not chat history"}
        assert done["tablesLeft"]["agent_sessions"]["rows"] == 1
    assert done["tablesLeft"]["conversation_usage_summary"]["rows"] == 0
    again = report(import_legacy(legacy, data))
    assert set(again["added"].values()) == {0}, again["added"]

    async with sidecar_over(data) as (sc, client):
        await check_history(client, data, version)
        await check_setup(client, version)
    received = "".join(r if isinstance(r, str) else r.decode() for r in client.raw)
    assert not any(key in received for key in KEYS), "a key reached a result or event"
    assert not any(key in sc.stderr() for key in KEYS)
    stored = (data / "sidecar.db").read_bytes()
    assert not any(key.encode() in stored for key in KEYS), "a key reached the database"


async def check_history(client: Client, data: Path, version: int) -> None:
    listed = {c["title"]: c for c in (await client.request("conversations.list", {}))["items"]}
    assert set(listed) == {"Lisbon ✈️ trip", None}
    lisbon, untitled = listed["Lisbon ✈️ trip"], listed[None]
    assert lisbon["createdAt"] == "2025-11-01T12:26:40.000Z"
    got = await client.request("conversations.get", {"conversationId": lisbon["id"]})
    path = got["messages"]
    assert [m["content"] for m in path] == LISBON, "Main, in the old app's order"
    assert [m["role"] for m in path] == ["user", "assistant"] * 3
    assert all(m["status"] == "complete" for m in path)
    assert path[1]["modelId"] == "gpt-4.1" and path[1]["provider"] == "openai"
    assert path[3]["modelId"] == "claude-sonnet-4-5" and path[3]["provider"] == "anthropic"
    assert path[3]["usage"]["inputTokens"] == 200
    if version >= 32:
        (call,) = path[3]["toolCalls"]
        assert call["name"] == "web_search" and call["arguments"] == {"q": "Sintra"}
        assert call["status"] == "completed" and call["result"] == "Sintra: palaces"
        assert path[3]["thinking"] == "They want a day trip."
        assert path[5]["provider"] == "my-ollama" and path[5]["modelId"] == "llama3"
        assert lisbon["modelId"] == "llama3", "the model of its last reply"
    image, text = path[0]["attachments"]
    assert (image["name"], image["mimeType"], image["size"]) == ("fox.png", "image/png", len(PNG))
    assert (data / "attachments" / image["id"]).read_bytes() == PNG
    assert (text["name"], text["mimeType"], text["text"]) == (
        "notes.txt",
        "text/plain",
        "pack light\n",
    )
    (audio,) = path[2]["attachments"]
    assert (data / "attachments" / audio["id"]).read_bytes() == OGG
    assert audio["transcript"] == ("add Sintra please" if version >= 32 else None)
    for attachment, expected in ((image, PNG), (audio, OGG), (text, b"pack light\n")):
        got = await client.request("attachments.get", {"attachmentId": attachment["id"]})
        assert base64.b64decode(got["data"]) == expected, "the old app's bytes, shown again"
        assert (got["name"], got["mimeType"]) == (attachment["name"], attachment["mimeType"])

    branches = (await client.request("branches.list", {"conversationId": lisbon["id"]}))["branches"]
    by_name = {b["name"]: b for b in branches}
    assert set(by_name) == {"Main", "Branch 2", "Packing list"}
    assert by_name["Main"]["active"] and by_name["Main"]["endsAtLeaf"]
    for name, count in (("Branch 2", 2), ("Packing list", 4)):
        b = by_name[name]
        assert not b["endsAtLeaf"] and b["messageCount"] == count and not b["active"]
        switched = await client.request(
            "branches.switch", {"conversationId": lisbon["id"], "leafId": b["leafId"]}
        )
        assert switched["activeLeafId"] == b["leafId"]
        shown = await client.request("conversations.get", {"conversationId": lisbon["id"]})
        assert [m["content"] for m in shown["messages"]] == LISBON[:count]
    await client.request(
        "branches.switch", {"conversationId": lisbon["id"], "leafId": path[-1]["id"]}
    )

    long = await client.request("conversations.get", {"conversationId": untitled["id"]})
    assert [m["content"] for m in long["messages"]] == [LONG, "Résumé: ✓"]
    assert len(LONG) == 150_000

    by_model = await client.request("usage.summary", {"groupBy": "model"})
    models = {row["key"]: row for row in by_model["rows"]}
    assert models["gpt-4.1"]["inputTokens"] == 100
    assert models["claude-sonnet-4-5"]["outputTokens"] == 30
    assert models["deepseek-reasoner"]["inputTokens"] == 40000
    assert by_model["totals"]["calls"] == 4 and by_model["totals"]["inputTokens"] == 40350
    assert by_model["totals"]["costUsd"] == pytest.approx(0.013)
    by_day = {
        r["key"]: r["calls"]
        for r in (await client.request("usage.summary", {"groupBy": "day"}))["rows"]
    }
    assert by_day == {"2025-11-01": 1, "2025-11-02": 2, "2025-11-03": 1}


async def check_setup(client: Client, version: int) -> None:
    providers = {p["id"]: p for p in (await client.request("providers.list"))["providers"]}
    assert providers["openai"]["keySource"] == "stored"
    assert providers["anthropic"]["keySource"] == "stored"
    models = {m["id"]: m for m in (await client.request("models.list", {}))["models"]}
    assert models["gpt-4o"]["enabled"] is False
    assert "claude-cli-sonnet" not in models
    # The old app's own Ollama models go to Ollama's native API (num_ctx is honoured there).
    assert providers["ollama"]["kind"] == "ollama" and not providers["ollama"]["hasKey"]
    assert providers["ollama"]["baseUrl"] == "http://localhost:11434"
    assert models["qwen3:8b"]["provider"] == "ollama"
    prompts = {
        p["name"]: p["content"]
        for p in (await client.request("systemPrompts.list"))["systemPrompts"]
    }
    assert prompts == {"Travel": "You plan trips.", "Untitled": "Be terse."}
    settings = (await client.request("settings.get"))["settings"]
    if version >= 43:
        assert settings["lastModelId"] == "gpt-4.1"
        assert settings["preferences"] == {"theme": "dark"}
    if version >= 32:
        ollama = providers["my-ollama"]
        assert ollama["kind"] == "openai-compatible" and ollama["name"] == "My Ollama"
        assert ollama["baseUrl"] == "http://localhost:11434/v1"
        assert ollama["hasKey"] and ollama["keySource"] == "stored"
        assert models["llama3"]["provider"] == "my-ollama"
    servers = (await client.request("mcp.servers.list"))["servers"]
    if version >= 45:
        [server] = servers
        assert server["id"] == "legacy-mcp-x1" and server["name"] == "Team docs"
        assert server["transport"] == "http" and server["url"] == "https://mcp.example.com/mcp"
        assert server["headerNames"] == ["Authorization"] and server["state"] == "stopped"
        assert server["enabled"] and server["approval"] == "always"
    else:
        assert servers == []


@asynccontextmanager
async def sidecar_over(data: Path) -> AsyncIterator[tuple[Sidecar, Client]]:
    """A sidecar on the imported store, and a client of it; stopped on the way out."""
    sc = launch(data, env=NO_ENV_KEYS)
    try:
        client = await Client.open(sc)
        yield sc, client
        await client.close()
    finally:
        sc.terminate()


async def lisbon_branch(client: Client, name: str) -> tuple[str, dict[str, Any]]:
    """The imported Lisbon conversation's id, and its branch called `name`."""
    listed = (await client.request("conversations.list", {}))["items"]
    (cid,) = [c["id"] for c in listed if c["title"] == "Lisbon ✈️ trip"]
    branches = (await client.request("branches.list", {"conversationId": cid}))["branches"]
    return cid, next(b for b in branches if b["name"] == name)


async def test_a_branch_continues_from_its_end_as_a_real_fork(tmp_path):
    """Open an old branch, send: the reply goes under its end, through the old app's own
    custom backend and key, the name follows the new messages, and Main is unchanged."""
    async with FakeProvider("openai-compatible", api_key=BACKEND_KEY) as fake:
        url = fake.base_url.rstrip("/") + "/chat/completions"
        legacy = build_app_db(tmp_path / "old", 43, backend_url=url)
        data = tmp_path / "data"
        report(import_legacy(legacy, data))
        async with sidecar_over(data) as (sc, client):
            cid, end = await lisbon_branch(client, "Branch 2")
            await client.request(
                "branches.switch", {"conversationId": cid, "leafId": end["leafId"]}
            )
            sent = await client.request(
                "chat.send",
                {"conversationId": cid, "content": "Cheaper, please", "modelId": "llama3"},
            )
            done = await client.wait_for(
                lambda e: (
                    e["type"] == "assistant.stream.completed"
                    and e["messageId"] == sent["assistantMessageId"]
                ),
                30,
            )
            assert done["type"] == "assistant.stream.completed"
            shown = await client.request("conversations.get", {"conversationId": cid})
            contents = [m["content"] for m in shown["messages"]]
            assert contents[:3] == [*LISBON[:2], "Cheaper, please"] and len(contents) == 4
            assert len(shown["messages"][2]["siblingIds"]) == 2, "a real fork at the branch end"
            after = {
                b["name"]: b
                for b in (await client.request("branches.list", {"conversationId": cid}))[
                    "branches"
                ]
            }
            assert after["Branch 2"]["endsAtLeaf"] and after["Branch 2"]["messageCount"] == 4
            assert (
                after["Branch 2"]["leafId"] == sent["assistantMessageId"]
                and after["Branch 2"]["active"]
            )
            assert after["Main"]["messageCount"] == 6 and not after["Main"]["active"]
            assert not after["Packing list"]["endsAtLeaf"]
        assert BACKEND_KEY not in sc.stderr()
        again = report(import_legacy(legacy, data))
        assert again["added"]["branches"] == 0, "the grown branch took its name along"
        db = sqlite3.connect(data / "sidecar.db")
        names = db.execute("SELECT count(*) FROM branch_names WHERE name = 'Branch 2'").fetchone()
        db.close()
        assert names == (1,)


async def test_a_branch_that_ends_inside_the_tree_keeps_its_name(tmp_path):
    legacy = build_app_db(tmp_path / "old", 26)
    data = tmp_path / "data"
    report(import_legacy(legacy, data))
    async with sidecar_over(data) as (sc, client):
        cid, end = await lisbon_branch(client, "Branch 2")
        error = await error_of(
            client,
            "branches.rename",
            {"conversationId": cid, "leafId": end["leafId"], "name": None},
        )
        assert error["code"] == -32602
        assert "known only by its name" in error["data"]["errors"][0]["msg"]
        renamed = await client.request(
            "branches.rename",
            {"conversationId": cid, "leafId": end["leafId"], "name": "Alfama only"},
        )
        assert renamed["branch"]["name"] == "Alfama only" and not renamed["branch"]["endsAtLeaf"]
        first = (await client.request("conversations.get", {"conversationId": cid}))["messages"][0]
        missing = await error_of(
            client, "branches.switch", {"conversationId": cid, "leafId": first["id"]}
        )
        assert missing["code"] != -32602 and "branch" in missing["message"]
        both = await error_of(
            client,
            "branches.switch",
            {"conversationId": cid, "leafId": first["id"], "messageId": first["id"]},
        )
        assert both["code"] == -32602


def test_the_default_location_is_the_old_apps_data_folder(tmp_path):
    home = tmp_path / "home"
    build_app_db(home / ".local" / "share" / "dev.michalmlak.ai_agent", 32)
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / ".local" / "share")}
    ran = import_legacy(None, tmp_path / "data", env=env)
    done = report(ran)
    assert "import-legacy: read 2 conversations, 8 messages, 3 attachments" in ran.stderr
    assert "import-legacy: copied 2 of 2 attachment files\n" in ran.stderr
    assert done["source"] == str(home / ".local" / "share" / "dev.michalmlak.ai_agent" / "app.db")
    assert done["added"]["attachmentFiles"] == 2, "files come from attachments/ beside it"
    text = import_legacy(None, tmp_path / "data", "--dry-run", as_json=False, env=env).stdout
    assert "dry run: nothing written" in text and "skipped:" in text and "Branch 4" in text
    gone = import_legacy(None, tmp_path / "data", env={"XDG_DATA_HOME": str(tmp_path / "none")})
    assert gone.returncode == 1 and "--db" in gone.stderr and gone.stderr.count("\n") == 1


async def test_importing_again_follows_where_the_old_app_went_on(tmp_path):
    legacy = build_app_db(tmp_path / "old", 43)
    data = tmp_path / "data"
    report(import_legacy(legacy, data))
    db = sqlite3.connect(legacy)
    for mid, role, text in [("m7", "user", "And Porto?"), ("m8", "assistant", "Take the train.")]:
        db.execute("INSERT INTO messages VALUES (?, ?, ?, 'c1', ?)", (mid, text, role, DAY3 + 9))
    db.commit()
    db.close()
    again = report(import_legacy(legacy, data))
    assert again["added"]["messages"] == 2 and again["continued"] == 1
    async with sidecar_over(data) as (sc, client):
        (lisbon,) = [
            c
            for c in (await client.request("conversations.list", {}))["items"]
            if c["title"] == "Lisbon ✈️ trip"
        ]
        shown = await client.request("conversations.get", {"conversationId": lisbon["id"]})
        assert [m["content"] for m in shown["messages"]] == [
            *LISBON,
            "And Porto?",
            "Take the train.",
        ]


def test_refusals_are_one_line_and_name_what_is_missing(tmp_path):
    old = tmp_path / "old.db"
    db = sqlite3.connect(old)
    db.executescript(
        "CREATE TABLE conversations (id TEXT, name TEXT); CREATE TABLE messages (id TEXT);"
    )
    db.execute("PRAGMA user_version = 20")
    db.commit()
    db.close()
    cases = [
        (old, "schema version 20"),
        (tmp_path / "missing.db", "no database at"),
    ]
    bad_column = tmp_path / "bad.db"
    db = sqlite3.connect(bad_column)
    db.executescript(SCHEMAS[26].replace("role            TEXT NOT NULL,", ""))
    db.execute("PRAGMA user_version = 26")
    db.commit()
    db.close()
    cases.append((bad_column, "table messages has no column role"))
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    cases.append((other, "no conversations table"))
    for path, needle in cases:
        done = import_legacy(path, tmp_path / "data")
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert needle in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "sidecar.db").exists(), "a refusal writes nothing"


async def test_refuses_while_a_sidecar_has_the_store_open_and_never_overwrites(tmp_path):
    legacy = build_app_db(tmp_path / "old", 43)
    data = tmp_path / "data"
    async with sidecar_over(data) as (sc, client):
        await client.request("settings.update", {"preferences": {"theme": "light"}})
        refused = import_legacy(legacy, data)
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr.startswith("sidecar: error: ") and "running sidecar" in refused.stderr
        assert refused.stderr.count("\n") == 1
        assert report(import_legacy(legacy, data, "--dry-run"))["added"]["conversations"] == 2
    assert report(import_legacy(legacy, data))["added"]["preferences"] == 0
    db = sqlite3.connect(data / "sidecar.db")
    theme = db.execute("SELECT value FROM settings WHERE key = 'preferences'").fetchone()[0]
    db.close()
    assert json.loads(theme)["theme"] == "light", "what the sidecar has wins"


def test_a_store_that_is_not_a_database_is_one_line(tmp_path):
    legacy = build_app_db(tmp_path / "old", 26)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sidecar.db").write_bytes(b"not a database at all" * 100)
    done = import_legacy(legacy, tmp_path / "data")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.splitlines()[-1]  # after the progress line that read the old file
    assert last.startswith("sidecar: error: ") and "sidecar.db" in last


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("http://localhost:11434/v1/chat/completions", "http://localhost:11434/v1"),
        ("http://localhost:11434/api/chat", "http://localhost:11434/v1"),
        ("localhost:1234/v1/", "http://localhost:1234/v1"),
        ("https://openrouter.ai/api/v1/chat/completions", "https://openrouter.ai/api/v1"),
        ("ftp://example.com", None),
        ("", None),
    ],
)
def test_backend_urls_become_openai_compatible_base_urls(stored, expected):
    assert openai_base_url(stored) == expected


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="open files are read from /proc")
def test_refuses_while_the_old_app_has_its_database_open(tmp_path):
    legacy = build_app_db(tmp_path / "old", 43)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
         "db.execute('SELECT 1 FROM conversations'); print('open', flush=True); sys.stdin.read()",
         str(legacy)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "open\n"
        refused = import_legacy(legacy, tmp_path / "data")
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
        assert f"pid {holder.pid}" in refused.stderr and "quit it" in refused.stderr
        assert not (tmp_path / "data" / "sidecar.db").exists(), "nothing written"
        assert report(import_legacy(legacy, tmp_path / "data", "--dry-run"))["dryRun"]
    finally:
        holder.stdin.close()
        holder.wait(10)
    assert report(import_legacy(legacy, tmp_path / "data"))["added"]["conversations"] == 2


async def test_what_the_user_deleted_stays_deleted_at_the_next_import(tmp_path):
    """The app imports at every start: a conversation deleted in the sidecar must not
    come back, not even when the old app went on with it meanwhile."""
    legacy = build_app_db(tmp_path / "old", 43)
    data = tmp_path / "data"
    report(import_legacy(legacy, data))
    async with sidecar_over(data) as (sc, client):
        cid, _ = await lisbon_branch(client, "Main")
        await client.request("conversations.delete", {"conversationId": cid})
    db = sqlite3.connect(legacy)
    db.execute("INSERT INTO messages VALUES ('m7', 'Still there?', 'user', 'c1', ?)", (DAY3,))
    db.commit()
    db.close()
    again = report(import_legacy(legacy, data))
    assert set(again["added"].values()) == {0}, again["added"]
    assert again["skipped"]["conversations"] == {
        "deleted in the sidecar since an earlier import": 1
    }
    async with sidecar_over(data) as (sc, client):
        titles = [c["title"] for c in (await client.request("conversations.list", {}))["items"]]
        assert titles == [None], "only the untitled chat is left"


async def test_a_removed_mcp_server_stays_removed_at_the_next_import(tmp_path):
    legacy = build_app_db(tmp_path / "old", 45)
    data = tmp_path / "data"
    report(import_legacy(legacy, data))
    async with sidecar_over(data) as (sc, client):
        await client.request("mcp.servers.remove", {"id": "legacy-mcp-x1"})
    again = report(import_legacy(legacy, data))
    assert again["added"]["mcpServers"] == 0
    assert again["skipped"]["mcpServers"] == {
        "a server without an http(s) URL": 1,
        "removed in the sidecar since an earlier import": 1,
    }
    async with sidecar_over(data) as (sc, client):
        assert (await client.request("mcp.servers.list"))["servers"] == []
