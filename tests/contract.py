"""Contract checks for tests: validate wire data against the checked-in `schema/`.

Import it from any test:

    from tests.contract import validate_message, validate_result

    validate_result("conversations.create", response["result"])
    validate_message(msg, {1: "initialize", 2: "events.subscribe"})  # id -> method

Every function raises AssertionError with the failing JSON paths on a violation.
The schemas are the generated files, not the models, so these checks catch a
server that drifts from what clients were promised.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schema"
MAX_REPORTED_ERRORS = 5

__all__ = [
    "SCHEMA_DIR",
    "known_events",
    "known_methods",
    "load_schema",
    "validate_error",
    "validate_event",
    "validate_message",
    "validate_params",
    "validate_result",
    "validator",
]


@functools.cache
def load_schema(rel_path: str) -> dict[str, Any]:
    """A schema file under schema/, e.g. `methods/initialize.params.json`."""
    path = SCHEMA_DIR / rel_path
    if not path.is_file():
        raise AssertionError(f"no schema file {path} (run `make schema`?)")
    return json.loads(path.read_text(encoding="utf-8"))


@functools.cache
def validator(rel_path: str) -> Draft202012Validator:
    schema = load_schema(rel_path)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@functools.cache
def known_methods() -> frozenset[str]:
    """Methods listed in schema/openrpc.json."""
    return frozenset(m["name"] for m in load_schema("openrpc.json")["methods"])


@functools.cache
def known_events() -> frozenset[str]:
    """Event types listed in schema/openrpc.json (`x-notifications`)."""
    return frozenset(n["name"] for n in load_schema("openrpc.json")["x-notifications"])


def _describe(error: ValidationError) -> str:
    where = "$" + "".join(f"[{p!r}]" for p in error.absolute_path)
    text = f"{where}: {_short(error.message)}"
    # oneOf/anyOf: say why the branches failed, skipping those whose `const` tag differs
    # (for a discriminated union that leaves the branch of the message's own type)
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    reasons = [
        sub
        for subs in branches.values()
        if not any(e.validator == "const" for e in subs)
        for sub in subs
    ]
    if reasons:
        text += " (" + "; ".join(_describe(e) for e in reasons[:MAX_REPORTED_ERRORS]) + ")"
    return text


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[:limit] + "..."


def _check(rel_path: str, instance: Any, what: str) -> None:
    errors = sorted(validator(rel_path).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    best = best_match(errors)
    lines = [_describe(best)] + [_describe(e) for e in errors if e is not best]
    shown = lines[:MAX_REPORTED_ERRORS]
    more = len(lines) - len(shown)
    text = "\n  ".join(shown) + (f"\n  ... and {more} more" if more else "")
    raise AssertionError(
        f"{what} violates schema/{rel_path}:\n  {text}\ninstance: {_preview(instance)}"
    )


def _preview(instance: Any, limit: int = 600) -> str:
    text = json.dumps(instance, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."


def _require_method(method: str) -> None:
    if method not in known_methods():
        raise AssertionError(f"unknown method {method!r}: not in schema/openrpc.json")


def validate_params(method: str, params_obj: Any) -> None:
    """The params of a request to `method`, as a client sends them."""
    _require_method(method)
    _check(f"methods/{method}.params.json", params_obj, f"params of {method}")


def validate_result(method: str, result_obj: Any) -> None:
    """The result of a successful response to `method`."""
    _require_method(method)
    _check(f"methods/{method}.result.json", result_obj, f"result of {method}")


def validate_event(params_obj: Any) -> None:
    """The params of an event notification: the union in events.json and the per-type file."""
    if not isinstance(params_obj, Mapping):
        raise AssertionError(f"event params must be an object, got {_preview(params_obj)}")
    event_type = params_obj.get("type")
    if event_type not in known_events():
        raise AssertionError(
            f"unknown event type {event_type!r}: not in schema/openrpc.json x-notifications"
        )
    _check(f"events/{event_type}.json", params_obj, f"event {event_type}")
    _check("events.json", params_obj, f"event {event_type}")


def validate_error(error_obj: Any) -> None:
    """The `error` member of an error response."""
    if isinstance(error_obj, Mapping) and isinstance(error_obj.get("data"), Mapping):
        codes = load_schema("errors.json")["x-codes"]
        reason, code = error_obj["data"].get("reason"), error_obj.get("code")
        if reason in codes and code != codes[reason]:
            raise AssertionError(
                f"error code {code!r} does not go with reason {reason!r} "
                f"(expected {codes[reason]}): {_preview(error_obj)}"
            )
    _check("errors.json", error_obj, "error object")


MethodHint = str | Mapping[Any, str] | None


def validate_message(msg: Any, method: MethodHint = None) -> None:
    """Any decoded JSON-RPC message (or batch) received from the server.

    `method` tells which method a response answers: a method name (for a single
    response) or a mapping request id -> method name (for batches or streams of
    responses). A result whose method is unknown is only checked for shape.
    """
    if isinstance(msg, list):
        if not msg:
            raise AssertionError("the server sent an empty batch")
        for item in msg:
            validate_message(item, method)
        return
    if not isinstance(msg, Mapping):
        raise AssertionError(f"a JSON-RPC message must be an object, got {_preview(msg)}")
    if msg.get("jsonrpc") != "2.0":
        raise AssertionError(f'jsonrpc must be "2.0": {_preview(msg)}')

    if "method" in msg:
        _validate_notification(msg)
        return

    extra = set(msg) - {"jsonrpc", "id", "result", "error"}
    if extra:
        raise AssertionError(f"unexpected response members {sorted(extra)}: {_preview(msg)}")
    if "id" not in msg:
        raise AssertionError(f"a response must carry an id: {_preview(msg)}")
    msg_id = msg["id"]
    if msg_id is not None and (
        isinstance(msg_id, bool) or not isinstance(msg_id, str | int | float)
    ):
        raise AssertionError(f"a response id must be a string, a number or null: {_preview(msg)}")
    has_result, has_error = "result" in msg, "error" in msg
    if has_result == has_error:
        raise AssertionError(f"a response needs exactly one of result and error: {_preview(msg)}")

    if has_error:
        validate_error(msg["error"])
        return
    name = _method_for(msg_id, method)
    if name is not None:
        validate_result(name, msg["result"])


def _validate_notification(msg: Mapping[str, Any]) -> None:
    if "id" in msg:
        raise AssertionError(
            f"the server must not send requests (message has an id): {_preview(msg)}"
        )
    extra = set(msg) - {"jsonrpc", "method", "params"}
    if extra:
        raise AssertionError(f"unexpected notification members {sorted(extra)}: {_preview(msg)}")
    params = msg.get("params")
    if not isinstance(params, Mapping):
        raise AssertionError(f"notification params must be an object: {_preview(msg)}")
    if msg["method"] != params.get("type"):
        raise AssertionError(
            f"notification method {msg['method']!r} differs from params.type {params.get('type')!r}"
        )
    validate_event(params)


def _method_for(msg_id: Any, method: MethodHint) -> str | None:
    if method is None:
        return None
    if isinstance(method, str):
        return method
    return method.get(msg_id)
