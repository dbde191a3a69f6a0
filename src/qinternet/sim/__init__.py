"""qinternet.sim: a small discrete-event kernel with an integer-picosecond clock.

Layer: depends on the standard library and numpy only (see ARCHITECTURE.md). The network layer runs
its link, relay and satellite-pass processes on it::

    from qinternet.sim import Kernel, Timeout, seconds_to_ps

    kernel = Kernel(seed=7)
    def link(proc):
        block_ps = seconds_to_ps(0.25)
        while True:
            yield Timeout(block_ps)
            bits = proc.rng.integers(0, 2, 1024, dtype="u1")  # this link's own stream
            ...
    kernel.process(link, "link:alice-bob")
    kernel.run(until_ps=seconds_to_ps(10.0))

See :mod:`qinternet.sim.kernel` for the design, :mod:`qinternet.sim.clock` for the rounding rule and
:mod:`qinternet.sim.rng` for how the per-process random streams are derived.
"""

from qinternet.sim.clock import PS_PER_S, as_ps, ps_to_seconds, seconds_to_ps
from qinternet.sim.kernel import (
    Condition,
    Event,
    EventHandle,
    Interrupt,
    Kernel,
    Process,
    ProcessGenerator,
    SimulationError,
    Timeout,
    Waitable,
)
from qinternet.sim.rng import stream_seed_sequence

__all__ = [
    "PS_PER_S",
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
    "as_ps",
    "ps_to_seconds",
    "seconds_to_ps",
    "stream_seed_sequence",
]
