"""The checked-in contract (schema/) matches the models and says what it should."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import sidecar
from sidecar.dev import schema as export
from sidecar.ids import new_id, now_iso
from sidecar.protocol.errors import INVALID_PARAMS, STANDARD_REASONS, Reason
from sidecar.protocol.events import (
    EVENTS,
    BranchDeleted,
    BranchUpdated,
    ConversationCreated,
    ConversationDeleted,
    ConversationUpdated,
    Event,
    SettingsUpdated,
    SystemPromptsUpdated,
    event_adapter,
)
from sidecar.protocol.methods import (
    Capabilities,
    ConversationsGetResult,
    ConversationsListResult,
    ConversationSnapshot,
    ConversationsTreeResult,
    EmptyResult,
    InitializeResult,
    ServerInfo,
    SettingsResult,
)
from sidecar.protocol.objects import (
    Attachment,
    Branch,
    BranchMessage,
    Conversation,
    ConversationSettings,
    ErrorInfo,
    Settings,
    SystemPrompt,
    ToolCall,
    TreeNode,
    Usage,
    dump,
)
from sidecar.rpc.api import METHODS
from tests.contract import (
    SCHEMA_DIR,
    load_schema,
    validate_error,
    validate_event,
    validate_message,
    validate_params,
    validate_result,
    validator,
)

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def all_schema_files() -> list[str]:
    return sorted(p.relative_to(SCHEMA_DIR).as_posix() for p in SCHEMA_DIR.rglob("*.json"))


def json_schema_files() -> list[str]:
    return [p for p in all_schema_files() if p != "openrpc.json"]


def walk(node: Any, path: str = "$"):
    """Every dict inside a JSON document, with its path."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def assert_invalid(check, *args) -> str:
    with pytest.raises(AssertionError) as info:
        check(*args)
    return str(info.value)


# --- sample data built from the models ------------------------------------------------


def sample_conversation(**overrides: Any) -> Conversation:
    now = now_iso()
    fields: dict[str, Any] = dict(
        id=new_id(),
        title="Trip to Lisbon",
        title_source="user",
        model_id="anthropic/claude-sonnet",
        system_prompt=None,
        settings=ConversationSettings(temperature=0.7, max_output_tokens=2048),
        active_leaf_id=new_id(),
        created_at=now,
        updated_at=now,
    )
    fields.update(overrides)
    return Conversation(**fields)


def sample_messages(conversation_id: str) -> list[BranchMessage]:
    now = now_iso()
    user_id, assistant_id = new_id(), new_id()
    user = BranchMessage(
        id=user_id,
        conversation_id=conversation_id,
        parent_id=None,
        role="user",
        content="What should I pack?",
        status="complete",
        attachments=[
            Attachment(
                id=new_id(), name="list.txt", mime_type="text/plain", size=12, text="socks\nhat\n"
            )
        ],
        created_at=now,
        updated_at=now,
        sibling_ids=[user_id],
    )
    assistant = BranchMessage(
        id=assistant_id,
        conversation_id=conversation_id,
        parent_id=user_id,
        role="assistant",
        content="Light layers and a rain jacket.",
        status="failed",
        model_id="anthropic/claude-sonnet",
        provider="anthropic",
        thinking="The user is going to Lisbon in spring.",
        tool_calls=[
            ToolCall(
                id="call_1",
                name="weather",
                arguments={"city": "Lisbon", "days": [1, 2, 3], "units": None},
                status="completed",
                result={"tempC": 19.5, "rain": True},
            )
        ],
        usage=Usage(input_tokens=120, output_tokens=48, reasoning_tokens=10, cost_usd=0.0012),
        error=ErrorInfo(
            code="overloaded", message="Provider overloaded", retryable=True, http_status=529
        ),
        created_at=now,
        updated_at=now,
        sibling_ids=[assistant_id, new_id()],
    )
    return [user, assistant]


def sample_branch() -> Branch:
    return Branch(
        leaf_id=new_id(),
        name="shorter answer",
        fork_message_id=new_id(),
        message_count=4,
        updated_at=now_iso(),
        active=True,
    )


def sample_settings() -> Settings:
    return Settings(
        provider_routes={"anthropic": "sidecar", "openai": "frontend"},
        default_model_id="anthropic/claude-sonnet",
        preferences={"theme": "dark", "fontSize": 14, "beta": {"tree": True}},
    )


def sample_prompt() -> SystemPrompt:
    now = now_iso()
    return SystemPrompt(
        id=new_id(), name="Terse", content="Answer briefly.", created_at=now, updated_at=now
    )


def stream_samples(conversation_id: str) -> list[Event]:
    """One of each message, stream, usage and catalog event, with realistic values."""
    from sidecar.protocol import events as ev
    from sidecar.protocol.objects import (
        ErrorInfo,
        Message,
        Model,
        Pricing,
        Provider,
        Usage,
        UsageRecord,
    )

    message = sample_messages(conversation_id)[-1]
    final = Message.model_validate(message.model_dump(exclude={"sibling_ids"}))
    ids = {"conversation_id": conversation_id, "message_id": final.id}
    usage = Usage(
        input_tokens=1200,
        output_tokens=80,
        reasoning_tokens=20,
        cache_read_tokens=1000,
        cost_usd=0.0012,
    )
    record = UsageRecord(
        **usage.model_dump(by_alias=False),
        id=new_id(),
        conversation_id=conversation_id,
        message_id=final.id,
        model_id="gpt-4o",
        provider="openai",
        kind="chat",
        created_at=now_iso(),
    )
    provider = Provider(
        id="ollama",
        kind="openai-compatible",
        name="Ollama",
        base_url="http://127.0.0.1:11434/v1",
        has_key=False,
        key_source=None,
        header_names=["X-Team"],
        enabled=True,
        connect_timeout_seconds=10,
        idle_timeout_seconds=120,
        total_timeout_seconds=600,
        max_retries=2,
        api="chat",
        builtin=False,
    )
    model = Model(
        id="gpt-4o",
        provider="openai",
        provider_model="gpt-4o",
        display_name="GPT-4o",
        pricing=Pricing(input=2.5, output=10, cache_read=1.25),
    )
    error = ErrorInfo(
        code="rate_limited", message="Rate limit reached", retryable=True, http_status=429
    )
    return [
        ev.MessageCreated(message=final),
        ev.MessageUpdated(message=final),
        ev.MessageDeleted(**ids),
        ev.StreamStarted(**ids, model_id="gpt-4o", provider="openai"),
        ev.StreamDelta(**ids, index=0, text="Hello"),
        ev.StreamRetrying(**ids, attempt=1, delay_ms=500, reason="rate_limited"),
        ev.StreamCompleted(**ids, finish_reason="stop", usage=usage, message=final),
        ev.StreamCancelled(**ids, message=final),
        ev.StreamFailed(**ids, error=error, message=final),
        ev.ThinkingStarted(**ids),
        ev.ThinkingDelta(**ids, text="Let me think"),
        ev.ThinkingCompleted(**ids),
        ev.ToolProposed(
            **ids, call_id="call_1", name="read_file", arguments={"path": "/tmp/a.txt"}
        ),
        ev.ToolStarted(
            **ids,
            call_id="call_1",
            name="read_file",
            arguments={"path": "/tmp/a.txt"},
            executor="sidecar",
        ),
        ev.ToolCompleted(**ids, call_id="call_1", result={"content": "hello", "truncated": False}),
        ev.ToolFailed(**ids, call_id="call_2", error="the user denied this tool call"),
        ev.UsageRecorded(usage=record),
        ev.ProvidersUpdated(providers=[provider]),
        ev.ModelsUpdated(models=[model]),
        ev.McpServerUpdated(server=sample_mcp_server()),
        ev.McpServerRemoved(server_id="s1"),
    ]


def sample_mcp_server():
    from sidecar.protocol.mcp import McpServer
    from sidecar.protocol.objects import Tool

    now = now_iso()
    return McpServer(
        id="s1",
        name="Time",
        slug="time",
        transport="stdio",
        command="mcp-server-time",
        args=["--local-timezone", "UTC"],
        cwd=None,
        url=None,
        env_names=["TOKEN"],
        header_names=[],
        enabled=True,
        start_on_launch=False,
        approval="once",
        tool_approvals={"get_current_time": "never"},
        timeout_seconds=60,
        state="ready",
        error=None,
        tools=[
            Tool(
                name="time__get_current_time",
                description="Now",
                input_schema={"type": "object"},
                executor="mcp",
                requires_approval=False,
                server_id="s1",
            )
        ],
        created_at=now,
        updated_at=now,
    )


def sample_events() -> dict[str, Event]:
    conversation = sample_conversation()
    samples: list[Event] = [
        ConversationCreated(conversation=conversation),
        ConversationUpdated(conversation=sample_conversation(title=None, title_source=None)),
        ConversationDeleted(conversation_id=conversation.id),
        BranchUpdated(conversation_id=conversation.id, branch=sample_branch()),
        BranchDeleted(conversation_id=conversation.id, leaf_id="m9"),
        SystemPromptsUpdated(system_prompts=[sample_prompt(), sample_prompt()]),
        SettingsUpdated(settings=sample_settings()),
        *stream_samples(conversation.id),
    ]
    for seq, event in enumerate(samples, start=41):  # what the bus does when it publishes
        event.seq = seq
        event.ts = now_iso()
    return {event.type: event for event in samples}


# --- drift -----------------------------------------------------------------------------


def test_checked_in_schema_matches_the_models():
    problems = export.diff(SCHEMA_DIR)
    assert not problems, (
        "schema/ is out of date with sidecar/protocol:\n  "
        + "\n  ".join(problems)
        + f"\n{export.REGENERATE_HINT}"
    )


def test_fresh_export_is_byte_identical_to_schema_dir(tmp_path: Path):
    export.write(tmp_path)
    fresh = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    assert fresh == all_schema_files()
    drifted = [p for p in fresh if (tmp_path / p).read_bytes() != (SCHEMA_DIR / p).read_bytes()]
    assert not drifted, f"drifted files: {drifted}; {export.REGENERATE_HINT}"


def test_export_is_deterministic_and_canonical():
    first, second = export.build(), export.build()
    assert first == second
    for path, content in first.items():
        assert content.endswith(b"\n") and not content.endswith(b"\n\n"), path
        assert content == export.render(json.loads(content)), f"{path} is not canonical JSON"


def test_check_mode_reports_drift_and_write_removes_stale_files(tmp_path: Path, capsys):
    assert export.main(["--out", str(tmp_path)]) == 0
    assert export.main(["--check", "--out", str(tmp_path)]) == 0

    (tmp_path / "events" / "gone.event.json").write_text("{}\n")
    (tmp_path / "errors.json").write_text("{}\n")
    (tmp_path / "methods" / "initialize.params.json").unlink()
    capsys.readouterr()
    assert export.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "extra: events/gone.event.json" in err
    assert "changed: errors.json" in err
    assert "missing: methods/initialize.params.json" in err
    assert "make schema" in err

    assert export.main(["--out", str(tmp_path)]) == 0
    assert not (tmp_path / "events" / "gone.event.json").exists()
    assert export.diff(tmp_path) == []


def test_default_out_is_the_repo_schema_dir():
    assert export.DEFAULT_OUT == SCHEMA_DIR


# --- general shape -----------------------------------------------------------------------


@pytest.mark.parametrize("rel_path", json_schema_files())
def test_every_file_is_a_valid_draft_2020_12_schema(rel_path: str):
    schema = load_schema(rel_path)
    assert schema["$schema"] == DRAFT
    assert schema["$id"] == export.BASE_ID + rel_path
    Draft202012Validator.check_schema(schema)
    for path, node in walk(schema):
        ref = node.get("$ref")
        if isinstance(ref, str):
            assert ref.startswith("#/$defs/"), f"{rel_path} {path}: not self-contained: {ref}"
            assert ref.removeprefix("#/$defs/") in schema.get("$defs", {}), (
                f"{rel_path} {path}: dangling {ref}"
            )


@pytest.mark.parametrize("rel_path", all_schema_files())
def test_no_property_titles_but_model_titles_kept(rel_path: str):
    doc = load_schema(rel_path)
    for path, node in walk(doc):
        props = node.get("properties")
        if not isinstance(props, dict):
            continue
        for name, prop in props.items():
            assert "_" not in name, f"{rel_path} {path}: {name} is not camelCase"
            if isinstance(prop, dict):
                assert "title" not in prop, f"{rel_path} {path}.{name} has an auto title"
    for name, definition in doc.get("$defs", {}).items():
        if definition.get("type") == "object":
            assert definition.get("title") == name, f"{rel_path} $defs.{name} lost its title"
    if rel_path != "openrpc.json":
        assert doc.get("title")


def test_a_property_named_title_survives():
    conv = load_schema("events/conversation.created.json")["$defs"]["Conversation"]
    assert "title" in conv["properties"] and "title" in conv["required"]


def test_there_is_one_file_per_method_and_event():
    expected = {export.params_path(m) for m in METHODS} | {export.result_path(m) for m in METHODS}
    expected |= {export.event_path(t) for t in EVENTS}
    expected |= {"events.json", "errors.json", "openrpc.json"}
    assert set(all_schema_files()) == expected


# --- params -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(METHODS))
def test_params_forbid_additional_properties(method: str):
    schema = load_schema(export.params_path(method))
    assert schema["additionalProperties"] is False
    samples = {
        "protocolVersion": 1,
        "model": {"id": "m", "provider": "openai"},
        "inputSchema": {"type": "object"},
        "approved": True,
        "reply": {"content": "x", "modelId": "m", "status": "complete"},
        "transport": "stdio",
    }
    required = {name: samples.get(name, "x") for name in schema.get("required", [])}
    if method == "branches.rename":
        required["name"] = None
    validate_params(method, required)  # the minimal params are fine...
    message = assert_invalid(validate_params, method, {**required, "unknownField": 1})
    assert "unknownField" in message  # ...one unknown field is not


def test_params_use_camel_case_and_match_the_models():
    validate_params(
        "initialize", {"protocolVersion": 1, "clientInfo": {"name": "app", "version": "2.1"}}
    )
    validate_params("conversations.list", {"limit": 20, "query": "lisbon"})
    validate_params("conversations.create", {"modelId": "m", "settings": {"topP": 0.9}})
    assert_invalid(validate_params, "conversations.create", {"model_id": "m"})
    assert_invalid(validate_params, "conversations.create", {"settings": {"top_p": 0.9}})
    assert_invalid(validate_params, "conversations.list", {"limit": 0})
    assert_invalid(validate_params, "conversations.get", {})
    assert_invalid(validate_params, "conversations.get", {"conversationId": ""})
    assert_invalid(validate_params, "no.such.method", {})
    # the models agree with the schema on the same inputs
    METHODS["conversations.create"].params.model_validate(
        {"modelId": "m", "settings": {"topP": 0.9}}
    )


# --- results --------------------------------------------------------------------------------


def test_results_built_from_models_validate():
    conversation = sample_conversation()
    messages = sample_messages(conversation.id)
    results: dict[str, Any] = {
        "initialize": InitializeResult(
            protocol_version=sidecar.PROTOCOL_VERSION,
            server_info=ServerInfo(name="chat-sidecar", version=sidecar.__version__),
            session_id=new_id(),
            last_seq=0,
            capabilities=Capabilities(
                methods=list(METHODS),
                events=list(EVENTS),
                replay_buffer_size=1000,
                max_frame_bytes=1 << 20,
            ),
        ),
        "conversations.create": ConversationSnapshot(conversation=conversation, seq=7),
        "conversations.list": ConversationsListResult(
            items=[conversation], next_cursor=None, seq=7
        ),
        "conversations.get": ConversationsGetResult(
            conversation=conversation, messages=messages, seq=9
        ),
        "conversations.tree": ConversationsTreeResult(
            messages=[
                TreeNode(
                    id=m.id,
                    parent_id=m.parent_id,
                    role=m.role,
                    status=m.status,
                    preview=m.content[:20],
                    created_at=m.created_at,
                )
                for m in messages
            ],
            active_leaf_id=messages[-1].id,
            seq=9,
        ),
        "conversations.delete": EmptyResult(),
        "settings.get": SettingsResult(settings=sample_settings()),
        "settings.update": SettingsResult(settings=Settings()),
    }
    for method, result in results.items():
        assert isinstance(result, METHODS[method].result)
        validate_result(method, dump(result))
        validate_message({"jsonrpc": "2.0", "id": 3, "result": dump(result)}, method)


def test_results_require_every_field_and_reject_bad_values():
    snapshot = dump(ConversationSnapshot(conversation=sample_conversation(), seq=1))
    missing = copy.deepcopy(snapshot)
    del missing["conversation"]["activeLeafId"]
    assert "activeLeafId" in assert_invalid(validate_result, "conversations.create", missing)
    snake = copy.deepcopy(snapshot)
    snake["conversation"]["active_leaf_id"] = snake["conversation"].pop("activeLeafId")
    assert_invalid(validate_result, "conversations.create", snake)
    wrong = copy.deepcopy(snapshot)
    wrong["conversation"]["titleSource"] = "robot"
    assert_invalid(validate_result, "conversations.create", wrong)


# --- events ---------------------------------------------------------------------------------


def test_samples_cover_every_event():
    assert set(sample_events()) == set(EVENTS)


@pytest.mark.parametrize("event_type", list(EVENTS))
def test_event_round_trip(event_type: str):
    event = sample_events()[event_type]
    params = dump(event)
    assert params["type"] == event_type and params["seq"] > 0 and params["ts"]
    validate_event(params)
    validate_message({"jsonrpc": "2.0", "method": event_type, "params": params})
    # and back: the models accept what the schema accepts
    assert event_adapter().validate_python(params) == event


@pytest.mark.parametrize("event_type", list(EVENTS))
def test_event_schema_requires_type_seq_ts(event_type: str):
    schema = load_schema(export.event_path(event_type))
    assert {"type", "seq", "ts"} <= set(schema["required"])
    assert schema["properties"]["type"]["const"] == event_type
    assert schema["properties"]["seq"]["type"] == "integer"
    assert (
        "default" not in schema["properties"]["seq"]
    )  # the 0 placeholder is not part of the contract


def test_events_union_is_discriminated_on_type():
    union = load_schema("events.json")
    assert union["discriminator"]["propertyName"] == "type"
    assert set(union["discriminator"]["mapping"]) == set(EVENTS)
    branches = [union["$defs"][ref["$ref"].removeprefix("#/$defs/")] for ref in union["oneOf"]]
    assert len(branches) == len(EVENTS)
    assert {b["properties"]["type"]["const"] for b in branches} == set(EVENTS)
    for branch in branches:
        assert {"type", "seq", "ts"} <= set(branch["required"])


def test_events_union_rejects_bad_payloads():
    deleted = dump(sample_events()["conversation.deleted"])
    validate_event(deleted)
    missing = {k: v for k, v in deleted.items() if k != "conversationId"}
    assert "conversationId" in assert_invalid(validate_event, missing)
    assert list(validator("events.json").iter_errors(missing)), "events.json alone must refuse it"

    created = dump(sample_events()["conversation.created"])
    assert list(validator("events.json").iter_errors({**created, "type": "conversation.deleted"}))
    assert_invalid(validate_event, {**created, "type": "conversation.deleted"})
    assert_invalid(validate_event, {**created, "type": "conversation.exploded"})
    assert list(validator("events.json").iter_errors({**created, "type": "conversation.exploded"}))
    no_seq = {k: v for k, v in created.items() if k != "seq"}
    assert "seq" in assert_invalid(validate_event, no_seq)
    assert_invalid(validate_event, {**created, "ts": None})
    assert_invalid(validate_event, ["not", "an", "object"])


# --- errors --------------------------------------------------------------------------------


def test_errors_schema_lists_every_reason():
    schema = load_schema("errors.json")
    reasons = set(schema["$defs"]["Reason"]["enum"])
    assert reasons == {r.value for r in Reason} | set(STANDARD_REASONS.values())
    for reason in Reason:
        validate_error({"code": reason.code, "message": "x", "data": {"reason": reason.value}})
    for code, name in STANDARD_REASONS.items():
        validate_error({"code": code, "message": "x", "data": {"reason": name}})
    validate_error(
        {
            "code": -32001,
            "message": "conversation not found",
            "data": {"reason": "NOT_FOUND", "kind": "conversation", "id": "c1"},
        }
    )


def test_errors_schema_rejects_bad_errors():
    assert_invalid(validate_error, {"code": -32001, "message": "x"})
    assert_invalid(validate_error, {"code": -32001, "message": "x", "data": {}})
    assert_invalid(validate_error, {"code": -32001, "message": "x", "data": {"reason": "NOPE"}})
    assert_invalid(
        validate_error, {"code": -32002, "message": "x", "data": {"reason": "NOT_FOUND"}}
    )
    assert_invalid(
        validate_error, {"code": -31999, "message": "x", "data": {"reason": "NOT_FOUND"}}
    )
    assert_invalid(validate_error, {"code": -32001, "data": {"reason": "NOT_FOUND"}})


# --- OpenRPC --------------------------------------------------------------------------------

METHOD_KEYS = {
    "name",
    "description",
    "summary",
    "tags",
    "paramStructure",
    "params",
    "result",
    "errors",
    "links",
    "examples",
    "deprecated",
}
DESCRIPTOR_KEYS = {"name", "description", "summary", "schema", "required", "deprecated"}


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_openrpc_lists_exactly_the_methods_and_events():
    doc = load_schema("openrpc.json")
    assert doc["openrpc"] == "1.3.2"
    assert doc["info"]["version"] == sidecar.__version__
    assert doc["info"]["x-protocolVersion"] == sidecar.PROTOCOL_VERSION
    assert doc["info"]["title"]
    assert [m["name"] for m in doc["methods"]] == list(METHODS)
    assert [n["name"] for n in doc["x-notifications"]] == list(EVENTS)


def test_openrpc_methods_are_well_formed():
    doc = load_schema("openrpc.json")
    for method in doc["methods"]:
        spec = METHODS[method["name"]]
        assert set(method) - METHOD_KEYS <= {k for k in method if k.startswith("x-")}
        assert {"name", "params", "result"} <= set(method)
        assert method["paramStructure"] == "by-name"
        assert method["summary"] == spec.summary

        params_schema = resolve(doc, method["x-paramsSchema"]["$ref"])
        assert params_schema["additionalProperties"] is False
        required = set(params_schema.get("required", []))
        assert {p["name"] for p in method["params"]} == set(params_schema["properties"])
        for param in method["params"]:
            assert set(param) <= DESCRIPTOR_KEYS
            assert param["required"] is (param["name"] in required)
        expected_fields = [f.alias or n for n, f in spec.params.model_fields.items()]
        assert [p["name"] for p in method["params"]] == expected_fields

        assert set(method["result"]) <= DESCRIPTOR_KEYS
        assert resolve(doc, method["result"]["schema"]["$ref"])["title"] == spec.result.__name__

        errors = [resolve(doc, e["$ref"]) for e in method["errors"]]
        reasons = [e["data"]["reason"] for e in errors]
        assert len(reasons) == len(set(reasons))
        expected = {r.value for r in spec.errors} | {STANDARD_REASONS[INVALID_PARAMS]}
        if spec.name != "initialize":
            expected.add(Reason.NOT_INITIALIZED.value)
        assert set(reasons) == expected, spec.name
        assert -32602 in {e["code"] for e in errors}


def test_openrpc_components_and_refs_resolve():
    doc = load_schema("openrpc.json")
    errors = doc["components"]["errors"]
    assert {e["code"]: e["data"]["reason"] for e in errors.values()} == {
        **{r.code: r.value for r in Reason},
        **STANDARD_REASONS,
    }
    for name, error in errors.items():
        assert set(error) == {"code", "message", "data"} and error["data"]["reason"] == name
    for path, node in walk(doc):
        ref = node.get("$ref")
        if isinstance(ref, str):
            assert ref.startswith("#/components/"), f"{path}: {ref}"
            resolve(doc, ref)
    for notification in doc["x-notifications"]:
        schema = resolve(doc, notification["x-paramsSchema"]["$ref"])
        assert schema["properties"]["type"]["const"] == notification["name"]
        assert [p["name"] for p in notification["params"]][:3] == ["type", "seq", "ts"]
        assert all(p["required"] for p in notification["params"][:3])


def test_openrpc_components_validate_samples():
    """The shared definitions in openrpc.json say the same as the per-file schemas."""
    doc = load_schema("openrpc.json")
    schemas = doc["components"]["schemas"]
    wrapper = {
        "$schema": DRAFT,
        "components": doc["components"],
        "$ref": "#/components/schemas/AnyEvent",
    }
    check = Draft202012Validator(wrapper)
    for event in sample_events().values():
        assert not list(check.iter_errors(dump(event)))
    assert list(check.iter_errors({"type": "conversation.deleted", "seq": 1, "ts": "t"}))
    assert "ConversationSnapshot" in schemas


# --- validate_message ------------------------------------------------------------------------


def test_validate_message_handles_batches_errors_and_mappings():
    conversation = sample_conversation()
    created = dump(ConversationSnapshot(conversation=conversation, seq=3))
    event = dump(sample_events()["conversation.created"])
    batch = [
        {"jsonrpc": "2.0", "id": 1, "result": created},
        {"jsonrpc": "2.0", "id": "b", "result": {}},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "error": {"code": -32001, "message": "nope", "data": {"reason": "NOT_FOUND"}},
        },
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32700, "message": "Parse error", "data": {"reason": "PARSE_ERROR"}},
        },
        {"jsonrpc": "2.0", "method": "conversation.created", "params": event},
    ]
    validate_message(batch, {1: "conversations.create", "b": "conversations.delete"})
    validate_message(
        {"jsonrpc": "2.0", "id": 9, "result": {"anything": True}}
    )  # method unknown: shape only

    assert_invalid(validate_message, [])
    assert_invalid(validate_message, {"jsonrpc": "1.0", "id": 1, "result": {}})
    assert_invalid(validate_message, {"jsonrpc": "2.0", "id": 1})
    assert_invalid(validate_message, {"jsonrpc": "2.0", "id": 1, "result": {}, "error": {}})
    assert_invalid(validate_message, {"jsonrpc": "2.0", "result": {}})
    validate_message({"jsonrpc": "2.0", "id": None, "result": {}})  # a request may use a null id
    validate_message(
        {
            "jsonrpc": "2.0",
            "id": 1e29,
            "error": {"code": -32601, "message": "m", "data": {"reason": "METHOD_NOT_FOUND"}},
        }
    )
    assert_invalid(validate_message, {"jsonrpc": "2.0", "id": [1], "result": {}})
    assert_invalid(
        validate_message, {"jsonrpc": "2.0", "id": 1, "result": {}}, {1: "conversations.create"}
    )
    assert_invalid(
        validate_message, {"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "?"}}
    )
    assert_invalid(
        validate_message, {"jsonrpc": "2.0", "method": "conversation.updated", "params": event}
    )
    assert_invalid(
        validate_message,
        {"jsonrpc": "2.0", "method": "conversation.created", "id": 5, "params": event},
    )
    assert_invalid(validate_message, {"jsonrpc": "2.0", "method": "conversation.created"})
