"""JSON-RPC error codes and the exception the engine raises to produce them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


class Reason(StrEnum):
    """The contract's own errors: code and the stable `data.reason` string."""

    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    RESYNC_REQUIRED = "RESYNC_REQUIRED"
    PROVIDER_NOT_CONFIGURED = "PROVIDER_NOT_CONFIGURED"
    NOT_INITIALIZED = "NOT_INITIALIZED"
    OVERLOADED = "OVERLOADED"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    """A one-shot provider call (audio.transcribe) failed: `data.error` is the ErrorInfo
    (code auth, rate_limited, ...) a stream's failure would carry, never a key."""
    MCP_SERVER_ERROR = "MCP_SERVER_ERROR"
    """An MCP server could not serve the request (not running, failed, did not answer, or
    answered with an error): `message` says which."""

    @property
    def code(self) -> int:
        return _CODES[self]


_CODES = {
    Reason.NOT_FOUND: -32001,
    Reason.CONFLICT: -32002,
    Reason.RESYNC_REQUIRED: -32003,
    Reason.PROVIDER_NOT_CONFIGURED: -32004,
    Reason.NOT_INITIALIZED: -32005,
    Reason.OVERLOADED: -32006,
    Reason.PROVIDER_ERROR: -32007,
    Reason.MCP_SERVER_ERROR: -32008,
}

# Standard codes get a reason too, so every error a client sees has `data.reason`.
STANDARD_REASONS = {
    PARSE_ERROR: "PARSE_ERROR",
    INVALID_REQUEST: "INVALID_REQUEST",
    METHOD_NOT_FOUND: "METHOD_NOT_FOUND",
    INVALID_PARAMS: "INVALID_PARAMS",
    INTERNAL_ERROR: "INTERNAL_ERROR",
}

MESSAGES = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
}


class RpcError(Exception):
    """A contract error raised below the rpc layer; the dispatcher turns it into a response.

    `message` must be safe to show (no secrets); `data` extra fields merge next to `reason`.
    """

    def __init__(self, reason: Reason, message: str, **data: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.data = data

    @property
    def code(self) -> int:
        return self.reason.code


def not_found(kind: str, ident: str) -> RpcError:
    return RpcError(Reason.NOT_FOUND, f"{kind} not found", kind=kind, id=ident)


class InvalidParams(Exception):
    """Params that pass the model but not the state (e.g. a malformed cursor): -32602."""

    def __init__(self, message: str, loc: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc
