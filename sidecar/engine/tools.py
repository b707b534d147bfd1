"""Tool calls: which tools a turn may use, approvals, and running them.

Sidecar tools run here; client tools are registered by a connection and run
by the client, which answers with `tools.submitResult`. A tool that needs
approval waits for `tools.approve` (from any connection: the user answers in
whichever window shows it); a denial goes back to the model as an error, and
the loop goes on.

Every answer names a call by the sidecar's own call id (never the provider's,
which many servers repeat in every response), resolves that call only, and at
most once. A client tool's result is taken only from the connection that
registered the tool; once that connection is gone, from any connection (the
same client, reconnected) for DISCONNECT_GRACE, after which the call fails.
Waiting is cancellable: cancelling or deleting the turn stops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson

from sidecar.engine.mcp_results import is_mcp_result, model_text
from sidecar.protocol.errors import InvalidParams, Reason, RpcError, not_found
from sidecar.protocol.events import ToolCompleted, ToolFailed, ToolProposed, ToolStarted
from sidecar.protocol.objects import Tool, ToolCall
from sidecar.tools import SidecarTool, ToolContext, ToolError, builtin_tools

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.methods import ToolsRegisterParams

log = logging.getLogger("sidecar.tools")

SIDECAR_TOOL_TIMEOUT = 60.0
CLIENT_TOOL_TIMEOUT = 600.0
DISCONNECT_GRACE = 30.0  # a client tool's connection closed: time for its client to come back
MAX_RESULT_CHARS = 100_000
ENDED_KEPT = 10_000  # ended call ids remembered, so a late second answer is told so


@dataclass(frozen=True, slots=True)
class Enabled:
    """A tool as a turn uses it: its wire description and, for sidecar tools, the code;
    for client tools, the connection that registered it (the one that runs it)."""

    tool: Tool
    impl: SidecarTool | None
    owner: str | None = None
    remote_name: str | None = None  # an MCP tool: its server's own name for it
    approval: Literal["always", "once", "never"] = "always"  # for MCP tools


class ClientGone(Exception):
    """The connection that runs a client tool closed and nobody answered in the grace time."""


@dataclass(slots=True)
class Waiting:
    """A call waiting for an answer from outside: the user's approval or a client's result."""

    kind: Literal["approval", "result"]
    future: asyncio.Future[Any]
    owner: str | None  # the only connection that may answer; None: any connection
    grace: asyncio.TimerHandle | None = None


class Tools:
    def __init__(self, engine: Engine) -> None:
        self._e = engine
        self._builtin: dict[str, SidecarTool] | None = None
        self._client: dict[str, dict[str, Tool]] = {}  # connection id -> name -> tool
        self._waiting: dict[str, Waiting] = {}  # the sidecar's call id -> what it waits for
        self._ended: OrderedDict[str, str] = OrderedDict()  # call id -> how its wait ended
        self._approved: set[tuple[str, str]] = set()  # (conversation, tool): "ask once" given
        self.client_timeout = CLIENT_TOOL_TIMEOUT
        self.disconnect_grace = DISCONNECT_GRACE

    @property
    def builtin(self) -> dict[str, SidecarTool]:
        if self._builtin is None:
            self._builtin = builtin_tools()
        return self._builtin

    # -- the catalog --------------------------------------------------------------

    def list(self, connection: str) -> list[Tool]:
        tools = [_wire(t) for t in self.builtin.values()]
        return tools + sorted(self._client.get(connection, {}).values(), key=lambda t: t.name)

    async def listing(self, connection: str) -> list[Tool]:
        """tools.list: the sidecar's, the enabled MCP servers' (starting them), this
        connection's."""
        builtin = [_wire(t) for t in self.builtin.values()]
        mine = sorted(self._client.get(connection, {}).values(), key=lambda t: t.name)
        return builtin + await self._e.mcp.tools() + mine

    def register(self, connection: str, p: ToolsRegisterParams) -> Tool:
        if p.name in self.builtin:
            raise RpcError(
                Reason.CONFLICT, f"{p.name} is a sidecar tool; pick another name", name=p.name
            )
        tool = Tool(
            name=p.name,
            description=p.description,
            input_schema=p.input_schema,
            executor="client",
            requires_approval=p.requires_approval,
        )
        self._client.setdefault(connection, {})[p.name] = tool
        return tool

    def unregister(self, connection: str, name: str) -> None:
        if self._client.get(connection, {}).pop(name, None) is None:
            raise not_found("tool", name)

    def forget(self, connection: str) -> None:
        """The connection closed: its tools are gone. Its calls already running wait
        DISCONNECT_GRACE for an answer from any connection (its client, reconnected)."""
        self._client.pop(connection, None)
        loop = asyncio.get_running_loop()
        for waiting in self._waiting.values():
            if waiting.owner == connection:
                waiting.owner = None
                waiting.grace = loop.call_later(self.disconnect_grace, _give_up, waiting.future)

    def enable(self, names: list[str], connection: str) -> dict[str, Enabled]:
        enabled: dict[str, Enabled] = {}
        mine = self._client.get(connection, {})
        for i, name in enumerate(names):
            if name in self.builtin:
                enabled[name] = Enabled(_wire(self.builtin[name]), self.builtin[name])
            elif name in mine:
                enabled[name] = Enabled(mine[name], None, connection)
            elif (found := self._e.mcp.find(name)) is not None:
                tool, remote, policy = found
                enabled[name] = Enabled(tool, None, None, remote, policy)  # type: ignore[arg-type]
            else:
                raise InvalidParams(f"unknown tool {name!r}: see tools.list", ("tools", str(i)))
        return enabled

    # -- answers from clients -----------------------------------------------------

    def submit_result(
        self, call_id: str, result: Any, error: str | None, connection: str = ""
    ) -> None:
        self._answer(call_id, "result", connection).set_result((result, error))

    def approve(self, call_id: str, approved: bool, connection: str = "") -> None:
        self._answer(call_id, "approval", connection).set_result(approved)

    def _answer(self, call_id: str, kind: str, connection: str) -> asyncio.Future[Any]:
        """The future of the one call `call_id` names, if this connection may answer it now."""
        waiting = self._waiting.get(call_id)
        if waiting is None:
            ended = self._ended.get(call_id)
            if ended is None:
                raise not_found("toolCall", call_id)
            raise RpcError(
                Reason.CONFLICT, f"that tool call is no longer waiting: {ended}", callId=call_id
            )
        if waiting.kind != kind:
            wanted = "an approval" if waiting.kind == "approval" else "a client result"
            raise RpcError(
                Reason.CONFLICT, f"that tool call is waiting for {wanted}", callId=call_id
            )
        if waiting.future.done():
            raise RpcError(Reason.CONFLICT, "that tool call was already answered", callId=call_id)
        if waiting.owner is not None and waiting.owner != connection:
            raise RpcError(
                Reason.CONFLICT,
                "that tool runs in another connection: only it can answer",
                callId=call_id,
            )
        return waiting.future

    # -- running a call -----------------------------------------------------------

    async def run(
        self,
        ids: dict[str, str],
        call: ToolCall,
        enabled: Enabled | None,
        folders: tuple[str, ...] = (),
    ) -> None:
        """Run one call to its end, updating `call` and publishing its events."""
        bus = self._e.bus
        if enabled is None:
            return self._fail(ids, call, f"there is no tool named {call.name!r}")
        call.executor = enabled.tool.executor
        once = (ids["conversation_id"], call.name)
        if enabled.tool.requires_approval and not (
            enabled.approval == "once" and once in self._approved
        ):
            call.status = "proposed"
            bus.publish(
                ToolProposed(**ids, call_id=call.id, name=call.name, arguments=call.arguments)
            )
            if not await self._wait(call.id, "approval", None, None):
                call.status = "denied"
                call.error = "the user denied this tool call"
                bus.publish(ToolFailed(**ids, call_id=call.id, error=call.error))
                return None
            if enabled.approval == "once":
                self._approved.add(once)
        call.status = "running"
        bus.publish(
            ToolStarted(
                **ids,
                call_id=call.id,
                name=call.name,
                arguments=call.arguments,
                executor=call.executor,
            )
        )
        if enabled.remote_name is not None and enabled.tool.server_id is not None:
            result, error = await self._e.mcp.call(
                enabled.tool.server_id, enabled.remote_name, call.arguments
            )
        elif enabled.impl is not None:
            try:
                result = await asyncio.wait_for(
                    enabled.impl.run(call.arguments, ToolContext(allowed_folders=folders)),
                    SIDECAR_TOOL_TIMEOUT,
                )
            except ToolError as exc:
                return self._fail(ids, call, str(exc))
            except TimeoutError:
                return self._fail(ids, call, "the tool took too long")
            except Exception:
                log.exception("tool %s failed", call.name)
                return self._fail(ids, call, "the tool failed unexpectedly")
            error = None
        else:
            try:
                result, error = await self._wait(
                    call.id, "result", enabled.owner, self.client_timeout
                )
            except TimeoutError:
                return self._fail(ids, call, "the client did not answer in time")
            except ClientGone:
                return self._fail(ids, call, "the client that runs this tool disconnected")
        if error is not None:
            return self._fail(ids, call, error)
        if enabled.remote_name is None and len(orjson.dumps(result)) > MAX_RESULT_CHARS:
            return self._fail(ids, call, "the result is too large")
        call.status = "completed"
        call.result = result
        bus.publish(ToolCompleted(**ids, call_id=call.id, result=result))
        return None

    def _fail(self, ids: dict[str, str], call: ToolCall, error: str) -> None:
        call.status = "failed"
        call.error = error
        self._e.bus.publish(ToolFailed(**ids, call_id=call.id, error=error))

    async def _wait(
        self,
        call_id: str,
        kind: Literal["approval", "result"],
        owner: str | None,
        limit: float | None,
    ) -> Any:
        loop = asyncio.get_running_loop()
        waiting = Waiting(kind, loop.create_future(), owner)
        if owner is not None and owner not in self._client:
            waiting.owner = None  # it closed before the call started: its client may be back
            waiting.grace = loop.call_later(self.disconnect_grace, _give_up, waiting.future)
        self._waiting[call_id] = waiting
        outcome = "it was answered"
        try:
            return await asyncio.wait_for(waiting.future, limit)
        except TimeoutError:
            outcome = "it timed out"
            raise
        except ClientGone:
            outcome = "its client disconnected"
            raise
        except asyncio.CancelledError:
            outcome = "its reply ended"
            raise
        finally:
            if waiting.grace is not None:
                waiting.grace.cancel()
            del self._waiting[call_id]
            self._ended[call_id] = outcome
            while len(self._ended) > ENDED_KEPT:
                self._ended.popitem(last=False)


def _give_up(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(ClientGone())


def _wire(tool: SidecarTool) -> Tool:
    return Tool(
        name=tool.name,
        description=tool.description,
        input_schema=tool.input_schema,
        executor="sidecar",
        requires_approval=tool.requires_approval,
    )


def result_text(call: ToolCall) -> str:
    """What the model reads back for a call: a string verbatim, other JSON compact."""
    if call.status == "completed":
        if isinstance(call.result, str):
            return call.result
        if call.executor == "mcp" and is_mcp_result(call.result):
            return model_text(call.result)  # type: ignore[arg-type]
        return orjson.dumps(call.result).decode()
    return f"Error: {call.error or 'the tool did not run'}"
