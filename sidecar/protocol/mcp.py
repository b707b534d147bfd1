"""MCP servers on the wire: the server object, its tools, prompts and resources, and the
params and results of `mcp.*` (see docs/mcp.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sidecar.protocol.base import Params, Wire
from sidecar.protocol.objects import Tool

McpTransport = Literal["stdio", "http"]
McpState = Literal["stopped", "starting", "ready", "failed"]
ApprovalPolicy = Literal["always", "once", "never"]
"""`always`: ask at every call; `once`: ask at the first call in a conversation; `never`."""

_NAME = Field(min_length=1, max_length=100)
_SECRET_MAP = dict[str, str]


class McpServer(Wire):
    """A server as clients see it: never the values of its environment or headers (they may
    hold secrets), only their names."""

    id: str
    name: str
    slug: str = Field(
        description="The prefix of its tools' names: `<slug>__<tool>` (unique among servers)."
    )
    transport: McpTransport
    command: str | None = Field(description="stdio: the program to run.")
    args: list[str]
    cwd: str | None
    url: str | None = Field(description="http: the streamable HTTP endpoint.")
    env_names: list[str] = Field(description="stdio: the environment variables it is given.")
    header_names: list[str] = Field(description="http: the headers sent with every request.")
    enabled: bool
    start_on_launch: bool = Field(
        description="Start with the sidecar; otherwise at first use (tools.list, a call)."
    )
    approval: ApprovalPolicy = Field(description="The approval policy of its tools.")
    tool_approvals: dict[str, ApprovalPolicy] = Field(
        description="Per-tool policies (by the server's own tool name), over `approval`."
    )
    timeout_seconds: float = Field(description="The longest one tool call may take.")
    state: McpState
    error: str | None = Field(description="Why it failed (state `failed`).")
    tools: list[Tool] = Field(
        description="Its tools as tools.list shows them (the last known list while it is not "
        "running)."
    )
    created_at: str
    updated_at: str


class McpServersAddParams(Params):
    """`{name, transport: "stdio", command, args?, env?, cwd?}` or `{name, transport: "http",
    url, headers?}`; env and header values are kept in the key store, like API keys."""

    name: str = _NAME
    transport: McpTransport
    command: str | None = Field(default=None, min_length=1, max_length=4000)
    args: list[str] = Field(default_factory=list, max_length=200)
    env: _SECRET_MAP = Field(default_factory=dict, max_length=100)
    cwd: str | None = Field(default=None, max_length=4000)
    url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    headers: _SECRET_MAP = Field(default_factory=dict, max_length=100)
    enabled: bool = True
    start_on_launch: bool = False
    approval: ApprovalPolicy = "always"
    tool_approvals: dict[str, ApprovalPolicy] = Field(default_factory=dict, max_length=500)
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600)


class McpServersUpdateParams(Params):
    """Only the fields present change; `env` and `headers` replace the previous sets. A
    running server restarts when how it is reached changes."""

    id: str = _NAME
    name: str | None = Field(default=None, min_length=1, max_length=100)
    command: str | None = Field(default=None, min_length=1, max_length=4000)
    args: list[str] | None = Field(default=None, max_length=200)
    env: _SECRET_MAP | None = Field(default=None, max_length=100)
    cwd: str | None = Field(default=None, max_length=4000)
    url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    headers: _SECRET_MAP | None = Field(default=None, max_length=100)
    enabled: bool | None = None
    start_on_launch: bool | None = None
    approval: ApprovalPolicy | None = None
    tool_approvals: dict[str, ApprovalPolicy] | None = Field(default=None, max_length=500)
    timeout_seconds: float | None = Field(default=None, gt=0, le=3600)


class McpServerIdParams(Params):
    id: str = _NAME


class McpServerResult(Wire):
    server: McpServer


class McpServersListResult(Wire):
    servers: list[McpServer]


# -- prompts --------------------------------------------------------------------


class McpPromptArgument(Wire):
    name: str
    description: str | None = None
    required: bool = False


class McpPrompt(Wire):
    name: str
    title: str | None = None
    description: str | None = None
    arguments: list[McpPromptArgument] = Field(default_factory=list)


class McpServerRefParams(Params):
    server_id: str = _NAME


class McpPromptsListResult(Wire):
    prompts: list[McpPrompt]


class McpPromptsGetParams(Params):
    server_id: str = _NAME
    name: str = Field(min_length=1, max_length=500)
    arguments: dict[str, str] = Field(default_factory=dict, max_length=100)


class McpPromptsGetResult(Wire):
    text: str = Field(
        description="The prompt's messages as one text (usable as `chat.send {systemPrompt}`)."
    )
    description: str | None = None


# -- resources ------------------------------------------------------------------


class McpResource(Wire):
    uri: str
    name: str
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    size: int | None = None


class McpResourcesListResult(Wire):
    resources: list[McpResource]


class McpResourcesReadParams(Params):
    server_id: str = _NAME
    uri: str = Field(min_length=1, max_length=4000)


class McpResourceContent(Wire):
    uri: str
    mime_type: str | None = None
    text: str | None = Field(default=None, description="A text resource.")
    data: str | None = Field(default=None, description="A binary resource, base64.")


class McpResourcesReadResult(Wire):
    contents: list[McpResourceContent]
