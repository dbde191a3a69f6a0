"""A small discrete-event kernel: an integer-picosecond clock, time buckets, events and processes.

The model is SimPy's (Müller & Vignaux, *SimPy* 4, ``simpy/core.py``) cut down to what the network
layer needs, and arranged so that the per-event path is a handful of C calls:

* **Entries are kept in buckets, one per due time**: a dict ``time_ps -> list of entries`` and a heap of
  the distinct times. Entries due at the same picosecond run first-in, first-out because they are
  appended in scheduling order; an entry scheduled for the time being run (``delay 0``, an event's
  waiters) is appended to the bucket being run, so it runs after everything already due then. The
  network's processes share a few periods (every link block, every network step), so most events
  cost a list append and one step of a list iteration instead of a heap push and pop. An event alone
  at its time costs a push and a pop of an ``int`` (cheaper to compare than SimPy's ``(time, priority,
  seq, event)``) plus a dict insert and delete: about what a heap of ``(time, seq, ...)`` entries costs.
* **An entry is** a :class:`Process` to resume with ``None`` (after a timeout: no object per step), a
  tuple ``(process, value_to_send)`` (after an event), or a list ``[callback, args, time_ps]`` (a
  scheduled callback, which is also its :data:`EventHandle`). A process step is written inline in
  :meth:`Kernel.run` (``generator.send(value)`` and one append for a timeout): no event object, no
  callback list, no Python-level call per step.
* **Cancelling is lazy.** :meth:`Kernel.cancel` swaps the callback of the handle for a no-op in place
  (a list, not a tuple, so that this is possible); the loop does the same to every callback it runs,
  so a handle whose callback is the no-op is over, and the step needs no "was it cancelled?" test.
* **Processes are generators** that yield what they wait for: a :class:`Timeout`, a bare ``int``
  (the same as ``Timeout(int)``, the shorthand for hot loops: no object per wait), an :class:`Event`,
  or another :class:`Process`. A :class:`Timeout` is a value, not a scheduled event, so a periodic
  process can create its ``Timeout(period_ps)`` once and yield it forever.
* **Events wake waiters through the buckets**, at the current time and after everything already due at
  that time, so that the order of wake-ups never depends on who called :meth:`Event.succeed`.
* **One random stream per process**, keyed by its unique name (:mod:`qinternet.sim.rng`), so that runs
  are reproducible bit for bit and adding a process leaves the other streams untouched.

:meth:`Kernel.run` with ``until_ps`` runs the events due strictly before ``until_ps`` and leaves the
clock at ``until_ps`` (SimPy's convention), so ``run(until_ps=a)`` then ``run(until_ps=b)`` is the same
as ``run(until_ps=b)``. It stops without a per-event test: a sentinel callback at the front of the
bucket of ``until_ps`` raises an internal exception when it is reached.

An exception raised by a callback or a process propagates out of :meth:`Kernel.run` unchanged; the
failed entry has been consumed, and a process that raised is finished (it cannot be resumed, and
whoever waits for it is never woken). Not (yet) provided, unlike SimPy: interrupts, failing events,
condition events (any-of / all-of) and resources; they can be added without touching the step.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator
from heapq import heapify, heappop, heappush
from types import GeneratorType
from typing import Any, Final, TypeAlias

import numpy as np

from qinternet.errors import ParameterError, QinternetError
from qinternet.sim.clock import as_ps
from qinternet.sim.rng import check_seed, name_key, stream_seed_sequence

__all__ = [
    "Event",
    "EventHandle",
    "Kernel",
    "Process",
    "ProcessGenerator",
    "SimulationError",
    "Timeout",
    "Waitable",
]

EventHandle: TypeAlias = list[Any]
"""A scheduled callback, as returned by :meth:`Kernel.schedule`. Opaque: pass it to :meth:`Kernel.cancel`
and read :attr:`Kernel.due_ps` of it, nothing else (it is the bucket entry itself, see the module docstring)."""


class SimulationError(QinternetError, RuntimeError):
    """The kernel was used in a way its state does not allow (an event triggered twice, ``run`` re-entered)."""


class Timeout:
    """What a process yields to sleep for ``delay_ps`` picoseconds.

    A plain slotted class rather than a frozen dataclass: processes create one per wait, and a frozen
    dataclass's ``__init__`` (``object.__setattr__``) would double the cost of a step. Yielding the bare
    ``int`` is equivalent and cheaper still.

    Raises:
        ParameterError: ``delay_ps`` is negative or not an integer.
    """

    __slots__ = ("delay_ps",)

    def __init__(self, delay_ps: int) -> None:
        if delay_ps.__class__ is not int or delay_ps < 0:
            delay_ps = as_ps("delay_ps", delay_ps)
        self.delay_ps: Final = delay_ps

    def __repr__(self) -> str:
        return f"Timeout(delay_ps={self.delay_ps})"


class Event:
    """Something that happens once, with a value; processes ``yield`` it to wait for it.

    Waiters (processes, and callbacks added with :meth:`add_callback`) are woken through the kernel at
    the time of :meth:`succeed`, in the order they started waiting, after the entries already due then.
    """

    __slots__ = ("_triggered", "_value", "_waiters", "kernel")

    def __init__(self, kernel: Kernel) -> None:
        self.kernel: Final = kernel
        self._waiters: list[Process | Callable[[Any], object]] = []
        self._value: Any = None
        self._triggered = False

    @property
    def triggered(self) -> bool:
        """Whether :meth:`succeed` has been called."""
        return self._triggered

    @property
    def value(self) -> Any:
        """The value given to :meth:`succeed`.

        Raises:
            SimulationError: the event has not been triggered yet.
        """
        if not self._triggered:
            raise SimulationError(f"{self!r} has no value yet")
        return self._value

    def succeed(self, value: Any = None) -> None:
        """Trigger the event with ``value``; every waiter is resumed with it at the current time.

        Raises:
            SimulationError: the event was already triggered.
        """
        if self._triggered:
            raise SimulationError(f"{self!r} was already triggered")
        self._triggered = True
        self._value = value
        kernel = self.kernel
        now_ps, args = kernel.now_ps, (value,)
        for waiter in self._waiters:
            # A process's entry carries the value to send; a callback's, its argument tuple.
            kernel._push(now_ps, (waiter, value) if waiter.__class__ is Process else [waiter, args, now_ps])
        self._waiters.clear()

    def add_callback(self, callback: Callable[[Any], object]) -> None:
        """Call ``callback(value)`` when the event is triggered (at once, through the kernel, if it was)."""
        if self._triggered:
            self.kernel.schedule(0, callback, self._value)
        else:
            self._waiters.append(callback)

    def __repr__(self) -> str:
        state = f"value={self._value!r}" if self._triggered else "pending"
        return f"<{type(self).__name__} {state}>"


Waitable: TypeAlias = Timeout | int | Event
"""What a process may yield: a :class:`Timeout`, a delay in picoseconds, an :class:`Event` or a
:class:`Process`."""

ProcessGenerator: TypeAlias = Generator[Waitable, Any, Any]
"""The generator a process runs: it yields :data:`Waitable` objects and receives their values (``None``
for a timeout, the event's value, the other process's return value); what it returns becomes the
process's own value."""


class Process(Event):
    """A named generator driven by the kernel; an :class:`Event` that succeeds with its return value.

    Create processes with :meth:`Kernel.process`. The kernel's loop steps processes inline (a process's
    entry is the process itself, or ``(process, value_to_send)``), so this class has no per-step method.

    Attributes:
        name: unique within the kernel; keys the random stream.
        rng: the process's own ``numpy.random.Generator`` (``kernel.rng_for(name)``).
    """

    __slots__ = ("_generator", "_send", "name", "rng")

    def __init__(self, kernel: Kernel, name: str, rng: np.random.Generator) -> None:
        super().__init__(kernel)
        self.name: Final = name
        self.rng: Final = rng
        # Set by Kernel.process once the generator function has returned (it needs this object first).
        self._generator: ProcessGenerator
        self._send: Callable[[Any], Waitable]

    @property
    def alive(self) -> bool:
        """Whether the generator has neither returned nor raised."""
        return not self._triggered

    def _finish(self, value: Any) -> None:
        self.succeed(value)

    def _crash(self) -> None:
        """The generator raised: the process is over, and its waiters are never woken (``run`` raises)."""
        self._triggered = True
        self._waiters.clear()

    def _wait_for(self, target: object) -> None:
        """The slow path of a step: events, processes, numpy integers, and wrong yields.

        A wrong yield is thrown back into the generator as a :class:`ParameterError`, so that the
        traceback points at the ``yield``; if the generator catches it, what it yields next is used.
        """
        kernel = self.kernel
        while True:
            if isinstance(target, Event):
                if target is self:
                    error = ParameterError(f"process {self.name!r}", "cannot wait for itself")
                elif target._triggered:
                    kernel._push(kernel.now_ps, (self, target._value))
                    return
                else:
                    target._waiters.append(self)
                    return
            else:
                try:
                    delay_ps = as_ps(f"process {self.name!r} yield", target)
                except ParameterError as exc:
                    error = exc
                else:
                    kernel._push(kernel.now_ps + delay_ps, self)
                    return
            try:
                target = self._generator.throw(error)
            except StopIteration as stop:
                self._finish(stop.value)
                return
            except BaseException:
                self._crash()
                raise

    def __repr__(self) -> str:
        state = f"value={self._value!r}" if self._triggered else "alive"
        return f"<Process {self.name!r} {state}>"


class _UntilReachedError(Exception):
    """Raised by the ``until_ps`` sentinel to leave :meth:`Kernel.run`'s loop."""


def _stop_run() -> None:
    raise _UntilReachedError


def _cancelled(*_args: object) -> None:
    """What a cancelled (or already run) callback entry calls: nothing."""


_Entry: TypeAlias = Any
"""A bucket entry: a :class:`Process` (resume with ``None``), ``(process, value)``, or an :data:`EventHandle`."""


class Kernel:
    """The discrete-event kernel: a clock in integer picoseconds, buckets of due entries, and processes.

    Args:
        seed: non-negative integer from which every process's random stream is derived.
        pause_gc: pause Python's cyclic garbage collector while :meth:`run` runs. The loop makes no
            reference cycles (its entries, lists and tuples are freed by reference counting as soon as
            they run), so the collector's periodic passes over every live object are pure overhead there:
            ~10-20 % of the loop's time, measured on the benchmark of ``benchmarks/sim_kernel.py``. Cycles a
            process makes are collected after :meth:`run` returns. Set False for a long run whose
            processes make much cyclic garbage.

    Attributes:
        seed: the seed.
        now_ps: the current time in picoseconds (0 at construction); only :meth:`run` advances it.

    Example: a link that delivers a key block every 2 µs, for 5 µs.

    >>> kernel = Kernel(seed=1)
    >>> delivered = []
    >>> def link(proc):
    ...     while True:
    ...         yield Timeout(2_000_000)
    ...         delivered.append((proc.kernel.now_ps, int(proc.rng.integers(0, 2, 8).sum())))
    >>> _ = kernel.process(link, "link:A-B")
    >>> kernel.run(until_ps=5_000_000)
    >>> [t for t, _ in delivered], kernel.now_ps
    ([2000000, 4000000], 5000000)
    """

    __slots__ = ("_buckets", "_names", "_pause_gc", "_running", "_times", "now_ps", "seed")

    def __init__(self, seed: int, *, pause_gc: bool = True) -> None:
        self.seed: Final = check_seed(seed)
        self._pause_gc = pause_gc
        self.now_ps = 0
        self._times: list[int] = []  # heap of the distinct times that have a bucket
        self._buckets: dict[int, list[_Entry]] = {}  # time_ps -> entries due then, in scheduling order
        self._names: dict[int, str] = {}  # name key -> name, to refuse duplicates (and key collisions)
        self._running = False

    # -- scheduling -----------------------------------------------------------------------------------

    def schedule(self, delay_ps: int, callback: Callable[..., object], *args: Any) -> EventHandle:
        """Call ``callback(*args)`` ``delay_ps`` picoseconds from now.

        Entries due at the same time run in the order they were scheduled. ``delay_ps=0`` runs after
        everything already due now.

        Returns:
            A handle for :meth:`cancel`.

        Raises:
            ParameterError: ``delay_ps`` is negative or not an integer.
        """
        if delay_ps.__class__ is not int or delay_ps < 0:
            delay_ps = as_ps("delay_ps", delay_ps)
        time_ps = self.now_ps + delay_ps
        entry = [callback, args, time_ps]
        buckets = self._buckets
        bucket = buckets.get(time_ps)
        if bucket is None:
            buckets[time_ps] = [entry]
            heappush(self._times, time_ps)
        else:
            bucket.append(entry)
        return entry

    def schedule_at(self, time_ps: int, callback: Callable[..., object], *args: Any) -> EventHandle:
        """Call ``callback(*args)`` at the absolute time ``time_ps``.

        Periodic activities should compute ``start_ps + k * period_ps`` and schedule at it, so that the
        k-th occurrence is exact however the period was rounded.

        Raises:
            ParameterError: ``time_ps`` is before :attr:`now_ps` or not an integer.
        """
        time_ps = self._check_not_past(time_ps)
        entry = [callback, args, time_ps]
        self._push(time_ps, entry)
        return entry

    def cancel(self, handle: EventHandle) -> bool:
        """Cancel a scheduled callback.

        Returns:
            True if it was pending and will now not run; False if it already ran (or is running) or was
            already cancelled.
        """
        if handle[0] is _cancelled:  # run() puts the no-op into every callback entry it runs
            return False
        handle[0] = _cancelled
        handle[1] = ()
        return True

    @staticmethod
    def due_ps(handle: EventHandle) -> int:
        """The time at which the callback of ``handle`` is (or was) due."""
        return int(handle[2])

    def timeout_at(self, time_ps: int) -> Timeout:
        """A :class:`Timeout` that ends at the absolute time ``time_ps`` (e.g. the start of a satellite pass).

        Raises:
            ParameterError: ``time_ps`` is in the past.
        """
        return Timeout(self._check_not_past(time_ps) - self.now_ps)

    def event(self) -> Event:
        """A new, pending :class:`Event`."""
        return Event(self)

    def _check_not_past(self, time_ps: int) -> int:
        if time_ps.__class__ is not int or time_ps < 0:
            time_ps = as_ps("time_ps", time_ps)
        if time_ps < self.now_ps:
            raise ParameterError("time_ps", f"{time_ps} is in the past (now_ps = {self.now_ps})")
        return time_ps

    def _push(self, time_ps: int, entry: _Entry) -> None:
        """Append ``entry`` to the bucket of ``time_ps`` (the bucket being run, if ``time_ps`` is now)."""
        bucket = self._buckets.get(time_ps)
        if bucket is None:
            self._buckets[time_ps] = [entry]
            heappush(self._times, time_ps)
        else:
            bucket.append(entry)

    # -- processes and randomness ---------------------------------------------------------------------

    def rng_for(self, name: str) -> np.random.Generator:
        """A fresh ``numpy.random.Generator`` for the stream ``name``: the same numbers for the same
        ``(seed, name)`` in every run, independent of every other name (see :mod:`qinternet.sim.rng`).

        Each call starts the stream from its beginning; a process gets its generator once, as
        :attr:`Process.rng`.
        """
        return np.random.Generator(np.random.PCG64(stream_seed_sequence(self.seed, name)))

    def process(self, generator_function: Callable[[Process], ProcessGenerator], name: str) -> Process:
        """Start ``generator_function(process)`` as the process ``name``; its first step runs at the
        current time, after the entries already due now.

        The function receives its :class:`Process` (for ``.rng``, ``.name`` and ``.kernel``); bind any
        other parameters with a closure or ``functools.partial``.

        Raises:
            ParameterError: ``name`` is empty or already used, or the function did not return a generator.
        """
        key = name_key(name)
        if key in self._names:
            raise ParameterError("name", f"a process named {name!r} already exists (names key the random streams)")
        process = Process(self, name, self.rng_for(name))
        generator = generator_function(process)
        if not isinstance(generator, GeneratorType):
            raise ParameterError(
                "generator_function", f"must return a generator (a function with yield), got {generator!r}"
            )
        process._generator = generator
        process._send = generator.send
        self._names[key] = name
        self._push(self.now_ps, process)
        return process

    # -- running --------------------------------------------------------------------------------------

    def peek_ps(self) -> int | None:
        """The time of the next bucket (cancelled entries included), or None if nothing is scheduled."""
        return self._times[0] if self._times else None

    def run(self, until_ps: int | None = None) -> None:
        """Run the entries in (time, scheduling order) until none is left or ``until_ps``.

        With ``until_ps``, entries due strictly before it run, and the clock ends at ``until_ps`` even if
        nothing is due then.

        Raises:
            ParameterError: ``until_ps`` is before :attr:`now_ps` (the clock never runs backwards).
            SimulationError: called from inside a callback or process.
        """
        if self._running:
            raise SimulationError("Kernel.run was called while the kernel is running")
        sentinel: EventHandle | None = None
        if until_ps is not None:
            until_ps = as_ps("until_ps", until_ps)
            if until_ps < self.now_ps:
                raise ParameterError("until_ps", f"{until_ps} is before now_ps = {self.now_ps}")
            sentinel = [_stop_run, (), until_ps]
            self._push(until_ps, sentinel)
            bucket = self._buckets[until_ps]
            bucket.insert(0, bucket.pop())  # before every entry due then
        self._running = True
        collecting = gc.isenabled()
        if self._pause_gc:
            gc.disable()
        try:
            self._loop()
        except _UntilReachedError:
            pass
        finally:
            self._running = False
            if collecting:
                gc.enable()
            if sentinel is not None and sentinel[0] is _stop_run:  # not reached: the loop ended by an exception
                self._drop_front(sentinel[2])

    def _loop(self) -> None:
        """Run buckets until none is left: the body of :meth:`run`, written for speed.

        The bucket being run stays in ``_buckets`` until it is done, so that entries due now are appended
        to it and run in this pass; its time is off ``_times`` meanwhile. If an entry raises, the entries
        after it are kept for the next :meth:`run` (the one that raised has been consumed).

        ``last`` is the bucket (of ``last_ps``) that a process of this bucket last joined: processes
        that woke together with a common period sleep until the same time, so after the first of them
        the others join it with an ``int`` comparison instead of a dict look-up. It is reset for every
        bucket, so it never outlives its bucket (buckets are only deleted when they have run).
        """
        times, buckets = self._times, self._buckets
        get, push, pop = buckets.get, heappush, heappop
        process_class, timeout_class = Process, Timeout
        while times:
            now_ps = pop(times)
            self.now_ps = now_ps
            bucket = buckets[now_ps]
            last_ps, last = now_ps, bucket
            try:
                for entry in bucket:
                    cls = entry.__class__
                    if cls is process_class:  # a process after a timeout
                        target, arg = entry, None
                    elif cls is tuple:  # a process after an event
                        target, arg = entry
                    else:  # a callback (or the until_ps sentinel): mark it run, then call it
                        callback, args, _ = entry
                        entry[0] = _cancelled
                        callback(*args)
                        continue
                    # A process step, inline: the hot path of every simulation, so no method call.
                    try:
                        waited: Any = target._send(arg)  # Any: narrowed below by exact class, for speed
                    except StopIteration as stop:
                        target._finish(stop.value)
                        continue
                    except BaseException:
                        target._crash()
                        raise
                    cls = waited.__class__
                    if cls is timeout_class:
                        due_ps = now_ps + waited.delay_ps
                    elif cls is int and waited >= 0:
                        due_ps = now_ps + waited
                    else:
                        target._wait_for(waited)
                        continue
                    if due_ps == last_ps:
                        last.append(target)
                        continue
                    later = get(due_ps)
                    if later is None:
                        buckets[due_ps] = [target]
                        push(times, due_ps)
                    else:
                        later.append(target)
                        last_ps, last = due_ps, later
            except BaseException:
                self._keep_after(bucket, entry)
                raise
            del buckets[now_ps]

    def _keep_after(self, bucket: list[_Entry], failed: _Entry) -> None:
        """After ``failed`` raised: keep the entries after it in ``bucket`` (of :attr:`now_ps`), for later.

        ``failed`` is the last entry of the bucket that is ``failed``: a process is pending in one place
        at most, and not while it runs; handles and ``(process, value)`` tuples are new objects.
        """
        index = len(bucket) - 1
        while bucket[index] is not failed:
            index -= 1
        del bucket[: index + 1]
        if bucket:
            heappush(self._times, self.now_ps)
        else:
            del self._buckets[self.now_ps]

    def _drop_front(self, time_ps: int) -> None:
        """Remove the first entry of the bucket of ``time_ps`` (an unreached sentinel), and the bucket if empty."""
        bucket = self._buckets[time_ps]
        del bucket[0]
        if not bucket:
            del self._buckets[time_ps]
            times = self._times
            times.remove(time_ps)  # ints: remove compares by value, and each time is in the heap once
            heapify(times)
