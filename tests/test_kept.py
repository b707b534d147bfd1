"""`Kept`: a database read kept until its source is written, never a read a write overtook."""

from __future__ import annotations

import asyncio

from sidecar.store.kept import Kept


async def test_a_read_is_kept_until_the_next_write() -> None:
    kept: Kept[int] = Kept()
    reads = []

    async def read() -> int:
        reads.append(1)
        return len(reads)

    assert [await kept.get(read), await kept.get(read)] == [1, 1]
    kept.changed()
    assert [await kept.get(read), await kept.get(read)] == [2, 2]
    assert kept.version == 1


async def test_a_read_that_a_write_overtook_is_returned_but_not_kept() -> None:
    kept: Kept[str] = Kept()
    reading, written = asyncio.Event(), asyncio.Event()

    async def slow_read() -> str:
        reading.set()
        await written.wait()  # the write lands while this read is on its way
        return "old"

    task = asyncio.create_task(kept.get(slow_read))
    await reading.wait()
    kept.changed()
    written.set()
    assert await task == "old"

    async def read() -> str:
        return "new"

    assert await kept.get(read) == "new"
