"""Penn's Q-chip hybrid packets (penn-qchip-2025): structure and physics; nothing quantitative is compared.

Published (read): classical headers routing quantum payloads and correcting them "relying solely on classical
signal readout" (Zhang et al., Science (2025), abstract); an "entanglement distribution fidelity of 0.97" on the
campus fibre (the group's APS 2026 abstract). The scenario computes a single payload's fidelity with assumed drift,
noise and header signal-to-noise (the file says so), which is not the published entanglement fidelity: the checks
here are that the run's figures are the model's closed forms and that the header's correction is what helps.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from qinternet.apps.network_apps import run_scenario
from qinternet.apps.qpacket import PacketChannel, header_error_rad_of_snr, payload_fidelity_exact
from qinternet.network.catalogue import resolve_scenario


def test_the_packets_take_the_campus_fibre_and_the_header_correction_helps() -> None:
    scenario, _ = resolve_scenario("penn-qchip-2025")
    (link,) = scenario.links
    assert getattr(link, "length_km") == 1.0  # noqa: B009 - "about 1 km" (press)
    summary: dict[str, Any] = json.loads(run_scenario(scenario).to_json())
    (app,) = summary["applications"]
    options = scenario.applications[0].options
    channel = PacketChannel(
        drift_rad=options["drift_rad"],
        depolarising_prob=options["depolarising_prob"],
        transmittance=10 ** (-0.2 * 1.0 / 10),
        header_error_rad=header_error_rad_of_snr(options["header_snr"]),
    )
    exact = payload_fidelity_exact(channel, corrected=True)
    assert app["details"]["exact_corrected_fidelity"] == pytest.approx(exact, abs=1e-12)
    lo, hi = app["ci95"]
    # the sampled mean lies within its interval's reach of the exact value (two half-widths: ~4 sigma)
    assert abs(app["value"] - exact) <= (hi - lo) + 1e-12
    assert app["details"]["corrected_fidelity"] > app["details"]["uncorrected_fidelity"]
    # with a perfect header, only the depolarising remains: 1 - p/2
    perfect = payload_fidelity_exact(
        PacketChannel(drift_rad=0.5, depolarising_prob=options["depolarising_prob"], header_error_rad=0.0)
    )
    assert perfect == pytest.approx(1 - options["depolarising_prob"] / 2, abs=1e-12)
