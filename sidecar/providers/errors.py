"""Turning whatever went wrong upstream into a ProviderError that is safe to show.

One mapping for every adapter: the OpenAI and Anthropic error bodies share a shape
(`{"error": {"type", "message", "code"}}`), and the OpenAI-compatible backends use
variations of it (`{"error": "text"}`, `{"object": "error", "message": ...}`, `{"detail": ...}`).
Messages are scrubbed because providers like to quote the credential they rejected
("Incorrect API key provided: sk-proj-..."): first of every secret the sidecar holds, by
value (`sidecar.logs`: API keys, custom header values, the token), then of anything
key-shaped, a second net for secrets the sidecar never held.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from sidecar import logs

from .retry import parse_retry_after
from .types import ProviderError

MAX_ERROR_BODY = 64 * 1024  # bytes read from an error response
MAX_MESSAGE = 2000  # characters kept of a provider's error message

REDACTED = logs.REDACTED
_SECRET_PATTERNS = re.compile(
    r"sk-[A-Za-z0-9_*\-]{4,}"  # OpenAI (sk-proj-…), Anthropic (sk-ant-…), DeepSeek, OpenRouter (sk-or-…)
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}"  # an Authorization header value quoted back
    r"|AIza[0-9A-Za-z_\-]{20,}"  # Google API keys
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"  # JWTs
    r"|(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{40,}(?![A-Za-z0-9_\-])"  # any long token-shaped run
)

# Status -> code. Retryability follows the code (see RETRYABLE_CODES), which matches the
# official SDKs' rule: 408, 409, 429 and >= 500 are retried.
_STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "auth",
    402: "payment_required",
    403: "permission",
    404: "not_found",
    408: "timeout",
    409: "conflict",
    413: "bad_request",
    422: "bad_request",
    429: "rate_limited",
    529: "overloaded",
}

# Error `type` (or string `code`) -> code, for errors that arrive inside a 200 stream.
_TYPE_CODES: dict[str, str] = {
    # Anthropic
    "invalid_request_error": "bad_request",
    "authentication_error": "auth",
    "permission_error": "permission",
    "billing_error": "payment_required",
    "not_found_error": "not_found",
    "request_too_large": "bad_request",
    "rate_limit_error": "rate_limited",
    "api_error": "server_error",
    "overloaded_error": "overloaded",
    "timeout_error": "timeout",
    # OpenAI and compatibles
    "server_error": "server_error",
    "insufficient_quota": "payment_required",
    "rate_limit_exceeded": "rate_limited",
    "requests": "rate_limited",
    "tokens": "rate_limited",
    "invalid_api_key": "auth",
    "context_length_exceeded": "context_length",
    "invalid_prompt": "bad_request",  # Responses API: response.failed's error.code
    "BadRequestError": "bad_request",  # vLLM
    "InternalServerError": "server_error",  # vLLM
}

RETRYABLE_CODES = frozenset(
    {
        "rate_limited",
        "overloaded",
        "server_error",
        "timeout",
        "connection",
        "conflict",
        "stream_error",
        "incomplete_stream",
    }
)

_CONTEXT_HINTS = (
    "context length",
    "context_length",
    "context window",
    "prompt is too long",
    "maximum context",
    "too many tokens",
)


# Refusals a retry cannot change, with what the user can do about them.
_KNOWN_REFUSALS = (
    (
        ("requires --jinja", "unsupported param: tools"),
        "this llama.cpp server takes no tools: start llama-server with --jinja, "
        "or send without tools",
    ),
)


def _known_refusal(message: str) -> str | None:
    lowered = message.lower()
    for hints, advice in _KNOWN_REFUSALS:
        if any(h in lowered for h in hints):
            return advice
    return None


def scrub(text: str, api_key: str | None = None) -> str:
    """Remove every secret the sidecar holds, the adapter's key among them, and anything
    else key-shaped from `text`."""
    logs.redact(api_key)  # held already when the engine built the config; cheap to repeat
    return _SECRET_PATTERNS.sub(REDACTED, logs.scrub(text))


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"


def _fields(obj: Any) -> tuple[str | None, Any, str | None]:
    """(type, code, message) from any of the error body shapes seen in the wild."""
    if not isinstance(obj, dict):
        return None, None, None
    err = obj.get("error")
    if isinstance(err, dict):
        message = err.get("message")
        return (
            err.get("type") if isinstance(err.get("type"), str) else None,
            err.get("code"),
            message if isinstance(message, str) else None,
        )
    if isinstance(err, str):  # Ollama: {"error": "model 'x' not found"}
        return None, obj.get("code"), err
    message = obj.get("message")
    if not isinstance(message, str):
        detail = obj.get("detail")  # FastAPI-based servers
        message = detail if isinstance(detail, str) else None
    etype = obj.get("type")
    return (
        (etype if isinstance(etype, str) and etype != "error" else None),
        obj.get("code"),
        message,
    )


def classify(status: int | None, etype: str | None, ecode: Any, message: str) -> str:
    """The ProviderError code for an HTTP status and/or an error type/code from the body."""
    scode = ecode if isinstance(ecode, str) else None
    if _known_refusal(message):
        return "bad_request"
    if etype == "insufficient_quota" or scode == "insufficient_quota":
        return "payment_required"  # OpenAI's 429 for an empty account: retrying cannot help
    if etype == "overloaded_error":
        return "overloaded"
    if status is None and isinstance(ecode, int) and 400 <= ecode <= 599:
        status = ecode  # OpenRouter and vLLM put the HTTP status into the streamed error
    if status is not None:
        code = _STATUS_CODES.get(status) or ("server_error" if status >= 500 else "bad_request")
    else:
        code = _TYPE_CODES.get(etype or "") or _TYPE_CODES.get(scode or "") or "stream_error"
    if code == "bad_request":
        lowered = message.lower()
        if scode == "context_length_exceeded" or any(h in lowered for h in _CONTEXT_HINTS):
            return "context_length"
    return code


def error_from_payload(obj: Any, api_key: str | None) -> ProviderError:
    """An error object that arrived inside a 200 stream (or as a 200 JSON body)."""
    etype, ecode, message = _fields(obj)
    message = _clip(scrub(message or "the provider reported an error", api_key))
    code = classify(None, etype, ecode, message)
    return ProviderError(code, message, retryable=code in RETRYABLE_CODES)


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes, api_key: str | None
) -> ProviderError:
    """An HTTP error response (status >= 400), body already read (bounded)."""
    text = body.decode("utf-8", errors="replace")
    try:
        obj = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        obj = None
    etype, ecode, message = _fields(obj)
    if message is None:
        message = text if text.strip() and not text.lstrip().startswith("<") else ""
    if not message.strip():
        try:
            message = f"HTTP {status} {httpx.codes(status).phrase}"
        except ValueError:
            message = f"HTTP {status}"
    message = _clip(scrub(message, api_key))
    code = classify(status, etype, ecode, message)
    advice = _known_refusal(message)
    if advice:
        message = f"{message} ({advice})"
    retryable = code in RETRYABLE_CODES
    should = headers.get("x-should-retry")
    if should == "true" and code != "payment_required":
        retryable = True  # the server's word wins, except that quota never comes back by waiting
    elif should == "false":
        retryable = False
    return ProviderError(
        code,
        message,
        retryable=retryable,
        http_status=status,
        retry_after=parse_retry_after(headers),
        request_id=headers.get("x-request-id") or headers.get("request-id"),
    )


def error_from_transport(exc: Exception, api_key: str | None, idle_timeout: float) -> ProviderError:
    """Connection-level failures. Never chains the httpx error (it holds the request headers)."""
    detail = scrub(str(exc) or type(exc).__name__, api_key)
    if isinstance(exc, httpx.ReadTimeout):
        return ProviderError(
            "timeout", f"no data from the provider for {idle_timeout:g} s", retryable=True
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError("timeout", f"timed out ({type(exc).__name__})", retryable=True)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ProviderError("connection", f"bad provider URL: {detail}", retryable=False)
    if isinstance(exc, httpx.ConnectError):
        return ProviderError("connection", f"could not connect: {detail}", retryable=True)
    if isinstance(exc, httpx.DecodingError):
        return ProviderError("invalid_response", f"undecodable response: {detail}", retryable=True)
    return ProviderError(
        "connection", f"connection lost ({type(exc).__name__}: {detail})", retryable=True
    )


# --- limits of one call: the base's clock and line cap, and what may answer instead of the API


def idle_timeout_error(idle: float) -> ProviderError:
    """No reply content for `idle` s: keep-alive comments and contentless events arrived,
    or nothing did. Retryable, which the base honors only before the first content part."""
    return ProviderError(
        "timeout", f"no reply content from the provider for {idle:g} s", retryable=True
    )


def deadline_error(total: float) -> ProviderError:
    """The call's total deadline passed. Not retryable: the time for retries is spent too."""
    return ProviderError(
        "timeout", f"the provider call took longer than its {total:g} s limit", retryable=False
    )


def oversized_event_error(limit: int) -> ProviderError:
    """One streamed line (SSE or NDJSON) or SSE event outgrew the cap: no chat reply needs one that large, and the
    same request would bring it again."""
    return ProviderError(
        "invalid_response",
        f"the provider sent a stream line or event larger than {_size(limit)}",
        retryable=False,
    )


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+\-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+\-]{0,63}")


def unexpected_answer(status: int, content_type: str, expected: str) -> ProviderError | None:
    """A redirect (httpx follows none), or a web page, where the API's answer was due: a proxy
    or login page in the way, which answers the same way every time, so it is not retried.
    The message names the status and the media type only: never the redirect target or the
    page, which may carry session tokens."""
    media = content_type.partition(";")[0].strip().lower()
    if not (300 <= status < 400 or "html" in media):
        return None
    try:
        phrase = f" {httpx.codes(status).phrase}"
    except ValueError:
        phrase = ""
    shown = media if _MEDIA_TYPE.fullmatch(media) else "unrecognized" if media else "none"
    return ProviderError(
        "invalid_response",
        f"the provider answered HTTP {status}{phrase} ({shown}) instead of {expected}; "
        "is a proxy or a login page in the way of the base URL?",
        retryable=False,
        http_status=status,
    )
