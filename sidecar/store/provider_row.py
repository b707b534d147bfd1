"""Stored records that are not wire objects (they hold what clients must never see)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ProviderRow:
    """A provider's stored settings. None means "the default" for built-in providers.

    `api_key` is the one place a key lives; the engine turns this into the wire
    `Provider` (no key, header names only) and into the adapters' ProviderConfig.
    `headers` maps names to values; the database keeps the names only (a None value: in
    the key store, like the key).
    """

    id: str
    kind: str
    name: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    headers: dict[str, str | None] = field(default_factory=dict)
    enabled: bool = True
    connect_timeout: float | None = None
    idle_timeout: float | None = None
    total_timeout: float | None = None
    max_retries: int | None = None
    api: str | None = None  # "responses" | "chat"; None: the kind's default
    created_at: str = ""
    updated_at: str = ""

    def __repr__(self) -> str:  # never print the key
        return (
            f"ProviderRow(id={self.id!r}, kind={self.kind!r}, has_key={self.api_key is not None})"
        )
