"""The retry delay, computed like the official OpenAI and Anthropic SDKs do.

Which errors are retried is decided where they are made (errors.py sets
`ProviderError.retryable`, honoring `x-should-retry`); when retrying is allowed at
all (only before any content was streamed, so no word is ever sent twice, and only
when the delay ends before the call's deadline) is decided in base.py.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from email.utils import mktime_tz, parsedate_tz

INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
MAX_SERVER_DELAY = 60.0  # a server hint beyond this is ignored (falls back to backoff)


def parse_retry_after(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """The server's retry hint in seconds (`retry-after-ms`, else `retry-after` as seconds
    or an HTTP date), or None when absent, unparsable or outside (0, 60] s."""
    value: float | None = None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = None
    if value is None:
        raw = headers.get("retry-after")
        if raw is not None:
            try:
                value = float(raw)
            except ValueError:
                parsed = parsedate_tz(raw)
                if parsed is not None:
                    value = mktime_tz(parsed) - now()
    if value is None or value != value or not 0 < value <= MAX_SERVER_DELAY:
        return None
    return value


def backoff_delay(retries_done: int, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: 0.5 s, 1 s, 2 s … capped at 8 s, minus up to 25 %."""
    base = min(INITIAL_DELAY * 2.0 ** min(retries_done, 64), MAX_DELAY)
    return max(base * (1 - 0.25 * rand()), 0.0)


def retry_delay(
    retry_after: float | None, retries_done: int, rand: Callable[[], float] = random.random
) -> float:
    """The server's hint when it gave a usable one, else backoff."""
    if retry_after is not None:
        return retry_after
    return backoff_delay(retries_done, rand)
