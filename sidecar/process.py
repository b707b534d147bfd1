"""One sidecar process's life: open, listen, announce ready, watch its parent, shut down cleanly.

Stop reasons (SIGTERM, SIGINT, stdin closed, parent gone) all set the same
event; shutdown then stops accepting, closes connections with 1001, and closes
the database, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from sidecar import PROTOCOL_VERSION, __version__
from sidecar.app import App
from sidecar.loopstats import LoopStats
from sidecar.server import Transport
from sidecar.store import StorageUnavailable, StoreOpenError

if TYPE_CHECKING:
    from collections.abc import Callable

    from sidecar.config import ServeConfig

log = logging.getLogger("sidecar")


class _LaunchFailed(Exception):
    pass


def run(config: ServeConfig) -> int:
    try:
        return asyncio.run(_serve(config))
    except _LaunchFailed as exc:
        sys.stderr.write(f"sidecar: error: {exc}\n")
        return 1


async def _serve(config: ServeConfig) -> int:
    try:
        app = await App.open(config)
    except StoreOpenError as exc:  # already one line naming the file and the problem
        raise _LaunchFailed(str(exc)) from None
    transport = Transport(config, app.bus, app.open_session)
    try:
        port = await transport.start()
    except OSError as exc:
        await app.close()
        if exc.errno == errno.EADDRINUSE:
            raise _LaunchFailed(f"port {config.port} is already in use") from None
        raise _LaunchFailed(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
        ) from None

    stop = asyncio.Event()
    _watch(config, stop)
    ready = {
        "type": "ready",
        "url": f"ws://{_url_host(config.host)}:{port}",
        "port": port,
        "token": config.token,
        "pid": os.getpid(),
        "protocolVersion": PROTOCOL_VERSION,
        "version": __version__,
    }
    if not _print_ready(ready):
        log.warning("stdout was closed before the ready line: the parent is gone; exiting")
        stop.set()
    else:
        log.info("ready on port %d (pid %d, db %s)", port, os.getpid(), config.db_path)
    if app.repos.database.interrupted_at_start:
        log.warning(
            "%d message(s) were mid-stream at the last stop; marked interrupted",
            app.repos.database.interrupted_at_start,
        )
    # Warm the request path in the background so the first request does not pay for it.
    warm = asyncio.create_task(_warm_then_start(app))
    loop_stats = LoopStats.from_env()  # opt-in, for the soak suite

    await stop.wait()
    log.info("shutting down")
    transport.stop_accepting()
    await app.stop_engine()  # running streams end `interrupted`; connected clients still hear it
    await transport.stop()
    await app.close()
    warm.cancel()
    if loop_stats is not None:
        loop_stats.stop()
    log.info("stopped")
    return 0


def _print_ready(ready: dict[str, object]) -> bool:
    """Writes the ready line; False when nobody reads stdout any more (the parent died
    while we started). stdout then points at /dev/null so that exit does not fail again."""
    try:
        sys.stdout.write(json.dumps(ready, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError, OSError):
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return False
    return True


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _warm_then_start(app: App) -> None:
    await asyncio.to_thread(_warm_imports, app)
    await app.warm()
    try:
        await app.start_mcp_servers()
    except Exception:
        log.exception("the MCP servers set to start with the sidecar could not be started")


def _warm_imports(app: App) -> None:
    # In a thread after the ready line: the first request does not pay for these imports.
    import sidecar.engine  # noqa: F401
    import sidecar.providers  # noqa: F401  (httpx, httpx-sse: needed by the first chat)
    import sidecar.rpc.session  # noqa: F401
    from sidecar.engine.http_client import warm

    warm()  # httpcore and the CA bundle: ~100 ms the first chat would otherwise pay
    try:
        app.keys.warm()  # the keychain backend (keyring's import), needed by the first chat
    except StorageUnavailable as exc:
        log.error("%s", exc)


def _watch(config: ServeConfig, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def request_stop(reason: str) -> None:
        if not stop.is_set():
            log.info("stopping: %s", reason)
            stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, request_stop, sig.name)
        except (NotImplementedError, RuntimeError):  # Windows: no loop signal handlers
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(request_stop, "signal"))

    if config.watch_stdin:
        watch_stdin(lambda: loop.call_soon_threadsafe(request_stop, "stdin closed"))

    if config.parent_pid is not None:
        pid = config.parent_pid

        def check_parent() -> None:
            if _pid_alive(pid):
                loop.call_later(0.5, check_parent)
            else:
                request_stop(f"parent process {pid} is gone")

        loop.call_soon(check_parent)


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":
        import ctypes  # Windows only

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watch_stdin(on_eof: Callable[[], None]) -> None:
    """Calls `on_eof` (from a daemon thread) once stdin reaches end of file.

    It reads the raw descriptor, not `sys.stdin.buffer`: a daemon thread blocked inside
    the buffered reader holds its lock, and the interpreter aborts at exit ("could not
    acquire lock ... at interpreter shutdown") when another signal stops the process.
    """

    def read_stdin() -> None:
        try:
            fd = sys.stdin.fileno()
            while os.read(fd, 65536):
                pass
        except (OSError, ValueError, AttributeError):
            pass
        on_eof()

    threading.Thread(target=read_stdin, name="watch-stdin", daemon=True).start()
