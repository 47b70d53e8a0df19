"""The colony's single writer: queues write operations and commits them in batches.

Callers `await writer.write(op)`; it returns once the op is committed (or raises the
StorageError that stopped it). The writer waits `linger_s` after the first op of a
batch, then takes everything queued (up to `max_batch`) into one transaction: group
commit, trading a few milliseconds of latency for far fewer commits. If a batch fails,
its ops are retried one by one so that one bad op fails alone and the rest commit —
except the ops of the same chain queued after it (`submit(op, chain=...)`: one agent's
messages, in order), which fail with it unapplied, so that a later message is never
stored without an earlier one.

A full disk fails no op: the writer logs it once, says so in `failing` (for /healthz
and `coral colony status`), keeps the batch and retries it until space returns. Its
callers wait meanwhile, so no acknowledgement goes out and agents keep their backlog.
Nothing that goes wrong in one batch ends the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from coral_mcp.errors import StorageError, StorageFullError
from coral_mcp.storage.ops import WriteOp
from coral_mcp.storage.store import ColonyStore

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds between attempts to commit while the disk is full.
FULL_RETRY_S = 1.0


@dataclass(slots=True)
class _Item:
    op: WriteOp
    future: asyncio.Future[None]
    chain: str | None  # see Writer.submit
    settled: bool = False


class Writer:
    def __init__(self, store: ColonyStore, max_batch: int = 1000, linger_s: float = 0.02) -> None:
        self._store = store
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coral-writer")
        self._task: asyncio.Task[None] | None = None
        self._chained: dict[str, int] = {}  # per chain, its ops queued and not settled
        self._broken: set[str] = set()  # chains with a failed op among those
        #: Why storage fails right now ("no space"), or None while writes succeed.
        self.failing: str | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="coral-writer")

    async def write(self, op: WriteOp) -> None:
        await self.submit(op)

    def submit(self, op: WriteOp, chain: str | None = None) -> asyncio.Future[None]:
        """Queue `op` now; the future completes once it is committed. In a `chain`, `op`
        is applied only if every op of that chain queued before it was."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if chain is not None:
            self._chained[chain] = self._chained.get(chain, 0) + 1
        self._queue.put_nowait(_Item(op, future, chain))
        return future

    async def run(self, fn: Callable[[], T]) -> T:
        """Run `fn` in the writer thread, between batches (maintenance work)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is not None and not self._task.done():
            joined = asyncio.create_task(self._queue.join())
            while not joined.done() and self.failing is None:
                await asyncio.wait({joined}, timeout=FULL_RETRY_S)
            joined.cancel()  # a full disk: what is queued stays unacknowledged (resent)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._linger_s and self._queue.qsize() < self._max_batch:
                # Let concurrent writers join this transaction: one commit for many.
                await asyncio.sleep(self._linger_s)
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            except Exception:  # the writer outlives any one batch
                logger.exception("write of a batch failed unexpectedly")
                for item in batch:
                    self._settle(item, StorageError("write failed; see the colony log"))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _apply(self, items: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._store.apply, [item.op for item in items])

    async def _commit(self, batch: list[_Item]) -> None:
        pending = batch
        while pending := self._unbroken(pending):
            try:
                await self._apply(pending)
            except StorageFullError as exc:
                await self._wait_for_space(exc)
                continue
            except StorageError:
                if len(pending) == 1:
                    logger.exception("write failed")
                    self._settle(pending[0], StorageError("write failed; see the colony log"))
                    return
                pending = await self._isolate(pending)
                continue
            self._recovered()
            for item in pending:
                self._settle(item, None)
            return

    async def _isolate(self, batch: list[_Item]) -> list[_Item]:
        """Commit ops one by one so the op that broke the batch fails alone; what is
        left when the disk fills up meanwhile."""
        for i, item in enumerate(batch):
            if not self._unbroken([item]):
                continue
            try:
                await self._apply([item])
            except StorageFullError as exc:
                await self._wait_for_space(exc)
                return batch[i:]
            except StorageError as exc:
                logger.exception("write of %s failed", type(item.op).__name__)
                self._settle(item, exc)
            else:
                self._recovered()
                self._settle(item, None)
        return []

    def _unbroken(self, items: list[_Item]) -> list[_Item]:
        """`items` but those of a chain an earlier op of which failed: those fail too."""
        kept = []
        for item in items:
            if item.chain in self._broken:
                self._settle(item, StorageError("not stored: an earlier message of it was not"))
            else:
                kept.append(item)
        return kept

    def _settle(self, item: _Item, exc: BaseException | None) -> None:
        if item.settled:
            return
        item.settled = True
        _settle(item.future, exc)
        chain = item.chain
        if chain is None:
            return
        if exc is not None:
            self._broken.add(chain)
        self._chained[chain] -= 1
        if not self._chained[chain]:  # nothing of the chain queued: a fresh start
            del self._chained[chain]
            self._broken.discard(chain)

    async def _wait_for_space(self, exc: StorageFullError) -> None:
        if self.failing is None:
            logger.error("storage failing: %s; holding writes until space returns", exc)
            self.failing = "no space"
        await asyncio.sleep(FULL_RETRY_S)

    def _recovered(self) -> None:
        if self.failing is not None:
            logger.warning("storage recovered: writes commit again")
            self.failing = None


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
