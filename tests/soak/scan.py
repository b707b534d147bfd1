"""Secrets: the run's token and API keys, searched for in every byte the run produced.

Sources: every frame a soak client received (scanned as it arrived), each sidecar's
stderr log and its stdout past the ready line (where the token must be: that line is
how the app learns it), and every file the sidecars wrote (databases with their WAL
and shared memory, loop stats, attachments) except the key store itself, whose files
must be readable by their owner only.
"""

from __future__ import annotations

import stat
from typing import Any

from tests.soak.common import Run


def scan_run(run: Run) -> dict[str, Any]:
    scanner = run.scanner
    for sidecar in run.sidecars:
        if sidecar.proc.poll() is None:  # a phase that failed may have left one running
            sidecar.kill()
        assert sidecar.proc.stdout is not None
        scanner.scan("stdoutAfterReadyLine", sidecar.proc.stdout.read() or b"")
    key_files = 0
    not_private = 0
    for path in sorted(p for p in run.root.rglob("*") if p.is_file()):
        if path.name.endswith(".keys"):
            key_files += 1
            not_private += int(stat.S_IMODE(path.stat().st_mode) != 0o600)
            continue
        if path.name.startswith("stderr-"):
            source = "stderr"
        elif ".db" in path.name:
            source = "database"
        else:
            source = "otherFiles"
        scanner.scan(source, path.read_bytes())
    return {
        "secretsSearchedFor": len(scanner.needles),
        "bytesSearched": dict(scanner.bytes),
        "keyFiles": key_files,
        "mustBeZero": {
            **{f"hitsIn{k[0].upper()}{k[1:]}": scanner.hits[k] for k in sorted(scanner.bytes)},
            "keyFilesNotPrivate": not_private,
        },
    }
