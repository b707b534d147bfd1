"""The API: every method the sidecar serves, gathered from the modules that declare them."""

from __future__ import annotations

from sidecar.rpc import (
    attachments,
    audio,
    chat,
    conversations,
    handshake,
    library,
    mcp_servers,
    providers,
    reports,
    tools,
    transfer,
)
from sidecar.rpc.method import Method

METHODS: dict[str, Method] = {
    **handshake.family,
    **conversations.family,
    **library.family,
    **chat.family,
    **tools.family,
    **providers.family,
    **reports.family,
    **transfer.family,
    **attachments.family,
    **audio.family,
    **mcp_servers.family,
}
