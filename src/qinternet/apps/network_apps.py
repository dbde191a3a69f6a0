"""A scenario's applications, run on the entanglement its network delivered (``summary.json``'s ``applications``).

:func:`run_scenario` is :func:`qinternet.network.run.run_scenario` plus the scenario's ``applications[]``: each
runs on the pairs of its request (their mean Bell-diagonal state and their number, from the entanglement network
layer) with the processors of the request's end nodes (:func:`qinternet.params.processor.processor_of` of their
hardware), or, for a Bell test on an ``entanglement`` link, on the photon pairs of that link (their error rate).
Each application draws from its own random stream (``application:<index>``). An application whose request got
no pair reports ``value: null`` with the reason.

The applications themselves are pure functions of :mod:`qinternet.apps` (one module each); this module only
reads their inputs out of a run. It lives in the applications layer because it calls them, and the network layer
below may not.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qinternet.apps.bell_test import chsh_test, pair_of_qber
from qinternet.apps.blind import (
    Computation,
    bell_pair_computation,
    blind_computation,
    cnot_computation,
    deutsch_computation,
    grover_computation,
)
from qinternet.apps.clock_sync import clock_sync
from qinternet.apps.distributed import TwoQubitGate, distributed_grover, gate_teleportation
from qinternet.apps.entangled_qkd import entanglement_qkd
from qinternet.apps.outcome import AppOutcome
from qinternet.apps.qpacket import PacketChannel, PacketHeader, header_error_rad_of_snr, send_packets
from qinternet.apps.teleportation import teleport, teleport_photons
from qinternet.errors import ParameterError
from qinternet.network.entanglement_net import RequestResult
from qinternet.network.links.memory import preset_of
from qinternet.network.links.photonic_teleportation import PhotonicTeleportationEngine
from qinternet.network.run import RunResult, RunStage
from qinternet.network.run import run_scenario as run_network
from qinternet.network.schema import AppKind, ApplicationSpec, LinkModel, Scenario, ScenarioError
from qinternet.params.processor import ProcessorParams, processor_of
from qinternet.params.units import fibre_delay_s
from qinternet.qkd.finite_key import FiniteKeyParams
from qinternet.sim.rng import stream_seed_sequence

__all__ = ["MAX_APP_PAIRS", "run_applications", "run_scenario"]

MAX_APP_PAIRS = 10_000_000
"""Most pairs a Bell test or a clock synchronisation draws outcomes for (beyond, the statistics are already
far below any systematic error of the model)."""
MIN_CHSH_PAIRS = 40
"""Fewest pairs a Bell test runs on: four setting pairs drawn at random, each wanting a few trials (with 40 the
chance that a setting pair draws none is 4 x 0.75**40 ~ 4e-5); fewer is reported as too few, not run."""
MIN_CLOCK_PAIRS = 2
"""Fewest pairs the clock synchronisation estimates from (its two readout settings)."""
FIBRE_LOSS_DB_PER_KM = 0.2
"""Loss of the packets' fibre path (standard single-mode fibre at 1550 nm), for ``qpacket``."""


def run_scenario(
    scenario: str | Path | Scenario,
    *,
    duration: str | float | None = None,
    step: str | float | None = None,
    seed: int | None = None,
    model: LinkModel | str | None = None,
    attacks: Sequence[str] = (),
    on_progress: Callable[[RunStage, float], None] | None = None,
) -> RunResult:
    """Run a scenario (:func:`qinternet.network.run.run_scenario`, same arguments) and its applications.

    Raises:
        ScenarioError: the scenario has errors, or an application's ``options`` do (named by their path).
        ParameterError: a run option is out of range.
    """
    result = run_network(
        scenario, duration=duration, step=step, seed=seed, model=model, attacks=attacks, on_progress=on_progress
    )
    if not result.scenario.applications:
        return result
    outcomes = run_applications(result)
    summary = dataclasses.replace(result.summary, applications=tuple(outcomes))
    return dataclasses.replace(result, summary=summary)


def run_applications(result: RunResult) -> list[dict[str, Any]]:
    """The ``summary.json`` entries of the scenario's applications, in order (module docstring)."""
    scenario = result.scenario
    out = []
    for index, app in enumerate(scenario.applications):
        rng = np.random.default_rng(stream_seed_sequence(scenario.seed, f"application:{index}"))
        path = f"applications[{index}]"
        try:
            out.append(_run_one(result, app, rng, path))
        except ParameterError as exc:
            field = exc.field if exc.field.startswith(path) else f"{path}.options.{exc.field}"
            raise ScenarioError([(field, exc.reason)]) from None
    return out


def _processor(scenario: Scenario, node_id: str) -> ProcessorParams:
    index = next(i for i, n in enumerate(scenario.nodes) if n.id == node_id)
    node = scenario.nodes[index]
    assert node.hardware is not None
    return processor_of(preset_of(node.hardware, f"nodes[{index}].hardware").node, qubits=node.qubits)


def _option(options: Mapping[str, Any], name: str, default: float, path: str) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError([(f"{path}.options.{name}", f"must be a number, got {value!r}")])
    return float(value)


def _check_options(options: Mapping[str, Any], known: tuple[str, ...], path: str) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        allowed = ", ".join(known) if known else "none"
        raise ScenarioError([(f"{path}.options.{unknown[0]}", f"is not an option of this application ({allowed})")])


_OPTIONS: dict[AppKind, tuple[str, ...]] = {
    AppKind.TELEPORTATION: (),
    AppKind.CHSH: (),
    AppKind.QKD: ("finite_key", "test_fraction", "eps_sec", "eps_cor"),
    AppKind.GATE_TELEPORTATION: ("gate",),
    AppKind.DISTRIBUTED_GROVER: ("marked",),
    AppKind.CLOCK_SYNC: ("true_offset_ps", "frequency_hz"),
    AppKind.QPACKET: ("drift_rad", "depolarising_prob", "header_snr", "corrected"),
    AppKind.BLIND: ("computation", "marked", "test_rounds"),
}


def _finite_key_options(options: Mapping[str, Any], path: str) -> tuple[FiniteKeyParams | None, float | None]:
    """The ``qkd`` application's opt-in finite key (``finite_key: true``, with ``test_fraction``, ``eps_sec`` and
    ``eps_cor`` as the BBM92 links'): its security parameters and test fraction, or (None, None)."""
    flag = options.get("finite_key", False)
    if not isinstance(flag, bool):
        raise ScenarioError([(f"{path}.options.finite_key", f"must be true or false, got {flag!r}")])
    settings = [name for name in ("test_fraction", "eps_sec", "eps_cor") if name in options]
    if not flag:
        if settings:
            raise ScenarioError([(f"{path}.options.{settings[0]}", "is only for finite_key: true")])
        return None, None
    default = FiniteKeyParams()
    params = FiniteKeyParams(
        eps_sec=_option(options, "eps_sec", default.eps_sec, path),
        eps_cor=_option(options, "eps_cor", default.eps_cor, path),
    )
    test = _option(options, "test_fraction", math.nan, path) if "test_fraction" in options else None
    return params, test


def _no_pairs(app: ApplicationSpec, nodes: tuple[str, str], metric: str, why: str) -> dict[str, Any]:
    return {"app": app.app.value, "nodes": list(nodes), "metric": metric, "value": None, "ci95": None, "unmet": why}


_METRICS = {
    AppKind.TELEPORTATION: "average_fidelity",
    AppKind.CHSH: "chsh_s",
    AppKind.QKD: "secret_key_rate_bps",
    AppKind.GATE_TELEPORTATION: "cz_fidelity",
    AppKind.DISTRIBUTED_GROVER: "grover_success_probability",
    AppKind.CLOCK_SYNC: "clock_offset_ps",
    AppKind.QPACKET: "payload_fidelity",
    AppKind.BLIND: "blind_correct_fraction",
}


def _run_one(result: RunResult, app: ApplicationSpec, rng: np.random.Generator, path: str) -> dict[str, Any]:
    scenario = result.scenario
    _check_options(app.options, _OPTIONS.get(app.app, ()), path)
    if app.link is not None:
        if app.app is AppKind.QPACKET:
            return _qpacket_on_link(result, app, rng, path)
        if app.app is AppKind.TELEPORTATION:
            return _teleport_on_link(result, app, rng)
        return _chsh_on_link(result, app, rng)
    assert result.entanglement is not None
    assert app.request is not None
    got: RequestResult = result.entanglement.result(app.request)
    nodes = (got.request.a, got.request.b)
    if got.pairs == 0:
        return _no_pairs(app, nodes, _METRICS[app.app], got.unmet or "no pair delivered")
    state = got.mean_state
    proc_a, proc_b = _processor(scenario, nodes[0]), _processor(scenario, nodes[1])
    length_km = _path_km(scenario, got)
    wait_s = float(fibre_delay_s(length_km))  # the classical message from one end to the other
    outcome: AppOutcome
    if app.app is AppKind.TELEPORTATION:
        outcome = teleport(state, proc_a, proc_b, rng, app.shots, classical_latency_s=wait_s, nodes=nodes)
    elif app.app is AppKind.CHSH:
        count = min(got.pairs, MAX_APP_PAIRS)
        if count < MIN_CHSH_PAIRS:
            return _no_pairs(app, nodes, "chsh_s", f"a Bell test needs {MIN_CHSH_PAIRS} pairs; the request got {count}")
        outcome = chsh_test(state, rng, count, processor_a=proc_a, processor_b=proc_b, nodes=nodes)
    elif app.app is AppKind.QKD:
        finite, test_fraction = _finite_key_options(app.options, path)
        outcome = entanglement_qkd(
            state, got.pairs, _horizon(scenario, got), nodes=nodes, finite=finite, test_fraction=test_fraction
        )
    elif app.app is AppKind.GATE_TELEPORTATION:
        gate = str(app.options.get("gate", "cz")).lower()
        if gate not in ("cz", "cnot"):
            raise ScenarioError([(f"{path}.options.gate", f"must be cz or cnot, got {gate!r}")])
        outcome = gate_teleportation(
            state,
            proc_a,
            proc_b,
            gate=TwoQubitGate.CZ if gate == "cz" else TwoQubitGate.CNOT,
            shots=app.shots,
            rng=rng,
            nodes=nodes,
            wait_s=wait_s,
        )
    elif app.app is AppKind.DISTRIBUTED_GROVER:
        marked = app.options.get("marked")
        if marked is not None and marked not in (0, 1, 2, 3):
            raise ScenarioError([(f"{path}.options.marked", f"must be 0, 1, 2 or 3, got {marked!r}")])
        outcome = distributed_grover(
            state,
            proc_a,
            proc_b,
            marked=marked,
            shots=app.shots,
            rng=rng,
            nodes=nodes,
            wait_s=wait_s,
            pair_wait_s=got.latency_s,  # the register waits for the diffusion's pair
        )
    elif app.app is AppKind.CLOCK_SYNC:
        if got.pairs < MIN_CLOCK_PAIRS:
            why = f"clock synchronisation needs {MIN_CLOCK_PAIRS} pairs; the request got {got.pairs}"
            return _no_pairs(app, nodes, "clock_offset_ps", why)
        outcome = clock_sync(
            state,
            true_offset_ps=_option(app.options, "true_offset_ps", 100.0, path),
            frequency_hz=_option(app.options, "frequency_hz", 1e9, path),
            pairs=min(got.pairs, MAX_APP_PAIRS),
            rng=rng,
            processor_a=proc_a,
            processor_b=proc_b,
            storage_s=wait_s,
            nodes=nodes,
        )
    elif app.app is AppKind.QPACKET:
        assert got.plan is not None
        outcome = _packets(app, got.plan.nodes, length_km, rng, path)
    elif app.app is AppKind.BLIND:
        test_rounds = int(_option(app.options, "test_rounds", 1, path))
        if not 0 <= test_rounds <= 100:
            raise ScenarioError([(f"{path}.options.test_rounds", f"must be in 0..100, got {test_rounds}")])
        outcome = blind_computation(
            _computation(app.options, path),
            rng,
            pair=state,
            processor=proc_b,
            runs=app.shots,
            test_rounds=test_rounds,
            nodes=nodes,
        )
    else:  # pragma: no cover - the schema lists every kind above
        raise ScenarioError([(f"{path}.app", f"{app.app.value} cannot run in a scenario yet")])
    return outcome.to_dict()


def _packets(
    app: ApplicationSpec, hops: tuple[str, ...], length_km: float, rng: np.random.Generator, path: str
) -> AppOutcome:
    """Hybrid packets along ``hops`` over ``length_km`` of fibre (:mod:`qinternet.apps.qpacket`)."""
    header = PacketHeader(source=hops[0], destination=hops[-1], hops=hops)
    channel = PacketChannel(
        drift_rad=_option(app.options, "drift_rad", 0.5, path),
        depolarising_prob=_option(app.options, "depolarising_prob", 0.0, path),
        transmittance=10.0 ** (-FIBRE_LOSS_DB_PER_KM * length_km / 10.0),
        header_error_rad=header_error_rad_of_snr(_option(app.options, "header_snr", 1e4, path)),
    )
    return send_packets(header, channel, rng, app.shots, corrected=bool(app.options.get("corrected", True)))


def _qpacket_on_link(result: RunResult, app: ApplicationSpec, rng: np.random.Generator, path: str) -> dict[str, Any]:
    """Hybrid packets over a fibre link: its two ends and its length."""
    link = next(link for link in result.scenario.links if link.id == app.link)
    length_km = float(getattr(link, "length_km", 0.0))
    return _packets(app, (link.a, link.b), length_km, rng, path).to_dict()


def _computation(options: Mapping[str, Any], path: str) -> Computation:
    """The blind computation an application's options name (default: Grover's search for item 3)."""
    name = str(options.get("computation", "grover"))
    if name == "grover":
        marked = options.get("marked", 3)
        if marked not in (0, 1, 2, 3):
            raise ScenarioError([(f"{path}.options.marked", f"must be 0, 1, 2 or 3, got {marked!r}")])
        return grover_computation(int(marked))
    makers: dict[str, Callable[[], Computation]] = {
        "cnot": lambda: cnot_computation(1, 0),
        "bell-pair": bell_pair_computation,
        "deutsch-balanced": lambda: deutsch_computation(True),
        "deutsch-constant": lambda: deutsch_computation(False),
    }
    if name not in makers:
        known = ", ".join(["grover", *makers])
        raise ScenarioError([(f"{path}.options.computation", f"must be one of {known}, got {name!r}")])
    return makers[name]()


def _path_km(scenario: Scenario, got: RequestResult) -> float:
    if got.plan is None:
        return 0.0
    lengths = {link.id: float(getattr(link, "length_km", 0.0)) for link in scenario.links}
    return sum(lengths[link] for link in got.plan.links)


def _horizon(scenario: Scenario, got: RequestResult) -> float:
    deadline = got.request.deadline_s
    return scenario.time.duration_s if deadline is None else min(scenario.time.duration_s, deadline)


def _chsh_on_link(result: RunResult, app: ApplicationSpec, rng: np.random.Generator) -> dict[str, Any]:
    """A Bell test on the photon pairs of an entanglement link: their mean error rate (both bases alike) and the
    coincidences it sifted (twice the sifted pairs: half the settings pairs match)."""
    index = next(i for i, link in enumerate(result.scenario.links) if link.id == app.link)
    link = result.scenario.links[index]
    blocks = [b for b in result.network.blocks[index] if b.sifted_bits > 0 and not math.isnan(b.qber)]
    sifted = sum(b.sifted_bits for b in blocks)
    nodes = (link.a, link.b)
    if sifted <= 0:
        return _no_pairs(app, nodes, "chsh_s", "the link detected no pair in the run")
    qber = sum(b.qber * b.sifted_bits for b in blocks) / sifted
    pairs = int(min(2 * sifted, MAX_APP_PAIRS))
    if pairs < MIN_CHSH_PAIRS:
        return _no_pairs(app, nodes, "chsh_s", f"a Bell test needs {MIN_CHSH_PAIRS} pairs; the link detected {pairs}")
    return chsh_test(pair_of_qber(qber), rng, pairs, nodes=nodes).to_dict()


def _teleport_on_link(result: RunResult, app: ApplicationSpec, rng: np.random.Generator) -> dict[str, Any]:
    """Photonic teleportation over a ``photonic-teleportation`` link: the run's events drawn from its figures."""
    index = next(i for i, link in enumerate(result.scenario.links) if link.id == app.link)
    link = result.scenario.links[index]
    engine = result.links[index].engine
    assert isinstance(engine, PhotonicTeleportationEngine)
    nodes = (link.a, link.b)
    figures = engine.figures()
    outcome = teleport_photons(
        engine.fidelity_per_basis if engine.expected_events > 0 else [0.5, 0.5, 0.5],
        engine.expected_events,
        rng,
        nodes=nodes,
        details=figures,
    )
    if outcome is None:
        why = (
            f"the link teleported no photon in some basis during the run (expected {engine.expected_events:.3g} events)"
        )
        return _no_pairs(app, nodes, "average_fidelity", why)
    return outcome.to_dict()
