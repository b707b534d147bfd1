"""Splitting a leading `<think>…</think>` block out of streamed content.

Some local models (DeepSeek-R1 distills, QwQ, Qwen3 behind servers without a
reasoning parser) put their reasoning inline in `content`. Only a block at the very
start (after optional whitespace) is thinking: a `<think>` later in the answer is the
model talking about the tag, and stays text. Tags may be split across chunks, so the
splitter holds back just the few characters that could still become a tag.
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"

_START, _THINK, _AFTER, _TEXT = range(4)


class ThinkSplitter:
    """Feed content fragments; get (thinking, text) pieces back. Not thread-safe, one per stream."""

    __slots__ = ("_state", "_buf")

    def __init__(self) -> None:
        self._state = _START
        self._buf = ""

    def feed(self, chunk: str) -> tuple[str, str]:
        """Returns (thinking, text) to emit now; either may be empty."""
        state = self._state
        if state == _TEXT:  # the hot path once the decision is made
            return "", chunk
        if state == _START:
            buf = self._buf + chunk
            head = buf.lstrip()
            if len(head) < len(OPEN) and OPEN.startswith(head):
                self._buf = buf  # only whitespace or a prefix of "<think>" so far
                return "", ""
            self._buf = ""
            if not head.startswith(OPEN):
                self._state = _TEXT
                return "", buf
            self._state = _THINK
            return self._in_think(head[len(OPEN) :])
        if state == _THINK:
            return self._in_think(self._buf + chunk)
        # _AFTER: drop the newlines that separate the think block from the answer
        text = chunk.lstrip("\r\n")
        if text:
            self._state = _TEXT
        return "", text

    def _in_think(self, buf: str) -> tuple[str, str]:
        end = buf.find(CLOSE)
        if end >= 0:
            self._buf = ""
            self._state = _AFTER
            thinking, rest = buf[:end], buf[end + len(CLOSE) :]
            _, text = self.feed(rest) if rest else ("", "")
            return thinking, text
        # hold back a tail that may be the start of "</think>" (it has one "<", at its start)
        lt = buf.rfind("<", max(0, len(buf) - len(CLOSE) + 1))
        if lt >= 0 and CLOSE.startswith(buf[lt:]):
            self._buf = buf[lt:]
            return buf[:lt], ""
        self._buf = ""
        return buf, ""

    def flush(self) -> tuple[str, str]:
        """At the end of the stream: whatever was held back."""
        buf, self._buf = self._buf, ""
        if self._state == _THINK:
            return buf, ""
        return "", buf  # _START: whitespace or a partial "<think" that never completed
