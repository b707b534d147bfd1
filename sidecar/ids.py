"""Ids and timestamps shared by every layer.

Ids are UUIDv7 strings: they sort by creation time as plain strings, and two ids
made in the same millisecond still sort in the order they were made (a counter
fills the random bits), so messages never tie the way second-resolution
timestamps did.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> str:
    """A time-ordered, process-monotonic UUIDv7 string."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter >= 1 << 42:  # counter exhausted: borrow the next millisecond
                ms += 1
                _counter = int.from_bytes(os.urandom(4), "big")
        else:
            _counter = int.from_bytes(os.urandom(4), "big")
        _last_ms = ms
        counter = _counter
    return uuid7(ms, counter, int.from_bytes(os.urandom(4), "big"))


def uuid7(ms: int, counter: int, low: int) -> str:
    """The UUIDv7 string of a Unix time in ms, a 42-bit counter and 32 low bits: ids with
    the same `ms` sort by `counter`. (`sidecar import-legacy` derives all three from a row
    of the old app, so a row gets the same id at every import.)"""
    # 48 bits time | 4 bits version | 12 bits counter-high | 2 bits variant | 62 bits (30 counter-low + 32 low)
    rand_a = (counter >> 30) & 0xFFF
    rand_b = ((counter & 0x3FFFFFFF) << 32) | (low & 0xFFFFFFFF)
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_stamp: tuple[int, str] = (-1, "")  # (second, its formatted date and time), swapped atomically


def now_iso() -> str:
    """RFC 3339 UTC timestamp with millisecond precision, e.g. 2026-11-24T05:47:01.123Z.

    Every event carries one, so the date part is formatted once per second.
    """
    global _stamp
    second, ms = divmod(time.time_ns() // 1_000_000, 1000)
    cached_second, prefix = _stamp
    if second != cached_second:
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _stamp = (second, prefix)
    return f"{prefix}.{ms:03d}Z"
