"""Model profiles through a real sidecar: the catalog's profile of a model (thinking style,
effort levels, sampling) decides what each adapter sends, and the fakes refuse what the
real models refuse, so a wrong request fails here. Also the effort mapping itself."""

from __future__ import annotations

import httpx
import pytest

from sidecar.dev.fakes import FakeProvider, Script
from sidecar.dev.fakes.model_rules import REASONING_NOT_PASSED_BACK
from sidecar.protocol.objects import ModelProfile
from sidecar.providers.base import effort_level
from tests.chat_env import API_KEY, PRICING, chat_env
from tests.test_providers import request
from tests.test_tools import call

DEEPSEEK_V4 = {
    "thinking": "effort",
    "efforts": ["low", "high", "max"],
    "sampling": ["temperature", "top_p"],
}
OPUS_47 = {
    "thinking": "adaptive-only",
    "efforts": ["low", "medium", "high", "xhigh", "max"],
    "sampling": [],
}


@pytest.mark.parametrize(
    ("efforts", "wanted", "sent"),
    [
        (["low", "high", "max"], "medium", "high"),  # rounds up, as DeepSeek's API does
        (["low", "high", "max"], "low", "low"),
        (["minimal", "low", "medium", "high"], "max", "high"),
        (["none", "low", "medium", "high", "xhigh"], "max", "xhigh"),
        (["low", "medium", "high"], "auto", None),
        ([], "high", None),
        (["low"], "high", "low"),  # nothing above: the model's highest
    ],
)
def test_effort_maps_onto_the_models_levels(efforts, wanted, sent):
    req = request(profile=ModelProfile(thinking="summaries", efforts=efforts), effort=wanted)
    assert effort_level(req) == sent


async def use_model(env, model_id: str, provider_model: str, profile: dict, **settings) -> None:
    """A user model with `profile` for the env's provider, and the conversation on it."""
    await env.client.request(
        "models.upsert",
        {
            "model": {
                "id": model_id,
                "provider": env.provider_id,
                "providerModel": provider_model,
                "pricing": PRICING,
                "profile": profile,
                "sendReasoningBack": profile["thinking"] == "effort",
            }
        },
    )
    await env.client.request(
        "conversations.update",
        {"conversationId": env.conversation_id, "modelId": model_id, "settings": settings},
    )


async def test_deepseek_v4_tool_loop_sends_reasoning_back_and_no_sampling(tmp_path):
    async with chat_env(tmp_path, "deepseek") as env:
        await use_model(
            env, "v4", "deepseek-v4-flash", DEEPSEEK_V4, effort="medium", temperature=0.4
        )
        env.fake.enqueue(
            Script(
                text="",
                thinking="I should compute.",
                tool_calls=[call("calculate", {"expression": "6*7"})],
            ),
            Script(text="", tool_calls=[call("calculate", {"expression": "1+1"}, "call_2")]),
            Script(text="42 and 2.", thinking="Done."),
        )
        ids = await env.send("Compute", tools=["calculate"])
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "complete", final["error"]
        assert final["content"] == "42 and 2." and final["thinking"].startswith("I should compute.")
        first, second, third = (r.body for r in env.fake.requests)
        assert first["reasoning_effort"] == "high", "medium rounds up to the model's high"
        assert "temperature" not in first, "ignored by DeepSeek while it thinks: not sent"
        [step1] = [m for m in second["messages"] if m.get("tool_calls")]
        assert step1["reasoning_content"] == "I should compute."
        steps = [m for m in third["messages"] if m.get("tool_calls")]
        assert [m["reasoning_content"] for m in steps] == ["I should compute.", ""], (
            "a tool-call turn without reasoning still carries the field"
        )
        # The next turn (no tools) still replays the tool turns with their reasoning.
        env.fake.enqueue(Script(text="Sure."))
        ids = await env.send("Thanks")
        assert (await env.settled(ids["assistantMessageId"]))["status"] == "complete"
        fourth = env.fake.requests[-1].body
        assert all("reasoning_content" in m for m in fourth["messages"] if m.get("tool_calls"))


async def test_the_deepseek_fake_refuses_a_tool_turn_without_reasoning():
    async with FakeProvider("deepseek") as fake:
        body = {
            "model": "deepseek-v4-pro",
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c", "content": "1"},
            ],
        }
        async with httpx.AsyncClient() as http:
            answer = await http.post(f"{fake.base_url}/chat/completions", json=body)
            assert answer.status_code == 400
            assert answer.json()["error"]["message"] == REASONING_NOT_PASSED_BACK
            off = {**body, "thinking": {"type": "disabled"}}
            assert (
                await http.post(f"{fake.base_url}/chat/completions", json=off)
            ).status_code == 200


async def test_anthropic_adaptive_only_model_gets_adaptive_thinking_and_effort(tmp_path):
    async with chat_env(tmp_path, "anthropic") as env:
        await use_model(env, "opus", "claude-opus-4-7", OPUS_47, effort="max", temperature=0.3)
        env.fake.enqueue(Script(text="Deep answer.", thinking="Let me think."))
        ids = await env.send("Hard question")
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "complete", final["error"]
        assert final["thinking"] == "Let me think."
        body = env.fake.requests[-1].body
        assert body["thinking"] == {"type": "adaptive", "display": "summarized"}
        assert body["output_config"] == {"effort": "max"}
        assert "temperature" not in body and "top_p" not in body, "Opus 4.7 refuses them"


async def test_anthropic_budget_model_thinks_only_with_an_effort(tmp_path):
    async with chat_env(tmp_path, "anthropic") as env:
        budget = {"thinking": "budget", "efforts": [], "sampling": ["temperature", "top_p"]}
        await use_model(env, "sonnet45", "claude-sonnet-4-5-20250929", budget, temperature=0.3)
        env.fake.enqueue(Script(text="Plain."), Script(text="Thought.", thinking="Hmm."))
        ids = await env.send("One")
        assert (await env.settled(ids["assistantMessageId"]))["status"] == "complete"
        assert "thinking" not in env.fake.requests[-1].body
        assert env.fake.requests[-1].body["temperature"] == 0.3
        await env.client.request(
            "conversations.update",
            {"conversationId": env.conversation_id, "settings": {"effort": "low"}},
        )
        ids = await env.send("Two")
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "complete" and final["thinking"] == "Hmm."
        body = env.fake.requests[-1].body
        assert body["thinking"]["type"] == "enabled" and body["thinking"]["budget_tokens"] >= 1024
        assert "temperature" not in body


@pytest.mark.parametrize(
    ("model", "body", "refused"),
    [
        (
            "claude-opus-4-7",
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
            '"thinking.type.enabled" is not supported for this model',
        ),
        ("claude-opus-4-7", {"temperature": 0.5}, "`temperature` is not supported"),
        ("claude-sonnet-4-5-20250929", {"thinking": {"type": "adaptive"}}, "not supported"),
        (
            "claude-sonnet-4-5-20250929",
            {"thinking": {"type": "enabled", "budget_tokens": 2048}, "temperature": 0.5},
            "`temperature` may only be set to 1 when thinking is enabled",
        ),
        (
            "claude-sonnet-4-6",
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "xhigh"}},
            "output_config.effort",
        ),
    ],
)
async def test_the_anthropic_fake_refuses_what_the_model_refuses(model, body, refused):
    async with FakeProvider("anthropic") as fake:
        fake.api_key = API_KEY
        request_body = {
            "model": model,
            "max_tokens": 8000,
            "messages": [{"role": "user", "content": "hi"}],
            **body,
        }
        headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"{fake.base_url}/v1/messages", json=request_body, headers=headers
            )
        assert answer.status_code == 400
        assert refused in answer.json()["error"]["message"]


async def test_openai_reasoning_model_on_responses_gets_effort_and_no_sampling(tmp_path):
    async with chat_env(tmp_path, "openai", api=None) as env:
        summaries = {
            "thinking": "summaries",
            "efforts": ["minimal", "low", "medium", "high"],
            "sampling": [],
        }
        await use_model(env, "g5", "gpt-5", summaries, effort="low", temperature=0.7)
        env.fake.enqueue(Script(text="Answer.", thinking="Reasoned."))
        ids = await env.send("Question")
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "complete", final["error"]
        body = env.fake.requests[-1].body
        assert body["reasoning"] == {"summary": "auto", "effort": "low"}
        assert "temperature" not in body
        # The same model told to take sampling is refused by the fake, as by OpenAI.
        wrong = {**summaries, "sampling": ["temperature"]}
        await use_model(env, "g5", "gpt-5", wrong)
        ids = await env.send("Again")
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "failed"
        assert "temperature" in final["error"]["message"]
