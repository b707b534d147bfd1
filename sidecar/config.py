"""The settings one `sidecar serve` runs with, as parsed from its flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ORIGINS = ("tauri://localhost", "http://tauri.localhost", "https://tauri.localhost")


@dataclass(frozen=True, slots=True)
class ServeConfig:
    token: str
    db_path: Path
    host: str = "127.0.0.1"
    port: int = 0
    allow_origins: tuple[str, ...] = ()
    watch_stdin: bool = False
    parent_pid: int | None = None
    log_level: str = "info"
    log_format: str = "text"
    replay_buffer: int = 100_000
    max_frame_bytes: int = 16 * 1024 * 1024
    send_queue: int = 20_000
    client_tool_grace: float = 30.0  # seconds a client tool call waits for its client to return
    max_inflight: int = 256
    origins: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "origins", frozenset(DEFAULT_ORIGINS + self.allow_origins))
