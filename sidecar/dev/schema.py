"""Generate the checked-in contract (`schema/`) from the protocol models and the methods
declared in `sidecar.rpc`.

    python -m sidecar.dev.schema            # (re)write schema/, removing stale files
    python -m sidecar.dev.schema --check    # exit 1 and list drift if schema/ is stale
    python -m sidecar.dev.schema --out DIR  # write somewhere else

What it writes (all JSON Schema draft 2020-12, self-contained: every file keeps
its own `$defs`, refs are `#/$defs/Name`):

- `methods/<method>.params.json`  params of each method (validation mode)
- `methods/<method>.result.json`  result of each method (serialization mode)
- `events/<type>.json`            params of each event notification (serialization mode)
- `events.json`                   every event as one union discriminated on `type`
- `errors.json`                   the JSON-RPC `error` object, with every `data.reason`
- `openrpc.json`                  OpenRPC 1.3.2: methods, errors, and events under
                                  `x-notifications` (OpenRPC has no notification section);
                                  each method says whether a client may re-send it after a
                                  reconnect (`x-safeToResend`) and whether it is deduplicated
                                  by `clientRequestId` (`x-deduplicated`)

Versions: each file's `$id` is under `.../schema/v<protocolVersion>/`, and
openrpc.json's `info` has the package version and `x-protocolVersion`; both
come from `sidecar/__init__.py`, the one place each is set.

Two deliberate differences from pydantic's raw output:

- no auto-generated `title` on properties ("Conversationid"): model titles stay;
- no `default` in serialization-mode schemas: every field is always present on
  output (`json_schema_serialization_defaults_required`), so a default there only
  misleads (an event's `seq: 0` and `ts: ""` are placeholders the bus overwrites).

Output is deterministic: sorted keys, 2-space indent, trailing newline.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

import sidecar
from sidecar.protocol.errors import INVALID_PARAMS, MESSAGES, STANDARD_REASONS, Reason
from sidecar.protocol.events import EVENTS, AnyEvent
from sidecar.rpc.api import METHODS
from sidecar.rpc.method import Method

DRAFT = "https://json-schema.org/draft/2020-12/schema"
# Every file's `$id` names the protocol version it describes; openrpc.json's `info` also
# carries the package version (`version`) next to it (`x-protocolVersion`).
BASE_ID = f"https://chat-sidecar.local/schema/v{sidecar.PROTOCOL_VERSION}/"
OPENRPC_VERSION = "1.3.2"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "schema"
REGENERATE_HINT = "run `make schema` (python -m sidecar.dev.schema) and commit schema/"

Schema = dict[str, Any]


class ContractJsonSchema(GenerateJsonSchema):
    """pydantic's generator without per-property titles and without output defaults."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: Any) -> Schema:
        if self.mode == "serialization":
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)


# --- per-file schemas -----------------------------------------------------------


def _model_schema(model: type[BaseModel], mode: JsonSchemaMode) -> Schema:
    return model.model_json_schema(mode=mode, schema_generator=ContractJsonSchema)


def _with_header(schema: Schema, rel_path: str) -> Schema:
    return {"$schema": DRAFT, "$id": BASE_ID + rel_path, **schema}


def params_path(method: str) -> str:
    return f"methods/{method}.params.json"


def result_path(method: str) -> str:
    return f"methods/{method}.result.json"


def event_path(event_type: str) -> str:
    return f"events/{event_type}.json"


def method_params_schema(spec: Method) -> Schema:
    """The params object of a method, as the server validates it."""
    schema = _model_schema(spec.params, "validation")
    return _with_header(schema, params_path(spec.name))


def method_result_schema(spec: Method) -> Schema:
    """The result of a method, as the server sends it."""
    return _with_header(_model_schema(spec.result, "serialization"), result_path(spec.name))


def event_schema(event_type: str) -> Schema:
    """The params of one event notification (whose method is the same `type`)."""
    return _with_header(_model_schema(EVENTS[event_type], "serialization"), event_path(event_type))


def events_union_schema() -> Schema:
    """Any event's params: a `oneOf` discriminated on `type`."""
    schema = TypeAdapter(AnyEvent).json_schema(
        mode="serialization", schema_generator=ContractJsonSchema
    )
    schema = {
        "title": "Event",
        "description": "The params of any event notification; the notification's method equals `type`.",
        **schema,
    }
    return _with_header(schema, "events.json")


def all_reasons() -> list[tuple[int, str]]:
    """Every (code, data.reason) pair a client can see: the contract's, then the standard ones."""
    pairs = [(reason.code, reason.value) for reason in Reason]
    pairs += list(STANDARD_REASONS.items())
    return pairs


def error_message(code: int, reason: str) -> str:
    return MESSAGES.get(code) or reason.replace("_", " ").capitalize()


def errors_schema() -> Schema:
    """The `error` member of a JSON-RPC error response."""
    pairs = all_reasons()
    schema: Schema = {
        "title": "Error",
        "description": "The error object of a JSON-RPC error response. `data.reason` is the "
        "stable name of the error and always goes with the same `code`.",
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "message", "data"],
        "properties": {
            "code": {"type": "integer", "enum": [code for code, _ in pairs]},
            "message": {"type": "string", "description": "Safe to show: never a key or a token."},
            "data": {"$ref": "#/$defs/ErrorData"},
        },
        "oneOf": [
            {
                "properties": {
                    "code": {"const": code},
                    "data": {"properties": {"reason": {"const": reason}}},
                }
            }
            for code, reason in pairs
        ],
        "$defs": {
            "ErrorData": {
                "title": "ErrorData",
                "description": "`reason` plus error-specific fields (e.g. `kind` and `id` for NOT_FOUND).",
                "type": "object",
                "required": ["reason"],
                "properties": {"reason": {"$ref": "#/$defs/Reason"}},
            },
            "Reason": {
                "title": "Reason",
                "type": "string",
                "enum": [reason for _, reason in pairs],
            },
        },
        "x-codes": {reason: code for code, reason in pairs},
    }
    return _with_header(schema, "errors.json")


# --- OpenRPC ---------------------------------------------------------------------

_COMPONENT_REF = "#/components/schemas/{model}"


def _ref_name(ref: Schema) -> str:
    return ref["$ref"].rsplit("/", 1)[-1]


def _descriptors(model_schema: Schema) -> list[Schema]:
    """One ContentDescriptor per top-level property of an object schema."""
    required = set(model_schema.get("required", ()))
    out = []
    for name, prop in model_schema.get("properties", {}).items():
        descriptor: Schema = {"name": name, "required": name in required, "schema": prop}
        if "description" in prop:
            descriptor["description"] = prop["description"]
        out.append(descriptor)
    return out


def _method_errors(spec: Method) -> list[Schema]:
    names = [reason.value for reason in spec.errors]
    if not spec.before_initialize:
        names.append(Reason.NOT_INITIALIZED.value)
    names.append(STANDARD_REASONS[INVALID_PARAMS])
    unique = list(dict.fromkeys(names))
    return [{"$ref": f"#/components/errors/{name}"} for name in unique]


def openrpc_document() -> Schema:
    """The whole contract as one OpenRPC 1.3.2 document."""
    inputs: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for spec in METHODS.values():
        inputs.append((spec.params, "validation"))
        inputs.append((spec.result, "serialization"))
    for cls in EVENTS.values():
        inputs.append((cls, "serialization"))
    inputs = list(dict.fromkeys(inputs))
    refs, top = models_json_schema(
        inputs, ref_template=_COMPONENT_REF, schema_generator=ContractJsonSchema
    )
    schemas: dict[str, Schema] = dict(top.get("$defs", {}))

    event_refs = {t: refs[(cls, "serialization")] for t, cls in EVENTS.items()}
    schemas["AnyEvent"] = {
        "title": "AnyEvent",
        "description": "The params of any event notification; the notification's method equals `type`.",
        "oneOf": list(event_refs.values()),
        "discriminator": {
            "propertyName": "type",
            "mapping": {t: ref["$ref"] for t, ref in event_refs.items()},
        },
    }

    methods = []
    for spec in METHODS.values():
        params_ref = refs[(spec.params, "validation")]
        result_ref = refs[(spec.result, "serialization")]
        methods.append(
            {
                "name": spec.name,
                "summary": spec.summary,
                "paramStructure": "by-name",
                "params": _descriptors(schemas[_ref_name(params_ref)]),
                "result": {"name": _ref_name(result_ref), "schema": result_ref},
                "errors": _method_errors(spec),
                "x-paramsSchema": params_ref,
                # How a client may retry it (the TypeScript client's lists are made from these).
                "x-safeToResend": spec.safe_to_resend,
                "x-deduplicated": spec.deduplicated,
            }
        )

    notifications = []
    for event_type, ref in event_refs.items():
        event_schema_ = schemas[_ref_name(ref)]
        notification: Schema = {
            "name": event_type,
            "paramStructure": "by-name",
            "params": _descriptors(event_schema_),
            "x-paramsSchema": ref,
        }
        if "description" in event_schema_:
            notification["summary"] = event_schema_["description"]
        notifications.append(notification)

    errors = {
        reason: {"code": code, "message": error_message(code, reason), "data": {"reason": reason}}
        for code, reason in all_reasons()
    }

    return {
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "chat sidecar",
            "description": "JSON-RPC 2.0 over a local WebSocket. Events are notifications whose "
            "method is the event type and whose params carry `type`, `seq` and `ts`; they are "
            "listed under `x-notifications`.",
            "version": sidecar.__version__,
            "x-protocolVersion": sidecar.PROTOCOL_VERSION,
        },
        "methods": methods,
        "x-notifications": notifications,
        "x-eventsSchema": {"$ref": "#/components/schemas/AnyEvent"},
        "components": {"schemas": schemas, "errors": errors},
    }


# --- files -------------------------------------------------------------------------


def render(obj: Any) -> bytes:
    """The canonical bytes of a JSON document: sorted keys, 2-space indent, trailing newline."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def build() -> dict[str, bytes]:
    """Every generated file: relative POSIX path -> bytes."""
    docs: dict[str, Schema] = {}
    for name, spec in METHODS.items():
        docs[params_path(name)] = method_params_schema(spec)
        docs[result_path(name)] = method_result_schema(spec)
    for event_type in EVENTS:
        docs[event_path(event_type)] = event_schema(event_type)
    docs["events.json"] = events_union_schema()
    docs["errors.json"] = errors_schema()
    docs["openrpc.json"] = openrpc_document()
    return {path: render(doc) for path, doc in sorted(docs.items())}


def _existing(out: Path) -> set[str]:
    if not out.is_dir():
        return set()
    return {p.relative_to(out).as_posix() for p in out.rglob("*.json") if p.is_file()}


def diff(out: Path, files: dict[str, bytes] | None = None) -> list[str]:
    """How `out` differs from a fresh export: lines like `changed: events.json`."""
    files = build() if files is None else files
    existing = _existing(out)
    problems = []
    for path, content in files.items():
        if path not in existing:
            problems.append(f"missing: {path}")
        elif (out / path).read_bytes() != content:
            problems.append(f"changed: {path}")
    problems += [f"extra: {path}" for path in sorted(existing - files.keys())]
    return problems


def write(out: Path, files: dict[str, bytes] | None = None) -> list[str]:
    """Write the export into `out`, removing stale `*.json` files; returns what changed."""
    files = build() if files is None else files
    changes = diff(out, files)
    for path, content in files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != content:
            target.write_bytes(content)
    for path in sorted(_existing(out) - files.keys()):
        (out / path).unlink()
    _remove_empty_dirs(out)
    return changes


def _remove_empty_dirs(root: Path) -> None:
    dirs: Iterable[Path] = sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True)
    for d in dirs:
        if not any(d.iterdir()):
            d.rmdir()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sidecar.dev.schema",
        description="Generate schema/ (JSON Schema + OpenRPC) from the protocol models.",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    out: Path = args.out

    if args.check:
        problems = diff(out)
        if problems:
            print(f"{out} is out of date with sidecar/protocol:", file=sys.stderr)
            for line in problems:
                print(f"  {line}", file=sys.stderr)
            print(REGENERATE_HINT, file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0

    files = build()
    changes = write(out, files)
    for line in changes:
        print(line)
    print(f"wrote {len(files)} files to {out} ({len(changes)} changed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
