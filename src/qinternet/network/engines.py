"""The process body of every link of a scenario, chosen by the link's kind."""

from __future__ import annotations

import math
from dataclasses import dataclass

from qinternet.network.build import link_system
from qinternet.network.links import FibreLinkEngine, fibre_runner, tuned_system
from qinternet.network.schema import LinkKind, LinkModel, LinkSpec, Scenario, ScenarioError
from qinternet.network.simulate import LinkRunner
from qinternet.qkd.finite_key import FiniteKeyParams

__all__ = ["BuiltLink", "build_links", "fibre_engine"]


def fibre_engine(spec: LinkSpec, path: str) -> FibreLinkEngine:
    """The block engine of the decoy-BB84 fibre link ``spec`` (at ``path`` in the file)."""
    assert spec.length_km is not None
    system = link_system(spec, path)
    block_pulses = math.floor(system.source.rep_rate_hz * spec.block_s)
    if block_pulses < 1:
        raise ScenarioError([(f"{path}.block_s", f"holds no pulse at {system.source.rep_rate_hz:g} Hz")])
    security = FiniteKeyParams(eps_sec=spec.eps_sec, eps_cor=spec.eps_cor)
    if spec.optimise_settings:
        system = tuned_system(system, spec.length_km, float(block_pulses), security)
    return FibreLinkEngine(
        system=system,
        distance_km=spec.length_km,
        block_pulses=block_pulses,
        security=security,
        monte_carlo=spec.model is LinkModel.MONTE_CARLO,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltLink:
    """A link ready to run.

    Attributes:
        runner: its process body.
        expected_rate_bps: secret key per second of the analytic model at the link's settings (for
            satellites: averaged over the run), shown beside the simulated rate.
        fibre: the fibre engine (fibre links), for the report's rate-against-length curve.
    """

    runner: LinkRunner
    expected_rate_bps: float
    fibre: FibreLinkEngine | None = None


def build_links(scenario: Scenario) -> list[BuiltLink]:
    """Every link of ``scenario``, in order."""
    built: list[BuiltLink] = []
    for i, spec in enumerate(scenario.links):
        path = f"links[{i}]"
        if spec.kind is LinkKind.FIBRE:
            engine = fibre_engine(spec, path)
            rate = engine.expected_block.key_bits / spec.block_s
            built.append(BuiltLink(runner=fibre_runner(engine, spec.block_s), expected_rate_bps=rate, fibre=engine))
        else:
            raise ScenarioError([(f"{path}.kind", f"{spec.kind.value} links are not simulated yet")])
    return built
