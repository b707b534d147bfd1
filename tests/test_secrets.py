"""Custom header values are secrets kept like API keys, and every secret the sidecar holds
is scrubbed by value from whatever text leaves it: error events, stored errors, RPC
answers and logs."""

from __future__ import annotations

import json
import logging
import sqlite3
import stat

import pytest

from sidecar import logs
from sidecar.dev.fakes.http import Exchange, HttpRequest, HttpServer
from sidecar.providers.errors import scrub
from tests.chat_env import TOKEN, chat_env
from tests.harness import Client, launch
from tests.test_keys import NO_KEYCHAIN, database_bytes, key_file

HEADER_KEY = "0123456789abcdef0123456789abcdef"  # 32 hex: too short for the key-shaped patterns
SHORT_KEY = "q7Zt0pLm4Xw2"  # a 12-character API key of no known shape


@pytest.fixture
def no_keychain(monkeypatch):
    """The key file, as on this project's machines, even on a desktop."""
    for name, value in NO_KEYCHAIN.items():
        monkeypatch.setenv(name, value)


async def restart(env) -> None:
    env.sidecar.terminate()
    await env.client.close()
    env.sidecar = launch(env.sidecar.data_dir, "--token", TOKEN)
    env.client = await Client.open(env.sidecar)


async def chat_sends_header(env) -> None:
    ids = await env.send("Hi")
    assert (await env.settled(ids["assistantMessageId"]))["status"] == "complete"
    assert env.fake.requests[-1].headers["api-key"] == HEADER_KEY


async def test_header_values_live_in_the_key_store_and_never_in_the_database(tmp_path, no_keychain):
    async with chat_env(tmp_path, "openai-compatible") as env:
        db = env.sidecar.data_dir / "sidecar.db"
        await env.client.request(
            "providers.configure", {"id": "local", "headers": {"api-key": HEADER_KEY}}
        )
        await chat_sends_header(env)
        listed = {p["id"]: p for p in (await env.client.request("providers.list"))["providers"]}
        assert listed["local"]["headerNames"] == ["api-key"]
        assert HEADER_KEY not in json.dumps(listed)
        stored = database_bytes(db)  # the file and its WAL, while the sidecar runs
        assert HEADER_KEY.encode() not in stored and b"api-key" in stored
        assert HEADER_KEY in key_file(db).read_text()
        assert stat.S_IMODE(key_file(db).stat().st_mode) == 0o600

        await restart(env)  # read back from the key store
        await chat_sends_header(env)
        await env.client.request("providers.configure", {"id": "local", "headers": {}})
        assert HEADER_KEY not in key_file(db).read_text()
        env.sidecar.terminate()
        assert HEADER_KEY.encode() not in database_bytes(db)


async def test_header_values_an_older_version_stored_in_the_database_move_out_at_start(
    tmp_path, no_keychain
):
    async with chat_env(tmp_path, "openai-compatible") as env:
        db = env.sidecar.data_dir / "sidecar.db"
        env.sidecar.terminate()
        with sqlite3.connect(db) as con:  # what an older version wrote
            con.execute(
                "UPDATE providers SET headers = ? WHERE id = 'local'",
                (json.dumps({"api-key": HEADER_KEY}),),
            )
        con.close()
        assert HEADER_KEY.encode() in database_bytes(db)

        await restart(env)
        assert HEADER_KEY.encode() not in database_bytes(db), "the value is still in the database"
        assert HEADER_KEY in key_file(db).read_text()
        assert "moved 1 header value(s) out of the database" in env.sidecar.stderr()
        listed = {p["id"]: p for p in (await env.client.request("providers.list"))["providers"]}
        assert listed["local"]["headerNames"] == ["api-key"] and listed["local"]["hasKey"]
        await chat_sends_header(env)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT headers FROM providers WHERE id = 'local'").fetchall() == [
            ('{"api-key":null}',)
        ]
    con.close()


class QuotingGateway:
    """A gateway (an outside service) that refuses every call with a 401 quoting the
    credentials it was sent, as some do."""

    def __init__(self) -> None:
        self.server = HttpServer(self._handle, on_disconnect=lambda at: None)
        self.base_url = ""
        self.sent: list[str | None] = []  # the api-key header of each call

    async def _handle(self, request: HttpRequest, exchange: Exchange) -> None:
        self.sent.append(request.header("api-key"))
        quoted = f"api-key {request.header('api-key')}, token {request.header('authorization')}"
        body = {"error": {"message": f"Access denied ({quoted})", "type": "invalid_request_error"}}
        await exchange.respond(
            401, [("content-type", "application/json")], json.dumps(body).encode()
        )

    async def __aenter__(self) -> QuotingGateway:
        self.base_url = f"http://127.0.0.1:{await self.server.start('127.0.0.1', 0)}/v1"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.server.close()


async def test_a_401_quoting_the_secrets_leaks_them_nowhere(tmp_path, no_keychain):
    async with QuotingGateway() as gateway:
        data = tmp_path / "data"
        sc = launch(data, "--token", TOKEN)
        client = await Client.open(sc)
        await client.request(
            "providers.configure",
            {
                "id": "gateway",
                "kind": "openai-compatible",
                "baseUrl": gateway.base_url,
                "apiKey": SHORT_KEY,
                "headers": {"api-key": HEADER_KEY},
                "maxRetries": 0,
            },
        )
        model = {"id": "gw-model", "provider": "gateway", "providerModel": "gw"}
        await client.request("models.upsert", {"model": model})
        conv = await client.request("conversations.create", {"modelId": "gw-model"})
        conversation_id = conv["conversation"]["id"]
        sc.terminate()  # after a restart the secrets come from the key store
        await client.close()
        sc = launch(data, "--token", TOKEN)
        client = await Client.open(sc)
        try:
            ids = await client.request(
                "chat.send", {"conversationId": conversation_id, "content": "Hi"}
            )
            failed = await client.wait_for(
                lambda e: (
                    e["type"] == "assistant.stream.failed"
                    and e["messageId"] == ids["assistantMessageId"]
                )
            )
            got = await client.request("conversations.get", {"conversationId": conversation_id})
            stored = next(m for m in got["messages"] if m["id"] == ids["assistantMessageId"])
            await client.request("titles.generate", {"conversationId": conversation_id})
        finally:
            await client.close()
            sc.terminate()

    assert gateway.sent[0] == HEADER_KEY and failed["error"]["code"] == "auth"
    for message in (failed["error"]["message"], stored["error"]["message"]):
        assert message.startswith("Access denied (api-key [redacted], token Bearer [redacted]")
    log = sc.stderr()
    assert "title call to gw-model failed: auth Access denied" in log  # the text was logged
    frames = "".join(r if isinstance(r, str) else r.decode() for r in client.raw)
    for secret in (HEADER_KEY, SHORT_KEY, TOKEN):
        assert secret not in frames, "a secret reached an event or an RPC answer"
        assert secret not in log, "a secret reached the log"
        assert secret.encode() not in database_bytes(data / "sidecar.db"), "in a stored error"


def test_short_values_are_not_secrets_and_never_scrub_ordinary_words():
    text = "run gpt-4o with the secret sauce on"
    logs.redact("gpt-4o")  # a header such as `x-model: gpt-4o`
    logs.redact("on")
    assert logs.scrub(text) == text
    assert scrub(text, api_key="secret") == text  # a 6-character key is no secret either
    logs.redact("Hunter2!x")  # from the floor (8) up, whatever the shape
    assert logs.scrub("pw Hunter2!x.") == scrub("pw Hunter2!x.") == "pw [redacted]."


def test_the_credential_of_an_authorization_value_is_scrubbed_on_its_own():
    logs.redact("Token gw-77c1e0d2b9")  # a custom `Authorization` header
    logs.redact("gw-77c1e0d2b9-long-form")  # a secret that contains it is replaced whole
    assert scrub("bad credential gw-77c1e0d2b9") == "bad credential [redacted]"
    assert logs.scrub("gw-77c1e0d2b9-long-form!") == "[redacted]!"


def test_json_log_lines_are_scrubbed_before_escaping():
    secret = 'sec"ret\\value-91'
    logs.redact(secret)
    record = logging.LogRecord("sidecar", logging.INFO, __file__, 1, "got %s", (secret,), None)
    line = logs._JsonFormatter().format(record)
    assert json.loads(line)["msg"] == "got [redacted]"
