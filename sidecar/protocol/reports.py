"""Usage reports and titles: `usage.summary`, `titles.generate`."""

from __future__ import annotations

from sidecar.protocol.spec import MethodSpec

SPECS: tuple[MethodSpec, ...] = ()
