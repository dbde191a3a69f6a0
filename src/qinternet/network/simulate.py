"""Run a scenario over time on the discrete-event kernel: links make key, demands draw it through relays.

Processes on one :class:`qinternet.sim.Kernel` (one seeded random stream each, so a scenario and seed
give the same numbers bit for bit):

- ``link:<id>`` for every link: its engine's process body (:mod:`.links`: e.g. waits a block, then puts the
  block's finite-key secret bits into the link's pool; satellites: key at the end of each pass);
- ``network`` every ``time.step_s``: serves the demands (:func:`.relay.serve`: key-aware widest paths of
  :mod:`.routing`, as the KMEs of ``qinternet serve`` route, priorities, max-min fairness) and records
  the time series.

Links whose engines know their honest block are watched for alarms (:mod:`.alarms`): an eavesdropper's QBER,
a loss of signal, bright light at the detectors; while a link's alarm is raised, routing passes it by.

A rate demand wants ``rate_bps * t`` bits in total by time ``t``: what could not be relayed in a step is
asked for again in the next (an application waiting for key), and what is still missing at the end is
unmet. A volume demand wants its volume as soon as possible. Demands are served every step in priority
order, so a bulk demand of low priority takes only what the others leave; what a higher-priority demand
could not get (e.g. one waiting for a satellite pass) stays reserved on its path against lower ones.
Key passes only through trusted nodes (``relays_key``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qinternet.network.alarms import Alarm, LinkMonitor
from qinternet.network.links.base import BlockRecord, LinkRunner
from qinternet.network.relay import KeyPools, Request, serve
from qinternet.network.schema import DemandSpec, LinkSpec, Scenario
from qinternet.sim import Kernel, Process, ProcessGenerator, seconds_to_ps

__all__ = ["BlockRecord", "LinkRunner", "NetworkRun", "key_pools", "simulate"]

F64 = NDArray[np.float64]


@dataclass(slots=True)
class NetworkRun:
    """Everything a run recorded.

    Attributes:
        scenario: what ran.
        times_s: float64, shape (T,): sampling instants (every ``step_s``, from the first step).
        pool_bits: float64, shape (T, L): key in each link's pool at each instant.
        generated_bits: float64, shape (T, L): cumulative secret bits each link made.
        delivered_bits: float64, shape (T, D): cumulative key each demand received.
        wanted_bits: float64, shape (T, D): cumulative key each demand asked for.
        blocks: per link, its blocks in order.
        discarded_bits: float64, shape (L,): key lost to full pools.
        paths: per demand, how many bits went over each path (tuple of link ids).
        alarms: every alarm raised on a watched link (:mod:`.alarms`), in the order raised.
    """

    scenario: Scenario
    times_s: F64
    pool_bits: F64
    generated_bits: F64
    delivered_bits: F64
    wanted_bits: F64
    blocks: list[list[BlockRecord]]
    discarded_bits: F64
    paths: list[dict[tuple[str, ...], float]] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)


def _bind(runner: LinkRunner, deliver: Callable[[BlockRecord], None], proc: Process) -> ProcessGenerator:
    return runner(proc, deliver)


def _demand_request(demand: DemandSpec, index: int, wanted: float, delivered: float, step_s: float) -> Request | None:
    bits = wanted - delivered
    if bits <= 0.0:
        return None
    hold = None if demand.rate_bps is None else demand.rate_bps * step_s  # a rate demand holds one step's worth
    return Request(demand=index, a=demand.a, b=demand.b, bits=bits, priority=demand.priority, hold_bits=hold)


def key_pools(scenario: Scenario) -> KeyPools:
    """The empty key pools of a scenario's links (by index, as ``scenario.links``) and its trusted nodes."""
    return KeyPools(
        ends=tuple((link.a, link.b) for link in scenario.links),
        capacity_bits=np.array([link.pool_capacity_bits for link in scenario.links], dtype=np.float64),
        relays=frozenset(node.id for node in scenario.nodes if node.relays_key),
    )


def simulate(
    scenario: Scenario,
    runners: list[LinkRunner],
    *,
    duration_s: float | None = None,
    on_step: Callable[[float], None] | None = None,
    baselines: Sequence[BlockRecord | None] | None = None,
) -> NetworkRun:
    """Run ``scenario`` (its links made by ``runners``, one per link in order) for ``duration_s``.

    Args:
        scenario: the validated scenario.
        runners: one process body per link, in the order of ``scenario.links``.
        duration_s: simulated time (default: the scenario's ``time.duration_s``).
        on_step: called with the simulated time after every step (progress bars).
        baselines: per link, its honest block, for the links whose blocks are watched for alarms (None: not
            watched); an alarmed link relays no key until its alarm clears (:mod:`.alarms`).
    """
    links: tuple[LinkSpec, ...] = scenario.links
    duration = scenario.time.duration_s if duration_s is None else duration_s
    step = min(scenario.time.step_s, duration)
    steps = max(1, math.floor(duration / step + 1e-9))
    n_links, n_demands = len(links), len(scenario.demands)
    pools = key_pools(scenario)
    run = NetworkRun(
        scenario=scenario,
        times_s=step * np.arange(1, steps + 1, dtype=np.float64),
        pool_bits=np.zeros((steps, n_links)),
        generated_bits=np.zeros((steps, n_links)),
        delivered_bits=np.zeros((steps, n_demands)),
        wanted_bits=np.zeros((steps, n_demands)),
        blocks=[[] for _ in links],
        discarded_bits=np.zeros(n_links),
        paths=[{} for _ in scenario.demands],
    )
    generated = np.zeros(n_links)
    delivered = np.zeros(n_demands)
    wanted = np.zeros(n_demands)
    kernel = Kernel(seed=scenario.seed)
    alarm_order: list[tuple[LinkMonitor, int]] = []  # (a link's monitor, its alarm), in the order raised
    monitors = [
        None if baseline is None else LinkMonitor(link=link.id, baseline=baseline)
        for link, baseline in zip(links, baselines or [None] * n_links, strict=True)
    ]

    def deliverer(index: int) -> Callable[[BlockRecord], None]:
        monitor = monitors[index]

        def deliver(block: BlockRecord) -> None:
            pools.add(index, block.key_bits)
            generated[index] += block.key_bits
            run.blocks[index].append(block)
            if monitor is not None:
                raised = len(monitor.alarms)
                monitor.observe(block, len(run.blocks[index]) - 1)
                pools.out_of_service[index] = monitor.in_alarm
                if len(monitor.alarms) > raised:
                    alarm_order.append((monitor, len(monitor.alarms) - 1))

        return deliver

    for index, (link, runner) in enumerate(zip(links, runners, strict=True)):
        kernel.process(functools.partial(_bind, runner, deliverer(index)), f"link:{link.id}")

    def network(proc: Process) -> ProcessGenerator:
        step_ps = seconds_to_ps(step)
        for t in range(steps):
            yield step_ps
            yield 0  # after every block that ends at this instant, whenever it was scheduled
            for i, d in enumerate(scenario.demands):
                wanted[i] = d.volume_bits if d.volume_bits is not None else wanted[i] + (d.rate_bps or 0.0) * step
            requests = [
                r
                for i, d in enumerate(scenario.demands)
                if (r := _demand_request(d, i, wanted[i], delivered[i], step)) is not None
            ]
            for grant in serve(pools, requests):
                delivered[grant.demand] += grant.bits
                for hops, bits in grant.paths.items():
                    key = tuple(links[h].id for h in hops)
                    run.paths[grant.demand][key] = run.paths[grant.demand].get(key, 0.0) + bits
            run.pool_bits[t] = pools.level_bits
            run.generated_bits[t] = generated
            run.delivered_bits[t] = delivered
            run.wanted_bits[t] = wanted
            if on_step is not None:
                on_step(float(run.times_s[t]))

    kernel.process(network, "network")
    kernel.run(until_ps=seconds_to_ps(step) * steps + 1)
    run.discarded_bits = pools.discarded_bits.copy()
    run.alarms = [monitor.alarms[k] for monitor, k in alarm_order]
    return run
