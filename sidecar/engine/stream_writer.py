"""Writes streaming text to the store in batches, and final messages whose write failed.

One flusher writes the text of every stream with something new in one
transaction every FLUSH_INTERVAL, so a crash loses at most that window and a
fast stream costs a few writes a second, not one per delta. A final write that
failed (a full disk, a lock) keeps its message here, published and shown in
snapshots, and is tried again every SAVE_RETRY_INTERVAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from sidecar.ids import now_iso
from sidecar.store.errors import storage_problem

if TYPE_CHECKING:
    from sidecar.engine.turn_state import TurnState
    from sidecar.protocol.objects import Message, UsageRecord
    from sidecar.store.message_repo import MessageRepo

log = logging.getLogger("sidecar.turns")

FLUSH_INTERVAL = 0.25
SAVE_RETRY_INTERVAL = 1.0  # a final write that failed (full disk, lock) is tried again this often


class StreamWriter:
    def __init__(self, messages: MessageRepo) -> None:
        self._messages = messages
        self._streams: dict[str, TurnState] = {}  # message id -> its running turn
        self._flusher: asyncio.Task[None] | None = None
        self._flush_failing = False
        self.unsaved: dict[str, tuple[Message, list[UsageRecord]]] = {}
        """Final messages whose write failed: published, shown in snapshots, retried."""
        self._saver: asyncio.Task[None] | None = None

    # -- streaming text -----------------------------------------------------------------

    def watch(self, state: TurnState) -> None:
        """`state` streams: its text is written with the next batch (`state.unwritten`)
        until `forget`."""
        self._streams[state.message.id] = state
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop(), name="stream-flusher")

    def forget(self, state: TurnState) -> None:
        """Its final message is written (or kept in `unsaved`): no more batches."""
        self._streams.pop(state.message.id, None)

    async def _flush_loop(self) -> None:
        """Write every stream's new text in one transaction, at most every FLUSH_INTERVAL."""
        while self._streams:
            await asyncio.sleep(FLUSH_INTERVAL)
            batch = [s for s in self._streams.values() if s.unwritten]
            if not batch:
                continue
            now = now_iso()
            rows = []
            for state in batch:
                state.unwritten = False
                rows.append((state.text, state.thinking_text, state.status, now, state.message.id))
            try:
                await self._messages.flush_streams(rows)
            except Exception as exc:
                if not self._flush_failing:  # once per outage, not every 250 ms
                    problem = storage_problem(exc)
                    if problem is None:
                        log.exception("could not write streamed text; will retry")
                    else:
                        log.error("could not write streamed text: %s; will retry", problem)
                self._flush_failing = True
                for state in batch:
                    state.unwritten = True
            else:
                if self._flush_failing:
                    log.info("streamed text is being written again")
                self._flush_failing = False

    # -- final messages -----------------------------------------------------------------

    def keep(self, final: Message, records: list[UsageRecord]) -> None:
        """A final write failed: hold the message and retry until it is written."""
        self.unsaved[final.id] = (final, records)
        if self._saver is None or self._saver.done():
            self._saver = asyncio.create_task(self._save_loop(), name="unsaved-messages")

    def drop(self, conversation_id: str) -> None:
        """The conversation is being deleted: its unsaved messages are not written."""
        for message_id, (final, _) in list(self.unsaved.items()):
            if final.conversation_id == conversation_id:
                del self.unsaved[message_id]

    async def _save_loop(self) -> None:
        while self.unsaved:
            await asyncio.sleep(SAVE_RETRY_INTERVAL)
            await self._save_unsaved()

    async def _save_unsaved(self) -> None:
        """Write the final messages that could not be written when their turn ended."""
        for message_id, (final, records) in list(self.unsaved.items()):
            try:
                await self._messages.finish(final, records)
            except Exception as exc:
                if storage_problem(exc) is None:
                    log.exception("message %s cannot be saved", message_id)
                    del self.unsaved[message_id]
                return  # still failing: try again later
            del self.unsaved[message_id]
            log.info("message %s saved", message_id)

    async def close(self) -> None:
        """Shutdown (the turns have ended): stop both loops, try the unsaved once more."""
        for task in (self._flusher, self._saver):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._save_unsaved()  # a last try; else the next start marks them interrupted
