"""The watchdog every stdio MCP server runs under, so none outlives the sidecar.

`sidecar mcp-guard -- COMMAND ARGS...` is the sidecar's direct child and the leader of
a process group of its own (the SDK starts it in a new session); it runs the server in
that group with the same stdin, stdout and stderr (the MCP pipes go straight through),
and exits with it. When the sidecar goes, however it goes (exit, SIGTERM, SIGKILL, a
crash), the guard notices and takes the whole group down (SIGTERM, then SIGKILL after
KILL_GRACE): the server and anything it started.

It notices three ways: on Linux the kernel sends it SIGTERM when its parent dies
(PR_SET_PDEATHSIG); everywhere, its parent pid changes (reparented) within POLL
seconds; and a SIGTERM/SIGINT/SIGHUP to it (the SDK's own shutdown of the group) is
handled the same. Imports only the standard library: it starts in milliseconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL = 0.2
KILL_GRACE = 2.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the parent-pid poll still applies


def _take_down_group(child: subprocess.Popen[bytes]) -> int:
    """SIGTERM the group (the guard ignores it), SIGKILL what is left after KILL_GRACE."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    group = os.getpgrp()
    try:
        os.killpg(group, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    deadline = time.monotonic() + KILL_GRACE
    while time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    try:  # grandchildren too, even when the server itself already exited
        os.killpg(group, signal.SIGKILL)  # the guard is in the group: this ends it as well
    except (ProcessLookupError, PermissionError):
        pass
    return 1


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.stderr.write("sidecar mcp-guard: no command\n")
        return 2
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent or parent == 1:
        return 1  # the sidecar is already gone
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        child = subprocess.Popen(argv)  # same group, same stdio
    except OSError as exc:
        sys.stderr.write(f"cannot start {argv[0]}: {exc.strerror or exc}\n")
        return 127
    # Let go of the MCP pipes: the server's end of them is then the only one, so the
    # sidecar sees EOF the moment the server dies, not when the guard notices.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    while True:
        try:
            code = child.wait(timeout=POLL)
        except subprocess.TimeoutExpired:
            if stop or os.getppid() != parent:
                return _take_down_group(child)
            continue
        return code if code >= 0 else 128 - code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
