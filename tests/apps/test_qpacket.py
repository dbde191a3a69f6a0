"""Hybrid packets: the header's binary layout and routing, and the payload fidelity with and without the header's
drift correction against the closed forms (and the closed form against numerical integration)."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from scipy import integrate

from qinternet.apps.qpacket import (
    QCHIP_2025_FIDELITY,
    PacketChannel,
    PacketHeader,
    header_error_rad_of_snr,
    payload_fidelity_exact,
    send_packets,
)
from qinternet.errors import ParameterError

HEADER = PacketHeader(source="penn-a", destination="penn-b", hops=("penn-a", "verizon-pop", "penn-b"), sequence=42)


def test_header_layout_and_round_trip() -> None:
    h = HEADER.with_drift_estimate((0.1, -0.2, 0.3))
    raw = h.to_bytes()
    assert raw[:2] == b"QH"
    assert raw[2] == 1
    assert raw[3] == 3
    assert struct.unpack(">I", raw[4:8]) == (42,)
    assert struct.unpack(">3d", raw[8:32]) == (0.1, -0.2, 0.3)
    assert raw[32] == len("penn-a")
    assert raw[33:39] == b"penn-a"
    assert len(raw) == 32 + sum(1 + len(n) for n in ("penn-a", "penn-b", *h.hops))
    assert PacketHeader.from_bytes(raw) == h


def test_routing_follows_the_hop_list() -> None:
    node, path = HEADER.source, [HEADER.source]
    while node != HEADER.destination:
        node = PacketHeader.from_bytes(HEADER.to_bytes()).next_hop(node)
        path.append(node)
    assert tuple(path) == HEADER.hops
    with pytest.raises(ParameterError, match="node"):
        HEADER.next_hop("penn-b")
    with pytest.raises(ParameterError, match="node"):
        HEADER.next_hop("elsewhere")


def test_malformed_headers_are_refused() -> None:
    raw = HEADER.to_bytes()
    for bad in (raw[:10], raw[:-1], raw + b"\x00", b"XX" + raw[2:], raw[:2] + b"\x02" + raw[3:]):
        with pytest.raises(ParameterError, match="header"):
            PacketHeader.from_bytes(bad)
    with pytest.raises(ParameterError, match=r"header\.hops"):
        PacketHeader(source="a", destination="b", hops=("b", "a"))
    with pytest.raises(ParameterError, match=r"header\.sequence"):
        PacketHeader(source="a", destination="b", hops=("a", "b"), sequence=2**32)
    with pytest.raises(ParameterError, match=r"header\.source"):
        PacketHeader(source="", destination="b", hops=("", "b"))


def _expected_cos_of_gaussian_angle(sigma: float) -> float:
    """E[cos |v|] for v ~ N(0, sigma^2 I_3) by quadrature over the Maxwell density of r = |v|."""
    density = lambda r: math.sqrt(2 / math.pi) * r**2 / sigma**3 * math.exp(-(r**2) / (2 * sigma**2))  # noqa: E731
    value, _ = integrate.quad(lambda r: math.cos(r) * density(r), 0.0, 40.0 * sigma, limit=200)
    return value


@pytest.mark.parametrize("sigma", [0.05, 0.3, 1.0, 2.5])
def test_rotation_closed_form_against_quadrature(sigma: float) -> None:
    # F = (2 + E[cos r])/3 with E[cos r] = (1 - s^2) exp(-s^2/2) (module docstring), checked by integration
    channel = PacketChannel(drift_rad=sigma)
    assert payload_fidelity_exact(channel, corrected=False) == pytest.approx(
        (2 + _expected_cos_of_gaussian_angle(sigma)) / 3, abs=1e-9
    )


def test_perfect_header_leaves_only_the_depolarising_loss() -> None:
    channel = PacketChannel(drift_rad=1.2, depolarising_prob=0.06, transmittance=0.8, header_error_rad=0.0)
    assert payload_fidelity_exact(channel) == pytest.approx(1 - 0.06 / 2)
    out = send_packets(HEADER, channel, np.random.default_rng(1), 3000)
    # every residual rotation is the identity up to rounding, so every packet scores exactly 1 - p/2
    assert out.value == pytest.approx(1 - 0.06 / 2, abs=1e-9)
    assert out.app == "qpacket"
    assert out.metric == "payload_fidelity"
    assert out.nodes == ("penn-a", "penn-b")


def test_monte_carlo_with_and_without_correction_matches_the_closed_forms() -> None:
    channel = PacketChannel(drift_rad=0.7, depolarising_prob=0.03, transmittance=0.5, header_error_rad=0.15)
    out = send_packets(HEADER, channel, np.random.default_rng(2), 40_000)
    d = out.details
    # per-packet scores are i.i.d.; ci95 half-width is 1.96 standard errors, 4 standard errors = 2.04 half-widths
    for key in ("corrected", "uncorrected"):
        lo, hi = d[f"{key}_ci95"]
        assert abs(d[f"{key}_fidelity"] - d[f"exact_{key}_fidelity"]) < 2.04 * (hi - lo) / 2
    assert d["exact_uncorrected_fidelity"] < d["exact_corrected_fidelity"] - 0.1  # the header's correction helps
    # delivered packets are binomial(40000, 0.5): sd 100, allow 4 sd
    assert abs(d["packets_delivered"] - 20_000) < 400
    uncorrected = send_packets(HEADER, channel, np.random.default_rng(2), 40_000, corrected=False)
    assert uncorrected.value == pytest.approx(d["uncorrected_fidelity"])


def test_published_qchip_fidelity_is_reachable_with_a_good_header() -> None:
    # Zhang et al., Science 2025: 0.97 with header-based mitigation; a payload that loses 6 % to depolarising and
    # has a header measured with SNR 1e4 photons stays above it, while the same path without correction does not
    channel = PacketChannel(drift_rad=0.5, depolarising_prob=0.05, header_error_rad=header_error_rad_of_snr(1e4))
    assert payload_fidelity_exact(channel) > QCHIP_2025_FIDELITY > payload_fidelity_exact(channel, corrected=False)


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ParameterError, match=r"channel\.transmittance"):
        PacketChannel(drift_rad=0.1, transmittance=0.0)
    with pytest.raises(ParameterError, match=r"channel\.drift_rad"):
        PacketChannel(drift_rad=-0.1)
    with pytest.raises(ParameterError, match="packets"):
        send_packets(HEADER, PacketChannel(drift_rad=0.1), np.random.default_rng(0), 0)
    with pytest.raises(ParameterError, match="snr"):
        header_error_rad_of_snr(0.0)
