"""`usage.summary`: sums over the usage records, by model, day or conversation.

First against the store with records placed at chosen instants (day boundaries,
offsets, null costs), then end to end: chats through fake providers, whose
`usage.recorded` events and stored messages the summary must add up to exactly.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sidecar.dev.fakes import FakeProvider, Script, Usage
from sidecar.engine.reports import Reports
from sidecar.ids import new_id, now_iso
from sidecar.protocol.errors import InvalidParams
from sidecar.protocol.objects import UsageRecord, dump
from sidecar.protocol.reports import UsageSummaryParams
from sidecar.store import Repositories
from sidecar.store.rows import USAGE
from tests.chat_env import API_KEY, chat_env
from tests.harness import RpcFailure
from tests.seed import open_repos

TOKENS = ("inputTokens", "outputTokens", "reasoningTokens", "cacheReadTokens", "cacheWriteTokens")


def record(
    created_at: str,
    *,
    model: str = "m1",
    conversation: str | None = "c1",
    kind: str = "chat",
    cost: float | None = 0.5,
    tokens: tuple[int, int, int, int, int] = (100, 10, 0, 0, 0),
) -> UsageRecord:
    inp, out, reasoning, read, write = tokens
    return UsageRecord(
        id=new_id(),
        conversation_id=conversation,
        message_id=None,
        model_id=model,
        provider="openai",
        kind=kind,  # type: ignore[arg-type]
        input_tokens=inp,
        output_tokens=out,
        reasoning_tokens=reasoning,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cost_usd=cost,
        created_at=created_at,
    )


def insert(db_path: Path, *records: UsageRecord) -> None:
    """Write records behind the store's back (as another process would: WAL allows it)."""
    db = sqlite3.connect(db_path)
    try:
        with db:
            db.executemany(USAGE.insert_sql, [USAGE.params(r) for r in records])
    finally:
        db.close()


@pytest.fixture
async def repos(tmp_path: Path):
    repos = await open_repos(tmp_path / "usage.db")
    yield repos
    await repos.database.close()


async def summary(repos: Repositories, **params: Any) -> dict[str, Any]:
    reports = Reports(SimpleNamespace(repos=repos))  # type: ignore[arg-type]
    return dump(await reports.summary(UsageSummaryParams.model_validate(params)))


def keys(result: dict[str, Any]) -> list[str | None]:
    return [row["key"] for row in result["rows"]]


def calls(result: dict[str, Any]) -> dict[str | None, int]:
    return {row["key"]: row["calls"] for row in result["rows"]}


# --- the store and the engine, at chosen instants -----------------------------------------

MIDNIGHT = [
    "2026-03-01T23:59:59.999Z",
    "2026-03-02T00:00:00.000Z",
    "2026-03-02T12:00:00.000Z",
]


async def test_days_are_utc_days_and_to_includes_its_whole_day(repos):
    insert(repos.database.path, *(record(t) for t in MIDNIGHT))
    by_day = await summary(repos, groupBy="day")
    assert calls(by_day) == {"2026-03-01": 1, "2026-03-02": 2}
    assert calls(await summary(repos, groupBy="day", to="2026-03-01")) == {"2026-03-01": 1}
    assert calls(await summary(repos, groupBy="day", **{"from": "2026-03-02"})) == {"2026-03-02": 2}
    same_day = await summary(repos, groupBy="day", to="2026-03-02", **{"from": "2026-03-02"})
    assert calls(same_day) == {"2026-03-02": 2}
    assert (await summary(repos, groupBy="day", to="2026-02-28"))["rows"] == []
    assert calls(await summary(repos, groupBy="day", to="9999-12-31")) == calls(by_day)
    assert calls(await summary(repos, groupBy="day", **{"from": "0001-01-01"})) == calls(by_day)


@pytest.mark.parametrize(
    "bounds, expected",
    [
        ({"from": "2026-03-02T00:00:00Z"}, 2),
        ({"from": "2026-03-02T00:00:00.000+00:00"}, 2),
        ({"from": "2026-03-02T01:00:00+01:00"}, 2),  # the same instant, elsewhere
        ({"from": "2026-03-01T23:59:59.999Z"}, 3),  # a bound equal to a record includes it
        ({"from": "2026-03-01T23:59:59.9995Z"}, 2),  # sub-millisecond bounds are exact
        ({"to": "2026-03-01T23:59:59.999Z"}, 1),
        ({"to": "2026-03-01T23:59:59.9989Z"}, 0),
        ({"to": "2026-03-02T00:00:00Z"}, 2),
        ({"to": "2026-03-01T19:00:00-05:00"}, 2),  # = 2026-03-02T00:00:00Z
        ({"to": "2026-03-02t00:00:00z"}, 2),  # RFC 3339 allows lower case T and Z
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-02T00:00:00Z"}, 1),
        ({"from": "2026-03-01T12:00:00Z", "to": "2026-03-02T11:59:59Z"}, 2),
    ],
)
async def test_timestamp_bounds_are_inclusive_instants(repos, bounds, expected):
    insert(repos.database.path, *(record(t) for t in MIDNIGHT))
    result = await summary(repos, groupBy="model", **bounds)
    assert result["totals"]["calls"] == expected


async def test_rows_sum_each_group_and_totals_sum_the_rows(repos):
    insert(
        repos.database.path,
        record(MIDNIGHT[0], model="b", conversation="c2", cost=0.25, tokens=(1000, 50, 5, 600, 0)),
        record(MIDNIGHT[1], model="a", conversation="c1", cost=0.125, tokens=(300, 20, 0, 0, 200)),
        record(MIDNIGHT[2], model="b", conversation=None, cost=None, tokens=(10, 1, 0, 0, 0)),
        record(MIDNIGHT[2], model="free", conversation="c1", cost=None, tokens=(7, 3, 0, 0, 0)),
    )
    by_model = await summary(repos, groupBy="model")
    assert keys(by_model) == ["a", "b", "free"]
    b = by_model["rows"][1]
    assert b == {
        "key": "b",
        "calls": 2,
        "inputTokens": 1010,
        "outputTokens": 51,
        "reasoningTokens": 5,
        "cacheReadTokens": 600,
        "cacheWriteTokens": 0,
        "costUsd": 0.25,  # a null cost adds nothing...
    }
    assert by_model["rows"][2]["costUsd"] is None  # ...and is null only when all are
    assert by_model["totals"] == {
        "key": "total",
        "calls": 4,
        "inputTokens": 1317,
        "outputTokens": 74,
        "reasoningTokens": 5,
        "cacheReadTokens": 600,
        "cacheWriteTokens": 200,
        "costUsd": 0.375,
    }
    by_conversation = await summary(repos, groupBy="conversation")
    assert keys(by_conversation) == ["c1", "c2", None], "sorted, the null key last"
    assert by_conversation["totals"] == by_model["totals"]
    assert calls(await summary(repos, groupBy="model", conversationId="c1")) == {
        "a": 1,
        "free": 1,
    }
    assert (await summary(repos, conversationId="nope"))["rows"] == []
    only_free = await summary(repos, groupBy="model", conversationId="c1", to="2026-03-02")
    assert only_free["totals"]["costUsd"] == 0.125


async def test_kind_filter_and_the_empty_summary(repos):
    empty = await summary(repos, groupBy="day")
    assert empty == {
        "rows": [],
        "totals": {
            "key": "total",
            "calls": 0,
            **dict.fromkeys(TOKENS, 0),
            "costUsd": None,
        },
    }
    insert(
        repos.database.path,
        record(MIDNIGHT[0], kind="chat"),
        record(MIDNIGHT[1], kind="title", cost=0.001),
        record(MIDNIGHT[2], kind="chat"),
    )
    assert (await summary(repos, kind="chat"))["totals"]["calls"] == 2
    assert (await summary(repos, kind="title"))["totals"]["costUsd"] == 0.001
    assert (await summary(repos))["totals"]["calls"] == 3
    assert (await summary(repos))["rows"][0]["key"] == "m1", "groupBy defaults to model"


@pytest.mark.parametrize(
    "params, loc",
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"from": "0000-01-01"}, "from"),
        ({"from": "2026-03-01T24:00:00Z"}, "from"),
        ({"to": "2026-03-01T10:00:00+25:00"}, "to"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ({"from": "2026-03-02T00:00:00.001Z", "to": "2026-03-02T00:00:00Z"}, "from"),
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-01"}, "from"),
    ],
)
async def test_impossible_ranges_are_invalid_params(repos, params, loc):
    with pytest.raises(InvalidParams) as err:
        await summary(repos, **params)
    assert err.value.loc == (loc,)


# --- end to end ------------------------------------------------------------------------


def _instant(text: str, end_of_day: bool = False) -> dt.datetime:
    if len(text) == 10:
        day = dt.date.fromisoformat(text)
        return dt.datetime.combine(day, dt.time.max if end_of_day else dt.time(), dt.UTC)
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def expected_summary(
    records: list[dict[str, Any]],
    group_by: str,
    *,
    conversation_id: str | None = None,
    start: str | None = None,
    end: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    """What usage.summary must answer for these records, computed the plain way."""
    groups: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        at = _instant(r["createdAt"])
        if conversation_id is not None and r["conversationId"] != conversation_id:
            continue
        if kind is not None and r["kind"] != kind:
            continue
        if start is not None and at < _instant(start):
            continue
        if end is not None and at > _instant(end, end_of_day=True):
            continue
        key = {
            "model": r["modelId"],
            "day": r["createdAt"][:10],
            "conversation": r["conversationId"],
        }[group_by]
        groups[key].append(r)

    def row(key: str | None, rs: list[dict[str, Any]]) -> dict[str, Any]:
        costs = [r["costUsd"] for r in rs if r["costUsd"] is not None]
        return {
            "key": key,
            "calls": len(rs),
            **{t: sum(r[t] for r in rs) for t in TOKENS},
            "costUsd": sum(costs) if costs else None,
        }

    ordered = sorted(groups, key=lambda k: (k is None, k or ""))
    return {
        "rows": [row(k, groups[k]) for k in ordered],
        "totals": row("total", [r for k in ordered for r in groups[k]]),
    }


def assert_summary(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert len(got["rows"]) == len(want["rows"]), (got, want)
    for g, w in zip([*got["rows"], got["totals"]], [*want["rows"], want["totals"]], strict=True):
        assert {k: v for k, v in g.items() if k != "costUsd"} == {
            k: v for k, v in w.items() if k != "costUsd"
        }
        if w["costUsd"] is None:
            assert g["costUsd"] is None
        else:
            assert g["costUsd"] == pytest.approx(w["costUsd"], rel=1e-9, abs=1e-12)


async def test_summaries_add_up_the_recorded_usage(tmp_path):
    async with (
        chat_env(tmp_path) as env,
        FakeProvider("anthropic", api_key=API_KEY) as claude,
    ):
        client = env.client
        await client.request(
            "providers.configure",
            {"id": "anthropic", "baseUrl": claude.base_url, "apiKey": API_KEY},
        )
        await client.request("models.upsert", {"model": {"id": "free", "provider": "openai"}})
        first = env.conversation_id
        # Titled conversations: no automatic title call joins the scripted ones.
        await client.request("conversations.update", {"conversationId": first, "title": "First"})
        second = (await client.request("conversations.create", {"title": "Second"}))[
            "conversation"
        ]["id"]
        plan = [
            (first, env.model_id, env.fake, Usage(1200, 40, cached_tokens=1000)),
            (first, "gpt-4o-mini", env.fake, Usage(800, 30, cached_tokens=512)),
            (
                second,
                "claude-haiku-4-5",
                claude,
                Usage(3000, 50, cached_tokens=1000, cache_write_tokens=1500),
            ),
            (second, "free", env.fake, Usage(100, 7)),
            (
                second,
                env.model_id,
                env.fake,
                Usage(2048, 64, cached_tokens=1024, reasoning_tokens=16),
            ),
            (first, "gpt-4o-mini", env.fake, Usage(5000, 300, cached_tokens=4096)),
        ]
        for conversation, model, fake, usage in plan:
            fake.enqueue(Script(text=f"Answer from {model}.", usage=usage))
            ids = await client.request(
                "chat.send", {"conversationId": conversation, "content": "Hi", "modelId": model}
            )
            final = await env.settled(ids["assistantMessageId"])
            assert final["status"] == "complete"
        records = [e["usage"] for e in client.events if e["type"] == "usage.recorded"]
        assert len(records) == len(plan)
        assert all(r["kind"] == "chat" for r in records)

        async def ask(**params: Any) -> dict[str, Any]:
            return await client.request("usage.summary", params)

        # Grouped every way, the summary is the events added up.
        for group_by in ("model", "day", "conversation"):
            got = await ask(groupBy=group_by)
            assert_summary(got, expected_summary(records, group_by))
        by_model = await ask(groupBy="model")
        assert [r["key"] for r in by_model["rows"]] == sorted(
            {env.model_id, "gpt-4o-mini", "claude-haiku-4-5", "free"}
        )
        free = next(r for r in by_model["rows"] if r["key"] == "free")
        assert free["costUsd"] is None and free["calls"] == 1
        totals = by_model["totals"]
        assert totals["key"] == "total" and totals["calls"] == len(plan)
        assert totals["cacheWriteTokens"] == 1500 and totals["reasoningTokens"] == 16
        assert totals["costUsd"] == pytest.approx(
            sum(r["costUsd"] for r in records if r["costUsd"] is not None), rel=1e-9
        )
        by_conversation = await ask(groupBy="conversation")
        assert [r["key"] for r in by_conversation["rows"]] == [first, second]

        # ... and the stored messages' usage, added up, is the same.
        stored: list[dict[str, Any]] = []
        for conversation in (first, second):
            got = await client.request("conversations.get", {"conversationId": conversation})
            stored += [m["usage"] for m in got["messages"] if m["role"] == "assistant"]
        assert len(stored) == len(plan)
        for field in TOKENS:
            assert totals[field] == sum(u[field] for u in stored), field
        assert totals["costUsd"] == pytest.approx(
            sum(u["costUsd"] for u in stored if u["costUsd"] is not None), rel=1e-9
        )

        # Filters: a conversation, a range of days or instants.
        for conversation in (first, second):
            got = await ask(groupBy="model", conversationId=conversation)
            assert_summary(got, expected_summary(records, "model", conversation_id=conversation))
        assert (await ask(groupBy="model", conversationId="no-such-conversation"))["rows"] == []
        day = records[0]["createdAt"][:10]
        yesterday = (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()
        tomorrow = dt.date.fromisoformat(records[-1]["createdAt"][:10]) + dt.timedelta(days=1)
        ranges = [
            {"from": day},
            {"to": records[-1]["createdAt"][:10]},
            {"from": day, "to": records[-1]["createdAt"][:10]},
            {"from": records[2]["createdAt"]},
            {"to": records[2]["createdAt"]},
            {"from": records[1]["createdAt"], "to": records[3]["createdAt"]},
            {"to": yesterday},
            {"from": tomorrow.isoformat()},
        ]
        for bounds in ranges:
            got = await ask(groupBy="day", **bounds)
            want = expected_summary(records, "day", start=bounds.get("from"), end=bounds.get("to"))
            assert_summary(got, want)
        middle = _instant(records[2]["createdAt"])
        shifted = middle.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
        assert (await ask(**{"from": shifted.isoformat()}))["totals"]["calls"] == len(plan) - 2
        assert (await ask(to=yesterday))["totals"]["costUsd"] is None

        # Kinds: a title generation's record (written here behind the sidecar's back, as
        # the titles feature stores it) counts only where titles are asked for.
        title = record(
            now_iso(),
            model="gpt-4o-mini",
            conversation=second,
            kind="title",
            cost=0.0000425,
            tokens=(250, 8, 0, 0, 0),
        )
        insert(env.sidecar.data_dir / "sidecar.db", title)
        everything = [*records, dump(title)]
        assert_summary(await ask(groupBy="model", kind="chat"), expected_summary(records, "model"))
        assert_summary(
            await ask(groupBy="conversation", kind="title"),
            expected_summary(everything, "conversation", kind="title"),
        )
        assert_summary(await ask(groupBy="model"), expected_summary(everything, "model"))


INVALID = [
    ({"groupBy": "week"}, ["groupBy"]),
    ({"groupBy": None}, ["groupBy"]),
    ({"from": "yesterday"}, ["from"]),
    ({"from": "2026-03-01T10:00:00"}, ["from"]),  # no offset
    ({"from": "2026-3-1"}, ["from"]),
    ({"from": 20260301}, ["from"]),
    ({"to": "2026-03-01 10:00:00Z"}, ["to"]),
    ({"from": "2026-13-01"}, ["from"]),
    ({"to": "2026-02-30"}, ["to"]),
    ({"from": "2026-03-01T25:00:00Z"}, ["from"]),
    ({"from": "2026-03-02", "to": "2026-03-01"}, ["from"]),
    ({"kind": "summary"}, ["kind"]),
    ({"conversationId": ""}, ["conversationId"]),
    ({"groupBy": "model", "extra": 1}, ["extra"]),
]


async def test_invalid_params_are_refused(tmp_path):
    async with chat_env(tmp_path) as env:
        before = len(env.client.events)
        for params, loc in INVALID:
            response = await env.client.call("usage.summary", params)
            error = response.get("error")
            assert error is not None, params
            assert error["code"] == -32602 and error["data"]["reason"] == "INVALID_PARAMS"
            assert [e["loc"][: len(loc)] for e in error["data"]["errors"]][0] == loc, (
                params,
                error,
            )
        with pytest.raises(RpcFailure) as err:
            await env.client.request("usage.summary", ["model"])  # by position
        assert err.value.code == -32602
        assert len(env.client.events) == before, "a refused report publishes nothing"
        ok = await env.client.request("usage.summary", {})
        assert ok["rows"] == [] and ok["totals"]["calls"] == 0
