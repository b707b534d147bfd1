"""`usage.summary` and `titles.generate`."""

from __future__ import annotations

from sidecar.rpc.registry import Registry

handles = Registry()
