"""`tools.*`: the tools a chat may use, client-run tools, approvals."""

from __future__ import annotations

from sidecar.protocol.errors import Reason
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
from sidecar.rpc.method import NF, Context, Family

family = Family()


@family(
    "tools.list",
    "Tools a chat can use: the sidecar's, the enabled MCP servers' (executor `mcp`; this "
    "starts servers not running yet) and this connection's.",
    reads=True,
)
async def list_tools(session: Context, p: Empty) -> ToolsListResult:
    return ToolsListResult(tools=await session.engine.tools.listing(session.key))


@family("tools.register", "Offer a tool this client runs.", errors=(Reason.CONFLICT,))
async def register(session: Context, p: ToolsRegisterParams) -> ToolResult:
    return ToolResult(tool=session.engine.tools.register(session.key, p))


@family("tools.unregister", "Withdraw a tool of this client.", errors=NF)
async def unregister(session: Context, p: ToolNameParams) -> EmptyResult:
    session.engine.tools.unregister(session.key, p.name)
    return EmptyResult()


@family("tools.submitResult", "Answer a client tool call.", errors=NF)
async def submit_result(session: Context, p: ToolsSubmitResultParams) -> EmptyResult:
    session.engine.tools.submit_result(p.call_id, p.result, p.error, session.key)
    return EmptyResult()


@family("tools.approve", "Let a proposed tool call run, or deny it.", errors=NF)
async def approve(session: Context, p: ToolsApproveParams) -> EmptyResult:
    session.engine.tools.approve(p.call_id, p.approved, session.key)
    return EmptyResult()
