"""Tool calls: which tools a turn may use, approvals, and running them.

Sidecar tools run here; client tools are registered by a connection and run
by the client, which answers with `tools.submitResult` (from any connection:
a client that reconnects can still answer). A tool that needs approval waits
for `tools.approve`; a denial goes back to the model as an error, and the loop
goes on. Waiting is cancellable: cancelling the turn stops it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from sidecar.protocol.errors import InvalidParams, Reason, RpcError, not_found
from sidecar.protocol.events import ToolCompleted, ToolFailed, ToolProposed, ToolStarted
from sidecar.protocol.objects import Tool, ToolCall
from sidecar.tools import SidecarTool, ToolContext
from sidecar.tools import ToolFailed as ToolError

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.methods import ToolsRegisterParams

log = logging.getLogger("sidecar.tools")

SIDECAR_TOOL_TIMEOUT = 60.0
CLIENT_TOOL_TIMEOUT = 600.0
MAX_RESULT_CHARS = 100_000


@dataclass(frozen=True, slots=True)
class Enabled:
    """A tool as a turn uses it: its wire description and, for sidecar tools, the code."""

    tool: Tool
    impl: SidecarTool | None


class Tools:
    def __init__(self, engine: Engine) -> None:
        self._e = engine
        self._builtin: dict[str, SidecarTool] | None = None
        self._client: dict[str, dict[str, Tool]] = {}  # connection id -> name -> tool
        self._results: dict[str, asyncio.Future[tuple[Any, str | None]]] = {}
        self._approvals: dict[str, asyncio.Future[bool]] = {}
        self.client_timeout = CLIENT_TOOL_TIMEOUT

    @property
    def builtin(self) -> dict[str, SidecarTool]:
        if self._builtin is None:
            from sidecar.tools import builtin_tools

            self._builtin = builtin_tools()
        return self._builtin

    # -- the catalog --------------------------------------------------------------

    def list(self, connection: str) -> list[Tool]:
        tools = [_wire(t) for t in self.builtin.values()]
        return tools + sorted(self._client.get(connection, {}).values(), key=lambda t: t.name)

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
        """The connection closed: its tools are gone (calls already running still wait)."""
        self._client.pop(connection, None)

    def enable(self, names: list[str], connection: str) -> dict[str, Enabled]:
        enabled: dict[str, Enabled] = {}
        mine = self._client.get(connection, {})
        for i, name in enumerate(names):
            if name in self.builtin:
                enabled[name] = Enabled(_wire(self.builtin[name]), self.builtin[name])
            elif name in mine:
                enabled[name] = Enabled(mine[name], None)
            else:
                raise InvalidParams(f"unknown tool {name!r}: see tools.list", ("tools", str(i)))
        return enabled

    # -- answers from clients -----------------------------------------------------

    def submit_result(self, call_id: str, result: Any, error: str | None) -> None:
        future = self._results.get(call_id)
        if future is None or future.done():
            raise not_found("toolCall", call_id)
        future.set_result((result, error))

    def approve(self, call_id: str, approved: bool) -> None:
        future = self._approvals.get(call_id)
        if future is None or future.done():
            raise not_found("toolCall", call_id)
        future.set_result(approved)

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
        if enabled.tool.requires_approval:
            call.status = "proposed"
            bus.publish(
                ToolProposed(**ids, call_id=call.id, name=call.name, arguments=call.arguments)
            )
            if not await self._wait(self._approvals, call.id, None):
                call.status = "denied"
                call.error = "the user denied this tool call"
                bus.publish(ToolFailed(**ids, call_id=call.id, error=call.error))
                return None
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
        if enabled.impl is not None:
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
                result, error = await self._wait(self._results, call.id, self.client_timeout)
            except TimeoutError:
                return self._fail(ids, call, "the client did not answer in time")
        if error is not None:
            return self._fail(ids, call, error)
        if len(orjson.dumps(result)) > MAX_RESULT_CHARS:
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
        self, table: dict[str, asyncio.Future[Any]], call_id: str, limit: float | None
    ) -> Any:
        future = asyncio.get_running_loop().create_future()
        table[call_id] = future
        try:
            return await asyncio.wait_for(future, limit)
        finally:
            table.pop(call_id, None)


def _wire(tool: SidecarTool) -> Tool:
    return Tool(
        name=tool.name,
        description=tool.description,
        input_schema=tool.input_schema,
        executor="sidecar",
        requires_approval=tool.requires_approval,
    )


def result_text(call: ToolCall) -> str:
    """What the model reads back for a call."""
    if call.status == "completed":
        return orjson.dumps(call.result).decode()
    return f"Error: {call.error or 'the tool did not run'}"
