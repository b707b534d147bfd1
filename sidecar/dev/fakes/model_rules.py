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
