"""Group commit for the key store: one thread runs the KMEs' issue and deliver requests in batches.

The event loop hands every ``enc_keys`` / ``dec_keys`` request of a store to :class:`KeyStoreWriter`, which
runs them on one database connection, in one thread: it takes whatever requests are queued (up to
``max_batch``), runs them in *one* transaction, each inside a ``SAVEPOINT`` of its own, and commits once
(one fsync on SQLite with ``synchronous=FULL``, one WAL flush on PostgreSQL). Only then are the results
handed back to the awaiting requests. So:

- **all or nothing per request**: a request that fails (:class:`~.store.NotEnoughKeyError`,
  :class:`~.store.KeyNotAvailableError`, any other error inside it) is rolled back to its savepoint and
  gets its error; the batch's other requests go on;
- **no key leaves before its commit**: a crash before the ``COMMIT`` loses the whole batch and nobody saw
  a key of it; a failed commit fails every request of the batch (the database error, a 503);
- the requests of one store never wait for each other's locks (one writer; SQLite takes its write lock
  once per batch, with ``BEGIN IMMEDIATE``), and the commit cost is shared by the batch.

The operations are the store's own (:meth:`~.store.KeyStore.issue_in`, :meth:`~.store.KeyStore.deliver_in`):
the same SQL, relay and encryption at rest as :meth:`~.store.KeyStore.issue` and
:meth:`~.store.KeyStore.deliver`, which other processes may run concurrently on the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qinternet.kms.store import DeliveredKey, KeyStore

__all__ = ["KeyStoreWriter"]

logger = logging.getLogger("qinternet.kms")

MAX_BATCH = 256
"""Most requests in one transaction (a batch is whatever is queued, up to this)."""

_Work = Callable[[Any], list[DeliveredKey]]


@dataclass(frozen=True, slots=True)
class _Request:
    work: _Work
    future: asyncio.Future[list[DeliveredKey]]
    loop: asyncio.AbstractEventLoop


@dataclass(frozen=True, slots=True)
class _Outcome:
    keys: list[DeliveredKey] | None
    error: BaseException | None


class KeyStoreWriter:
    """Issue and deliver keys of ``store`` through one thread that commits batches (module docstring).

    Usually reached as :meth:`KeyStore.writer() <qinternet.kms.store.KeyStore.writer>` (one per store).
    Awaitable from any event loop; :meth:`close` runs what is queued, then stops the thread.
    """

    def __init__(self, store: KeyStore, *, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._store = store
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self.batches = 0
        """Transactions committed or tried so far."""
        self.requests = 0
        """Requests run so far."""
        self._thread = threading.Thread(target=self._run, name="kms-writer", daemon=True)
        self._thread.start()

    async def issue(
        self,
        *,
        master_kme: str,
        master_sae: str,
        slaves: Sequence[tuple[str, Sequence[str]]],
        number: int,
        size_bits: int,
    ) -> list[DeliveredKey]:
        """:meth:`KeyStore.issue <qinternet.kms.store.KeyStore.issue>`, answered once its batch is committed."""
        work = functools.partial(
            self._store.issue_in,
            master_kme=master_kme,
            master_sae=master_sae,
            slaves=slaves,
            number=number,
            size_bits=size_bits,
        )
        return await self._submit(work)

    async def deliver(
        self, *, kme_id: str, slave_sae: str, master_sae: str, key_ids: Sequence[str]
    ) -> list[DeliveredKey]:
        """:meth:`KeyStore.deliver <qinternet.kms.store.KeyStore.deliver>`, answered once its batch is committed."""
        work = functools.partial(
            self._store.deliver_in, kme_id=kme_id, slave_sae=slave_sae, master_sae=master_sae, key_ids=key_ids
        )
        return await self._submit(work)

    async def _submit(self, work: _Work) -> list[DeliveredKey]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[DeliveredKey]] = loop.create_future()
        with self._close_lock:
            if self._closed:
                raise RuntimeError("the key store's writer is closed")
            self._queue.put(_Request(work, future, loop))
        return await future

    def close(self) -> None:
        """Run the requests already queued, then stop the thread and give its connection back."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    # -- the writer thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._next_batch()
            if batch:
                self._release(batch, self._outcomes(batch))
                self.batches += 1
                self.requests += len(batch)

    def _outcomes(self, batch: list[_Request]) -> list[_Outcome]:
        """Run a batch on a connection of the engine's pool (so that ``engine.dispose()`` reaches us too)."""
        try:
            connection = self._store.raw_connection()
        except Exception as exc:  # the database is unreachable: every request of the batch gets a 503
            return [self._failure(exc) for _ in batch]
        try:
            return self._commit(connection, batch)
        except Exception as exc:  # the transaction failed as a whole: nothing of it was committed
            logger.warning("key store batch of %d requests failed: %s", len(batch), type(exc).__name__)
            with contextlib.suppress(Exception):
                connection.invalidate()  # the next batch gets a fresh connection
            return [self._failure(exc) for _ in batch]
        finally:
            with contextlib.suppress(Exception):
                connection.close()  # back to the pool (or gone, if invalidated)

    def _next_batch(self) -> tuple[list[_Request], bool]:
        """The queued requests (waiting for the first), and whether :meth:`close` came after them."""
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, connection: Any, batch: list[_Request]) -> list[_Outcome]:
        """Run ``batch`` in one transaction, each request in a savepoint; commit; their outcomes."""
        outcomes: list[_Outcome] = []
        cursor = connection.cursor()
        try:
            self._store.begin(cursor)
            for request in batch:
                if request.future.cancelled():  # the caller left before we began: take nothing for it
                    outcomes.append(_Outcome(None, asyncio.CancelledError()))
                    continue
                cursor.execute("SAVEPOINT request")
                try:
                    outcomes.append(_Outcome(request.work(cursor), None))
                except Exception as exc:  # this request fails alone: undone, and its caller gets the error
                    cursor.execute("ROLLBACK TO SAVEPOINT request")
                    outcomes.append(self._failure(exc))
                cursor.execute("RELEASE SAVEPOINT request")
            connection.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                connection.rollback()
            raise
        finally:
            with contextlib.suppress(Exception):
                cursor.close()
        return outcomes

    def _failure(self, exc: Exception) -> _Outcome:
        return _Outcome(None, self._store.database_error(exc))

    @staticmethod
    def _release(batch: list[_Request], outcomes: list[_Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[list[DeliveredKey]], _Outcome]]] = {}
        for request, outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(request.loop, []).append((request.future, outcome))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits for these any more
                loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[list[DeliveredKey]], _Outcome]]) -> None:
    for future, outcome in settled:
        if future.done():  # cancelled: a key issued for it is reserved and never handed out (wasted)
            continue
        if outcome.error is not None:
            future.set_exception(outcome.error)
        else:
            assert outcome.keys is not None
            future.set_result(outcome.keys)
