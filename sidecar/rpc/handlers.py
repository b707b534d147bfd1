"""Every method's handler, gathered from the per-family modules."""

from sidecar.rpc import catalog, chat, conversations, library, reports, session, tools, transfer

HANDLERS = {
    **session.handles,
    **conversations.handles,
    **library.handles,
    **chat.handles,
    **catalog.handles,
    **reports.handles,
    **transfer.handles,
    **tools.handles,
}
