"""Secrets at rest: the OS keychain when it works, else a file only the user can read.

The secrets are API keys and the values of custom headers (`api-key`,
`Authorization`, gateway tokens: how a custom backend authenticates). They never
go into the SQLite file, which keeps header names only: a copied or synced
database must not carry them. Every secret read or written here is registered
with the scrubber (`sidecar.logs.redact`). `SIDECAR_KEY_STORE` makes the choice
explicit:

- `auto` (the default): the OS keychain through `keyring` when it has a usable
  backend (macOS Keychain, Windows Credential Locker, Secret Service), else the
  file;
- `keyring`: the keychain or an error, never a silent fallback;
- `file`: `<database>.keys`, JSON, mode 0600, replaced atomically.

`keyring` costs ~0.3 s to import and may talk to D-Bus, so nothing here imports
it before the first key is read or written (or the background warm-up after
the ready line). Entries are cached in memory after the first read: one per
provider for its key (named by the provider id) and one for its header values
(`<id>:headers`, a JSON object; provider ids cannot hold `:`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sidecar import logs
from sidecar.store.errors import StorageUnavailable, StoreOpenError

if TYPE_CHECKING:
    from sidecar.store.catalog_repo import CatalogRepo

log = logging.getLogger("sidecar.keys")

ENV = "SIDECAR_KEY_STORE"
CHOICES = ("auto", "keyring", "file")
SERVICE = "chat-sidecar"
HEADERS = ":headers"  # suffix of the entry holding a provider's header values


class KeyStore:
    """API keys and header values by provider id, in the keychain or the key file (see the
    module docstring)."""

    def __init__(self, db_path: Path, choice: str | None = None) -> None:
        self.choice = (choice or os.environ.get(ENV) or "auto").strip().lower()
        if self.choice not in CHOICES:
            raise StoreOpenError(f"{ENV} must be one of {', '.join(CHOICES)}, not {self.choice!r}")
        self.file = _KeyFile(Path(f"{db_path}.keys"))
        # One keychain entry per database, so two data dirs never share keys.
        self.service = f"{SERVICE}:{Path(db_path).resolve()}"
        self._keyring: Any = None
        self._resolved = False
        self._resolve_lock = threading.Lock()
        self._cache: dict[str, str | None] = {}

    @property
    def backend(self) -> str:
        """Where keys go: "file" or "keyring:<backend class>" (resolves the choice)."""
        self._resolve()
        if self._keyring is None:
            return "file"
        return f"keyring:{type(self._keyring).__module__}.{type(self._keyring).__name__}"

    def warm(self) -> None:
        """Resolve the backend now (from a background thread), not on the first chat."""
        self._resolve()

    async def get(self, provider_id: str) -> str | None:
        key = await self._get(provider_id)
        logs.redact(key)
        return key

    async def set(self, provider_id: str, key: str | None) -> None:
        """Store `key` for the provider (None removes it)."""
        logs.redact(key)
        await self._set(provider_id, key)

    async def headers(self, provider_id: str) -> dict[str, str]:
        """The provider's custom header values by name ({} when it has none)."""
        raw = await self._get(provider_id + HEADERS)
        try:
            values = json.loads(raw) if raw else {}
        except ValueError:
            values = None
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise StorageUnavailable("keys", f"the header values of {provider_id} are damaged")
        for value in values.values():
            logs.redact(value)
        return values

    async def set_headers(self, provider_id: str, headers: Mapping[str, str]) -> None:
        """Store the provider's custom header values (an empty mapping removes them)."""
        for value in headers.values():
            logs.redact(value)
        await self._set(provider_id + HEADERS, json.dumps(dict(headers)) if headers else None)

    async def adopt(self, catalog: CatalogRepo) -> int:
        """Move the secrets an older version kept in the database (API keys, header values)
        into this store (at start); returns how many providers had some.

        Each secret is written here before it is cleared there, so a crash in between
        leaves it in both places and the next start finishes the move. Costs one
        query, and no keyring import, when there is nothing to move.
        """
        rows = await catalog.provider_secrets()
        if not rows:
            return 0
        keys = headers = 0
        for row in rows:
            if row.api_key is not None:
                await self.set(row.id, row.api_key)
                keys += 1
            values = {name: v for name, v in row.headers.items() if v is not None}
            if values:
                await self.set_headers(row.id, values)
                headers += len(values)
        await catalog.forget_provider_secrets(rows)
        moved = [f"{keys} API key(s)"] if keys else []
        moved += [f"{headers} header value(s)"] if headers else []
        log.info("moved %s out of the database into %s", " and ".join(moved), self.backend)
        return len(rows)

    async def _get(self, account: str) -> str | None:
        if account not in self._cache:
            self._cache[account] = await asyncio.to_thread(self._read, account)
        return self._cache[account]

    async def _set(self, account: str, secret: str | None) -> None:
        await asyncio.to_thread(self._write, account, secret)
        self._cache[account] = secret

    # -- blocking side (runs in a worker thread) -------------------------------

    def _resolve(self) -> None:
        with self._resolve_lock:
            if self._resolved:
                return
            if self.choice != "file":
                self._keyring = _usable_keyring()
                if self._keyring is None and self.choice == "keyring":
                    raise StorageUnavailable(
                        "keys", f"{ENV}=keyring but the OS keychain has no usable backend"
                    )
            self._resolved = True
            log.info(
                "API keys and header values are kept in %s",
                "the OS keychain" if self._keyring else f"{self.file.path} (mode 0600)",
            )

    def _read(self, account: str) -> str | None:
        self._resolve()
        if self._keyring is not None:
            secret = _keychain(self._keyring.get_password, self.service, account)
            if secret is not None:
                return secret
        # Also the file under a keychain: keys written before a keychain became usable.
        return self.file.read().get(account)

    def _write(self, account: str, secret: str | None) -> None:
        self._resolve()
        if self._keyring is not None:
            if secret is not None:
                _keychain(self._keyring.set_password, self.service, account, secret)
            elif _keychain(self._keyring.get_password, self.service, account) is not None:
                _keychain(self._keyring.delete_password, self.service, account)
            if account in self.file.read():
                self.file.update(account, None)
            return
        self.file.update(account, secret)


class _KeyFile:
    """A JSON object of entry name -> secret that only the file's owner can read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, str]:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise _unavailable(self.path, exc) from None
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if sys.platform != "win32" and mode & (stat.S_IRWXG | stat.S_IRWXO):
                log.warning(
                    "%s was readable by others; made it readable by its owner only", self.path
                )
                os.fchmod(f.fileno(), 0o600)
            raw = f.read()
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise StorageUnavailable("keys", f"the key file {self.path} is damaged") from None
        if not isinstance(data, dict):
            raise StorageUnavailable("keys", f"the key file {self.path} is damaged")
        return {k: v for k, v in data.items() if isinstance(v, str)}

    def update(self, account: str, secret: str | None) -> None:
        data = self.read()
        if secret is None:
            if data.pop(account, None) is None:
                return
        else:
            data[account] = secret
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                if sys.platform != "win32":
                    os.fchmod(f.fileno(), 0o600)  # O_CREAT's mode does not apply to an old file
                f.write(json.dumps(data, sort_keys=True).encode())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
        except OSError as exc:
            raise _unavailable(self.path, exc) from None


def _usable_keyring() -> Any:
    """The keyring backend when one can store secrets, else None."""
    try:  # on first use (start-up time), and guarded: a broken keyring must not stop us
        import keyring
        from keyring.backends import chainer, fail, null
    except Exception:  # a broken install must not stop the sidecar: the file works
        log.warning("keyring could not be imported; API keys go to the key file")
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return backend


def _keychain(call: Any, *args: str) -> Any:
    try:
        return call(*args)
    except Exception as exc:  # keyring.errors.* and D-Bus failures; never carry the key
        raise StorageUnavailable(
            "keys", f"the OS keychain refused the request ({type(exc).__name__})"
        ) from None


def _unavailable(path: Path, exc: OSError) -> StorageUnavailable:
    return StorageUnavailable("keys", f"the key file {path} is not usable: {exc.strerror or exc}")


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
