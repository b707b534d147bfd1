"""Frame in, response frame out: where jsonrpcserver does its job.

jsonrpcserver looks each method up, checks the call binds, calls it with the
session as its context, gathers a batch and shapes every response and error.
Around it, each for a reason the library cannot serve:

- a frame is parsed before dispatch (orjson; the stdlib only for numbers past
  64 bits), because the session counts a batch's requests against its in-flight
  limit before anything runs;
- each element of a batch is checked alone, and only the valid ones go to the
  library: it validates a batch as a whole, so one bad element would fail them
  all, where the spec gives that element its own Invalid Request. The check is
  the library's request schema in plain code (its jsonschema validator costs
  ~100 µs a request);
- every error carries `data.reason` (the contract) and never exception text:
  the library copies exception text into `data`, so each method catches
  everything (`_serve`), and unknown names get a method of ours (`_Table`).
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

from jsonrpcserver import Error, Success
from jsonrpcserver.async_dispatcher import dispatch_deserialized
from jsonrpcserver.response import to_serializable_one
from pydantic import ValidationError

from sidecar.protocol import errors
from sidecar.protocol.errors import InvalidParams, Reason, RpcError
from sidecar.rpc.api import METHODS
from sidecar.rpc.frames import encode, parse
from sidecar.store.errors import storage_problem

if TYPE_CHECKING:
    from collections.abc import Callable

    from sidecar.rpc.method import Context, Method

log = logging.getLogger("sidecar.rpc")

_REQUEST_KEYS = frozenset({"jsonrpc", "method", "params", "id"})


def _error(code: int, message: str | None = None, **data: Any) -> Any:
    return Error(
        code, message or errors.MESSAGES[code], {"reason": errors.STANDARD_REASONS[code], **data}
    )


def _serve(method: Method) -> Callable[..., Any]:
    """`method` as the library calls it: the session first, params by name, a Result back."""
    name, params_model, handler = method.name, method.params, method.handler
    needs_init = not method.before_initialize

    async def call(session: Context, /, *args: Any, **params: Any) -> Any:
        if args:
            return _error(
                errors.INVALID_PARAMS,
                errors=[{"loc": [], "msg": "params must be an object (by-name)"}],
            )
        if needs_init and not session.initialized:
            reason = Reason.NOT_INITIALIZED
            return Error(reason.code, "Call initialize first", {"reason": reason.value})
        try:
            parsed = params_model.model_validate(params)
        except ValidationError as exc:
            details = exc.errors(include_url=False, include_input=False, include_context=False)
            return _error(errors.INVALID_PARAMS, errors=details)
        try:
            result = await handler(session, parsed)
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
    # The library binds each call's arguments to the handler's signature: computed once
    # here, where `inspect.signature` would build it anew for every request.
    call.__signature__ = inspect.signature(call)  # type: ignore[attr-defined]
    return call


class _Table(dict[str, Any]):
    """The library's method table. An unknown name finds a method that answers
    Method not found with our `data` (the library's would carry only the bare name)."""

    def __missing__(self, name: str) -> Callable[..., Any]:
        async def unknown(session: Context, /, *args: Any, **params: Any) -> Any:
            return _error(errors.METHOD_NOT_FOUND, method=name[:200])

        return unknown


TABLE = _Table({name: _serve(method) for name, method in METHODS.items()})


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
    return _response(ident, errors.INVALID_REQUEST, "Invalid Request", "INVALID_REQUEST")


def _response(ident: Any, code: int, message: str, reason: str, **data: Any) -> dict[str, Any]:
    """An error response shaped here: for what never reaches the library."""
    error = {"code": code, "message": message, "data": {"reason": reason, **data}}
    return {"jsonrpc": "2.0", "error": error, "id": ident}


def _standalone(code: int, detail: str) -> dict[str, Any]:
    """An error about the whole frame (not JSON, an empty or too large batch): id null."""
    return _response(
        None, code, errors.MESSAGES[code], errors.STANDARD_REASONS[code], detail=detail
    )


UNPARSABLE = object()  # what `read` returns for a frame that is not JSON


def read(frame: str | bytes) -> tuple[Any, int]:
    """A frame parsed once, and how many requests it holds: its cost against the
    connection's in-flight limit (a batch counts every element, or one connection could
    queue a 16 MiB batch of 300,000 calls ahead of everybody else's)."""
    try:
        request = parse(frame)
    except ValueError:
        return UNPARSABLE, 1
    return request, len(request) if isinstance(request, list) and request else 1


async def answer(request: Any, session: Context) -> bytes | None:
    """The response frame to what `read` parsed: one response, a batch of them, or None
    (notifications only)."""
    if request is UNPARSABLE:
        return encode(_standalone(errors.PARSE_ERROR, "the frame is not valid JSON"))
    batch = isinstance(request, list)
    if batch and not request:
        return encode(_standalone(errors.INVALID_REQUEST, "empty batch"))
    items = request if batch else [request]
    checked = [(r, _is_request(r)) for r in items]  # each element checked once
    valid = [r for r, ok in checked if ok]
    served = iter(())
    if valid:
        answers = await dispatch_deserialized(
            TABLE, session, to_serializable_one, valid if batch else valid[0]
        )
        served = iter(answers if isinstance(answers, list) else [answers])
    # In the frame's order: each invalid element's error, each answered request's response.
    ordered = [
        next(served) if ok else _invalid_request(r) for r, ok in checked if not ok or "id" in r
    ]
    if not ordered:
        return None
    return encode(ordered if batch else ordered[0])


async def dispatch(frame: str | bytes, session: Context) -> bytes | None:
    """Answer one frame (`read`, then `answer`)."""
    return await answer(read(frame)[0], session)


def too_large(limit: int) -> bytes:
    """The answer to a batch holding more requests than a connection may have in flight."""
    return encode(_standalone(errors.INVALID_REQUEST, f"a batch may hold at most {limit} requests"))


def refuse(request: Any) -> bytes | None:
    """The answer to what `read` parsed while the connection had too many requests in
    flight: OVERLOADED for each request that has an id."""
    if request is UNPARSABLE:
        return encode(_standalone(errors.PARSE_ERROR, "the frame is not valid JSON"))
    reason = Reason.OVERLOADED

    def refused(obj: Any) -> dict[str, Any] | None:
        if not _is_request(obj):
            return _invalid_request(obj)
        if "id" not in obj:
            return None
        return _response(obj["id"], reason.code, "Too many requests in flight; retry", reason.value)

    answers = [a for a in map(refused, request if isinstance(request, list) else [request]) if a]
    if not answers:
        return None
    return encode(answers if isinstance(request, list) else answers[0])
