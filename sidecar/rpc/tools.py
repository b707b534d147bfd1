"""`tools.*`: the tools a chat may use, client-run tools, approvals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.protocol.methods import (
    Empty,
    EmptyResult,
    ToolNameParams,
    ToolResult,
    ToolsApproveParams,
    ToolsListResult,
    ToolsRegisterParams,
    ToolsSubmitResultParams,
)
from sidecar.rpc.registry import Registry

if TYPE_CHECKING:
    from sidecar.server import Connection

handles = Registry()


@handles("tools.list")
async def list_tools(conn: Connection, p: Empty) -> ToolsListResult:
    return ToolsListResult(tools=conn.app.engine.tools.list(conn.key))


@handles("tools.register")
async def register(conn: Connection, p: ToolsRegisterParams) -> ToolResult:
    return ToolResult(tool=conn.app.engine.tools.register(conn.key, p))


@handles("tools.unregister")
async def unregister(conn: Connection, p: ToolNameParams) -> EmptyResult:
    conn.app.engine.tools.unregister(conn.key, p.name)
    return EmptyResult()


@handles("tools.submitResult")
async def submit_result(conn: Connection, p: ToolsSubmitResultParams) -> EmptyResult:
    conn.app.engine.tools.submit_result(p.call_id, p.result, p.error, conn.key)
    return EmptyResult()


@handles("tools.approve")
async def approve(conn: Connection, p: ToolsApproveParams) -> EmptyResult:
    conn.app.engine.tools.approve(p.call_id, p.approved, conn.key)
    return EmptyResult()
