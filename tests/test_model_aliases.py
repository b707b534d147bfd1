"""The old app's model ids keep working: aliases in the catalog, one resolver everywhere.

The old desktop app names models by its own registry's ids (`gpt-4-1` for the API's
`gpt-4.1`, Anthropic's dated snapshots, ...). Each one resolves to the right provider
and model in chat.send (the fake provider receives the API's model name), chat.record
and usage.summary; the ids that name no chat model (`dall-e-3`, `whisper-1`, the old
app's local `claude-cli-…`, a typo) are a precise NOT_FOUND that stores nothing.
User models may carry aliases too; a user id wins over a built-in alias.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sidecar.dev.fakes import Script, Usage
from sidecar.engine.reports import Reports
from sidecar.ids import new_id
from sidecar.protocol.objects import UsageRecord, dump
from sidecar.protocol.reports import UsageSummaryParams
from sidecar.registry import catalog, not_chat_reason, resolve_alias
from tests.chat_env import chat_env
from tests.harness import RpcFailure
from tests.seed import open_repos

# Every id the old app's UI sends: (old id, provider, the id its past calls are kept
# under, the model that answers a new call, the name sent upstream). A retired model's
# replacement answers for it, but its own calls stay its own.
OLD_APP_IDS: list[tuple[str, str, str, str, str]] = [
    ("gpt-5", "openai", "gpt-5", "gpt-5", "gpt-5"),
    ("gpt-5-mini", "openai", "gpt-5-mini", "gpt-5-mini", "gpt-5-mini"),
    ("gpt-5-nano", "openai", "gpt-5-nano", "gpt-5-nano", "gpt-5-nano"),
    ("gpt-4-1", "openai", "gpt-4.1", "gpt-4.1", "gpt-4.1"),
    ("gpt-4-1-mini", "openai", "gpt-4.1-mini", "gpt-4.1-mini", "gpt-4.1-mini"),
    ("gpt-4-1-nano", "openai", "gpt-4.1-nano", "gpt-5.6-luna", "gpt-5.6-luna"),
    ("gpt-4o", "openai", "gpt-4o", "gpt-4o", "gpt-4o"),
    ("gpt-4o-mini", "openai", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini"),
    ("o3", "openai", "o3", "o3", "o3"),
    ("o3-mini", "openai", "o3-mini", "gpt-5.6-sol", "gpt-5.6-sol"),
    ("o1", "openai", "o1", "gpt-5.6-sol", "gpt-5.6-sol"),
    ("o1-mini", "openai", "o1-mini", "gpt-5.6-sol", "gpt-5.6-sol"),
    ("gpt-4-turbo", "openai", "gpt-4-turbo", "gpt-5.6-sol", "gpt-5.6-sol"),
    ("gpt-3.5-turbo", "openai", "gpt-3.5-turbo", "gpt-5.6-terra", "gpt-5.6-terra"),
    (
        "claude-sonnet-4-5-20250929",
        "anthropic",
        "claude-sonnet-4-5",
        "claude-sonnet-5-5",
        "claude-sonnet-5-5",
    ),
    (
        "claude-haiku-4-5-20251001",
        "anthropic",
        "claude-haiku-4-5",
        "claude-haiku-4-5",
        "claude-haiku-4-5-20251001",
    ),
    (
        "claude-opus-4-5-20251101",
        "anthropic",
        "claude-opus-4-5",
        "claude-opus-4-5",
        "claude-opus-4-5-20251101",
    ),
    ("deepseek-chat", "deepseek", "deepseek-chat", "deepseek-flash", "deepseek-flash"),
    ("deepseek-reasoner", "deepseek", "deepseek-reasoner", "deepseek-flash", "deepseek-flash"),
]
# The old app's ids that name no chat model, and what the error must say.
NOT_CHAT_IDS: list[tuple[str, str]] = [
    ("dall-e-3", "dall-e-3 is an image model"),
    ("whisper-1", "whisper-1 is a speech-to-text model"),
    ("claude-cli-sonnet", "claude-cli-sonnet runs a local CLI"),
    ("claude-cli-", "claude-cli- runs a local CLI"),
]
TYPO = ("gpt-4-1x", "no model has the id or alias gpt-4-1x (see models.list); did you mean gpt-4-1")
# A transcription model is a catalog model (its id is kept as is), just not a chat one.
TRANSCRIPTION_IDS = {"whisper-1"}
ALL_IDS = [(i, p, k, c, u, None) for i, p, k, c, u in OLD_APP_IDS] + [
    (i, None, i if i in TRANSCRIPTION_IDS else None, None, None, why)
    for i, why in [*NOT_CHAT_IDS, TYPO]
]


async def titled(env) -> None:
    """A title, so no automatic title call joins the fake's requests."""
    await env.client.request(
        "conversations.update", {"conversationId": env.conversation_id, "title": "Old ids"}
    )


async def messages_of(env) -> list[dict[str, Any]]:
    got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
    return got["messages"]


@pytest.mark.parametrize(
    "old_id, provider, kept_as, canonical, upstream, why", ALL_IDS, ids=[c[0] for c in ALL_IDS]
)
async def test_every_old_app_id_resolves_or_is_refused_precisely(
    tmp_path, old_id, provider, kept_as, canonical, upstream, why
):
    """chat.send with the old app's id: the right provider gets the API's model name and
    the stored reply names the model that answered (a retired model's replacement); an
    id of no chat model stores nothing. The importer keeps past calls under `kept_as`."""
    assert resolve_alias(old_id) == kept_as
    async with chat_env(tmp_path, provider or "openai") as env:
        await titled(env)
        if why is not None:
            settings = await env.client.request("settings.get")
            before = len(env.client.events)
            with pytest.raises(RpcFailure) as err:
                await env.send("Draw me a cat", modelId=old_id)
            assert err.value.reason == "NOT_FOUND" and err.value.code == -32001
            assert why in err.value.error["message"]
            assert err.value.error["message"].startswith(f"model {old_id} not found: ")
            assert err.value.data["kind"] == "model" and err.value.data["id"] == old_id
            assert env.client.events[before:] == [], "no event: nothing happened"
            assert await messages_of(env) == [] and env.fake.requests == []
            assert await env.client.request("settings.get") == settings, "lastModelId kept"
            return
        model = catalog().by_id()[canonical]
        env.fake.enqueue(Script(text="Still here.", usage=Usage(input_tokens=100, output_tokens=9)))
        ids = await env.send("Which model are you?", modelId=old_id)
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "complete" and final["content"] == "Still here."
        assert final["modelId"] == canonical and final["provider"] == provider
        assert [r.body["model"] for r in env.fake.requests] == [upstream]
        recorded = next(
            e["usage"]
            for e in env.events_of(ids["assistantMessageId"])
            if e["type"] == "usage.recorded"
        )
        assert recorded["modelId"] == canonical
        assert (recorded["costUsd"] is None) == (model.pricing is None)
        settings = (await env.client.request("settings.get"))["settings"]
        assert settings["lastModelId"] == canonical


async def test_a_conversation_keeps_the_old_id_and_its_turns_resolve_it(tmp_path):
    """conversations.create takes the old app's id as it is; each turn resolves it."""
    async with chat_env(tmp_path, "anthropic") as env:
        conv = await env.client.request(
            "conversations.create", {"modelId": "claude-haiku-4-5-20251001", "title": "Old"}
        )
        env.conversation_id = conv["conversation"]["id"]
        assert conv["conversation"]["modelId"] == "claude-haiku-4-5-20251001"
        ids = await env.send("Hello")
        final = await env.settled(ids["assistantMessageId"])
        assert final["modelId"] == "claude-haiku-4-5" and final["provider"] == "anthropic"
        assert [r.body["model"] for r in env.fake.requests] == ["claude-haiku-4-5-20251001"]
        regenerated = await env.client.request(
            "chat.regenerate", {"messageId": ids["assistantMessageId"]}
        )
        again = await env.settled(regenerated["assistantMessageId"])
        assert again["modelId"] == "claude-haiku-4-5"


async def test_models_list_carries_the_aliases(tmp_path):
    async with chat_env(tmp_path) as env:
        models = {m["id"]: m for m in (await env.client.request("models.list"))["models"]}
        assert models["gpt-4.1"]["aliases"] == ["gpt-4-1"]
        assert models["claude-haiku-4-5"]["aliases"] == [
            "claude-haiku-4-5-20251001",
            "claude-3-5-haiku",
            "claude-3-5-haiku-20241022",
        ]
        assert models["claude-sonnet-5-5"]["aliases"] == [
            "claude-sonnet-4-5",
            "claude-sonnet-4-5-20250929",
        ], "a retired model's names, answered by its replacement"
        notes = models["claude-sonnet-5-5"]["aliasNotes"]
        assert notes["claude-sonnet-4-5-20250929"].startswith(
            "claude-sonnet-4-5-20250929 (a name of claude-sonnet-4-5) was retired by anthropic "
            "on 2026-11-30"
        )
        assert notes["claude-sonnet-4-5"].endswith("; Claude Sonnet 5.5 answers for it")
        assert models["gpt-4o"]["aliases"] == [] and models[env.model_id]["aliases"] == []
        names = [n for m in models.values() for n in (m["id"], *m["aliases"])]
        assert len(names) == len(set(names)), "each name resolves to one model"


async def record_reply(env, model_id: str, output_tokens: int = 0) -> dict[str, Any]:
    """chat.record of a finished reply by `model_id` using a million input tokens; the
    stored reply."""
    recorded = await env.client.request(
        "chat.record",
        {
            "conversationId": env.conversation_id,
            "content": "Hi",
            "reply": {
                "content": "Hello",
                "modelId": model_id,
                "status": "complete",
                "usage": {"inputTokens": 1_000_000, "outputTokens": output_tokens},
            },
        },
    )
    return await env.stored(recorded["assistantMessageId"])


async def test_chat_record_with_an_old_id_stores_the_canonical_model(tmp_path):
    async with chat_env(tmp_path) as env:
        reply = await record_reply(env, "gpt-4-1-mini")
        assert reply["modelId"] == "gpt-4.1-mini" and reply["provider"] == "openai"
        assert reply["usage"]["costUsd"] == pytest.approx(0.4), "gpt-4.1-mini's input price"
        with pytest.raises(RpcFailure) as err:
            await env.client.request(
                "chat.record",
                {
                    "conversationId": env.conversation_id,
                    "content": "Hi",
                    "reply": {"content": "…", "modelId": "whisper-1", "status": "complete"},
                },
            )
        assert err.value.reason == "NOT_FOUND"
        assert "whisper-1 is a speech-to-text model" in err.value.error["message"]


async def test_chat_record_keeps_a_retired_models_reply_its_own_at_its_prices(tmp_path):
    """An old reply of a retired model is recorded under that model at the prices it had
    (never its replacement's), or with no cost when the catalog never knew them; a new
    chat with its id goes to the replacement at the replacement's prices."""
    async with chat_env(tmp_path) as env:
        await titled(env)

        async def record(model_id: str) -> dict[str, Any]:
            return await record_reply(env, model_id, output_tokens=1_000_000)

        old = await record("gpt-3.5-turbo")
        assert old["modelId"] == "gpt-3.5-turbo" and old["provider"] == "openai"
        assert old["usage"]["costUsd"] == pytest.approx(0.5 + 1.5), "its own prices"
        snapshot = await record("gpt-4-1-nano")
        assert snapshot["modelId"] == "gpt-4.1-nano"
        assert snapshot["usage"]["costUsd"] == pytest.approx(0.1 + 0.4)
        unpriced = await record("claude-3-5-haiku-20241022")
        assert unpriced["modelId"] == "claude-3-5-haiku" and unpriced["provider"] == "anthropic"
        assert unpriced["usage"]["costUsd"] is None, "never priced here: no cost, not Haiku 4.5's"

        terra = catalog().by_id()["gpt-5.6-terra"]
        assert terra.pricing is not None
        env.fake.enqueue(Script(text="New.", usage=Usage(input_tokens=1_000_000, output_tokens=0)))
        ids = await env.send("And now?", modelId="gpt-3.5-turbo")
        new = await env.settled(ids["assistantMessageId"])
        assert new["modelId"] == "gpt-5.6-terra"
        assert new["usage"]["costUsd"] == pytest.approx(terra.pricing.input)
        grouped = await env.client.request("usage.summary", {"groupBy": "model"})
        assert {r["key"]: r["calls"] for r in grouped["rows"]} == {
            "gpt-3.5-turbo": 1,
            "gpt-4.1-nano": 1,
            "claude-3-5-haiku": 1,
            "gpt-5.6-terra": 1,
        }


# --- usage.summary ---------------------------------------------------------------------


async def test_usage_summary_filters_and_groups_by_an_alias(tmp_path):
    async with chat_env(tmp_path) as env:
        await titled(env)
        for model_id in ("gpt-4-1", "gpt-4.1", env.model_id):
            env.fake.enqueue(Script(text="ok", usage=Usage(input_tokens=10, output_tokens=2)))
            ids = await env.send("count me", modelId=model_id)
            await env.settled(ids["assistantMessageId"])
        by_alias = await env.client.request("usage.summary", {"modelId": "gpt-4-1"})
        assert [(r["key"], r["calls"]) for r in by_alias["rows"]] == [("gpt-4.1", 2)]
        by_id = await env.client.request("usage.summary", {"modelId": "gpt-4.1"})
        assert by_id == by_alias
        grouped = await env.client.request("usage.summary", {"groupBy": "model"})
        assert {r["key"]: r["calls"] for r in grouped["rows"]} == {"gpt-4.1": 2, env.model_id: 1}
        by_day = await env.client.request("usage.summary", {"groupBy": "day", "modelId": "gpt-4-1"})
        assert by_day["totals"]["calls"] == 2
        for wrong, why in (("gpt-4-1x", "did you mean gpt-4-1"), ("dall-e-3", "image model")):
            with pytest.raises(RpcFailure) as err:
                await env.client.request("usage.summary", {"modelId": wrong})
            assert err.value.reason == "NOT_FOUND" and why in err.value.error["message"]


def usage_row(model_id: str, cost: float | None) -> UsageRecord:
    return UsageRecord(
        id=new_id(),
        conversation_id="c1",
        message_id=None,
        model_id=model_id,
        provider="openai",
        kind="chat",
        input_tokens=100,
        output_tokens=10,
        reasoning_tokens=0,
        cache_read_tokens=0,
        cache_write_tokens=0,
        cost_usd=cost,
        created_at="2026-03-02T12:00:00.000Z",
    )


async def test_rows_kept_under_an_old_id_count_as_the_canonical_model(tmp_path):
    """Usage an importer kept under the old app's id: grouped and filtered with its model;
    a retired model's rows stay its own, apart from its replacement's; a removed model's
    rows stay countable under their own id."""
    repos = await open_repos(tmp_path / "usage.db")
    try:
        for row in (
            usage_row("gpt-4-1", 0.25),
            usage_row("gpt-4.1", 0.5),
            usage_row("gpt-4.1", None),
            usage_row("claude-sonnet-4-5-20250929", 1.0),
            usage_row("claude-sonnet-5-5", 4.0),
            usage_row("removed-model", 2.0),
        ):
            await repos.usage.add(row)
        reports = Reports(SimpleNamespace(repos=repos))  # type: ignore[arg-type]

        async def summary(**params: Any) -> dict[str, Any]:
            return dump(await reports.summary(UsageSummaryParams.model_validate(params)))

        grouped = await summary(groupBy="model")
        assert [(r["key"], r["calls"], r["costUsd"]) for r in grouped["rows"]] == [
            ("claude-sonnet-4-5", 1, 1.0),
            ("claude-sonnet-5-5", 1, 4.0),
            ("gpt-4.1", 3, 0.75),
            ("removed-model", 1, 2.0),
        ]
        assert grouped["totals"]["calls"] == 6 and grouped["totals"]["inputTokens"] == 600
        for name in ("gpt-4.1", "gpt-4-1"):
            only = await summary(modelId=name)
            assert [(r["key"], r["calls"]) for r in only["rows"]] == [("gpt-4.1", 3)]
        for name in ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"):
            only = await summary(modelId=name, groupBy="conversation")
            assert [(r["key"], r["calls"], r["costUsd"]) for r in only["rows"]] == [("c1", 1, 1.0)]
        only = await summary(modelId="claude-sonnet-5-5")
        assert [(r["key"], r["calls"]) for r in only["rows"]] == [("claude-sonnet-5-5", 1)]
        assert (await summary(modelId="removed-model"))["totals"]["calls"] == 1
        assert (await summary(modelId="o1"))["rows"] == [], "a known model without calls"
    finally:
        await repos.database.close()


# --- user models and aliases ------------------------------------------------------------


async def test_user_models_take_aliases_and_user_ids_win_over_builtin_aliases(tmp_path):
    async with chat_env(tmp_path, "openai-compatible") as env:
        await titled(env)
        upsert = env.client.request
        # A custom backend's model under the old app's name for it.
        local = (
            await upsert(
                "models.upsert",
                {"model": {"id": "llama", "provider": "local", "aliases": ["old-llama"]}},
            )
        )["model"]
        assert local["aliases"] == ["old-llama"]
        ids = await env.send("hi", modelId="old-llama")
        final = await env.settled(ids["assistantMessageId"])
        assert final["modelId"] == "llama" and env.fake.requests[-1].body["model"] == "llama"

        # A user id equal to a built-in alias takes the name: gpt-4-1 is the user's now.
        mine = (await upsert("models.upsert", {"model": {"id": "gpt-4-1", "provider": "local"}}))[
            "model"
        ]
        assert mine["aliases"] == []
        listed = {m["id"]: m for m in (await upsert("models.list"))["models"]}
        assert listed["gpt-4.1"]["aliases"] == [], "the shadowed alias is not listed"
        ids = await env.send("hi", modelId="gpt-4-1")
        final = await env.settled(ids["assistantMessageId"])
        assert final["modelId"] == "gpt-4-1" and final["provider"] == "local"
        await upsert("models.remove", {"modelId": "gpt-4-1"})
        listed = {m["id"]: m for m in (await upsert("models.list"))["models"]}
        assert listed["gpt-4.1"]["aliases"] == ["gpt-4-1"], "the built-in alias is back"

        # A user alias wins over a built-in one; an override keeps the built-in aliases.
        await upsert(
            "models.upsert",
            {"model": {"id": "llama", "provider": "local", "aliases": ["gpt-4-1-mini"]}},
        )
        listed = {m["id"]: m for m in (await upsert("models.list"))["models"]}
        assert listed["llama"]["aliases"] == ["gpt-4-1-mini"]
        assert listed["gpt-4.1-mini"]["aliases"] == []
        override = (
            await upsert(
                "models.upsert",
                {"model": {"id": "gpt-4.1", "provider": "openai", "displayName": "Mine"}},
            )
        )["model"]
        assert override["aliases"] == ["gpt-4-1"] and override["source"] == "user"

        # Refused: an alias that is a model's id, or another user model's alias.
        count = len(env.client.events)
        with pytest.raises(RpcFailure) as err:
            await upsert(
                "models.upsert",
                {"model": {"id": "other", "provider": "local", "aliases": ["gpt-4o"]}},
            )
        assert err.value.reason == "INVALID_PARAMS"
        with pytest.raises(RpcFailure) as err:
            await upsert(
                "models.upsert",
                {"model": {"id": "other", "provider": "local", "aliases": ["gpt-4-1-mini"]}},
            )
        assert err.value.reason == "CONFLICT"
        assert err.value.error["message"] == "alias gpt-4-1-mini already names model llama"
        assert len(env.client.events) == count, "nothing changed"


def test_not_chat_reasons_are_for_unresolved_ids_only():
    assert not_chat_reason("gpt-4.1") is None and not_chat_reason("gpt-4-1") is None
    assert resolve_alias("claude-cli-opus") is None
    assert not_chat_reason("claude-cli-opus") == (
        "claude-cli-opus runs a local CLI (the old app's Claude command-line integration), "
        "not a provider API, which the sidecar does not do; the app runs it itself"
    )
