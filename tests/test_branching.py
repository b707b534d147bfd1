"""Edit, regenerate, branch switching, attachments and the context budget, end to end:
what matters is the exact prompt the provider receives."""

from __future__ import annotations

import base64

import pytest

from sidecar.dev.fakes import Script
from tests.chat_env import chat_env
from tests.harness import RpcFailure

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()


def sent(env) -> list[tuple[str, str]]:
    return [
        (m["role"], m["content"] if isinstance(m["content"], str) else "<parts>")
        for m in env.fake.requests[-1].body["messages"]
    ]


async def test_regenerate_and_edit_make_siblings_and_send_only_the_active_path(tmp_path):
    async with chat_env(tmp_path) as env:
        first = await env.send("Plan a trip")
        await env.settled(first["assistantMessageId"])
        second = await env.send("Day two?")
        await env.settled(second["assistantMessageId"])

        regen = await env.client.request(
            "chat.regenerate", {"messageId": second["assistantMessageId"]}
        )
        await env.settled(regen["assistantMessageId"])
        assert sent(env) == [
            ("system", "Be brief."),
            ("user", "Plan a trip"),
            ("assistant", "You said: Plan a trip"),
            ("user", "Day two?"),
        ]
        got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        assert got["messages"][-1]["id"] == regen["assistantMessageId"]
        assert got["messages"][-1]["siblingIds"] == [
            second["assistantMessageId"],
            regen["assistantMessageId"],
        ]

        edited = await env.client.request(
            "chat.edit", {"messageId": first["userMessageId"], "content": "Plan a hike"}
        )
        await env.settled(edited["assistantMessageId"])
        assert sent(env) == [("system", "Be brief."), ("user", "Plan a hike")]
        got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        assert [m["content"] for m in got["messages"]] == ["Plan a hike", "You said: Plan a hike"]
        assert got["messages"][0]["siblingIds"] == [first["userMessageId"], edited["userMessageId"]]

        # Back to the first branch: the next prompt is that branch, nothing from the edit.
        await env.client.request(
            "branches.switch",
            {"conversationId": env.conversation_id, "messageId": first["userMessageId"]},
        )
        third = await env.send("Day three?")
        await env.settled(third["assistantMessageId"])
        assert sent(env) == [
            ("system", "Be brief."),
            ("user", "Plan a trip"),
            ("assistant", "You said: Plan a trip"),
            ("user", "Day two?"),
            ("assistant", "You said: Day two?"),
            ("user", "Day three?"),
        ]
        tree = await env.client.request(
            "conversations.tree", {"conversationId": env.conversation_id}
        )
        assert len(tree["messages"]) == 9
        branches = await env.client.request(
            "branches.list", {"conversationId": env.conversation_id}
        )
        assert len(branches["branches"]) == 3

        for method, params in (
            ("chat.regenerate", {"messageId": first["userMessageId"]}),
            ("chat.edit", {"messageId": first["assistantMessageId"], "content": "x"}),
        ):
            with pytest.raises(RpcFailure) as err:
                await env.client.request(method, params)
            assert err.value.code == -32602
        with pytest.raises(RpcFailure) as err:
            await env.client.request("chat.regenerate", {"messageId": "nope"})
        assert err.value.reason == "NOT_FOUND"


async def test_text_and_json_attachments_are_inlined(tmp_path):
    async with chat_env(tmp_path) as env:
        ids = await env.send(
            "Summarize these",
            attachments=[
                {"name": "notes.txt", "mimeType": "text/plain", "text": "Buy milk."},
                {
                    "name": "data.json",
                    "mimeType": "application/json",
                    "data": base64.b64encode(b'{"a": 1}').decode(),
                },
            ],
        )
        await env.settled(ids["assistantMessageId"])
        user = env.fake.requests[-1].body["messages"][-1]
        assert user["content"] == (
            "Summarize these\n\n[Attachment: notes.txt (text/plain)]\nBuy milk."
            '\n\n[Attachment: data.json (application/json)]\n{"a": 1}'
        )
        got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        stored = got["messages"][0]["attachments"]
        assert [(a["name"], a["mimeType"], a["size"], a["text"]) for a in stored] == [
            ("notes.txt", "text/plain", 9, "Buy milk."),
            ("data.json", "application/json", 8, '{"a": 1}'),
        ]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_images_go_to_vision_models_only(tmp_path, kind):
    async with chat_env(tmp_path, kind) as env:
        image = {"name": "cat.png", "mimeType": "image/png", "data": PNG}
        with pytest.raises(RpcFailure) as err:
            await env.send("What is this?", attachments=[image])
        assert err.value.code == -32602 and "vision" in err.value.error["data"]["errors"][0]["msg"]
        assert (
            await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        )["messages"] == []
        await env.client.request(
            "models.upsert",
            {
                "model": {
                    "id": env.model_id,
                    "provider": env.provider_id,
                    "providerModel": f"upstream-{kind}",
                    "capabilities": {"vision": True},
                }
            },
        )
        ids = await env.send("What is this?", attachments=[image])
        await env.settled(ids["assistantMessageId"])
        # Later turns send the image again (it is part of the conversation).
        again = await env.send("And now?")
        await env.settled(again["assistantMessageId"])
        first_user = env.fake.requests[-1].body["messages"][0 if kind == "anthropic" else 1]
        parts = first_user["content"]
        if kind == "anthropic":
            image_part = next(p for p in parts if p["type"] == "image")
            assert image_part["source"] == {
                "type": "base64",
                "media_type": "image/png",
                "data": PNG,
            }
        else:
            image_part = next(p for p in parts if p["type"] == "image_url")
            assert image_part["image_url"]["url"] == f"data:image/png;base64,{PNG}"
        assert any(p.get("text") == "What is this?" for p in parts)
        stored = (
            await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        )["messages"][0]
        assert (
            stored["attachments"][0]["size"] == len(base64.b64decode(PNG))
            and stored["attachments"][0]["text"] is None
        )
        assert PNG not in str(env.client.events), "image bytes never travel in events"


async def test_bad_attachments_are_refused(tmp_path):
    async with chat_env(tmp_path) as env:
        for attachment in (
            {"name": "a", "mimeType": "text/plain"},
            {"name": "a", "mimeType": "text/plain", "text": "x", "data": "eA=="},
            {"name": "a", "mimeType": "text/plain", "data": "not base64!"},
            {"name": "a.pdf", "mimeType": "application/pdf", "data": "JVBERi0="},
        ):
            with pytest.raises(RpcFailure) as err:
                await env.send("x", attachments=[attachment])
            assert err.value.code == -32602
        assert env.fake.requests == []


async def test_context_budget_drops_oldest_turns_first(tmp_path):
    async with chat_env(tmp_path) as env:
        await env.client.request(
            "models.upsert",
            {
                "model": {
                    "id": env.model_id,
                    "provider": env.provider_id,
                    "providerModel": "upstream-openai",
                    "contextWindow": 2000,
                    "maxOutputTokens": 500,
                }
            },
        )
        for i in range(6):
            ids = await env.send(f"turn {i} " + "w" * 1200)  # ~300 tokens each
            await env.settled(ids["assistantMessageId"])
        messages = env.fake.requests[-1].body["messages"]
        assert messages[0] == {"role": "system", "content": "Be brief."}
        assert messages[-1]["content"].startswith("turn 5 ")
        assert messages[1]["role"] == "user"
        kept = len(messages) - 1
        assert 1 <= kept < 11
        started = [e for e in env.client.events if e["type"] == "assistant.stream.started"]
        assert started[0]["omittedMessages"] == 0
        assert started[-1]["omittedMessages"] == 11 - kept
        total_chars = sum(len(m["content"]) for m in messages)
        assert total_chars // 4 <= 2000 - 500


@pytest.mark.parametrize("send_back", [False, True])
async def test_deepseek_reasoning_goes_back_only_when_the_model_says_so(tmp_path, send_back):
    async with chat_env(tmp_path, "deepseek") as env:
        await env.client.request(
            "models.upsert",
            {
                "model": {
                    "id": env.model_id,
                    "provider": env.provider_id,
                    "providerModel": "upstream-deepseek",
                    "sendReasoningBack": send_back,
                }
            },
        )
        env.fake.enqueue(Script(text="42.", thinking="Let me think."))
        first = await env.send("Why?")
        await env.settled(first["assistantMessageId"])
        second = await env.send("Sure?")
        await env.settled(second["assistantMessageId"])
        assistant = env.fake.requests[-1].body["messages"][2]
        assert assistant["role"] == "assistant" and assistant["content"] == "42."
        assert ("reasoning_content" in assistant) is send_back
        if send_back:
            assert assistant["reasoning_content"] == "Let me think."
