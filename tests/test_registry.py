"""The built-in model catalog: the shipped data file, and models.* over a real sidecar.

Built-in models are listed next to the user's, can be overridden (and the override
removed to get them back) or disabled but never removed, and chat through the
built-in providers at the catalog's prices.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from sidecar.dev.fakes import Script, Usage
from sidecar.engine.providers import BUILTIN_NAMES
from sidecar.engine.usage import cost_usd
from sidecar.protocol.objects import Model, Pricing
from sidecar.protocol.objects import Usage as WireUsage
from sidecar.registry import catalog, load_catalog
from sidecar.registry.models import CatalogError, merged, parse, recorded_model, resolve_model
from tests.chat_env import PRICING, chat_env
from tests.harness import RpcFailure

REPO = Path(__file__).resolve().parents[1]
# Ids clients and docs may rely on: each names a model, as its id or alias, or as a
# retired model's name that its replacement answers.
REQUIRED_IDS = {
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o3",
    "o4-mini",
    "gpt-5",
    "gpt-5-mini",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "deepseek-chat",
    "deepseek-reasoner",
}
PRICE_KEYS = ("input", "output", "cacheRead", "cacheWrite")
# Built-in models whose price could not be confirmed (`"pricing": null`, see the source
# note): adding one is a decision, so it is listed here.
UNPRICED: set[str] = set()


def data_file() -> dict:
    text = resources.files("sidecar.registry").joinpath("models.json").read_text("utf-8")
    return json.loads(text)


async def titled(env) -> None:
    """Give the conversation a title, so no automatic title call joins the fake's requests."""
    await env.client.request(
        "conversations.update", {"conversationId": env.conversation_id, "title": "Models"}
    )


def wire_catalog() -> dict[str, dict]:
    """The catalog's models as models.list shows them."""
    return {m.id: m.model_dump(mode="json") for m in load_catalog()}


# --- the data file ---------------------------------------------------------------------


def test_the_data_file_is_dated_sourced_and_complete():
    data = data_file()
    taken_on = dt.date.fromisoformat(data["pricesTakenOn"])
    assert taken_on.year >= 2025
    assert data["notes"].strip()
    assert set(data["source"]) == set(BUILTIN_NAMES), "one source note per built-in provider"
    ids = [m["id"] for m in data["models"]]
    assert len(ids) == len(set(ids))
    assert all(resolve_model(load_catalog(), i) is not None for i in REQUIRED_IDS)
    for entry in data["models"]:
        assert entry["provider"] in BUILTIN_NAMES
        assert entry["providerModel"] and entry["displayName"]
        if entry.get("kind") == "transcription":
            check_transcription_entry(entry)
            continue
        assert entry["contextWindow"] > 0 and entry["maxOutputTokens"] > 0
        assert entry["maxOutputTokens"] <= entry["contextWindow"]
        assert set(entry["capabilities"]) == {"tools", "vision", "reasoning", "audio"}
        prices = entry["pricing"]
        if entry["id"] in UNPRICED:
            assert prices is None and entry["id"] in data["source"][entry["provider"]]
            continue
        assert all(isinstance(prices[k], int | float) and prices[k] >= 0 for k in PRICE_KEYS)
        assert prices["output"] >= prices["input"] >= prices["cacheRead"], entry["id"]


def check_transcription_entry(entry: dict) -> None:
    """A speech-to-text model: its own date and source, priced by the minute or by token
    (audio input tokens apart), and the response format it is asked for."""
    assert entry["transcriptFormat"] in ("json", "verbose_json")
    assert entry["pricesTakenOn"] and entry["priceSource"].startswith("https://")
    prices = entry["pricing"]
    if prices["perMinute"] is not None:
        assert prices["perMinute"] > 0 and prices["input"] is None, entry["id"]
    else:
        assert all(prices[k] > 0 for k in ("input", "output", "audioInput")), entry["id"]


def test_transcription_models_are_their_own_kind():
    models = {m.id: m for m in load_catalog()}
    kinds = {i for i, m in models.items() if m.kind == "transcription"}
    assert {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"} <= kinds
    assert models["whisper-1"].transcript_format == "verbose_json"
    assert models["whisper-1"].pricing.per_minute == 0.006
    assert models["gpt-4o-mini-transcribe"].transcript_format == "json"
    assert all(models[i].transcript_format is None for i in set(models) - kinds)


def test_load_catalog_gives_builtin_models_and_reads_the_file_once():
    models = load_catalog()
    assert [m.id for m in models] == [m["id"] for m in data_file()["models"]]
    assert all(m.source == "builtin" and m.enabled for m in models)
    assert {m.id for m in models if m.pricing is None} == UNPRICED
    assert catalog() is catalog(), "cached"
    assert catalog().prices_taken_on == dt.date.fromisoformat(data_file()["pricesTakenOn"])
    models.clear()  # a caller's list is its own
    assert load_catalog()


def test_the_data_file_ships_as_package_data():
    assert '"registry/*.json"' in (REPO / "pyproject.toml").read_text()


PRICES = {"input": 1.0, "output": 2.0, "cacheRead": 0.1, "cacheWrite": 1.0}


def _retired(model_id: str, replaced_by: str | None = None) -> dict:
    entry = {"id": model_id, "provider": "openai", "retiredOn": "2026-01-01", "note": "gone"}
    return entry if replaced_by is None else {**entry, "replacedBy": replaced_by}


def _mutations() -> list[tuple[str, object]]:
    def edit(fn):
        data = copy.deepcopy(data_file())
        fn(data)
        return data

    return [
        ("not an object", []),
        ("no date", edit(lambda d: d.pop("pricesTakenOn"))),
        ("bad date", edit(lambda d: d.update(pricesTakenOn="2026-02-30"))),
        ("unknown top key", edit(lambda d: d.update(extra=1))),
        ("no models", edit(lambda d: d.update(models=[]))),
        ("duplicate id", edit(lambda d: d["models"].append(d["models"][0]))),
        ("unknown model key", edit(lambda d: d["models"][0].update(price=1))),
        ("missing price", edit(lambda d: d["models"][0]["pricing"].pop("cacheRead"))),
        ("null price", edit(lambda d: d["models"][0]["pricing"].update(output=None))),
        ("string price", edit(lambda d: d["models"][0]["pricing"].update(input="1.25"))),
        ("negative price", edit(lambda d: d["models"][0]["pricing"].update(input=-1))),
        ("custom provider", edit(lambda d: d["models"][0].update(provider="local"))),
        ("zero context", edit(lambda d: d["models"][0].update(contextWindow=0))),
        ("unknown capability", edit(lambda d: d["models"][0]["capabilities"].update(video=True))),
        ("no profile", edit(lambda d: d["models"][0].pop("profile"))),
        ("unknown thinking", edit(lambda d: d["models"][0]["profile"].update(thinking="deep"))),
        (
            "reasoning without thinking",
            edit(lambda d: d["models"][0]["profile"].update(thinking="none")),
        ),
        ("no price source", edit(lambda d: d["models"][0].pop("priceSource"))),
        ("bad price date", edit(lambda d: d["models"][0].update(pricesTakenOn="May 2026"))),
        (
            "retired id of a model",
            edit(lambda d: d.setdefault("retired", []).append(_retired(d["models"][0]["id"]))),
        ),
        (
            "retired replaced by nothing known",
            edit(lambda d: d.setdefault("retired", []).append(_retired("old", "nope"))),
        ),
        (
            "retired alias of a model",
            edit(lambda d: d["retired"].append({**_retired("old"), "aliases": ["gpt-4-1"]})),
        ),
        (
            "retired prices without a source",
            edit(lambda d: d["retired"].append({**_retired("old"), "pricing": PRICES})),
        ),
        (
            "retired prices without their date",
            edit(
                lambda d: d["retired"].append(
                    {**_retired("old"), "pricing": PRICES, "priceSource": "a page"}
                )
            ),
        ),
        (
            "retired negative price",
            edit(
                lambda d: d["retired"].append(
                    {**_retired("old"), "pricing": {**PRICES, "input": -1}}
                    | {"priceSource": "a page", "pricesTakenOn": "2025-01-01"}
                )
            ),
        ),
        ("no source note", edit(lambda d: d["source"].pop("deepseek"))),
        ("pricing left out", edit(lambda d: d["models"][0].pop("pricing"))),
        ("alias not a list", edit(lambda d: d["models"][0].update(aliases="gpt-5x"))),
        ("empty alias", edit(lambda d: d["models"][0].update(aliases=[""]))),
        ("alias twice", edit(lambda d: d["models"][0].update(aliases=["a", "a"]))),
        ("alias is its id", edit(lambda d: d["models"][0].update(aliases=[d["models"][0]["id"]]))),
        (
            "alias is another id",
            edit(lambda d: d["models"][0].update(aliases=[d["models"][1]["id"]])),
        ),
        (
            "alias of two models",
            edit(lambda d: [d["models"][i].update(aliases=["shared"]) for i in (0, 1)]),
        ),
        ("notChat not a list", edit(lambda d: d.update(notChat={}))),
        ("notChat without reason", edit(lambda d: d["notChat"].append({"id": "tts-1"}))),
        (
            "notChat id and prefix",
            edit(lambda d: d["notChat"].append({"id": "a", "prefix": "b", "reason": "c"})),
        ),
        (
            "notChat unknown key",
            edit(lambda d: d["notChat"].append({"id": "a", "reason": "b", "x": 1})),
        ),
        (
            "notChat names a model",
            edit(lambda d: d["notChat"].append({"prefix": "gpt-4", "reason": "r"})),
        ),
        (
            "notChat names an alias",
            edit(lambda d: d["notChat"].append({"id": "gpt-4-1", "reason": "r"})),
        ),
    ]


@pytest.mark.parametrize("case, data", _mutations(), ids=[c for c, _ in _mutations()])
def test_a_malformed_catalog_is_refused(case, data):
    with pytest.raises(CatalogError):
        parse(data)


def test_startup_does_not_load_the_catalog():
    """The catalog is read on first use: not by the launch path, not by importing the engine."""
    code = (
        "import sys\n"
        "import sidecar.process, sidecar.app, sidecar.store\n"
        "assert 'sidecar.registry' not in sys.modules, 'imported before the ready line'\n"
        "import sidecar.engine\n"
        "from sidecar.registry import catalog\n"
        "assert catalog.cache_info().currsize == 0, 'read at import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


# --- models.* over a real sidecar -------------------------------------------------------


async def test_models_list_shows_the_builtins_with_their_prices(tmp_path):
    async with chat_env(tmp_path) as env:
        builtin = wire_catalog()
        models = (await env.client.request("models.list"))["models"]
        by_id = {m["id"]: m for m in models}
        for model_id, expected in builtin.items():
            assert by_id[model_id] == expected
            assert by_id[model_id]["source"] == "builtin"
            if model_id not in UNPRICED and expected["kind"] == "chat":
                assert all(by_id[model_id]["pricing"][k] is not None for k in PRICE_KEYS)
        user = by_id[env.model_id]
        assert user["source"] == "user" and user["kind"] == "chat"
        assert user["pricing"] == {**PRICING, "audioInput": None, "perMinute": None}
        assert set(by_id) == set(builtin) | {env.model_id}
        assert [(m["provider"], m["id"]) for m in models] == sorted(
            (m["provider"], m["id"]) for m in models
        )
        for provider in ("openai", "anthropic", "deepseek"):
            listed = (await env.client.request("models.list", {"provider": provider}))["models"]
            assert {m["id"] for m in listed} == {
                i for i, m in builtin.items() if m["provider"] == provider
            } | ({env.model_id} if provider == "openai" else set())
            assert all(m["provider"] == provider for m in listed)
        assert (await env.client.request("models.list", {"provider": "nobody"}))["models"] == []


async def test_an_override_replaces_a_builtin_and_removing_it_restores_it(tmp_path):
    async with chat_env(tmp_path) as env:
        original = wire_catalog()["gpt-4o-mini"]
        override = {
            "id": "gpt-4o-mini",
            "provider": "openai",
            "providerModel": "gpt-4o-mini-2024-07-18",
            "displayName": "My mini",
            "pricing": {"input": 1.0, "output": 2.0},
        }
        before = len(env.client.events)
        result = (await env.client.request("models.upsert", {"model": override}))["model"]
        assert result["source"] == "user" and result["displayName"] == "My mini"
        assert result["pricing"] == {
            "input": 1.0,
            "output": 2.0,
            "cacheRead": None,
            "cacheWrite": None,
            "audioInput": None,
            "perMinute": None,
        }
        assert result["contextWindow"] is None, "an override replaces the built-in entirely"
        event = env.client.events[before]
        assert event["type"] == "models.updated"
        assert [m for m in event["models"] if m["id"] == "gpt-4o-mini"] == [result]
        assert len(event["models"]) == len(wire_catalog()) + 1, "the event carries the full list"
        listed = (await env.client.request("models.list", {"provider": "openai"}))["models"]
        assert [m for m in listed if m["id"] == "gpt-4o-mini"] == [result]

        await env.client.request("models.remove", {"modelId": "gpt-4o-mini"})
        event = env.client.events[-1]
        assert event["type"] == "models.updated"
        assert [m for m in event["models"] if m["id"] == "gpt-4o-mini"] == [original]
        listed = (await env.client.request("models.list"))["models"]
        assert [m for m in listed if m["id"] == "gpt-4o-mini"] == [original]

        # The built-in one itself cannot be removed (nothing changes, no event) ...
        count = len(env.client.events)
        with pytest.raises(RpcFailure) as err:
            await env.client.request("models.remove", {"modelId": "gpt-4o-mini"})
        assert err.value.code == -32002 and err.value.reason == "CONFLICT"
        assert err.value.error["message"] == (
            "built-in models cannot be removed; disable it with models.upsert"
        )
        with pytest.raises(RpcFailure) as err:  # ... and an unknown id is still unknown
            await env.client.request("models.remove", {"modelId": "no-such-model"})
        assert err.value.reason == "NOT_FOUND" and err.value.data["kind"] == "model"
        assert len(env.client.events) == count
        # A user model (not built-in) is removed as before.
        await env.client.request("models.remove", {"modelId": env.model_id})
        ids = {m["id"] for m in (await env.client.request("models.list"))["models"]}
        assert ids == set(wire_catalog())


async def test_a_disabled_builtin_is_refused_by_chat_send(tmp_path):
    async with chat_env(tmp_path) as env:
        await titled(env)
        disabled = {**wire_catalog()["gpt-4o"], "enabled": False}
        del disabled["source"]
        result = (await env.client.request("models.upsert", {"model": disabled}))["model"]
        assert result == {**disabled, "source": "user"}, "the full model round-trips as an override"
        before = len(env.client.events)
        with pytest.raises(RpcFailure) as err:
            await env.send("Hi", modelId="gpt-4o")
        assert err.value.code == -32002 and err.value.reason == "CONFLICT"
        assert err.value.error["message"] == (
            "model gpt-4o is disabled; enable it with models.upsert"
        )
        assert env.client.events[before:] == []
        got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        assert got["messages"] == [] and env.fake.requests == []
        # Re-enabled (the override removed), it chats again.
        await env.client.request("models.remove", {"modelId": "gpt-4o"})
        ids = await env.send("Hi again", modelId="gpt-4o")
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "complete" and final["modelId"] == "gpt-4o"
        assert [r.body["model"] for r in env.fake.requests] == ["gpt-4o"]


CHATS = [
    # kind, built-in model, usage the fake reports
    ("openai", "gpt-4.1-mini", Usage(input_tokens=1200, output_tokens=40, cached_tokens=1000)),
    (
        "openai",
        "gpt-5.6-terra",
        Usage(input_tokens=5000, output_tokens=700, cached_tokens=4096, reasoning_tokens=512),
    ),
    (
        "anthropic",
        "claude-haiku-4-5",
        Usage(input_tokens=3000, output_tokens=50, cached_tokens=1000, cache_write_tokens=1500),
    ),
    ("deepseek", "deepseek-flash", Usage(input_tokens=2000, output_tokens=60, cached_tokens=1536)),
]


@pytest.mark.parametrize("kind, model_id, usage", CHATS, ids=[c[1] for c in CHATS])
async def test_a_builtin_model_chats_through_its_provider_at_catalog_prices(
    tmp_path, kind, model_id, usage
):
    """The built-in provider, pointed at the fake with providers.configure, carries a chat
    for a built-in model id with no models.upsert at all."""
    async with chat_env(tmp_path, kind) as env:
        await titled(env)
        model = next(m for m in load_catalog() if m.id == model_id)
        env.fake.enqueue(Script(text="Catalogued.", usage=usage))
        ids = await env.send("Which model?", modelId=model_id)
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "complete" and final["content"] == "Catalogued."
        assert final["modelId"] == model_id and final["provider"] == kind
        started = next(
            e for e in env.events_of(ids["assistantMessageId"]) if e["type"].endswith("started")
        )
        assert started["modelId"] == model_id and started["provider"] == kind
        assert [r.body["model"] for r in env.fake.requests] == [model.provider_model]

        recorded = next(
            e["usage"]
            for e in env.events_of(ids["assistantMessageId"])
            if e["type"] == "usage.recorded"
        )
        assert recorded["modelId"] == model_id and recorded["provider"] == kind
        p = model.pricing
        assert p is not None
        uncached = usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens
        expected = (
            uncached * p.input
            + usage.cached_tokens * p.cache_read
            + usage.cache_write_tokens * p.cache_write
            + usage.output_tokens * p.output
        ) / 1e6
        assert recorded["costUsd"] == pytest.approx(expected, rel=1e-9)
        assert final["usage"]["costUsd"] == recorded["costUsd"]
        assert recorded["cacheReadTokens"] == usage.cached_tokens
        assert recorded["cacheWriteTokens"] == usage.cache_write_tokens
        assert recorded["inputTokens"] == usage.input_tokens
        # The engine's own pricing of the same call agrees.
        assert recorded["costUsd"] == cost_usd(
            WireUsage.model_validate(recorded), Pricing.model_validate(p.model_dump())
        )


def test_a_retired_models_names_go_to_its_replacement_but_its_calls_stay_its_own():
    """New calls under any of a retired model's names go to its replacement; its past
    calls are recorded under its id, at the prices it had, unless a user model took
    the name."""
    data = copy.deepcopy(data_file())
    first = data["models"][0]
    data["retired"] = [
        {
            **_retired("old", first["id"]),
            "aliases": ["old-2024-01-01"],
            "pricing": PRICES,
            "pricesTakenOn": "2025-06-01",
            "priceSource": "a page",
        }
    ]
    parsed = parse(data)
    model = parsed.by_id()[first["id"]]
    assert model.aliases[-2:] == ["old", "old-2024-01-01"]
    assert model.alias_notes["old-2024-01-01"].startswith("old-2024-01-01 (a name of old) was")
    for name in ("old", "old-2024-01-01"):
        assert resolve_model(parsed.models, name) is model
        kept = recorded_model(parsed.models, name, parsed.retired)
        assert kept is not None and kept.id == "old" and kept.provider == "openai"
        assert kept.pricing == Pricing.model_validate(PRICES) and not kept.enabled
        assert (kept.prices_taken_on, kept.price_source) == ("2025-06-01", "a page")
    assert recorded_model(parsed.models, first["id"], parsed.retired) is model
    user = Model(id="mine", provider="openai", provider_model="x", display_name="x")
    taken = [user.model_copy(update={"aliases": ["old"]}), *parsed.models]
    assert recorded_model(taken, "old", parsed.retired) is taken[0], "the user's alias wins"


def test_retired_ids_resolve_to_their_replacement_or_are_refused_with_the_date():
    data = copy.deepcopy(data_file())
    first = data["models"][0]
    data["retired"] = [
        _retired("old-with-successor", first["id"]),
        {**_retired("old-gone"), "note": "no successor; choose another model"},
    ]
    parsed = parse(data)
    model = parsed.by_id()[first["id"]]
    assert "old-with-successor" in model.aliases
    assert model.alias_notes["old-with-successor"].startswith(
        "old-with-successor was retired by openai on 2026-01-01"
    )
    assert resolve_model(parsed.models, "old-with-successor") is model
    assert resolve_model(parsed.models, "old-gone") is None
    [gone] = [r for r in parsed.retired if r.replaced_by is None]
    assert (
        gone.reason() == "was retired by openai on 2026-01-01: no successor; choose another model"
    )
    assert gone.as_recorded().pricing is None, "prices it never had here: none"
    shown = {m.id: m for m in merged([])}  # the shipped catalog, as models.list shows it
    assert all(m.prices_taken_on and m.price_source for m in shown.values()), (
        "every built-in price has its date and source"
    )


def _table(text: str, header: str) -> list[list[str]]:
    """The rows of the markdown table whose header line starts with `header`."""
    lines = text[text.index(header) :].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows


def _dollars(price: float) -> set[str]:
    return {f"${price:.2f}", f"${price:g}", f"${price}"}


def test_docs_models_md_lists_the_catalog_as_it_is():
    """docs/models.md's tables say what models.json says: every model with its profile
    and prices, every retired model with its names, date, replacement and prices."""
    text = (REPO / "docs" / "models.md").read_text()
    data = data_file()
    rows = _table(text, "| id | provider | thinking |")
    chat = [m for m in data["models"] if m.get("kind", "chat") == "chat"]
    assert [r[0] for r in rows] == [m["id"] for m in chat]
    transcription = _table(text, "| transcription id |")
    listed = [m for m in data["models"] if m.get("kind") == "transcription"]
    assert [r[0] for r in transcription] == [m["id"] for m in listed]
    for row, model in zip(transcription, listed, strict=True):
        prices = model["pricing"]
        assert row[1:3] == [model["provider"], model["transcriptFormat"]], model["id"]
        for cell, key in zip(row[3:7], ("perMinute", "audioInput", "input", "output"), strict=True):
            price = prices.get(key)
            assert cell == "—" if price is None else cell in _dollars(price), (model["id"], key)
        assert row[7] == model["pricesTakenOn"], model["id"]
    for row, model in zip(rows, chat, strict=True):
        profile, pricing = model["profile"], model["pricing"]
        assert row[1] == model["provider"] and row[2] == profile["thinking"], model["id"]
        assert row[3] == (", ".join(profile["efforts"]) or "—"), model["id"]
        for cell, key in zip(row[5:9], PRICE_KEYS, strict=True):
            assert cell in _dollars(pricing[key]), (model["id"], key, cell)
        assert row[9] == model.get("pricesTakenOn", data["pricesTakenOn"]), model["id"]
    retired = _table(text, "| retired id |")
    assert [r[0] for r in retired] == [r["id"] for r in data["retired"]]
    for row, entry in zip(retired, data["retired"], strict=True):
        names = [n.strip().strip("`") for n in row[1].split(",")] if row[1] != "—" else []
        assert names == entry.get("aliases", []), entry["id"]
        assert row[2:5] == [entry["provider"], entry["retiredOn"], entry["replacedBy"]]
        prices = entry.get("pricing")
        if prices is None:
            assert row[5] == "—", entry["id"]
        else:
            given, taken = row[5].split(" / ")
            assert given in _dollars(prices["input"]) and taken in _dollars(prices["output"])
