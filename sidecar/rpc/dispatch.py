"""Frame in, response frame out: the one module that knows jsonrpcserver.

jsonrpcserver does method lookup, calling and response shaping. Around it this
module adds what the contract needs and the library does differently:

- parsing with orjson once (stdlib json only as the fallback for numbers past
  64 bits), so nothing is parsed twice;
- a cheap structural check instead of the library's per-request jsonschema
  validation, applied per batch element so one bad element gets its own
  Invalid Request instead of failing the whole batch (as the spec wants);
- params parsed with the pydantic models (-32602 with the details), the
  `NOT_INITIALIZED` gate, and every error carrying `data.reason`;
- no exception text ever reaches a client: the library would copy it into
  `data`, so every method catches everything and answers a scrubbed error
  (a storage problem, such as a full disk, in words of our own: `data.storage`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import orjson
from jsonrpcserver import Error, Success
from jsonrpcserver.async_main import dispatch_to_serializable
from pydantic import ValidationError

from sidecar.protocol import errors
from sidecar.protocol.errors import InvalidParams, Reason, RpcError
from sidecar.protocol.methods import METHODS
from sidecar.rpc.handlers import HANDLERS
from sidecar.store.errors import storage_problem

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sidecar.server import Connection

log = logging.getLogger("sidecar.rpc")

_REQUEST_KEYS = frozenset({"jsonrpc", "method", "params", "id"})


def _error(code: int, message: str | None = None, **data: Any) -> Any:
    return Error(
        code, message or errors.MESSAGES[code], {"reason": errors.STANDARD_REASONS[code], **data}
    )


def _wrap(name: str, handler: Callable[[Connection, Any], Awaitable[Any]]) -> Callable[..., Any]:
    spec = METHODS[name]
    needs_init = name != "initialize"

    async def call(conn: Connection, /, *args: Any, **params: Any) -> Any:
        if args:
            return _error(
                errors.INVALID_PARAMS,
                errors=[{"loc": [], "msg": "params must be an object (by-name)"}],
            )
        if needs_init and not conn.initialized:
            reason = Reason.NOT_INITIALIZED
            return Error(reason.code, "Call initialize first", {"reason": reason.value})
        try:
            parsed = spec.params.model_validate(params)
        except ValidationError as exc:
            details = exc.errors(include_url=False, include_input=False, include_context=False)
            return _error(errors.INVALID_PARAMS, errors=details)
        try:
            result = await handler(conn, parsed)
        except RpcError as exc:
            return Error(exc.code, exc.message, {"reason": exc.reason.value, **exc.data})
        except InvalidParams as exc:
            return _error(
                errors.INVALID_PARAMS, errors=[{"loc": list(exc.loc), "msg": exc.message}]
            )
        except Exception as exc:
            problem = storage_problem(exc)
            if problem is None:
                log.exception("%s failed", name)
                return _error(errors.INTERNAL_ERROR)
            # Not a bug: say what is wrong with the disk or the database, in one line.
            log.error("%s failed: %s", name, problem.message)
            return _error(errors.INTERNAL_ERROR, problem.message, storage=problem.kind)
        return Success(result.model_dump(mode="json"))

    call.__name__ = name
    return call


_METHODS = {name: _wrap(name, HANDLERS[name]) for name in METHODS}


def _is_request(obj: Any) -> bool:
    if (
        not isinstance(obj, dict)
        or obj.get("jsonrpc") != "2.0"
        or not isinstance(obj.get("method"), str)
    ):
        return False
    if not _REQUEST_KEYS.issuperset(obj):
        return False
    if "params" in obj and not isinstance(obj["params"], dict | list):
        return False
    ident = obj.get("id")
    return ident is None or (isinstance(ident, str | int | float) and not isinstance(ident, bool))


def _invalid_request(obj: Any) -> dict[str, Any]:
    ident = obj.get("id") if isinstance(obj, dict) else None
    if not (isinstance(ident, str | int | float) and not isinstance(ident, bool)):
        ident = None
    return {
        "jsonrpc": "2.0",
        "error": {
            "code": errors.INVALID_REQUEST,
            "message": "Invalid Request",
            "data": {"reason": "INVALID_REQUEST"},
        },
        "id": ident,
    }


def _standalone_error(code: int, detail: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "error": {
            "code": code,
            "message": errors.MESSAGES[code],
            "data": {"reason": errors.STANDARD_REASONS[code], "detail": detail},
        },
        "id": None,
    }


def _identity(obj: Any) -> Any:
    return obj


async def _one(obj: Any, conn: Connection) -> dict[str, Any] | None:
    if not _is_request(obj):
        return _invalid_request(obj)
    answer = await dispatch_to_serializable(
        obj, _METHODS, context=conn, deserializer=_identity, validator=_identity
    )
    if answer is not None and "error" in answer:
        _own_error_data(answer["error"], obj["method"])
    return answer


def _own_error_data(error: dict[str, Any], method: str) -> None:
    """Errors the library made itself carry its own `data` (a method name, exception
    text): replace it with ours, which always has a reason and never exception text."""
    data = error.get("data")
    if isinstance(data, dict) and "reason" in data:
        return
    code = error["code"]
    error["data"] = {"reason": errors.STANDARD_REASONS.get(code, "INTERNAL_ERROR")}
    if code == errors.METHOD_NOT_FOUND:
        error["data"]["method"] = method[:200]


def _float_id(obj: Any) -> bool:
    """Whether a request (or a batch's, one level down: batches do not nest) has a float id.

    Never recursive: a frame of 1,000 nested arrays once blew the stack here."""
    items = obj if isinstance(obj, list) else (obj,)
    return any(isinstance(item, dict) and isinstance(item.get("id"), float) for item in items)


def parse(frame: str | bytes) -> Any:
    """Decode a frame; raises ValueError on anything that is not JSON.

    orjson reads integers past 64 bits as floats and refuses numbers past a
    double; both are valid JSON, so the stdlib parser (exact integers) takes
    over in those rare cases, and an id is always echoed exactly as sent.
    """
    try:
        obj = orjson.loads(frame)
        if not _float_id(obj):
            return obj
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(frame)
    except (ValueError, RecursionError) as exc:
        raise ValueError("not valid JSON") from exc


def encode(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # an id past 64 bits, echoed back
        return json.dumps(obj, separators=(",", ":")).encode()


_UNPARSABLE = object()  # what `read` returns for a frame that is not JSON


def read(frame: str | bytes) -> tuple[Any, int]:
    """A frame parsed once, and how many requests it holds: its cost against the
    connection's in-flight limit (a batch counts every element, or one connection could
    queue a 16 MiB batch of 300,000 calls ahead of everybody else's)."""
    try:
        request = parse(frame)
    except ValueError:
        return _UNPARSABLE, 1
    return request, len(request) if isinstance(request, list) and request else 1


async def dispatch(frame: str | bytes, conn: Connection) -> bytes | None:
    """Answer one frame: a response, a batch of them, or None (notifications only)."""
    return await answer(read(frame)[0], conn)


async def answer(request: Any, conn: Connection) -> bytes | None:
    """Answer what `read` parsed."""
    if request is _UNPARSABLE:
        return encode(_standalone_error(errors.PARSE_ERROR, "the frame is not valid JSON"))
    if isinstance(request, list):
        if not request:
            return encode(_standalone_error(errors.INVALID_REQUEST, "empty batch"))
        answers = [
            a for a in await asyncio.gather(*(_one(r, conn) for r in request)) if a is not None
        ]
        return encode(answers) if answers else None
    one = await _one(request, conn)
    return None if one is None else encode(one)


def too_large(limit: int) -> bytes:
    """The answer to a batch holding more requests than a connection may have in flight."""
    return encode(
        _standalone_error(errors.INVALID_REQUEST, f"a batch may hold at most {limit} requests")
    )


def overloaded(frame: str | bytes) -> bytes | None:
    """The answer to a frame that arrived while the connection had too many requests in flight."""
    return refuse(read(frame)[0])


def refuse(request: Any) -> bytes | None:
    """`overloaded` for what `read` parsed: OVERLOADED for each request that has an id."""
    if request is _UNPARSABLE:
        return encode(_standalone_error(errors.PARSE_ERROR, "the frame is not valid JSON"))
    reason = Reason.OVERLOADED

    def refused(obj: Any) -> dict[str, Any] | None:
        if not _is_request(obj):
            return _invalid_request(obj)
        if "id" not in obj:
            return None
        return {
            "jsonrpc": "2.0",
            "error": {
                "code": reason.code,
                "message": "Too many requests in flight; retry",
                "data": {"reason": reason.value},
            },
            "id": obj["id"],
        }

    answers = [a for a in map(refused, request if isinstance(request, list) else [request]) if a]
    if not answers:
        return None
    return encode(answers if isinstance(request, list) else answers[0])
