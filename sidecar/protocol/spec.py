"""How a method is described: its params and result models and the contract errors it may answer."""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.protocol.base import Params, Wire
from sidecar.protocol.errors import Reason


@dataclass(frozen=True, slots=True)
class MethodSpec:
    name: str
    params: type[Params]
    result: type[Wire]
    summary: str
    errors: tuple[Reason, ...] = ()


NF = (Reason.NOT_FOUND,)
