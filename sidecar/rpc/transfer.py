"""`conversations.export` and `conversations.import`."""

from __future__ import annotations

from sidecar.rpc.registry import Registry

handles = Registry()
