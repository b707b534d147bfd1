"""Keyset cursors for paging through conversations."""

from __future__ import annotations

import base64

import orjson


def encode_cursor(updated_at: str, id_: str) -> str:
    """An opaque, url-safe token for "after this item" in updated_at DESC, id DESC order."""
    raw = orjson.dumps([updated_at, id_])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The (updated_at, id) a cursor encodes; anything else is ValueError("invalid cursor")."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = orjson.loads(raw)
    except (ValueError, TypeError):  # bad base64, bad JSON, non-ASCII text, not a str
        raise ValueError("invalid cursor") from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(part, str) for part in value)
    ):
        raise ValueError("invalid cursor")
    return value[0], value[1]
