"""One declaration per method: the handler, decorated with what the contract says of it.

The params and result models are the handler's own annotations, so a method's
name, models, summary, errors and retry metadata live in one place; the
dispatcher, `initialize`'s capabilities, `schema/openrpc.json` and the
TypeScript client's retry lists are all read from these declarations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, get_type_hints

from sidecar.protocol.base import Params, Wire
from sidecar.protocol.errors import Reason

if TYPE_CHECKING:
    from sidecar.bus import EventBus
    from sidecar.config import ServeConfig
    from sidecar.engine import Engine


class Services(Protocol):
    """What the composition root offers every session."""

    @property
    def engine(self) -> Engine: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def config(self) -> ServeConfig: ...

    def disconnected(self, key: str) -> None:
        """A client is gone: what the engine keeps for it ends (its tools, its answers)."""
        ...


class Context(Protocol):
    """What a handler gets: the session it serves (see `sidecar.rpc.session`)."""

    services: Services

    @property
    def engine(self) -> Engine: ...

    @property
    def key(self) -> str:
        """Names this client: its tools, the tool calls only it may answer."""
        ...

    @property
    def initialized(self) -> bool: ...

    @property
    def methods(self) -> Collection[str]:
        """The names this session serves (for `initialize`'s capabilities)."""
        ...

    def initialize(self) -> None: ...

    def subscribe(self, since: int | None) -> int: ...


Handler = Callable[[Any, Any], Awaitable[Any]]

NF = (Reason.NOT_FOUND,)


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    params: type[Params]
    result: type[Wire]
    summary: str
    handler: Handler
    errors: tuple[Reason, ...] = ()
    deduplicated: bool = False
    """Answered once per `clientRequestId`: a repeat gets the first answer, also across restarts."""
    safe_to_resend: bool = False
    """A client may send it again after a reconnect: it changes nothing, or is deduplicated."""
    before_initialize: bool = False


class Family(dict[str, Method]):
    """The methods of one handler module; `@family("name", "summary", ...)` declares one."""

    def __call__(
        self,
        name: str,
        summary: str,
        *,
        errors: tuple[Reason, ...] = (),
        reads: bool = False,
        deduplicated: bool = False,
        before_initialize: bool = False,
    ) -> Callable[[Handler], Handler]:
        """`reads`: the method changes nothing, so it is safe to re-send."""

        def declare(handler: Handler) -> Handler:
            hints = get_type_hints(handler)
            result = hints.pop("return")
            *_, params = hints.values()  # (session, params)
            self[name] = Method(
                name=name,
                params=params,
                result=result,
                summary=summary,
                handler=handler,
                errors=errors,
                deduplicated=deduplicated,
                safe_to_resend=reads or deduplicated,
                before_initialize=before_initialize,
            )
            return handler

        return declare
