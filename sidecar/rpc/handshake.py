"""`initialize` and `events.subscribe`: the two steps every connection starts with."""

from __future__ import annotations

from sidecar import PROTOCOL_VERSION, __version__
from sidecar.bus import ResyncRequired
from sidecar.protocol.errors import Reason, RpcError
from sidecar.protocol.events import EVENTS
from sidecar.protocol.methods import (
    Capabilities,
    InitializeParams,
    InitializeResult,
    ServerInfo,
    SubscribeParams,
    SubscribeResult,
)
from sidecar.rpc.method import Context, Family

family = Family()


@family(
    "initialize", "Start the session; required before any other method.", before_initialize=True
)
async def initialize(session: Context, p: InitializeParams) -> InitializeResult:
    session.initialize()
    services = session.services
    return InitializeResult(
        protocol_version=PROTOCOL_VERSION,
        server_info=ServerInfo(name="chat-sidecar", version=__version__),
        session_id=services.bus.session_id,
        last_seq=services.bus.last_seq,
        capabilities=Capabilities(
            methods=sorted(session.methods),
            events=sorted(EVENTS),
            replay_buffer_size=services.bus.replay_size,
            max_frame_bytes=services.config.max_frame_bytes,
        ),
    )


@family(
    "events.subscribe",
    "Start this connection's event feed, replaying from `since`.",
    errors=(Reason.RESYNC_REQUIRED,),
)
async def subscribe(session: Context, p: SubscribeParams) -> SubscribeResult:
    try:
        replayed = session.subscribe(p.since)
    except ResyncRequired as exc:
        raise RpcError(
            Reason.RESYNC_REQUIRED,
            "The events after `since` are no longer held; reload state and subscribe from its seq",
            oldestSeq=exc.oldest_seq,
            lastSeq=exc.last_seq,
        ) from None
    return SubscribeResult(last_seq=session.services.bus.last_seq, replayed=replayed)
