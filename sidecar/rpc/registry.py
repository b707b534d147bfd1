"""`handles("method.name")` registers a handler `(conn, params) -> result model`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[Any, Any], Awaitable[Any]]


class Registry(dict[str, Handler]):
    def __call__(self, name: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self[name] = fn
            return fn

        return register
