"""`sidecar import-legacy [--db app.db] [--data-dir DIR] [--dry-run] [--json]` (flags in cli.py).

Without `--db` it reads the old app's own `app.db` in its data folder; the
attachment files are the `attachments/` folder beside it.

Opens the sidecar's store directly (no sidecar needs to run) and refuses while
one has it open: a sidecar would not hear of the new rows, so its clients would
show stale lists. (The check takes SQLite's exclusive lock for a moment, which
fails while any other connection holds the database.) The history is written in
one WAL transaction, so a sidecar started meanwhile sees all of it or none.

A dry run imports into a copy of the store in a temporary folder and reports
what changed there: the same code path, so the counts are exact, and nothing
of the real data, its attachments folder or the key storage is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import platformdirs

from sidecar.bus import EventBus
from sidecar.engine import Engine
from sidecar.legacy import mcp_servers, plan, read
from sidecar.legacy.progress import Progress
from sidecar.legacy.read import LegacyError
from sidecar.store import Database, Repositories, StoreOpenError
from sidecar.store.keys import KeyStore

if TYPE_CHECKING:
    from sidecar.protocol.objects import Conversation
    from sidecar.store.conversation_repo import ConversationRepo

KINDS = (
    "conversations",
    "messages",
    "branches",
    "attachments",
    "attachmentFiles",
    "toolExecutions",
    "thinking",
    "usage",
    "systemPrompts",
    "providers",
    "apiKeys",
    "models",
    "preferences",
    "mcpServers",
)
APP_IDENTIFIER = "dev.michalmlak.ai_agent"


def default_db() -> Path:
    """Where the old app keeps its database: Tauri 1's app data dir, joined with app.db."""
    folder = platformdirs.user_data_dir(APP_IDENTIFIER, appauthor=False, roaming=True)
    return Path(folder) / "app.db"


@dataclass(slots=True)
class Report:
    source: str
    version: int
    target: str
    dry_run: bool
    found: dict[str, int]
    added: dict[str, int]
    skipped: dict[str, dict[str, int]]
    tables_left: dict[str, tuple[int, str]]
    continued: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "schemaVersion": self.version,
            "target": self.target,
            "dryRun": self.dry_run,
            "found": self.found,
            "added": self.added,
            "skipped": self.skipped,
            "tablesLeft": {t: {"rows": n, "why": why} for t, (n, why) in self.tables_left.items()},
            "continued": self.continued,
        }

    def text(self) -> str:
        verb = "would add" if self.dry_run else "added"
        head = f"import-legacy: {self.source} (schema {self.version}) -> {self.target}"
        lines = [head + (" (dry run: nothing written)" if self.dry_run else "")]
        lines.append(f"  {'kind':<16} {'in old app':>10} {verb:>10}")
        for kind in KINDS:
            lines.append(
                f"  {kind:<16} {self.found.get(kind, 0):>10} {self.added.get(kind, 0):>10}"
            )
        if self.continued:
            lines.append(f"  conversations the old app went on with: {self.continued} moved on")
        skipped = [(k, why, n) for k, reasons in self.skipped.items() for why, n in reasons.items()]
        if skipped:
            lines.append("  skipped:")
            lines += [f"    {kind}: {n} ({why})" for kind, why, n in skipped]
        if self.tables_left:
            lines.append("  tables left as they are:")
            lines += [f"    {t}: {n} rows ({why})" for t, (n, why) in self.tables_left.items()]
        return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, target: Path) -> int:
    """Import the old app's database into the store at `target`; LegacyError for a
    problem to print."""
    source: Path = args.db or default_db()
    if args.db is None and not source.is_file():
        raise LegacyError(f"the old app's database is not at {source}: pass its path with --db")
    if not args.dry_run:
        _refuse_if_open(target)
        _refuse_if_held(source)
    data = read.read(source)
    progress = Progress()
    progress.step(
        f"read {len(data.conversations)} conversations, {len(data.messages)} messages, "
        f"{len(data.attachments)} attachments, {len(data.usage)} usage rows",
        final=True,
    )
    files_dir = args.files_dir or source.resolve().parent / "attachments"
    if args.dry_run:
        with tempfile.TemporaryDirectory(prefix="sidecar-import-") as tmp:
            copy = Path(tmp) / target.name
            if target.exists():
                _snapshot(target, copy)
            added, skips = asyncio.run(
                _import(copy, target, data, files_dir, progress, dry_run=True)
            )
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        added, skips = asyncio.run(
            _import(target, target, data, files_dir, progress, dry_run=False)
        )
    progress.done()
    report = Report(
        source=str(source),
        version=data.version,
        target=str(target),
        dry_run=args.dry_run,
        found=_found(data),
        added={k: added.get(k, 0) for k in KINDS},
        skipped=skips.by_kind(),
        tables_left=data.left,
        continued=added.get("continued", 0),
    )
    sys.stdout.write(json.dumps(report.to_dict()) + "\n" if args.json else report.text())
    return 0


async def _import(
    path: Path,
    target: Path,
    data: read.LegacyData,
    files_dir: Path,
    progress: Progress,
    *,
    dry_run: bool,
) -> tuple[dict[str, int], plan.Skips]:
    """Import into the store at `path` (`target` itself, or a dry run's copy of it); the
    key storage and the attachments folder are always `target`'s (a dry run only reads)."""
    try:
        repos = Repositories.over(await Database.open(path))
    except StoreOpenError as exc:
        raise LegacyError(str(exc)) from None
    attachments_dir = target.parent / "attachments"
    # Nobody listens to this bus (an import is not a server): its events are not encoded.
    engine = Engine(repos, EventBus(lambda event: b"", 1), asyncio.Lock(), KeyStore(target))
    skips = plan.Skips()
    try:
        config = await plan.config(engine, data, skips)
        servers = await mcp_servers.plan(engine, data, skips)
        history = plan.history(data, files_dir=files_dir, planned=config, skips=skips)
        deleted = await repos.transfer.deleted_since_imported(
            history.conversations, history.messages
        )
        why = "deleted in the sidecar since an earlier import"
        skips.add("conversations", why, sum(1 for c in history.conversations if c.id in deleted))
        history.leave_out(deleted)
        stored: set[str] = set()  # messages an earlier import added
        earlier: dict[str, Conversation] = {}  # conversations an earlier import added
        for c in history.conversations:
            if (known := await repos.conversations.get(c.id)) is not None:
                earlier[c.id] = known
                stored |= {m.id for m in await repos.messages.in_conversation(c.id)}
        new = [m for m in history.messages if m.id not in stored]
        files = [(src, attachments_dir / ident) for src, ident in history.files]
        files = [(src, dst) for src, dst in files if not _same_file(src, dst)]
        if not dry_run:
            await asyncio.to_thread(_copy, files, progress)
        grown = {m.conversation_id for m in new}
        progress.step(f"writing {len(new)} new messages in one transaction", final=True)
        added = await repos.transfer.add_missing(
            system_prompts=history.system_prompts,
            conversations=history.conversations,
            messages=history.messages,
            branch_names=history.branch_names,
            usage=history.usage,
        )
        continued = await _follow_old_app(
            repos.conversations, history.conversations, earlier, grown
        )
        if not dry_run:
            await plan.apply_config(engine, config)
            await mcp_servers.apply(engine, servers)
    finally:
        await engine.close()
        await repos.database.close()
    return {
        **added,
        **config.counts(),
        "branches": added.get("branchNames", 0),
        "attachments": sum(len(m.attachments) for m in new),
        "attachmentFiles": len(files),
        "toolExecutions": sum(len(m.tool_calls) for m in new),
        "thinking": sum(1 for m in new if m.thinking),
        "continued": continued,
        "mcpServers": len(servers),
    }, skips


async def _follow_old_app(
    repo: ConversationRepo,
    conversations: list[Conversation],
    earlier: dict[str, Conversation],
    grown: set[str],
) -> int:
    """Conversations the old app went on with since an earlier import: show where it got
    to (its active leaf, and its title if the sidecar has none), unless the sidecar's
    own activity in them is newer. Without this, the new messages would be stored but
    hidden below a stale active leaf. Returns how many moved on."""
    moved = 0
    for c in conversations:
        before = earlier.get(c.id)
        if before is None or c.id not in grown or c.updated_at <= before.updated_at:
            continue
        changes: dict[str, Any] = {}
        if c.active_leaf_id is not None and c.active_leaf_id != before.active_leaf_id:
            changes["active_leaf_id"] = c.active_leaf_id
        if before.title is None and c.title is not None:
            changes |= {"title": c.title, "title_source": c.title_source}
        if changes:
            await repo.update(c.id, **changes)
            moved += 1
    return moved


def _found(data: read.LegacyData) -> dict[str, int]:
    main_ids = {f"main-{c.id}" for c in data.conversations}
    return {
        "conversations": len(data.conversations),
        "messages": len(data.messages),
        "branches": sum(1 for b in data.branches if b.name != "Main" and b.id not in main_ids),
        "attachments": len(data.attachments),
        "attachmentFiles": sum(
            1 for a in data.attachments if not (a.attachment_type or "").startswith("text/")
        ),
        "toolExecutions": len(data.tool_executions),
        "thinking": len({t.message_id for t in data.thinking}),
        "usage": len(data.usage),
        "systemPrompts": len(data.system_prompts),
        "providers": len(data.backends),
        "apiKeys": sum(1 for k in data.api_keys if k.key)
        + sum(1 for b in data.backends if b.api_key),
        "models": len(data.models),
        "preferences": len(data.preferences),
        "mcpServers": len(data.mcp_servers),
    }


def _refuse_if_open(target: Path) -> None:
    if not target.exists():
        return
    db = sqlite3.connect(target, timeout=0, isolation_level=None)
    try:
        db.execute("PRAGMA locking_mode = EXCLUSIVE")
        db.execute("BEGIN EXCLUSIVE")
        db.execute("ROLLBACK")
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise LegacyError(
                f"{target} is in use by a running sidecar: quit the app (or stop "
                "`sidecar serve`) and import again"
            ) from None
        # Anything else wrong with the file: opening the store reports it in one line.
    finally:
        db.close()


def _refuse_if_held(source: Path) -> None:
    """Refuse while another process (the old app) has the old database open: what it
    writes after the import would be left for the next run. Reading is safe either way
    (one read transaction), so a dry run goes ahead."""
    pids = holders(source)
    if pids:
        raise LegacyError(
            f"{source} is open in another program (pid {', '.join(map(str, pids))}), "
            "likely the old app: quit it and import again"
        )


def holders(path: Path) -> list[int]:
    """The processes other than this one that have `path` or its journal open. Read from
    Linux's /proc; elsewhere (no /proc) none are known, and the app must be quit first."""
    base = str(path.resolve())
    names = {base, base + "-journal", base + "-wal", base + "-shm"}
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        pid = int(fd_dir.parent.name)
        if pid == os.getpid():
            continue
        try:
            if any(os.readlink(fd) in names for fd in fd_dir.iterdir()):
                found.append(pid)
        except OSError:  # gone meanwhile, or another user's process
            continue
    return sorted(found)


def _snapshot(source: Path, copy: Path) -> None:
    """A consistent copy of a database that may be in use (SQLite's online backup)."""
    src = sqlite3.connect(f"file:{quote(str(source.resolve()))}?mode=ro", uri=True)
    dst = sqlite3.connect(copy)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _same_file(src: Path, dst: Path) -> bool:
    return dst.is_file() and dst.stat().st_size == src.stat().st_size


def _copy(files: list[tuple[Path, Path]], progress: Progress) -> None:
    for n, (src, dst) in enumerate(files, 1):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        progress.step(f"copied {n} of {len(files)} attachment files", final=n == len(files))
