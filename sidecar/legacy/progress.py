"""The import's progress line on stderr: rewritten in place on a terminal, plain lines
otherwise (a log keeps every step). A year of history with images takes a while."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

_EVERY = 0.2  # seconds between two updates of the same step on a terminal


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._out = stream or sys.stderr
        self._tty = self._out.isatty()
        self._last = 0.0
        self._width = 0
        self._lock = threading.Lock()  # files are copied in a worker thread

    def step(self, text: str, *, final: bool = False) -> None:
        """Say what is being done. On a terminal a step replaces the last one and updates
        of the same step are throttled; elsewhere each step is a line (`final` ones only,
        for steps that update often)."""
        with self._lock:
            now = time.monotonic()
            if self._tty:
                if not final and now - self._last < _EVERY:
                    return
                self._last = now
                line = f"import-legacy: {text}"
                self._out.write("\r" + line.ljust(self._width))
                self._width = len(line)
            elif final:
                self._out.write(f"import-legacy: {text}\n")
            self._out.flush()

    def done(self) -> None:
        with self._lock:
            if self._tty and self._width:
                self._out.write("\r" + " " * self._width + "\r")
                self._out.flush()
