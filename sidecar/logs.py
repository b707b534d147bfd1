"""Logging to stderr, as text or JSON lines, with secrets scrubbed from every record.

Any value registered with `redact()` (the launch token, API keys) is replaced by
`[redacted]` in the message, the arguments and the formatted traceback, so even
an exception whose text quotes a key cannot leak it.
"""

from __future__ import annotations

import json
import logging
import sys
import time

_secrets: set[str] = set()
REDACTED = "[redacted]"


def redact(secret: str | None) -> None:
    """Never let `secret` reach a log line (ignored when too short to be a secret)."""
    if secret and len(secret) >= 8:
        _secrets.add(secret)


def scrub(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


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
        return scrub(json.dumps(entry, ensure_ascii=False))


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
