"""Distributed quantum computing across two trapped-ion modules: Main et al., Nature 638, 383 (2025).

Published (abstract of Main et al. 2025, arXiv:2407.00835; read on arxiv.org/html/2407.00835v1 and in copies of the
Nature abstract):
"we deterministically teleport a controlled-Z (CZ) gate between two circuit qubits in separate modules, achieving
86% fidelity. We then execute Grover's search algorithm [...] and measure a 71% success rate". Press reports of the
paper (not its text, which was not readable here) give 86.2 % for the gate and "97% entanglement fidelity" for the
remote Bell pair of the network (Sr+) qubits. The abstract does not say whether 86 % is the process (Choi-state)
fidelity or the average gate fidelity; process tomography reports the former, and test 1 below shows that the two
published figures fit together under that reading.

Modelled (:mod:`qinternet.apps.distributed`): the protocol of Eisert et al. (2000) on density matrices, the pair
from the ``oxford-ion-2025`` preset's elementary link (modules 2 m apart, ``compile_chain``), each module's
depolarising gates and readout flips from ``processor_of(preset.node)`` (two-qubit gates 0.98, readout 0.999,
single-qubit gates perfect: assumed values, see the preset's provenance). Not modelled, and not given in the
abstract: the circuit qubits' state preparation and readout (Extended Data Table 1), the dephasing of the Sr+ network
qubits and of the Ca+ circuit qubits while the link is re-tried, crosstalk of the mid-circuit measurements, and the
number and fidelity of the single-qubit gates of the compiled circuits. Every one of them lowers the figures, so the
model is checked as an upper bound with a margin that these unknowns can fill.

Numbers (exact, no sampling): teleported CZ with the preset, process fidelity 0.896 (average gate fidelity 0.917);
Grover 0.816 without waiting, 0.815 with the register waiting for the diffusion's pair (the scenario's mean 5.7 ms
per pair, the preset's T2 = 10 s; :mod:`qinternet.apps.distributed`). The gap is local: with the ~0.97 pair the
press reports for Main 2025 the model's CZ would reach 0.924, so the experiment's local operations cost ~0.06 more
than the preset's assumed depolarising gates.

Why the search is at 0.815 against the published 0.71 (the same success probability: reading the marked item after
one Grover iteration of two qubits, one per module, both CZs teleported, averaged over the four oracles):

* 0.07 of the 0.105 is the teleported CZ's own excess (0.896 against 0.86) entering twice: the model's search is
  what its own CZ predicts through ``F**2 + (1 - F)**2/3`` (0.808, within 0.01 of the full model), and the published
  CZ predicts 0.746.
* the rest, 0.036, lies outside the two gate teleportations: the circuit qubits' preparation and readout (Extended
  Data Table 1, not read), their single-qubit gates (the preset has none: 0.999 would cost 0.009), and the wait for
  the second pair (0.0004 at the model's 176 pairs/s; 0.008 at the 9.7 pairs/s press reports of Main 2025 quote).
* What the model leaves out, and the abstract does not give, is therefore the size of the local errors; the number
  of teleportations (two), the readout and the wait are modelled. Nothing here is tuned to the published figure:
  the local gates stay at the preset's cited 0.98.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.typing import NDArray

from qinternet.apps.distributed import grover_success_probabilities, teleported_gate_fidelity
from qinternet.network.repeater import compile_chain
from qinternet.params.processor import ProcessorParams, processor_of
from qinternet.params.repeater_presets import repeater_preset
from qinternet.states import bell

PUBLISHED_CZ_FIDELITY = 0.86
"""Main et al. 2025, abstract: "achieving 86% fidelity" (teleported CZ)."""
PUBLISHED_GROVER_SUCCESS = 0.71
"""Main et al. 2025, abstract: "measure a 71% success rate" (distributed Grover search)."""
REPORTED_PAIR_FIDELITY = 0.97
"""Press reports of Main et al. 2025: "97% entanglement fidelity" of the remote Sr+-Sr+ pair (not read in the paper)."""
ROUNDING = 0.005
"""The abstract's figures are whole percent."""
SCENARIO_PAIR_WAIT_S = 0.0057
"""Mean time per pair of the oxford-dqc-2025 scenario's request (its summary's ``latency_s``, 5.695 ms)."""

PERFECT = ProcessorParams()


@pytest.fixture(scope="module")
def oxford() -> tuple[NDArray[np.float64], ProcessorParams]:
    preset = repeater_preset("oxford-ion-2025")
    assert preset.published is not None
    link = compile_chain(preset, nodes=2, length_km=preset.published.fibre_length_km).link
    return np.array(link.state), processor_of(preset.node)


def test_the_published_cz_fidelity_predicts_the_published_grover_success() -> None:
    # Paper-internal check through the model: a teleported CZ whose errors come from its Bell pair (CZ then Z-type
    # Pauli errors, the structure of gate teleportation) with process fidelity F gives a Grover success
    # F^2 + (1 - F)^2/3 (closed form, module docstring): 0.746 for F = 0.86. The published 0.71 must lie below it
    # (the circuit's readout and single-qubit gates add errors of their own) by at most 0.05: 0.016 from the
    # abstract's rounding of the two figures (dP/dF = 2F - 2(1 - F)/3 ~ 1.6 times 0.005, plus 0.005), the rest for
    # the readout of the two circuit qubits (Extended Data Table 1, not read; 43Ca+ hyperfine readout reaches 0.998
    # per qubit, Myerson et al. 2008) and the single-qubit gates, which the abstract does not give.
    pair = bell.werner(float(bell.werner_of_fidelity(PUBLISHED_CZ_FIDELITY)))
    assert teleported_gate_fidelity(pair, PERFECT, PERFECT).process_fidelity == pytest.approx(PUBLISHED_CZ_FIDELITY)
    predicted = float(grover_success_probabilities(pair, PERFECT, PERFECT).mean())
    assert predicted == pytest.approx(PUBLISHED_CZ_FIDELITY**2 + (1 - PUBLISHED_CZ_FIDELITY) ** 2 / 3, abs=1e-12)
    assert PUBLISHED_GROVER_SUCCESS - ROUNDING <= predicted <= PUBLISHED_GROVER_SUCCESS + 0.05
    # Read as an average gate fidelity, 86 % would be a process fidelity of (5 x 0.86 - 1)/4 = 0.825 and predict
    # 0.69, below the published 0.71 before any other error: that reading does not fit this error structure. (Were
    # the gate's errors two-qubit depolarising instead, both readings would fit: 0.80 and 0.75. The check rests on
    # the pair dominating the teleported gate's errors.)
    f_pro_if_average = (5 * PUBLISHED_CZ_FIDELITY - 1) / 4
    pair_if_average = bell.werner(float(bell.werner_of_fidelity(f_pro_if_average)))
    assert float(grover_success_probabilities(pair_if_average, PERFECT, PERFECT).mean()) < PUBLISHED_GROVER_SUCCESS


def test_the_preset_teleports_a_cz_at_most_six_points_above_the_published_fidelity(
    oxford: tuple[NDArray[np.float64], ProcessorParams],
) -> None:
    # Upper bound (errors left out, module docstring) with a 0.06 margin: the preset's pair (0.94, Stephenson 2020)
    # against the ~0.97 reported for Main 2025 moves F_pro by 0.03 either way; each of the two local gates (0.98
    # assumed, 0.977(7) measured for a Sr+ -> Ca+ transfer) moves it by ~0.01; SPAM of the tomography ~0.01.
    pair, node = oxford
    model = teleported_gate_fidelity(pair, node, node)
    assert PUBLISHED_CZ_FIDELITY - ROUNDING <= model.process_fidelity <= PUBLISHED_CZ_FIDELITY + 0.06
    # the average gate fidelity (0.917) is further above: 86 % read as an average fidelity fits the model less well
    assert model.average_gate_fidelity > model.process_fidelity


def test_the_preset_runs_the_distributed_grover_search_above_the_published_success(
    oxford: tuple[NDArray[np.float64], ProcessorParams],
) -> None:
    # Upper bound with margin 0.15: the CZ margin (0.06) enters through two teleported gates, dP/dF ~ 1.7 -> 0.10,
    # plus the 0.05 of readout and single-qubit gates of the first test. Loose, because the abstract leaves these
    # open; it still catches a model that loses the search (0.25) or ignores the pairs (> 0.9). The register waits
    # for the diffusion's pair as in the scenario (its mean time per pair).
    pair, node = oxford
    per_oracle = grover_success_probabilities(pair, node, node, pair_wait_s=SCENARIO_PAIR_WAIT_S)
    np.testing.assert_allclose(per_oracle, per_oracle[0], atol=1e-12)  # the noise here favours no item
    assert float(per_oracle.mean()) == pytest.approx(0.815, abs=0.001)  # the figure the module docstring explains
    assert PUBLISHED_GROVER_SUCCESS - ROUNDING <= float(per_oracle.mean()) <= PUBLISHED_GROVER_SUCCESS + 0.15


def test_the_grover_gap_is_the_cz_gap_twice_and_the_rest_lies_outside_the_teleported_gates(
    oxford: tuple[NDArray[np.float64], ProcessorParams],
) -> None:
    # The model's search is what its own teleported CZ predicts through the two-QGT closed form F^2 + (1 - F)^2/3
    # (within 0.01: the local gates' errors are not all of the pair's Z type); so of the gap to the published 0.71,
    # the part from the CZ's excess is closed_form(model CZ) - closed_form(published CZ) ~ 0.06-0.07, and what is
    # left, 0.71 below closed_form(published CZ) = 0.746 by 0.036 (+-0.016 from the abstract's rounding, first
    # test), is outside the teleported gates: readout, single-qubit gates, the wait for the second pair.
    pair, node = oxford
    grover = float(grover_success_probabilities(pair, node, node, pair_wait_s=SCENARIO_PAIR_WAIT_S).mean())
    cz = teleported_gate_fidelity(pair, node, node).process_fidelity

    def two_qgts(f: float) -> float:
        return f**2 + (1 - f) ** 2 / 3

    assert grover == pytest.approx(two_qgts(cz), abs=0.01)
    from_cz = two_qgts(cz) - two_qgts(PUBLISHED_CZ_FIDELITY)
    assert 0.05 < from_cz < 0.08
    outside = two_qgts(PUBLISHED_CZ_FIDELITY) - PUBLISHED_GROVER_SUCCESS
    assert 0.036 - 0.016 < outside < 0.036 + 0.016


def test_waiting_for_the_second_pair_dephases_as_the_exponential_average(
    oxford: tuple[NDArray[np.float64], ProcessorParams],
) -> None:
    # A perfect register whose qubits wait an exponential time of mean tau with T2: coherence 1/(1 + tau/T2) each
    # (module docstring of qinternet.apps.distributed), i.e. a Z flip with probability q = (1 - 1/(1 + tau/T2))/2 on
    # each qubit before the diffusion. A Z flip there becomes, through the diffusion, a flip of the other qubit's read
    # bit, so with perfect pairs the search succeeds only when neither flips: (1 - q)^2.
    _, node = oxford
    waiting = dataclasses.replace(PERFECT, t2_s=node.t2_s)
    tau = 1.0  # long, to make the effect large
    q = (1 - 1 / (1 + tau / node.t2_s)) / 2
    got = grover_success_probabilities(bell.perfect_pair(), waiting, waiting, pair_wait_s=tau)
    np.testing.assert_allclose(got, (1 - q) ** 2, rtol=1e-12)
    # at the scenario's pace the wait costs the search 0.0004 and is not the gap's cause
    pair, _ = oxford
    cost = grover_success_probabilities(pair, node, node).mean()
    cost -= grover_success_probabilities(pair, node, node, pair_wait_s=SCENARIO_PAIR_WAIT_S).mean()
    assert 0.0 < cost < 0.001


def test_with_the_reported_pair_the_missing_infidelity_is_local(
    oxford: tuple[NDArray[np.float64], ProcessorParams],
) -> None:
    # With the pair the press reports for Main 2025 (as a Werner state) and the preset's local gates the model gives
    # 0.924: 0.04-0.10 above the published figure, more than the pair can explain, so the experiment's local
    # operations (mixed-species gates, network-qubit dephasing, SPAM) cost more than the preset's assumed 0.98 gates.
    _, node = oxford
    pair = bell.werner(float(bell.werner_of_fidelity(REPORTED_PAIR_FIDELITY)))
    gap = teleported_gate_fidelity(pair, node, node).process_fidelity - PUBLISHED_CZ_FIDELITY
    assert 0.04 < gap < 0.10


def test_single_qubit_gates_missing_from_the_preset_do_not_explain_the_gap(
    oxford: tuple[NDArray[np.float64], ProcessorParams],
) -> None:
    # The preset has no single-qubit gate fidelity (1.0). A conservative 0.999 for ions (43Ca+ reaches ~1e-6 error)
    # moves the CZ by 0.002 and the search by 0.009: not the source of the gaps above.
    pair, node = oxford
    with_1q = dataclasses.replace(node, single_qubit_gate_fidelity=0.999)
    cz_drop = teleported_gate_fidelity(pair, node, node).process_fidelity
    cz_drop -= teleported_gate_fidelity(pair, with_1q, with_1q).process_fidelity
    grover_drop = float(grover_success_probabilities(pair, node, node).mean())
    grover_drop -= float(grover_success_probabilities(pair, with_1q, with_1q).mean())
    assert 0.0 < cz_drop < 0.005
    assert 0.0 < grover_drop < 0.015
