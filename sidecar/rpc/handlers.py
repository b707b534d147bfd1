"""Every method's handler, gathered from the per-family modules."""

from sidecar.rpc import conversations, library, session

HANDLERS = {**session.handles, **conversations.handles, **library.handles}
