"""The old app's MCP servers (`mcp_servers`, schema 45): HTTP servers by URL, some with an
API key. Each becomes an MCP server of the sidecar (`mcp.servers.add`, transport
`http`) under the old row's id, its key a header value in the key store
(`Authorization: Bearer <key>`), enabled, started at first use, every tool call asked.
A server imported before is not added again, nor one the user removed since.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sidecar.protocol.mcp import McpServersAddParams

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.legacy.plan import Skips
    from sidecar.legacy.read import LegacyData

KIND = "mcpServers"
_HTTP = re.compile(r"^https?://\S+$")


async def plan(
    engine: Engine, data: LegacyData, skips: Skips
) -> list[tuple[str, McpServersAddParams]]:
    """(server id, what to add) for the old servers the sidecar lacks."""
    existing = {row.id for row in await engine.repos.mcp.rows()}
    imported = await engine.repos.mcp.imported()
    out = []
    for old in data.mcp_servers:
        server_id = f"legacy-mcp-{old.id}"[:100]
        if server_id in existing:
            continue
        if server_id in imported:
            skips.add(KIND, "removed in the sidecar since an earlier import")
            continue
        url = old.url.strip()
        if not _HTTP.match(url) or len(url) > 2000:
            skips.add(KIND, "a server without an http(s) URL")
            continue
        headers = {"Authorization": f"Bearer {old.api_key}"} if old.api_key else {}
        name = (old.name or url)[:100] or "MCP server"
        out.append(
            (server_id, McpServersAddParams(name=name, transport="http", url=url, headers=headers))
        )
    return out


async def apply(engine: Engine, planned: list[tuple[str, McpServersAddParams]]) -> None:
    for server_id, params in planned:
        await engine.mcp.add(params, server_id=server_id, start=False)
    await engine.repos.mcp.mark_imported([server_id for server_id, _ in planned])
