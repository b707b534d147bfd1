"""`sidecar import-legacy`: the old app's database, built here from the assumed schema,
imported into a real store and read back through a real sidecar."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sidecar.legacy.plan import openai_base_url
from sidecar.legacy.read import to_ms
from sidecar.legacy.schema import LEGACY_SCHEMA
from tests.harness import Client, launch

BACKEND_KEY = "sk-legacy-backend-DISTINCT-7d1e"
OPENAI_KEY = "sk-legacy-openai-DISTINCT-42aa"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
NO_ENV_KEYS = {"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "DEEPSEEK_API_KEY": ""}


def build_legacy(folder: Path) -> Path:
    """An old app database with branches made by copying, attachments, usage and settings."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "attachments").mkdir()
    (folder / "attachments" / "fox.png").write_bytes(PNG)
    (folder / "attachments" / "notes.txt").write_text("pack light\n")
    path = folder / "chat_app.db"
    db = sqlite3.connect(path)
    db.executescript(LEGACY_SCHEMA)

    def add(table: str, **row: Any) -> None:
        db.execute(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )

    # Lisbon: Main (u1 a1 u2 a2), "Alt plan" from a1 (copies u1 a1, then u3 a3),
    # "Just copies" from u2 (copies u1 a1 u2 only). The UI showed "Alt plan".
    add("conversations", id="c1", title="Trip to Lisbon", model="gpt-4o-mini",
        system_prompt_id="p2", active_branch_id="b2",
        created_at="2024-03-01 10:00:00", updated_at="2024-03-01 10:09:00")  # fmt: skip
    add("branches", id="b1", conversation_id="c1", name="Main", created_at="2024-03-01 10:00:00")
    add("branches", id="b2", conversation_id="c1", name="Alt plan", parent_branch_id="b1",
        created_from_message_id="m2", created_at="2024-03-01 10:05:00")  # fmt: skip
    add("branches", id="b3", conversation_id="c1", name="Just copies", parent_branch_id="b1",
        created_from_message_id="m3", created_at="2024-03-01 10:08:00")  # fmt: skip

    def branch(branch_id: str, rows: list[tuple[str, str, str]], model: str | None, at) -> None:
        for i, (mid, role, text) in enumerate(rows):
            add("messages", id=mid, conversation_id="c1", branch_id=branch_id, role=role,
                content=text, model=model if role == "assistant" else None, created_at=at(i))  # fmt: skip

    main = [("m1", "user", "Plan a trip to Lisbon"), ("m2", "assistant", "Day 1: Alfama."),
            ("m3", "user", "Add Sintra"), ("m4", "assistant", "Day 2: Sintra.")]  # fmt: skip
    branch("b1", main, "gpt-4o-mini", lambda i: f"2024-03-01 10:0{i}:00")
    alt = [("m5", "user", "Plan a trip to Lisbon"), ("m6", "assistant", "Day 1: Alfama."),
           ("m7", "user", "Make it cheaper"), ("m8", "assistant", "Hostels and trams.")]  # fmt: skip
    branch("b2", alt, "llama3", lambda i: f"2024-03-01 10:0{5 + i // 2}:0{i}")
    copies = [(f"{mid}-copy", role, text) for mid, role, text in main[:3]]
    branch("b3", copies, None, lambda i: "2024-03-01 10:08:00")
    add("attachments", id="a1", message_id="m1", name="fox.png", type="image", size=len(PNG),
        mime_type="image/png", file_path="attachments/fox.png")  # fmt: skip
    add("attachments", id="a2", message_id="m1", name="notes.txt", type="text", size=11,
        mime_type="text/plain", file_path="attachments/notes.txt")  # fmt: skip
    add("attachments", id="a3", message_id="m3", name="gone.pdf", type="file", size=5,
        mime_type="application/pdf", file_path="attachments/gone.pdf")  # fmt: skip
    add("message_usage", message_id="m2", model="gpt-4o-mini", prompt_tokens=100,
        completion_tokens=20, total_tokens=120, estimated_cost=0.001, created_at="2024-03-01 10:01:00")  # fmt: skip
    add("message_usage", message_id="m4", model="gpt-4o-mini", prompt_tokens=200,
        completion_tokens=30, total_tokens=230, estimated_cost=0.002, created_at="2024-03-01 10:03:00")  # fmt: skip
    add("message_usage", message_id="m8", model="llama3", prompt_tokens=50,
        completion_tokens=10, total_tokens=60, created_at="2024-03-01 10:06:03")  # fmt: skip

    # An untitled chat from before branches existed: epoch-ms times, a system message,
    # and two replies stored in the same millisecond (the row order decides).
    add("conversations", id="c2", title="New Conversation", created_at=1709300000000,
        updated_at=1709300000000)  # fmt: skip
    for mid, role, text in [("n0", "system", "Talk like a pirate."), ("n1", "user", "Hi"),
                            ("n2", "assistant", "Ahoy"), ("n3", "user", "Bye"),
                            ("n4", "assistant", "Arr")]:  # fmt: skip
        add("messages", id=mid, conversation_id="c2", role=role, content=text,
            created_at=1709300000000 if mid in ("n3", "n4") else 1709299999000)  # fmt: skip

    add("custom_backends", id="cb1", name="My Ollama", url="http://localhost:11434",
        api_key=BACKEND_KEY)  # fmt: skip
    add("models", provider="custom", model_id="llama3", name="Llama 3", enabled=1,
        custom_backend_id="cb1", context_window=8192, capabilities='{"vision": false, "tools": true}')  # fmt: skip
    add("models", provider="openai", model_id="gpt-4o", enabled=0)
    add("api_keys", provider="openai", api_key=OPENAI_KEY)
    add("system_prompts", id="p1", name="Default", content="You are terse.", is_default=1)
    add("system_prompts", id="p2", name="Travel", content="You plan trips.", is_default=0)
    add("preferences", key="last_used_model", value="llama3")
    add("preferences", key="theme", value='"dark"')
    add("preferences", key="fontSize", value="14")
    db.commit()
    db.close()
    return path


def import_legacy(
    legacy: Path, data: Path, *flags: str, as_json: bool = True
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sidecar", "import-legacy", "--db", str(legacy)]
    command += ["--data-dir", str(data), *flags] + (["--json"] if as_json else [])
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    for key in (BACKEND_KEY, OPENAI_KEY):
        assert key not in done.stdout + done.stderr, "a key reached the output"
    return json.loads(done.stdout)


EXPECTED = {
    "conversations": 2,
    "messages": 10,  # Lisbon 4 + 2 of Alt plan (its copies are Main's), pirate 4
    "branchNames": 1,  # "Alt plan"; Main is named by the sidecar; "Just copies" has no leaf
    "attachments": 3,
    "attachmentFiles": 1,  # the image (the text is inline, the PDF is missing)
    "usage": 3,
    "systemPrompts": 2,
    "providers": 1,
    "apiKeys": 2,
    "models": 2,  # llama3, and gpt-4o disabled
    "preferences": 3,
    "settings": 2,  # lastModelId, defaultSystemPrompt
}


async def test_dry_run_writes_nothing_then_import_is_complete_and_idempotent(tmp_path):
    legacy = build_legacy(tmp_path / "old")
    data = tmp_path / "data"

    dry = report(import_legacy(legacy, data, "--dry-run"))
    assert dry["dryRun"] is True and dry["added"] == EXPECTED
    assert not data.exists(), "a dry run writes nothing"

    first = report(import_legacy(legacy, data))
    assert first["added"] == EXPECTED
    assert first["notes"] == {
        "missingAttachmentFiles": 1,
        "branchesWithoutOwnMessages": 1,
        "systemMessagesSkipped": 0,
        "backendsWithoutUsableUrl": 0,
        "conversationsContinued": 0,
    }
    assert first["found"]["messages"] == 16
    again = report(import_legacy(legacy, data))
    assert set(again["added"].values()) == {0}, again["added"]
    assert report(import_legacy(legacy, data, "--dry-run"))["added"] == again["added"]
    text = import_legacy(legacy, data, "--dry-run", as_json=False).stdout
    assert "dry run: nothing written" in text and "conversations" in text

    sc = launch(data, env=NO_ENV_KEYS)
    try:
        client = await Client.open(sc)
        await check_imported(client, data)
        await client.close()
    finally:
        sc.terminate()
    for key in (BACKEND_KEY, OPENAI_KEY):
        assert key not in sc.stderr()


async def check_imported(client: Client, data: Path) -> None:
    listed = (await client.request("conversations.list", {}))["items"]
    by_title = {c["title"]: c for c in listed}
    assert set(by_title) == {"Trip to Lisbon", None}
    lisbon, pirate = by_title["Trip to Lisbon"], by_title[None]
    assert lisbon["titleSource"] == "generated" and pirate["titleSource"] is None
    assert lisbon["modelId"] == "gpt-4o-mini" and lisbon["createdAt"] == "2024-03-01T10:00:00.000Z"
    listed_prompts = (await client.request("systemPrompts.list"))["systemPrompts"]
    prompts = {p["name"]: p for p in listed_prompts}
    assert set(prompts) == {"Default", "Travel"}
    assert lisbon["settings"]["systemPromptId"] == prompts["Travel"]["id"]

    # The active branch is "Alt plan", laid over Main: the copies are Main's own messages.
    got = await client.request("conversations.get", {"conversationId": lisbon["id"]})
    path = got["messages"]
    assert [m["content"] for m in path] == [
        "Plan a trip to Lisbon",
        "Day 1: Alfama.",
        "Make it cheaper",
        "Hostels and trams.",
    ]
    assert all(m["status"] == "complete" for m in path)
    assert len(path[2]["siblingIds"]) == 2, "Alt plan forks after the first reply"
    assert path[3]["modelId"] == "llama3" and path[3]["provider"] == "my-ollama"
    assert path[3]["usage"]["inputTokens"] == 50
    first = path[0]
    image = next(a for a in first["attachments"] if a["name"] == "fox.png")
    text = next(a for a in first["attachments"] if a["name"] == "notes.txt")
    assert text["text"] == "pack light\n" and image["text"] is None
    assert (data / "attachments" / image["id"]).read_bytes() == PNG
    branches = (await client.request("branches.list", {"conversationId": lisbon["id"]}))["branches"]
    assert sorted((b["name"], b["active"], b["messageCount"]) for b in branches) == [
        ("Alt plan", True, 4),
        ("Main", False, 4),
    ]

    pirate_path = (await client.request("conversations.get", {"conversationId": pirate["id"]}))[
        "messages"
    ]
    assert [m["content"] for m in pirate_path] == ["Hi", "Ahoy", "Bye", "Arr"]
    assert (await client.request("conversations.get", {"conversationId": pirate["id"]}))[
        "conversation"
    ]["systemPrompt"] == "Talk like a pirate."

    summary = await client.request("usage.summary", {"groupBy": "model"})
    assert summary["totals"]["calls"] == 3
    assert summary["totals"]["inputTokens"] == 350 and summary["totals"]["outputTokens"] == 60
    assert summary["totals"]["costUsd"] == pytest.approx(0.003)

    providers = {p["id"]: p for p in (await client.request("providers.list"))["providers"]}
    ollama = providers["my-ollama"]
    assert ollama["kind"] == "openai-compatible" and ollama["name"] == "My Ollama"
    assert ollama["baseUrl"] == "http://localhost:11434/v1"
    assert ollama["hasKey"] and ollama["keySource"] == "stored"
    assert providers["openai"]["keySource"] == "stored"
    models = {m["id"]: m for m in (await client.request("models.list", {}))["models"]}
    assert models["llama3"]["provider"] == "my-ollama" and models["llama3"]["contextWindow"] == 8192
    assert (
        models["llama3"]["capabilities"]["tools"] and not models["llama3"]["capabilities"]["vision"]
    )
    assert models["gpt-4o"]["enabled"] is False and models["gpt-4o"]["pricing"] is not None
    settings = (await client.request("settings.get"))["settings"]
    assert settings["lastModelId"] == "llama3"
    assert settings["defaultSystemPrompt"] == "You are terse."
    assert settings["preferences"] == {"last_used_model": "llama3", "theme": "dark", "fontSize": 14}

    found = await client.request("conversations.list", {"query": "hostels"})
    assert [c["id"] for c in found["items"]] == [lisbon["id"]], "imported text is searchable"


async def test_importing_at_every_start_follows_where_the_old_app_went_on(tmp_path):
    """Between two imports the old app continued the pirate chat and titled it: the next
    import shows its newest messages (the active leaf moves) and takes the title; Lisbon,
    untouched by the old app, stays as it was."""
    legacy = build_legacy(tmp_path / "old")
    data = tmp_path / "data"
    report(import_legacy(legacy, data))

    db = sqlite3.connect(legacy)
    for mid, role, text, at in [("n5", "user", "More?", 1709300060000),
                                ("n6", "assistant", "Yo ho", 1709300061000)]:  # fmt: skip
        db.execute(
            "INSERT INTO messages (id, conversation_id, role, content, created_at) "
            "VALUES (?, 'c2', ?, ?, ?)",
            (mid, role, text, at),
        )
    db.execute("UPDATE conversations SET title = 'Pirate talk', updated_at = 1709300061000 "
               "WHERE id = 'c2'")  # fmt: skip
    db.commit()
    db.close()

    again = report(import_legacy(legacy, data))
    assert again["added"]["messages"] == 2 and again["added"]["conversations"] == 0
    assert again["notes"]["conversationsContinued"] == 1
    assert report(import_legacy(legacy, data))["notes"]["conversationsContinued"] == 0

    sc = launch(data, env=NO_ENV_KEYS)
    try:
        client = await Client.open(sc)
        listed = {c["title"]: c for c in (await client.request("conversations.list", {}))["items"]}
        assert set(listed) == {"Trip to Lisbon", "Pirate talk"}
        assert listed["Pirate talk"]["titleSource"] == "generated"
        pirate = await client.request(
            "conversations.get", {"conversationId": listed["Pirate talk"]["id"]}
        )
        assert [m["content"] for m in pirate["messages"]] == [
            "Hi", "Ahoy", "Bye", "Arr", "More?", "Yo ho"
        ]  # fmt: skip
        lisbon = await client.request(
            "conversations.get", {"conversationId": listed["Trip to Lisbon"]["id"]}
        )
        assert lisbon["messages"][-1]["content"] == "Hostels and trams."
        await client.close()
    finally:
        sc.terminate()


async def test_refuses_while_a_sidecar_has_the_store_open_and_never_overwrites(tmp_path):
    legacy = build_legacy(tmp_path / "old")
    data = tmp_path / "data"
    sc = launch(data, env=NO_ENV_KEYS)
    try:
        client = await Client.open(sc)
        await client.request("settings.update", {"preferences": {"theme": "light"}})
        await client.close()
        refused = import_legacy(legacy, data)
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr.startswith("sidecar: error: ") and "running sidecar" in refused.stderr
        assert refused.stderr.count("\n") == 1
        assert report(import_legacy(legacy, data, "--dry-run"))["added"]["conversations"] == 2
    finally:
        sc.terminate()
    assert report(import_legacy(legacy, data))["added"]["preferences"] == 2
    db = sqlite3.connect(data / "sidecar.db")
    theme = db.execute("SELECT value FROM settings WHERE key = 'preferences'").fetchone()[0]
    db.close()
    assert json.loads(theme)["theme"] == "light", "what the sidecar has wins"


def test_an_older_app_database_with_only_the_core_columns(tmp_path):
    legacy = tmp_path / "old.db"
    db = sqlite3.connect(legacy)
    db.executescript(
        "CREATE TABLE conversations (id INTEGER PRIMARY KEY, title TEXT);"
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id INTEGER,"
        " role TEXT, content TEXT);"
        "INSERT INTO conversations VALUES (1, 'Old one');"
        "INSERT INTO messages VALUES (1, 1, 'user', 'Q'), (2, 1, 'assistant', 'A');"
    )
    db.commit()
    db.close()
    added = report(import_legacy(legacy, tmp_path / "data"))["added"]
    assert (added["conversations"], added["messages"], added["usage"]) == (1, 2, 0)


def test_not_an_old_app_database_is_one_line(tmp_path):
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    for path in (other, tmp_path / "missing.db"):
        done = import_legacy(path, tmp_path / "data")
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert "Traceback" not in done.stderr


def test_a_store_that_is_not_a_database_is_one_line(tmp_path):
    legacy = build_legacy(tmp_path / "old")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sidecar.db").write_bytes(b"not a database at all" * 100)
    done = import_legacy(legacy, tmp_path / "data")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "sidecar.db" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("http://localhost:11434", "http://localhost:11434/v1"),
        ("http://localhost:11434/api/chat", "http://localhost:11434/v1"),
        ("localhost:1234/v1/", "http://localhost:1234/v1"),
        ("https://openrouter.ai/api/v1/chat/completions", "https://openrouter.ai/api/v1"),
        ("ftp://example.com", None),
        ("", None),
    ],
)
def test_backend_urls_become_openai_compatible_base_urls(stored, expected):
    assert openai_base_url(stored) == expected


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("2024-03-01 10:00:00", 1709287200000),
        ("2024-03-01T10:00:00.250Z", 1709287200250),
        ("2024-03-01T11:00:00+01:00", 1709287200000),
        (1709287200, 1709287200000),
        (1709287200250, 1709287200250),
        ("1709287200", 1709287200000),
        ("yesterday", None),
        (None, None),
    ],
)
def test_old_timestamps_in_every_format(value, ms):
    assert to_ms(value) == ms
