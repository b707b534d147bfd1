"""MCP servers as tool sources: `mcp.servers.*`, their tools in the tool loop, their
prompts and resources (docs/mcp.md).

One `McpLink` (one ClientSession) per enabled server that has been used. A server
starts at first use (tools.list, a call, a prompt or resource request) or with the
sidecar (`startOnLaunch`); every change of its state is an `mcp.server.updated`
event. Its tools are `<slug>__<tool>`: a slug unique among servers, so two servers
never collide, within the providers' limit of 64 characters from [a-zA-Z0-9_-]. The
last tool list a server gave is kept in its row, so a chat can name its tools (and
start it) before it runs. Environment and header values are secrets: they live in the
key store, as `mcp:<id>:env` and `mcp:<id>:headers`, never in the database, logs,
events or errors.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from typing import TYPE_CHECKING, Any

from sidecar.engine.mcp_link import McpFailure, McpLink, Target
from sidecar.engine.mcp_results import prompt_text, resource_contents, tool_result
from sidecar.ids import new_id
from sidecar.protocol.errors import InvalidParams, Reason, RpcError, not_found
from sidecar.protocol.events import McpServerRemoved, McpServerUpdated
from sidecar.protocol.mcp import (
    McpPrompt,
    McpPromptsGetResult,
    McpResource,
    McpResourcesReadResult,
    McpServer,
)
from sidecar.protocol.objects import Tool
from sidecar.store.mcp_repo import McpRow

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.mcp import (
        McpPromptsGetParams,
        McpServersAddParams,
        McpServersUpdateParams,
    )

log = logging.getLogger("sidecar.mcp")

SEP = "__"
NAME_LIMIT = 64
SLUG_LIMIT = 24
READY_WAIT = 30.0  # a prompt or resource request waits this long for its server to start
_REACH = ("command", "args", "cwd", "url")  # fields that change how a server is reached


def slugify(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:SLUG_LIMIT].strip("_") or "mcp"
    slug, n = base, 2
    while slug in taken:
        slug = f"{base[: SLUG_LIMIT - 4]}_{n}"
        n += 1
    return slug


def tool_names(slug: str, names: list[str]) -> dict[str, str]:
    """Namespaced name -> the server's own tool name: `<slug>__<tool>`, only
    [a-zA-Z0-9_-], at most 64 characters, no two alike."""
    out: dict[str, str] = {}
    room = NAME_LIMIT - len(slug) - len(SEP)
    for name in names:
        clean = re.sub(r"[^a-zA-Z0-9_-]", "_", name) or "tool"
        full = f"{slug}{SEP}{clean[:room]}"
        if full in out or len(clean) > room:
            digest = hashlib.sha256(name.encode()).hexdigest()[:6]
            full = f"{slug}{SEP}{clean[: room - 7]}_{digest}"
        out[full] = name
    return out


class Mcp:
    def __init__(self, engine: Engine) -> None:
        self._e = engine
        self._rows: dict[str, McpRow] | None = None
        self._links: dict[str, McpLink] = {}
        self._load_lock = asyncio.Lock()
        self._saving: set[asyncio.Task[None]] = set()

    # -- the servers ----------------------------------------------------------------

    async def loaded(self) -> dict[str, McpRow]:
        if self._rows is None:
            async with self._load_lock:
                if self._rows is None:
                    self._rows = {r.id: r for r in await self._e.repos.mcp.rows()}
        return self._rows

    async def start_on_launch(self) -> None:
        for row in (await self.loaded()).values():
            if row.data.get("enabled", True) and row.data.get("startOnLaunch"):
                await self._link(row)

    async def list(self) -> list[McpServer]:
        return [self._wire(r) for r in (await self.loaded()).values()]

    async def add(
        self, p: McpServersAddParams, server_id: str | None = None, start: bool = True
    ) -> McpServer:
        """`server_id` and `start=False`: import-legacy (a stable id; nothing runs)."""
        rows = await self.loaded()
        _check_transport(p.transport, p.command, p.url, p.args, p.env, p.cwd, p.headers)
        row = McpRow(id=server_id or new_id(), name=p.name, transport=p.transport)
        row.data = {
            "slug": slugify(p.name, {r.data.get("slug", "") for r in rows.values()}),
            "command": p.command,
            "args": list(p.args),
            "cwd": p.cwd,
            "url": p.url,
            "envNames": sorted(p.env),
            "headerNames": sorted(p.headers),
            "enabled": p.enabled,
            "startOnLaunch": p.start_on_launch,
            "approval": p.approval,
            "toolApprovals": dict(p.tool_approvals),
            "timeoutSeconds": p.timeout_seconds,
            "tools": [],
        }
        await self._e.keys.set_headers(_env_key(row.id), p.env)
        await self._e.keys.set_headers(_headers_key(row.id), p.headers)
        await self._e.repos.mcp.save(row)
        rows[row.id] = row
        self._publish(row)
        if p.enabled and start:
            await self._link(row)
        return self._wire(row)

    async def update(self, p: McpServersUpdateParams) -> McpServer:
        row = await self._require(p.id)
        given = p.model_fields_set
        data = dict(row.data)
        restart = False
        for name, key in (
            ("command", "command"),
            ("args", "args"),
            ("cwd", "cwd"),
            ("url", "url"),
            ("enabled", "enabled"),
            ("start_on_launch", "startOnLaunch"),
            ("approval", "approval"),
            ("tool_approvals", "toolApprovals"),
            ("timeout_seconds", "timeoutSeconds"),
        ):
            if name in given and getattr(p, name) is not None:
                value = getattr(p, name)
                restart |= name in _REACH and value != data.get(key)
                data[key] = value
        if "env" in given and p.env is not None:
            data["envNames"] = sorted(p.env)
            restart = True
        if "headers" in given and p.headers is not None:
            data["headerNames"] = sorted(p.headers)
            restart = True
        env = p.env if p.env is not None else {}
        headers = p.headers if p.headers is not None else {}
        _check_transport(
            row.transport,
            data.get("command"),
            data.get("url"),
            data.get("args") or [],
            env,
            data.get("cwd"),
            headers,
        )
        if p.env is not None:
            await self._e.keys.set_headers(_env_key(row.id), p.env)
        if p.headers is not None:
            await self._e.keys.set_headers(_headers_key(row.id), p.headers)
        if p.name is not None:
            row.name = p.name
        row.data = data
        await self._e.repos.mcp.save(row)
        link = self._links.get(row.id)
        if link is not None and (restart or not data.get("enabled", True)):
            del self._links[row.id]
            await link.stop()
        self._publish(row)
        if data.get("enabled", True) and (restart and link is not None or data["startOnLaunch"]):
            await self._link(row)
        return self._wire(row)

    async def remove(self, server_id: str) -> None:
        row = await self._require(server_id)
        link = self._links.pop(server_id, None)
        assert self._rows is not None
        del self._rows[server_id]  # no new use from here on
        if link is not None:
            await link.stop()  # its calls running fail: "the MCP server stopped"
        await self._e.repos.mcp.delete(server_id)
        await self._e.keys.set_headers(_env_key(server_id), {})
        await self._e.keys.set_headers(_headers_key(server_id), {})
        self._e.bus.publish(McpServerRemoved(server_id=row.id))

    async def close(self) -> None:
        """Shutdown: every server ends (its whole process group)."""
        links, self._links = list(self._links.values()), {}
        await asyncio.gather(*(link.stop() for link in links), return_exceptions=True)
        for task in list(self._saving):
            await asyncio.gather(task, return_exceptions=True)

    async def _require(self, server_id: str) -> McpRow:
        row = (await self.loaded()).get(server_id)
        if row is None:
            raise not_found("mcpServer", server_id)
        return row

    async def _link(self, row: McpRow) -> McpLink:
        link = self._links.get(row.id)
        if link is None:
            target = Target(
                server_id=row.id,
                transport=row.transport,
                command=row.data.get("command"),
                args=list(row.data.get("args") or []),
                cwd=row.data.get("cwd"),
                url=row.data.get("url"),
                env=await self._e.keys.headers(_env_key(row.id)),
                headers=await self._e.keys.headers(_headers_key(row.id)),
            )
            if row.id in self._links:  # another task made it while the keys were read
                return self._links[row.id]
            link = McpLink(target, self._changed)
            self._links[row.id] = link
        link.start()
        return link

    def _changed(self, link: McpLink) -> None:
        row = (self._rows or {}).get(link.target.server_id)
        if row is None or self._links.get(row.id) is not link:
            return  # removed, or replaced by a restart: its last states are nobody's news
        if link.state == "ready":
            tools = [
                {
                    "name": t.name,
                    "description": t.description or t.title or "",
                    "inputSchema": t.input_schema,
                }
                for t in link.tools
            ]
            if tools != row.data.get("tools"):
                row.data = {**row.data, "tools": tools}
                task = asyncio.create_task(self._e.repos.mcp.save(row))
                self._saving.add(task)
                task.add_done_callback(self._saving.discard)
        self._publish(row)

    def _publish(self, row: McpRow) -> None:
        self._e.bus.publish(McpServerUpdated(server=self._wire(row)))

    def _wire(self, row: McpRow) -> McpServer:
        d = row.data
        link = self._links.get(row.id)
        return McpServer(
            id=row.id,
            name=row.name,
            slug=d.get("slug", ""),
            transport=row.transport,  # type: ignore[arg-type]
            command=d.get("command"),
            args=list(d.get("args") or []),
            cwd=d.get("cwd"),
            url=d.get("url"),
            env_names=list(d.get("envNames") or []),
            header_names=list(d.get("headerNames") or []),
            enabled=d.get("enabled", True),
            start_on_launch=d.get("startOnLaunch", False),
            approval=d.get("approval", "always"),
            tool_approvals=dict(d.get("toolApprovals") or {}),
            timeout_seconds=d.get("timeoutSeconds", 60.0),
            state=link.state if link is not None else "stopped",  # type: ignore[arg-type]
            error=link.error if link is not None else None,
            tools=list(self._tools(row).values()),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    # -- tools ------------------------------------------------------------------------

    def _tools(self, row: McpRow) -> dict[str, Tool]:
        """Its tools by namespaced name: the live list when ready, else the last known."""
        known = row.data.get("tools") or []
        names = tool_names(row.data.get("slug", "mcp"), [t["name"] for t in known])
        by_name = {t["name"]: t for t in known}
        policies = row.data.get("toolApprovals") or {}
        default = row.data.get("approval", "always")
        return {
            full: Tool(
                name=full,
                description=(by_name[own].get("description") or "")[:4000],
                input_schema=by_name[own].get("inputSchema") or {"type": "object"},
                executor="mcp",
                requires_approval=policies.get(own, default) != "never",
                server_id=row.id,
            )
            for full, own in names.items()
        }

    async def tools(self, start: bool = True) -> list[Tool]:
        """Every enabled server's tools (tools.list), starting the servers not running."""
        out: list[Tool] = []
        for row in (await self.loaded()).values():
            if not row.data.get("enabled", True):
                continue
            if start and row.id not in self._links:
                await self._link(row)
            out += self._tools(row).values()
        return out

    def find(self, name: str) -> tuple[Tool, str, str] | None:
        """(tool, its server's own name for it, approval policy) for a namespaced name."""
        slug = name.split(SEP, 1)[0]
        for row in (self._rows or {}).values():
            if row.data.get("slug") == slug and row.data.get("enabled", True):
                tools = self._tools(row)
                if name in tools:
                    own = tool_names(slug, [t["name"] for t in row.data.get("tools") or []])[name]
                    policy = (row.data.get("toolApprovals") or {}).get(
                        own, row.data.get("approval", "always")
                    )
                    return tools[name], own, policy
        return None

    async def call(
        self, server_id: str, tool: str, arguments: dict[str, Any]
    ) -> tuple[Any, str | None]:
        """Run one tool call: (result, None) or (None, why it failed). Never raises for a
        server's fault: a hang, a crash or garbage fails this call only."""
        row = (self._rows or {}).get(server_id)
        if row is None:
            return None, "the MCP server was removed"
        if not row.data.get("enabled", True):
            return None, "the MCP server is disabled"
        timeout = float(row.data.get("timeoutSeconds", 60.0))
        link = await self._link(row)
        try:
            result = await link.request(
                f"the call to {tool}",
                lambda s: s.call_tool(tool, arguments, read_timeout_seconds=timeout),
                timeout,
            )
        except McpFailure as exc:
            return None, str(exc)
        except Exception as exc:
            return None, _server_error(exc)
        return tool_result(result)

    # -- prompts and resources --------------------------------------------------------

    async def _ask(self, server_id: str, what: str, call: Any) -> Any:
        row = await self._require(server_id)
        if not row.data.get("enabled", True):
            raise RpcError(Reason.MCP_SERVER_ERROR, "the MCP server is disabled", id=server_id)
        link = await self._link(row)
        try:
            return await link.request(what, call, READY_WAIT)
        except McpFailure as exc:
            raise RpcError(Reason.MCP_SERVER_ERROR, str(exc), id=server_id) from None
        except Exception as exc:
            raise RpcError(Reason.MCP_SERVER_ERROR, _server_error(exc), id=server_id) from None

    async def prompts(self, server_id: str) -> list[McpPrompt]:
        result = await self._ask(server_id, "prompts/list", lambda s: s.list_prompts())
        return [
            McpPrompt.model_validate(p.model_dump(by_alias=False, exclude_none=True))
            for p in result.prompts
        ]

    async def prompt(self, p: McpPromptsGetParams) -> McpPromptsGetResult:
        result = await self._ask(
            p.server_id, "prompts/get", lambda s: s.get_prompt(p.name, dict(p.arguments))
        )
        return McpPromptsGetResult(text=prompt_text(result), description=result.description)

    async def resources(self, server_id: str) -> list[McpResource]:
        result = await self._ask(server_id, "resources/list", lambda s: s.list_resources())
        return [
            McpResource(
                uri=str(r.uri),
                name=r.name,
                title=r.title,
                description=r.description,
                mime_type=r.mime_type,
                size=r.size,
            )
            for r in result.resources
        ]

    async def read(self, server_id: str, uri: str) -> McpResourcesReadResult:
        result = await self._ask(server_id, "resources/read", lambda s: s.read_resource(uri))
        return McpResourcesReadResult(contents=resource_contents(result))


def _check_transport(
    transport: str,
    command: str | None,
    url: str | None,
    args: list[str],
    env: dict[str, str],
    cwd: str | None,
    headers: dict[str, str],
) -> None:
    if transport == "stdio":
        if not command:
            raise InvalidParams("a stdio server needs a command", ("command",))
        if url or headers:
            raise InvalidParams("url and headers are for http servers", ("url",))
    else:
        if not url:
            raise InvalidParams("an http server needs a url", ("url",))
        if command or args or env or cwd:
            raise InvalidParams("command, args, env and cwd are for stdio servers", ("command",))


def _env_key(server_id: str) -> str:
    return f"mcp:{server_id}:env"


def _headers_key(server_id: str) -> str:
    return f"mcp:{server_id}:headers"


def _server_error(exc: BaseException) -> str:
    from sidecar import logs

    text = getattr(getattr(exc, "error", None), "message", None) or str(exc) or type(exc).__name__
    return logs.scrub(f"the MCP server answered with an error: {text}")[:1000]
