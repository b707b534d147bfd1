"""`mcp.*`: MCP servers as tool sources, and their prompts and resources (docs/mcp.md)."""

from __future__ import annotations

from sidecar.protocol.errors import Reason
from sidecar.protocol.mcp import (
    McpPromptsGetParams,
    McpPromptsGetResult,
    McpPromptsListResult,
    McpResourcesListResult,
    McpResourcesReadParams,
    McpResourcesReadResult,
    McpServerIdParams,
    McpServerRefParams,
    McpServerResult,
    McpServersAddParams,
    McpServersListResult,
    McpServersUpdateParams,
)
from sidecar.protocol.methods import Empty, EmptyResult
from sidecar.rpc.method import NF, Context, Family

family = Family()

SERVER_ERRORS = (Reason.NOT_FOUND, Reason.MCP_SERVER_ERROR)


@family("mcp.servers.list", "The MCP servers the user added, with their state.", reads=True)
async def list_servers(session: Context, p: Empty) -> McpServersListResult:
    return McpServersListResult(servers=await session.engine.mcp.list())


@family(
    "mcp.servers.add",
    "Add an MCP server (stdio: a command; http: a URL); enabled, it starts now and "
    "`mcp.server.updated` tells its state. Env and header values go to the key store.",
)
async def add_server(session: Context, p: McpServersAddParams) -> McpServerResult:
    return McpServerResult(server=await session.engine.mcp.add(p))


@family(
    "mcp.servers.update",
    "Change an MCP server; only the fields present change (a running server restarts when "
    "how it is reached changes).",
    errors=NF,
)
async def update_server(session: Context, p: McpServersUpdateParams) -> McpServerResult:
    return McpServerResult(server=await session.engine.mcp.update(p))


@family(
    "mcp.servers.remove",
    "Remove an MCP server: it stops (its whole process group), its calls running fail.",
    errors=NF,
)
async def remove_server(session: Context, p: McpServerIdParams) -> EmptyResult:
    await session.engine.mcp.remove(p.id)
    return EmptyResult()


@family("mcp.prompts.list", "An MCP server's prompts.", errors=SERVER_ERRORS, reads=True)
async def list_prompts(session: Context, p: McpServerRefParams) -> McpPromptsListResult:
    return McpPromptsListResult(prompts=await session.engine.mcp.prompts(p.server_id))


@family(
    "mcp.prompts.get",
    "An MCP server's prompt, filled in, as one text (e.g. for `chat.send {systemPrompt}`).",
    errors=SERVER_ERRORS,
    reads=True,
)
async def get_prompt(session: Context, p: McpPromptsGetParams) -> McpPromptsGetResult:
    return await session.engine.mcp.prompt(p)


@family("mcp.resources.list", "An MCP server's resources.", errors=SERVER_ERRORS, reads=True)
async def list_resources(session: Context, p: McpServerRefParams) -> McpResourcesListResult:
    return McpResourcesListResult(resources=await session.engine.mcp.resources(p.server_id))


@family(
    "mcp.resources.read",
    "Read an MCP server's resource: text, or base64 data (attach it to a message with "
    "chat.send attachments).",
    errors=SERVER_ERRORS,
    reads=True,
)
async def read_resource(session: Context, p: McpResourcesReadParams) -> McpResourcesReadResult:
    return await session.engine.mcp.read(p.server_id, p.uri)
