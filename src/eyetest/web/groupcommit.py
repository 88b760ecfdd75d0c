"""Group commit of judgments on SQLite.

Every committed SQLite transaction costs one fsync of the WAL (``synchronous
= FULL``), a few milliseconds on ordinary disks, which would cap a server at a
few hundred judgments per second.  :class:`GroupCommit` queues the judgments
that arrive while a transaction is being written and stores them together in
the next one (:meth:`eyetest.study.service.StudyService.record_batch`): one
fsync per batch, and each request is answered only after the commit that holds
its judgment.  Under light load a batch is a single judgment, so latency is
unchanged; under heavy load the batch grows with the queue.  Batches run in the
process's single writer thread, so SQLite writers never spin on the lock.
"""

from __future__ import annotations

import asyncio

MAX_BATCH = 256


class GroupCommit:
    """Queue of pending judgments, written in batches by one writer thread."""

    def __init__(self, service, executor, *, max_batch: int = MAX_BATCH):
        self.service, self.executor, self.max_batch = service, executor, max_batch
        self._pending: list = []
        self._task: asyncio.Task | None = None

    async def submit(self, **item):
        """``(receipt, created)`` once the judgment is committed (or the error it raised)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        result = await future
        if isinstance(result, BaseException):
            raise result
        return result

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            try:
                results = await loop.run_in_executor(self.executor, self.service.record_batch,
                                                     [item for item, _ in batch])
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)
