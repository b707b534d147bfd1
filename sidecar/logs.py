"""Logging to stderr, as text or JSON lines, and the one registry of the secrets this process holds.

Every secret value the sidecar holds is registered with `redact()`: the launch
token (at launch), API keys and custom header values (by the key store, as it
reads or writes them). `scrub()` replaces each one by `[redacted]`, whatever its
shape or length, and everything that lets text out uses it: the log formatters
(message, arguments and traceback, so even an exception quoting a key cannot
leak it) and the provider error mapping (`sidecar.providers.errors.scrub`),
which is where the text of error events, stored `message.error` and RPC errors
comes from. Values shorter than `MIN_SECRET` are not registered: a header such as
`x-cache: on` must not turn every "on" into `[redacted]`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time

REDACTED = "[redacted]"
MIN_SECRET = 8  # characters; shorter values are ordinary words, not secrets
# An Authorization-style value: the credential after the scheme is quoted back on its own too.
_SCHEME = re.compile(r"(?i)(?:bearer|basic|token|key|apikey|api-key)\s+(\S+)")

_secrets: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None  # replaced whole, so readers in any thread need no lock
_lock = threading.Lock()


def redact(secret: str | None) -> None:
    """Never let `secret` out of the process: not in a log line, nor in an error's text."""
    global _secrets, _pattern
    value = (secret or "").strip()
    scheme = _SCHEME.fullmatch(value)
    found = {s for s in (value, scheme and scheme.group(1)) if s and len(s) >= MIN_SECRET}
    if found <= _secrets:
        return
    with _lock:
        known = _secrets | found
        # Longest first, so a secret that contains another is replaced whole.
        alternatives = sorted(known, key=lambda s: (-len(s), s))
        _pattern = re.compile("|".join(map(re.escape, alternatives)))
        _secrets = known


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by `[redacted]`."""
    pattern = _pattern
    return pattern.sub(REDACTED, text) if pattern is not None else text


class _ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # Scrubbed before encoding: JSON escapes would hide a secret holding `"` or `\`.
        return json.dumps({k: scrub(v) for k, v in entry.items()}, ensure_ascii=False)


def setup(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # websockets logs every refused handshake at INFO (ours say it better); aiosqlite's
    # DEBUG lines quote every SQL call with its parameters, keys included.
    for noisy in ("websockets", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
