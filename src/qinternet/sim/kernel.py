"""A small discrete-event kernel: an integer-picosecond clock, time buckets, events and processes.

The model is SimPy's (Müller & Vignaux, *SimPy* 4, ``simpy/core.py``) cut down to what the network
layer needs, and arranged so that the per-event path is a handful of C calls:

* **Entries are kept in buckets, one per due time**: a dict ``time_ps -> bucket`` and a heap of the
  distinct times. A bucket is a list of entries, or, while a single process sleeps until that time,
  that :class:`Process` itself (a *lone* bucket: no list for an event alone at its time; the first
  entry that joins it turns it into the list ``[process, entry]``). Entries due at the same picosecond
  run first-in, first-out because they are appended in scheduling order; an entry scheduled for the
  time being run (``delay 0``, an event's waiters) is appended to the bucket being run, so it runs
  after everything already due then (if that bucket is a lone process, it starts a new bucket of the
  same time, which runs next: the same order). The network's processes share a few periods (every
  link block, every network step), so most events cost a list append and one step of a list
  iteration instead of a heap push and pop. An event alone at its time costs a push and a pop of an
  ``int`` (cheaper to compare than SimPy's ``(time, priority, seq, event)``) plus a dict insert, look-up
  and delete, and no list.
* **An entry is** a :class:`Process` to resume with ``None`` (after a timeout: no object per step), a
  tuple ``(process, value_to_send)`` (after an event), or a list ``[callback, args, time_ps]`` (a
  scheduled callback, which is also its :data:`EventHandle`). A process step is written inline in
  :meth:`Kernel.run` (``generator.send(value)`` and one append or dict insert for a timeout): no event
  object, no callback list, no Python-level call per step. A lone bucket is run without a list: its
  process is taken out of the dict, stepped, and put in the bucket of its next time (as that time's
  lone bucket if it has none yet).
* **Processes that wake together and wait alike join one bucket without a look-up.** While a list
  bucket runs, the loop remembers the delay ``d`` of the bucket that a process of it last joined;
  the next process that yields ``d`` (the same ``int`` object, or an equal one) is appended to that
  bucket with an identity or an ``int`` comparison: no addition, no dict look-up.
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

An exception raised by a callback or a process propagates out of :meth:`Kernel.run` unchanged (one
raised in a process carries a note naming the process, PEP 678); the failed entry has been consumed, and
a process that raised is finished and failed (it cannot be resumed, whoever waits for it is never woken,
and whoever waits for it later gets the exception).

What protocols with quantum memories need beyond timeouts, as in SimPy, and none of it on the step:

* **Conditions** (:meth:`Kernel.any_of`, :meth:`Kernel.all_of`, ``event_a | event_b``, ``&``) are
  events that wait for their events like a callback does (through the buckets, so that events of the
  same picosecond are all seen); their value maps the events that succeeded to their values. A timeout
  inside a condition is a :meth:`Kernel.timer`, an :class:`Event` (a :class:`Timeout` is only
  something a process yields).
* **Failing events** (:meth:`Event.fail`) throw their exception into every process that waits for them
  (through a callback entry, ``process._throw``); a condition with a failed event fails.
* **Interrupts** (:meth:`Process.interrupt`) throw :class:`Interrupt` into the process at its current
  ``yield``, through a callback entry too (so after the entries already due then, like any wake-up).
  A process waiting for an event leaves the event's waiters. A process asleep on a timeout has an entry
  somewhere in the buckets that the step does not record (recording it would cost every step), so the
  entry stays and must not resume the process: the generator's *driver*, the :class:`Process` object
  that the entries hold, is retired (its ``_send`` becomes a no-op that the step skips) and a new
  driver of the same generator carries on.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator, Iterable
from heapq import heapify, heappop, heappush
from types import GeneratorType
from typing import Any, Final, NoReturn, TypeAlias

import numpy as np

from qinternet.errors import ParameterError, QinternetError
from qinternet.sim.clock import as_ps
from qinternet.sim.rng import check_seed, name_key, stream_seed_sequence

__all__ = [
    "Condition",
    "Event",
    "EventHandle",
    "Interrupt",
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


class Interrupt(Exception):  # noqa: N818 (SimPy's name: it is a signal to a process, not an error of ours)
    """Thrown into a process by :meth:`Process.interrupt`, at the ``yield`` where the process waits.

    The process may catch it and carry on (a memory discards the qubit it held and starts again); if it
    does not, the run ends with it, like any exception a process raises.

    Attributes:
        cause: what the interrupter gave, e.g. ``"cut-off"``.
    """

    def __init__(self, cause: Any = None) -> None:
        super().__init__(cause)
        self.cause = cause

    def __str__(self) -> str:
        return f"interrupted: {self.cause!r}"


class Event:
    """Something that happens once, with a value (or fails, with an exception); processes ``yield`` it to
    wait for it.

    Waiters (processes, conditions, and callbacks added with :meth:`add_callback`) are woken through the
    kernel at the time of :meth:`succeed` or :meth:`fail`, in the order they started waiting, after the
    entries already due then. ``a | b`` and ``a & b`` are :meth:`Kernel.any_of` and :meth:`Kernel.all_of`
    of the two events.
    """

    __slots__ = ("_ok", "_triggered", "_value", "_waiters", "kernel")

    def __init__(self, kernel: Kernel) -> None:
        self.kernel: Final = kernel
        self._waiters: list[Process | Condition | Callable[[Any], object]] = []
        self._value: Any = None
        self._triggered = False
        self._ok = True

    @property
    def triggered(self) -> bool:
        """Whether :meth:`succeed` or :meth:`fail` has been called."""
        return self._triggered

    @property
    def ok(self) -> bool:
        """Whether the event succeeded (False: it failed).

        Raises:
            SimulationError: the event has not been triggered yet.
        """
        if not self._triggered:
            raise SimulationError(f"{self!r} has not happened yet")
        return self._ok

    @property
    def value(self) -> Any:
        """The value given to :meth:`succeed`, or the exception given to :meth:`fail`.

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
        waiters = self._waiters
        if not waiters:  # e.g. the timer of a cut-off that did not come to pass
            return
        kernel = self.kernel
        now_ps = kernel.now_ps
        due_now = kernel._buckets.get(now_ps)  # while running: the bucket being run, if a list
        if due_now.__class__ is not list:  # none (a lone process is being run); never a lone process in practice
            due_now = kernel._bucket(now_ps)
        for waiter in waiters:
            # A process's entry carries the value to send; a condition's, the event; a callback's, its arguments.
            if type(waiter) is Process:
                waiter._target = None
                due_now.append((waiter, value))
            elif type(waiter) is Condition:
                due_now.append([waiter._check, (self,), now_ps])
            else:
                due_now.append([waiter, (value,), now_ps])
        waiters.clear()

    def fail(self, exception: BaseException) -> None:
        """Trigger the event as failed: ``exception`` is thrown into every process that waits for it, at
        the current time, at its ``yield``; a condition that holds the event fails with it.

        A process that does not catch the exception ends the run with it (noted with the process's name);
        so does a callback added with :meth:`add_callback`, which cannot handle a failure. A failure that
        nobody waits for is kept: whoever waits for the event later gets the exception (unlike SimPy, it
        does not end the run by itself, so that a failure nobody is interested in any more, such as a late
        herald of a memory that has already given up, is harmless).

        Raises:
            ParameterError: ``exception`` is not an exception instance.
            SimulationError: the event was already triggered.
        """
        if not isinstance(exception, BaseException):
            raise ParameterError("exception", f"must be an exception instance, got {exception!r}")
        if self._triggered:
            raise SimulationError(f"{self!r} was already triggered")
        self._triggered = True
        self._ok = False
        self._value = exception
        kernel = self.kernel
        for waiter in self._waiters:
            kernel._push(kernel.now_ps, self._failure_entry(waiter))
        self._waiters.clear()

    def _failure_entry(self, waiter: Process | Condition | Callable[[Any], object]) -> EventHandle:
        """The callback entry that hands this event's failure to ``waiter`` (at the current time)."""
        now_ps = self.kernel.now_ps
        if type(waiter) is Process:
            entry = [waiter._throw, (self._value,), now_ps]
            waiter._target = None
            waiter._pending = entry  # an interrupt that comes first cancels it
            return entry
        if type(waiter) is Condition:
            return [waiter._check, (self,), now_ps]
        return [_unhandled_failure, (self, waiter), now_ps]

    def add_callback(self, callback: Callable[[Any], object]) -> None:
        """Call ``callback(value)`` when the event succeeds (at once, through the kernel, if it has).

        A callback cannot handle a failure: if the event fails, the run ends with its exception.
        """
        if not self._triggered:
            self._waiters.append(callback)
        elif self._ok:
            self.kernel.schedule(0, callback, self._value)
        else:
            self.kernel._push(self.kernel.now_ps, self._failure_entry(callback))

    def __or__(self, other: Event) -> Condition:
        """``a | b``: an event that succeeds when ``a`` or ``b`` does (:meth:`Kernel.any_of`)."""
        return Condition(self.kernel, (self, other), need_all=False)

    def __and__(self, other: Event) -> Condition:
        """``a & b``: an event that succeeds when ``a`` and ``b`` have (:meth:`Kernel.all_of`)."""
        return Condition(self.kernel, (self, other), need_all=True)

    def __repr__(self) -> str:
        if not self._triggered:
            state = "pending"
        elif self._ok:
            state = f"value={self._value!r}"
        else:
            state = f"failed={self._value!r}"
        return f"<{type(self).__name__} {state}>"


def _unhandled_failure(event: Event, callback: object) -> None:
    """What a callback entry of a failed event runs instead of the callback: end the run with the failure."""
    exception: BaseException = event._value
    exception.add_note(f"(a failure of {event!r}; its callback {callback!r} cannot handle a failure)")
    raise exception


class Condition(Event):
    """An event that succeeds when any one (:meth:`Kernel.any_of`, ``a | b``) or all (:meth:`Kernel.all_of`,
    ``a & b``) of its events have succeeded, and fails with the exception of the first of them that fails.

    Its value is a ``dict`` from every event that has succeeded by the time the condition succeeds to
    that event's value, in the order in which the events were given; a nested condition contributes its
    own events, not itself (SimPy's ``ConditionValue`` does the same). Events that succeeded at the same
    picosecond before the condition's turn came (it waits for its events like a callback, through the
    kernel) are all in it, so a process can see a tie. An empty condition succeeds at once with ``{}``.

    A condition that has triggered leaves the waiters of its other events, so a long-lived event does not
    collect the conditions of the past; its events keep their own course (a timer still fires).
    """

    __slots__ = ("_count", "_events", "_needed")

    def __init__(self, kernel: Kernel, events: Iterable[Event], *, need_all: bool) -> None:
        Event.__init__(self, kernel)
        if events.__class__ is not tuple:
            events = _event_tuple(events)
        self._events: tuple[Event, ...] = events
        self._needed = len(events) if need_all or not events else 1
        self._count = 0
        failed: Event | None = None
        for event in self._events:
            if not isinstance(event, Event) or event.kernel is not kernel:
                _refuse_events(kernel, self._events)
            if event._triggered:
                if not event._ok:
                    failed = failed or event
                self._count += 1
        if failed is not None:
            self.fail(failed._value)
        elif self._count >= self._needed:
            self.succeed(self._collect({}))
        else:
            for event in self._events:
                if not event._triggered:
                    event._waiters.append(self)

    def _check(self, event: Event) -> None:
        """One of the events has triggered (a callback entry of the event)."""
        if self._triggered:
            return
        if not event._ok:
            self._leave()
            self.fail(event._value)
            return
        self._count += 1
        if self._count < self._needed:
            return
        values: dict[Event, Any] = {}
        for other in self._events:  # leave the events' waiters and collect the values, in one pass
            if not other._triggered:
                other._waiters.remove(self)
            if type(other) is Condition:
                other._collect(values)
            elif other._triggered and other._ok:
                values[other] = other._value
        self.succeed(values)

    def _leave(self) -> None:
        """Leave the waiters of the events that have not triggered (once per time the event was given)."""
        for event in self._events:
            if not event._triggered:
                event._waiters.remove(self)

    def _collect(self, values: dict[Event, Any]) -> dict[Event, Any]:
        for event in self._events:
            if type(event) is Condition:
                event._collect(values)
            elif event._triggered and event._ok:
                values[event] = event._value
        return values


def _event_tuple(events: Iterable[Event]) -> tuple[Event, ...]:
    if isinstance(events, Event) or not hasattr(events, "__iter__"):
        raise ParameterError("events", f"must be a list of events, got {events!r}")
    return tuple(events)


def _refuse_events(kernel: Kernel, events: tuple[object, ...]) -> NoReturn:
    """Raise the error for the first of ``events`` that is not an :class:`Event` of ``kernel``."""
    for index, event in enumerate(events):
        if not isinstance(event, Event):
            hint = " (a timeout in a condition is kernel.timer(delay_ps))" if isinstance(event, Timeout | int) else ""
            raise ParameterError(f"events[{index}]", f"must be an Event{hint}, got {event!r}")
        if event.kernel is not kernel:
            raise ParameterError(f"events[{index}]", f"{event!r} belongs to another kernel")
    raise AssertionError("unreachable: every event was fine")


Waitable: TypeAlias = Timeout | int | Event
"""What a process may yield: a :class:`Timeout`, a delay in picoseconds, an :class:`Event` (a
:class:`Condition`, a timer) or a :class:`Process`."""

ProcessGenerator: TypeAlias = Generator[Waitable, Any, Any]
"""The generator a process runs: it yields :data:`Waitable` objects and receives their values (``None``
for a timeout, the event's value, the other process's return value); what it returns becomes the
process's own value. A failed event's exception and an :class:`Interrupt` are raised at the ``yield``."""


class Process(Event):
    """A named generator driven by the kernel; an :class:`Event` that succeeds with its return value
    (fails with the exception it raised).

    Create processes with :meth:`Kernel.process`. The kernel's loop steps processes inline (a process's
    entry is the process itself, or ``(process, value_to_send)``), so this class has no per-step method.
    The entries hold the generator's *driver*: the process itself until an interrupt retires it (see
    :meth:`_interrupt_now`), then a fresh :class:`Process` object that drives the same generator for it.

    Attributes:
        name: unique within the kernel; keys the random stream.
        rng: the process's own ``numpy.random.Generator`` (``kernel.rng_for(name)``).
    """

    __slots__ = ("_driver", "_generator", "_owner", "_pending", "_send", "_target", "name", "rng")

    def __init__(self, kernel: Kernel, name: str, rng: np.random.Generator) -> None:
        super().__init__(kernel)
        self.name: Final = name
        self.rng: Final = rng
        # Set by Kernel.process once the generator function has returned (it needs this object first).
        self._generator: GeneratorType[Waitable, Any, Any]
        self._send: Callable[[Any], Waitable]
        # Bookkeeping of the slow paths, for interrupts (never touched by the step):
        self._owner: Process | None = None  # the process this object drives, if it is a later driver
        self._driver: Process | None = None  # the process's current driver, if not the process itself
        self._target: Event | None = None  # the event whose waiters this driver is in
        self._pending: EventHandle | None = None  # a callback entry that will throw a failure into it

    @property
    def alive(self) -> bool:
        """Whether the generator has neither returned nor raised."""
        return not self._triggered

    def interrupt(self, cause: Any = None) -> None:
        """Throw ``Interrupt(cause)`` into the process at the ``yield`` where it waits, at the current time
        (after the entries already due now).

        What it waited for no longer wakes it: it leaves the event's (or condition's) waiters, and a
        timeout it slept on ends without resuming it. It may catch the :class:`Interrupt` and carry on;
        if it does not, the run ends with it. Several interrupts are thrown in one after the other; those
        that find the process finished (by an earlier one) are dropped.

        Raises:
            SimulationError: the process has finished, or it is interrupting itself.
        """
        if self._triggered:
            raise SimulationError(f"process {self.name!r} has finished, it cannot be interrupted")
        if self._generator.gi_running:
            raise SimulationError(f"process {self.name!r} cannot interrupt itself")
        now_ps = self.kernel.now_ps
        self.kernel._push(now_ps, [self._interrupt_now, (Interrupt(cause),), now_ps])

    def _interrupt_now(self, interrupt: Interrupt) -> None:
        """Take the process off what it waits for, then throw ``interrupt`` in (a callback entry).

        The current driver waits in one place: a failure about to be thrown in (``_pending``: cancelled),
        an event's waiters (``_target``: left), or an entry of the step, a timeout's or an event's value,
        whose place is not recorded. Then the driver is retired: its ``_send`` becomes a no-op whose
        result the step skips, and a new driver carries the generator on.
        """
        if self._triggered:
            return
        driver = self._driver or self
        pending, target = driver._pending, driver._target
        if pending is not None:
            pending[0] = _cancelled
            pending[1] = ()
        elif target is not None:
            target._waiters.remove(driver)
            driver._target = None
        else:
            driver._send = _retired_send
            driver = _new_driver(self)
            self._driver = driver
        driver._throw(interrupt)

    def _throw(self, exception: BaseException) -> None:
        """Throw ``exception`` into the generator, then wait for what it yields (a callback entry)."""
        self._pending = None
        try:
            target = self._generator.throw(exception)
        except StopIteration as stop:
            self._finish(stop.value)
            return
        except BaseException as error:
            self._crash(error)
            raise
        self._wait_for(target)

    def _finish(self, value: Any) -> None:
        owner = self._owner
        if owner is None:
            self.succeed(value)
        else:
            owner._driver = None
            owner.succeed(value)

    def _crash(self, error: BaseException) -> None:
        """The generator raised ``error``: the process is over and failed, and its waiters are never woken
        (``run`` raises ``error``, noted with the process's name)."""
        owner = self._owner or self
        owner._driver = None
        owner._triggered = True
        owner._ok = False
        owner._value = error
        owner._waiters.clear()
        error.add_note(f"(in process {owner.name!r} at {self.kernel.now_ps} ps)")

    def _wait_for(self, target: object) -> None:
        """The slow path of a step: events, processes, numpy integers, and wrong yields (and timeouts
        after an exception was thrown in).

        A wrong yield is thrown back into the generator as a :class:`ParameterError`, so that the
        traceback points at the ``yield``; if the generator catches it, what it yields next is used.
        """
        if target is _RETIRED:  # the entry of a retired driver came due: nothing to do
            return
        kernel = self.kernel
        while True:
            if isinstance(target, Event):
                if target is self or target is self._owner:
                    error = ParameterError(f"process {self.name!r}", "cannot wait for itself")
                elif not target._triggered:
                    target._waiters.append(self)
                    self._target = target
                    return
                elif target._ok:
                    kernel._push(kernel.now_ps, (self, target._value))
                    return
                else:
                    kernel._push(kernel.now_ps, target._failure_entry(self))
                    return
            elif type(target) is Timeout:
                kernel._push(kernel.now_ps + target.delay_ps, self)
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
            except BaseException as crash:
                self._crash(crash)
                raise

    def __repr__(self) -> str:
        owner = self._owner or self
        if not owner._triggered:
            state = "alive"
        elif owner._ok:
            state = f"value={owner._value!r}"
        else:
            state = f"failed={owner._value!r}"
        return f"<Process {owner.name!r} {state}>"


_RETIRED: Final = object()
"""What a retired driver's ``_send`` returns; :meth:`Process._wait_for` ignores it."""


def _retired_send(_value: object) -> Any:
    return _RETIRED


def _new_driver(process: Process) -> Process:
    """A new driver of ``process``'s generator (see :meth:`Process._interrupt_now`)."""
    driver = Process(process.kernel, process.name, process.rng)
    driver._owner = process
    driver._generator = process._generator
    driver._send = process._generator.send
    return driver


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
        # time_ps -> entries due then, in scheduling order: a list, or a lone Process (see the module docstring)
        self._buckets: dict[int, list[_Entry] | Process] = {}
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
        elif bucket.__class__ is list:
            bucket.append(entry)
        else:  # a lone process
            buckets[time_ps] = [bucket, entry]
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

    def timer(self, delay_ps: int, value: Any = None) -> Event:
        """An :class:`Event` that succeeds with ``value`` ``delay_ps`` picoseconds from now: a timeout
        that can be part of a condition or be waited for by several processes.

        Raises:
            ParameterError: ``delay_ps`` is negative or not an integer.
        """
        if delay_ps.__class__ is not int or delay_ps < 0:
            delay_ps = as_ps("delay_ps", delay_ps)
        event = Event(self)
        time_ps = self.now_ps + delay_ps
        entry = [event.succeed, (value,), time_ps]
        buckets = self._buckets
        bucket = buckets.get(time_ps)
        if bucket is None:
            buckets[time_ps] = [entry]
            heappush(self._times, time_ps)
        elif bucket.__class__ is list:
            bucket.append(entry)
        else:  # a lone process
            buckets[time_ps] = [bucket, entry]
        return event

    def any_of(self, events: Iterable[Event]) -> Condition:
        """A :class:`Condition` that succeeds as soon as one of ``events`` has succeeded (``a | b``).

        Example: a memory holds a qubit until the cut-off or until the partner heralds, whichever
        comes first.

        >>> kernel = Kernel(seed=0)
        >>> herald = kernel.event()
        >>> _ = kernel.schedule(300, herald.succeed, "pair")
        >>> def memory(proc):
        ...     cutoff = kernel.timer(1_000, "cut-off")
        ...     fired = yield kernel.any_of([cutoff, herald])
        ...     return kernel.now_ps, list(fired.values())
        >>> holding = kernel.process(memory, "memory")
        >>> kernel.run()
        >>> holding.value
        (300, ['pair'])

        Raises:
            ParameterError: an element is not an :class:`Event` of this kernel.
        """
        return Condition(self, events, need_all=False)

    def all_of(self, events: Iterable[Event]) -> Condition:
        """A :class:`Condition` that succeeds when all of ``events`` have succeeded (``a & b``); its value
        holds every event's value.

        Raises:
            ParameterError: an element is not an :class:`Event` of this kernel.
        """
        return Condition(self, events, need_all=True)

    def _check_not_past(self, time_ps: int) -> int:
        if time_ps.__class__ is not int or time_ps < 0:
            time_ps = as_ps("time_ps", time_ps)
        if time_ps < self.now_ps:
            raise ParameterError("time_ps", f"{time_ps} is in the past (now_ps = {self.now_ps})")
        return time_ps

    def _bucket(self, time_ps: int) -> list[_Entry]:
        """The bucket of ``time_ps`` as a list: created if there is none, a lone process made the list of itself."""
        buckets = self._buckets
        bucket = buckets.get(time_ps)
        if bucket is None:
            bucket = buckets[time_ps] = []
            heappush(self._times, time_ps)
        elif bucket.__class__ is not list:
            bucket = buckets[time_ps] = [bucket]
        return bucket

    def _push(self, time_ps: int, entry: _Entry) -> None:
        """Append ``entry`` to the bucket of ``time_ps`` (the bucket being run if ``time_ps`` is now and it is
        a list)."""
        buckets = self._buckets
        bucket = buckets.get(time_ps)
        if bucket is None:
            buckets[time_ps] = [entry]
            heappush(self._times, time_ps)
        elif bucket.__class__ is list:
            bucket.append(entry)
        else:  # a lone process
            buckets[time_ps] = [bucket, entry]

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
        """The time of the next bucket (cancelled entries included), or None if nothing is scheduled.

        Meant for between runs: called from a process or a callback, it leaves out the bucket being run,
        and whether it counts entries scheduled for the current time meanwhile depends on that bucket (a
        lone process's are a bucket of their own, a list's are appended to it).
        """
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
            self._bucket(until_ps).insert(0, sentinel)  # before every entry due then
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

        A lone bucket is taken out of ``_buckets`` and its process stepped: an entry due now that comes
        up meanwhile starts a new bucket of now, which runs next, as it would have run after the process
        had it been appended to its bucket. A list bucket stays in ``_buckets`` until it is done, so that
        entries due now are appended to it and run in this pass (the event-driven steps of memories wake
        one another at the same time: an append is cheaper than a bucket of its own, and keeping the list
        costs no dict operation more than taking it out would). The time being run is off ``_times``. If
        an entry raises, the entries after it are kept for the next :meth:`run` (the one that raised has
        been consumed).

        ``last`` is the bucket, ``last_wait`` ps from now, that a process of this list bucket last
        joined (at first the bucket itself, 0 ps from now): processes that woke together with a common
        period sleep until the same time, so after the first of them the others join it with an
        identity (the same ``int`` object, e.g. a link's ``block_ps``) or an ``int`` comparison instead
        of an addition and a dict look-up. It is reset for every bucket, so it never outlives its bucket
        (a list bucket is never replaced, and is only deleted when it has run). ``last_wait`` is never
        negative: a negative ``int`` is refused where a new bucket would be made (a bucket that exists
        is never in the past, so joining one needs no sign test).
        """
        times, buckets = self._times, self._buckets
        get, push, pop = buckets.get, heappush, heappop
        process_class, timeout_class, int_class, list_class = Process, Timeout, int, list
        while times:
            now_ps = pop(times)
            self.now_ps = now_ps
            bucket: Any = buckets[now_ps]  # Any: a list or a lone Process, told apart by exact class
            if bucket.__class__ is process_class:  # a lone process after a timeout: no list, no iteration
                del buckets[now_ps]
                send = bucket._send  # an attribute, then a call: `bucket._send(None)` is not specialised
                try:
                    waited: Any = send(None)  # Any: narrowed below by exact class, for speed
                except StopIteration as stop:
                    bucket._finish(stop.value)
                    continue
                except BaseException as error:
                    bucket._crash(error)
                    raise
                cls = waited.__class__
                if cls is timeout_class:
                    waited = waited.delay_ps
                elif cls is not int_class:
                    bucket._wait_for(waited)
                    continue
                due_ps = now_ps + waited
                later: Any = get(due_ps)
                if later is None:
                    if waited < 0:
                        bucket._wait_for(waited)  # throws the error into the process
                        continue
                    buckets[due_ps] = bucket
                    push(times, due_ps)
                elif later.__class__ is list_class:
                    later.append(bucket)
                else:
                    buckets[due_ps] = [later, bucket]
                continue
            last_wait, last = 0, bucket
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
                    send = target._send
                    try:
                        waited = send(arg)
                    except StopIteration as stop:
                        target._finish(stop.value)
                        continue
                    except BaseException as error:
                        target._crash(error)
                        raise
                    if waited is last_wait:
                        last.append(target)
                        continue
                    cls = waited.__class__
                    if cls is timeout_class:
                        waited = waited.delay_ps
                        if waited is last_wait:
                            last.append(target)
                            continue
                    elif cls is not int_class:
                        target._wait_for(waited)
                        continue
                    if waited == last_wait:
                        last.append(target)
                        last_wait = waited
                        continue
                    due_ps = now_ps + waited
                    later = get(due_ps)
                    if later is None:
                        if waited < 0:
                            target._wait_for(waited)  # throws the error into the process
                            continue
                        buckets[due_ps] = target  # a lone bucket, until another entry joins it
                        push(times, due_ps)
                        continue
                    if later.__class__ is list_class:
                        later.append(target)
                    else:
                        later = buckets[due_ps] = [later, target]
                    last_wait, last = waited, later
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
        bucket = self._bucket(time_ps)  # a list already: the sentinel is in it, and a list bucket stays one
        del bucket[0]
        if not bucket:
            del self._buckets[time_ps]
            times = self._times
            times.remove(time_ps)  # ints: remove compares by value, and each time is in the heap once
            heapify(times)
