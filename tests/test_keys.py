"""API keys at rest: never in the database, in the OS keychain or a file only the user can
read, moved out of the database by the first start of a version that has a key store."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from sidecar.store import StoreOpenError
from sidecar.store.keys import KeyStore
from tests.chat_env import API_KEY, TOKEN, chat_env
from tests.harness import Client, RpcFailure, launch

NO_KEYCHAIN = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def database_bytes(db: Path) -> bytes:
    """Every byte SQLite keeps for the database: the file, its WAL and shared memory."""
    return b"".join(
        p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()
    )


def key_file(db: Path) -> Path:
    return Path(f"{db}.keys")


async def test_a_configured_key_lives_in_a_user_only_file_and_never_in_the_database(
    tmp_path, monkeypatch
):
    for name, value in NO_KEYCHAIN.items():  # as on this project's machines, even on a desktop
        monkeypatch.setenv(name, value)
    async with chat_env(tmp_path) as env:
        db = env.sidecar.data_dir / "sidecar.db"
        ids = await env.send("Hi")  # the fake refuses calls without the key
        assert (await env.settled(ids["assistantMessageId"]))["status"] == "complete"
        listed = {p["id"]: p for p in (await env.client.request("providers.list"))["providers"]}
        assert listed["openai"]["hasKey"] and listed["openai"]["keySource"] == "stored"
        assert API_KEY not in json.dumps(listed)
        mode = stat.S_IMODE(key_file(db).stat().st_mode)
        assert mode == 0o600, oct(mode)
        assert json.loads(key_file(db).read_text()) == {"openai": API_KEY}
        assert API_KEY.encode() not in database_bytes(db)

        env.sidecar.terminate()  # a restart reads it back
        env.sidecar = launch(db.parent, "--token", TOKEN)
        await env.client.close()
        env.client = await Client.open(env.sidecar)
        ids = await env.send("Again")
        assert (await env.settled(ids["assistantMessageId"]))["status"] == "complete"

        await env.client.request("providers.configure", {"id": "openai", "apiKey": None})
        assert json.loads(key_file(db).read_text()) == {}
        listed = {p["id"]: p for p in (await env.client.request("providers.list"))["providers"]}
        assert listed["openai"]["hasKey"] is False
        env.sidecar.terminate()
        assert API_KEY.encode() not in database_bytes(db)


async def test_keys_an_older_version_stored_in_the_database_move_out_at_start(tmp_path):
    data = tmp_path / "data"
    db = data / "sidecar.db"
    launch(data, env=NO_KEYCHAIN).terminate()  # the schema
    old_key = "sk-old-DISTINCTIVE-5e4d3c2b1a"
    with sqlite3.connect(db) as con:  # what an older version wrote
        con.execute(
            "INSERT INTO providers (id, kind, base_url, api_key, created_at, updated_at) "
            "VALUES ('local', 'openai-compatible', 'http://127.0.0.1:9/v1', ?, 'x', 'x')",
            (old_key,),
        )
    con.close()
    assert old_key.encode() in database_bytes(db)

    sc = launch(data, env=NO_KEYCHAIN)
    try:
        assert old_key.encode() not in database_bytes(db), "the key is still in the database"
        assert json.loads(key_file(db).read_text()) == {"local": old_key}
        assert stat.S_IMODE(key_file(db).stat().st_mode) == 0o600
        client = await Client.open(sc)
        listed = {p["id"]: p for p in (await client.request("providers.list"))["providers"]}
        assert listed["local"]["hasKey"] and listed["local"]["baseUrl"] == "http://127.0.0.1:9/v1"
        await client.close()
        assert "moved 1 API key(s) out of the database" in sc.stderr()
        assert old_key not in sc.stderr()
    finally:
        assert sc.terminate() == 0
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT api_key FROM providers").fetchall() == [(None,)]
    con.close()


def test_a_key_file_readable_by_others_is_made_private_on_read(tmp_path):
    store = KeyStore(tmp_path / "x.db", "file")
    asyncio.run(store.set("openai", "sk-1"))
    key_file(tmp_path / "x.db").chmod(0o644)
    assert asyncio.run(KeyStore(tmp_path / "x.db", "file").get("openai")) == "sk-1"
    assert stat.S_IMODE(key_file(tmp_path / "x.db").stat().st_mode) == 0o600


class MemoryKeychain(KeyringBackend):
    """Stands in for the OS keychain (an outside service), not for our code."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.items[(service, username)]


@pytest.fixture
def keychain():
    previous = keyring.get_keyring()
    chain = MemoryKeychain()
    keyring.set_keyring(chain)
    yield chain
    keyring.set_keyring(previous)


def test_auto_uses_a_usable_keychain_and_no_file(tmp_path, keychain):
    db = tmp_path / "x.db"
    store = KeyStore(db, "auto")
    assert store.backend.startswith("keyring:") and "MemoryKeychain" in store.backend
    asyncio.run(store.set("anthropic", "sk-ant-1"))
    assert keychain.items == {(store.service, "anthropic"): "sk-ant-1"}
    assert not key_file(db).exists()
    assert asyncio.run(KeyStore(db, "auto").get("anthropic")) == "sk-ant-1"
    asyncio.run(store.set("anthropic", None))
    assert keychain.items == {}


def test_a_key_left_in_the_file_moves_into_a_keychain_that_appeared(tmp_path, keychain):
    db = tmp_path / "x.db"
    asyncio.run(KeyStore(db, "file").set("openai", "sk-1"))
    store = KeyStore(db, "auto")
    assert asyncio.run(store.get("openai")) == "sk-1"  # still found
    asyncio.run(store.set("openai", "sk-2"))
    assert keychain.items == {(store.service, "openai"): "sk-2"}
    assert json.loads(key_file(db).read_text()) == {}


def test_the_choice_is_explicit(tmp_path, keychain, monkeypatch):
    assert KeyStore(tmp_path / "x.db", "file").backend == "file"
    monkeypatch.setenv("SIDECAR_KEY_STORE", "file")
    assert KeyStore(tmp_path / "x.db").backend == "file"
    with pytest.raises(StoreOpenError, match="SIDECAR_KEY_STORE"):
        KeyStore(tmp_path / "x.db", "vault")


async def test_keyring_mode_without_a_keychain_is_a_clear_error(tmp_path):
    sc = launch(tmp_path / "data", env={**NO_KEYCHAIN, "SIDECAR_KEY_STORE": "keyring"})
    try:
        client = await Client.open(sc)
        with pytest.raises(RpcFailure) as err:
            await client.request("providers.list")
        assert err.value.code == -32603 and err.value.data["storage"] == "keys"
        assert "no usable backend" in err.value.error["message"]
        await client.close()
    finally:
        assert sc.terminate() == 0
    assert "Traceback" not in sc.stderr()
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve", "--data-dir", str(tmp_path / "d2")],
        env={**os.environ, "SIDECAR_KEY_STORE": "vault"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "SIDECAR_KEY_STORE" in result.stderr


def test_starting_imports_no_keyring(tmp_path):
    """keyring costs ~0.3 s to import: a start with no key to move never pays for it."""
    code = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from sidecar.app import App\n"
        "from sidecar.config import ServeConfig\n"
        "async def main():\n"
        f"    app = await App.open(ServeConfig(token='t' * 16, db_path=Path({str(tmp_path / 'x.db')!r})))\n"
        "    await app.close()\n"
        "asyncio.run(main())\n"
        "assert 'keyring' not in sys.modules, 'keyring imported at start'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
