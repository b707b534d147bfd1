"""The objects the contract fixes: conversations, messages, usage, settings, branches."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue

from sidecar.protocol.base import Params, Wire

Role = Literal["user", "assistant"]
UsageKind = Literal["chat", "title", "transcription"]
MessageStatus = Literal["pending", "streaming", "complete", "cancelled", "failed", "interrupted"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"complete", "cancelled", "failed", "interrupted"})
Route = Literal["sidecar", "frontend"]
Effort = Literal["low", "medium", "high", "max", "auto"]

DEFAULT_SYSTEM_PROMPT = "You are a helpful AI assistant."


class ConversationSettings(Params):
    """Per-conversation generation settings; unset fields fall back to the model's defaults."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_output_tokens: int | None = Field(default=None, gt=0)
    context_window: int | None = Field(
        default=None,
        gt=0,
        le=10_000_000,
        description="The context window to fit the prompt into, in tokens, when smaller or "
        "larger than the model's (a local model run with more or less memory); Ollama is "
        "asked to size its context to it (`options.num_ctx`). Unset: the model's.",
    )
    system_prompt_id: str | None = Field(
        default=None, description="A saved system prompt used when `systemPrompt` is null."
    )
    prompt_caching: bool = Field(
        default=True,
        description="Ask the provider to cache the prompt's stable prefix (Anthropic "
        "`cache_control` breakpoints; providers that cache automatically ignore it).",
    )
    effort: Effort = Field(
        default="auto",
        description="How hard a reasoning model thinks. Each adapter maps it onto what the "
        "model's profile accepts: the nearest level the model takes (never a lower one, "
        "`max` its highest), a thinking budget for budget-style models; `auto` sends none "
        "(the model's default; budget-style models then do not think). Ignored by models "
        "that do not reason.",
    )


class Conversation(Wire):
    id: str
    title: str | None = Field(description="Null until the user sets one or one is generated.")
    title_source: Literal["user", "generated"] | None
    model_id: str | None
    system_prompt: str | None
    settings: ConversationSettings
    active_leaf_id: str | None = Field(description="The last message of the branch shown and sent.")
    created_at: str
    updated_at: str


class Usage(Wire):
    """Token counts of one provider call (inputTokens includes cached ones; outputTokens includes reasoning)."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None


class ErrorInfo(Wire):
    """Why a stream failed, safe to show: never a key or an auth header."""

    code: str
    message: str
    retryable: bool
    http_status: int | None = None


class ToolCall(Wire):
    id: str = Field(
        description="The sidecar's own id for the call (unique, sortable): the `callId` of "
        "every event and method."
    )
    provider_call_id: str | None = Field(
        default=None,
        description="The provider's id for the call, sent back upstream only. Not unique: "
        "many servers number calls call_0, call_1 in every response.",
    )
    name: str
    arguments: dict[str, JsonValue]
    status: Literal["proposed", "running", "completed", "failed", "denied"]
    result: JsonValue = None
    error: str | None = None
    step: int = Field(
        default=0, description="The tool-loop step (provider call) that made this call."
    )
    executor: Literal["sidecar", "client", "mcp"] | None = None


class OrderedBlock(Wire):
    """One content block of a provider call, in the order the response had it."""

    type: Literal["thinking", "redacted_thinking", "text", "tool_use"]
    start: int | None = Field(
        default=None, ge=0, description="thinking, text: where it starts in the step's text."
    )
    end: int | None = Field(default=None, ge=0, description="thinking, text: where it ends.")
    signature: str | None = Field(default=None, description="thinking: its signature.")
    data: str | None = Field(default=None, description="redacted_thinking: its opaque data.")
    index: int | None = Field(
        default=None, ge=0, description="tool_use: which of the step's tool calls."
    )


class Step(Wire):
    """Where one provider call of a tool loop ended, so the loop replays upstream exactly.

    The message's `content` and `thinking` are the steps' texts joined; a step's
    text is the slice up to its end offset.
    """

    content_end: int
    thinking_end: int
    thinking_signature: str | None = None
    redacted_thinking: list[str] = Field(
        default_factory=list,
        description="Anthropic's encrypted thinking blocks of this step: opaque, never shown, "
        "sent back unchanged.",
    )
    reasoning_items: list[dict[str, JsonValue]] = Field(
        default_factory=list,
        description="OpenAI Responses reasoning items of this step (id, summary, encrypted "
        "content): opaque, never shown, sent back unchanged to the same model.",
    )
    content_order: list[OrderedBlock] = Field(
        default_factory=list,
        description="Anthropic: the step's blocks in the order the response had them, when "
        "that is not one thinking block, the redacted ones, text, then tool calls (as with "
        "interleaved thinking); each thinking block keeps its own signature. Empty otherwise.",
    )


class Tool(Wire):
    name: str
    description: str
    input_schema: dict[str, JsonValue]
    executor: Literal["sidecar", "client", "mcp"]
    requires_approval: bool
    server_id: str | None = Field(
        default=None, description="The MCP server that runs it (executor `mcp`)."
    )


class Attachment(Wire):
    id: str
    name: str
    mime_type: str
    size: int
    text: str | None = Field(default=None, description="Inline text for text and JSON attachments.")
    transcript: str | None = Field(
        default=None, description="What an audio attachment says, as it was transcribed."
    )


class Message(Wire):
    id: str
    conversation_id: str
    parent_id: str | None
    role: Role
    content: str
    status: MessageStatus
    model_id: str | None = None
    provider: str | None = None
    thinking: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    steps: list[Step] = Field(
        default_factory=list,
        description="Tool-loop steps that called tools, then the last provider call when it "
        "left reasoning the provider needs back (a signature, redacted blocks, reasoning "
        "items); empty for a plain reply.",
    )
    attachments: list[Attachment] = Field(default_factory=list)
    usage: Usage | None = None
    error: ErrorInfo | None = None
    created_at: str
    updated_at: str
    finish_reason: str | None = Field(
        default=None,
        description="Why a completed reply ended: `stop`; `length` when it was cut at the "
        "output limit or the context window (the reply is incomplete: show it); "
        "`tool_calls`, `max_tool_steps`, `content_filter`, `refusal`, or the provider's own "
        "word. Null for user messages and replies that did not complete.",
    )


class BranchMessage(Message):
    """A message on a listed branch, with its siblings (itself included) for "2 / 3" arrows."""

    sibling_ids: list[str]


class TreeNode(Wire):
    id: str
    parent_id: str | None
    role: Role
    status: MessageStatus
    preview: str = Field(description="The first characters of the content, on one line.")
    created_at: str


class Branch(Wire):
    leaf_id: str = Field(
        description="Where the branch ends: a leaf of the tree, or (`endsAtLeaf` false) a "
        "named message that other branches go on past."
    )
    name: str | None
    ends_at_leaf: bool = Field(
        default=True,
        description="False for a named branch that ends inside the tree (the old app's "
        "branches: a path up to a message that later messages follow on Main). Sending on "
        "it forks there, and the name moves to the new message.",
    )
    fork_message_id: str = Field(
        description="The first message of this branch that older branches do not share "
        "(the root message for the main branch; the end itself for a branch that ends "
        "inside the tree)."
    )
    message_count: int
    updated_at: str
    active: bool


class SystemPrompt(Wire):
    id: str
    name: str
    content: str
    created_at: str
    updated_at: str


class Settings(Wire):
    provider_routes: dict[str, Route] = Field(
        default_factory=dict,
        description="Provider id -> who runs its chats: the sidecar or the app's legacy path.",
    )
    default_model_id: str | None = None
    title_model_id: str | None = Field(
        default=None, description="Null: the cheapest enabled model."
    )
    last_model_id: str | None = None
    default_system_prompt: str = DEFAULT_SYSTEM_PROMPT
    preferences: dict[str, JsonValue] = Field(
        default_factory=dict, description="Free key/value preferences of the app."
    )
    tool_folders: list[str] = Field(
        default_factory=list, description="Folders the read_file tool may read from."
    )


class SettingsPatch(Params):
    """A partial settings update. In the two maps, a null value removes the key."""

    provider_routes: dict[str, Route | None] | None = None
    default_model_id: str | None = None
    title_model_id: str | None = None
    last_model_id: str | None = None
    default_system_prompt: str | None = None
    preferences: dict[str, JsonValue] | None = None
    tool_folders: list[str] | None = None


def dump(model: Wire) -> dict[str, Any]:
    """The JSON-ready camelCase dict of a model."""
    return model.model_dump(mode="json")


class UsageRecord(Usage):
    """One provider call's usage, as recorded (one per call: chat steps and titles alike)."""

    id: str
    conversation_id: str | None
    message_id: str | None
    model_id: str
    provider: str
    kind: UsageKind = Field(
        description="chat: a reply's provider call; title: a generated title; "
        "transcription: an audio.transcribe call."
    )
    created_at: str


ProviderKind = Literal["openai", "anthropic", "deepseek", "openai-compatible", "ollama"]
ProviderApi = Literal["responses", "chat"]


class Provider(Wire):
    """A provider as clients see it: never the key, never header values (they may hold secrets)."""

    id: str
    kind: ProviderKind
    name: str
    base_url: str
    has_key: bool
    key_source: Literal["stored", "environment"] | None = Field(
        description="Where the key comes from: set through providers.configure, or the usual environment variable."
    )
    header_names: list[str]
    enabled: bool
    connect_timeout_seconds: float
    idle_timeout_seconds: float = Field(
        description="The longest wait for reply content (text, thinking, a tool call); "
        "keep-alive comments and empty events do not count."
    )
    total_timeout_seconds: float = Field(
        description="The longest one provider call may take, retries included."
    )
    max_retries: int
    api: ProviderApi = Field(
        description="The wire API: `responses` (OpenAI's Responses API, POST /responses) or "
        "`chat` (chat completions; Anthropic's Messages API for the anthropic kind, Ollama's "
        "native /api/chat for the ollama kind). Default: "
        "`responses` for the openai kind, `chat` for the others."
    )
    builtin: bool = Field(
        description="openai, anthropic and deepseek always exist; others are custom backends."
    )


class ModelCapabilities(Wire):
    tools: bool = False
    vision: bool = False
    reasoning: bool = False
    audio: bool = Field(default=False, description="Takes audio input in a chat.")


ThinkingStyle = Literal[
    "none", "always", "budget", "adaptive", "adaptive-only", "summaries", "effort"
]
SamplingParam = Literal["temperature", "top_p"]
EffortLevel = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[a-z]+$")]


class ModelProfile(Wire):
    """What a model's API accepts. The adapters decide every request field from it, never
    from the model's name, so a new release is a catalog entry (or a models.upsert)."""

    api: ProviderApi | None = Field(
        default=None,
        description="The API the model needs (`responses`: served only there); null: the "
        "provider's `api` setting decides. Anthropic models always use the Messages API.",
    )
    thinking: ThinkingStyle = Field(
        default="none",
        description="none: does not reason. always: reasons, with no control. budget: "
        "Anthropic manual thinking (`budget_tokens`), off unless an effort is set. adaptive: "
        "Anthropic adaptive thinking with `output_config.effort` (budgets deprecated). "
        "adaptive-only: adaptive thinking only, thinking text asked for as summaries. "
        "summaries: OpenAI reasoning (effort; summaries and encrypted reasoning on the "
        "Responses API). effort: DeepSeek V4 (thinks by default, `reasoning_effort`).",
    )
    efforts: list[EffortLevel] = Field(
        default_factory=list,
        max_length=10,
        description="The effort values the model takes, as sent upstream, lowest first.",
    )
    sampling: list[SamplingParam] = Field(
        default_factory=lambda: ["temperature", "top_p"],
        description="Sampling parameters the model accepts (none: the API refuses them). "
        "Adapters also leave them out while the model thinks, where the API ignores or "
        "refuses them then.",
    )


class Pricing(Wire):
    """USD per million tokens; a missing cache price falls back to the input price."""

    input: float | None = Field(default=None, ge=0)
    output: float | None = Field(default=None, ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    audio_input: float | None = Field(
        default=None,
        ge=0,
        description="Transcription models billed by token: USD per million audio input "
        "tokens (`input` prices the text tokens of the prompt; null: the input price).",
    )
    per_minute: float | None = Field(
        default=None,
        ge=0,
        description="Transcription models billed by audio duration: USD per minute of "
        "audio (whisper-1); used when set, instead of the token prices.",
    )


ModelAlias = Annotated[str, Field(min_length=1, max_length=200)]
ModelKind = Literal["chat", "transcription"]
TranscriptFormat = Literal["json", "verbose_json"]


class Model(Wire):
    id: str = Field(description="The canonical id: what messages and usage records store.")
    provider: str
    provider_model: str = Field(description="The model name sent upstream.")
    display_name: str
    aliases: list[str] = Field(
        default_factory=list,
        description="Other ids that name this model wherever a model id is taken (the old "
        "app's ids such as gpt-4-1, dated snapshots such as claude-sonnet-4-5-20250929); "
        "never the id of another model, and each listed on one model only.",
    )
    alias_notes: dict[str, str] = Field(
        default_factory=dict,
        description="Why an alias names this model, where that needs saying: a retired "
        "model's id that this one answers for now.",
    )
    enabled: bool = True
    context_window: int | None = None
    max_output_tokens: int | None = None
    capabilities: ModelCapabilities = Field(default_factory=ModelCapabilities)
    pricing: Pricing | None = None
    send_reasoning_back: bool = Field(
        default=False,
        description="Send a reply's reasoning back upstream on later turns (DeepSeek's newer "
        "thinking modes require it on tool-call turns; its legacy reasoner refuses it).",
    )
    profile: ModelProfile = Field(default_factory=ModelProfile)
    prices_taken_on: str | None = Field(
        default=None, description="The day (YYYY-MM-DD) the prices were checked; null: unknown."
    )
    price_source: str | None = Field(
        default=None, description="Where the prices come from, and what could not be confirmed."
    )
    source: Literal["builtin", "user"] = Field(
        default="user",
        description="builtin: from the sidecar's catalog; user: added or overridden by models.upsert.",
    )
    kind: ModelKind = Field(
        default="chat",
        description="chat: takes chat.send; transcription: a speech-to-text model, which "
        "only audio.transcribe takes (chat refuses it).",
    )
    transcript_format: TranscriptFormat | None = Field(
        default=None,
        description="A transcription model's `response_format` upstream: verbose_json (the "
        "duration comes back: whisper-1) or json (gpt-4o-*-transcribe take only json or "
        "text); null for chat models (json for a transcription model).",
    )


class ModelInput(Params):
    """A model to add or change; `providerModel` and `displayName` default to `id`."""

    id: str = Field(min_length=1, max_length=200)
    provider: str = Field(min_length=1, max_length=100)
    provider_model: str | None = Field(default=None, min_length=1, max_length=200)
    display_name: str | None = Field(default=None, max_length=200)
    aliases: list[ModelAlias] = Field(
        default_factory=list,
        max_length=50,
        description="Other ids for this model. Not another model's id; a built-in model's "
        "alias may be taken (the user's alias wins); another user model's may not (CONFLICT).",
    )
    alias_notes: dict[ModelAlias, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict,
        max_length=50,
        description="A note per alias (as models.list shows them); notes for ids not in "
        "`aliases` are dropped.",
    )
    enabled: bool = True
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    capabilities: ModelCapabilitiesInput | None = None
    pricing: PricingInput | None = None
    send_reasoning_back: bool = False
    profile: ModelProfileInput | None = Field(
        default=None,
        description="What the model's API accepts; left out: a model that does not reason "
        "(`thinking: always` when capabilities.reasoning is true), sampling accepted.",
    )
    prices_taken_on: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD."
    )
    price_source: str | None = Field(default=None, max_length=2000)
    kind: ModelKind = Field(
        default="chat",
        description="transcription: a speech-to-text model of the provider's server (its "
        "POST /audio/transcriptions), for audio.transcribe only.",
    )
    transcript_format: TranscriptFormat | None = Field(
        default=None,
        description="transcription models: the `response_format` to ask for (default json; "
        "verbose_json where the server gives the duration with it).",
    )


class ModelCapabilitiesInput(ModelCapabilities, Params):
    """Capabilities as given to models.upsert (strict, no unknown fields)."""


class ModelProfileInput(ModelProfile, Params):
    """A profile as given to models.upsert (strict, no unknown fields)."""


class PricingInput(Pricing, Params):
    """Prices as given to models.upsert (strict, no unknown fields)."""


ModelInput.model_rebuild()
