"""`initialize` and `events.subscribe`: the two steps every connection starts with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar import PROTOCOL_VERSION, __version__
from sidecar.bus import ResyncRequired
from sidecar.protocol.errors import Reason, RpcError
from sidecar.protocol.events import EVENTS
from sidecar.protocol.methods import (
    METHODS,
    Capabilities,
    InitializeParams,
    InitializeResult,
    ServerInfo,
    SubscribeParams,
    SubscribeResult,
)
from sidecar.rpc.registry import Registry

if TYPE_CHECKING:
    from sidecar.server import Connection

handles = Registry()


@handles("initialize")
async def initialize(conn: Connection, p: InitializeParams) -> InitializeResult:
    conn.initialized = True
    app = conn.app
    return InitializeResult(
        protocol_version=PROTOCOL_VERSION,
        server_info=ServerInfo(name="chat-sidecar", version=__version__),
        session_id=app.bus.session_id,
        last_seq=app.bus.last_seq,
        capabilities=Capabilities(
            methods=sorted(METHODS),
            events=sorted(EVENTS),
            replay_buffer_size=app.bus.replay_size,
            max_frame_bytes=app.config.max_frame_bytes,
        ),
    )


@handles("events.subscribe")
async def subscribe(conn: Connection, p: SubscribeParams) -> SubscribeResult:
    try:
        replayed = conn.subscribe(p.since)
    except ResyncRequired as exc:
        raise RpcError(
            Reason.RESYNC_REQUIRED,
            "The events after `since` are no longer held; reload state and subscribe from its seq",
            oldestSeq=exc.oldest_seq,
            lastSeq=exc.last_seq,
        ) from None
    return SubscribeResult(last_seq=conn.app.bus.last_seq, replayed=replayed)
