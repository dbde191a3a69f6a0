"""Group commit for the key store: writer threads run the KMEs' issue and deliver requests in batches.

The event loop hands every ``enc_keys`` / ``dec_keys`` request of a store to :class:`KeyStoreWriter`. A
writer thread (a *lane*: one on SQLite; on PostgreSQL one for issues and one for deliveries) takes
whatever requests are queued (up to ``max_batch``), runs them on its database connection in *one*
transaction, inserts the rows they add (reserved keys, ledger events) in one ``executemany`` per table,
and commits once (one fsync on SQLite with ``synchronous=FULL``, one WAL flush on PostgreSQL). The batch
runs without savepoints (on PostgreSQL each is a round trip): a request the store refuses is answered,
and the batch rolled back and run again without it; after other failures, or several refusals, it runs
with a ``SAVEPOINT`` per request (:meth:`KeyStoreWriter._commit`). Only after the commit are the results
handed back to the awaiting requests. So:

- **all or nothing per request**: a request that fails (:class:`~.store.NotEnoughKeyError`,
  :class:`~.store.KeyNotAvailableError`, any other error inside it) is rolled back to its savepoint and
  gets its error; the batch's other requests go on;
- **no key leaves before its commit**: a crash before the ``COMMIT`` loses the whole batch and nobody saw
  a key of it; a failed commit fails every request of the batch (the database error, a 503);
- the requests of one lane never wait for each other's locks (SQLite takes its write lock once per batch,
  with ``BEGIN IMMEDIATE``; PostgreSQL's two lanes touch different rows), and the commit cost is shared
  by the batch.

An issue whose slaves are routed by a function (the KMEs' widest path, :mod:`qinternet.network.routing`)
chooses each key's path when it runs in its batch, from the pools' levels less what the batch's earlier
requests took (:class:`~.store.Writes`), so that the path holds the key at the take and one batch's
requests spread over the paths as the widest one runs down; the levels in memory count a batch's takes
once it is committed (:meth:`~.store.KeyStore.settle`).

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
from typing import Any, TypeVar

from qinternet.errors import QinternetError
from qinternet.kms.store import DeliveredKey, KeyStore, Route, Writes

__all__ = ["KeyStoreWriter"]

logger = logging.getLogger("qinternet.kms")

MAX_BATCH = 256
"""Most requests in one transaction (a batch is whatever is queued, up to this)."""
OPTIMISTIC_TRIES = 4
"""Runs of a batch without savepoints, each after one more refused request, before it runs with them."""

_Work = Callable[[Any, Writes], Any]
"""A request: run on a cursor, adding the rows it inserts at the end to the :class:`~.store.Writes`; its
result (keys, for issue and deliver) goes to its caller after the commit."""
_T = TypeVar("_T")


def _keywords(work: Callable[..., list[DeliveredKey]], cursor: Any, writes: Writes) -> list[DeliveredKey]:
    return work(cursor, writes=writes)


class _RequestFailedError(Exception):
    """The request at ``index`` of a batch run without savepoints failed (its error is the ``__cause__``)."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


@dataclass(frozen=True, slots=True)
class _Request:
    work: _Work
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


@dataclass(frozen=True, slots=True)
class _Outcome:
    keys: Any
    error: BaseException | None


class KeyStoreWriter:
    """Issue and deliver keys of ``store`` through writer threads that commit batches (module docstring).

    Usually reached as :meth:`KeyStore.writer() <qinternet.kms.store.KeyStore.writer>` (one per store).
    Awaitable from any event loop; :meth:`close` runs what is queued, then stops the threads.

    Args:
        store: the key store.
        max_batch: most requests in one transaction.
        lanes: writer threads, each with its own queue and connection: ``1`` (issue and deliver share
            one) or ``2`` (issues in one, deliveries in the other, committing side by side). Default: 1
            on SQLite, which lets one writer at a time in anyway; 2 on a server database, where a batch
            waits mostly for round trips and the two kinds of request touch different rows (an issue
            takes from pools and inserts reserved keys; a delivery updates keys committed earlier).
    """

    def __init__(self, store: KeyStore, *, max_batch: int = MAX_BATCH, lanes: int | None = None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if lanes is None:
            lanes = 1 if store.engine.dialect.name == "sqlite" else 2
        if lanes not in (1, 2):
            raise ValueError("lanes must be 1 or 2")
        self._store = store
        self._max_batch = max_batch
        self._closed = False
        self._close_lock = threading.Lock()
        self._lanes = [_Lane(self, i) for i in range(lanes)]
        for lane in self._lanes:
            lane.thread.start()

    @property
    def batches(self) -> int:
        """Transactions committed or tried so far."""
        return sum(lane.batches for lane in self._lanes)

    @property
    def requests(self) -> int:
        """Requests run so far."""
        return sum(lane.requests for lane in self._lanes)

    async def issue(
        self,
        *,
        master_kme: str,
        master_sae: str,
        slaves: Sequence[tuple[str, Route]],
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
        keys: list[DeliveredKey] = await self._submit(self._lanes[0], functools.partial(_keywords, work))
        return keys

    async def deliver(
        self,
        *,
        kme_id: str,
        slave_sae: str,
        master_sae: str,
        key_ids: Sequence[str],
        ttl_s: float | None = None,
        redelivery_window_s: float = 0.0,
    ) -> list[DeliveredKey]:
        """:meth:`KeyStore.deliver <qinternet.kms.store.KeyStore.deliver>`, answered once its batch is committed."""
        work = functools.partial(
            self._store.deliver_in,
            kme_id=kme_id,
            slave_sae=slave_sae,
            master_sae=master_sae,
            key_ids=key_ids,
            ttl_s=ttl_s,
            redelivery_window_s=redelivery_window_s,
        )
        keys: list[DeliveredKey] = await self._submit(self._lanes[-1], functools.partial(_keywords, work))
        return keys

    async def run(self, work: Callable[[Any, Writes], _T]) -> _T:
        """Any other work of the store on a cursor (``work(cursor, writes)``, as :meth:`KeyStore.issue_in
        <qinternet.kms.store.KeyStore.issue_in>` is), in the issuing lane's batches, answered once its batch
        is committed: the ETSI GS QKD 004 key streams (:mod:`.streams`), which take from the pools as issues do.
        A :class:`~qinternet.errors.QinternetError` it raises undoes what it did and is its caller's answer."""
        result: _T = await self._submit(self._lanes[0], work)
        return result

    async def _submit(self, lane: _Lane, work: _Work) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._close_lock:
            if self._closed:
                raise RuntimeError("the key store's writer is closed")
            lane.queue.put(_Request(work, future, loop))
        return await future

    def close(self) -> None:
        """Run the requests already queued, then stop the threads and give their connections back."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            for lane in self._lanes:
                lane.queue.put(None)
        for lane in self._lanes:
            if threading.current_thread() is not lane.thread:
                lane.thread.join()

    # -- the writer threads ----------------------------------------------------------------------------

    def _run(self, lane: _Lane) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._next_batch(lane.queue)
            if batch:
                self._release(batch, self._outcomes(batch))
                lane.batches += 1
                lane.requests += len(batch)

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

    def _next_batch(self, requests: queue.SimpleQueue[_Request | None]) -> tuple[list[_Request], bool]:
        """The queued requests (waiting for the first), and whether :meth:`close` came after them."""
        first = requests.get()
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                item = requests.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, connection: Any, batch: list[_Request]) -> list[_Outcome]:
        """Run ``batch`` in one transaction and commit; the requests' outcomes.

        Without savepoints first (two round trips per request saved on PostgreSQL). A request the store
        refuses (not enough key, a key ID not available: :class:`~qinternet.errors.QinternetError`) keeps
        that answer, the transaction is rolled back and the batch runs again without it, up to
        :data:`OPTIMISTIC_TRIES` times; so one bad request costs its batch one more run, not a run with
        savepoints. Any other failure (a database error such as a deadlock) and the batch runs with a
        savepoint per request, so that only the failing requests are undone. Nothing of a try that was
        rolled back left this thread.
        """
        refused: dict[int, _Outcome] = {}
        for _ in range(OPTIMISTIC_TRIES):
            try:
                return self._run_batch(connection, batch, refused, savepoints=False)
            except _RequestFailedError as failed:
                if not isinstance(failed.__cause__, QinternetError):
                    break
                refused[failed.index] = self._failure(failed.__cause__)
        return self._run_batch(connection, batch, refused, savepoints=True)

    def _run_batch(
        self, connection: Any, batch: list[_Request], refused: dict[int, _Outcome], *, savepoints: bool
    ) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        writes = Writes()
        cursor = connection.cursor()
        try:
            self._store.begin(cursor)
            for index, request in enumerate(batch):
                if index in refused:  # refused in an earlier try, with the same requests before it
                    outcomes.append(refused[index])
                    continue
                if request.future.cancelled():  # the caller left before we began: take nothing for it
                    outcomes.append(_Outcome(None, asyncio.CancelledError()))
                    continue
                mine = Writes(earlier=writes)  # its routing sees what the batch took before it
                if savepoints:
                    cursor.execute("SAVEPOINT request")
                try:
                    keys = request.work(cursor, mine)
                except Exception as exc:  # this request fails alone: undone, and its caller gets the error
                    if not savepoints:
                        raise _RequestFailedError(index) from exc
                    cursor.execute("ROLLBACK TO SAVEPOINT request")
                    outcomes.append(self._failure(exc))
                else:
                    writes.extend(mine)
                    outcomes.append(_Outcome(keys, None))
                if savepoints:
                    cursor.execute("RELEASE SAVEPOINT request")
            self._store.write(cursor, writes)  # outside the requests' savepoints: an error here fails the batch
            connection.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                connection.rollback()
            raise
        finally:
            with contextlib.suppress(Exception):
                cursor.close()
        self._store.settle(writes)  # committed: the pools' levels in memory lose what the batch took
        return outcomes

    def _failure(self, exc: Exception) -> _Outcome:
        return _Outcome(None, self._store.database_error(exc))

    @staticmethod
    def _release(batch: list[_Request], outcomes: list[_Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], _Outcome]]] = {}
        for request, outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(request.loop, []).append((request.future, outcome))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits for these any more
                loop.call_soon_threadsafe(_settle, settled)


class _Lane:
    """A writer thread and its queue."""

    def __init__(self, writer: KeyStoreWriter, index: int) -> None:
        self.queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self.batches = 0
        self.requests = 0
        self.thread = threading.Thread(target=writer._run, args=(self,), name=f"kms-writer-{index}", daemon=True)


def _settle(settled: list[tuple[asyncio.Future[Any], _Outcome]]) -> None:
    for future, outcome in settled:
        if future.done():  # cancelled: a key issued for it is reserved and never handed out (wasted)
            continue
        if outcome.error is not None:
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome.keys)
