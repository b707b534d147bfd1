"""A value read from the database once and kept until this process writes its source.

The catalog and the settings are read by every chat and written only through their
repositories, so a read is kept until the repository's next write (`changed`). A read
that a write overtook (it began before the write and ended after) is returned but not
kept. `version` counts the writes, for a caller that keeps something made from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Kept(Generic[T]):
    __slots__ = ("version", "_kept")

    def __init__(self) -> None:
        self.version = 0
        self._kept: tuple[int, T] | None = None

    def changed(self) -> None:
        """Its source was written: the next `get` reads again."""
        self.version += 1

    async def get(self, read: Callable[[], Awaitable[T]]) -> T:
        """The kept value, or `read()`'s (kept unless a write came in between)."""
        version, kept = self.version, self._kept
        if kept is not None and kept[0] == version:
            return kept[1]
        value = await read()
        if version == self.version:
            self._kept = (version, value)
        return value
