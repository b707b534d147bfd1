"""What the fake providers' models accept, so a fake refuses what the real model refuses.

Keyed by the model name the request sends, as the real APIs are. Written from the
providers' documentation and reported errors (late 2026), never from the sidecar's
catalog: an adapter and its fake must not agree by construction. Each check returns the
API's error message, or None when the model takes the request. Wording marked
"unconfirmed" was not found verbatim in a public source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --- Anthropic -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaudeRules:
    thinking: frozenset[str]  # thinking.type values taken
    efforts: tuple[str, ...]  # output_config.effort values taken
    sampling: bool  # temperature / top_p / top_k taken at all


_ADAPTIVE_ONLY = ClaudeRules(
    frozenset({"adaptive"}), ("low", "medium", "high", "xhigh", "max"), sampling=False
)
_CLAUDE: tuple[tuple[str, ClaudeRules], ...] = (
    ("claude-opus-4-7", _ADAPTIVE_ONLY),
    ("claude-opus-4-8", _ADAPTIVE_ONLY),
    ("claude-fable-5", _ADAPTIVE_ONLY),
    ("claude-mythos", _ADAPTIVE_ONLY),
    ("claude-opus-5", _ADAPTIVE_ONLY),
    ("claude-sonnet-5", _ADAPTIVE_ONLY),
    ("claude-haiku-5", _ADAPTIVE_ONLY),  # effort levels of the 5.5 models: unconfirmed
    (
        "claude-opus-4-6",
        ClaudeRules(
            frozenset({"enabled", "adaptive", "disabled"}), ("low", "medium", "high", "max"), True
        ),
    ),
    (
        "claude-sonnet-4-6",
        ClaudeRules(
            frozenset({"enabled", "adaptive", "disabled"}), ("low", "medium", "high"), True
        ),
    ),
)
_CLAUDE_OLDER = ClaudeRules(frozenset({"enabled", "disabled"}), (), sampling=True)
MIN_BUDGET = 1024


def claude_rules(model: str) -> ClaudeRules:
    return next((rules for prefix, rules in _CLAUDE if model.startswith(prefix)), _CLAUDE_OLDER)


def refuse_claude(body: dict[str, Any]) -> str | None:
    rules = claude_rules(str(body.get("model") or ""))
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind is not None and kind not in rules.thinking:
        if rules.thinking == {"adaptive"}:
            return (
                f'"thinking.type.{kind}" is not supported for this model. Use '
                '"thinking.type.adaptive" and "output_config.effort" to control thinking '
                "behavior."
            )
        return f'"thinking.type.{kind}" is not supported for this model.'  # unconfirmed
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < MIN_BUDGET:
            return f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET}"
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] <= budget:
            return "`max_tokens` must be greater than `thinking.budget_tokens`."
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and effort not in rules.efforts:
        if not rules.efforts:
            return "output_config.effort: effort is not supported for this model"  # unconfirmed
        allowed = ", ".join(f"'{e}'" for e in rules.efforts)
        return f"output_config.effort: Input should be one of {allowed}"  # unconfirmed
    for name in ("temperature", "top_p", "top_k"):
        if name in body and not rules.sampling:
            return f"`{name}` is not supported for this model."  # unconfirmed
    if kind in ("enabled", "adaptive"):
        if "temperature" in body and body["temperature"] != 1:
            return (
                "`temperature` may only be set to 1 when thinking is enabled or in "
                "interleaved thinking mode."
            )
        if "top_p" in body and body["top_p"] < 0.95:
            return (
                "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled."
            )
        if "top_k" in body:
            return "`top_k` must be unset when thinking is enabled."
    return None


# --- OpenAI ----------------------------------------------------------------------------

# Reasoning models and the effort values each takes (chat `reasoning_effort`, Responses
# `reasoning.effort`); they refuse sampling parameters.
_UP_TO_MAX = ("low", "medium", "high", "xhigh", "max")
_OPENAI_REASONING: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gpt-6.2-", _UP_TO_MAX),  # the Astra and Sol tiers always reason
    ("gpt-6.1-sol", _UP_TO_MAX),
    ("gpt-6-astra", _UP_TO_MAX),
    ("gpt-6", ("none", *_UP_TO_MAX)),  # gpt-6-sol's levels: unconfirmed
    ("gpt-5.6", ("none", *_UP_TO_MAX)),
    ("gpt-5.1", ("none", "low", "medium", "high")),
    ("gpt-5.", ("none", "low", "medium", "high", "xhigh")),
    ("gpt-5", ("minimal", "low", "medium", "high")),
    ("o1-mini", ()),
    ("o", ("low", "medium", "high")),
)


def openai_efforts(model: str) -> tuple[str, ...] | None:
    """The effort values of a reasoning model; None for a model that does not reason."""
    if model.startswith("gpt-5") and "chat" in model:
        return None  # gpt-5-chat-latest and the like: the chat models, no reasoning
    for prefix, efforts in _OPENAI_REASONING:
        if model.startswith(prefix) and (prefix != "o" or model[1:2].isdigit()):
            return efforts
    return None


def refuse_openai(body: dict[str, Any], effort: Any, effort_param: str) -> str | None:
    """Chat completions (`reasoning_effort`) and Responses (`reasoning.effort`) alike."""
    efforts = openai_efforts(str(body.get("model") or ""))
    if efforts is None:
        if effort is not None:
            return f"Unsupported parameter: '{effort_param}' is not supported with this model."
        return None
    if effort is not None and effort not in efforts:
        allowed = ", ".join(f"'{e}'" for e in efforts)
        return (
            f"Unsupported value: '{effort_param}' does not support '{effort}' with this model. "
            f"Supported values are: {allowed}."
        )
    for name in ("temperature", "top_p"):
        if name in body and body[name] != 1:
            return (
                f"Unsupported value: '{name}' does not support {body[name]} with this model. "
                "Only the default (1) value is supported."
            )
    return None


# --- DeepSeek ---------------------------------------------------------------------------

DEEPSEEK_EFFORTS = ("minimal", "low", "medium", "high", "xhigh", "max")  # mapped server-side
REASONING_NOT_PASSED_BACK = (
    "The reasoning_content in the thinking mode must be passed back to the API."
)


def deepseek_thinks(body: dict[str, Any]) -> bool:
    """V4 and V4.1 models think unless told not to; the legacy deepseek-reasoner always does."""
    model = str(body.get("model") or "")
    thinking = body.get("thinking")
    switch = thinking.get("type") if isinstance(thinking, dict) else None
    if model.startswith(("deepseek-v4", "deepseek-flash")):  # V4 and V4.1
        return switch != "disabled"
    return model == "deepseek-reasoner" or switch == "enabled"


def refuse_deepseek(body: dict[str, Any]) -> str | None:
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in DEEPSEEK_EFFORTS:
        return f"Invalid reasoning_effort: {effort}"  # unconfirmed
    if not deepseek_thinks(body):
        return None
    for message in body.get("messages") or ():
        if (
            isinstance(message, dict)
            and message.get("role") == "assistant"
            and message.get("tool_calls")
            and "reasoning_content" not in message
        ):
            return REASONING_NOT_PASSED_BACK
    return None


# --- Ollama -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OllamaModel:
    """A model a fake Ollama has pulled: what /api/tags, /api/show and /api/ps tell of it."""

    name: str  # with its tag
    size: int  # bytes on disk
    family: str  # details.family, and the architecture that keys model_info
    parameter_size: str
    quantization_level: str
    context_length: int
    capabilities: tuple[str, ...]  # /api/show: completion, tools, thinking, vision
    think_levels: bool = False  # takes `think: "low" | "medium" | "high"` (gpt-oss)


OLLAMA_MODELS: tuple[OllamaModel, ...] = (
    OllamaModel(
        "llama3.2:latest", 2019393189, "llama", "3.2B", "Q4_K_M", 131072, ("completion", "tools")
    ),
    OllamaModel(
        "qwen3:8b",
        5225388164,
        "qwen3",
        "8.2B",
        "Q4_K_M",
        40960,
        ("completion", "tools", "thinking"),
    ),
    OllamaModel(
        "gpt-oss:20b",
        13780173734,
        "gptoss",
        "20.9B",
        "MXFP4",
        131072,
        ("completion", "tools", "thinking"),
        think_levels=True,
    ),
    OllamaModel("llava:7b", 4733363377, "llama", "7B", "Q4_0", 32768, ("completion", "vision")),
)
OLLAMA_ROLES = ("system", "user", "assistant", "tool")
OLLAMA_THINK_LEVELS = ("high", "medium", "low")


def ollama_model(name: Any) -> OllamaModel | None:
    """The pulled model `name` names; a name without a tag means `:latest`, as in Ollama."""
    if not isinstance(name, str) or not name:
        return None
    full = name if ":" in name else f"{name}:latest"
    return next((m for m in OLLAMA_MODELS if m.name == full), None)


def refuse_ollama(body: dict[str, Any]) -> tuple[int, str] | None:
    """(status, the `error` text) of what Ollama refuses in a /api/chat body. Go's JSON
    decoder words the type errors; the rest is the server's own wording."""
    name = body.get("model")
    if not isinstance(name, str) or not name:
        return 400, "model is required"
    model = ollama_model(name)
    if model is None:
        return 404, f'model "{name}" not found, try pulling it first'
    messages = body.get("messages", [])
    if not isinstance(messages, list):
        return 400, _go_type("messages", messages, "[]api.Message")
    for message in messages:
        problem = _refuse_message(message)
        if problem is not None:
            return 400, problem
    think = body.get("think")
    if think is not None:
        if not isinstance(think, bool) and think not in OLLAMA_THINK_LEVELS:
            return 400, (  # unconfirmed wording
                f'invalid think value: "{think}" (must be "high", "medium", "low", true, or false)'
            )
        if think is not False and "thinking" not in model.capabilities:
            return 400, f'"{model.name}" does not support thinking'
    if body.get("tools") and "tools" not in model.capabilities:
        return 400, f"registry.ollama.ai/library/{model.name} does not support tools"
    options = body.get("options", {})
    if not isinstance(options, dict):
        return 400, _go_type("options", options, "map[string]interface {}")
    for key in ("num_ctx", "num_predict"):
        if key in options and type(options[key]) is not int:
            return 400, f'option "{key}" must be of type integer'
    return None


def _refuse_message(message: Any) -> str | None:
    if not isinstance(message, dict):
        return _go_type("messages", message, "api.Message")
    role = message.get("role")
    if not isinstance(role, str):
        return _go_type("messages.role", role, "string")
    if role not in OLLAMA_ROLES:  # unconfirmed: Ollama's templates decide; the fake is strict
        return f"invalid role: {role}"
    content = message.get("content", "")
    if not isinstance(content, str):
        return _go_type("messages.content", content, "string")
    images = message.get("images") or []
    if not isinstance(images, list) or not all(isinstance(i, str) and i for i in images):
        return "illegal base64 data at input byte 0"
    for call in message.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        args = fn.get("arguments", {}) if isinstance(fn, dict) else None
        if not isinstance(args, dict):
            return _go_type(
                "messages.tool_calls.function.arguments", args, "api.ToolCallFunctionArguments"
            )
    return None


def _go_type(field: str, value: Any, go_type: str) -> str:
    """encoding/json's UnmarshalTypeError text."""
    kinds = {str: "string", bool: "bool", int: "number", float: "number", list: "array"}
    kind = kinds.get(type(value), "object")
    return (
        f"json: cannot unmarshal {kind} into Go struct field ChatRequest.{field} of type {go_type}"
    )
