"""The params and result models of every method (each method is declared, with its
handler, summary and errors, in `sidecar.rpc`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue, model_validator

from sidecar.protocol.base import Params, Wire
from sidecar.protocol.objects import (
    Branch,
    BranchMessage,
    Conversation,
    ConversationSettings,
    ErrorInfo,
    Model,
    ModelInput,
    Provider,
    ProviderApi,
    ProviderKind,
    Settings,
    SystemPrompt,
    Tool,
    TreeNode,
    Usage,
)

# --- session -----------------------------------------------------------------


class ClientInfo(Params):
    name: str = Field(min_length=1, max_length=200)
    version: str | None = Field(default=None, max_length=100)


class InitializeParams(Params):
    protocol_version: int = Field(ge=0, le=1_000_000)
    client_info: ClientInfo | None = None


class ServerInfo(Wire):
    name: str
    version: str


class Capabilities(Wire):
    methods: list[str]
    events: list[str]
    replay_buffer_size: int = Field(
        description="How many past events `events.subscribe` can replay."
    )
    max_frame_bytes: int


class InitializeResult(Wire):
    protocol_version: int
    server_info: ServerInfo
    session_id: str = Field(description="New at every start: a change means the sidecar restarted.")
    last_seq: int
    capabilities: Capabilities


class SubscribeParams(Params):
    since: int | None = Field(
        default=None,
        ge=0,
        description="Replay every held event with seq > since first; omit for the live feed only.",
    )


class SubscribeResult(Wire):
    last_seq: int
    replayed: int


class Empty(Params):
    """No params, or an empty object."""


class EmptyResult(Wire):
    """`{}`."""


# --- conversations -----------------------------------------------------------

Id = Field(min_length=1, max_length=100)
ParentId = Field(
    default=None,
    max_length=100,
    description="The message the turn follows; default: the active leaf.",
)
ClientRequestId = Field(
    default=None,
    min_length=1,
    max_length=200,
    description="Makes the call idempotent: a repeat returns the first result and does nothing again.",
)


class ConversationsCreateParams(Params):
    title: str | None = Field(default=None, max_length=500)
    model_id: str | None = Field(default=None, max_length=200)
    system_prompt: str | None = Field(default=None, max_length=1_000_000)
    settings: ConversationSettings | None = None


class ConversationResult(Wire):
    conversation: Conversation


class ConversationSnapshot(Wire):
    conversation: Conversation
    seq: int = Field(description="The last event reflected in this snapshot.")


class ConversationsListParams(Params):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(
        default=None, max_length=500, description="`nextCursor` of the previous page."
    )
    query: str | None = Field(
        default=None,
        max_length=1000,
        description="Case-insensitive text in the title or any message.",
    )


class ConversationsListResult(Wire):
    items: list[Conversation] = Field(description="Most recently updated first.")
    next_cursor: str | None
    seq: int


class ConversationIdParams(Params):
    conversation_id: str = Id


class ConversationsGetResult(Wire):
    conversation: Conversation
    messages: list[BranchMessage] = Field(description="The active branch, root first.")
    seq: int


class ConversationsUpdateParams(Params):
    """Only the fields present change; `title: null` clears a title, `settings` merges field by field."""

    conversation_id: str = Id
    title: str | None = Field(default=None, max_length=500)
    model_id: str | None = Field(default=None, max_length=200)
    system_prompt: str | None = Field(default=None, max_length=1_000_000)
    settings: ConversationSettings | None = None


class ConversationsTreeResult(Wire):
    messages: list[TreeNode] = Field(description="Every message of the conversation, oldest first.")
    active_leaf_id: str | None
    seq: int


# --- branches ----------------------------------------------------------------


class BranchesSwitchParams(Params):
    """Exactly one of `messageId` (the branch through it, down its newest descendants)
    and `leafId` (the listed branch that ends there, exactly)."""

    conversation_id: str = Id
    message_id: str | None = Field(default=None, min_length=1, max_length=100)
    leaf_id: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_target(self) -> BranchesSwitchParams:
        if (self.message_id is None) == (self.leaf_id is None):
            raise ValueError("give exactly one of messageId and leafId")
        return self


class BranchesSwitchResult(Wire):
    active_leaf_id: str = Field(
        description="Where the active branch now ends: the leaf reached from `messageId` "
        "along its newest descendants, or `leafId` itself."
    )


class BranchesListResult(Wire):
    branches: list[Branch]


class BranchesRenameParams(Params):
    conversation_id: str = Id
    leaf_id: str = Id
    name: str | None = Field(max_length=200, description="Null removes the name.")


class BranchResult(Wire):
    branch: Branch


class BranchParams(Params):
    conversation_id: str = Id
    leaf_id: str = Id


class BranchesPathResult(Wire):
    messages: list[BranchMessage] = Field(
        description="The branch ending at `leafId`, root first, each with `siblingIds`; "
        "a reply still streaming shows its text so far."
    )
    seq: int = Field(description="The last event sequence number the messages include.")


class BranchesDeleteResult(Wire):
    deleted_message_ids: list[str] = Field(
        description="The messages only this branch had, its end first (each also announced "
        "with `message.deleted`); empty for a named branch ending inside the tree, whose "
        "messages other branches go on from."
    )
    active_leaf_id: str | None = Field(description="The conversation's active leaf now.")


class ServerModelInfo(Wire):
    name: str = Field(description="The name the server knows it by (what a request sends).")
    display_name: str | None = None
    context_window: int | None = Field(default=None, description="Tokens, where the server says.")
    size_bytes: int | None = Field(default=None, description="On disk, for a local server.")
    family: str | None = Field(
        default=None, description="The model family, where the server says (Ollama: `llama`)."
    )
    parameter_size: str | None = Field(
        default=None, description="Its parameter count as the server writes it (`8.0B`)."
    )
    quantization: str | None = Field(
        default=None, description="Its quantization, where the server says (`Q4_K_M`)."
    )
    model_id: str | None = Field(
        description="The sidecar model of this provider that sends this name, if there is one."
    )


class ProvidersModelsResult(Wire):
    models: list[ServerModelInfo] = Field(description="Empty when `error` says why.")
    error: ErrorInfo | None = Field(
        description="Why the server's list could not be read (down, slow, key refused, not "
        "the API it should be); null when it was."
    )


class ProvidersCheckResult(Wire):
    ok: bool = Field(description="The server answered, as the API it should be, taking the key.")
    reachable: bool = Field(description="Something answered at the base URL.")
    key_accepted: bool | None = Field(
        description="False when the server refused the key; null when it never said."
    )
    latency_ms: int | None = Field(description="How long the answer took; null: none came.")
    model_count: int | None = Field(description="Models the server listed.")
    server: str | None = Field(description="Its `server` header, when it sent one.")
    version: str | None = Field(description="Its version, where the API tells it.")
    error: ErrorInfo | None = Field(description="What went wrong; null when `ok`.")


# --- system prompts ----------------------------------------------------------


class SystemPromptsListResult(Wire):
    system_prompts: list[SystemPrompt]


class SystemPromptsCreateParams(Params):
    name: str = Field(min_length=1, max_length=200)
    content: str = Field(max_length=1_000_000)


class SystemPromptsUpdateParams(Params):
    id: str = Id
    name: str | None = Field(default=None, min_length=1, max_length=200)
    content: str | None = Field(default=None, max_length=1_000_000)


class SystemPromptIdParams(Params):
    id: str = Id


class SystemPromptResult(Wire):
    system_prompt: SystemPrompt


# --- settings ----------------------------------------------------------------


class SettingsResult(Wire):
    settings: Settings


# --- chat --------------------------------------------------------------------


class AttachmentInput(Params):
    """A file sent with a message: `text` for text and JSON (inlined into the prompt),
    base64 `data` for images (sent to models with the `vision` capability) and for audio
    with its `transcript` (kept with the message; the prompt has the message's text)."""

    name: str = Field(min_length=1, max_length=500)
    mime_type: str = Field(min_length=1, max_length=200)
    text: str | None = Field(default=None, max_length=4_000_000)
    data: str | None = Field(default=None, max_length=16_000_000, description="Base64 bytes.")
    transcript: str | None = Field(
        default=None,
        max_length=4_000_000,
        description="Audio only, and required for it: what the recording says "
        "(audio.transcribe's `text`), stored as the attachment's `transcript`.",
    )


class ChatSendParams(Params):
    conversation_id: str = Id
    content: str = Field(max_length=4_000_000)
    attachments: list[AttachmentInput] = Field(default_factory=list, max_length=20)
    tools: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Names of the tools (from tools.list) the model may call in this turn.",
    )
    parent_id: str | None = ParentId
    model_id: str | None = Field(
        default=None,
        max_length=200,
        description="A model id or alias (models.list). Default: the conversation's model, "
        "then settings.defaultModelId.",
    )
    client_request_id: str | None = ClientRequestId
    system_prompt: str | None = Field(
        default=None,
        max_length=1_000_000,
        description="This turn's system prompt, instead of the conversation's (which stays "
        "as it is); an empty string sends none.",
    )
    system_prompt_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="A saved prompt (systemPrompts.list) for this turn; not with systemPrompt.",
    )

    @model_validator(mode="after")
    def _one_prompt(self) -> ChatSendParams:
        if self.system_prompt is not None and self.system_prompt_id is not None:
            raise ValueError("give at most one of systemPrompt and systemPromptId")
        return self


class ChatSendResult(Wire):
    user_message_id: str
    assistant_message_id: str


class MessageIdParams(Params):
    message_id: str = Id


class ChatCancelResult(Wire):
    cancelled: bool = Field(description="False when the message had already finished.")


class ChatRegenerateParams(Params):
    message_id: str = Field(min_length=1, max_length=100, description="An assistant message.")
    model_id: str | None = Field(
        default=None,
        max_length=200,
        description="A model id or alias. Default: the conversation's model, then the message's.",
    )
    tools: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Tools the model may call, as in chat.send.",
    )


class ChatRegenerateResult(Wire):
    assistant_message_id: str = Field(
        description="A new sibling of the message, now the active leaf."
    )


class ChatEditParams(Params):
    message_id: str = Field(min_length=1, max_length=100, description="A user message.")
    content: str = Field(max_length=4_000_000)
    model_id: str | None = Field(default=None, max_length=200)
    tools: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Tools the model may call, as in chat.send.",
    )


class RecordedReply(Params):
    """The reply of a turn that ran outside the sidecar, as it ended."""

    content: str = Field(
        max_length=4_000_000, description="The text, partial if it did not complete."
    )
    thinking: str | None = Field(default=None, max_length=4_000_000)
    model_id: str = Field(
        min_length=1,
        max_length=200,
        description="A model the sidecar knows: an id or an alias (models.list); stored as "
        "its model's id.",
    )
    status: Literal["complete", "cancelled", "failed"]
    usage: Usage | None = Field(
        default=None,
        description="Recorded as a chat usage record; costUsd, when absent, from the model's prices.",
    )
    error: ErrorInfo | None = Field(default=None, description="Why it failed (status failed).")
    finish_reason: str | None = Field(
        default=None,
        max_length=100,
        description="Why a complete reply ended, as on Message (`length`: cut at a limit).",
    )


class ChatRecordParams(Params):
    """A finished turn of the app's own provider code (a provider routed to "frontend")."""

    conversation_id: str = Id
    content: str | None = Field(
        default=None,
        max_length=4_000_000,
        description="The user's message. Omitted: the reply answers parentId, a user "
        "message, again (a regenerate); with parentId the parent of an earlier user "
        "message, the turn is an edit.",
    )
    reply: RecordedReply
    parent_id: str | None = ParentId
    client_request_id: str | None = ClientRequestId


# --- attachments ---------------------------------------------------------------


class AttachmentsGetParams(Params):
    attachment_id: str = Id


class AttachmentsGetResult(Wire):
    """A stored attachment with its bytes, from any message of any conversation or branch."""

    attachment_id: str
    name: str
    mime_type: str
    size: int = Field(description="The number of bytes in `data`.")
    data: str = Field(
        description="Base64 of the bytes; for a text attachment, of its text in UTF-8."
    )


# --- tools -------------------------------------------------------------------


class ToolsListResult(Wire):
    tools: list[Tool]


class ToolsRegisterParams(Params):
    """A tool this connection runs itself (gone when the connection closes)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    description: str = Field(max_length=4000)
    input_schema: dict[str, JsonValue]
    requires_approval: bool = False


class ToolResult(Wire):
    tool: Tool


class ToolNameParams(Params):
    name: str = Field(min_length=1, max_length=64)


class ToolsSubmitResultParams(Params):
    call_id: str = Field(min_length=1, max_length=200)
    result: JsonValue = None
    error: str | None = Field(
        default=None, max_length=100_000, description="Set when the tool failed."
    )


class ToolsApproveParams(Params):
    call_id: str = Field(min_length=1, max_length=200)
    approved: bool


# --- providers and models ----------------------------------------------------


class ProvidersListResult(Wire):
    providers: list[Provider]


class ProvidersConfigureParams(Params):
    """Add a custom backend (a new `id`, `kind` required) or change a provider; only fields present change."""

    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kind: ProviderKind | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    base_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://\S+$",
        description="Required for a new backend, except of kind `ollama` (its default: "
        "http://127.0.0.1:11434, the server's root without `/api`).",
    )
    api_key: str | None = Field(
        default=None, max_length=10_000, description="Null removes the stored key."
    )
    headers: dict[str, str] | None = Field(
        default=None, description="Extra headers sent upstream; replaces the previous set."
    )
    enabled: bool | None = None
    connect_timeout_seconds: float | None = Field(default=None, gt=0, le=600)
    idle_timeout_seconds: float | None = Field(default=None, gt=0, le=3600)
    total_timeout_seconds: float | None = Field(default=None, gt=0, le=86_400)
    max_retries: int | None = Field(default=None, ge=0, le=10)
    api: ProviderApi | None = Field(
        default=None,
        description="The wire API: `responses` (openai and openai-compatible kinds only) or "
        "`chat`. Null: the kind's default (`responses` for openai, `chat` for the others).",
    )


class ProviderResult(Wire):
    provider: Provider


class ProviderIdParams(Params):
    id: str = Field(min_length=1, max_length=100)


class ModelsListParams(Params):
    provider: str | None = Field(default=None, max_length=100)


class ModelsListResult(Wire):
    models: list[Model]


class ModelsUpsertParams(Params):
    model: ModelInput


class ModelResult(Wire):
    model: Model


class ModelIdParams(Params):
    model_id: str = Field(min_length=1, max_length=200)
