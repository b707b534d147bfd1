"""Every method the sidecar serves, gathered from the modules that declare them."""

from __future__ import annotations

from sidecar.rpc import (
    catalog,
    chat,
    conversations,
    handshake,
    library,
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
    **catalog.family,
    **reports.family,
    **transfer.family,
}
