"""Moving conversations in and out: `conversations.export`, `conversations.import`."""

from __future__ import annotations

from sidecar.protocol.spec import MethodSpec

SPECS: tuple[MethodSpec, ...] = ()
